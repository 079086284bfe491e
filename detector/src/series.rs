//! [`SeriesDetector`]: anomaly scores for a single series with no separate training data. It
//! learns from the first points (a probationary period), then scores each new point as it
//! arrives, before the next one is seen, and keeps learning from what it has seen.
//!
//! Two methods ([`SeriesMethod`]):
//!
//! - [`Neighbours`](SeriesMethod::Neighbours) (the default): the raw score of a point is the
//!   mean distance from the window of values that ends with it to its `k` nearest windows
//!   among the last `history` windows of the series (none overlapping it), and the score is
//!   the share of the last `calibration` raw scores below it: a conformal rank in `[0, 1]`,
//!   as in the k-nearest-neighbour conformal detector of Burnaev and Ishimtsev (2016). The
//!   history slides, so the detector adapts to a new normal after `history` points. This runs
//!   at several time scales ([`NeighbourParams::scales`]; by default the values themselves
//!   and windows of means of 8 values, 8 apart), each ranking its own raw scores, and the
//!   score is the mean of the ranks: a chance rank of 1 at one scale is rarely one at the
//!   other, a real change moves both.
//! - [`Autoencoder`](SeriesMethod::Autoencoder): the reconstruction error of the window by an
//!   autoencoder fitted to the probationary windows (the same trainer as
//!   [`fit_anomaly`](crate::fit_anomaly)) and fine-tuned on recent windows; the error becomes
//!   a score the way Numenta's anomaly likelihood does it (Ahmad et al. 2017): how unusual
//!   the mean of the last few errors is against the mean and spread of the errors over a long
//!   recent history, as a normal tail probability (of the logarithm of the errors, which are
//!   heavy-tailed), on a log scale.
//!
//! With either, a value beyond the range of every value seen before it (widened by a
//! tolerance, 5 % of the range by default) scores 1: a level the series has never reached is
//! anomalous whatever its shape (the "spatial anomaly" of Numenta's HTM detector). A burst of
//! high scores is reported once: a score counts only while it is the highest of the last
//! `refractory` points; a value beyond the range is reported unless another one was within
//! the last `refractory` points, even inside a burst of the method's scores.

use std::collections::VecDeque;

use ndarray::Array2;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::autoencoder::{Adam, Mlp, TrainParams, train};

/// `-log10(1/2)`: a tail probability of one half (an ordinary value) scores 0.
const LOG_HALF: f64 = std::f64::consts::LOG10_2;

/// The default [`SeriesParams::spatial_tolerance`]: Numenta's HTM detector's.
pub const SPATIAL_TOLERANCE: f32 = 0.05;

/// Raw scores needed before a [`Neighbours`](SeriesMethod::Neighbours) rank means anything.
const MIN_CALIBRATION: usize = 50;

/// Settings of a [`SeriesDetector`].
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesParams {
    /// Points learnt from before any score (scored 0).
    pub probation: usize,
    /// A score is reported only while it is the highest of this many points (0 or 1: every
    /// score is reported).
    pub refractory: usize,
    /// How a point is scored.
    pub method: SeriesMethod,
    /// A value beyond the range of all the values seen before it by more than this share of
    /// the range scores 1 whatever the method says (a "spatial" anomaly, as Numenta's HTM
    /// detector has it, with its tolerance of 0.05); None: the method alone.
    pub spatial_tolerance: Option<f32>,
}

/// How a [`SeriesDetector`] scores a point (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesMethod {
    /// Distance to the nearest earlier windows, ranked against recent distances.
    Neighbours(NeighbourParams),
    /// Reconstruction error of an autoencoder, as a likelihood.
    Autoencoder(AutoencoderParams),
}

/// Settings of [`SeriesMethod::Neighbours`].
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourParams {
    /// Values per window.
    pub window: usize,
    /// Nearest windows averaged.
    pub k: usize,
    /// Earlier windows searched (the most recent ones).
    pub history: usize,
    /// Recent raw scores a raw score is ranked against.
    pub calibration: usize,
    /// Time scales, in values per step of a window: 1 compares the last `window` values, 8
    /// the means of 8 values at steps of 8 (a window then spans 8 × `window` values). Each
    /// scale ranks its own raw scores; the score is the mean of the ranks, so a point scores
    /// 1 only when it is the most unusual of the recent points at every scale.
    pub scales: Vec<usize>,
}

