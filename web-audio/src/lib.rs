//! Hark in the browser: a wasm-bindgen build that runs the front end in an AudioWorklet and the
//! model in a Worker.
//!
//! Not built yet: this crate holds its place in the workspace until the browser work lands.
//! The feature front end it will use (`hark-dsp`) already builds for `wasm32-unknown-unknown`,
//! with and without `+simd128`; CI checks that.

pub use hark_detector as detector;
