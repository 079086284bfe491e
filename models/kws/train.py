#!/usr/bin/env python3
"""Trains the 12-class keyword model on the features from prepare.py and exports it to ONNX.

The network is a small depthwise-separable temporal CNN (DS-TCN): the 40 log-mel bands are the
input channels of 1-D convolutions over time, as in TC-ResNet (Choi et al. 2019), with the
depthwise-separable blocks of DS-CNN (Zhang et al. 2017). Per-band normalisation from the
training set is folded into the model, so it takes Hark's `kws` features as they are.

Usage: python models/kws/train.py [--work DIR] [--epochs 40] [--seed 1]
Writes models/kws/kws12.onnx (no metadata yet: export.py adds it) and WORK/val_probs.npy.
"""

import argparse
import pathlib
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
LABELS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_"]


class DSBlock(nn.Module):
    def __init__(self, channels, kernel, stride):
        super().__init__()
        self.dw = nn.Conv1d(channels, channels, kernel, stride=stride, padding=kernel // 2, groups=channels, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.pw = nn.Conv1d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)
        self.stride = stride

    def forward(self, x):
        y = F.relu(self.bn1(self.dw(x)))
        y = self.bn2(self.pw(y))
        if self.stride > 1:
            x = F.avg_pool1d(x, self.stride, self.stride, ceil_mode=True)
        return F.relu(x + y)


class DSTCN(nn.Module):
    def __init__(self, mean, std, bands=40, channels=64, classes=12):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 1, bands))
        self.register_buffer("inv_std", torch.tensor(1.0 / std, dtype=torch.float32).view(1, 1, bands))
        self.stem = nn.Conv1d(bands, channels, 5, stride=2, padding=2, bias=False)
        self.bn = nn.BatchNorm1d(channels)
        self.blocks = nn.Sequential(
            DSBlock(channels, 9, 1),
            DSBlock(channels, 9, 2),
            DSBlock(channels, 9, 1),
            DSBlock(channels, 9, 2),
            DSBlock(channels, 9, 1),
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(channels, classes)

    def forward(self, features):
        # features: (batch, frames, bands) as Hark emits them.
        x = ((features - self.mean) * self.inv_std).transpose(1, 2)
        x = F.relu(self.bn(self.stem(x)))
        x = self.blocks(x)
        x = x.mean(dim=2)
        return self.head(self.dropout(x))


class Probabilities(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, features):
        return F.softmax(self.net(features), dim=1)


def spec_augment(x, rng):
    """Two time masks of up to 12 frames and two band masks of up to 6 bands, per example."""
    b, t, f = x.shape
    x = x.clone()
    for i in range(b):
        for _ in range(2):
            w = rng.integers(0, 13)
            s = rng.integers(0, t - w + 1)
            x[i, s : s + w, :] = 0.0
            w = rng.integers(0, 7)
            s = rng.integers(0, f - w + 1)
            x[i, :, s : s + w] = 0.0
    return x


def macs(model, frames=98, bands=40):
    total = 0
    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv1d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0]
        elif isinstance(m, nn.Linear):
            total += m.in_features * m.out_features
    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, frames, bands))
    for h in hooks:
        h.remove()
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=str(ROOT.parent / "kws-work"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "models" / "kws" / "kws12.onnx"))
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    tx, ty = np.load(work / "train.npy"), np.load(work / "train_y.npy")
    vx, vy = np.load(work / "val.npy"), np.load(work / "val_y.npy")
    # Normalisation statistics from clean-ish training material (all of it).
    mean, std = tx.mean(axis=(0, 1)), tx.std(axis=(0, 1)) + 1e-3
    # Fill the masks with the band means: zero after normalisation.
    tx_t, vx_t = torch.from_numpy(tx), torch.from_numpy(vx)
    mean_t = torch.from_numpy(mean.astype(np.float32))
    model = DSTCN(mean, std)
    params = sum(p.numel() for p in model.parameters())
    print(f"parameters {params}, multiply-adds {macs(model)}")

    counts = np.bincount(ty, minlength=len(LABELS))
    weights = torch.tensor(counts.sum() / (len(LABELS) * counts), dtype=torch.float32)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    steps_per_epoch = int(np.ceil(len(ty) / 128))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.epochs * steps_per_epoch)
    best, best_state = -1.0, None
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(ty))
        start, total_loss = time.time(), 0.0
        for i in range(steps_per_epoch):
            idx = order[i * 128 : (i + 1) * 128]
            xb = tx_t[idx] - mean_t
            xb = spec_augment(xb, rng) + mean_t
            yb = torch.from_numpy(ty[idx])
            loss = F.cross_entropy(model(xb), yb, weight=weights, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item()
        model.eval()
        with torch.no_grad():
            probs = F.softmax(model(vx_t), dim=1).numpy()
        pred = probs.argmax(1)
        recall = [np.mean(pred[vy == c] == c) for c in range(len(LABELS))]
        balanced = float(np.mean(recall))
        print(f"epoch {epoch + 1}: loss {total_loss / steps_per_epoch:.3f}, val acc {np.mean(pred == vy):.4f}, "
              f"balanced {balanced:.4f} ({time.time() - start:.0f} s)", flush=True)
        if balanced >= best:
            best, best_state = balanced, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        probs = F.softmax(model(vx_t), dim=1).numpy()
    np.save(work / "val_probs.npy", probs)
    out = pathlib.Path(args.out)
    torch.onnx.export(
        Probabilities(model), torch.zeros(1, 98, 40), out,
        input_names=["features"], output_names=["probabilities"], opset_version=17, dynamo=False,
    )
    print(f"best balanced val accuracy {best:.4f}; wrote {out}")


if __name__ == "__main__":
    main()