impl Default for NeighbourParams {
    fn default() -> Self {
        NeighbourParams {
            window: 19,
            k: 27,
            history: 2000,
            calibration: 600,
            scales: vec![1, 8],
        }
    }
}

/// Settings of [`SeriesMethod::Autoencoder`].
#[derive(Debug, Clone, PartialEq)]
pub struct AutoencoderParams {
    /// Values per window.
    pub window: usize,
    /// The autoencoder and its first training.
    pub train: TrainParams,
    /// Raw scores averaged for the short-term mean.
    pub short: usize,
    /// Raw scores kept for the long-term mean and spread.
    pub long: usize,
    /// After the probationary period, one update of the autoencoder on a batch of recent
    /// windows every this many points (0: never adapt).
    pub adapt_every: usize,
}

impl Default for AutoencoderParams {
    fn default() -> Self {
        AutoencoderParams {
            window: 16,
            train: TrainParams {
                hidden: vec![16, 4],
                epochs: 50,
                min_steps: 1000,
                batch: 64,
                learning_rate: 1e-3,
                seed: 0,
            },
            short: 1,
            long: 8000,
            adapt_every: 1,
        }
    }
}

impl SeriesParams {
    /// The settings for a series of `len` points (when the length is known, as in NAB): a
    /// probationary period of 15 % of it, at most 750 points (NAB's rule).
    pub fn for_length(len: usize) -> Self {
        SeriesParams {
            probation: ((len as f64 * 0.15).floor() as usize).min(750),
            ..SeriesParams::default()
        }
    }
}

impl Default for SeriesParams {
    fn default() -> Self {
        SeriesParams {
            probation: 750,
            refractory: 100,
            method: SeriesMethod::Neighbours(NeighbourParams::default()),
            spatial_tolerance: Some(SPATIAL_TOLERANCE),
        }
    }
}

/// Streaming anomaly scores of one series (see the module documentation).
pub struct SeriesDetector {
    probation: usize,
    refractory: usize,
    seen: usize,
    /// The last point's score before the one-report-per-burst rule.
    score: f32,
    scorer: Scorer,
    /// The last `refractory` scores, for one report per burst.
    reported: VecDeque<f32>,
    spatial_tolerance: Option<f32>,
    /// The range of the values seen so far (min > max before the first).
    min: f32,
    max: f32,
    /// When the last value beyond the range came (`seen` then).
    last_outside: Option<usize>,
}

enum Scorer {
    Neighbours(NeighbourScorer),
    Autoencoder(Box<AutoencoderScorer>),
}

