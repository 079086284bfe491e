//! Anomaly scores from an autoencoder's reconstruction error: [`AnomalyModel`] (an ONNX
//! autoencoder with its feature config, normalisation and threshold in the metadata),
//! [`AnomalyScorer`] (samples in, scores and events out) and [`fit_anomaly`] (training on
//! normal data, on the device).

use std::path::Path;
use std::sync::Arc;

use hark_dsp::{FeatureConfig, MultichannelFrontend, ProcessError, SampleRate};
use ndarray::ArrayView1;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

pub use crate::autoencoder::TrainParams;
use crate::autoencoder::{set_metadata, to_onnx, train_rows};
use crate::error::{DetectorError, check};
use crate::model::{check_frames, keys, metadata, parse_onnx};

/// Windows scored per model run when the model takes any batch size.
const BATCH: usize = 32;

/// Most input channels an anomaly model may stack.
pub const MAX_CHANNELS: usize = 64;

/// What an anomaly model reads.
#[derive(Debug, Clone, PartialEq)]
pub enum AnomalyInput {
    /// Spectrogram frames from `hark_dsp` with this config (audio, vibration).
    Features(FeatureConfig),
    /// The samples themselves, one value per frame (slow sensor metrics: temperatures, CPU
    /// load, request rates).
    Values,
}

impl AnomalyInput {
    /// Values per frame.
    pub fn n_features(&self) -> usize {
        match self {
            AnomalyInput::Features(c) => c.n_features(),
            AnomalyInput::Values => 1,
        }
    }
}

/// An autoencoder loaded with tract (`hark.kind = anomaly`).
///
/// Input `x` of shape `(batch, D)`, output its reconstruction of the same shape, where
/// `D = hark.anomaly.context_frames × hark.anomaly.channels × features per frame` is a window
/// of consecutive frames, oldest first (each frame holds every channel's features, channel 0
/// first), each value normalised as `(v - mean) / std` with the per-dimension
/// statistics in `hark.anomaly.mean` and `hark.anomaly.std`. The score of a window is the mean
/// squared difference between `x` and the reconstruction. The batch dimension may be
/// symbolic (scored `BATCH` (32) windows at a time) or 1.
#[derive(Debug, Clone)]
pub struct AnomalyModel {
    plan: Arc<TypedRunnableModel>,
    max_batch: usize,
    input: AnomalyInput,
    channels: usize,
    context: usize,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    threshold: f32,
    smoothing: usize,
}

impl AnomalyModel {
    /// Loads a model file.
    pub fn from_path(path: &Path) -> Result<Self, DetectorError> {
        let bytes = std::fs::read(path)
            .map_err(|e| DetectorError::Load(format!("{}: {e}", path.display())))?;
        Self::from_bytes(&bytes)
    }

