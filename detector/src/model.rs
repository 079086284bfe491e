//! [`KwsModel`]: a keyword model loaded with tract, with its labels, feature config and
//! thresholds read from the ONNX metadata.

use std::path::Path;
use std::sync::Arc;

use hark_dsp::FeatureConfig;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::ops::unimpl::UnimplementedOp;

use crate::error::DetectorError;

/// Largest model file accepted (the bundled ones are 41 and 68 KB).
pub const MAX_MODEL_BYTES: usize = 32 << 20;

/// The bundled 12-class Speech Commands window model (`models/kws/kws12.onnx`): what
/// [`KwsModel::bundled`] loads, for clips.
pub static BUNDLED_KWS: &[u8] = include_bytes!("../../models/kws/kws12.onnx");

/// The bundled 12-class Speech Commands streaming model (`models/kws/kws12_stream.onnx`): what
/// [`KwsModel::bundled_stream`] loads, for streams.
pub static BUNDLED_KWS_STREAM: &[u8] = include_bytes!("../../models/kws/kws12_stream.onnx");

/// Metadata keys of Hark models (keyword models, and `anomaly` ones).
pub mod keys {
    /// `kws` (a window model) or `kws-stream` (a streaming step model).
    pub const KIND: &str = "hark.kind";
    /// Comma-separated class names, in output order.
    pub const LABELS: &str = "hark.labels";
    /// [`FeatureConfig`](hark_dsp::FeatureConfig) in its text form.
    pub const FEATURE_CONFIG: &str = "hark.feature_config";
    /// Frames per model input window; for a streaming model, the frames its scores cover.
    pub const WINDOW_FRAMES: &str = "hark.window_frames";
    /// Streaming models only: new frames per step.
    pub const STEP_FRAMES: &str = "hark.step_frames";
    /// Streaming models only: the shapes of the state tensors carried from step to step
    /// (inputs 1.. and outputs 1..), without the batch dimension: `40x3,64x8,...`.
    pub const STATE_SHAPES: &str = "hark.state_shapes";
    /// `label:threshold` pairs, comma-separated; labels without one are never reported.
    pub const THRESHOLDS: &str = "hark.thresholds";
    /// Optional: the span in frames over which the stream detector should average the
    /// model's probabilities (absent: [`DEFAULT_SMOOTHING_FRAMES`](crate::DEFAULT_SMOOTHING_FRAMES)).
    pub const SMOOTHING_FRAMES: &str = "hark.smoothing_frames";
    /// Anomaly models: `features` (spectrogram frames, `hark.feature_config`) or `values`
    /// (the samples themselves, one per frame).
    pub const ANOMALY_INPUT: &str = "hark.anomaly.input";
    /// Anomaly models: consecutive frames per window.
    pub const ANOMALY_CONTEXT: &str = "hark.anomaly.context_frames";
    /// Anomaly models, optional (absent: 1): input channels whose feature frames are stacked
    /// side by side in every frame of the window, channel 0 first (the axes of a vibration
    /// sensor, the microphones of an array).
    pub const ANOMALY_CHANNELS: &str = "hark.anomaly.channels";
    /// Anomaly models: scores averaged into the smoothed score.
    pub const ANOMALY_SMOOTHING: &str = "hark.anomaly.smoothing_frames";
    /// Anomaly models: per-dimension means of a window, comma-separated.
    pub const ANOMALY_MEAN: &str = "hark.anomaly.mean";
    /// Anomaly models: per-dimension standard deviations of a window, comma-separated.
    pub const ANOMALY_STD: &str = "hark.anomaly.std";
    /// Anomaly models: the threshold of the smoothed score (`inf`: no events).
    pub const ANOMALY_THRESHOLD: &str = "hark.anomaly.threshold";
    /// Anomaly models, informative: how the threshold was calibrated.
    pub const ANOMALY_CALIBRATION: &str = "hark.anomaly.calibration";
}