impl std::fmt::Debug for SeriesDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match &self.scorer {
            Scorer::Neighbours(n) => format!("{:?}", n.params),
            Scorer::Autoencoder(a) => format!("{:?}", a.params),
        };
        f.debug_struct("SeriesDetector")
            .field("probation", &self.probation)
            .field("refractory", &self.refractory)
            .field("method", &method)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl SeriesDetector {
    /// A detector that has seen nothing yet. Its buffers are allocated here: with
    /// [`SeriesMethod::Neighbours`], [`push`](Self::push) allocates nothing.
    pub fn new(params: SeriesParams) -> Self {
        let scorer = match params.method {
            SeriesMethod::Neighbours(p) => Scorer::Neighbours(NeighbourScorer::new(p)),
            SeriesMethod::Autoencoder(p) => {
                Scorer::Autoencoder(Box::new(AutoencoderScorer::new(p, params.probation)))
            }
        };
        SeriesDetector {
            probation: params.probation,
            refractory: params.refractory,
            seen: 0,
            score: 0.0,
            scorer,
            reported: VecDeque::with_capacity(params.refractory + 1),
            spatial_tolerance: params.spatial_tolerance,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            last_outside: None,
        }
    }

    /// Points seen so far.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// The score of the last point pushed before the one-report-per-burst rule: what
    /// [`push`](Self::push) returned, or inside a burst what it would have returned alone
    /// (0 during the probationary period and for a value that is not finite).
    pub fn score(&self) -> f32 {
        self.score
    }

    /// Takes the next point and returns its score in `[0, 1]` (0 during the probationary
    /// period and for a value that is not finite, which is otherwise ignored), or 0 if it
    /// only continues a burst already reported ([`score`](Self::score) has it then).
    pub fn push(&mut self, value: f32) -> f32 {
        self.score = 0.0;
        if !value.is_finite() {
            return 0.0;
        }
        self.seen += 1;
        let in_probation = self.seen <= self.probation;
        let score = match &mut self.scorer {
            Scorer::Neighbours(n) => n.push(value),
            Scorer::Autoencoder(a) => a.push(value),
        };
        let outside = self.outside_range(value);
        if !in_probation {
            self.score = if outside { 1.0 } else { score.unwrap_or(0.0) };
        }
        match (score, outside) {
            _ if in_probation => 0.0,
            (_, true) => self.report_outside(),
            (Some(score), false) => self.report(score),
            (None, false) => 0.0,
        }
    }

    /// A value beyond the range is reported unless another one was within the last
    /// `refractory` points, even in a burst of the method's scores: a new level is news
    /// whatever the shape before it looked like. It ends such a burst (nothing the method
    /// scores tops its 1).
    fn report_outside(&mut self) -> f32 {
        let recent = self
            .last_outside
            .is_some_and(|at| self.seen - at <= self.refractory);
        self.last_outside = Some(self.seen);
        let _ = self.report(1.0);
        if recent { 0.0 } else { 1.0 }
    }

    /// Whether `value` lies beyond the range of the values seen before it, widened by the
    /// spatial tolerance on each side; the range then takes it in.
    fn outside_range(&mut self, value: f32) -> bool {
        let (min, max) = (self.min, self.max);
        self.min = min.min(value);
        self.max = max.max(value);
        let Some(tolerance) = self.spatial_tolerance else {
            return false;
        };
        if min > max {
            return false; // the first value
        }
        let margin = tolerance * (max - min);
        value > max + margin || value < min - margin
    }

    /// One report per burst: a score counts only while it is the highest of the last
    /// `refractory` points; a point that merely continues a burst scores 0.
    fn report(&mut self, score: f32) -> f32 {
        let highest = self.reported.iter().copied().fold(0.0f32, f32::max);
        self.reported.push_back(score);
        if self.reported.len() > self.refractory {
            self.reported.pop_front();
        }
        if score > highest { score } else { 0.0 }
    }
}

/// The state of [`SeriesMethod::Neighbours`]: one [`Scale`] per entry of
/// [`NeighbourParams::scales`], each with its rings allocated once.
struct NeighbourScorer {
    params: NeighbourParams,
    /// The first value seen, subtracted from every value (distances do not change, and f32
    /// keeps the differences of large values).
    offset: Option<f64>,
    scales: Vec<Scale>,
}

/// One time scale of [`SeriesMethod::Neighbours`]: windows of `window` means of `block`
/// consecutive values, `block` values apart (block 1: the values themselves).
struct Scale {
    block: usize,
    /// The last `block` values and their sum, for the running mean.
    last: Vec<f64>,
    last_next: usize,
    sum: f64,
    values_seen: usize,
    /// The last `capacity` means, each written twice (at `i` and `i + capacity`) so that any
    /// run of recent means is one contiguous slice.
    ring: Vec<f32>,
    capacity: usize,
    /// Means pushed so far.
    pushed: usize,
    /// Distances to the searched windows (scratch).
    distances: Vec<f32>,
    /// The last `calibration` raw scores.
    raw: VecDeque<f32>,
}

impl NeighbourScorer {
    fn new(mut params: NeighbourParams) -> Self {
        params.window = params.window.max(1);
        params.k = params.k.max(1);
        params.history = params.history.max(params.k);
        params.calibration = params.calibration.max(MIN_CALIBRATION);
        if params.scales.is_empty() {
            params.scales.push(1);
        }
        for block in &mut params.scales {
            *block = (*block).max(1);
        }
        let scales = params
            .scales
            .iter()
            .map(|&block| {
                let capacity = params.history + 2 * block * params.window;
                Scale {
                    block,
                    last: vec![0.0; block],
                    last_next: 0,
                    sum: 0.0,
                    values_seen: 0,
                    ring: vec![0.0; 2 * capacity],
                    capacity,
                    pushed: 0,
                    distances: Vec::with_capacity(params.history),
                    raw: VecDeque::with_capacity(params.calibration + 1),
                }
            })
            .collect();
        NeighbourScorer {
            params,
            offset: None,
            scales,
        }
    }

