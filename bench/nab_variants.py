#!/usr/bin/env python3
"""Variants of `hark nab`'s default detector on the Numenta Anomaly Benchmark, for research:
a re-implementation of SeriesDetector's neighbours method (two scales, conformal ranks, the
range check, one report per burst) in numpy/numba, the variants tried against it, and NAB's
scoring. The default row must match `hark nab` (standard 65.38, low FP 58.40, low FN 69.45);
the script checks the default's results with `hark nab --score-only` too.

Not part of Hark (Python is for training and reference only); it records how the figures in
the README's "Anomaly detection" section were measured.

  cargo build --release -p hark-cli
  ../venv/bin/pip install -r bench/requirements.txt   (numba, numpy)
  ../venv/bin/python bench/nab_variants.py [--data ../shared/data/nab] [--only NAME]
"""

import argparse
import glob
import json
import os
import pathlib
import subprocess
import tempfile
from collections import deque

import numba
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
HARK = ROOT / "target/release/hark"
PROFILES = {
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}
# SeriesDetector's defaults (detector/src/series.rs).
WINDOW, K, HISTORY, CALIBRATION, REFRACTORY, TOLERANCE = 19, 27, 2000, 600, 100, 0.05


def load(nab):
    files = []
    for path in sorted(glob.glob(f"{nab}/data/*/*.csv")):
        cat, name = os.path.basename(os.path.dirname(path)), os.path.basename(path)
        ts, vs = [], []
        with open(path) as f:
            next(f)
            for line in f:
                t, v = line.rstrip("\n").split(",")
                ts.append(t)
                vs.append(float(v))
        files.append(dict(cat=cat, name=name, ts=ts, v=np.array(vs)))
    return files


# ---------------------------------------------------------------- the detector's parts


@numba.njit(cache=True)
def knn_raw(values, b, w, k, history):
    """Mean distance from the window of w means of b values (b apart) ending at each point to
    its k nearest non-overlapping earlier windows among the last `history` (as Scale::push)."""
    n = len(values)
    v = values - values[0]
    means = np.full(n, np.nan, np.float32)
    s = 0.0
    for i in range(n):
        s += v[i]
        if i >= b:
            s -= v[i - b]
        if i >= b - 1:
            means[i] = s / b
    raw = np.full(n, np.nan, np.float32)
    reach = b * (w - 1)
    for i in range(n):
        p = i - (b - 1)
        if p < 0:
            continue
        last = p - b * w
        if last < reach:
            continue
        first = max(reach, last + 1 - history)
        m = last + 1 - first
        if m < k:
            continue
        d = np.zeros(m, np.float32)
        for j in range(w):
            lag = b * (w - 1 - j)
            c = means[b - 1 + p - lag]
            for q in range(m):
                e = means[b - 1 + first - lag + q] - c
                d[q] += e * e
        d.sort()
        raw[i] = np.sqrt(d[:k]).sum() / k
    return raw


@numba.njit(cache=True)
def knn_pred(values, w, k, history):
    """|x_t - successor| over the successors of the k nearest earlier contexts of w values."""
    n = len(values)
    v = (values - values[0]).astype(np.float32)
    out = np.full(n, np.nan, np.float32)
    for t in range(w + 1, n):
        last = t - 2
        first = max(w - 1, last + 1 - history)
        m = last + 1 - first
        if m < k:
            continue
        d = np.zeros(m, np.float32)
        for j in range(w):
            c = v[t - w + j]
            for q in range(m):
                e = v[first + q - (w - 1) + j] - c
                d[q] += e * e
        idx = np.argsort(d)[:k]
        out[t] = np.abs(v[first + idx + 1] - v[t]).min()
    return out


@numba.njit(cache=True)
def ranks(raw, calib, minc, top, extend, grow):
    """Share of the last `calib` raw scores below each (NaN before `minc` of them); with
    `extend`, past the highest of them 1 + the excess over it in units of the mean excess of
    the `top` share over its lower edge (an exponential tail). A raw score above `grow` times
    the highest enters the calibration at that cap (inf: as it is)."""
    n = len(raw)
    out = np.full(n, np.nan)
    buf = np.empty(calib)
    cnt, head = 0, 0
    for i in range(n):
        r = raw[i]
        if np.isnan(r):
            continue
        kept = r
        if cnt >= minc:
            b = buf[:cnt]
            highest = b.max()
            if r > highest * grow:  # never for grow = inf (nor a NaN from 0 * inf)
                kept = highest * grow
            if not extend or r <= highest:
                out[i] = (b < r).sum() / cnt
            else:
                b = np.sort(b)
                q = int(cnt * (1 - top))
                beta = max((b[q:] - b[q]).mean(), 1e-9)
                out[i] = 1.0 + (r - highest) / beta
        if cnt < calib:
            buf[cnt] = kept
            cnt += 1
        else:
            buf[head] = kept
            head = (head + 1) % calib
    return out


