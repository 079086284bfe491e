#!/usr/bin/env python3
"""Golden outputs of a shipped anomaly model, for CI to check tract against onnxruntime.

Takes feature frames from `hark features` (one or more .npy files of shape (frames, features)),
cuts them into the model's windows (`hark.anomaly.context_frames` consecutive frames, oldest
first), keeps `--per-file` of them evenly spread, and writes beside the model:

  <model>_golden_inputs.npy   float32 (windows, D): the raw windows, not normalised
  <model>_golden_errors.npy   float32 (windows,): the reconstruction error onnxruntime gives,
                              after the normalisation in the model's metadata, as Hark computes
                              it (the mean squared difference)

For the shipped `reference_machine.onnx`, on a machine it has not heard, running normally and
with bearing impacts (so that the goldens cover small and large errors):

    cargo build --release -p hark-cli -p hark-tests --example machine
    target/release/examples/machine /tmp/normal.wav 16000 4 12
    target/release/examples/machine /tmp/fault.wav 16000 4 13 bearing 1 3
    target/release/hark features /tmp/normal.wav --preset machine -o /tmp/normal.npy
    target/release/hark features /tmp/fault.wav --preset machine -o /tmp/fault.npy
    python models/anomaly/make_golden.py --model models/anomaly/reference_machine.onnx \\
        --frames /tmp/normal.npy /tmp/fault.npy
"""

import argparse
import pathlib

import numpy as np
import onnx
import onnxruntime as ort


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--frames", nargs="+", required=True, help=".npy feature frames from `hark features`")
    p.add_argument("--per-file", type=int, default=24, help="windows kept from each file")
    args = p.parse_args()
    path = pathlib.Path(args.model)
    meta = {prop.key: prop.value for prop in onnx.load(path).metadata_props}
    if meta.get("hark.anomaly.input") != "features":
        raise SystemExit(f"{path}: not an anomaly model of feature frames")
    context = int(meta["hark.anomaly.context_frames"])
    mean = np.array(meta["hark.anomaly.mean"].split(","), dtype=np.float64)
    std = np.array(meta["hark.anomaly.std"].split(","), dtype=np.float64)

    windows = []
    for name in args.frames:
        frames = np.load(name).astype(np.float32)
        n = len(frames) - context + 1
        if n < 1:
            raise SystemExit(f"{name}: fewer than {context} frames")
        for i in np.linspace(0, n - 1, min(args.per_file, n)).round().astype(int):
            windows.append(frames[i : i + context].reshape(-1))
    x = np.stack(windows).astype(np.float32)
    if x.shape[1] != len(mean):
        raise SystemExit(f"windows of {x.shape[1]} values, the model takes {len(mean)}")

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    normalised = ((x - mean) / std).astype(np.float32)
    (y,) = session.run(None, {session.get_inputs()[0].name: normalised})
    errors = np.mean((normalised.astype(np.float64) - y) ** 2, axis=1).astype(np.float32)

    stem = path.with_suffix("")
    np.save(f"{stem}_golden_inputs.npy", x)
    np.save(f"{stem}_golden_errors.npy", errors)
    print(f"{len(x)} windows; errors {errors.min():.3g} to {errors.max():.3g}; "
          f"written beside {path}")


if __name__ == "__main__":
    main()