    /// The mean of the point's ranks at every scale (a scale still without enough history
    /// counts 0), or None while the finest scale has too little history. A rank does not
    /// change with the series' scale, so the raw scores need none.
    fn push(&mut self, value: f32) -> Option<f32> {
        let offset = *self.offset.get_or_insert(f64::from(value));
        let v = f64::from(value) - offset;
        let mut total = 0.0;
        let mut first = None;
        for (i, scale) in self.scales.iter_mut().enumerate() {
            let rank = scale.push(v, &self.params);
            if i == 0 {
                first = rank;
            }
            total += rank.unwrap_or(0.0);
        }
        first.map(|_| total / self.scales.len() as f32)
    }
}

impl Scale {
    /// Takes the next value; the rank of the raw score of the window that ends with it
    /// among the recent raw scores, or None while there is too little history.
    fn push(&mut self, v: f64, params: &NeighbourParams) -> Option<f32> {
        self.sum += v - self.last[self.last_next];
        self.last[self.last_next] = v;
        self.last_next = (self.last_next + 1) % self.block;
        self.values_seen += 1;
        if self.values_seen < self.block {
            return None;
        }
        let mean = (self.sum / self.block as f64) as f32;
        let at = self.pushed % self.capacity;
        self.ring[at] = mean;
        self.ring[at + self.capacity] = mean;
        self.pushed += 1;
        let len = self.pushed.min(self.capacity);
        // The last `len` means, oldest first; the current window ends with the last.
        let end = at + self.capacity + 1;
        let means = &self.ring[end - len..end];
        let (w, b) = (params.window, self.block);
        // A window ending at mean p holds means p - b (w - 1), ..., p - b, p: it covers
        // b w values. Windows ending `b w` or more means before the current one do not
        // overlap it.
        let reach = b * (w - 1);
        let last = (len - 1).checked_sub(b * w)?;
        if last < reach {
            return None;
        }
        let first = reach.max((last + 1).saturating_sub(params.history));
        let n = last + 1 - first;
        if n < params.k {
            return None;
        }
        // Column by column (each mean of the current window against the same position of
        // every earlier window): plain element-wise loops that the compiler vectorises.
        self.distances.clear();
        self.distances.resize(n, 0.0);
        for j in 0..w {
            let lag = b * (w - 1 - j);
            let c = means[len - 1 - lag];
            let column = &means[first - lag..first - lag + n];
            for (d, &x) in self.distances.iter_mut().zip(column) {
                let e = x - c;
                *d += e * e;
            }
        }
        let k = params.k;
        let (nearest, kth, _) = self.distances.select_nth_unstable_by(k - 1, f32::total_cmp);
        let sum: f32 = nearest.iter().map(|d| d.sqrt()).sum::<f32>() + kth.sqrt();
        let raw = sum / k as f32;
        let rank = (self.raw.len() >= MIN_CALIBRATION)
            .then(|| self.raw.iter().filter(|&&r| r < raw).count() as f32 / self.raw.len() as f32);
        self.raw.push_back(raw);
        if self.raw.len() > params.calibration {
            self.raw.pop_front();
        }
        rank
    }
}

/// The fitted part of [`SeriesMethod::Autoencoder`], once the probationary period is over.
struct Fitted {
    net: Mlp,
    adam: Adam,
    mean: f32,
    inv_std: f32,
}

/// The state of [`SeriesMethod::Autoencoder`].
struct AutoencoderScorer {
    params: AutoencoderParams,
    probation: usize,
    /// The last `window` values, raw.
    recent: VecDeque<f32>,
    /// Values of the probationary period.
    learning: Vec<f32>,
    fitted: Option<Fitted>,
    /// Recent normalised windows for adaptation.
    replay: VecDeque<Vec<f32>>,
    raw: VecDeque<f32>,
    raw_sum: f64,
    raw_sq: f64,
    short: VecDeque<f32>,
    normal: Normal,
    /// Points scored since the fit.
    scored: usize,
}