    /// Loads a model from the bytes of an ONNX file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DetectorError> {
        let model = parse_onnx(bytes)?;
        let meta = |key: &'static str| metadata(&model, key);
        let kind = meta(keys::KIND)?;
        if kind != "anomaly" {
            return Err(DetectorError::Metadata {
                key: keys::KIND,
                problem: format!("{kind:?} is not an anomaly model (anomaly)"),
            });
        }
        let input = match meta(keys::ANOMALY_INPUT)?.as_str() {
            "features" => AnomalyInput::Features(meta(keys::FEATURE_CONFIG)?.parse().map_err(
                |e: hark_dsp::ConfigError| DetectorError::Metadata {
                    key: keys::FEATURE_CONFIG,
                    problem: e.to_string(),
                },
            )?),
            "values" => AnomalyInput::Values,
            other => {
                return Err(DetectorError::Metadata {
                    key: keys::ANOMALY_INPUT,
                    problem: format!("{other:?} is neither features nor values"),
                });
            }
        };
        let number = |key: &'static str, max: usize| -> Result<usize, DetectorError> {
            meta(key)?
                .parse()
                .ok()
                .filter(|&n| n > 0 && n <= max)
                .ok_or(DetectorError::Metadata {
                    key,
                    problem: format!("not a whole number from 1 to {max}"),
                })
        };
        let context = number(keys::ANOMALY_CONTEXT, 4096)?;
        let smoothing = number(keys::ANOMALY_SMOOTHING, 1 << 16)?;
        let channels = match meta(keys::ANOMALY_CHANNELS) {
            Ok(_) => number(keys::ANOMALY_CHANNELS, MAX_CHANNELS)?,
            Err(_) => 1,
        };
        let frame_values = channels * input.n_features();
        let dim = context * frame_values;
        let floats = |key: &'static str| -> Result<Vec<f32>, DetectorError> {
            let values = meta(key)?
                .split(',')
                .map(|v| v.trim().parse::<f32>().ok().filter(|v| v.is_finite()))
                .collect::<Option<Vec<f32>>>()
                .ok_or(DetectorError::Metadata {
                    key,
                    problem: "not a comma-separated list of finite numbers".into(),
                })?;
            if values.len() != dim {
                return Err(DetectorError::Metadata {
                    key,
                    problem: format!(
                        "{} values, but the window has {dim} ({context} frames of {frame_values})",
                        values.len(),
                    ),
                });
            }
            Ok(values)
        };
        let mean = floats(keys::ANOMALY_MEAN)?;
        let std = floats(keys::ANOMALY_STD)?;
        if std.iter().any(|&s| s <= 0.0) {
            return Err(DetectorError::Metadata {
                key: keys::ANOMALY_STD,
                problem: "every standard deviation must be positive".into(),
            });
        }
        let threshold_text = meta(keys::ANOMALY_THRESHOLD)?;
        let threshold = match threshold_text.trim() {
            "inf" => f32::INFINITY,
            t => t
                .parse::<f32>()
                .ok()
                .filter(|t| t.is_finite() && *t >= 0.0)
                .ok_or(DetectorError::Metadata {
                    key: keys::ANOMALY_THRESHOLD,
                    problem: format!("{threshold_text:?} is not a number >= 0 (or inf)"),
                })?,
        };
        let shape_error = |found: String| DetectorError::Shape {
            expected: format!("input (batch, {dim}) and output (batch, {dim})"),
            found,
        };
        // A symbolic batch dimension stays symbolic; anything else must be (1, D).
        let fact = model
            .input_fact(0)
            .map_err(|e| shape_error(format!("{e:#}")))?
            .clone();
        let symbolic = fact
            .shape
            .dims()
            .next()
            .is_some_and(|d| d.concretize().is_some_and(|d| d.to_i64().is_err()));
        let (typed, max_batch) = if symbolic {
            (model, BATCH)
        } else {
            let m = model
                .with_input_fact(0, f32::fact([1, dim]).into())
                .map_err(|e| shape_error(format!("{e:#}")))?;
            (m, 1)
        };
        let plan = typed
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| shape_error(format!("a graph that does not take it: {e:#}")))?;
        let model = AnomalyModel {
            plan,
            max_batch,
            input,
            channels,
            context,
            mean,
            inv_std: std.iter().map(|s| 1.0 / s).collect(),
            threshold,
            smoothing,
        };
        // One run checks the output shape (and warms tract up).
        let mut errors = [0.0; 1];
        model.reconstruction_errors(&vec![0.0; dim], &mut errors)?;
        Ok(model)
    }

    /// What the model reads.
    pub fn input(&self) -> &AnomalyInput {
        &self.input
    }

    /// Input channels, each with its own features in every frame (`hark.anomaly.channels`;
    /// 1 for a model without the key).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Values per frame of the window: `channels × ` the input's features per frame.
    pub fn frame_values(&self) -> usize {
        self.channels * self.input.n_features()
    }

    /// Frames per window.
    pub fn context_frames(&self) -> usize {
        self.context
    }

    /// Values per window (`context_frames × frame_values`).
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The calibrated threshold of the smoothed score (infinite: never an event).
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Scores averaged for the smoothed score (1: no smoothing).
    pub fn smoothing_frames(&self) -> usize {
        self.smoothing
    }

    /// Checks that a front end computes the features the model was trained on.
    pub fn check_features(&self, frontend: &FeatureConfig) -> Result<(), DetectorError> {
        match &self.input {
            AnomalyInput::Features(c) if c == frontend => Ok(()),
            AnomalyInput::Features(c) => Err(DetectorError::FeatureMismatch {
                model: c.to_string(),
                frontend: frontend.to_string(),
            }),
            AnomalyInput::Values => Err(DetectorError::FeatureMismatch {
                model: "raw values (hark.anomaly.input = values)".into(),
                frontend: frontend.to_string(),
            }),
        }
    }

    /// The score of each window in `windows` (raw, not normalised; `dim()` values each)
    /// into `out` (one per window).
    pub fn reconstruction_errors(
        &self,
        windows: &[f32],
        out: &mut [f32],
    ) -> Result<(), DetectorError> {
        let mut runner = self.runner()?;
        self.errors_with(&mut runner, windows, out)
    }

    /// A tract runner for [`errors_with`](Self::errors_with), kept from one model run to the
    /// next by the scorer (spawning one per run cost 1 to 2 us more per run).
    fn runner(&self) -> Result<TypedSimpleState, DetectorError> {
        self.plan
            .spawn()
            .map_err(|e| DetectorError::Run(format!("{e:#}")))
    }

    /// [`reconstruction_errors`](Self::reconstruction_errors) with a runner of this model.
    fn errors_with(
        &self,
        runner: &mut TypedSimpleState,
        windows: &[f32],
        out: &mut [f32],
    ) -> Result<(), DetectorError> {
        let dim = self.dim();
        if windows.len() != out.len() * dim {
            return Err(DetectorError::InputLength {
                expected: out.len() * dim,
                actual: windows.len(),
            });
        }
        let run = |e: TractError| DetectorError::Run(format!("{e:#}"));
        let mut x = Vec::with_capacity(self.max_batch * dim);
        for (batch, scores) in windows
            .chunks(self.max_batch * dim)
            .zip(out.chunks_mut(self.max_batch))
        {
            x.clear();
            for window in batch.chunks_exact(dim) {
                x.extend(
                    window
                        .iter()
                        .zip(&self.mean)
                        .zip(&self.inv_std)
                        .map(|((v, m), s)| (v - m) * s),
                );
            }
            let input = Tensor::from_shape(&[scores.len(), dim], &x).map_err(run)?;
            let result = runner.run(tvec!(input.into())).map_err(run)?;
            let output = result
                .first()
                .ok_or_else(|| DetectorError::Run("the model has no output".into()))?;
            let view = output.try_as_plain_ram().map_err(run)?;
            let y = view.as_slice::<f32>().map_err(run)?;
            if y.len() != x.len() {
                return Err(DetectorError::Shape {
                    expected: format!("a reconstruction of {} values", x.len()),
                    found: format!("{} values", y.len()),
                });
            }
            for ((score, xw), yw) in scores
                .iter_mut()
                .zip(x.chunks_exact(dim))
                .zip(y.chunks_exact(dim))
            {
                *score = xw
                    .iter()
                    .zip(yw)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
                    / dim as f32;
            }
        }
        Ok(())
    }
}

