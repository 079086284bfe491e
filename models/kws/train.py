#!/usr/bin/env python3
"""Trains the 12-class keyword model on the features from prepare.py and exports it to ONNX.

The network is a small depthwise-separable temporal CNN (DS-TCN): the 40 log-mel bands are the
input channels of 1-D convolutions over time, as in TC-ResNet (Choi et al. 2019), with the
depthwise-separable blocks of DS-CNN (Zhang et al. 2017). Per-band normalisation from the
training set is folded into the model, so it takes Hark's `kws` features as they are.

`--arch stream-hybrid` (the shipped kws12_stream.onnx) and `--arch stream` (its DS-TCN
predecessor) train causal variants and export one streaming step (see the model card);
`--export-only` re-exports the weights of an earlier run (`--weights`, by default
WORK/<name of --out>_weights.pt), for example with another `--step`.

`--teachers A.onnx,B.onnx,...` distils an ensemble (Hinton et al. 2015): the mean of the
teachers' probabilities on every training clip becomes a soft target beside its label, so one
model of the same size learns what several trained with other seeds agree on. The loss is
`(1 - w) * CE(label) + w * T^2 * KL(teachers_T || student_T)` at temperature T (`--kd-weight`,
`--kd-temperature`), both weighted by class as the plain loss is. Teachers are window models
(train.py's output) that take WORK's features; the student may be a window or a streaming
model (a streaming student learns the window teachers' view of its last 96 frames). `--kd-agree-only` keeps the distillation term
only on the clips whose label is the teachers' most likely class.

`--keep last` keeps the weights of the last epoch instead of the epoch with the best
class-balanced validation accuracy: an unbiased validation figure, and the only choice when the
validation clips are in the training data (prepare.py `--all-speakers`, the shipped model).

Usage: python models/kws/train.py [--work DIR] [--epochs 40] [--seed 1] [--arch window|hybrid|stream|stream-hybrid] [--keep best|last]
       [--step 16] [--channels 64] [--out PATH] [--teachers A.onnx,B.onnx,... [--kd-weight 0.7] [--kd-temperature 2] [--kd-agree-only]]
Writes --out (models/kws/kws12.onnx; no metadata yet: export.py adds it), its weights
(WORK/<name>_weights.pt) and its validation probabilities (WORK/<name>_val_probs.npy), so runs
side by side with different --out do not overwrite each other's files.
"""

import argparse
import pathlib
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from labels import LABELS

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _normalisation(module, mean, std, bands):
    """The training set's per-band statistics, as buffers so that the exported graph carries them."""
    module.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 1, bands))
    module.register_buffer("inv_std", torch.tensor(1.0 / std, dtype=torch.float32).view(1, 1, bands))


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
        _normalisation(self, mean, std, bands)
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


