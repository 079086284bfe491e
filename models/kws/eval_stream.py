#!/usr/bin/env python3
"""Streaming evaluation of a keyword model with `hark detect` on validation speakers.

Builds one long 16 kHz recording from the Speech Commands clips of the validation speakers
(models/kws/validation_speakers.txt) and every fifth `_silence_` clip, with 0.5 s of silence
between clips, runs `hark detect --json` on it at several thresholds and reports, per
threshold: keywords found (an event of the right keyword that ends within the clip or in the
0.5 s after it), false events per hour (any other event, split into those in non-keyword clips,
those of a wrong keyword in a keyword clip and repeats of the right one), and the latency of the event's end from the
end of the word (where the clip's energy last stands within 30 dB of its peak, `speech_end`;
negative when the event comes before the word has ended). Last, the share of
keywords found at 30, 60 and 120 false events per hour, interpolated between the thresholds:
the figure to compare models by, since one threshold puts two models at different points of
their trade-off.

Usage: python models/kws/eval_stream.py [--model M] [--thresholds 0.5,0.6,...] [--stride 4]
       [--detect-args '--smoothing-ms 80 --refractory 1'] [--hark path/to/hark] [--shuffle SEED]
"""

import argparse
import csv
import json
import os
import pathlib
import shlex
import subprocess
import tempfile

import numpy as np
import soundfile as sf

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
HARK = pathlib.Path(os.environ.get("HARK_BIN", ROOT / "target" / "release" / "hark"))


def speech_end(pcm):
    """Where the speech in a clip ends, in samples: the end of the last 10-ms frame within
    30 dB of the loudest one and at least 10 dB above the clip's quietest tenth (its noise)."""
    frames = pcm[: len(pcm) // 160 * 160].astype(np.float64).reshape(-1, 160)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1.0)
    loud = np.nonzero(db >= max(db.max() - 30, np.percentile(db, 10) + 10))[0]
    return (loud[-1] + 1) * 160 if len(loud) else len(pcm)


def build(path, shuffle=None):
    """Writes the stream to `path`; returns its truth and length in seconds. The clips come in
    manifest order (by label, so a keyword often follows itself), or with `shuffle` a seed, in
    an order shuffled with it."""
    speakers = {l.strip() for l in open(ROOT / "models/kws/validation_speakers.txt") if l.strip() and not l.startswith("#")}
    base = DATA / "speech_commands_v0.02_dev"
    gap = np.zeros(8000, dtype=np.int16)
    parts, truth, t, silence_index, rows = [gap], [], len(gap), 0, []
    with open(base / "MANIFEST.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["label"] == "_silence_":
                silence_index += 1
                if (silence_index - 1) % 5:
                    continue
            elif row["speaker_id"] not in speakers:
                continue
            rows.append(row)
    if shuffle is not None:
        np.random.default_rng(shuffle).shuffle(rows)
    for row in rows:
        pcm, sr = sf.read(base / row["path"], dtype="int16")
        assert sr == 16000
        truth.append((row["label"], t / 16000, (t + len(pcm)) / 16000, (t + speech_end(pcm)) / 16000))
        parts += [pcm, gap]
        t += len(pcm) + len(gap)
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return truth, t / 16000


def score(events, truth, hours):
    """(share of keywords found, false events per hour, latencies, false events in non-keyword
    clips, false events of a wrong keyword in keyword clips, repeated events of the right
    keyword in one clip). A repeat is a false event too (counted since December 2026)."""
    found, keywords, in_other, wrong, repeated, latencies = 0, 0, 0, 0, 0, []
    for label, start, end, word_end in truth:
        inside = [e for e in events if start < e["end"] <= end + 0.5]
        if label.startswith("_"):
            in_other += len(inside)
            continue
        keywords += 1
        hits = [e for e in inside if e["keyword"] == label]
        if hits:
            found += 1
            latencies.append(hits[0]["end"] - word_end)
            repeated += len(hits) - 1
        wrong += len(inside) - len(hits)
    false = in_other + wrong + repeated
    return found / keywords, false / hours, latencies, in_other, wrong, repeated


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--thresholds", default="0.5,0.6,0.7,0.8,0.85,0.9,0.95")
    parser.add_argument("--stride", default="8")
    parser.add_argument("--detect-args", default="", help="more `hark detect` options, e.g. '--smoothing-ms 80'")
    parser.add_argument("--hark", default=str(HARK), help="the hark binary (default: $HARK_BIN, else the release build)")
    parser.add_argument("--shuffle", type=int, help="the clips in an order shuffled with this seed (default: manifest order)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = pathlib.Path(tmp) / "stream.wav"
        truth, seconds = build(wav, args.shuffle)
        hours = seconds / 3600
        print(f"{sum(1 for t in truth if not t[0].startswith('_'))} keywords, "
              f"{sum(1 for t in truth if t[0].startswith('_'))} non-keyword clips, {seconds / 60:.1f} min")
        print("| threshold | keywords found | false events per hour | of which in other words, on a wrong keyword, repeated | median latency | p95 latency |")
        print("|---|---|---|---|---|---|")
        curve = []
        for threshold in args.thresholds.split(","):
            cmd = [args.hark, "detect", str(wav), "--json", "--threshold", threshold, "--stride", args.stride]
            if args.model:
                cmd += ["--model", args.model]
            cmd += shlex.split(args.detect_args)
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            events = [json.loads(line) for line in out.splitlines() if line.strip()]
            recall, fph, lat, in_other, wrong, repeated = score(events, truth, hours)
            p50 = np.percentile(lat, 50) * 1000 if lat else float("nan")
            p95 = np.percentile(lat, 95) * 1000 if lat else float("nan")
            print(f"| {threshold} | {recall:.3f} | {fph:.0f} | {in_other}, {wrong}, {repeated} | {p50:.0f} ms | {p95:.0f} ms |")
            curve.append((fph, recall))
        if len(curve) < 2:
            return  # one point is no curve to read the rates off
        curve.sort()
        at = [np.interp(rate, [c[0] for c in curve], [c[1] for c in curve]) for rate in (30, 60, 120)]
        print("keywords found at 30 / 60 / 120 false events per hour: " + " / ".join(f"{a:.3f}" for a in at))


if __name__ == "__main__":
    main()