/// The score of the window that ends with one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameScore {
    /// Index of the frame (a row for [`AnomalyInput::Values`]) that completes the window,
    /// from 0 at the stream start.
    pub index: u64,
    /// Its time in seconds from the stream start: the end of the frame (the moment the score
    /// could be known), or for values the row's time `index / rate`.
    pub time: f64,
    /// The reconstruction error of the window.
    pub score: f32,
    /// The mean of the last `smoothing_frames` scores (of all so far in a stream's first
    /// `smoothing_frames - 1` frames), compared with the threshold once there are
    /// `smoothing_frames` of them: no event starts before.
    pub smoothed: f32,
}

/// A stretch of frames whose smoothed score was above the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyEvent {
    /// Time of the first frame above the threshold.
    pub start: f64,
    /// Time of the last one.
    pub end: f64,
    /// The highest smoothed score in the stretch.
    pub peak: f32,
    /// Index of the first frame above the threshold.
    pub start_index: u64,
    /// Index of the last one.
    pub end_index: u64,
}

/// What an [`AnomalyScorer`] reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnomalyOutput {
    /// A frame's score.
    Score(FrameScore),
    /// An event, reported when it ends (or at [`finish`](AnomalyScorer::finish)).
    Event(AnomalyEvent),
}

/// Samples in, scores and events out: the front end (or the raw values), a window of the
/// recent frames, the autoencoder, the reconstruction error, a moving average and the
/// threshold. The same shape as the keyword [`Pipeline`](crate::Pipeline).
///
/// Windows are scored in batches of up to 32: scores come out at the end of each
/// [`push`](Self::push), in order. A model run has a fixed cost of about five windows'
/// scoring, so pushes of a few frames each cost more per frame than long ones: push what a
/// file or a capture buffer gives, not frame by frame.
///
/// A model of several channels ([`AnomalyModel::channels`]) takes interleaved samples, one
/// front end per channel ([`MultichannelFrontend`]), and stacks the channels' frames: a fault
/// that only one axis of a sensor sees is not averaged away with the others.
#[derive(Debug)]
pub struct AnomalyScorer {
    /// One front end per channel; none for a values model.
    frontend: Option<MultichannelFrontend>,
    scoring: Scoring,
}

/// Everything after the front end: the window, the model runs, smoothing and events.
struct Scoring {
    model: AnomalyModel,
    runner: TypedSimpleState,
    /// Values per frame: `channels × features`.
    frame_values: usize,
    hop_seconds: f64,
    frame_seconds: f64,
    threshold: f32,
    /// The last `context` frames, oldest first.
    window: Vec<f32>,
    frames_seen: u64,
    /// Windows waiting for a model run, and the indices of their last frames.
    pending: Vec<f32>,
    pending_index: Vec<u64>,
    errors: Vec<f32>,
    recent: Vec<f32>,
    recent_next: usize,
    recent_len: usize,
    open: Option<AnomalyEvent>,
}

impl std::fmt::Debug for Scoring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoring")
            .field("model", &self.model)
            .field("frames_seen", &self.frames_seen)
            .field("pending", &self.pending_index.len())
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl AnomalyScorer {
    /// A scorer for samples at `input_rate` (resampled to the model's rate for features;
    /// for values, the rows per second that give their times).
    pub fn new(model: AnomalyModel, input_rate: SampleRate) -> Result<Self, DetectorError> {
        let (frontend, hop_seconds, frame_seconds) = match model.input() {
            AnomalyInput::Features(config) => {
                let frontend =
                    MultichannelFrontend::new(input_rate, config.clone(), model.channels())?;
                model.check_features(frontend.frontends()[0].extractor().config())?;
                let rate = f64::from(config.sample_rate.hz());
                (
                    Some(frontend),
                    config.hop_length as f64 / rate,
                    config.frame_length as f64 / rate,
                )
            }
            AnomalyInput::Values => {
                let period = 1.0 / f64::from(input_rate.hz());
                (None, period, 0.0)
            }
        };
        let batch = model.max_batch;
        Ok(AnomalyScorer {
            frontend,
            scoring: Scoring {
                frame_values: model.frame_values(),
                hop_seconds,
                frame_seconds,
                threshold: model.threshold(),
                window: vec![0.0; model.dim()],
                frames_seen: 0,
                pending: Vec::with_capacity(batch * model.dim()),
                pending_index: Vec::with_capacity(batch),
                errors: vec![0.0; batch],
                recent: vec![0.0; model.smoothing_frames()],
                recent_next: 0,
                recent_len: 0,
                open: None,
                runner: model.runner()?,
                model,
            },
        })
    }

    /// Input channels: a push of features takes this many interleaved values per sample
    /// frame.
    pub fn channels(&self) -> usize {
        self.scoring.model.channels()
    }

    /// The model.
    pub fn model(&self) -> &AnomalyModel {
        &self.scoring.model
    }

    /// The threshold in use.
    pub fn threshold(&self) -> f32 {
        self.scoring.threshold
    }

    /// The event in progress: frames above the threshold, reported once they end.
    pub fn open_event(&self) -> Option<&AnomalyEvent> {
        self.scoring.open.as_ref()
    }

    /// Replaces the model's threshold (infinite: never an event).
    pub fn set_threshold(&mut self, threshold: f32) -> Result<(), DetectorError> {
        check("threshold", threshold.into(), threshold >= 0.0, "0..")?;
        self.scoring.threshold = threshold;
        Ok(())
    }

    /// Pushes samples (for a values model, one value per row; for a model of several
    /// channels, interleaved sample frames, or rows of one value per channel); `out` hears
    /// every score and event of the windows they complete. A chunk with a NaN or infinite
    /// sample, or with a partial sample frame, is rejected whole.
    pub fn push(
        &mut self,
        samples: &[f32],
        mut out: impl FnMut(AnomalyOutput),
    ) -> Result<(), DetectorError> {
        let scoring = &mut self.scoring;
        let Some(frontend) = self.frontend.as_mut() else {
            let channels = scoring.model.channels();
            if !samples.len().is_multiple_of(channels) {
                return Err(DetectorError::Samples(ProcessError::PartialFrame {
                    channels,
                    len: samples.len(),
                }));
            }
            if let Some(index) = samples.iter().position(|v| !v.is_finite()) {
                return Err(DetectorError::Samples(ProcessError::NonFinite {
                    index,
                    value: samples[index],
                }));
            }
            for row in samples.chunks_exact(channels) {
                scoring.on_frame(row, &mut out)?;
            }
            return scoring.flush(&mut out);
        };
        let mut result = Ok(());
        frontend.process(samples, |frame| {
            if result.is_ok() {
                result = scoring.on_frame(frame, &mut out);
            }
        })?;
        result?;
        scoring.flush(&mut out)
    }

    /// Pushes feature frames computed elsewhere ([`AnomalyModel::frame_values`] values each:
    /// every channel's features, channel 0 first; in order).
    pub fn push_frames(
        &mut self,
        frames: &[f32],
        mut out: impl FnMut(AnomalyOutput),
    ) -> Result<(), DetectorError> {
        let scoring = &mut self.scoring;
        check_frames(frames, scoring.frame_values)?;
        for frame in frames.chunks_exact(scoring.frame_values) {
            scoring.on_frame(frame, &mut out)?;
        }
        scoring.flush(&mut out)
    }

    /// Ends the stream: scores what is pending and closes an open event. The scorer then
    /// starts a new stream.
    pub fn finish(&mut self, mut out: impl FnMut(AnomalyOutput)) -> Result<(), DetectorError> {
        let scoring = &mut self.scoring;
        let mut result = Ok(());
        if let Some(frontend) = self.frontend.as_mut() {
            frontend.finish(|frame| {
                if result.is_ok() {
                    result = scoring.on_frame(frame, &mut out);
                }
            });
        }
        let result = result.and_then(|()| scoring.flush(&mut out));
        if let Some(event) = scoring.open.take() {
            out(AnomalyOutput::Event(event));
        }
        scoring.frames_seen = 0;
        scoring.recent_len = 0;
        scoring.recent_next = 0;
        scoring.pending.clear();
        scoring.pending_index.clear();
        if let Some(frontend) = self.frontend.as_mut() {
            frontend.reset();
        }
        result
    }
}