impl AutoencoderScorer {
    fn new(mut params: AutoencoderParams, probation: usize) -> Self {
        params.window = params.window.max(1);
        params.short = params.short.max(1);
        params.long = params.long.max(2);
        AutoencoderScorer {
            recent: VecDeque::with_capacity(params.window + 1),
            learning: Vec::with_capacity(probation),
            fitted: None,
            replay: VecDeque::new(),
            raw: VecDeque::new(),
            raw_sum: 0.0,
            raw_sq: 0.0,
            short: VecDeque::new(),
            normal: Normal::standard(),
            scored: 0,
            probation,
            params,
        }
    }

    /// The point's likelihood score, or None before the autoencoder is fitted.
    fn push(&mut self, value: f32) -> Option<f32> {
        self.recent.push_back(value);
        if self.recent.len() > self.params.window {
            self.recent.pop_front();
        }
        if self.fitted.is_none() {
            self.learning.push(value);
            if self.learning.len() >= self.probation.max(self.params.window + 1) {
                self.fit();
            }
            return None;
        }
        let fitted = self.fitted.as_mut()?;
        let x: Vec<f32> = self
            .recent
            .iter()
            .map(|v| (v - fitted.mean) * fitted.inv_std)
            .collect();
        let row = Array2::from_shape_vec((1, x.len()), x.clone()).unwrap_or_default();
        let y = fitted.net.forward(row.view());
        let err = x
            .iter()
            .zip(y.iter())
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            / x.len().max(1) as f32;
        // Slow adaptation: a step on recent windows every `adapt_every` points.
        self.replay.push_back(x);
        if self.replay.len() > self.params.train.batch {
            self.replay.pop_front();
        }
        self.scored += 1;
        if self.params.adapt_every > 0 && self.scored.is_multiple_of(self.params.adapt_every) {
            let rows = self.replay.len();
            let flat: Vec<f32> = self.replay.iter().flatten().copied().collect();
            if let Ok(batch) = Array2::from_shape_vec((rows, self.params.window), flat) {
                let (_, grads) = fitted.net.loss_and_grads(batch.view());
                fitted.adam.step(&mut fitted.net, &grads);
            }
        }
        Some(self.likelihood(err))
    }

