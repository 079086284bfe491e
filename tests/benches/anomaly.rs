//! Cost of anomaly scoring per feature frame: `cargo bench -p hark-tests --bench anomaly`.
//!
//! On 60 s of a synthetic machine (`hark_tests::machine`) at 16 kHz, with an autoencoder
//! fitted by `fit_anomaly` to the `audio` and `vibration` presets' features (5-frame windows of 64
//! bands, 64 → 8 → 64 hidden: 42 k multiply-adds per window):
//!
//! - `anomaly/<preset>/features`: the front end alone (FFT, bands, log);
//! - `anomaly/<preset>/model`: the autoencoder and the error on the precomputed windows;
//! - `anomaly/<preset>/scorer`: the whole `AnomalyScorer` (front end, window, model, error,
//!   smoothing, threshold) fed 4096-sample chunks (`hark score` on stdin), so that with the
//!   `vibration` preset's 512-sample hop a model run scores 8 windows;
//! - `anomaly/<preset>/scorer-file`: the same fed 32768-sample chunks (`hark score` on a
//!   file): 32 windows a run;
//! - `anomaly/vibration-3ch/scorer`: the same for three axes side by side (a model of 3
//!   channels), per time frame (three channels' feature frames).
//!
//! Criterion's throughput is in frames: the time per element is the cost per frame.
//!
//! `series/<method>`: [`SeriesDetector`] per point (the `hark nab` detector), past its
//! probationary period, on a random walk with a daily cycle; throughput in points.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops at the first surprise

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hark_detector::{
    AnomalyInput, AnomalyModel, AnomalyPreset, AnomalyScorer, AutoencoderParams, FitParams,
    NeighbourParams, SeriesDetector, SeriesMethod, SeriesParams, TrainParams, fit_anomaly,
};
use hark_dsp::{Frontend, SampleRate};
use hark_tests::machine::machine;

fn frames_of(input: &AnomalyInput, rate: SampleRate, samples: &[f32]) -> Vec<f32> {
    match input {
        AnomalyInput::Features(config) => {
            let mut frontend = Frontend::new(rate, config.clone()).unwrap();
            let mut frames = Vec::new();
            frontend
                .process(samples, |f| frames.extend_from_slice(f))
                .unwrap();
            frames
        }
        AnomalyInput::Values => samples.to_vec(),
    }
}

fn fitted(preset: AnomalyPreset, rate: SampleRate, samples: &[f32]) -> AnomalyModel {
    let input = preset.input(rate);
    let frames = frames_of(&input, rate, samples);
    let params = FitParams {
        train: TrainParams {
            epochs: 1,
            min_steps: 100,
            ..preset.fit_params().train
        },
        ..preset.fit_params()
    };
    let (bytes, _) = fit_anomaly(input, &[frames], &params, |_, _, _| {}).unwrap();
    AnomalyModel::from_bytes(&bytes).unwrap()
}

