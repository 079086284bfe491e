//! Streaming equals batch: any chunking gives the same frames, bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark stops at the first surprise

use hark_dsp::{FeatureConfig, FeatureExtractor, Frontend, SampleRate};
use proptest::prelude::*;

fn by_chunks(config: &FeatureConfig, signal: &[f32], chunks: &[usize]) -> Vec<f32> {
    let mut fx = FeatureExtractor::new(config.clone()).expect("valid");
    let mut out = Vec::new();
    let mut rest = signal;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        fx.process(&rest[..n], |f| out.extend_from_slice(f))
            .expect("finite");
        rest = &rest[n..];
    }
    out
}

fn frontend_by_chunks(
    rate: u32,
    config: &FeatureConfig,
    signal: &[f32],
    chunks: &[usize],
) -> Vec<f32> {
    let rate = SampleRate::new(rate).expect("non-zero");
    let mut frontend = Frontend::new(rate, config.clone()).expect("valid");
    let mut out = Vec::new();
    let mut rest = signal;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        frontend
            .process(&rest[..n], |f| out.extend_from_slice(f))
            .expect("finite");
        rest = &rest[n..];
    }
    frontend.finish(|f| out.extend_from_slice(f));
    out
}

fn signal_strategy(max_len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1.0f32..1.0, 0..max_len)
}

fn preset_strategy() -> impl Strategy<Value = FeatureConfig> {
    prop::sample::select(FeatureConfig::PRESETS.to_vec())
        .prop_map(|name| FeatureConfig::preset(name).expect("known preset"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn extractor_chunking_is_invisible(
        config in preset_strategy(),
        signal in signal_strategy(6000),
        chunks in prop::collection::vec(1usize..700, 1..8),
    ) {
        let whole = by_chunks(&config, &signal, &[signal.len().max(1)]);
        prop_assert_eq!(whole.len(), config.n_frames(signal.len()) * config.n_features());
        let chunked = by_chunks(&config, &signal, &chunks);
        prop_assert!(whole == chunked, "chunks {:?} changed the frames", chunks);
    }

    #[test]
    fn frontend_chunking_is_invisible(
        rate in prop::sample::select(vec![8_000u32, 22_050, 44_100, 48_000, 16_000, 11_025]),
        signal in signal_strategy(12_000),
        chunks in prop::collection::vec(1usize..2000, 1..6),
    ) {
        let config = FeatureConfig::kws();
        let whole = frontend_by_chunks(rate, &config, &signal, &[signal.len().max(1)]);
        let chunked = frontend_by_chunks(rate, &config, &signal, &chunks);
        prop_assert!(whole == chunked, "{} Hz, chunks {:?} changed the frames", rate, chunks);
    }
}

#[test]
fn the_named_chunk_sizes_match_whole() {
    let signal: Vec<f32> = (0..40_000)
        .map(|i| ((i as f32 * 0.013).sin() + ((i * 7919) % 613) as f32 / 613.0 - 0.5) * 0.4)
        .collect();
    for name in FeatureConfig::PRESETS {
        let config = FeatureConfig::preset(name).expect("known preset");
        let whole = by_chunks(&config, &signal, &[signal.len()]);
        assert!(!whole.is_empty());
        for chunk in [1, 37, 160, 4096] {
            assert!(
                by_chunks(&config, &signal, &[chunk]) == whole,
                "{name}: chunks of {chunk} differ from the whole signal"
            );
        }
    }
    for rate in [8_000, 22_050, 44_100, 48_000] {
        let config = FeatureConfig::librosa();
        let whole = frontend_by_chunks(rate, &config, &signal, &[signal.len()]);
        for chunk in [1, 37, 160, 4096] {
            assert!(
                frontend_by_chunks(rate, &config, &signal, &[chunk]) == whole,
                "{rate} Hz: chunks of {chunk} differ from the whole signal"
            );
        }
    }
}
