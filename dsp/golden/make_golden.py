#!/usr/bin/env python3
"""Reference features for hark-dsp's parity tests, from librosa and kaldi-native-fbank.

Reads the clips listed in dsp/tests/golden/clips.tsv from ../shared/data and writes, per clip,
float32 .npy files of shape (frames, bins) into dsp/tests/golden/:

  <name>.librosa.npy       librosa.power_to_db(melspectrogram(...), ref=1, amin=1e-10, top_db=None)
  <name>.librosa-mfcc.npy  librosa.feature.mfcc(S=<that>, n_mfcc=13)
  <name>.kaldi.npy         kaldi_native_fbank.OnlineFbank, defaults but dither=0, num_bins=40,
                           fed int16-scale samples in chunks of 160

Run from the repository root, in a venv with the pinned versions:

  python -m venv ../venv && ../venv/bin/pip install -r dsp/golden/requirements.txt
  ../venv/bin/python dsp/golden/make_golden.py
"""

import csv
import pathlib
import sys

import kaldi_native_fbank as knf
import librosa
import numpy as np
import soundfile as sf

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
GOLDEN = ROOT / "dsp" / "tests" / "golden"


def load(path, start, count):
    """The clip as float32 in [-1, 1]: int16 / 32768, exactly as the Rust test reads it."""
    pcm, sr = sf.read(DATA / path, dtype="int16", always_2d=True)
    assert sr == 16000, f"{path}: {sr} Hz"
    pcm = pcm[:, 0]
    if count > 0:
        pcm = pcm[start : start + count]
    return (pcm.astype(np.float32) / np.float32(32768.0)), pcm


def librosa_log_mel(y):
    mel = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=512, win_length=400, hop_length=160, window="hann",
        center=False, power=2.0, n_mels=40, fmin=20, fmax=8000, htk=False, norm="slaney",
    )
    return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)


def kaldi_fbank(pcm):
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.mel_opts.num_bins = 40
    fbank = knf.OnlineFbank(opts)
    samples = pcm.astype(np.float32)
    for i in range(0, len(samples), 160):
        fbank.accept_waveform(16000, samples[i : i + 160].tolist())
    fbank.input_finished()
    return np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)], dtype=np.float32)


def main():
    with open(GOLDEN / "clips.tsv", newline="") as f:
        clips = list(csv.DictReader(f, delimiter="\t"))
    for clip in clips:
        y, pcm = load(clip["path"], int(clip["start"]), int(clip["samples"]))
        log_mel = librosa_log_mel(y)
        mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=13)
        outputs = {
            "librosa": log_mel.T,
            "librosa-mfcc": mfcc.T,
            "kaldi": kaldi_fbank(pcm),
        }
        for preset, value in outputs.items():
            value = np.ascontiguousarray(value, dtype=np.float32)
            np.save(GOLDEN / f"{clip['name']}.{preset}.npy", value)
            print(f"{clip['name']}.{preset}: {value.shape}", file=sys.stderr)


if __name__ == "__main__":
    main()
