//! Hark's detectors: ONNX models run with tract, the keyword spotter and the anomaly scorer,
//! and the one `Pipeline` (samples in, events out) every front end uses.
//!
//! Not built yet: this crate holds its place in the workspace (and in the dependency arrows
//! `native-cli`/`web-audio` -> `detector` -> `dsp`) until the keyword-spotting work lands. Until
//! then it only re-exports the feature front end it will build on.

pub use hark_dsp as dsp;