impl Scoring {
    fn on_frame(
        &mut self,
        frame: &[f32],
        out: &mut impl FnMut(AnomalyOutput),
    ) -> Result<(), DetectorError> {
        let n = self.frame_values;
        self.window.copy_within(n.., 0);
        let end = self.window.len();
        self.window[end - n..].copy_from_slice(frame);
        self.frames_seen += 1;
        if self.frames_seen >= self.model.context_frames() as u64 {
            self.pending.extend_from_slice(&self.window);
            self.pending_index.push(self.frames_seen - 1);
            if self.pending_index.len() == self.model.max_batch {
                self.flush(out)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut impl FnMut(AnomalyOutput)) -> Result<(), DetectorError> {
        let n = self.pending_index.len();
        if n == 0 {
            return Ok(());
        }
        let result = self
            .model
            .errors_with(&mut self.runner, &self.pending, &mut self.errors[..n]);
        self.pending.clear();
        result?;
        for i in 0..n {
            let index = self.pending_index[i];
            let score = self.errors[i];
            let k = self.recent.len();
            self.recent[self.recent_next] = score;
            self.recent_next = (self.recent_next + 1) % k;
            self.recent_len = (self.recent_len + 1).min(k);
            let smoothed =
                self.recent.iter().take(self.recent_len).sum::<f32>() / self.recent_len as f32;
            let time = index as f64 * self.hop_seconds + self.frame_seconds;
            out(AnomalyOutput::Score(FrameScore {
                index,
                time,
                score,
                smoothed,
            }));
            // Events only once the span is full: a mean of fewer scores (the first frames of a
            // stream) varies more than the scores the threshold was calibrated on, and a
            // stream's first window, cut anywhere, fired alone on normal clips.
            if smoothed > self.threshold && self.recent_len == k {
                match &mut self.open {
                    Some(event) => {
                        event.end = time;
                        event.end_index = index;
                        event.peak = event.peak.max(smoothed);
                    }
                    None => {
                        self.open = Some(AnomalyEvent {
                            start: time,
                            end: time,
                            peak: smoothed,
                            start_index: index,
                            end_index: index,
                        });
                    }
                }
            } else if let Some(event) = self.open.take() {
                out(AnomalyOutput::Event(event));
            }
        }
        self.pending_index.clear();
        Ok(())
    }
}

/// How the threshold is set from the smoothed scores of the held-back normal data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calibration {
    /// A gamma distribution fitted to the scores (by their mean and variance, as the DCASE
    /// 2020 task 2 baseline does), at the quantile where a normal frame exceeds it with this
    /// probability; never below the highest held-back score.
    Gamma {
        /// Probability per frame (1e-5: about one frame an hour at 31 frames per second).
        false_alarm: f64,
    },
    /// This percentile of the scores themselves.
    Percentile(f64),
}

/// How [`fit_anomaly`] fits and calibrates.
#[derive(Debug, Clone, PartialEq)]
pub struct FitParams {
    /// The autoencoder and its training.
    pub train: TrainParams,
    /// Consecutive frames per window.
    pub context_frames: usize,
    /// Scores averaged for the smoothed score.
    pub smoothing_frames: usize,
    /// How the threshold is set.
    pub calibration: Calibration,
    /// The fraction at the end of every recording held back for calibration.
    pub holdout: f64,
    /// Input channels whose feature frames the recordings hold side by side (1: one
    /// channel); written to the model as `hark.anomaly.channels` when above 1.
    pub channels: usize,
}

impl Default for FitParams {
    fn default() -> Self {
        FitParams {
            train: TrainParams::default(),
            context_frames: 5,
            smoothing_frames: 8,
            calibration: Calibration::Gamma { false_alarm: 1e-5 },
            holdout: 0.15,
            channels: 1,
        }
    }
}

/// What [`fit_anomaly`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// Windows trained on.
    pub train_windows: usize,
    /// Held-back windows the threshold comes from.
    pub holdout_windows: usize,
    /// Values per window.
    pub dim: usize,
    /// Weights and biases of the autoencoder.
    pub parameters: usize,
    /// Multiply-adds per window.
    pub multiply_adds: usize,
    /// Passes over the training windows.
    pub epochs: usize,
    /// Mean training loss of the last epoch.
    pub final_loss: f32,
    /// Median smoothed score of the held-back windows.
    pub holdout_median: f32,
    /// The calibrated threshold.
    pub threshold: f32,
}