    fn fit(&mut self) {
        let n = self.learning.len();
        let mean = self.learning.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = self
            .learning
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let std = var.sqrt().max(1e-3 * mean.abs()).max(1e-9);
        let (mean, inv_std) = (mean as f32, (1.0 / std) as f32);
        let w = self.params.window;
        let rows = n + 1 - w;
        let mut data = Array2::<f32>::zeros((rows, w));
        for (r, mut row) in data.rows_mut().into_iter().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = (self.learning[r + c] - mean) * inv_std;
            }
        }
        let net = train(data.view(), &self.params.train, |_, _, _| {});
        // Raw scores of the probationary windows start the long-term statistics.
        let y = net.forward(data.view());
        for (x, r) in data.rows().into_iter().zip(y.rows()) {
            let err = x
                .iter()
                .zip(r.iter())
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                / w as f32;
            self.record(err);
        }
        let adam = Adam::new(&net, self.params.train.learning_rate * 0.1);
        self.fitted = Some(Fitted {
            net,
            adam,
            mean,
            inv_std,
        });
        self.learning = Vec::new();
    }

    fn record(&mut self, err: f32) {
        // Reconstruction errors are heavy-tailed; their logarithm is close to normal.
        let err = (err + 1e-6).ln();
        self.raw.push_back(err);
        self.raw_sum += f64::from(err);
        self.raw_sq += f64::from(err) * f64::from(err);
        if self.raw.len() > self.params.long
            && let Some(old) = self.raw.pop_front()
        {
            self.raw_sum -= f64::from(old);
            self.raw_sq -= f64::from(old) * f64::from(old);
        }
        self.short.push_back(err);
        if self.short.len() > self.params.short {
            self.short.pop_front();
        }
    }

    /// The tail probability of the short-term mean against the long-term distribution
    /// (computed before this score joins it).
    fn likelihood(&mut self, err: f32) -> f32 {
        let n = self.raw.len().max(1) as f64;
        let mean = self.raw_sum / n;
        let var = (self.raw_sq / n - mean * mean).max(0.0);
        let std = var.sqrt().max(1e-3 * mean.abs()).max(1e-6);
        self.record(err);
        let short = self.short.iter().map(|&v| f64::from(v)).sum::<f64>() / self.short.len() as f64;
        // The tail probability on a log scale, so that the rare values keep their order:
        // 1e-10 and below give 1, a tail of 1/2 or more gives 0.
        let tail = self.normal.sf((short - mean) / std).max(1e-300);
        ((-tail.log10() - LOG_HALF) / (10.0 - LOG_HALF)).clamp(0.0, 1.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores of a noisy sine with a spike at 1500 and a level shift from 2400.
    fn scores(method: SeriesMethod) -> Vec<f32> {
        let value = |i: usize| {
            let t = i as f32;
            (t * std::f32::consts::TAU / 50.0).sin()
                + 0.1 * ((t * 12.9898).sin() * 43758.547).fract()
        };
        let mut detector = SeriesDetector::new(SeriesParams {
            probation: 600,
            method,
            ..SeriesParams::default()
        });
        let mut scores = Vec::new();
        for i in 0..3000 {
            let bump = match i {
                1500 => 4.0,
                2400.. => 3.0,
                _ => 0.0,
            };
            scores.push(detector.push(value(i) + bump));
        }
        // Not finite: ignored, scored 0.
        assert_eq!(detector.push(f32::NAN), 0.0);
        assert_eq!(detector.seen(), 3000);
        scores
    }

    fn assert_found(scores: &[f32]) {
        assert!(
            scores[..600].iter().all(|&s| s == 0.0),
            "probation scores 0"
        );
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
        let spike = scores[1500..1516].iter().copied().fold(0.0, f32::max);
        let shift = scores[2400..2416].iter().copied().fold(0.0, f32::max);
        let normal = scores[600..1500].iter().copied().fold(0.0, f32::max);
        assert!(
            spike > normal && shift > normal,
            "spike {spike}, shift {shift}, normal {normal}"
        );
    }

    #[test]
    fn neighbours_give_a_spike_and_a_level_shift_the_highest_scores() {
        let scores = scores(SeriesMethod::Neighbours(NeighbourParams::default()));
        assert_found(&scores);
        // Nothing in the normal running is ranked above every recent raw score.
        assert!(scores[1516..2400].iter().all(|&s| s < 1.0));
        assert_eq!(scores[1500..1516].iter().copied().fold(0.0, f32::max), 1.0);
    }

    #[test]
    fn a_value_beyond_the_range_seen_scores_1() {
        // Soon after a probation of a little more than a period, while the neighbours have
        // too little history to rank anything, a value 10 % of the range above any seen
        // before: only the range check can score it.
        let value = |i: usize| match i {
            40 => 1.2,
            _ => (i as f32 * std::f32::consts::TAU / 25.0).sin(),
        };
        let run = |spatial_tolerance| {
            let mut d = SeriesDetector::new(SeriesParams {
                probation: 30,
                spatial_tolerance,
                ..SeriesParams::default()
            });
            (0..60).map(|i| d.push(value(i))).collect::<Vec<f32>>()
        };
        let (alone, spatial) = (run(None), run(Some(0.05)));
        assert_eq!(alone[40], 0.0);
        assert_eq!(spatial[40], 1.0);
        // Within the range (widened by the tolerance), the method alone decides.
        assert!(
            spatial
                .iter()
                .enumerate()
                .all(|(i, &s)| i == 40 || s == alone[i])
        );
        // A value within the tolerance is not beyond the range.
        let mut d = SeriesDetector::new(SeriesParams {
            probation: 2,
            ..SeriesParams::default()
        });
        for v in [0.0, 1.0, 0.5, 1.04, -0.04, 1.0] {
            assert_eq!(d.push(v), 0.0);
        }
        assert_eq!(d.push(1.2), 1.0);
    }

    #[test]
    fn a_value_beyond_the_range_is_reported_in_a_burst() {
        // The sine stops for 12 points at 1500 (a shape the neighbours rank highest, within
        // the range), then 30 points later a value beyond any seen: reported, although the
        // burst's 1 is among the last `refractory` scores. A second one soon after is not.
        let value = |i: usize| match i {
            1500..1512 => 0.0,
            1542 => 1.5,
            1550 => 1.6,
            _ => (i as f32 * std::f32::consts::TAU / 50.0).sin(),
        };
        let mut d = SeriesDetector::new(SeriesParams {
            probation: 600,
            ..SeriesParams::default()
        });
        let (scores, unreported): (Vec<f32>, Vec<f32>) =
            (0..1600).map(|i| (d.push(value(i)), d.score())).unzip();
        assert_eq!(scores[1500..1512].iter().copied().fold(0.0, f32::max), 1.0);
        assert_eq!(scores[1542], 1.0);
        assert_eq!(scores[1550], 0.0, "one report per burst of new levels");
        // `score` is what each point scored before the one-report-per-burst rule.
        assert!(unreported[1550] > 0.99, "{}", unreported[1550]);
        assert!(unreported[..600].iter().all(|&s| s == 0.0), "probation");
        for (i, (&reported, &score)) in scores.iter().zip(&unreported).enumerate() {
            assert!(
                reported == score || reported == 0.0,
                "point {i}: reported {reported}, scored {score}"
            );
        }
        assert!(
            scores.iter().filter(|&&s| s > 0.0).count()
                < unreported.iter().filter(|&&s| s > 0.0).count()
        );
    }

    #[test]
    fn agreement_of_two_scales_cuts_chance_reports() {
        // A noisy sine whose period shortens from 50 to 30 points for 300 points at 4000.
        let value = |i: usize| {
            let t = i as f32;
            let period = if (4000..4300).contains(&i) {
                30.0
            } else {
                50.0
            };
            (t * std::f32::consts::TAU / period).sin()
                + 0.3 * (((t * 12.9898).sin() * 43758.547).fract() - 0.5)
        };
        let run = |scales: Vec<usize>| {
            let mut d = SeriesDetector::new(SeriesParams {
                probation: 750,
                method: SeriesMethod::Neighbours(NeighbourParams {
                    scales,
                    ..NeighbourParams::default()
                }),
                spatial_tolerance: None,
                ..SeriesParams::default()
            });
            (0..6000).map(|i| d.push(value(i))).collect::<Vec<f32>>()
        };
        let (one, two) = (run(vec![1]), run(vec![1, 8]));
        let reports = |s: &[f32]| {
            s.iter()
                .enumerate()
                .filter(|&(i, &v)| v == 1.0 && !(4000..4400).contains(&i))
                .count()
        };
        assert_eq!(two[4000..4100].iter().copied().fold(0.0, f32::max), 1.0);
        assert_eq!(one[4000..4100].iter().copied().fold(0.0, f32::max), 1.0);
        assert!(
            reports(&two) < reports(&one),
            "outside the change: {} reports with two scales, {} with one",
            reports(&two),
            reports(&one)
        );
    }

    #[test]
    fn the_autoencoder_gives_a_spike_and_a_level_shift_the_highest_scores() {
        assert_found(&scores(SeriesMethod::Autoencoder(
            AutoencoderParams::default(),
        )));
    }

    #[test]
    fn neighbours_rank_the_same_whatever_the_scale_and_offset() {
        let series: Vec<f32> = (0..1500)
            .map(|i| (i as f32 * 0.37).sin() * 3.0 + ((i * 7919) % 13) as f32 * 0.1)
            .collect();
        let run = |scale: f32, offset: f32| {
            let mut d = SeriesDetector::new(SeriesParams {
                probation: 300,
                ..SeriesParams::default()
            });
            series
                .iter()
                .map(|&v| d.push(v * scale + offset))
                .collect::<Vec<f32>>()
        };
        let base = run(1.0, 0.0);
        assert!(base.iter().any(|&s| s > 0.0));
        let scaled = run(1000.0, 1.0e6);
        let same = base.iter().zip(&scaled).filter(|(a, b)| a == b).count();
        assert!(
            same >= base.len() * 99 / 100,
            "{same} of {} scores equal",
            base.len()
        );
    }
}
