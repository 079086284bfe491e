//! After construction, processing never touches the allocator.
//!
//! A counting global allocator wraps the system one; each test thread counts its own calls, so
//! the test harness's threads do not disturb the count.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark stops at the first surprise

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hark_dsp::{
    FeatureConfig, FeatureExtractor, Frontend, MultichannelFrontend, Resampler, SampleRate,
};

struct Counting;

thread_local! {
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread-local may be gone while a thread shuts down.
    let _ = CALLS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting has no effect on
// the memory handed out.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = CALLS.with(Cell::get);
    f();
    CALLS.with(Cell::get) - before
}

fn signal(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i as f32) * 0.031).sin() * 0.3).collect()
}

#[test]
fn extractor_push_and_pop_do_not_allocate() {
    let input = signal(48_000);
    for name in FeatureConfig::PRESETS {
        let mut fx =
            FeatureExtractor::new(FeatureConfig::preset(name).expect("preset")).expect("valid");
        let mut frame = vec![0.0; fx.n_features()];
        let mut frames = 0;
        let calls = allocations_during(|| {
            for chunk in input.chunks(173) {
                let mut rest = chunk;
                while !rest.is_empty() {
                    let taken = fx.push(rest).expect("finite");
                    rest = &rest[taken..];
                    while fx.pop_frame(&mut frame).expect("sized") {
                        frames += 1;
                    }
                }
            }
            // Errors are reported without allocating too.
            assert!(fx.push(&[f32::NAN]).is_err());
            fx.reset();
        });
        assert!(frames > 50, "{name}");
        assert_eq!(calls, 0, "{name}: {calls} allocator calls while processing");
    }
}

#[test]
fn frontend_and_resampler_do_not_allocate() {
    for rate in [8_000, 22_050, 44_100, 48_000, 16_000] {
        let input = signal(rate as usize * 2);
        let rate = SampleRate::new(rate).expect("non-zero");
        let mut frontend = Frontend::new(rate, FeatureConfig::kws()).expect("valid");
        let mut resampler = Resampler::new(rate, SampleRate::HZ_16000).expect("valid");
        let mut frames = 0;
        let mut samples = 0;
        let calls = allocations_during(|| {
            for chunk in input.chunks(128) {
                frontend.process(chunk, |_| frames += 1).expect("finite");
                resampler
                    .process(chunk, |block| samples += block.len())
                    .expect("finite");
            }
            frontend.finish(|_| frames += 1);
            resampler.finish(|block| samples += block.len());
        });
        assert_eq!(samples, 32_000, "{rate}");
        assert_eq!(frames, 198, "{rate}");
        assert_eq!(calls, 0, "{rate}: {calls} allocator calls while processing");
    }
}

#[test]
fn multichannel_frontend_does_not_allocate() {
    for (rate, channels) in [
        (1_000, 3),
        (8_000, 2),
        (44_100, 3),
        (48_000, 6),
        (16_000, 2),
    ] {
        let seconds = if rate < 8_000 { 20 } else { 2 };
        let input: Vec<f32> = signal(rate as usize * seconds * channels);
        let rate = SampleRate::new(rate).expect("non-zero");
        let config = if rate.hz() == 16_000 {
            FeatureConfig::kws()
        } else {
            FeatureConfig::vibration(rate)
        };
        let mut frontend = MultichannelFrontend::new(rate, config, channels).expect("valid");
        let mut frames = 0;
        let calls = allocations_during(|| {
            // Chunks of one to a few thousand sample frames, as devices and files deliver them.
            for chunk in input.chunks(channels * 1_500) {
                for part in chunk
                    .chunks(channels * 37)
                    .take(3)
                    .chain([&chunk[(channels * 111).min(chunk.len())..]])
                {
                    frontend.process(part, |_| frames += 1).expect("finite");
                }
            }
            frontend.finish(|_| frames += 1);
            assert!(frontend.process(&[0.0], |_| {}).is_err());
        });
        assert!(frames > 20, "{rate:?}");
        assert_eq!(
            calls, 0,
            "{rate:?}, {channels} channels: {calls} allocator calls while processing"
        );
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: a test that cannot fail proves nothing.
    let calls = allocations_during(|| {
        let v: Vec<u8> = Vec::with_capacity(std::hint::black_box(64));
        std::hint::black_box(v);
    });
    assert!(calls >= 1);
}
