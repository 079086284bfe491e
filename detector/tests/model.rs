//! The shipped model against its golden outputs, and the checks on broken or mismatched models.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

use std::path::Path;

use hark_detector::{BUNDLED_KWS, DetectorError, KwsModel};
use hark_dsp::FeatureConfig;

fn npy(name: &str) -> (Vec<f32>, Vec<u64>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/kws")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = npyz::NpyFile::new(&bytes[..]).expect("npy");
    let shape = file.shape().to_vec();
    (file.into_vec::<f32>().expect("f32"), shape)
}

#[test]
fn bundled_model_matches_its_golden_outputs() {
    let model = KwsModel::bundled().expect("the bundled model loads");
    assert_eq!(model.labels().len(), 12);
    assert_eq!(model.labels()[0], "yes");
    assert_eq!(model.feature_config(), &FeatureConfig::kws());
    let (inputs, in_shape) = npy("golden_inputs.npy");
    let (outputs, out_shape) = npy("golden_outputs.npy");
    assert_eq!(in_shape[1..], [98, 40]);
    assert_eq!(out_shape[1], 12);
    let mut worst = 0.0f32;
    for (x, expected) in inputs.chunks(98 * 40).zip(outputs.chunks(12)) {
        let probs = model.predict(x).expect("runs");
        for (a, b) in probs.iter().zip(expected) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!("largest difference from onnxruntime: {worst:e}");
    assert!(worst < 1e-4, "tract and onnxruntime differ by {worst}");
}

/// The bundled bytes with one same-length substring replaced: a model broken in one place.
fn patched(from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut bytes = BUNDLED_KWS.to_vec();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from} not in the model"));
    bytes[at..at + from.len()].copy_from_slice(to.as_bytes());
    bytes
}

fn load_error(bytes: &[u8]) -> String {
    match KwsModel::from_bytes(bytes) {
        Ok(_) => panic!("the broken model loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_models_are_clear_errors() {
    let cases = [
        (
            load_error(&BUNDLED_KWS[..BUNDLED_KWS.len() / 2]),
            "cannot load the ONNX model",
        ),
        (
            load_error(b"not an onnx file at all"),
            "cannot load the ONNX model",
        ),
        (
            load_error(&patched("hark.kind", "hark.kine")),
            "hark.kind: missing",
        ),
        (
            load_error(&patched("n_fft=512", "n_fft=256")),
            "n_fft (256) is shorter than frame_length (400)",
        ),
        (load_error(&patched("yes:0.", "yes:9.")), "hark.thresholds"),
        (
            load_error(&patched("yes,no,up,", "yes,no,no,")),
            "labels must be unique",
        ),
    ];
    for (message, expected) in cases {
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
}

#[test]
fn mismatched_front_end_is_refused() {
    let model = KwsModel::bundled().expect("loads");
    let err = model
        .check_features(&FeatureConfig::kaldi())
        .expect_err("kaldi is not kws");
    assert!(matches!(err, DetectorError::FeatureMismatch { .. }));
    assert!(err.to_string().contains("window=povey"));
    let err = model.predict(&[0.0; 10]).expect_err("wrong length");
    assert!(
        err.to_string()
            .contains("input has 10 values, the model takes 3920")
    );
}
