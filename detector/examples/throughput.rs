//! CPU cost of the whole keyword pipeline (resampling, features, model, smoothing) on raw
//! samples, for comparing builds: `web-audio/scripts/bench.mjs` runs this beside the same
//! pipeline in Wasm.
//!
//! ```text
//! cargo run --release -p hark-detector --example throughput -- SAMPLES.f32 RATE [CHUNK [MODEL]] [--features-only]
//! ```
//!
//! `SAMPLES.f32`: mono little-endian f32; `MODEL`: default the bundled streaming model, as
//! `hark detect` and the browser build use. Prints one JSON line: audio seconds, the thread's
//! CPU seconds for the processing (model loading excluded), events. With `--features-only`,
//! only the front end (resampling and the model's features), so that the cost of each stage
//! can be told apart; `events` is then the number of frames.

use std::process::ExitCode;

use hark_detector::{DetectorParams, KwsModel, Pipeline};
use hark_dsp::{Frontend, SampleRate};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let features_only = args.iter().any(|a| a == "--features-only");
    args.retain(|a| a != "--features-only");
    let (Some(path), Some(rate)) = (args.first(), args.get(1).and_then(|r| r.parse().ok())) else {
        eprintln!("usage: throughput SAMPLES.f32 RATE [CHUNK [MODEL.onnx]] [--features-only]");
        return ExitCode::from(2);
    };
    let chunk: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(1024);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let samples: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let Some(rate) = SampleRate::new(rate) else {
        eprintln!("the rate must be positive");
        return ExitCode::from(2);
    };
    let run = || -> Result<(f64, usize), hark_detector::DetectorError> {
        let model = match args.get(3) {
            Some(path) => KwsModel::from_path(std::path::Path::new(path))?,
            None => KwsModel::bundled_stream()?,
        };
        if features_only {
            let mut frontend = Frontend::new(rate, model.feature_config().clone())?;
            let mut frames = 0;
            let start = cpu_time::ThreadTime::now();
            for block in samples.chunks(chunk) {
                frontend.process(block, |_| frames += 1)?;
            }
            frontend.finish(|_| frames += 1);
            return Ok((start.elapsed().as_secs_f64(), frames));
        }
        let mut pipeline = Pipeline::new(model, rate, DetectorParams::default())?;
        let mut events = 0;
        let start = cpu_time::ThreadTime::now();
        for block in samples.chunks(chunk) {
            pipeline.push(block, |_| events += 1)?;
        }
        pipeline.finish(|_| events += 1)?;
        Ok((start.elapsed().as_secs_f64(), events))
    };
    match run() {
        Ok((cpu, events)) => {
            let audio = samples.len() as f64 / f64::from(rate.hz());
            println!(r#"{{"audio_seconds": {audio}, "cpu_seconds": {cpu}, "events": {events}}}"#);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
