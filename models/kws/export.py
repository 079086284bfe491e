#!/usr/bin/env python3
"""Finishes models/kws/kws12.onnx: writes Hark's metadata into it and the golden outputs CI
checks it against, and prints the model card's figures.

- Weights: stored as int8 with a scale per output channel (quantize.py; `--float` keeps them
  float), before the golden outputs and the figures are computed, so both are the shipped
  file's. A `--figures-from` model is scored the same way, from a quantized copy.
- Metadata: labels, the exact feature config (from `hark config --preset kws`), the window
  length and per-keyword thresholds.
- Golden files: models/kws/golden_inputs.npy, features of the validation clips listed in
  models/kws/golden_clips.txt computed by `hark features`, and golden_outputs.npy, the
  probabilities onnxruntime gives for them.
- Figures: validation accuracy by speaker split, the confusion matrix (confusion.png), from
  the probabilities onnxruntime gives on WORK/val.npy. A model trained on every speaker
  (prepare.py `--all-speakers`) has seen those clips: `--figures-from M` takes the figures from
  M instead, the same recipe trained with the validation speakers held out.

Streaming models (train.py --arch stream-hybrid or stream) get `hark.kind = kws-stream`, their
step and state sizes, a smoothing span of one step (`hark.smoothing_frames`), and golden outputs of their steps run from a zero state over each clip's last 96 frames.

Usage: python models/kws/export.py [--work DIR] [--threshold 0.6] [--model M --out-dir D] [--figures-from M] [--float]
  the streaming model: python models/kws/export.py --work ../kws-work-stream --model models/kws/kws12_stream.onnx
  (its golden files and confusion matrix are named golden_stream_*.npy, confusion_stream.*)
"""

import argparse
import pathlib
import subprocess
import tempfile

import numpy as np
import onnx

from evaluate import probabilities, validation
from labels import LABELS
from quantize import int8_weights

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
HARK = ROOT / "target" / "release" / "hark"
KWS = ROOT / "models" / "kws"
WORDS = LABELS[:10]


def hark(*args):
    return subprocess.run([str(HARK), *args], check=True, capture_output=True, text=True).stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=str(ROOT.parent / "kws-work"))
    parser.add_argument("--threshold", type=float, default=0.6)
    parser.add_argument("--model", default=str(KWS / "kws12.onnx"))
    parser.add_argument("--out-dir", default=str(KWS), help="where golden files and the confusion matrix go")
    parser.add_argument("--figures-from", help="the model whose validation figures to print and plot (default: --model)")
    parser.add_argument("--float", action="store_true", help="keep float weights (default: int8, quantize.py)")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    out_dir = pathlib.Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = pathlib.Path(args.model)

    model = onnx.load(path)
    if not args.float:
        print(f"{int8_weights(model)} weights stored as int8")
    config = hark("config", "--preset", "kws").strip()
    stream = len(model.graph.input) > 1
    props = {
        "hark.kind": "kws-stream" if stream else "kws",
        "hark.labels": ",".join(LABELS),
        "hark.feature_config": config,
        "hark.window_frames": "96" if stream else "98",
        "hark.thresholds": ",".join(f"{w}:{args.threshold}" for w in WORDS),
        "hark.version": "2" if stream else "1",
    }
    if stream:
        dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]
        props["hark.step_frames"] = str(dims(model.graph.input[0])[1])
        shapes = [dims(i)[1:] for i in model.graph.input[1:]]
        props["hark.state_shapes"] = ",".join("x".join(map(str, s)) for s in shapes)
        # No smoothing beyond one step: the scores already average 96 frames, and averaging
        # steps only delays the events (model card).
        props["hark.smoothing_frames"] = props["hark.step_frames"]
    onnx.helper.set_model_props(model, props)
    model.doc_string = "Hark 12-class Speech Commands keyword model; see models/kws/README.md"
    onnx.checker.check_model(model)
    onnx.save(model, path)

    # Golden outputs: real clips through hark's features, probabilities from onnxruntime.
    clips = [line.strip() for line in open(KWS / "golden_clips.txt") if line.strip() and not line.startswith("#")]
    inputs = []
    with tempfile.TemporaryDirectory() as tmp:  # not in WORK: exports may run side by side
        for clip in clips:
            out = pathlib.Path(tmp) / "golden.npy"
            hark("features", str(DATA / clip), "--preset", "kws", "--output", str(out))
            x = np.load(out)
            assert x.shape == (98, 40), (clip, x.shape)
            inputs.append(x)
    inputs = np.stack(inputs).astype(np.float32)
    outputs = probabilities(path, inputs)
    if stream:
        inputs = inputs[:, -96:]
    prefix = "golden_stream_" if stream else "golden_"
    np.save(out_dir / f"{prefix}inputs.npy", inputs)
    np.save(out_dir / f"{prefix}outputs.npy", outputs.astype(np.float32))
    for clip, p in zip(clips, outputs):
        print(f"{clip}: {LABELS[int(p.argmax())]} {p.max():.3f}")

    # Validation figures: the held-out model's probabilities on the validation clips.
    figures_from = pathlib.Path(args.figures_from or path)
    x, y, sc = validation(work)
    if args.figures_from and not args.float:
        with tempfile.TemporaryDirectory() as tmp:
            held_out = onnx.load(figures_from)
            int8_weights(held_out)
            onnx.save(held_out, pathlib.Path(tmp) / "figures.onnx")
            probs = probabilities(pathlib.Path(tmp) / "figures.onnx", x)
    else:
        probs = probabilities(figures_from, x)
    print(f"validation figures of {figures_from}")
    pred = probs.argmax(1)
    recall = np.array([np.mean(pred[y == c] == c) for c in range(len(LABELS))])
    print(f"validation clips {len(y)}; accuracy {np.mean(pred == y):.4f}; "
          f"class-balanced accuracy {recall.mean():.4f}")
    for label, r, n in zip(LABELS, recall, np.bincount(y, minlength=len(LABELS))):
        print(f"  {label:>10}: {r:.3f} of {n}")
    # The Speech Commands v0.02 clips alone (and the held-out background-noise crops as
    # `_silence_`): the distribution of the canonical test set, whose other speakers judge it.
    sc_recall = np.array([np.mean(pred[sc & (y == c)] == c) for c in range(len(LABELS))])
    print(f"Speech Commands v0.02 clips {sc.sum()}; accuracy {np.mean(pred[sc] == y[sc]):.4f}; "
          f"class-balanced {sc_recall.mean():.4f}; `_unknown_` recall {sc_recall[10]:.3f}")
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for t, p in zip(y, pred):
        confusion[t, p] += 1
    np.savetxt(out_dir / ("confusion_stream.tsv" if stream else "confusion.tsv"), confusion, fmt="%d", delimiter="\t",
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
        ax.set_title(f"{figures_from.stem}, validation speakers (balanced accuracy {recall.mean():.3f})")
        fig.tight_layout()
        fig.savefig(out_dir / ("confusion_stream.png" if stream else "confusion.png"), dpi=110)
    except ImportError:
        print("matplotlib is not installed: confusion.png not drawn")


if __name__ == "__main__":
    main()
