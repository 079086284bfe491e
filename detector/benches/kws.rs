//! Cost of keyword spotting: `cargo bench -p hark-detector`.
//!
//! - `model/*`: one model call: the window model on a 98-frame window (run every 8 frames
//!   by default), the streaming model on one step of new frames (16 for the shipped one).
//! - `pipeline_10s/*`: the whole `Pipeline` (features, model, smoothing, events) on 10 s of
//!   16 kHz audio in 160-sample chunks: CPU seconds per audio second is the time / 10.
//!
//! The window model is the bundled `models/kws/kws12.onnx`, the streaming one
//! `models/kws/kws12_stream.onnx` (or the file named by `HARK_BENCH_MODEL`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops at the first surprise

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use hark_detector::{DetectorParams, KwsModel, Pipeline};
use hark_dsp::SampleRate;

fn models() -> Vec<(&'static str, KwsModel)> {
    let stream = std::env::var_os("HARK_BENCH_MODEL").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kws/kws12_stream.onnx"),
        Into::into,
    );
    vec![
        ("window", KwsModel::bundled().unwrap()),
        ("stream", KwsModel::from_path(&stream).unwrap()),
    ]
}

fn noise(n: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
        })
        .collect()
}

fn model_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("model");
    for (name, model) in models() {
        let mut out = vec![0.0; model.labels().len()];
        match model.step_frames() {
            None => {
                let window = noise(model.input_len());
                group.bench_function(format!("{name}_window"), |b| {
                    b.iter(|| model.predict_into(black_box(&window), &mut out).unwrap())
                });
            }
            Some(step) => {
                let frames = noise(step * model.feature_config().n_features());
                let mut state = model.new_state().unwrap();
                group.bench_function(format!("{name}_step"), |b| {
                    b.iter(|| {
                        model
                            .step(black_box(&frames), &mut state, &mut out)
                            .unwrap()
                    })
                });
            }
        }
    }
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let audio = noise(160_000);
    let mut group = c.benchmark_group("pipeline_10s");
    group.sample_size(20);
    for (name, model) in models() {
        let rate = SampleRate::new(16_000).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut pipeline =
                    Pipeline::new(model.clone(), rate, DetectorParams::default()).unwrap();
                let mut events = 0;
                for chunk in audio.chunks(160) {
                    pipeline.push(black_box(chunk), |_| events += 1).unwrap();
                }
                pipeline.finish(|_| events += 1).unwrap();
                events
            })
        });
    }
    group.finish();
}

criterion_group!(benches, model_call, pipeline);
criterion_main!(benches);
