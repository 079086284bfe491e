#!/usr/bin/env python3
"""Synthesises extra training words with espeak-ng and flite (Debian packages `espeak-ng`, `flite`).

Speech Commands gives about 2000 keyword clips from about 100 speakers here, and only a few
hundred clips of other words, so the `_unknown_` class ("any other speech") is the model's weak
class. This script speaks the ten keywords and about 200 other words (Speech Commands' own
auxiliary words, digits, everyday words, and words that share sounds with a keyword: "town",
"shop", "online") with espeak-ng's English voices and voice variants at several speeds and
pitches, and with flite's voices (kal, kal16, and the CMU Arctic voices awb, rms and slt, which
are made from recorded speech and sound more natural than espeak-ng's formant voices) at several
durations and pitches. prepare.py (`--tts DIR`) adds them to the training side only; validation
stays real speech.

Writes DIR/<label>/<word>-<n>.wav (16 kHz mono float) and DIR/MANIFEST.tsv (path, word, label,
voice, speed, pitch; a flite voice is named `flite:NAME` and its speed is a duration stretch in
percent).

Usage: python models/kws/synth.py [--out ../kws-tts] [--per-keyword 160] [--per-word 24] [--flite-share 0.4]
       [--seed 1]
"""

import argparse
import csv
import pathlib
import subprocess
import tempfile

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from labels import WORDS

ROOT = pathlib.Path(__file__).resolve().parents[2]
SR = 16000

# Speech Commands' auxiliary words (the `_unknown_` words of its test set, by definition of the
# dataset), digits, everyday words, and words sharing sounds with a keyword. Exact homophones
# of a keyword ("know", "write") are left out: nothing can tell them apart.
OTHER = """
bed bird cat dog eight five four happy house marvin nine one seven sheila six three tree two wow
zero backward follow forward learn visual
yeah yet yell yellow guess less mess chess test nest bless yesterday
now nope note nose snow show so though toe low below
cup pup us bus but hut jump supper upper upon puppy
town brown done gown clown sound round crown dawn
lift loft laughed lead let lest theft deaf chef
light bright ride white might night fight kite rice ripe
an in own one once gone john odd honest
of cough soft offer often coffee awful office
shop top stock stomp stuff step drop spot swap
goat grow gold ghost goal going good get giraffe
online offline download upload stopwatch leftover rightly nobody yesman upstairs downtown
hello hey okay please thanks sorry maybe never always water table paper window music
morning evening dinner money people little number mother father sister brother
turn start play pause next back open close light lamp volume louder quieter
red green blue black orange purple
apple banana orange lemon cookie pizza
monday tuesday friday summer winter
""".split()


def voices():
    """espeak-ng's English voices (not the mbrola ones, which need extra packages) and its
    voice variants."""
    out = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True, check=True).stdout
    langs = []
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[4].startswith("gmw/"):
            langs.append(cols[1])
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    variants = [line.split()[4].split("/")[-1] for line in out.splitlines()[1:] if len(line.split()) >= 5]
    return sorted(set(langs)), sorted(set(variants))


FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]


def command(word, voice, speed, pitch, out):
    if voice.startswith("flite:"):
        return ["flite", "-voice", voice[6:], "-t", word, "-o", out,
                "--setf", f"duration_stretch={speed / 100}", "--setf", f"int_f0_target_mean={pitch}"]
    return ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", out, word]


def speak(word, voice, speed, pitch, path):
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(command(word, voice, speed, pitch, tmp.name), check=True, capture_output=True)
        x, sr = sf.read(tmp.name, dtype="float32")
    if x.ndim > 1:
        x = x[:, 0]
    g = np.gcd(sr, SR)
    x = resample_poly(x, SR // g, sr // g).astype(np.float32)
    # Trim espeak's leading and trailing silence; the clip is placed in a 1-s window later.
    loud = np.flatnonzero(np.abs(x) > 0.01 * max(np.abs(x).max(), 1e-6))
    if len(loud) == 0:
        return False
    x = x[max(loud[0] - 160, 0) : loud[-1] + 160]
    if len(x) > SR:
        return False
    sf.write(path, x, SR, subtype="FLOAT")
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT.parent / "kws-tts"))
    parser.add_argument("--per-keyword", type=int, default=160, help="clips of each keyword")
    parser.add_argument("--per-word", type=int, default=24, help="clips of each other word")
    parser.add_argument("--flite-share", type=float, default=0.4, help="share of clips spoken by flite")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    rng = np.random.default_rng(args.seed)
    langs, variants = voices()
    print(f"{len(langs)} voices, {len(variants)} variants")
    rows = []
    for words, per, label in [(WORDS, args.per_keyword, None), (OTHER, args.per_word, "_unknown_")]:
        for word in words:
            lab = label or word
            (out / lab).mkdir(parents=True, exist_ok=True)
            for n in range(per):
                if rng.random() < args.flite_share:
                    voice = f"flite:{rng.choice(FLITE_VOICES)}"
                    speed = int(rng.integers(75, 140))  # duration stretch, percent
                    pitch = int(rng.integers(80, 230))  # mean F0, Hz
                else:
                    voice = f"{rng.choice(langs)}+{rng.choice(variants)}"
                    speed = int(rng.integers(110, 230))
                    pitch = int(rng.integers(15, 90))
                path = out / lab / f"{word}-{n}.wav"
                if speak(word, voice, speed, pitch, path):
                    rows.append((f"{lab}/{path.name}", word, lab, voice, speed, pitch))
        print(f"{label or 'keywords'}: {len(rows)} clips so far", flush=True)
    with open(out / "MANIFEST.tsv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["path", "word", "label", "voice", "speed", "pitch"])
        w.writerows(rows)
    print(f"{len(rows)} clips in {out}")


if __name__ == "__main__":
    main()
