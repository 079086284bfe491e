#!/usr/bin/env python3
"""Finishes models/kws/kws12.onnx: writes Hark's metadata into it and the golden outputs CI
checks it against, and prints the model card's figures.

- Metadata: labels, the exact feature config (from `hark config --preset kws`), the window
  length and per-keyword thresholds.
- Golden files: models/kws/golden_inputs.npy, features of the validation clips listed in
  models/kws/golden_clips.txt computed by `hark features`, and golden_outputs.npy, the
  probabilities onnxruntime gives for them.
- Figures: validation accuracy by speaker split, the confusion matrix (confusion.png).

Usage: python models/kws/export.py [--work DIR] [--threshold 0.6]
"""

import argparse
import pathlib
import subprocess

import numpy as np
import onnx
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
HARK = ROOT / "target" / "release" / "hark"
KWS = ROOT / "models" / "kws"
LABELS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_"]
WORDS = LABELS[:10]


def hark(*args):
    return subprocess.run([str(HARK), *args], check=True, capture_output=True, text=True).stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=str(ROOT.parent / "kws-work"))
    parser.add_argument("--threshold", type=float, default=0.6)
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    path = KWS / "kws12.onnx"

    model = onnx.load(path)
    config = hark("config", "--preset", "kws").strip()
    props = {
        "hark.kind": "kws",
        "hark.labels": ",".join(LABELS),
        "hark.feature_config": config,
        "hark.window_frames": "98",
        "hark.thresholds": ",".join(f"{w}:{args.threshold}" for w in WORDS),
        "hark.version": "1",
    }
    onnx.helper.set_model_props(model, props)
    model.doc_string = "Hark 12-class Speech Commands keyword model (DS-TCN); see models/kws/README.md"
    onnx.checker.check_model(model)
    onnx.save(model, path)

    # Golden outputs: real clips through hark's features, probabilities from onnxruntime.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    clips = [line.strip() for line in open(KWS / "golden_clips.txt") if line.strip() and not line.startswith("#")]
    inputs = []
    for clip in clips:
        out = work / "golden.npy"
        hark("features", str(DATA / clip), "--preset", "kws", "--output", str(out))
        x = np.load(out)
        assert x.shape == (98, 40), (clip, x.shape)
        inputs.append(x)
    inputs = np.stack(inputs).astype(np.float32)
    outputs = np.concatenate([session.run(None, {"features": x[None]})[0] for x in inputs])
    np.save(KWS / "golden_inputs.npy", inputs)
    np.save(KWS / "golden_outputs.npy", outputs.astype(np.float32))
    for clip, p in zip(clips, outputs):
        print(f"{clip}: {LABELS[int(p.argmax())]} {p.max():.3f}")

    # Validation figures from train.py's saved probabilities.
    probs, y = np.load(work / "val_probs.npy"), np.load(work / "val_y.npy")
    pred = probs.argmax(1)
    recall = np.array([np.mean(pred[y == c] == c) for c in range(len(LABELS))])
    print(f"validation clips {len(y)}; accuracy {np.mean(pred == y):.4f}; "
          f"class-balanced accuracy {recall.mean():.4f}")
    for label, r, n in zip(LABELS, recall, np.bincount(y, minlength=len(LABELS))):
        print(f"  {label:>10}: {r:.3f} of {n}")
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for t, p in zip(y, pred):
        confusion[t, p] += 1
    np.savetxt(KWS / "confusion.tsv", confusion, fmt="%d", delimiter="\t",
               header="\t".join(LABELS), comments="")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 6))
        norm = confusion / confusion.sum(axis=1, keepdims=True)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(LABELS)), LABELS, rotation=60, ha="right")
        ax.set_yticks(range(len(LABELS)), LABELS)
        for i in range(len(LABELS)):
            for j in range(len(LABELS)):
                if confusion[i, j]:
                    ax.text(j, i, confusion[i, j], ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"kws12, validation speakers (balanced accuracy {recall.mean():.3f})")
        fig.tight_layout()
        fig.savefig(KWS / "confusion.png", dpi=110)
    except ImportError:
        print("matplotlib is not installed: confusion.png not drawn")


if __name__ == "__main__":
    main()