/// A keyword-spotting model, of one of two kinds:
///
/// - a window model (`hark.kind = kws`): input `(1, window_frames, n_features)` features,
///   output `(1, labels)` probabilities;
/// - a streaming model (`hark.kind = kws-stream`): inputs `(1, step_frames, n_features)` new
///   features and the state tensors (`hark.state_shapes`), outputs `(1, labels)`
///   probabilities and the next state tensors. It caches its convolution inputs in the
///   state, so each step only computes what the new frames change; from a zero state,
///   `window_frames / step_frames` steps give the scores of one window.
#[derive(Debug, Clone)]
pub struct KwsModel {
    plan: Arc<TypedRunnableModel>,
    labels: Vec<String>,
    config: FeatureConfig,
    window_frames: usize,
    stream: Option<StreamShape>,
    thresholds: Vec<Option<f32>>,
    smoothing_frames: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamShape {
    step_frames: usize,
    /// Each state tensor's shape, batch dimension first.
    states: Vec<Vec<usize>>,
}

/// The state a streaming model carries from one step to the next
/// ([`KwsModel::new_state`], [`KwsModel::step`]), with the tract runner kept between steps.
pub struct StreamState {
    /// The state tensors, handed to each run and replaced by its outputs (no copies).
    values: TVec<TValue>,
    /// The zero state, for [`reset`](Self::reset).
    zeros: TVec<TValue>,
    runner: TypedSimpleState,
}

impl std::fmt::Debug for StreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamState")
            .field("tensors", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl StreamState {
    /// Back to the state of a stream that has just started.
    pub fn reset(&mut self) {
        self.values.clone_from(&self.zeros);
    }
}

impl KwsModel {
    /// The bundled 12-class window model: the one for clips ([`classify`](Self::classify)).
    pub fn bundled() -> Result<Self, DetectorError> {
        Self::from_bytes(BUNDLED_KWS)
    }

    /// The bundled 12-class streaming model: the one for streams ([`Pipeline`](crate::Pipeline)),
    /// a small share of the window model's CPU there (the figures are in the model card).
    pub fn bundled_stream() -> Result<Self, DetectorError> {
        Self::from_bytes(BUNDLED_KWS_STREAM)
    }

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
        if kind != "kws" && kind != "kws-stream" {
            return Err(DetectorError::Metadata {
                key: keys::KIND,
                problem: format!("{kind:?} is not a keyword model (kws or kws-stream)"),
            });
        }
        let labels: Vec<String> = meta(keys::LABELS)?
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        if labels.len() < 2 || labels.iter().any(String::is_empty) {
            return Err(DetectorError::Metadata {
                key: keys::LABELS,
                problem: "needs at least two non-empty labels".into(),
            });
        }
        let mut unique = labels.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != labels.len() {
            return Err(DetectorError::Metadata {
                key: keys::LABELS,
                problem: "labels must be unique".into(),
            });
        }
        let config: FeatureConfig =
            meta(keys::FEATURE_CONFIG)?
                .parse()
                .map_err(|e: hark_dsp::ConfigError| DetectorError::Metadata {
                    key: keys::FEATURE_CONFIG,
                    problem: e.to_string(),
                })?;
        let window_frames: usize =
            meta(keys::WINDOW_FRAMES)?
                .parse()
                .map_err(|_| DetectorError::Metadata {
                    key: keys::WINDOW_FRAMES,
                    problem: "not a whole number".into(),
                })?;
        if window_frames == 0 || window_frames > 10_000 {
            return Err(DetectorError::Metadata {
                key: keys::WINDOW_FRAMES,
                problem: format!("{window_frames} is out of range"),
            });
        }
        let mut thresholds = vec![None; labels.len()];
        for pair in meta(keys::THRESHOLDS)?.split(',').filter(|p| !p.is_empty()) {
            let bad = || DetectorError::Metadata {
                key: keys::THRESHOLDS,
                problem: format!("{pair:?} is not label:threshold with 0 < threshold <= 1"),
            };
            let (label, value) = pair.split_once(':').ok_or_else(bad)?;
            let value: f32 = value.parse().map_err(|_| bad())?;
            let index = labels.iter().position(|l| l == label).ok_or_else(bad)?;
            if !(value > 0.0 && value <= 1.0) {
                return Err(bad());
            }
            thresholds[index] = Some(value);
        }
        let smoothing_frames = match metadata(&model, keys::SMOOTHING_FRAMES) {
            Err(_) => None,
            Ok(text) => Some(
                text.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0 && n <= 10_000)
                    .ok_or_else(|| DetectorError::Metadata {
                        key: keys::SMOOTHING_FRAMES,
                        problem: format!("{text:?} is not a whole number of frames in 1..=10000"),
                    })?,
            ),
        };
        let n_features = config.n_features();
        let stream = if kind == "kws-stream" {
            let number = |key: &'static str| -> Result<usize, DetectorError> {
                meta(key)?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0 && n <= 1 << 20)
                    .ok_or(DetectorError::Metadata {
                        key,
                        problem: "not a whole number in range".into(),
                    })
            };
            let step_frames = number(keys::STEP_FRAMES)?;
            if !window_frames.is_multiple_of(step_frames) {
                return Err(DetectorError::Metadata {
                    key: keys::STEP_FRAMES,
                    problem: format!("{step_frames} does not divide the window ({window_frames})"),
                });
            }
            let text = meta(keys::STATE_SHAPES)?;
            let bad = || DetectorError::Metadata {
                key: keys::STATE_SHAPES,
                problem: format!("{text:?} is not a list of shapes such as 40x3,64x8"),
            };
            let mut states = Vec::new();
            for shape in text.split(',') {
                let mut dims = vec![1];
                for d in shape.split('x') {
                    dims.push(
                        d.trim()
                            .parse::<usize>()
                            .ok()
                            .filter(|&d| d > 0 && d <= 1 << 16)
                            .ok_or_else(bad)?,
                    );
                }
                states.push(dims);
            }
            if states.is_empty()
                || states
                    .iter()
                    .map(|s| s.iter().product::<usize>())
                    .sum::<usize>()
                    > 1 << 22
            {
                return Err(bad());
            }
            Some(StreamShape {
                step_frames,
                states,
            })
        } else {
            None
        };
        let typed = match &stream {
            None => model.with_input_fact(0, f32::fact([1, window_frames, n_features]).into()),
            Some(s) => {
                let mut typed =
                    model.with_input_fact(0, f32::fact([1, s.step_frames, n_features]).into());
                for (i, shape) in s.states.iter().enumerate() {
                    typed = typed.and_then(|m| m.with_input_fact(i + 1, f32::fact(shape).into()));
                }
                typed
            }
        };
        let expected = match &stream {
            None => format!("input (1, {window_frames}, {n_features})"),
            Some(s) => format!(
                "inputs (1, {}, {n_features}) and states {:?}",
                s.step_frames, s.states
            ),
        };
        let plan = typed
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| DetectorError::Shape {
                expected: expected.clone(),
                found: format!("a graph that does not take them: {e:#}"),
            })?;
        let outputs = plan.model().outputs.len();
        let want_outputs = 1 + stream.as_ref().map_or(0, |s| s.states.len());
        if outputs != want_outputs {
            return Err(DetectorError::Shape {
                expected: format!("{want_outputs} outputs"),
                found: format!("{outputs}"),
            });
        }
        let kws = KwsModel {
            plan,
            labels,
            config,
            window_frames,
            stream,
            thresholds,
            smoothing_frames,
        };
        // One run checks the output shapes (and warms tract up).
        let probs = kws.predict(&vec![0.0; window_frames * n_features])?;
        if probs.len() != kws.labels.len() {
            return Err(DetectorError::Shape {
                expected: format!("{} outputs (one per label)", kws.labels.len()),
                found: format!("{} outputs", probs.len()),
            });
        }
        Ok(kws)
    }

    /// Class names, in output order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The features the model was trained on.
    pub fn feature_config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Frames per input window.
    pub fn window_frames(&self) -> usize {
        self.window_frames
    }

    /// For a streaming model, the new frames each [`step`](Self::step) takes; `None` for a
    /// window model.
    pub fn step_frames(&self) -> Option<usize> {
        self.stream.as_ref().map(|s| s.step_frames)
    }

    /// The smoothing span the model recommends (`hark.smoothing_frames`), if it names one.
    pub fn smoothing_frames(&self) -> Option<usize> {
        self.smoothing_frames
    }

    /// Values per input window (`window_frames * n_features`).
    pub fn input_len(&self) -> usize {
        self.window_frames * self.config.n_features()
    }

    /// The recommended threshold of each label; `None` for labels that are not keywords
    /// (`_unknown_`, `_silence_`).
    pub fn thresholds(&self) -> &[Option<f32>] {
        &self.thresholds
    }

    /// Index of a label.
    pub fn label_index(&self, label: &str) -> Result<usize, DetectorError> {
        self.labels
            .iter()
            .position(|l| l == label)
            .ok_or_else(|| DetectorError::UnknownLabel {
                label: label.to_string(),
                known: self.labels.join(", "),
            })
    }

    /// Checks that a front end computes the features this model needs.
    pub fn check_features(&self, frontend: &FeatureConfig) -> Result<(), DetectorError> {
        if *frontend == self.config {
            Ok(())
        } else {
            Err(DetectorError::FeatureMismatch {
                model: self.config.to_string(),
                frontend: frontend.to_string(),
            })
        }
    }

    /// Class probabilities for one window of features, frame after frame.
    pub fn predict(&self, window: &[f32]) -> Result<Vec<f32>, DetectorError> {
        let mut out = vec![0.0; self.labels.len()];
        self.predict_into(window, &mut out)?;
        Ok(out)
    }

    /// [`predict`](Self::predict) into a caller buffer of one value per label. A streaming
    /// model runs its steps over the window from a zero state.
    pub fn predict_into(&self, window: &[f32], out: &mut [f32]) -> Result<(), DetectorError> {
        if window.len() != self.input_len() {
            return Err(DetectorError::InputLength {
                expected: self.input_len(),
                actual: window.len(),
            });
        }
        match &self.stream {
            None => {
                let shape = [1, self.window_frames, self.config.n_features()];
                self.run(&shape, window, out)
            }
            Some(s) => {
                let mut state = self.new_state()?;
                let step = s.step_frames * self.config.n_features();
                for chunk in window.chunks(step) {
                    self.step(chunk, &mut state, out)?;
                }
                Ok(())
            }
        }
    }

    /// A zero state for [`step`](Self::step): the state of a stream that has just started.
    /// An error for a window model.
    pub fn new_state(&self) -> Result<StreamState, DetectorError> {
        let s = self.stream.as_ref().ok_or(DetectorError::NotStreaming)?;
        let runner = self
            .plan
            .spawn()
            .map_err(|e| DetectorError::Run(format!("{e:#}")))?;
        let zeros: TVec<TValue> = s
            .states
            .iter()
            .map(|shape| Tensor::zero::<f32>(shape).map(TValue::from))
            .collect::<Result<_, _>>()
            .map_err(|e| DetectorError::Run(format!("{e:#}")))?;
        Ok(StreamState {
            values: zeros.clone(),
            zeros,
            runner,
        })
    }

    /// One step of a streaming model: `step_frames` new frames (frame after frame), the
    /// probabilities of the window that ends with them into `out`, and `state` advanced.
    pub fn step(
        &self,
        frames: &[f32],
        state: &mut StreamState,
        out: &mut [f32],
    ) -> Result<(), DetectorError> {
        let s = self.stream.as_ref().ok_or(DetectorError::NotStreaming)?;
        let n = s.step_frames * self.config.n_features();
        if frames.len() != n {
            return Err(DetectorError::InputLength {
                expected: n,
                actual: frames.len(),
            });
        }
        if state.values.len() != s.states.len() {
            return Err(DetectorError::InputLength {
                expected: s.states.len(),
                actual: state.values.len(),
            });
        }
        let shape = [1, s.step_frames, self.config.n_features()];
        let run = |e: TractError| DetectorError::Run(format!("{e:#}"));
        let mut inputs: TVec<TValue> =
            tvec!(Tensor::from_shape(&shape, frames).map_err(run)?.into());
        inputs.extend(state.values.iter().cloned());
        let mut result = state.runner.run(inputs).map_err(run)?;
        copy_output(&result, 0, out, "probability")?;
        for (i, want) in s.states.iter().enumerate() {
            match result.get(i + 1) {
                Some(next) if next.shape() == want.as_slice() => {}
                next => {
                    return Err(DetectorError::Shape {
                        expected: format!("next state {i} of shape {want:?}"),
                        found: next.map_or("none".into(), |n| format!("{:?}", n.shape())),
                    });
                }
            }
        }
        state.values = result.drain(1..).collect();
        Ok(())
    }

    fn run(&self, shape: &[usize], input: &[f32], out: &mut [f32]) -> Result<(), DetectorError> {
        let run = |e: TractError| DetectorError::Run(format!("{e:#}"));
        let features = Tensor::from_shape(shape, input).map_err(run)?;
        let result = self.plan.run(tvec!(features.into())).map_err(run)?;
        copy_output(&result, 0, out, "probability")
    }
}

