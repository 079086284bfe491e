//! The shipped models against their golden outputs, and the checks on broken or mismatched
//! models.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

use std::path::Path;

use hark_detector::{AnomalyModel, BUNDLED_KWS, BUNDLED_KWS_STREAM, DetectorError, KwsModel};
use hark_dsp::FeatureConfig;

fn npy(name: &str) -> (Vec<f32>, Vec<u64>) {
    npy_in("kws", name)
}

/// A float32 `.npy` of `models/<dir>`, with its shape.
fn npy_in(dir: &str, name: &str) -> (Vec<f32>, Vec<u64>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(dir)
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
    let window = model.window_frames();
    assert_eq!(in_shape[1..], [window as u64, 40]);
    assert_eq!(out_shape[1], 12);
    let mut worst = 0.0f32;
    for (x, expected) in inputs.chunks(window * 40).zip(outputs.chunks(12)) {
        let probs = model.predict(x).expect("runs");
        for (a, b) in probs.iter().zip(expected) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!("largest difference from onnxruntime: {worst:e}");
    assert!(worst < 1e-4, "tract and onnxruntime differ by {worst}");
}

#[test]
fn reference_anomaly_model_matches_its_golden_errors() {
    // Windows of a synthetic machine the model has not heard, running normally and with
    // bearing impacts; the errors onnxruntime gives (models/anomaly/make_golden.py).
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/anomaly/reference_machine.onnx");
    let model = AnomalyModel::from_path(&path).expect("the reference model loads");
    let (inputs, shape) = npy_in("anomaly", "reference_machine_golden_inputs.npy");
    let (expected, _) = npy_in("anomaly", "reference_machine_golden_errors.npy");
    assert_eq!(shape, [expected.len() as u64, model.dim() as u64]);
    let mut errors = vec![0.0; expected.len()];
    model
        .reconstruction_errors(&inputs, &mut errors)
        .expect("runs");
    let mut worst = 0.0f32;
    for (a, b) in errors.iter().zip(&expected) {
        worst = worst.max((a - b).abs() / b.abs().max(1.0));
    }
    eprintln!("largest relative difference from onnxruntime: {worst:e}");
    assert!(
        worst < 1e-4,
        "tract and onnxruntime differ by {worst} (relative)"
    );
    // The goldens span normal running and the fault, on both sides of the threshold.
    let above = expected.iter().filter(|&&e| e > model.threshold()).count();
    assert!(
        above > 0 && above < expected.len(),
        "{above} of {}",
        expected.len()
    );
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
            // The op_type field of the first Softmax node (tag 0x22, 7 bytes): an operator
            // tract does not know.
            load_error(&patched("\"\u{7}Softmax", "\"\u{7}Softmix")),
            "uses the ONNX operator Softmix (node \"",
        ),
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
fn the_streaming_model_names_its_smoothing() {
    // The bundled streaming model asks for no smoothing beyond one step
    // (`hark.smoothing_frames`); the window model names none (the detector's default).
    let model = KwsModel::bundled_stream().expect("loads");
    assert!(model.step_frames().is_some());
    assert_eq!(model.smoothing_frames(), model.step_frames());
    assert_eq!(KwsModel::bundled().expect("loads").smoothing_frames(), None);
    // A value out of range is a clear error (the metadata entry: key, then field 2 of
    // length 1, the value).
    let mut bytes = BUNDLED_KWS_STREAM.to_vec();
    let key = b"hark.smoothing_frames\x12\x01";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("the key and a one-digit value")
        + key.len();
    bytes[at] = b'0';
    let err = load_error(&bytes);
    assert!(
        err.contains("hark.smoothing_frames") && err.contains("whole number of frames"),
        "{err}"
    );
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

fn stream_model() -> KwsModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kws/kws12_stream.onnx");
    KwsModel::from_path(&path).expect("the streaming model loads")
}

#[test]
fn streaming_model_steps_match_their_golden_outputs() {
    // Golden outputs: onnxruntime running the steps from a zero state over each clip's last
    // 96 frames (`export.py`); here tract does the same, one `step` at a time.
    let model = stream_model();
    assert_eq!(model.feature_config(), &FeatureConfig::kws());
    let step = model.step_frames().expect("a streaming model");
    assert_eq!(model.window_frames() % step, 0);
    let (inputs, in_shape) = npy("golden_stream_inputs.npy");
    let (outputs, _) = npy("golden_stream_outputs.npy");
    assert_eq!(in_shape[1..], [model.window_frames() as u64, 40]);
    let mut worst = 0.0f32;
    let mut out = vec![0.0; 12];
    for (x, expected) in inputs
        .chunks(model.window_frames() * 40)
        .zip(outputs.chunks(12))
    {
        let mut state = model.new_state().unwrap();
        for frames in x.chunks(step * 40) {
            model.step(frames, &mut state, &mut out).unwrap();
        }
        for (a, b) in out.iter().zip(expected) {
            worst = worst.max((a - b).abs());
        }
        // `predict` on the whole window is the same computation.
        let whole = model.predict(x).unwrap();
        assert_eq!(whole, out);
        // A reset state starts over.
        state.reset();
        let mut again = vec![0.0; 12];
        for frames in x.chunks(step * 40) {
            model.step(frames, &mut state, &mut again).unwrap();
        }
        assert_eq!(again, out);
    }
    eprintln!("streaming model, largest difference from onnxruntime: {worst:e}");
    assert!(worst < 1e-4, "tract and onnxruntime differ by {worst}");
}

#[test]
fn streaming_calls_are_checked() {
    let window = KwsModel::bundled().unwrap();
    assert!(window.step_frames().is_none());
    assert!(matches!(
        window.new_state(),
        Err(DetectorError::NotStreaming)
    ));
    let model = stream_model();
    let mut state = model.new_state().unwrap();
    let mut out = vec![0.0; 12];
    let err = model.step(&[0.0; 40], &mut state, &mut out).unwrap_err();
    assert!(
        matches!(err, DetectorError::InputLength { actual: 40, .. }),
        "{err}"
    );
}