def rank_capped(raw, calib, minc, grow):
    """The rank, but a raw score above `grow` times the highest calibration score enters the
    calibration at that cap (so one anomaly's scores do not mask the next one's)."""
    return ranks(raw, calib, minc, 0.1, False, grow)


def rank(raw, calib, minc=50):
    """SeriesDetector's conformal rank."""
    return ranks(raw, calib, minc, 0.1, False, np.inf)


def tail_rank(raw, calib, minc=50, top=0.1):
    """The rank, extended past the top of the calibration scores."""
    return ranks(raw, calib, minc, top, True, np.inf)


@numba.njit(cache=True)
def records(x, tol, two_sided):
    """1 where x leaves the range of every earlier finite x by more than tol of that range."""
    out = np.zeros(len(x))
    mn, mx = np.inf, -np.inf
    for i in range(len(x)):
        v = x[i]
        if np.isnan(v):
            continue
        if mn <= mx:
            m = tol * (mx - mn)
            if v > mx + m or (two_sided and v < mn - m):
                out[i] = 1.0
        mn, mx = min(mn, v), max(mx, v)
    return out


@numba.njit(cache=True)
def run_mean(v, b):
    out = np.full(len(v), np.nan)
    s = 0.0
    for i in range(len(v)):
        s += v[i]
        if i >= b:
            s -= v[i - b]
        if i >= b - 1:
            out[i] = s / b
    return out


@numba.njit(cache=True)
def run_std(v, b):
    out = np.full(len(v), np.nan)
    for i in range(b - 1, len(v)):
        out[i] = v[i - b + 1 : i + 1].std()
    return out


def report(values, method, probation, tol=TOLERANCE, refractory=REFRACTORY, extra=None):
    """SeriesDetector::push after the method: probation, the range check (and `extra` record
    flags counted with it), one report per burst."""
    out = np.zeros(len(values))
    mn, mx = np.inf, -np.inf
    last_outside = None
    recent = deque()

    def burst(score):
        highest = max(recent) if recent else 0.0
        recent.append(score)
        if len(recent) > refractory:
            recent.popleft()
        return score if score > highest else 0.0

    for i, x in enumerate(values):
        seen, s = i + 1, method[i]
        lo, hi = mn, mx
        mn, mx = min(mn, x), max(mx, x)
        outside = tol is not None and lo <= hi and (x > hi + tol * (hi - lo) or x < lo - tol * (hi - lo))
        outside = outside or (extra is not None and extra[i] > 0)
        if seen <= probation:
            continue
        if outside:
            again = last_outside is not None and seen - last_outside <= refractory
            last_outside = seen
            burst(1.0)
            out[i] = 0.0 if again else 1.0
        elif not np.isnan(s):
            out[i] = burst(s)
    return out


# ---------------------------------------------------------------- NAB's scoring


def scaled_sigmoid(x):
    return np.where(x >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0)


def prepare(files, nab):
    """Per file: the window of each point (-1 outside), its unit worth as a first detection in
    its window, its unit cost as a detection outside, and the probationary period."""
    labels = json.load(open(f"{nab}/labels/combined_windows.json"))
    wid = 0
    for f in files:
        index = {t.split(".")[0]: i for i, t in enumerate(f["ts"])}
        n = len(f["ts"])
        wins = [(index[a.split(".")[0]], index[b.split(".")[0]]) for a, b in labels[f"{f['cat']}/{f['name']}"]]
        window, tp, position = np.full(n, -1), np.zeros(n), np.full(n, 3.0)
        for left, right in wins:
            i = np.arange(left, right + 1)
            window[left : right + 1] = wid
            wid += 1
            tp[left : right + 1] = scaled_sigmoid(-(right - i + 1.0) / (right - left + 1)) / scaled_sigmoid(np.array(-1.0))
        previous, k = None, 0
        for i in range(n):
            if k < len(wins) and i > wins[k][1]:
                previous, k = wins[k], k + 1
            if window[i] < 0 and previous is not None:
                position[i] = abs(i - previous[1]) / (previous[1] - previous[0])
        f.update(window=window, tp=tp, fp=scaled_sigmoid(position), probation=min(int(0.15 * n), 750), wins=wins)


