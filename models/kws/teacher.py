#!/usr/bin/env python3
"""A teacher for the keyword models: a pretrained speech embedding with a small head trained on
our clips, whose probabilities the small models learn from (train.py `--soft`).

The embedding is Google's speech embedding (Lin et al. 2020, "Training keyword spotters with
limited and synthesized speech data"), the front end of openWakeWord, as the TensorFlow Lite
files that the PyPI package pyopen-wakeword ships (`melspectrogram.tflite`,
`embedding_model.tflite`, Apache-2.0) and run with the TensorFlow Lite library inside it: a
96-value embedding of every 775 ms of audio, 80 ms apart, from a network trained on far more
speech than ../shared/data holds. It is used at training time only: nothing of it ships, and
the shipped models still take Hark's own features.

prepare.py `--embed` writes every training and validation clip's embeddings (`train_emb.npy`,
`val_emb.npy`: (clips, 13, 96), the clip padded with 0.4 s of zeros on each side) and the
speaker of every training example (`train_group.npy`). This script then

- trains the head (two convolutions over the 13 embeddings, max over time, linear) on the
  training examples and prints its figures on the validation clips (the teacher's own
  accuracy, to compare with the small models');
- cross-fits it by speaker (`--folds`, default 5): the head that labels a training example has
  not seen that example's speaker, so the soft targets carry what the teacher makes of a new
  voice rather than the label it was trained on;
- writes WORK/train_soft.npy, the log-probabilities of those cross-fitted heads, one row per
  training example, for `train.py --soft`.

Usage: python models/kws/teacher.py [--work DIR] [--folds 5] [--epochs 40] [--seed 1]
"""

import argparse
import ctypes
import pathlib
import time

import numpy as np

from labels import LABELS

ROOT = pathlib.Path(__file__).resolve().parents[2]
SR = 16000
PAD = int(0.4 * SR)
MEL_FRAMES = 76  # 775 ms of mel frames per embedding
MEL_STEP = 8  # 80 ms between embeddings
DIM = 96


class _Interpreter:
    """One TensorFlow Lite model, its input resized to each batch's shape."""

    def __init__(self, lib, path):
        self.lib = lib
        self.model = lib.TfLiteModelCreateFromFile(str(path).encode())
        self.interpreter = lib.TfLiteInterpreterCreate(self.model, None)
        self.shape = None

    def run(self, x):
        lib, c_int32 = self.lib, ctypes.c_int32
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.shape != x.shape:
            dims = (c_int32 * x.ndim)(*x.shape)
            lib.TfLiteInterpreterResizeInputTensor(self.interpreter, c_int32(0), dims, c_int32(x.ndim))
            if lib.TfLiteInterpreterAllocateTensors(self.interpreter) != 0:
                raise RuntimeError(f"TensorFlow Lite cannot take an input of shape {x.shape}")
            self.shape = x.shape
        tensor = lib.TfLiteInterpreterGetInputTensor(self.interpreter, c_int32(0))
        lib.TfLiteTensorCopyFromBuffer(tensor, x.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(x.nbytes))
        if lib.TfLiteInterpreterInvoke(self.interpreter) != 0:
            raise RuntimeError("TensorFlow Lite failed to run the model")
        out = lib.TfLiteInterpreterGetOutputTensor(self.interpreter, c_int32(0))
        shape = [lib.TfLiteTensorDim(out, i) for i in range(lib.TfLiteTensorNumDims(out))]
        y = np.empty(int(np.prod(shape)), dtype=np.float32)
        lib.TfLiteTensorCopyToBuffer(out, y.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(y.nbytes))
        return y.reshape(shape)


class Embedder:
    """Speech embeddings of 1-s clips (16 kHz floats): (clips, 13, 96)."""

    def __init__(self):
        from pyopen_wakeword import openwakeword as oww
        from pyopen_wakeword.wakeword import TfLiteWakeWord

        lib = TfLiteWakeWord(oww._find_tensorflowlite_c()).lib  # declares the C API's signatures
        self.mel = _Interpreter(lib, oww._MODELS_DIR / "melspectrogram.tflite")
        self.emb = _Interpreter(lib, oww._MODELS_DIR / "embedding_model.tflite")

    def __call__(self, clips):
        # The mel model takes 16-bit-scaled samples; openWakeWord rescales its output so.
        mels = np.stack([self.mel.run(np.pad(c, PAD)[None] * 32767.0).reshape(-1, 32) / 10 + 2 for c in clips])
        starts = range(0, mels.shape[1] - MEL_FRAMES + 1, MEL_STEP)
        windows = np.stack([mels[:, s : s + MEL_FRAMES] for s in starts], axis=1)
        flat = windows.reshape(-1, MEL_FRAMES, 32, 1)
        out = np.concatenate([self.emb.run(flat[i : i + 512]).reshape(-1, DIM) for i in range(0, len(flat), 512)])
        return out.reshape(len(clips), len(starts), DIM)


