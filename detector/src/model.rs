//! [`KwsModel`]: a keyword model loaded with tract, with its labels, feature config and
//! thresholds read from the ONNX metadata.

use std::path::Path;
use std::sync::Arc;

use hark_dsp::FeatureConfig;
use tract_onnx::prelude::*;

use crate::error::DetectorError;

/// Largest model file accepted (the bundled one is about 160 KB).
pub const MAX_MODEL_BYTES: usize = 32 << 20;

/// The bundled 12-class Speech Commands model (`models/kws/kws12.onnx`).
pub static BUNDLED_KWS: &[u8] = include_bytes!("../../models/kws/kws12.onnx");

/// Metadata keys every Hark keyword model carries.
pub mod keys {
    /// `kws`.
    pub const KIND: &str = "hark.kind";
    /// Comma-separated class names, in output order.
    pub const LABELS: &str = "hark.labels";
    /// [`FeatureConfig`](hark_dsp::FeatureConfig) in its text form.
    pub const FEATURE_CONFIG: &str = "hark.feature_config";
    /// Frames per model input window.
    pub const WINDOW_FRAMES: &str = "hark.window_frames";
    /// `label:threshold` pairs, comma-separated; labels without one are never reported.
    pub const THRESHOLDS: &str = "hark.thresholds";
}

/// A keyword-spotting model: input `(1, window_frames, n_features)` features, output
/// `(1, labels)` probabilities.
#[derive(Debug, Clone)]
pub struct KwsModel {
    plan: Arc<TypedRunnableModel>,
    labels: Vec<String>,
    config: FeatureConfig,
    window_frames: usize,
    thresholds: Vec<Option<f32>>,
}

impl KwsModel {
    /// The bundled 12-class model.
    pub fn bundled() -> Result<Self, DetectorError> {
        Self::from_bytes(BUNDLED_KWS)
    }

    /// Loads a model file.
    pub fn from_path(path: &Path) -> Result<Self, DetectorError> {
        let bytes = std::fs::read(path)
            .map_err(|e| DetectorError::Load(format!("{}: {e}", path.display())))?;
        Self::from_bytes(&bytes)
    }

    /// Loads a model from the bytes of an ONNX file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DetectorError> {
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(DetectorError::TooLarge {
                size: bytes.len(),
                limit: MAX_MODEL_BYTES,
            });
        }
        let load = |e: TractError| DetectorError::Load(format!("{e:#}"));
        let mut reader = bytes;
        let model = tract_onnx::onnx()
            .model_for_read(&mut reader)
            .map_err(load)?;
        let meta = |key: &'static str| -> Result<String, DetectorError> {
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
        };
        let kind = meta(keys::KIND)?;
        if kind != "kws" {
            return Err(DetectorError::Metadata {
                key: keys::KIND,
                problem: format!("{kind:?} is not a keyword model"),
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
        let n_features = config.n_features();
        let plan = model
            .with_input_fact(0, f32::fact([1, window_frames, n_features]).into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| DetectorError::Shape {
                expected: format!("input (1, {window_frames}, {n_features})"),
                found: format!("a graph that does not take it: {e:#}"),
            })?;
        let kws = KwsModel {
            plan,
            labels,
            config,
            window_frames,
            thresholds,
        };
        // One run checks the output shape (and warms tract up).
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

    /// [`predict`](Self::predict) into a caller buffer of one value per label.
    pub fn predict_into(&self, window: &[f32], out: &mut [f32]) -> Result<(), DetectorError> {
        if window.len() != self.input_len() {
            return Err(DetectorError::InputLength {
                expected: self.input_len(),
                actual: window.len(),
            });
        }
        let run = |e: TractError| DetectorError::Run(format!("{e:#}"));
        let input = Tensor::from_shape(&[1, self.window_frames, self.config.n_features()], window)
            .map_err(run)?;
        let result = self.plan.run(tvec!(input.into())).map_err(run)?;
        let output = result
            .first()
            .ok_or_else(|| DetectorError::Run("the model has no output".into()))?;
        let view = output.try_as_plain_ram().map_err(run)?;
        let probs = view.as_slice::<f32>().map_err(run)?;
        if probs.len() != out.len() {
            return Err(DetectorError::Shape {
                expected: format!("{} outputs", out.len()),
                found: format!("{} outputs", probs.len()),
            });
        }
        out.copy_from_slice(probs);
        Ok(())
    }
}
