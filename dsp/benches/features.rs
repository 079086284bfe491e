//! Cost of the streaming front end per second of audio: `cargo bench -p hark-dsp`.
//!
//! Each iteration streams one second of audio in 160-sample chunks (10 ms, a typical audio
//! callback) through a fresh-state extractor; the throughput line reads as audio samples per
//! second, so CPU seconds per audio second is `16000 / throughput`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark stops at the first surprise

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hark_dsp::{FeatureConfig, FeatureExtractor, Frontend, SampleRate};
use std::hint::black_box;

fn speech_like(n: usize, rate: f32) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let t = i as f32 / rate;
            0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin() + 0.05 * noise
        })
        .collect()
}

fn extractor(c: &mut Criterion) {
    let audio = speech_like(16_000, 16_000.0);
    let mut group = c.benchmark_group("extractor_1s_16k");
    group.throughput(Throughput::Elements(audio.len() as u64));
    for name in ["librosa", "kaldi", "kws", "librosa-mfcc"] {
        let config = FeatureConfig::preset(name).expect("known preset");
        let mut fx = FeatureExtractor::new(config).expect("valid");
        group.bench_function(name, |b| {
            b.iter(|| {
                fx.reset();
                let mut sum = 0.0f32;
                for chunk in audio.chunks(160) {
                    fx.process(black_box(chunk), |f| sum += f[0])
                        .expect("finite");
                }
                black_box(sum)
            })
        });
    }
    group.finish();
}

fn frontend(c: &mut Criterion) {
    let mut group = c.benchmark_group("frontend_1s_to_kws");
    for rate in [16_000u32, 44_100, 48_000] {
        let audio = speech_like(rate as usize, rate as f32);
        group.throughput(Throughput::Elements(16_000));
        let mut frontend = Frontend::new(
            SampleRate::new(rate).expect("non-zero"),
            FeatureConfig::kws(),
        )
        .expect("valid");
        group.bench_function(format!("{rate}Hz"), |b| {
            b.iter(|| {
                frontend.reset();
                let mut sum = 0.0f32;
                for chunk in audio.chunks(rate as usize / 100) {
                    frontend
                        .process(black_box(chunk), |f| sum += f[0])
                        .expect("finite");
                }
                black_box(sum)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, extractor, frontend);
criterion_main!(benches);
