//! `hark features` end to end: real clips, any rate and channel count, chunking, bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark stops at the first surprise

mod common;

use std::path::{Path, PathBuf};

use common::{data_dir, hark};

fn read_npy(path: &Path) -> (Vec<f32>, Vec<u64>) {
    let bytes = std::fs::read(path).expect("npy written");
    let npy = npyz::NpyFile::new(&bytes[..]).expect("npy header");
    let shape = npy.shape().to_vec();
    (npy.into_vec::<f32>().expect("f32"), shape)
}

fn features(input: &Path, extra: &[&str]) -> (Vec<f32>, Vec<u64>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.npy");
    let mut args = vec![
        "features",
        input.to_str().expect("utf-8 path"),
        "--output",
        out.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let result = hark(&args);
    assert!(
        result.status.success(),
        "hark {args:?} failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    read_npy(&out)
}

fn write_wav(path: &Path, rate: u32, channels: u16, bits: u16, frames: &[Vec<f32>]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    let full = (1i64 << (bits - 1)) as f32;
    for frame in frames {
        for v in frame {
            w.write_sample((v * full).round().clamp(-full, full - 1.0) as i32)
                .expect("write");
        }
    }
    w.finalize().expect("finalize");
}

#[test]
fn librosa_preset_matches_the_golden_file_in_any_chunking() {
    let clip = data_dir().join("speech_commands_v0.02_dev/yes/0bac8a71_nohash_0.wav");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dsp/tests/golden/yes.librosa.npy");
    let (expected, shape) = read_npy(&golden);
    let (whole, whole_shape) = features(&clip, &["--preset", "librosa", "--chunk", "16000"]);
    assert_eq!(whole_shape, shape);
    for (a, b) in whole.iter().zip(&expected) {
        if *b > -80.0 {
            assert!((a - b).abs() <= 0.02, "{a} vs {b}");
        }
    }
    for chunk in ["1", "37", "160", "4096"] {
        let (chunked, _) = features(&clip, &["--preset", "librosa", "--chunk", chunk]);
        assert!(chunked == whole, "--chunk {chunk} changed the features");
    }
}

#[test]
fn stereo_44k_24bit_equals_its_mono_mix_and_resamples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tone = |i: usize| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 44_100.0).sin() * 0.5;
    let stereo: Vec<Vec<f32>> = (0..44_100).map(|i| vec![tone(i), tone(i)]).collect();
    let mono: Vec<Vec<f32>> = (0..44_100).map(|i| vec![tone(i)]).collect();
    let (s, m) = (dir.path().join("stereo.wav"), dir.path().join("mono.wav"));
    write_wav(&s, 44_100, 2, 24, &stereo);
    write_wav(&m, 44_100, 1, 24, &mono);
    let (a, shape) = features(&s, &["--preset", "kws"]);
    let (b, _) = features(&m, &["--preset", "kws"]);
    assert_eq!(shape, vec![98, 40], "one second at 16 kHz after resampling");
    assert!(a == b);
    // The loudest band of every frame is the one around 1 kHz.
    let bands_1k = (12..=17).collect::<Vec<usize>>();
    for frame in a.chunks(40) {
        let peak = frame
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        assert!(bands_1k.contains(&peak), "peak band {peak}");
    }
    // --channel picks one channel: a silent right channel gives the floor.
    let left_only: Vec<Vec<f32>> = (0..44_100).map(|i| vec![tone(i), 0.0]).collect();
    write_wav(&s, 44_100, 2, 16, &left_only);
    let (right, _) = features(&s, &["--preset", "kws", "--channel", "1"]);
    assert!(right.iter().all(|v| (*v - 1e-6f32.ln()).abs() < 1e-3));
}

#[test]
fn eight_khz_digits_are_resampled() {
    let clip = data_dir().join("fsdd/recordings/0_george_0.wav");
    let (values, shape) = features(&clip, &["--preset", "librosa"]);
    assert_eq!(shape[1], 40);
    assert!(shape[0] > 10);
    assert!(values.iter().all(|v| v.is_finite()));
}

#[test]
fn bad_input_is_a_clear_error_never_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x.npy");
    let out = out.to_str().expect("utf-8");
    let cases: Vec<(PathBuf, &str)> = vec![(dir.path().join("missing.wav"), "cannot open")];
    let clip = data_dir().join("speech_commands_v0.02_dev/yes/0bac8a71_nohash_0.wav");
    let bytes = std::fs::read(&clip).expect("clip");
    let truncated = dir.path().join("truncated.wav");
    std::fs::write(&truncated, &bytes[..1000]).expect("write");
    let mut cases = cases;
    cases.push((
        truncated.clone(),
        "corrupt or truncated audio data at sample frame",
    ));
    let tiny = dir.path().join("tiny.wav");
    write_wav(&tiny, 16_000, 1, 16, &vec![vec![0.1]; 100]);
    cases.push((tiny, "shorter than one"));
    for (input, expected) in cases {
        let result = hark(&["features", input.to_str().expect("utf-8"), "-o", out]);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(
            result.status.code(),
            Some(1),
            "{}: {stderr}",
            input.display()
        );
        assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
        assert!(stderr.contains(input.file_name().and_then(|n| n.to_str()).unwrap_or("")));
        assert!(!stderr.contains("panicked"));
    }
    let result = hark(&[
        "features",
        truncated.to_str().expect("utf-8"),
        "-o",
        out,
        "--channel",
        "3",
    ]);
    assert!(String::from_utf8_lossy(&result.stderr).contains("channel 3 asked for"));
    let result = hark(&["features", "x.wav", "-o", out, "--preset", "nope"]);
    assert_eq!(result.status.code(), Some(2), "usage errors exit 2");
    let result = hark(&["features", "x.wav", "-o", out, "--chunk", "0"]);
    assert_eq!(result.status.code(), Some(2));
}
