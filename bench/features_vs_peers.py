#!/usr/bin/env python3
"""CPU seconds per audio second of Hark's streaming front end against kaldi-native-fbank
(streaming) and librosa (batch), on the same 10-minute 16 kHz file, in one run.

The file is made by concatenating Speech Commands clips from ../shared/data (speech, silence and
noise as they come). Each measurement is repeated and the median is reported, because the machine
is shared and noisy. Hark's figure is the CPU time of its thread inside the front end
(`hark features --stats`), fed 160 samples (10 ms) at a time, the same chunking as the
kaldi-native-fbank loop; WAV decoding and writing the .npy are left out on both sides.

  cargo build --release -p hark-cli
  python -m venv ../venv && ../venv/bin/pip install -r bench/requirements.txt
  ../venv/bin/python bench/features_vs_peers.py [--repeats 5] [--minutes 10]
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import tempfile
import time

import kaldi_native_fbank as knf
import librosa
import numpy as np
import soundfile as sf

from stream import HARK, make_stream


def hark_seconds(path, preset):
    out = subprocess.run(
        [str(HARK), "features", str(path), "--preset", preset, "--chunk", "160", "--stats",
         "--output", "/dev/null"],
        check=True, capture_output=True, text=True,
    )
    stats = json.loads(out.stderr.strip().splitlines()[-1])
    return stats["cpu_seconds"]


def knf_seconds(pcm):
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.mel_opts.num_bins = 40
    samples = pcm.astype(np.float32)
    chunks = [samples[i : i + 160] for i in range(0, len(samples), 160)]
    start = time.process_time()
    fbank = knf.OnlineFbank(opts)
    taken = 0
    for chunk in chunks:
        fbank.accept_waveform(16000, chunk)
        while taken < fbank.num_frames_ready:
            fbank.get_frame(taken)
            taken += 1
    fbank.input_finished()
    while taken < fbank.num_frames_ready:
        fbank.get_frame(taken)
        taken += 1
    return time.process_time() - start


def librosa_seconds(y):
    start = time.process_time()
    mel = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=512, win_length=400, hop_length=160, window="hann",
        center=False, power=2.0, n_mels=40, fmin=20, fmax=8000, htk=False, norm="slaney",
    )
    librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    return time.process_time() - start


def median(f, repeats):
    f()  # warm-up: imports, plans, caches
    return statistics.median(f() for _ in range(repeats))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--minutes", type=int, default=10)
    args = parser.parse_args()
    if not HARK.exists():
        raise SystemExit(f"{HARK} is missing: cargo build --release -p hark-cli")
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "stream.wav"
        pcm = make_stream(path, args.minutes)
        audio_seconds = len(pcm) / 16000
        y = pcm.astype(np.float32) / np.float32(32768.0)
        rows = [
            ("hark, `kaldi` preset, streaming", median(lambda: hark_seconds(path, "kaldi"), args.repeats)),
            ("hark, `librosa` preset, streaming", median(lambda: hark_seconds(path, "librosa"), args.repeats)),
            ("kaldi-native-fbank OnlineFbank, streaming", median(lambda: knf_seconds(pcm), args.repeats)),
            ("librosa melspectrogram + power_to_db, batch", median(lambda: librosa_seconds(y), args.repeats)),
        ]
    per_second = {name: seconds / audio_seconds for name, seconds in rows}
    knf_cost = per_second["kaldi-native-fbank OnlineFbank, streaming"]
    librosa_cost = per_second["librosa melspectrogram + power_to_db, batch"]
    print(f"40-band log-mel of {audio_seconds:.0f} s of 16 kHz speech, median of {args.repeats} runs")
    print(f"(librosa {librosa.__version__}, numpy {np.__version__})")
    print()
    print("| front end | CPU s per audio s | vs kaldi-native-fbank | vs librosa |")
    print("|---|---|---|---|")
    for name, cost in per_second.items():
        if name.startswith("hark"):
            print(f"| {name} | {cost:.2e} | {knf_cost / cost:.1f}x less | {librosa_cost / cost:.1f}x less |")
        else:
            print(f"| {name} | {cost:.2e} | | |")


if __name__ == "__main__":
    main()