@numba.njit(cache=True)
def best_total(scores, worth, window, windows, fn_weight, tp_weight):
    """The best threshold's normalised score and the threshold (NAB's sweep over every
    distinct score)."""
    order = np.argsort(-scores, kind="mergesort")
    per = np.full(windows, -fn_weight)
    in_windows, outside = -fn_weight * windows, 0.0
    threshold, best, best_threshold = 1.1, in_windows, 1.1
    for q in order:
        if scores[q] != threshold:
            if in_windows + outside > best:
                best, best_threshold = in_windows + outside, threshold
            threshold = scores[q]
        w = window[q]
        if w >= 0:
            if worth[q] > per[w]:
                in_windows += worth[q] - per[w]
                per[w] = worth[q]
        else:
            outside += worth[q]
    if in_windows + outside > best:
        best, best_threshold = in_windows + outside, threshold
    return 100.0 * (best + fn_weight * windows) / ((tp_weight + fn_weight) * windows), best_threshold


def nab_scores(files, scores):
    """(normalised score, threshold) per profile."""
    result = []
    for tp_w, fp_w, fn_w in PROFILES.values():
        s, worth, win = [], [], []
        for f, x in zip(files, scores):
            keep = np.arange(len(x)) >= f["probation"]
            s.append(np.asarray(x, float)[keep])
            win.append(f["window"][keep])
            worth.append(np.where(f["window"][keep] >= 0, tp_w * f["tp"][keep], fp_w * f["fp"][keep]))
        windows = sum(len(f["wins"]) for f in files)
        result.append(best_total(np.concatenate(s), np.concatenate(worth), np.concatenate(win), windows, fn_w, tp_w))
    return result


def counts(files, scores, threshold):
    found = outside = 0
    for f, x in zip(files, scores):
        hit = (np.asarray(x) >= threshold) & (np.arange(len(x)) >= f["probation"])
        found += sum(hit[a : b + 1].any() for a, b in f["wins"])
        outside += int((hit & (f["window"] < 0)).sum())
    return found, outside


def check_with_hark(files, scores, nab):
    """The default's results in NAB's layout, scored by `hark nab --score-only`."""
    with tempfile.TemporaryDirectory() as out:
        for f, x in zip(files, scores):
            folder = pathlib.Path(out) / "proto" / f["cat"]
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"proto_{f['name']}", "w") as o:
                o.write("timestamp,value,anomaly_score,label\n")
                for t, v, s in zip(f["ts"], f["v"], x):
                    o.write(f"{t},{v},{s:.6f},0\n")
        run = subprocess.run(
            [HARK, "nab", "--data", nab, "--output", out, "--detector", "proto", "--score-only"],
            capture_output=True, text=True, check=True,
        )
        got = {line.split()[0]: line.split()[1] for line in run.stdout.splitlines() if line.split()[:1] and line.split()[0] in PROFILES}
        return "  ".join(f"{got[p]:>6s}" for p in PROFILES)


