#!/usr/bin/env python3
"""Would a window model behind the streaming model cut its false events? A simulation on the
validation stream of `eval_stream.py`.

Both models' probabilities are computed by onnxruntime on every frame of the stream's
features (from `hark features`, the front end `hark detect` runs), then the detector's
decisions are replayed in Python (threshold, re-arming below it, 1 s refractory time) on:
the streaming model alone (on its 8-frame steps), the window model alone (on every frame,
smoothed over 240 ms), the mean and the minimum of the two, and a verifier: the window model
runs on the streaming model's steps only while some keyword's streaming score is at least
`--verify-from` of the threshold and no event is in the refractory time, and the decision is
on `(1 - w) * streaming + w * (mean of the window model's last 3 runs on the steps)`. The
last line of that block counts the window runs it needed.

The streaming model alone replays `hark detect` exactly (the same found and false events as
`eval_stream.py` at every threshold, checked on the shipped model).

Usage: python models/kws/eval_pair.py STREAMING.onnx WINDOW.onnx [--thresholds 0.4,0.5,0.6,0.7]
       [--verify-from 0.8] [--weight 0.5] [--shuffle SEED]
"""

import argparse
import pathlib
import subprocess
import tempfile

import numpy as np
import onnxruntime as ort

import eval_stream
from labels import LABELS

HOP, FRAME = 0.010, 0.025


def window_probabilities(path, x):
    """The window model's probabilities of the window ending at every frame (0 before the
    first whole window)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    w = session.get_inputs()[0].shape[1]
    out = np.zeros((len(x), len(LABELS)), np.float32)
    for t in range(w - 1, len(x)):
        out[t] = session.run(None, {"features": x[None, t - w + 1 : t + 1]})[0][0]
    return out


def stream_probabilities(path, x):
    """The streaming model's probabilities after each step, held until the next one (0 until
    its state covers a window of 96 frames)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    step = inputs[0].shape[1]
    states = [np.zeros(i.shape, np.float32) for i in inputs[1:]]
    out = np.zeros((len(x), len(LABELS)), np.float32)
    for t0 in range(0, len(x) - step + 1, step):
        feeds = {"features": x[None, t0 : t0 + step]}
        feeds.update({f"state_{i}": s for i, s in enumerate(states)})
        p, *states = session.run(None, feeds)
        if t0 + step >= 96:
            out[t0 + step - 1 : t0 + 2 * step - 1] = p[0]
    return out


def decide(score, threshold, every=1, refractory=1.0):
    """Events from per-frame scores, decided every `every` frames as `hark detect` does."""
    events, armed, last = [], np.ones(10, bool), -1e9
    for t in range(every - 1, len(score), every):
        s = score[t, :10]
        armed |= s < threshold
        ok = armed & (s >= threshold)
        end = t * HOP + FRAME
        if ok.any() and end - last >= refractory:
            k = int(np.argmax(np.where(ok, s, -1)))
            armed[k] = False
            last = end
            events.append({"keyword": LABELS[k], "end": end})
    return events


def verified(ps, pw, threshold, share, weight, step=8, runs=3, refractory=1.0):
    """The verifier's events and how many window runs it needed."""
    events, armed, last, done = [], np.ones(10, bool), -1e9, set()
    for t in range(step - 1, len(ps), step):
        s = ps[t, :10]
        end = t * HOP + FRAME
        armed |= s < threshold
        if end - last < refractory or not (s >= share * threshold).any():
            continue
        at = [u for u in range(t, t - runs * step, -step) if pw[u].any()]
        done.update(at)
        fused = (1 - weight) * s + weight * pw[at, :10].mean(0) if at else s
        ok = armed & (fused >= threshold)
        if ok.any():
            k = int(np.argmax(np.where(ok, fused, -1)))
            armed[k] = False
            last = end
            events.append({"keyword": LABELS[k], "end": end})
    return events, len(done)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("stream")
    parser.add_argument("window")
    parser.add_argument("--thresholds", default="0.4,0.5,0.6,0.7")
    parser.add_argument("--verify-from", type=float, default=0.8)
    parser.add_argument("--weight", type=float, default=0.5)
    parser.add_argument("--shuffle", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = pathlib.Path(tmp) / "stream.wav"
        truth, seconds = eval_stream.build(wav, args.shuffle)
        subprocess.run([str(eval_stream.HARK), "features", str(wav), "-o", f"{tmp}/x.npy"], check=True,
                       capture_output=True)
        x = np.load(f"{tmp}/x.npy")
    hours = seconds / 3600
    ps, pw = stream_probabilities(args.stream, x), window_probabilities(args.window, x)
    smoothed = np.stack([np.convolve(pw[:, k], np.ones(24) / 24)[: len(pw)] for k in range(len(LABELS))], 1)
    thresholds = [float(t) for t in args.thresholds.split(",")]

    def show(name, make):
        print(name)
        for t in thresholds:
            found, per_hour, latencies, *_ = eval_stream.score(make(t), truth, hours)
            p95 = np.percentile(latencies, 95) * 1000 if latencies else float("nan")
            print(f"  {t:.2f}: {found:.3f} found, {per_hour:5.1f} false events per hour, p95 latency {p95:.0f} ms")

    show("streaming model alone", lambda t: decide(ps, t, every=8))
    show("window model alone (every frame, 240 ms)", lambda t: decide(smoothed, t))
    show("mean of the two (every frame)", lambda t: decide((smoothed + ps) / 2, t))
    show("minimum of the two (every frame)", lambda t: decide(np.minimum(smoothed, ps), t))
    counts = []

    def verify(t):
        events, n = verified(ps, pw, t, args.verify_from, args.weight)
        counts.append(n)
        return events

    show(f"verifier from {args.verify_from} of the threshold, weight {args.weight}", verify)
    print("  window runs per audio second: " + ", ".join(f"{n / seconds:.2f}" for n in counts))


if __name__ == "__main__":
    main()