class Hybrid(nn.Module):
    """2-D convolutions over (time, bands) first, so that a shift along the bands (another
    voice's formants) is a shift of the maps, then the DS-TCN's 1-D blocks over time."""

    def __init__(self, mean, std, bands=40, channels=64, classes=12):
        super().__init__()
        _normalisation(self, mean, std, bands)
        self.stem = nn.Conv2d(1, 16, 5, stride=2, padding=2, bias=False)
        self.bn0 = nn.BatchNorm2d(16)
        self.dw1 = nn.Conv2d(16, 16, 3, stride=(1, 2), padding=1, groups=16, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.pw1 = nn.Conv2d(16, 32, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.dw2 = nn.Conv2d(32, 32, 3, stride=(1, 2), padding=1, groups=32, bias=False)
        self.bn3 = nn.BatchNorm2d(32)
        self.pw2 = nn.Conv2d(32, 32, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(32)
        self.flat = nn.Conv1d(32 * (bands // 8), channels, 1, bias=False)  # the bands, strided by 2 three times
        self.bn5 = nn.BatchNorm1d(channels)
        self.blocks = nn.Sequential(DSBlock(channels, 9, 1), DSBlock(channels, 9, 2), DSBlock(channels, 9, 1))
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(channels, classes)

    def forward(self, features):
        x = ((features - self.mean) * self.inv_std).unsqueeze(1)
        x = F.relu(self.bn0(self.stem(x)))
        x = F.relu(self.bn2(self.pw1(F.relu(self.bn1(self.dw1(x))))))
        x = F.relu(self.bn4(self.pw2(F.relu(self.bn3(self.dw2(x))))))
        b, c, t, f = x.shape
        x = x.permute(0, 1, 3, 2).reshape(b, c * f, t)
        x = F.relu(self.bn5(self.flat(x)))
        x = self.blocks(x).mean(dim=2)
        return self.head(self.dropout(x))


class Probabilities(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, features):
        return F.softmax(self.net(features), dim=1)


# The streaming variant: the same DS-TCN with causal convolutions, so that a step model with
# cached convolution inputs computes, 8 new frames at a time, exactly what the window model
# computes on the whole window (zero state = zero padding). A strided layer's output j covers
# inputs up to j * stride + stride - 1, so each 8-frame step yields one output of the last
# block; the class scores average the last POOL of those (96 frames, 0.96 s).
STEP = 8
POOL = 12
WINDOW = STEP * POOL


class CausalBlock(nn.Module):
    def __init__(self, channels, kernel, stride):
        super().__init__()
        self.dw = nn.Conv1d(channels, channels, kernel, stride=stride, groups=channels, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.pw = nn.Conv1d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)
        self.kernel, self.stride = kernel, stride
        self.context = kernel - stride  # past inputs a step needs

    def tail(self, x, y):
        y = self.bn2(self.pw(F.relu(self.bn1(y))))
        if self.stride > 1:
            x = F.avg_pool1d(x, self.stride, self.stride)
        return F.relu(x + y)

    def forward(self, x):
        return self.tail(x, self.dw(F.pad(x, (self.context, 0))))

    def step(self, x, state):
        full = torch.cat([state, x], dim=2)
        return self.tail(x, self.dw(full)), full[:, :, full.shape[2] - self.context :]


class CausalDSTCN(nn.Module):
    def __init__(self, mean, std, bands=40, channels=64, classes=12):
        super().__init__()
        _normalisation(self, mean, std, bands)
        self.stem = nn.Conv1d(bands, channels, 5, stride=2, bias=False)
        self.stem_context = 5 - 2
        self.bn = nn.BatchNorm1d(channels)
        self.blocks = nn.ModuleList([
            CausalBlock(channels, 9, 1),
            CausalBlock(channels, 9, 2),
            CausalBlock(channels, 9, 1),
            CausalBlock(channels, 9, 2),
            CausalBlock(channels, 9, 1),
        ])
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(channels, classes)
        self.bands, self.channels = bands, channels

    def forward(self, features):
        # features: (batch, frames, bands), frames a multiple of STEP and at least WINDOW.
        x = ((features - self.mean) * self.inv_std).transpose(1, 2)
        x = F.relu(self.bn(self.stem(F.pad(x, (self.stem_context, 0)))))
        for block in self.blocks:
            x = block(x)
        x = x[:, :, -POOL:].mean(dim=2)
        return self.head(self.dropout(x))

    def state_shapes(self):
        shapes = [(self.bands, self.stem_context)]
        shapes += [(self.channels, b.context) for b in self.blocks]
        shapes.append((self.channels, POOL - 1))
        return shapes

    def state_size(self):
        return sum(int(np.prod(shape)) for shape in self.state_shapes())


def fold_blocks(step, net):
    """A step model's copy of a causal network's 1-D blocks (batch norms folded into the
    convolutions), its head and its state shapes."""
    fold = torch.nn.utils.fusion.fuse_conv_bn_eval
    step.dw = nn.ModuleList([fold(b.dw, b.bn1) for b in net.blocks])
    step.pw = nn.ModuleList([fold(b.pw, b.bn2) for b in net.blocks])
    step.contexts = [b.context for b in net.blocks]
    step.strides = [b.stride for b in net.blocks]
    step.head = nn.Conv1d(net.head.in_features, net.head.out_features, 1, bias=False)
    step.head.weight.data.copy_(net.head.weight.data[:, :, None])
    step.head_bias = net.head.bias
    shapes = net.state_shapes()
    step.shapes = shapes[:-1] + [(net.head.out_features, shapes[-1][1])]


def step_layout(step, net, frames):
    """A step model's per-band statistics at the step's shape, `(1, frames, bands)`: in tract a
    subtraction of equal shapes runs in one fused loop, a broadcast one through a general path
    (4.6 us of a 61-us step went there). The other half of the step's layout for tract, at no
    change to the arithmetic either, is its head (`fold_blocks`, `pooled_probabilities`): a 1x1
    convolution applied to each new output before the average (it is linear: the mean of its
    logits is its logits of the mean, the bias added once after), so the last state holds 12
    logits per output, not the channels."""
    step.register_buffer("mean", net.mean.expand(1, frames, -1).contiguous())
    step.register_buffer("inv_std", net.inv_std.expand(1, frames, -1).contiguous())


def pooled_probabilities(step, x, state, pool, new):
    """Class probabilities of the last `pool` outputs, from `x`, the new ones, and `state`,
    the logits of those before (its successor is appended to `new`)."""
    logits = torch.cat([state, step.head(x)], dim=2)
    new.append(logits[:, :, logits.shape[2] - (pool - 1) :])
    return F.softmax(logits[:, :, logits.shape[2] - pool :].mean(dim=2) + step.head_bias, dim=1)


class StreamStep(nn.Module):
    """One step of the streaming model: (1, STEP, bands) features and one state tensor per
    layer in, class probabilities and the next states out. Batch norms are folded into the
    convolutions (fewer operators per step: at 8 frames a step, per-operator overhead
    dominates the cost)."""

    def __init__(self, net, frames):
        super().__init__()
        fold = torch.nn.utils.fusion.fuse_conv_bn_eval
        step_layout(self, net, frames)
        self.stem = fold(net.stem, net.bn)
        self.stem_context = net.stem_context
        fold_blocks(self, net)

    def forward(self, features, *states):
        x = ((features - self.mean) * self.inv_std).transpose(1, 2)
        full = torch.cat([states[0], x], dim=2)
        new = [full[:, :, full.shape[2] - self.stem_context :]]
        x = F.relu(self.stem(full))
        for dw, pw, context, stride, state in zip(self.dw, self.pw, self.contexts, self.strides, states[1:-1]):
            full = torch.cat([state, x], dim=2)
            new.append(full[:, :, full.shape[2] - context :])
            y = pw(F.relu(dw(full)))
            if stride > 1:
                x = F.avg_pool1d(x, stride, stride)
            x = F.relu(x + y)
        probs = pooled_probabilities(self, x, states[-1], POOL, new)
        return (probs, *new)

    def zero_states(self):
        return [torch.zeros(1, *shape) for shape in self.shapes]


class CausalHybrid(nn.Module):
    """The hybrid network made causal in time (bands are padded on both sides as before):
    every convolution pads on the left only, so that a step model with cached inputs computes
    exactly what this computes on the whole window. The stem and the stride-2 block halve the
    time twice, so an output covers 4 new frames (HOP) and the class scores average the last
    24 of them (96 frames)."""

    hop, pool = 4, 24

    def __init__(self, mean, std, bands=40, channels=64, classes=12):
        super().__init__()
        _normalisation(self, mean, std, bands)
        self.stem = nn.Conv2d(1, 16, 5, stride=2, padding=(0, 2), bias=False)
        self.bn0 = nn.BatchNorm2d(16)
        self.dw1 = nn.Conv2d(16, 16, 3, stride=(1, 2), padding=(0, 1), groups=16, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.pw1 = nn.Conv2d(16, 32, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.dw2 = nn.Conv2d(32, 32, 3, stride=(1, 2), padding=(0, 1), groups=32, bias=False)
        self.bn3 = nn.BatchNorm2d(32)
        self.pw2 = nn.Conv2d(32, 32, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(32)
        self.flat = nn.Conv1d(32 * (bands // 8), channels, 1, bias=False)
        self.bn5 = nn.BatchNorm1d(channels)
        self.blocks = nn.ModuleList([CausalBlock(channels, 9, 1), CausalBlock(channels, 9, 2), CausalBlock(channels, 9, 1)])
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(channels, classes)
        self.bands, self.channels = bands, channels
        self.contexts2d = [5 - 2, 3 - 1, 3 - 1]  # past frames the stem and the two depthwise convolutions need

    def frames2d(self, x):
        """(batch, 1, frames, bands) normalised features to the (batch, 160, frames / 2) input
        of the 1-D part."""
        c0, c1, c2 = self.contexts2d
        x = F.relu(self.bn0(self.stem(F.pad(x, (0, 0, c0, 0)))))
        x = F.relu(self.bn2(self.pw1(F.relu(self.bn1(self.dw1(F.pad(x, (0, 0, c1, 0))))))))
        x = F.relu(self.bn4(self.pw2(F.relu(self.bn3(self.dw2(F.pad(x, (0, 0, c2, 0))))))))
        b, c, t, f = x.shape
        return F.relu(self.bn5(self.flat(x.permute(0, 1, 3, 2).reshape(b, c * f, t))))

    def forward(self, features):
        # features: (batch, frames, bands), frames a multiple of 8 and at least WINDOW.
        x = self.frames2d(((features - self.mean) * self.inv_std).unsqueeze(1))
        for block in self.blocks:
            x = block(x)
        x = x[:, :, -self.pool :].mean(dim=2)
        return self.head(self.dropout(x))

    def state_shapes(self):
        b = self.bands
        shapes = [(1, self.contexts2d[0], b), (16, self.contexts2d[1], b // 2), (32, self.contexts2d[2], b // 4)]
        shapes += [(self.channels, blk.context) for blk in self.blocks]
        shapes.append((self.channels, self.pool - 1))
        return shapes


class HybridStreamStep(nn.Module):
    """One step of the causal hybrid, as StreamStep is one of the causal DS-TCN: the 2-D
    convolutions keep their last input frames (channels x frames x bands) as state."""

    def __init__(self, net, frames):
        super().__init__()
        fold = torch.nn.utils.fusion.fuse_conv_bn_eval
        step_layout(self, net, frames)
        self.stem = fold(net.stem, net.bn0)
        self.dw1, self.pw1 = fold(net.dw1, net.bn1), fold(net.pw1, net.bn2)
        self.dw2, self.pw2 = fold(net.dw2, net.bn3), fold(net.pw2, net.bn4)
        self.flat = fold(net.flat, net.bn5)
        self.contexts2d = net.contexts2d
        self.pool = net.pool
        fold_blocks(self, net)

    def forward(self, features, *states):
        new = []

        def cached(state, x, context):
            full = torch.cat([state, x], dim=2)
            new.append(full[:, :, full.shape[2] - context :])
            return full

        x = ((features - self.mean) * self.inv_std).unsqueeze(1)
        c0, c1, c2 = self.contexts2d
        x = F.relu(self.stem(cached(states[0], x, c0)))
        x = F.relu(self.pw1(F.relu(self.dw1(cached(states[1], x, c1)))))
        x = F.relu(self.pw2(F.relu(self.dw2(cached(states[2], x, c2)))))
        b, c, t, f = x.shape
        x = F.relu(self.flat(x.permute(0, 1, 3, 2).reshape(b, c * f, t)))
        for dw, pw, context, stride, state in zip(self.dw, self.pw, self.contexts, self.strides, states[3:-1]):
            y = pw(F.relu(dw(cached(state, x, context))))
            if stride > 1:
                x = F.avg_pool1d(x, stride, stride)
            x = F.relu(x + y)
        probs = pooled_probabilities(self, x, states[-1], self.pool, new)
        return (probs, *new)

    def zero_states(self):
        return [torch.zeros(1, *shape) for shape in self.shapes]


def with_context(xb, pool, rng):
    """Most batches get 0-160 frames of history before their window: the end of two other
    clips (speech, unknown words, silence or noise), as a stream has before any word. The
    streaming model's state reaches back that far, so it must learn to decide on the last
    second whatever came before it, and also from a zero state (the start of a stream)."""
    window = xb[:, -WINDOW:]
    if rng.random() < 0.2:
        return window
    steps = int(rng.integers(1, 21))
    a = pool[rng.integers(0, len(pool), len(xb))]
    b = pool[rng.integers(0, len(pool), len(xb))]
    history = torch.cat([a, b], dim=1)[:, -steps * STEP :]
    return torch.cat([history, window], dim=1)


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


def teacher_log_probs(paths, x):
    """The log of the mean probabilities of the teacher models (ONNX, features (1, 98, 40) in)
    on every clip of x."""
    import onnxruntime as ort

    total = np.zeros((len(x), len(LABELS)), dtype=np.float64)
    for path in paths:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for i in range(len(x)):
            total[i] += session.run(None, {name: x[i : i + 1]})[0][0]
        print(f"teacher {path}: done", flush=True)
    return np.log(np.maximum(total / len(paths), 1e-8)).astype(np.float32)


def macs(model, frames=98, bands=40):
    total = 0
    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            total += out.numel() * (m.in_channels // m.groups) * int(np.prod(m.kernel_size))
        elif isinstance(m, nn.Linear):
            total += m.in_features * m.out_features
    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, frames, bands))
    for h in hooks:
        h.remove()
    return total


def step_macs(model):
    """Multiply-adds of one streaming step: the window's convolutions scaled to STEP frames,
    plus the head."""
    head = model.head.in_features * model.head.out_features
    return (macs(model, frames=WINDOW) - head) * STEP // WINDOW + head


def check_step(model, step, clips, frames):
    """The step model from zero state must reproduce the window model exactly."""
    with torch.no_grad():
        for clip in clips:
            states = step.zero_states()
            for t in range(0, WINDOW, frames):
                probs, *states = step(clip[None, t : t + frames], *states)
            want = F.softmax(model(clip[None]), dim=1)
            err = (probs - want).abs().max().item()
            assert err < 1e-5, f"step model differs from the window model by {err}"
    print("step model matches the window model")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=str(ROOT.parent / "kws-work"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--arch", choices=["window", "stream", "hybrid", "stream-hybrid"], default="hybrid",
                        help="hybrid: kws12.onnx since December 2026, 2-D convolutions over time and bands "
                        "before 1-D ones over time; window: the DS-TCN, kws12.onnx before; stream: the causal "
                        "streaming variant of the DS-TCN; stream-hybrid: the causal streaming variant of the hybrid (model card)")
    parser.add_argument("--step", type=int, default=16, choices=[8, 16, 24, 32, 48],
                        help="frames per streaming step in the exported model (a multiple of 8)")
    parser.add_argument("--export-only", action="store_true",
                        help="skip training: export the weights of an earlier run (--weights)")
    parser.add_argument("--weights", help="the weights file: written after training, read by --export-only "
                        "(default: WORK/<name of --out>_weights.pt)")
    parser.add_argument("--channels", type=int, default=64, help="channels of every block (64: the shipped models)")
    parser.add_argument("--keep", choices=["best", "last"], default="best",
                        help="best: the epoch with the best class-balanced validation accuracy; last: the last epoch")
    parser.add_argument("--out", default=str(ROOT / "models" / "kws" / "kws12.onnx"))
    parser.add_argument("--teachers", help="comma-separated ONNX window models whose mean to distil")
    parser.add_argument("--soft", help="teacher log-probabilities, one row per training example (teacher.py's "
                        "WORK/train_soft.npy), to distil instead of --teachers")
    parser.add_argument("--kd-weight", type=float, default=0.7, help="share of the distillation term in the loss")
    parser.add_argument("--kd-temperature", type=float, default=2.0)
    parser.add_argument("--kd-agree-only", action="store_true",
                        help="distil only the clips whose label is the teachers' most likely class")
    parser.add_argument("--unknown-bias", type=float, default=0.0,
                        help="added to the _unknown_ logit of the exported model: a prior correction for "
                        "students distilled with class weights, which call too few clips _unknown_ (0.5: the shipped model)")
    args = parser.parse_args()
    if args.kd_agree_only and not (args.teachers or args.soft):
        parser.error("--kd-agree-only needs --teachers or --soft")
    if args.teachers and args.soft:
        parser.error("--teachers and --soft do not go together")
    work = pathlib.Path(args.work)
    out = pathlib.Path(args.out)
    weights_path = pathlib.Path(args.weights) if args.weights else work / f"{out.stem}_weights.pt"
    if args.export_only and not weights_path.exists():
        parser.error(f"--export-only: no weights at {weights_path} (give --weights, or the --out of that run)")
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    tx, ty = np.load(work / "train.npy"), np.load(work / "train_y.npy")
    vx, vy = np.load(work / "val.npy"), np.load(work / "val_y.npy")
    # Normalisation statistics from clean-ish training material (all of it).
    mean, std = tx.mean(axis=(0, 1)), tx.std(axis=(0, 1)) + 1e-3
    # Fill the masks with the band means: zero after normalisation.
    tx_t, vx_t = torch.from_numpy(tx), torch.from_numpy(vx)
    mean_t = torch.from_numpy(mean.astype(np.float32))
    stream = args.arch.startswith("stream")
    if stream:
        model = (CausalHybrid if args.arch == "stream-hybrid" else CausalDSTCN)(mean, std, channels=args.channels)
        vx_t = vx_t[:, -WINDOW:]
        cost = f"multiply-adds {macs(model, frames=WINDOW)} per window, {step_macs(model)} per {STEP}-frame step"
    else:
        model = (Hybrid if args.arch == "hybrid" else DSTCN)(mean, std, channels=args.channels)
        cost = f"multiply-adds {macs(model)} per window"
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.arch} model: parameters {params}, {cost}")

    counts = np.bincount(ty, minlength=len(LABELS))
    weights = torch.tensor(counts.sum() / (len(LABELS) * counts), dtype=torch.float32)
    soft = None
    if (args.teachers or args.soft) and not args.export_only:
        if args.soft:
            soft = torch.from_numpy(np.load(args.soft).astype(np.float32))
            if len(soft) != len(ty):
                raise SystemExit(f"{args.soft} has {len(soft)} rows for {len(ty)} training examples: "
                                 "run teacher.py on this work folder again")
        else:
            soft = torch.from_numpy(teacher_log_probs(args.teachers.split(","), tx))
        agrees = soft.numpy().argmax(1) == ty
        print(f"teachers agree with the labels on {agrees.mean():.4f} of the training clips")
        agree_mask = torch.from_numpy(agrees.astype(np.float32))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-3)
    steps_per_epoch = int(np.ceil(len(ty) / 128))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.epochs * steps_per_epoch)
    best, best_state = -1.0, None
    if args.export_only:
        best_state = torch.load(weights_path)
        args.epochs = 0
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(ty))
        start, total_loss = time.time(), 0.0
        for i in range(steps_per_epoch):
            idx = order[i * 128 : (i + 1) * 128]
            xb = with_context(tx_t[idx], tx_t, rng) if stream else tx_t[idx]
            xb = spec_augment(xb - mean_t, rng) + mean_t
            yb = torch.from_numpy(ty[idx])
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, weight=weights, label_smoothing=0.1)
            if soft is not None:
                t = args.kd_temperature
                target = F.softmax(soft[idx] / t, dim=1)
                kl = (target * (torch.log(target + 1e-12) - F.log_softmax(logits / t, dim=1))).sum(1)
                w = weights[yb] * agree_mask[idx] if args.kd_agree_only else weights[yb]
                kd = (w * kl).sum() / w.sum().clamp(min=1e-6) * t * t
                loss = (1 - args.kd_weight) * loss + args.kd_weight * kd
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
        if args.keep == "last" or balanced >= best:
            best, best_state = balanced, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    model.eval()
    if not args.export_only:
        torch.save(model.state_dict(), weights_path)
    if args.unknown_bias:
        with torch.no_grad():
            model.head.bias[LABELS.index("_unknown_")] += args.unknown_bias
    with torch.no_grad():
        probs = F.softmax(model(vx_t), dim=1).numpy()
    if args.unknown_bias:
        print(f"with _unknown_ bias {args.unknown_bias:+}: balanced val accuracy "
              f"{np.mean([np.mean(probs.argmax(1)[vy == c] == c) for c in range(len(LABELS))]):.4f}")
    np.save(work / f"{out.stem}_val_probs.npy", probs)
    if stream:
        step = (HybridStreamStep if args.arch == "stream-hybrid" else StreamStep)(model, args.step).eval()
        check_step(model, step, vx_t[:4], args.step)
        n = len(step.shapes)
        torch.onnx.export(
            step, (torch.zeros(1, args.step, 40), *step.zero_states()), out,
            input_names=["features"] + [f"state_{i}" for i in range(n)],
            output_names=["probabilities"] + [f"next_state_{i}" for i in range(n)],
            opset_version=17, dynamo=False,
        )
    else:
        torch.onnx.export(
            Probabilities(model), torch.zeros(1, 98, 40), out,
            input_names=["features"], output_names=["probabilities"], opset_version=17, dynamo=False,
        )
    if args.export_only:
        print(f"exported {weights_path}; wrote {out}")
    else:
        kept = "best" if args.keep == "best" else "last epoch's"
        print(f"{kept} balanced val accuracy {best:.4f}; wrote {out} and {weights_path}")


if __name__ == "__main__":
    main()