fn bench(c: &mut Criterion) {
    let rate = SampleRate::new(16_000).unwrap();
    let samples = machine(16_000, 60.0, 1, &[]);
    let mut group = c.benchmark_group("anomaly");
    group.sample_size(20);
    for (name, preset) in [
        ("audio", AnomalyPreset::Audio),
        ("vibration", AnomalyPreset::Vibration),
    ] {
        let model = fitted(preset, rate, &samples);
        let input = model.input().clone();
        let frames = frames_of(&input, rate, &samples);
        let n = frames.len() / input.n_features();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{name}/features"), |b| {
            b.iter(|| black_box(frames_of(&input, rate, black_box(&samples))));
        });
        // The windows the scorer builds, one per frame after the first `context - 1`.
        let dim = model.dim();
        let step = input.n_features();
        let windows: Vec<f32> = frames
            .windows(dim)
            .step_by(step)
            .flatten()
            .copied()
            .collect();
        let mut errors = vec![0.0; windows.len() / dim];
        group.bench_function(format!("{name}/model"), |b| {
            b.iter(|| {
                model
                    .reconstruction_errors(black_box(&windows), &mut errors)
                    .unwrap()
            });
        });
        let mut scorer = AnomalyScorer::new(model.clone(), rate).unwrap();
        for (bench, chunk_len) in [("scorer", 4096), ("scorer-file", 1 << 15)] {
            group.bench_function(format!("{name}/{bench}"), |b| {
                b.iter(|| {
                    let mut count = 0usize;
                    for chunk in samples.chunks(chunk_len) {
                        scorer.push(chunk, |_| count += 1).unwrap();
                    }
                    scorer.finish(|_| count += 1).unwrap();
                    black_box(count)
                });
            });
        }
    }
    // Three axes side by side (a model of 3 channels: 960 values per window); throughput in
    // time frames, each of them three channels' feature frames.
    let preset = AnomalyPreset::Vibration;
    let input = preset.input(rate);
    let axes: Vec<f32> = samples
        .iter()
        .zip(machine(16_000, 60.0, 5, &[]))
        .flat_map(|(&a, b)| [a, 0.6 * a + 0.05 * b, 0.3 * a - 0.05 * b])
        .collect();
    let per_axis: Vec<Vec<f32>> = (0..3)
        .map(|c| {
            let own: Vec<f32> = axes.iter().skip(c).step_by(3).copied().collect();
            frames_of(&input, rate, &own)
        })
        .collect();
    let n = input.n_features();
    let count = per_axis[0].len() / n;
    let stacked: Vec<f32> = (0..count)
        .flat_map(|i| {
            per_axis
                .iter()
                .flat_map(move |f| f[i * n..(i + 1) * n].iter().copied())
        })
        .collect();
    let params = FitParams {
        channels: 3,
        train: TrainParams {
            epochs: 1,
            min_steps: 100,
            ..preset.fit_params().train
        },
        ..preset.fit_params()
    };
    let (bytes, _) = fit_anomaly(input, &[stacked], &params, |_, _, _| {}).unwrap();
    let model = AnomalyModel::from_bytes(&bytes).unwrap();
    let mut scorer = AnomalyScorer::new(model, rate).unwrap();
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("vibration-3ch/scorer", |b| {
        b.iter(|| {
            let mut count = 0usize;
            for chunk in axes.chunks(3 * 4096) {
                scorer.push(chunk, |_| count += 1).unwrap();
            }
            scorer.finish(|_| count += 1).unwrap();
            black_box(count)
        });
    });
    group.finish();
}

fn bench_series(c: &mut Criterion) {
    // A random walk (a fixed linear congruential generator) on a cycle of 288 points.
    let mut state = 12345u64;
    let mut level = 0.0f32;
    let series: Vec<f32> = (0..20_000)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            level += ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1;
            level + (i as f32 * std::f32::consts::TAU / 288.0).sin()
        })
        .collect();
    const POINTS: usize = 5000;
    let mut group = c.benchmark_group("series");
    group.sample_size(20);
    group.throughput(Throughput::Elements(POINTS as u64));
    for (name, method) in [
        (
            "neighbours",
            SeriesMethod::Neighbours(NeighbourParams::default()),
        ),
        (
            "neighbours-one-scale",
            SeriesMethod::Neighbours(NeighbourParams {
                scales: vec![1],
                ..NeighbourParams::default()
            }),
        ),
        (
            "autoencoder",
            SeriesMethod::Autoencoder(AutoencoderParams::default()),
        ),
    ] {
        let mut detector = SeriesDetector::new(SeriesParams {
            probation: 750,
            method,
            ..SeriesParams::default()
        });
        // Past the probationary period, with a full history.
        for &v in &series[..3000] {
            detector.push(v);
        }
        let rest = &series[3000..];
        let mut at = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut sum = 0.0f32;
                for _ in 0..POINTS {
                    sum += detector.push(rest[at % rest.len()]);
                    at += 1;
                }
                black_box(sum)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_series);
criterion_main!(benches);
