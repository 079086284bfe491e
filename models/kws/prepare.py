#!/usr/bin/env python3
"""Builds the keyword model's training and validation features from ../shared/data.

Audio is gathered, split by speaker, augmented (time shift, speed, gain, background noise at a
random SNR) and joined into one float WAV of 1-second segments; the features are then computed by
Hark's own front end (`hark features --preset kws --segment 16000`), so training sees exactly what
the detector computes at run time. Writes into WORK (default ../kws-work, outside the repo):

  train.npy / val.npy        float32 (clips, 98, 40) log-mel
  train_y.npy / val_y.npy    int64 label index
  val_meta.tsv               source path and speaker of every validation clip
and models/kws/validation_speakers.txt, the held-out speakers (tests use the same split).

`--all-speakers` puts the validation speakers' clips (and the held-out background noise) on the
training side too, augmented like every other clip: for the shipped model, once the recipe and
its epoch count are fixed on the split (train.py `--keep last`). val.npy is still written, the
same clips as without it, but they are then no longer held out. `--train-share F` keeps only a
share F of the training speakers of every source (Speech Commands speakers, wake-word files,
digit speakers; chosen by another byte of the same hash, so the kept ones are the same for any F
that keeps them): for a learning curve on the split, validation unchanged.

With `--tts DIR` (the output of synth.py), the synthesised words join the training side only:
keywords as their class (`--tts-copies` augmented copies of each), other words as `_unknown_`,
as many as give that class the keywords' synthetic share.

Usage: python models/kws/prepare.py [--work DIR] [--copies 6] [--seed 1] [--all-speakers | --train-share F]
       [--tts DIR [--tts-copies 2]]
"""

import argparse
import csv
import hashlib
import pathlib
import subprocess

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from labels import LABELS, WORDS

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
HARK = ROOT / "target" / "release" / "hark"
SR = 16000
VAL_SHARE = 0.2


def is_val(speaker):
    """A stable speaker split: the same speaker always lands on the same side."""
    digest = hashlib.sha256(speaker.encode()).digest()
    return digest[0] / 256 < VAL_SHARE


def in_share(speaker, share):
    """Whether a training speaker is among the `share` kept for a learning curve (a second byte
    of the hash, independent of the split)."""
    return hashlib.sha256(speaker.encode()).digest()[1] / 256 < share


