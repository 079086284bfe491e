//! [`SeriesDetector`]: anomaly scores for a single series with no separate training data. It
//! learns from the first points (a probationary period), then scores each new point as it
//! arrives, before the next one is seen, and adapts slowly.
//!
//! Each point's raw score is the reconstruction error of the window of values that ends with it,
//! by an autoencoder fitted to the probationary windows (the same trainer as
//! [`fit_anomaly`](crate::fit_anomaly)) and fine-tuned on recent windows as the series goes on.
//! The raw score becomes a score in `[0, 1]` the way Numenta's anomaly likelihood does it
//! (Ahmad et al. 2017): how unusual the mean of the last few raw scores is against the mean
//! and spread of the raw scores over a long recent history, as a normal tail probability (of
//! the logarithm of the errors, which are heavy-tailed), on a log scale. A burst of high
//! scores is reported once: a score counts only while it is the highest of the last
//! `refractory` points.

use std::collections::VecDeque;

use ndarray::Array2;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::autoencoder::{Adam, Mlp, TrainParams, train};

/// `-log10(1/2)`: a tail probability of one half (an ordinary value) scores 0.
const LOG_HALF: f64 = std::f64::consts::LOG10_2;

/// Settings of a [`SeriesDetector`].
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesParams {
    /// Points learnt from before any score (scored 0).
    pub probation: usize,
    /// Values per window.
    pub window: usize,
    /// The autoencoder and its first training.
    pub train: TrainParams,
    /// Raw scores averaged for the short-term mean.
    pub short: usize,
    /// Raw scores kept for the long-term mean and spread.
    pub long: usize,
    /// A score is reported only while it is the highest of this many points (0 or 1: every
    /// score is reported).
    pub refractory: usize,
    /// After the probationary period, one update of the autoencoder on a batch of recent
    /// windows every this many points (0: never adapt).
    pub adapt_every: usize,
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
            refractory: 100,
            adapt_every: 1,
        }
    }
}

/// The fitted part, once the probationary period is over.
struct Fitted {
    net: Mlp,
    adam: Adam,
    mean: f32,
    inv_std: f32,
}

/// Streaming anomaly scores of one series (see the module documentation).
pub struct SeriesDetector {
    params: SeriesParams,
    seen: usize,
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
    reported: VecDeque<f32>,
    normal: Normal,
}

impl std::fmt::Debug for SeriesDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesDetector")
            .field("params", &self.params)
            .field("seen", &self.seen)
            .field("fitted", &self.fitted.is_some())
            .finish_non_exhaustive()
    }
}

impl SeriesDetector {
    /// A detector that has seen nothing yet.
    pub fn new(params: SeriesParams) -> Self {
        SeriesDetector {
            recent: VecDeque::with_capacity(params.window + 1),
            learning: Vec::with_capacity(params.probation),
            fitted: None,
            replay: VecDeque::new(),
            raw: VecDeque::new(),
            raw_sum: 0.0,
            raw_sq: 0.0,
            short: VecDeque::new(),
            reported: VecDeque::new(),
            seen: 0,
            normal: Normal::standard(),
            params,
        }
    }

    /// Points seen so far.
    pub fn seen(&self) -> usize {
        self.seen
    }

    /// Takes the next point and returns its score in `[0, 1]` (0 during the probationary
    /// period and for a value that is not finite, which is otherwise ignored).
    pub fn push(&mut self, value: f32) -> f32 {
        if !value.is_finite() {
            return 0.0;
        }
        self.seen += 1;
        self.recent.push_back(value);
        if self.recent.len() > self.params.window {
            self.recent.pop_front();
        }
        if self.fitted.is_none() {
            self.learning.push(value);
            if self.learning.len() >= self.params.probation.max(self.params.window + 1) {
                self.fit();
            }
            return 0.0;
        }
        let Some(fitted) = &mut self.fitted else {
            return 0.0;
        };
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
        if self.params.adapt_every > 0 && self.seen.is_multiple_of(self.params.adapt_every) {
            let rows = self.replay.len();
            let flat: Vec<f32> = self.replay.iter().flatten().copied().collect();
            if let Ok(batch) = Array2::from_shape_vec((rows, self.params.window), flat) {
                let (_, grads) = fitted.net.loss_and_grads(batch.view());
                fitted.adam.step(&mut fitted.net, &grads);
            }
        }
        self.likelihood(err)
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
        let score = ((-tail.log10() - LOG_HALF) / (10.0 - LOG_HALF)).clamp(0.0, 1.0) as f32;
        // One report per burst: a score counts only while it is the highest of the last
        // `refractory` points; a point that merely continues a burst scores 0.
        let highest = self.reported.iter().copied().fold(0.0f32, f32::max);
        self.reported.push_back(score);
        if self.reported.len() > self.params.refractory {
            self.reported.pop_front();
        }
        if score > highest { score } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_and_a_level_shift_get_the_highest_scores() {
        let value = |i: usize| {
            let t = i as f32;
            (t * std::f32::consts::TAU / 50.0).sin()
                + 0.1 * ((t * 12.9898).sin() * 43758.547).fract()
        };
        let mut detector = SeriesDetector::new(SeriesParams {
            probation: 600,
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
        // Not finite: ignored, scored 0.
        assert_eq!(detector.push(f32::NAN), 0.0);
        assert_eq!(detector.seen(), 3000);
    }
}