/// Starting points for the three kinds of data [`fit_anomaly`] is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyPreset {
    /// Machine sounds: [`FeatureConfig::machine`] (16 kHz, 64-band log-mel in dB of 64-ms
    /// frames every 32 ms), windows of 5 frames (the DCASE 2020 task 2 baseline's layout, with
    /// half its bands), scores smoothed over 8 frames (a quarter of a second).
    Audio,
    /// Vibration and other fast sensors at their own rate (1 kHz to 48 kHz): 64 equal bands
    /// up to Nyquist (dB) of frames of about 1/16 s (a power of two, 128 to 4096 samples) with
    /// half overlap, windows of 5 frames, scores smoothed over 8 frames.
    Vibration,
    /// Slow metrics (temperatures, loads, rates), one value per row: windows of 32 values,
    /// scores smoothed over 3.
    Metric,
}

impl AnomalyPreset {
    /// What the model reads, for data at `rate` (used by [`Vibration`](Self::Vibration)).
    pub fn input(self, rate: SampleRate) -> AnomalyInput {
        match self {
            AnomalyPreset::Audio => AnomalyInput::Features(FeatureConfig::machine()),
            AnomalyPreset::Vibration => {
                let frame = (rate.hz() as usize / 16)
                    .next_power_of_two()
                    .clamp(128, 4096);
                AnomalyInput::Features(FeatureConfig {
                    frame_length: frame,
                    hop_length: frame / 2,
                    window_length: frame,
                    n_fft: frame,
                    ..FeatureConfig::vibration(rate)
                })
            }
            AnomalyPreset::Metric => AnomalyInput::Values,
        }
    }

    /// The fitting settings.
    pub fn fit_params(self) -> FitParams {
        match self {
            AnomalyPreset::Audio | AnomalyPreset::Vibration => FitParams::default(),
            AnomalyPreset::Metric => FitParams {
                context_frames: 32,
                smoothing_frames: 3,
                train: TrainParams {
                    hidden: vec![16, 4],
                    ..TrainParams::default()
                },
                ..FitParams::default()
            },
        }
    }
}

/// Fewest held-back windows the threshold is calibrated on.
pub const MIN_HOLDOUT_WINDOWS: usize = 50;