def fit(x, n=SR):
    """Centre-crops or zero-pads to n samples."""
    if len(x) >= n:
        start = (len(x) - n) // 2
        return x[start : start + n]
    pad = n - len(x)
    return np.pad(x, (pad // 2, pad - pad // 2))


def read(path):
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x[:, 0]
    if sr != SR:
        g = np.gcd(sr, SR)
        x = resample_poly(x, SR // g, sr // g).astype(np.float32)
    return x


def gather():
    """(audio, label, speaker, source) for every usable clip."""
    items = []
    sc = DATA / "speech_commands_v0.02_dev"
    noise = []
    with open(sc / "MANIFEST.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            audio = read(sc / row["path"])
            if row["label"] == "_silence_":
                noise.append((audio, row["path"]))
                continue
            items.append((fit(audio), row["label"], row["speaker_id"], "sc2/" + row["path"]))
    v1 = DATA / "speech_commands_v0.01_sample"
    with open(v1 / "MANIFEST.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            label = row["word"] if row["word"] in WORDS else "_unknown_"
            items.append((fit(read(v1 / row["path"])), label, row["speaker_id"], "sc1/" + row["path"]))
    for word in ["alexa", "computer", "jarvis"]:
        for path in sorted((DATA / "wakewords_dev" / word).glob("*.flac")):
            # No speaker ids: split by file, as if each file were its own speaker.
            items.append((fit(read(path)), "_unknown_", f"ww-{word}-{path.stem}", f"ww/{word}/{path.name}"))
    rng = np.random.default_rng(7)
    fsdd = sorted((DATA / "fsdd" / "recordings").glob("*.wav"))
    for path in rng.choice(fsdd, size=600, replace=False):
        speaker = path.stem.split("_")[1]
        items.append((fit(read(path)), "_unknown_", f"fsdd-{speaker}", f"fsdd/{path.name}"))
    return items, noise


def group(speaker):
    """A speaker's group for cross-fitting the teacher (teacher.py): a third byte of the hash."""
    return hashlib.sha256(speaker.encode()).digest()[2]


def crop(x, rng, n=SR):
    if len(x) <= n:
        return fit(x, n)
    start = rng.integers(0, len(x) - n)
    return x[start : start + n]


def augment(x, noise, rng):
    """One augmented copy of a 1 s clip."""
    # Speed perturbation (changes tempo and pitch together), as in Ko et al. 2015.
    speed = rng.uniform(0.88, 1.12)
    t = np.arange(0, len(x), speed)
    x = np.interp(t, np.arange(len(x)), x).astype(np.float32)
    x = fit(x)
    # Time shift of up to 150 ms with zeros filling in.
    shift = int(rng.integers(-2400, 2401))
    x = np.roll(x, shift)
    if shift > 0:
        x[:shift] = 0
    elif shift < 0:
        x[shift:] = 0
    # Gain: -18 to +6 dB, never clipping.
    x = x * 10 ** (rng.uniform(-18, 6) / 20)
    # Background noise at 0 to 30 dB SNR, most of the time.
    if rng.random() < 0.8:
        n = crop(noise[rng.integers(len(noise))], rng)
        if rng.random() < 0.2:
            n = rng.standard_normal(SR).astype(np.float32)
        px, pn = np.mean(x**2) + 1e-10, np.mean(n**2) + 1e-10
        snr = rng.uniform(0, 30)
        x = x + n * np.sqrt(px / (pn * 10 ** (snr / 10)))
    peak = np.max(np.abs(x))
    if peak > 0.99:
        x = x * (0.99 / peak)
    return x.astype(np.float32)


def partial(x, other, noise, rng):
    """A window a stream shows between words: the edge of one keyword, or the end of one clip
    joined to the start of another. Labelled `_unknown_`, so that half a word does not fire."""
    if rng.random() < 0.5:
        shift = int(rng.uniform(0.55, 0.75) * SR) * (1 if rng.random() < 0.5 else -1)
        y = np.roll(x, shift)
        if shift > 0:
            y[:shift] = 0
        else:
            y[shift:] = 0
    else:
        cut = int(rng.uniform(0.4, 0.6) * SR)
        y = np.concatenate([x[cut:], other[:cut]])
        y = fit(y)
    return augment(y, noise, rng)


def silence(noise, rng):
    """A `_silence_` example: background noise at a random level, or near-digital silence."""
    kind = rng.random()
    if kind < 0.1:
        x = rng.standard_normal(SR).astype(np.float32) * 10 ** rng.uniform(-5, -3)
    else:
        x = crop(noise[rng.integers(len(noise))], rng)
        if kind < 0.3:
            x = x + crop(noise[rng.integers(len(noise))], rng)
        x = x * 10 ** (rng.uniform(-30, 6) / 20)
    peak = np.max(np.abs(x))
    if peak > 0.99:
        x = x * (0.99 / peak)
    return x.astype(np.float32)


def features(clips, work, name):
    wav = work / f"{name}.wav"
    sf.write(wav, np.concatenate(clips), SR, subtype="FLOAT")
    out = work / f"{name}.npy"
    subprocess.run(
        [str(HARK), "features", str(wav), "--preset", "kws", "--segment", str(SR), "--output", str(out)],
        check=True,
    )
    wav.unlink()
    return np.load(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=str(ROOT.parent / "kws-work"))
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--all-speakers", action="store_true",
                        help="train on every speaker, the validation speakers too (the shipped model)")
    parser.add_argument("--train-share", type=float, default=1.0,
                        help="share of the training speakers to keep (a learning curve); validation unchanged")
    parser.add_argument("--tts", help="synth.py's output: synthesised words for the training side")
    parser.add_argument("--tts-copies", type=int, default=2)
    parser.add_argument("--embed", action="store_true",
                        help="also write the teacher's speech embeddings of every clip (teacher.py)")
    args = parser.parse_args()
    if not 0 < args.train_share <= 1:
        parser.error("--train-share takes a share in (0, 1]")
    if args.all_speakers and args.train_share < 1:
        parser.error("--all-speakers and --train-share do not go together")
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if not HARK.exists():
        raise SystemExit(f"{HARK} is missing: cargo build --release -p hark-cli")
    rng = np.random.default_rng(args.seed)
    items, noise = gather()
    noise_val = [a for i, (a, _) in enumerate(noise) if i % 5 == 0]
    noise_train = [a for i, (a, _) in enumerate(noise) if args.all_speakers or i % 5 != 0]

    def trains(speaker):
        if args.all_speakers:
            return True
        return not is_val(speaker) and in_share(speaker, args.train_share)

    train_x, train_y, train_g, val_x, val_y, val_meta = [], [], [], [], [], []
    for audio, label, speaker, source in items:
        y = LABELS.index(label)
        if is_val(speaker):
            val_x.append(audio)
            val_y.append(y)
            val_meta.append((source, speaker, label))
        if trains(speaker):
            train_x.append(audio)
            train_y.append(y)
            train_g.append(group(speaker))
            for _ in range(args.copies):
                train_x.append(augment(audio, noise_train, rng))
                train_y.append(y)
                train_g.append(group(speaker))
    # Partial-word windows from the training keywords, as `_unknown_`.
    keywords = [(a, speaker) for a, label, speaker, _ in items if label in WORDS and trains(speaker)]
    for _ in range(len(keywords) * 2):
        a, speaker = keywords[rng.integers(len(keywords))]
        b, _ = keywords[rng.integers(len(keywords))]
        train_x.append(partial(a, b, noise_train, rng))
        train_y.append(LABELS.index("_unknown_"))
        train_g.append(group(speaker))
    n_words = sum(1 for y in train_y if y < len(WORDS))
    for i in range(n_words // len(WORDS)):
        train_x.append(silence(noise_train, rng))
        train_y.append(LABELS.index("_silence_"))
        train_g.append(i % 256)
    if args.tts:
        # After the real material and on its own random stream, so that everything else (the
        # validation set above all) is the same with and without it. Keywords get
        # `--tts-copies` copies of every clip; `_unknown_` gets as many synthesised words as
        # make the same synthetic share of its examples as of a keyword's, so that sounding
        # synthesised says nothing about the class (with all of them, 43 % of `_unknown_`
        # against 22 % of a keyword, real words of other speakers went to keywords more often).
        tts_rng = np.random.default_rng(args.seed + 1000)
        tts = pathlib.Path(args.tts)
        with open(tts / "MANIFEST.tsv") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        counts = np.bincount(train_y, minlength=len(LABELS))
        keyword_rows = [r for r in rows if r["label"] in WORDS]
        other_rows = [r for r in rows if r["label"] == "_unknown_"]
        synthetic = len(keyword_rows) * args.tts_copies
        share = synthetic / (synthetic + counts[: len(WORDS)].sum())
        n_other = min(len(other_rows), int(round(share / (1 - share) * counts[LABELS.index("_unknown_")])))
        picked = [other_rows[i] for i in tts_rng.permutation(len(other_rows))[:n_other]]
        for row, copies in [(r, args.tts_copies) for r in keyword_rows] + [(r, 1) for r in picked]:
            audio = fit(read(tts / row["path"]))
            for _ in range(copies):
                train_x.append(augment(audio, noise_train, tts_rng))
                train_y.append(LABELS.index(row["label"]))
                train_g.append(group(row["path"]))
        print(f"synthesised: {synthetic} keyword examples and {n_other} of `_unknown_` ({share:.0%} of each)")
    for i, a in enumerate(noise_val):
        val_x.append(crop(a, rng))
        val_y.append(LABELS.index("_silence_"))
        val_meta.append((f"sc2/{noise[i * 5][1]}", "", "_silence_"))

    np.save(work / "train_y.npy", np.array(train_y, dtype=np.int64))
    np.save(work / "val_y.npy", np.array(val_y, dtype=np.int64))
    speakers = sorted({speaker for _, speaker, _ in val_meta if speaker and not speaker.startswith(("ww-", "fsdd-"))})
    with open(ROOT / "models" / "kws" / "validation_speakers.txt", "w") as f:
        f.write("# Speech Commands speakers held out for validation (sha256(speaker)[0] < 0.2 * 256)\n")
        f.write("\n".join(speakers) + "\n")
    with open(work / "val_meta.tsv", "w") as f:
        f.write("source\tspeaker\tlabel\n")
        for row in val_meta:
            f.write("\t".join(row) + "\n")
    if args.embed:
        from teacher import embed

        np.save(work / "train_group.npy", np.array(train_g, dtype=np.int64))
        np.save(work / "train_emb.npy", embed(train_x))
        np.save(work / "val_emb.npy", embed(val_x))
        print(f"embeddings of {len(train_x)} training and {len(val_x)} validation clips for teacher.py")
    tx = features(train_x, work, "train")
    vx = features(val_x, work, "val")
    sc_speakers = {s for _, _, s, src in items if src.startswith("sc2/") and trains(s)}
    print(f"train {tx.shape} ({len(sc_speakers)} Speech Commands v0.02 speakers), val {vx.shape}"
          + (" (seen in training: --all-speakers)" if args.all_speakers else ""))
    for name, ys in [("train", train_y), ("val", val_y)]:
        counts = np.bincount(ys, minlength=len(LABELS))
        print(name, dict(zip(LABELS, counts.tolist())))


if __name__ == "__main__":
    main()
