#!/usr/bin/env python3
"""CPU seconds per audio second of Hark's whole keyword pipeline (`hark detect`: WAV decoding,
features, model, smoothing, events) against pymicro-wakeword (its streaming features and one
microWakeWord model, `okay_nabu`), on the same 10-minute 16 kHz file, in one run; Hark as
`hark detect` runs by default (the bundled streaming model, models/kws/kws12_stream.onnx), with
the bundled window model (models/kws/kws12.onnx, `--model`), and the window model behind the
streaming one as its gate (`--gate`).

pymicro-wakeword is fed 10 ms (320-byte) chunks, its intended streaming use; Hark's figure is
the CPU time (user + system) of the `hark detect` process, from getrusage of the child. Median
of the repeats.

  cargo build --release -p hark-cli
  ../venv/bin/pip install -r bench/requirements.txt
  ../venv/bin/python bench/kws_vs_pymicro.py [--repeats 3] [--stride 4]
"""

import argparse
import pathlib
import resource
import statistics
import subprocess
import tempfile
import time

import numpy as np
import soundfile as sf
from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

from stream import HARK, ROOT, make_stream

STREAM_MODEL = ROOT / "models" / "kws" / "kws12_stream.onnx"
WINDOW_MODEL = ROOT / "models" / "kws" / "kws12.onnx"


def hark_cpu(path, stride, model=None, extra=()):
    """CPU seconds and peak RSS (KiB) of one `hark detect` run. The RSS comes from
    /usr/bin/time: getrusage's figure for children also counts the forked Python parent."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = ["/usr/bin/time", "-f", "%M", str(HARK), "detect", str(path), "--json", "--stride", str(stride)]
    if model:
        cmd += ["--model", str(model)]
    cmd += list(extra)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss_kib = int(out.stderr.strip().splitlines()[-1])
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), rss_kib


def pymicro_cpu(pcm):
    audio = pcm.tobytes()
    features = MicroWakeWordFeatures()
    model = MicroWakeWord.from_builtin(Model.OKAY_NABU)
    start = time.process_time()
    for i in range(0, len(audio), 320):
        for f in features.process_streaming(audio[i : i + 320]):
            model.process_streaming(f)
    return time.process_time() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stride", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "stream.wav"
        pcm = make_stream(path)
        seconds = len(pcm) / 16000
        hark_runs, gated_runs, stream_runs, micro_runs = [], [], [], []
        for _ in range(args.repeats):  # interleaved, so that load on the machine hits all alike
            hark_runs.append(hark_cpu(path, args.stride, WINDOW_MODEL))
            gated_runs.append(hark_cpu(path, args.stride, WINDOW_MODEL, extra=["--gate", str(STREAM_MODEL)]))
            stream_runs.append(hark_cpu(path, args.stride))
            micro_runs.append(pymicro_cpu(pcm))
        hark = statistics.median(r[0] for r in hark_runs)
        rss_mib = max(r[1] for r in hark_runs) / 1024
        gated = statistics.median(r[0] for r in gated_runs)
        stream = statistics.median(r[0] for r in stream_runs)
        stream_rss = max(r[1] for r in stream_runs) / 1024
        micro = statistics.median(micro_runs)
    print(f"{seconds:.0f} s of 16 kHz speech, median of {args.repeats} runs")
    print("| pipeline | CPU s per audio s |")
    print("|---|---|")
    print(f"| hark detect (default: the bundled streaming model, 12 classes) | {stream / seconds:.2e} |")
    print(f"| hark detect --model kws12.onnx (the window model every {args.stride} frames, every frame near a threshold) | {hark / seconds:.2e} |")
    print(f"| hark detect --model kws12.onnx --gate kws12_stream.onnx (the window model behind the streaming one) | {gated / seconds:.2e} |")
    print(f"| pymicro-wakeword (okay_nabu, streaming) | {micro / seconds:.2e} |")
    print(f"hark / pymicro-wakeword: {stream / micro:.2f}x (default, streaming model), {hark / micro:.2f}x (window model), "
          f"{gated / micro:.2f}x (gated); peak RSS {stream_rss:.1f} / {rss_mib:.1f} MiB")


if __name__ == "__main__":
    main()
