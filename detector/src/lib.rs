//! Hark's detectors: keyword models and anomaly autoencoders run with tract, the streaming
//! logic around them, and an autoencoder trainer for fitting on the device.
//!
//! ```
//! use hark_detector::{DetectorParams, KwsModel, Pipeline};
//! use hark_dsp::SampleRate;
//!
//! let model = KwsModel::bundled()?;
//! assert_eq!(model.labels().len(), 12);
//! let mut pipeline = Pipeline::new(model, SampleRate::new(48_000).unwrap(), DetectorParams::default())?;
//! let mut events = Vec::new();
//! pipeline.push(&vec![0.0; 48_000], |e| events.push(e))?; // a second of silence
//! pipeline.finish(|e| events.push(e))?;
//! assert!(events.is_empty());
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
    Calibration, FitParams, FitReport, FrameScore, MIN_HOLDOUT_WINDOWS, TrainParams, fit_anomaly,
};
pub use error::DetectorError;
pub use hark_dsp as dsp;
pub use kws::{Classification, DetectorParams, Event, Pipeline};
pub use model::{BUNDLED_KWS, KwsModel, MAX_MODEL_BYTES, StreamState, keys};
pub use series::{SeriesDetector, SeriesParams};