def _embed_part(clips):
    embedder = Embedder()
    return np.concatenate([embedder(clips[i : i + 64]) for i in range(0, len(clips), 64)]).astype(np.float16)


def embed(clips, processes=2):
    """Embeddings of a list of 1-s clips, in `processes` worker processes."""
    from concurrent.futures import ProcessPoolExecutor

    parts = np.array_split(np.arange(len(clips)), max(1, processes * 8))
    with ProcessPoolExecutor(processes) as pool:
        chunks = pool.map(_embed_part, [[clips[i] for i in part] for part in parts])
        return np.concatenate(list(chunks))


def _head(torch, nn):
    class Head(nn.Module):
        def __init__(self, hidden=128):
            super().__init__()
            self.c1 = nn.Conv1d(DIM, hidden, 3, padding=1)
            self.c2 = nn.Conv1d(hidden, hidden, 3, padding=1)
            self.out = nn.Linear(hidden, len(LABELS))
            self.drop = nn.Dropout(0.3)

        def forward(self, x):
            h = torch.relu(self.c1(self.drop(x.transpose(1, 2))))
            h = torch.relu(self.c2(self.drop(h)))
            return self.out(self.drop(h.max(dim=2).values))

    return Head()


def train_head(x, y, epochs, seed, log=None):
    """A head trained on embeddings x (normalised) with labels y; returns a function giving
    log-probabilities."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = _head(torch, nn)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    counts = np.bincount(y, minlength=len(LABELS))
    weights = torch.tensor(counts.sum() / (len(LABELS) * np.maximum(counts, 1)), dtype=torch.float32)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2)
    steps = int(np.ceil(len(y) / 128))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps)
    for epoch in range(epochs):
        head.train()
        order = rng.permutation(len(y))
        for i in range(steps):
            idx = order[i * 128 : (i + 1) * 128]
            loss = F.cross_entropy(head(xt[idx]), yt[idx], weight=weights, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if log:
            log(epoch, head)
    head.eval()

    def log_probs(z):
        with torch.no_grad():
            return torch.cat([F.log_softmax(head(torch.from_numpy(z[i : i + 4096])), dim=1)
                              for i in range(0, len(z), 4096)]).numpy()

    return log_probs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=str(ROOT.parent / "kws-work"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    work = pathlib.Path(args.work)
    for name in ["train_emb.npy", "val_emb.npy", "train_group.npy"]:
        if not (work / name).exists():
            raise SystemExit(f"{work / name} is missing: run prepare.py --embed")
    tx = np.load(work / "train_emb.npy").astype(np.float32)
    vx = np.load(work / "val_emb.npy").astype(np.float32)
    ty, vy = np.load(work / "train_y.npy"), np.load(work / "val_y.npy")
    groups = np.load(work / "train_group.npy")
    if not len(tx) == len(ty) == len(groups):
        raise SystemExit("train_emb.npy, train_y.npy and train_group.npy differ in length: run prepare.py --embed again")
    mean, std = tx.reshape(-1, DIM).mean(0), tx.reshape(-1, DIM).std(0) + 1e-3
    tx, vx = (tx - mean) / std, (vx - mean) / std
    from evaluate import figures, validation

    _, _, sc = validation(work)

    start = time.time()
    whole = train_head(tx, ty, args.epochs, args.seed)
    val_probs = np.exp(whole(vx))
    np.save(work / "val_teacher.npy", val_probs)
    print(f"teacher on the validation clips: {figures(val_probs, vy, sc)} ({time.time() - start:.0f} s)", flush=True)

    soft = np.zeros((len(ty), len(LABELS)), dtype=np.float32)
    fold = groups % args.folds
    for k in range(args.folds):
        held = fold == k
        heads = train_head(tx[~held], ty[~held], args.epochs, args.seed + 1 + k)
        soft[held] = heads(tx[held])
        agree = np.mean(soft[held].argmax(1) == ty[held])
        print(f"fold {k + 1}/{args.folds}: {held.sum()} examples, the label is the teacher's first choice on {agree:.4f}",
              flush=True)
    np.save(work / "train_soft.npy", soft)
    print(f"wrote {work / 'train_soft.npy'}: the label is the teacher's first choice on "
          f"{np.mean(soft.argmax(1) == ty):.4f} of the training examples")


if __name__ == "__main__":
    main()
