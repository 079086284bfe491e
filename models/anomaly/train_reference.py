#!/usr/bin/env python3
"""Reference: train a Hark anomaly autoencoder in PyTorch and export it as ONNX with the
metadata `hark score` reads. `hark fit` does the same on the device without Python; this script
shows how a model trained elsewhere plugs in.

Features come from Hark itself (no re-implementation, no train/serve skew):

    hark features normal.wav --preset machine -o frames.npy
    python train_reference.py --frames frames.npy --preset machine -o model.onnx

or, for slow metrics, the values of a CSV (`timestamp,value` or `value` per line):

    python train_reference.py --csv normal.csv -o model.onnx

The model: input `x` of shape (batch, D), D = context frames x features per frame, values
normalised per dimension by the statistics stored in the metadata; output the reconstruction.
The score of a window is the mean squared difference. Metadata keys (all strings):
hark.kind=anomaly, hark.anomaly.input=features|values, hark.feature_config (features only),
hark.anomaly.context_frames, hark.anomaly.smoothing_frames, hark.anomaly.mean,
hark.anomaly.std, hark.anomaly.threshold, hark.anomaly.calibration.
"""
import argparse
import subprocess

import numpy as np
import onnx
import torch
from scipy import stats


def windows(frames, context):
    n = len(frames) - context + 1
    return np.stack([frames[i:i + context].reshape(-1) for i in range(n)]).astype(np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="float32 .npy of shape (frames, features) from `hark features`")
    src.add_argument("--csv", help="a CSV of values, one per line (last column)")
    p.add_argument("--preset", default="machine", help="the `hark features --preset` used (features only)")
    p.add_argument("--hark", default="hark", help="the hark binary (to print the preset's config)")
    p.add_argument("--context", type=int, default=None, help="frames per window (5 for features, 32 for values)")
    p.add_argument("--smoothing", type=int, default=None, help="scores averaged (8 for features, 3 for values)")
    p.add_argument("--hidden", default=None, help="encoder widths, e.g. 64,8 (16,4 for values)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--false-alarm", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()

    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    if a.frames:
        frames = np.load(a.frames).astype(np.float32)
        kind = "features"
        config = subprocess.run([a.hark, "config", "--preset", a.preset], check=True,
                                capture_output=True, text=True).stdout.strip()
        context, smoothing, hidden = a.context or 5, a.smoothing or 8, a.hidden or "64,8"
    else:
        values = []
        for line in open(a.csv):
            try:
                values.append(float(line.rsplit(",", 1)[-1]))
            except ValueError:
                pass  # a header or a malformed line
        frames = np.array(values, dtype=np.float32)[:, None]
        kind, config = "values", None
        context, smoothing, hidden = a.context or 32, a.smoothing or 3, a.hidden or "16,4"
    hidden = [int(h) for h in hidden.split(",")]

    # The last 15 % is held back for the threshold, as `hark fit` does.
    split = int(round(len(frames) * 0.85))
    train = windows(frames[:split], context)
    held = windows(frames[split - context + 1:], context)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.maximum(std, max(std.mean() * 0.05, 1e-6)).astype(np.float32)
    norm = lambda w: (w - mean) / std

    dim = train.shape[1]
    widths = [dim] + hidden + hidden[-2::-1] + [dim]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.from_numpy(norm(train))
    steps_per_epoch = max(1, len(x) // 128)
    epochs = max(a.epochs, -(-2000 // steps_per_epoch))
    for epoch in range(epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), 128):
            b = x[perm[i:i + 128]]
            loss = torch.mean((net(b) - b) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        if (epoch + 1) % max(1, epochs // 10) == 0:
            print(f"epoch {epoch + 1}/{epochs} loss {total / len(x):.4f}")

    with torch.no_grad():
        h = torch.from_numpy(norm(held))
        err = torch.mean((net(h) - h) ** 2, dim=1).numpy()
    # The scorer's causal moving average (fewer scores at the start).
    smoothed = np.array([err[max(0, i - smoothing + 1):i + 1].mean() for i in range(len(err))])
    m, v = smoothed.mean(), smoothed.var()
    threshold = float(stats.gamma.ppf(1 - a.false_alarm, m * m / v, scale=v / m)) if v > 0 else float(smoothed.max())
    threshold = max(threshold, float(smoothed.max()))

    torch.onnx.export(net, torch.zeros(1, dim), a.output, input_names=["x"],
                      output_names=["reconstruction"], dynamic_axes={"x": {0: "batch"},
                      "reconstruction": {0: "batch"}}, opset_version=13, dynamo=False)
    model = onnx.load(a.output)
    meta = {
        "hark.kind": "anomaly",
        "hark.anomaly.input": kind,
        "hark.anomaly.context_frames": str(context),
        "hark.anomaly.smoothing_frames": str(smoothing),
        "hark.anomaly.mean": ",".join(repr(float(v)) for v in mean),
        "hark.anomaly.std": ",".join(repr(float(v)) for v in std),
        "hark.anomaly.threshold": repr(threshold),
        "hark.anomaly.calibration": f"gamma quantile at false-alarm probability {a.false_alarm} "
                                    f"of {len(smoothed)} held-back windows (PyTorch reference)",
    }
    if config:
        meta["hark.feature_config"] = config
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(model, a.output)
    print(f"wrote {a.output}: {sum(p.numel() for p in net.parameters())} parameters, threshold {threshold:.4f}")


if __name__ == "__main__":
    main()
