#!/usr/bin/env python3
"""How much `hark detect`'s events depend on where the stream starts.

Builds eval_stream.py's validation stream, runs `hark detect --json` on it and on copies that
start 5 to 75 ms later (15 offsets of 80 samples), and counts, per offset, the events that
differ from those on the whole stream (same keyword with an end within 150 ms, after the
shift, is the same event). Also prints the stream figures at the model's thresholds and the
CPU seconds of the run on the whole stream.

Usage: python models/kws/eval_phase.py [NAME=ARGS]...   e.g.  default=  stride-only=--no-dense
(HARK_BIN=path picks another hark binary than the release build.)
"""

import json
import pathlib
import resource
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf

import eval_stream as es


def detect(path, extra):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([str(es.HARK), "detect", str(path), "--json", *extra], check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()], cpu


def differing(base, events):
    used, missed = set(), 0
    for e in base:
        match = [i for i, f in enumerate(events) if i not in used and f["keyword"] == e["keyword"] and abs(f["end"] - e["end"]) < 0.15]
        if match:
            used.add(match[0])
        else:
            missed += 1
    return missed + len(events) - len(used)


def main():
    variants = [arg.split("=", 1) for arg in sys.argv[1:]] or [["default", ""]]
    with tempfile.TemporaryDirectory() as tmp:
        wav = pathlib.Path(tmp) / "stream.wav"
        truth, seconds = es.build(wav)
        pcm, rate = sf.read(wav, dtype="int16")
        offsets = range(1, 16)
        for k in offsets:
            sf.write(pathlib.Path(tmp) / f"later{k}.wav", pcm[k * 80 :], rate, subtype="PCM_16")
        for name, args in variants:
            extra = args.split()
            base, cpu = detect(wav, extra)
            found, per_hour, latencies, *_ = es.score(base, truth, seconds / 3600)
            diffs = []
            for k in offsets:
                events, _ = detect(pathlib.Path(tmp) / f"later{k}.wav", extra)
                shift = k * 80 / rate
                diffs.append(differing(base, [dict(e, end=e["end"] + shift) for e in events]))
            print(
                f"{name}: {len(base)} events, found {found:.3f}, {per_hour:.0f} false per hour, "
                f"p95 latency {np.percentile(latencies, 95) * 1000:.0f} ms, CPU {cpu:.2f} s for {seconds:.0f} s; "
                f"events differing per later start: mean {np.mean(diffs):.2f}, max {max(diffs)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
