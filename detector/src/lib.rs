//! Hark's detectors: keyword models and anomaly autoencoders run with tract, the streaming
//! logic around them, and an autoencoder trainer for fitting on the device.
//!
//! ```
//! use hark_detector::{DetectorParams, KwsModel, Pipeline};
//! use hark_dsp::SampleRate;
//!
//! // Streams: the bundled streaming model (`KwsModel::bundled()` is the window model, for clips).
//! let model = KwsModel::bundled_stream()?;
//! assert_eq!(model.labels().len(), 12);
//! let mut pipeline = Pipeline::new(model, SampleRate::new(48_000).unwrap(), DetectorParams::default())?;
//! let mut events = Vec::new();
//! pipeline.push(&vec![0.0; 48_000], |e| events.push(e))?; // a second of silence
//! pipeline.finish(|e| events.push(e))?;
//! assert!(events.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Anomaly detection: [`fit_anomaly`] fits an autoencoder to normal data (Hark's own trainer,
//! no Python) and writes an ONNX model with its feature config, normalisation and calibrated
//! threshold; [`AnomalyScorer`] scores samples with it (scores per frame, events when the
//! smoothed score crosses the threshold; for a model of several channels, such as the axes
//! of a vibration sensor, every channel's features side by side); [`SeriesDetector`] scores
//! a single series with no training data, learning from its first points.
//!
//! ```
//! use hark_detector::{AnomalyInput, AnomalyModel, AnomalyOutput, AnomalyPreset, AnomalyScorer, fit_anomaly};
//! use hark_dsp::SampleRate;
//!
//! // A slow metric: a daily cycle sampled every 15 minutes, for 40 days.
//! let normal: Vec<f32> = (0..3840).map(|i| (i as f32 * std::f32::consts::TAU / 96.0).sin()).collect();
//! let params = AnomalyPreset::Metric.fit_params();
//! let (onnx, report) = fit_anomaly(AnomalyInput::Values, &[normal], &params, |_, _, _| {})?;
//! let model = AnomalyModel::from_bytes(&onnx)?;
//! let mut scorer = AnomalyScorer::new(model, SampleRate::new(1).unwrap())?;
//! let mut events = 0;
//! let stuck = vec![3.0; 200]; // a sensor stuck far above its range
//! scorer.push(&stuck, |o| if let AnomalyOutput::Event(_) = o { events += 1 })?;
//! scorer.finish(|o| if let AnomalyOutput::Event(_) = o { events += 1 })?;
//! assert!(events >= 1 && report.threshold > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! tract types stay inside this crate: models come in as bytes or a path, features as `f32`
//! slices, results as plain Rust values.

mod anomaly;
mod autoencoder;
mod error;
mod kws;
mod model;
mod series;

pub use anomaly::{
    AnomalyEvent, AnomalyInput, AnomalyModel, AnomalyOutput, AnomalyPreset, AnomalyScorer,
    Calibration, FitParams, FitReport, FrameScore, MAX_CHANNELS, MIN_HOLDOUT_WINDOWS, TrainParams,
    fit_anomaly,
};
pub use error::DetectorError;
pub use hark_dsp as dsp;
pub use kws::{
    Classification, DEFAULT_SMOOTHING_FRAMES, DENSE_FROM, DetectorParams, Event, GATE_FROM,
    Pipeline, REARM,
};
pub use model::{
    BUNDLED_KWS, BUNDLED_KWS_STREAM, KwsModel, MAX_MODEL_BYTES, StreamState, keys, model_kind,
};
pub use series::{
    AutoencoderParams, NeighbourParams, SPATIAL_TOLERANCE, SeriesDetector, SeriesMethod,
    SeriesParams,
};
