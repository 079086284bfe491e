//! Every real clip of the shared data goes through the streaming front end at its own rate:
//! the frame count is what the framing rule says, and every value is finite.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark stops at the first surprise

use hark_dsp::{FeatureConfig, Frontend, SampleRate};
use hark_tests::{Clip, manifest, read_wav};

fn run(clip: &Clip, config: &FeatureConfig) -> (usize, bool) {
    let rate = SampleRate::new(clip.rate).expect("non-zero rate");
    let mut frontend = Frontend::new(rate, config.clone()).expect("valid");
    let mut frames = 0;
    let mut finite = true;
    let mut on_frame = |f: &[f32]| {
        frames += 1;
        finite &= f.iter().all(|v| v.is_finite());
    };
    for chunk in clip.samples.chunks(480) {
        frontend
            .process(chunk, &mut on_frame)
            .expect("real audio is finite");
    }
    frontend.finish(&mut on_frame);
    (frames, finite)
}

fn sweep(manifest_path: &str, presets: &[&str]) -> usize {
    let paths = manifest(manifest_path).expect("manifest (is ../shared/data there?)");
    assert!(paths.len() > 200, "{manifest_path}: {} clips", paths.len());
    for path in &paths {
        let clip = read_wav(path).expect("readable clip");
        let resampled =
            (clip.samples.len() as u64 * 16_000 + u64::from(clip.rate) / 2) / u64::from(clip.rate);
        for name in presets {
            let config = FeatureConfig::preset(name).expect("preset");
            let (frames, finite) = run(&clip, &config);
            assert_eq!(
                frames,
                config.n_frames(resampled as usize),
                "{} {name}",
                path.display()
            );
            assert!(finite, "{} {name}: non-finite feature", path.display());
        }
    }
    paths.len()
}

#[test]
fn speech_commands_clips_at_16k() {
    let n = sweep(
        "speech_commands_v0.02_dev/MANIFEST.tsv",
        &["kws", "kaldi", "librosa-mfcc"],
    );
    eprintln!("{n} Speech Commands clips");
}

#[test]
fn free_spoken_digits_at_8k_through_the_resampler() {
    let n = sweep("fsdd/MANIFEST.tsv", &["kws", "librosa"]);
    eprintln!("{n} FSDD clips");
}