# ---------------------------------------------------------------- the variants


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/nab"))
    parser.add_argument("--only", help="run the variants whose name contains this")
    args = parser.parse_args()
    files = load(args.data)
    prepare(files, args.data)
    r1 = [knn_raw(f["v"], 1, WINDOW, K, HISTORY) for f in files]
    r8 = [knn_raw(f["v"], 8, WINDOW, K, HISTORY) for f in files]
    rank_cache = {}

    def ranks(c1=CALIBRATION, c8=CALIBRATION):
        if (c1, c8) not in rank_cache:
            rank_cache[(c1, c8)] = ([rank(x, c1) for x in r1], [rank(x, c8) for x in r8])
        return rank_cache[(c1, c8)]

    def mean2(a, b):
        return np.where(np.isnan(a), np.nan, (a + np.nan_to_num(b)) / 2)

    def default(f, i, a, b):
        return mean2(a[i], b[i])

    variants = {}

    def variant(name, method=default, c1=CALIBRATION, c8=CALIBRATION, **kw):
        variants[name] = (method, c1, c8, kw)

    variant("default (as hark nab)")
    variant("range check alone", lambda f, i, a, b: np.full(len(f["v"]), np.nan))
    variant("neighbours alone", tol=None)
    variant("graded top (tail rank), mean of scales",
            lambda f, i, a, b: (lambda x: x / (1 + x))(mean2(tail_rank(r1[i], CALIBRATION), tail_rank(r8[i], CALIBRATION))))
    variant("graded top (tail rank), min of scales",
            lambda f, i, a, b: (lambda x, y: (lambda m: m / (1 + m))(np.where(np.isnan(x), np.nan, np.minimum(x, np.nan_to_num(y)))))(
                tail_rank(r1[i], CALIBRATION), tail_rank(r8[i], CALIBRATION)))
    long1 = {}

    def gated(f, i, a, b):
        if i not in long1:
            long1[i] = rank(r1[i], 8000)
        m = mean2(a[i], b[i])
        return np.where(np.nan_to_num(long1[i]) >= 0.99, m, np.minimum(m, 0.999))

    variant("fine distance also in the top 1 % of the last 8000", gated)
    for s in (2, 3, 5, 10):
        def smoothed(f, i, a, b, s=s):
            m = mean2(a[i], b[i])
            c = np.cumsum(np.insert(np.nan_to_num(m), 0, 0))
            j = np.arange(len(m))
            return np.where(np.isnan(m), np.nan, (c[j + 1] - c[np.maximum(0, j - s + 1)]) / s)
        variant(f"score averaged over the last {s} points", smoothed)
    for name, feature in [
        ("8-point mean", lambda v: records(run_mean(v, 8), TOLERANCE, True)),
        ("32-point mean", lambda v: records(run_mean(v, 32), TOLERANCE, True)),
        ("8-point std", lambda v: records(run_std(v, 8), TOLERANCE, False)),
        ("32-point std", lambda v: records(run_std(v, 32), TOLERANCE, False)),
    ]:
        variant(f"records of the {name} with the range check, no neighbours",
                lambda f, i, a, b: np.full(len(f["v"]), np.nan), feature=feature)
        variant(f"records of the {name} with the default", feature=feature)
    pred = {}

    def surprise(i):
        if i not in pred:
            pred[i] = rank(knn_pred(files[i]["v"], WINDOW, K, HISTORY), CALIBRATION)
        return pred[i]

    variant("prediction surprise alone", lambda f, i, a, b: surprise(i))
    variant("prediction surprise as the fine scale", lambda f, i, a, b: mean2(surprise(i), b[i]))
    variant("prediction surprise as a third rank",
            lambda f, i, a, b: np.where(np.isnan(a[i]), np.nan, (a[i] + np.nan_to_num(surprise(i)) + np.nan_to_num(b[i])) / 3))
    variant("a scale without history yet not counted",
            lambda f, i, a, b: np.where(np.isnan(a[i]), np.nan, np.where(np.isnan(b[i]), a[i], (a[i] + b[i]) / 2)))
    for grow in (1.2, 1.5):
        variant(f"calibration capped at {grow}x its highest score",
                lambda f, i, a, b, g=grow: mean2(rank_capped(r1[i], CALIBRATION, 50, g), rank_capped(r8[i], CALIBRATION, 50, g)))
    logged = {}

    def log_values(f, i, a, b):
        # A series whose probationary values are all >= 0 (counts, loads, rates), on a log
        # scale relative to their median: spikes of a heavy-tailed series weigh less.
        if i not in logged:
            v, p = f["v"], f["probation"]
            if v[:p].min() >= 0:
                v = np.log1p(v / (np.median(v[:p]) or 1.0))
            logged[i] = mean2(rank(knn_raw(v, 1, WINDOW, K, HISTORY), CALIBRATION),
                              rank(knn_raw(v, 8, WINDOW, K, HISTORY), CALIBRATION))
        return logged[i]

    variant("neighbours on log(1 + v / median) of non-negative series", log_values)
    for c in (300, 1000, 2000):
        variant(f"calibration {c}", c1=c, c8=c)
    for r in (50, 200, 400):
        variant(f"refractory {r}", refractory=r)

    print(f"{'variant':66s} standard  low FP  low FN  found of 116 / outside (standard's threshold)")
    for name, (method, c1, c8, kw) in variants.items():
        if args.only and args.only not in name:
            continue
        a, b = ranks(c1, c8)
        scores = []
        for i, f in enumerate(files):
            extra = kw["feature"](f["v"]) if "feature" in kw else None
            scores.append(report(f["v"], method(f, i, a, b), f["probation"], tol=kw.get("tol", TOLERANCE),
                                 refractory=kw.get("refractory", REFRACTORY), extra=extra))
        (s, threshold), (lo_fp, _), (lo_fn, _) = nab_scores(files, scores)
        found, outside = counts(files, scores, threshold)
        print(f"{name:66s} {s:8.2f} {lo_fp:7.2f} {lo_fn:7.2f}  {found} / {outside} ({threshold:.4g})", flush=True)
        if name.startswith("default") and HARK.exists():
            print(f"{'  the same results scored by hark nab --score-only':66s}   {check_with_hark(files, scores, args.data)}")


if __name__ == "__main__":
    main()