/// Parses the bytes of an ONNX file (at most [`MAX_MODEL_BYTES`]).
pub(crate) fn parse_onnx(bytes: &[u8]) -> Result<InferenceModel, DetectorError> {
    if bytes.len() > MAX_MODEL_BYTES {
        return Err(DetectorError::TooLarge {
            size: bytes.len(),
            limit: MAX_MODEL_BYTES,
        });
    }
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| DetectorError::Load(format!("{e:#}")))?;
    // tract parses an operator it does not know into a placeholder that fails later with a
    // message about typing; name it here instead.
    if let Some(node) = model.nodes().iter().find(|n| n.op_is::<UnimplementedOp>()) {
        let name = node.op().name();
        let op = name
            .strip_prefix("Unimplemented(")
            .and_then(|n| n.strip_suffix(')'))
            .unwrap_or(&name);
        return Err(DetectorError::UnsupportedOperator {
            op: op.to_string(),
            node: node.name.clone(),
        });
    }
    Ok(model)
}

/// The `hark.kind` of a model file's bytes (`kws`, `kws-stream` or `anomaly`), to pick its
/// loader: [`KwsModel`] or [`AnomalyModel`](crate::AnomalyModel).
pub fn model_kind(bytes: &[u8]) -> Result<String, DetectorError> {
    metadata(&parse_onnx(bytes)?, keys::KIND)
}

