#!/usr/bin/env python3
"""Scores keyword models (train.py's output, window or streaming, with or without export.py's
metadata) on the validation clips of a prepare.py work folder, with onnxruntime, one line per
model: all 888 clips (accuracy and class-balanced accuracy), the Speech Commands v0.02 clips
alone (class-balanced, the figure nearest the canonical test set, and `_unknown_` recall), and
with several models, their mean probabilities (an ensemble) on the last line. Each file is
scored itself, so runs that shared a work folder can be compared. export.py uses the same
helpers for its figures.

Usage: python models/kws/evaluate.py [--work DIR] MODEL.onnx [MODEL.onnx ...]
"""

import argparse
import pathlib

import numpy as np
import onnxruntime as ort

from labels import LABELS

ROOT = pathlib.Path(__file__).resolve().parents[2]


def probabilities(path, x):
    """onnxruntime's probabilities for every clip of x, (clips, 98, 40) features: a window
    model on the whole clip, a streaming model stepped from a zero state over its last 96
    frames (which equals its window form)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) == 1:
        return np.concatenate([session.run(None, {inputs[0].name: clip[None]})[0] for clip in x])
    step = inputs[0].shape[1]
    shapes = [i.shape for i in inputs[1:]]
    outputs = []
    for clip in x[:, -96:]:
        states = [np.zeros(s, dtype=np.float32) for s in shapes]
        for t in range(0, len(clip), step):
            feeds = {"features": clip[None, t : t + step]}
            feeds.update({f"state_{i}": s for i, s in enumerate(states)})
            probs, *states = session.run(None, feeds)
        outputs.append(probs)
    return np.concatenate(outputs)


def validation(work):
    """The validation features, labels and Speech Commands v0.02 mask of a work folder."""
    x, y = np.load(work / "val.npy"), np.load(work / "val_y.npy")
    with open(work / "val_meta.tsv") as f:
        sc = np.array([line.split("\t")[0].startswith("sc2/") for line in list(f)[1:]])
    assert len(sc) == len(y) == len(x), "val.npy, val_y.npy and val_meta.tsv differ in length"
    return x, y, sc


def figures(probs, y, sc):
    pred = probs.argmax(1)
    recall = np.array([np.mean(pred[y == c] == c) for c in range(len(LABELS))])
    sc_recall = np.array([np.mean(pred[sc & (y == c)] == c) for c in range(len(LABELS))])
    return (f"clips {np.mean(pred == y):.4f} (balanced {recall.mean():.4f}); "
            f"SC clips balanced {sc_recall.mean():.4f}, `_unknown_` {sc_recall[10]:.3f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=str(ROOT.parent / "kws-work"))
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    x, y, sc = validation(work)
    print(f"{len(y)} validation clips, {sc.sum()} of them Speech Commands v0.02")
    all_probs = []
    for path in args.models:
        probs = probabilities(path, x)
        all_probs.append(probs)
        print(f"{path}: {figures(probs, y, sc)}")
    if len(all_probs) > 1:
        print(f"mean of the {len(all_probs)}: {figures(np.mean(all_probs, axis=0), y, sc)}")


if __name__ == "__main__":
    main()