/// Fits an autoencoder to normal data and calibrates its threshold: the ONNX file's bytes
/// (metadata included) and a report.
///
/// `recordings` holds each normal recording's frames (`params.channels ×
/// input.n_features()` values per frame, channel 0's features first, frame after frame);
/// windows never span two recordings. The last `holdout` of
/// every recording is held back: the threshold is the `percentile` of its smoothed scores,
/// computed by the same [`AnomalyScorer`] that scores new data. `progress` hears
/// `(epoch, epochs, loss)`.
pub fn fit_anomaly(
    input: AnomalyInput,
    recordings: &[Vec<f32>],
    params: &FitParams,
    mut progress: impl FnMut(usize, usize, f32),
) -> Result<(Vec<u8>, FitReport), DetectorError> {
    let bad = |problem: String| DetectorError::Fit(problem);
    if !(1..=MAX_CHANNELS).contains(&params.channels) {
        return Err(bad(format!(
            "{} channels: a model takes 1 to {MAX_CHANNELS}",
            params.channels
        )));
    }
    let n = params.channels * input.n_features();
    let context = params.context_frames.max(1);
    let dim = context * n;
    if !(params.holdout > 0.0 && params.holdout < 1.0) {
        return Err(bad(format!(
            "the held-back fraction must be between 0 and 1, not {}",
            params.holdout
        )));
    }
    match params.calibration {
        Calibration::Gamma { false_alarm } if !(false_alarm > 0.0 && false_alarm < 1.0) => {
            return Err(bad(format!(
                "the false-alarm probability must be between 0 and 1, not {false_alarm}"
            )));
        }
        Calibration::Percentile(p) if !(p > 0.0 && p <= 100.0) => {
            return Err(bad(format!("the percentile must be in (0, 100], not {p}")));
        }
        _ => {}
    }
    // Training windows are slices of the recordings' frames (recording, first frame), not
    // copies: consecutive windows overlap in all but one frame, so copies would take
    // `context` times the memory of the frames.
    let mut train: Vec<(usize, usize)> = Vec::new();
    let mut holdout: Vec<&[f32]> = Vec::new();
    let mut holdout_windows = 0;
    for (r, frames) in recordings.iter().enumerate() {
        if !frames.len().is_multiple_of(n) {
            return Err(bad(format!(
                "a recording has {} values, not a multiple of {n}",
                frames.len()
            )));
        }
        if frames.iter().any(|v| !v.is_finite()) {
            return Err(bad("a recording has a value that is not finite".into()));
        }
        let count = frames.len() / n;
        let split = ((count as f64) * (1.0 - params.holdout)).round() as usize;
        train.extend((0..(split + 1).saturating_sub(context)).map(|start| (r, start)));
        // The held-back part starts `context - 1` frames early, so its first window is the
        // first one after the training windows.
        let from = split.saturating_sub(context - 1);
        if count >= from + context {
            holdout_windows += count - from - context + 1;
            holdout.push(&frames[from * n..]);
        }
    }
    let train_windows = train.len();
    if train_windows < MIN_HOLDOUT_WINDOWS || holdout_windows < MIN_HOLDOUT_WINDOWS {
        return Err(bad(format!(
            "too little normal data: {train_windows} training and {holdout_windows} held-back \
             windows of {context} frames; at least {MIN_HOLDOUT_WINDOWS} of each are needed"
        )));
    }
    let window = |&(r, start): &(usize, usize)| &recordings[r][start * n..(start + context) * n];
    // Per-dimension statistics; a dimension that hardly varies gets a floor of 5 % of the
    // mean deviation, so a tiny change there does not dominate every score.
    let mut sums = vec![0.0f64; dim];
    for w in &train {
        for (s, &v) in sums.iter_mut().zip(window(w)) {
            *s += f64::from(v);
        }
    }
    let mean: Vec<f32> = sums
        .iter()
        .map(|s| (s / train_windows as f64) as f32)
        .collect();
    let mut squares = vec![0.0f64; dim];
    for w in &train {
        for ((s, &v), &m) in squares.iter_mut().zip(window(w)).zip(&mean) {
            *s += (f64::from(v) - f64::from(m)).powi(2);
        }
    }
    let mut std: Vec<f32> = squares
        .iter()
        .map(|s| (s / train_windows as f64).sqrt() as f32)
        .collect();
    // Normal data that never changes (digital silence, a muted input, a sensor stuck at one
    // reading) would give a threshold of 0, and every later input an absurd score.
    if std
        .iter()
        .zip(&mean)
        .all(|(&s, &m)| s <= 1e-6 * m.abs().max(1.0))
    {
        return Err(bad(format!(
            "the normal data does not vary: each of the {dim} values of every window is the \
             same throughout (digital silence, a muted input or a sensor stuck at one reading?)"
        )));
    }
    let floor = (std.iter().sum::<f32>() / dim as f32 * 0.05).max(1e-6);
    for s in &mut std {
        *s = s.max(floor);
    }
    let mut epochs = 0;
    let mut final_loss = 0.0;
    let net = train_rows(
        train_windows,
        dim,
        |i, row| {
            // ndarray's Zip runs over contiguous slices, where the loop vectorises.
            ndarray::Zip::from(row)
                .and(ArrayView1::from(window(&train[i])))
                .and(ArrayView1::from(&mean[..]))
                .and(ArrayView1::from(&std[..]))
                .for_each(|x, &v, &m, &s| *x = (v - m) / s);
        },
        &params.train,
        |epoch, total, loss| {
            epochs = total;
            final_loss = loss;
            progress(epoch, total, loss);
        },
    );
    let list = |v: &[f32]| {
        v.iter()
            .map(|x| format!("{x}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut metadata = vec![
        (keys::KIND.to_string(), "anomaly".to_string()),
        (
            keys::ANOMALY_INPUT.to_string(),
            match &input {
                AnomalyInput::Features(_) => "features",
                AnomalyInput::Values => "values",
            }
            .to_string(),
        ),
        (keys::ANOMALY_CONTEXT.to_string(), context.to_string()),
        (
            keys::ANOMALY_SMOOTHING.to_string(),
            params.smoothing_frames.max(1).to_string(),
        ),
        (keys::ANOMALY_MEAN.to_string(), list(&mean)),
        (keys::ANOMALY_STD.to_string(), list(&std)),
        (keys::ANOMALY_THRESHOLD.to_string(), "inf".to_string()),
    ];
    if let AnomalyInput::Features(config) = &input {
        metadata.push((keys::FEATURE_CONFIG.to_string(), config.to_string()));
    }
    if params.channels > 1 {
        metadata.push((
            keys::ANOMALY_CHANNELS.to_string(),
            params.channels.to_string(),
        ));
    }
    let bytes = to_onnx(&net, &metadata);
    // Calibrate with the scorer itself, on the tract-loaded model.
    let model = AnomalyModel::from_bytes(&bytes)?;
    let rate = match &input {
        AnomalyInput::Features(c) => c.sample_rate,
        AnomalyInput::Values => SampleRate::HZ_16000,
    };
    let mut smoothed = Vec::with_capacity(holdout_windows);
    for frames in holdout {
        let mut scorer = AnomalyScorer::new(model.clone(), rate)?;
        scorer.push_frames(frames, |o| {
            if let AnomalyOutput::Score(s) = o {
                smoothed.push(s.smoothed);
            }
        })?;
    }
    smoothed.sort_by(f32::total_cmp);
    let (threshold, how) = calibrate(&smoothed, params.calibration);
    let holdout_median = percentile(&smoothed, 50.0);
    let bytes = set_metadata(
        &bytes,
        &[
            (keys::ANOMALY_THRESHOLD.to_string(), format!("{threshold}")),
            (
                keys::ANOMALY_CALIBRATION.to_string(),
                format!(
                    "{how} of the smoothed scores of {} held-back normal windows (median {holdout_median})",
                    smoothed.len()
                ),
            ),
        ],
    )
    .ok_or_else(|| bad("cannot re-encode the model".into()))?;
    Ok((
        bytes,
        FitReport {
            train_windows,
            holdout_windows: smoothed.len(),
            dim,
            parameters: net.parameters(),
            multiply_adds: net.multiply_adds(),
            epochs,
            final_loss,
            holdout_median,
            threshold,
        },
    ))
}

/// The threshold for sorted held-back scores, and how it was found.
fn calibrate(sorted: &[f32], calibration: Calibration) -> (f32, String) {
    use statrs::distribution::{ContinuousCDF, Gamma};
    match calibration {
        Calibration::Percentile(p) => (percentile(sorted, p), format!("percentile {p}")),
        Calibration::Gamma { false_alarm } => {
            let highest = sorted.last().copied().unwrap_or(0.0);
            let n = sorted.len() as f64;
            let mean = sorted.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = sorted
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n;
            let quantile = (mean > 0.0 && var > 0.0)
                .then(|| Gamma::new(mean * mean / var, mean / var).ok())
                .flatten()
                .map(|g| g.inverse_cdf(1.0 - false_alarm))
                .filter(|q| q.is_finite());
            match quantile {
                Some(q) if q as f32 >= highest => (
                    q as f32,
                    format!(
                        "gamma (shape {:.3}, scale {:.4}) quantile at false-alarm probability {false_alarm}",
                        mean * mean / var,
                        var / mean
                    ),
                ),
                _ => (highest, "the highest".to_string()),
            }
        }
    }
}

/// The `p`th percentile of sorted values, interpolated linearly between ranks.
fn percentile(sorted: &[f32], p: f64) -> f32 {
    match sorted.len() {
        0 => f32::NAN,
        len => {
            let rank = (p / 100.0).clamp(0.0, 1.0) * (len - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = rank.ceil() as usize;
            let w = (rank - lo as f64) as f32;
            sorted[lo] * (1.0 - w) + sorted[hi] * w
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use hark_dsp::Frontend;

    #[test]
    fn gamma_calibration_sits_in_the_tail() {
        // Scores from a gamma-like distribution: sums of 8 squared normals (chi-square, 8
        // degrees of freedom), made with a fixed generator.
        let mut state = 1u64;
        let mut normal = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((state >> 11) as f64 / (1u64 << 53) as f64).max(1e-300);
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = (state >> 11) as f64 / (1u64 << 53) as f64;
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let mut scores: Vec<f32> = (0..5000)
            .map(|_| (0..8).map(|_| normal().powi(2)).sum::<f64>() as f32)
            .collect();
        scores.sort_by(f32::total_cmp);
        let (t, how) = calibrate(&scores, Calibration::Gamma { false_alarm: 1e-5 });
        assert!(how.starts_with("gamma"), "{how}");
        // The chi-square(8) quantile at 1 - 1e-5 is 37.33.
        assert!((t - 37.33).abs() < 2.0, "{t}");
        let (t, _) = calibrate(&scores, Calibration::Gamma { false_alarm: 0.5 });
        assert_eq!(
            t,
            *scores.last().unwrap(),
            "never below the highest held-back score"
        );
        let (t, _) = calibrate(&[2.0; 10], Calibration::Gamma { false_alarm: 1e-5 });
        assert_eq!(t, 2.0, "constant scores");
    }

    #[test]
    fn percentile_interpolates() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 100.0), 5.0);
        assert_eq!(percentile(&v, 87.5), 4.5);
    }

    /// A slow sine with noise as normal data: the fitted model keeps its windows under the
    /// threshold and flags a step and a spike.
    #[test]
    fn values_model_fits_and_flags_a_level_shift() {
        let series = |n: usize, phase: f32| -> Vec<f32> {
            (0..n)
                .map(|i| {
                    let t = i as f32 + phase;
                    (t * 0.2).sin() + 0.05 * ((t * 12.9898).sin() * 43758.547).fract()
                })
                .collect()
        };
        let params = FitParams {
            context_frames: 16,
            smoothing_frames: 1,
            calibration: Calibration::Percentile(100.0),
            train: TrainParams {
                hidden: vec![16, 4],
                min_steps: 1500,
                ..TrainParams::default()
            },
            ..FitParams::default()
        };
        let (bytes, report) = fit_anomaly(
            AnomalyInput::Values,
            &[series(3000, 0.0)],
            &params,
            |_, _, _| {},
        )
        .unwrap();
        assert_eq!(report.dim, 16);
        assert!(report.threshold.is_finite() && report.threshold > 0.0);
        let model = AnomalyModel::from_bytes(&bytes).unwrap();
        assert_eq!(model.threshold(), report.threshold);
        assert_eq!(
            model.max_batch, BATCH,
            "the exported batch dimension is symbolic"
        );
        let mut test = series(600, 0.37);
        for v in &mut test[400..450] {
            *v += 2.0;
        }
        let mut scorer = AnomalyScorer::new(model, SampleRate::new(1).unwrap()).unwrap();
        let mut events = Vec::new();
        let mut scores = 0;
        scorer
            .push(&test, |o| match o {
                AnomalyOutput::Event(e) => events.push(e),
                AnomalyOutput::Score(_) => scores += 1,
            })
            .unwrap();
        scorer
            .finish(|o| {
                if let AnomalyOutput::Event(e) = o {
                    events.push(e)
                }
            })
            .unwrap();
        assert_eq!(scores, 600 - 15);
        assert!(!events.is_empty());
        for e in &events {
            assert!(
                (395..=470).contains(&e.start_index) && e.end_index <= 470,
                "{events:?}"
            );
        }
        assert!(events.iter().any(|e| e.start_index <= 402), "{events:?}");
    }

    #[test]
    fn too_little_data_is_a_clear_error() {
        let err = fit_anomaly(
            AnomalyInput::Values,
            &[vec![0.0; 40]],
            &FitParams::default(),
            |_, _, _| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("too little normal data"), "{err}");
    }

    /// Two channels of a 1-kHz sensor: a fitted model records them, and the scorer reads
    /// interleaved samples, gives every chunking the same scores, matches per-channel front
    /// ends stacked by hand, and rejects a half sample frame or a NaN whole.
    #[test]
    fn channels_stack_side_by_side() {
        let rate = SampleRate::new(1_000).unwrap();
        let input = AnomalyPreset::Vibration.input(rate);
        let AnomalyInput::Features(config) = input.clone() else {
            unreachable!("vibration reads features")
        };
        let interleaved = |seconds: usize, seed: f32| -> Vec<f32> {
            (0..seconds * 1_000)
                .flat_map(|i| {
                    let t = i as f32 / 1_000.0;
                    let hiss = ((i as f32 * 12.9898 + seed).sin() * 43758.547).fract() - 0.5;
                    [
                        (t * 50.0 * std::f32::consts::TAU).sin() + 0.1 * hiss,
                        0.3 * (t * 120.0 * std::f32::consts::TAU).sin() - 0.05 * hiss,
                    ]
                })
                .collect()
        };
        let stacked = |samples: &[f32]| -> Vec<f32> {
            let per_channel: Vec<Vec<f32>> = (0..2)
                .map(|c| {
                    let mut frontend = Frontend::new(rate, config.clone()).unwrap();
                    let own: Vec<f32> = samples.iter().skip(c).step_by(2).copied().collect();
                    let mut frames = Vec::new();
                    frontend
                        .process(&own, |f| frames.extend_from_slice(f))
                        .unwrap();
                    frames
                })
                .collect();
            let n = config.n_features();
            (0..per_channel[0].len() / n)
                .flat_map(|i| {
                    let (a, b) = (&per_channel[0], &per_channel[1]);
                    a[i * n..(i + 1) * n]
                        .iter()
                        .chain(&b[i * n..(i + 1) * n])
                        .copied()
                })
                .collect()
        };
        let params = FitParams {
            channels: 2,
            train: TrainParams {
                hidden: vec![16, 4],
                epochs: 2,
                ..TrainParams::default()
            },
            ..FitParams::default()
        };
        let normal = interleaved(60, 0.0);
        let (bytes, report) =
            fit_anomaly(input.clone(), &[stacked(&normal)], &params, |_, _, _| {}).unwrap();
        assert_eq!(report.dim, 5 * 2 * config.n_features());
        let model = AnomalyModel::from_bytes(&bytes).unwrap();
        assert_eq!(model.channels(), 2);
        assert_eq!(model.frame_values(), 2 * config.n_features());

        let test = interleaved(6, 7.0);
        let scores = |chunks: &mut dyn Iterator<Item = &[f32]>| {
            let mut scorer = AnomalyScorer::new(model.clone(), rate).unwrap();
            let mut scores = Vec::new();
            let mut sink = |o| {
                if let AnomalyOutput::Score(s) = o {
                    scores.push(s.score);
                }
            };
            for chunk in chunks {
                scorer.push(chunk, &mut sink).unwrap();
            }
            scorer.finish(&mut sink).unwrap();
            scores
        };
        let whole = scores(&mut std::iter::once(test.as_slice()));
        assert!(whole.len() > 40);
        let mut sizes = [2usize, 34, 1000, 6, 512].into_iter().cycle();
        let mut rest = test.as_slice();
        let mut pieces = Vec::new();
        while !rest.is_empty() {
            let n = sizes.next().unwrap().min(rest.len());
            pieces.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(
            scores(&mut pieces.into_iter()),
            whole,
            "chunking changed the scores"
        );
        let mut by_hand = AnomalyScorer::new(model.clone(), rate).unwrap();
        let mut hand = Vec::new();
        by_hand
            .push_frames(&stacked(&test), |o| {
                if let AnomalyOutput::Score(s) = o {
                    hand.push(s.score);
                }
            })
            .unwrap();
        assert_eq!(hand[..], whole[..hand.len()], "stacked by hand");

        let mut scorer = AnomalyScorer::new(model, rate).unwrap();
        let err = scorer.push(&test[..3], |_| {}).unwrap_err();
        assert!(err.to_string().contains("2 interleaved channels"), "{err}");
        let mut bad = test[..100].to_vec();
        bad[41] = f32::NAN;
        let err = scorer.push(&bad, |_| {}).unwrap_err();
        assert!(err.to_string().contains("41"), "{err}");
        // Nothing of the rejected chunks went in: the same scores as before.
        let mut again = Vec::new();
        scorer
            .push(&test, |o| {
                if let AnomalyOutput::Score(s) = o {
                    again.push(s.score);
                }
            })
            .unwrap();
        assert_eq!(again[..], whole[..again.len()]);

        let params = FitParams {
            channels: 65,
            ..params
        };
        let err = fit_anomaly(input, &[vec![0.0; 65 * 4000]], &params, |_, _, _| {}).unwrap_err();
        assert!(err.to_string().contains("1 to 64"), "{err}");
    }
}
