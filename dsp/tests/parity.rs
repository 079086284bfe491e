//! Parity with librosa and kaldi-native-fbank on real clips from `../shared/data`.
//!
//! The golden files come from `dsp/golden/make_golden.py`; the clips are listed in
//! `dsp/tests/golden/clips.tsv`. Features are computed streaming, 160 samples at a time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark stops at the first surprise

use std::path::{Path, PathBuf};

use hark_dsp::{FeatureConfig, FeatureExtractor};

fn data_dir() -> PathBuf {
    std::env::var_os("HARK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

struct Clip {
    name: String,
    samples: Vec<f32>,
}

fn clips() -> Vec<Clip> {
    let list = std::fs::read_to_string(golden_dir().join("clips.tsv")).expect("clips.tsv");
    list.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let (name, path) = (cols[0], cols[1]);
            let start: usize = cols[2].parse().expect("start");
            let count: usize = cols[3].parse().expect("samples");
            let full = data_dir().join(path);
            let mut reader = hound::WavReader::open(&full)
                .unwrap_or_else(|e| panic!("{}: {e} (is ../shared/data there?)", full.display()));
            let channels = reader.spec().channels as usize;
            let pcm: Vec<i16> = reader
                .samples::<i16>()
                .step_by(channels)
                .collect::<Result<_, _>>()
                .expect("pcm");
            let pcm = if count > 0 {
                &pcm[start..start + count]
            } else {
                &pcm[..]
            };
            Clip {
                name: name.to_string(),
                samples: pcm.iter().map(|s| f32::from(*s) / 32768.0).collect(),
            }
        })
        .collect()
}

fn golden(name: &str, preset: &str) -> (Vec<f32>, usize, usize) {
    let path = golden_dir().join(format!("{name}.{preset}.npy"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).expect("npy header");
    let shape = npy.shape().to_vec();
    let data = npy.into_vec::<f32>().expect("f32 data");
    (data, shape[0] as usize, shape[1] as usize)
}

fn streamed(config: FeatureConfig, samples: &[f32]) -> Vec<f32> {
    let mut fx = FeatureExtractor::new(config).expect("valid preset");
    let mut out = Vec::new();
    for chunk in samples.chunks(160) {
        fx.process(chunk, |f| out.extend_from_slice(f))
            .expect("finite samples");
    }
    out
}

/// Compares every value; `tolerance(golden)` gives the allowed absolute error, or `None` to
/// skip the value. Returns the largest error seen and the number of values compared.
fn compare(
    preset: &str,
    config: FeatureConfig,
    tolerance: impl Fn(f32) -> Option<f32>,
) -> (f32, usize) {
    let mut worst = 0.0f32;
    let mut compared = 0;
    for clip in clips() {
        let (expected, rows, cols) = golden(&clip.name, preset);
        let ours = streamed(config.clone(), &clip.samples);
        assert_eq!(
            ours.len(),
            rows * cols,
            "{} {preset}: frame count differs",
            clip.name
        );
        for (i, (a, b)) in ours.iter().zip(&expected).enumerate() {
            let Some(tol) = tolerance(*b) else { continue };
            let err = (a - b).abs();
            assert!(
                err <= tol,
                "{} {preset}: frame {} bin {}: ours {a}, reference {b}, error {err} > {tol}",
                clip.name,
                i / cols,
                i % cols
            );
            worst = worst.max(err);
            compared += 1;
        }
    }
    eprintln!("{preset}: {compared} values, largest error {worst:e}");
    assert!(compared > 10_000, "{preset}: too few values compared");
    (worst, compared)
}

#[test]
fn librosa_log_mel_within_0_02_db_above_minus_80_db() {
    compare("librosa", FeatureConfig::librosa(), |db| {
        (db > -80.0).then_some(0.02)
    });
}

#[test]
fn librosa_mfcc_within_1e3_relative() {
    // Relative to the value, with a floor of 1 so that coefficients near zero are held to an
    // absolute 1e-3.
    compare("librosa-mfcc", FeatureConfig::librosa_mfcc(), |c| {
        Some(1e-3 * c.abs().max(1.0))
    });
}

#[test]
fn kaldi_fbank_within_1e3() {
    compare("kaldi", FeatureConfig::kaldi(), |_| Some(1e-3));
}
