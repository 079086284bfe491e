//! Streaming equals batch: any chunking gives the same frames, bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark stops at the first surprise

use hark_dsp::{
    FeatureConfig, FeatureExtractor, Frontend, MultichannelFrontend, ProcessError, SampleRate,
};
use proptest::prelude::*;

/// `signal` cut into consecutive pieces of `chunks` sizes (cycled), each a multiple of `unit`
/// values (a sample frame of `unit` channels) and at least one `unit`.
fn pieces<'a>(signal: &'a [f32], chunks: &[usize], unit: usize) -> Vec<&'a [f32]> {
    let mut out = Vec::new();
    let mut rest = signal;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1) * unit).clamp(unit, rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

fn by_chunks(config: &FeatureConfig, signal: &[f32], chunks: &[usize]) -> Vec<f32> {
    let mut fx = FeatureExtractor::new(config.clone()).expect("valid");
    let mut out = Vec::new();
    for piece in pieces(signal, chunks, 1) {
        fx.process(piece, |f| out.extend_from_slice(f))
            .expect("finite");
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
    for piece in pieces(signal, chunks, 1) {
        frontend
            .process(piece, |f| out.extend_from_slice(f))
            .expect("finite");
    }
    frontend.finish(|f| out.extend_from_slice(f));
    out
}

/// Interleaved `channels` in chunks of whole sample frames (chunk sizes count sample frames).
fn multichannel_by_chunks(
    rate: u32,
    config: &FeatureConfig,
    channels: usize,
    interleaved: &[f32],
    chunks: &[usize],
) -> Vec<f32> {
    let rate = SampleRate::new(rate).expect("non-zero");
    let mut frontend = MultichannelFrontend::new(rate, config.clone(), channels).expect("valid");
    let mut out = Vec::new();
    for piece in pieces(interleaved, chunks, channels) {
        let delivered = frontend
            .process(piece, |f| out.extend_from_slice(f))
            .expect("finite, whole sample frames");
        assert!(delivered <= out.len());
    }
    frontend.finish(|f| out.extend_from_slice(f));
    out
}

/// Each channel through its own [`Frontend`], the frames put side by side by hand.
fn stacked_by_hand(
    rate: u32,
    config: &FeatureConfig,
    channels: usize,
    interleaved: &[f32],
) -> Vec<f32> {
    let per_channel: Vec<Vec<f32>> = (0..channels)
        .map(|c| {
            let own: Vec<f32> = interleaved
                .iter()
                .skip(c)
                .step_by(channels)
                .copied()
                .collect();
            frontend_by_chunks(rate, config, &own, &[own.len().max(1)])
        })
        .collect();
    let n = config.n_features();
    let frames = per_channel[0].len() / n;
    let mut out = Vec::new();
    for i in 0..frames {
        for channel in &per_channel {
            out.extend_from_slice(&channel[i * n..(i + 1) * n]);
        }
    }
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

    #[test]
    fn multichannel_frames_are_each_channels_own_side_by_side(
        rate in prop::sample::select(vec![8_000u32, 44_100, 16_000]),
        channels in 1usize..4,
        frames in 0usize..9_000,
        chunks in prop::collection::vec(1usize..1500, 1..6),
    ) {
        // Channels that differ (so a swap or a mix would show), drawn deterministically.
        let interleaved: Vec<f32> = (0..frames * channels)
            .map(|i| {
                let (t, c) = ((i / channels) as f32, (i % channels) as f32);
                (t * (0.01 + 0.03 * c)).sin() * (0.2 + 0.3 * c) + (((i * 7919) % 613) as f32 / 613.0 - 0.5) * 0.05
            })
            .collect();
        let config = if rate == 16_000 { FeatureConfig::kws() } else {
            FeatureConfig::vibration(SampleRate::new(rate).expect("non-zero"))
        };
        let hand = stacked_by_hand(rate, &config, channels, &interleaved);
        let chunked = multichannel_by_chunks(rate, &config, channels, &interleaved, &chunks);
        prop_assert!(hand == chunked, "{} Hz, {} channels, chunks {:?}", rate, channels, chunks);
    }
}

#[test]
fn a_multichannel_chunk_is_rejected_whole() {
    let rate = SampleRate::new(8_000).expect("non-zero");
    let config = FeatureConfig::vibration(rate);
    let interleaved: Vec<f32> = (0..3 * 4_000)
        .map(|i| (i as f32 * 0.05).sin() * 0.3)
        .collect();
    let mut frontend = MultichannelFrontend::new(rate, config.clone(), 3).expect("valid");
    let mut frames = Vec::new();
    // Half a sample frame, and a NaN in the last channel: nothing of either chunk goes in.
    let err = frontend.process(&interleaved[..3 * 2_000 + 2], |_| panic!("no frame"));
    assert_eq!(
        err,
        Err(ProcessError::PartialFrame {
            channels: 3,
            len: 6_002
        })
    );
    let mut bad = interleaved[..3 * 2_000].to_vec();
    bad[3 * 1_999 + 2] = f32::NAN;
    let err = frontend.process(&bad, |_| panic!("no frame"));
    assert!(
        matches!(err, Err(ProcessError::NonFinite { index: 5_999, .. })),
        "{err:?}"
    );
    for chunk in interleaved.chunks(3 * 700) {
        frontend
            .process(chunk, |f| frames.extend_from_slice(f))
            .expect("clean");
    }
    frontend.finish(|f| frames.extend_from_slice(f));
    assert_eq!(frames, stacked_by_hand(8_000, &config, 3, &interleaved));
    assert!(MultichannelFrontend::new(rate, config, 0).is_err());
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