/// A `hark.*` metadata entry of a parsed model.
pub(crate) fn metadata(model: &InferenceModel, key: &'static str) -> Result<String, DetectorError> {
    model
        .properties
        .get(&format!("onnx.metadata_props.{key}"))
        .and_then(|t| {
            t.try_as_plain_ram()
                .ok()
                .and_then(|v| v.to_scalar::<String>().ok().cloned())
        })
        .ok_or(DetectorError::Metadata {
            key,
            problem: "missing (not a Hark model?)".into(),
        })
}

/// Checks frames handed over from a front end elsewhere: whole frames of `n` finite values.
pub(crate) fn check_frames(frames: &[f32], n: usize) -> Result<(), DetectorError> {
    if !frames.len().is_multiple_of(n) {
        return Err(DetectorError::Shape {
            expected: format!("a multiple of {n} feature values"),
            found: format!("{} values", frames.len()),
        });
    }
    if let Some(index) = frames.iter().position(|v| !v.is_finite()) {
        return Err(DetectorError::Shape {
            expected: "finite feature values".into(),
            found: format!("{} at value {index}", frames[index]),
        });
    }
    Ok(())
}

/// Copies output `index` of a run into `out`, checking its length.
fn copy_output(
    result: &TVec<TValue>,
    index: usize,
    out: &mut [f32],
    what: &str,
) -> Result<(), DetectorError> {
    let run = |e: TractError| DetectorError::Run(format!("{e:#}"));
    let output = result
        .get(index)
        .ok_or_else(|| DetectorError::Run(format!("the model has no {what} output")))?;
    let view = output.try_as_plain_ram().map_err(run)?;
    let values = view.as_slice::<f32>().map_err(run)?;
    if values.len() != out.len() {
        return Err(DetectorError::Shape {
            expected: format!("{} {what} values", out.len()),
            found: format!("{}", values.len()),
        });
    }
    out.copy_from_slice(values);
    Ok(())
}
