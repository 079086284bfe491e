//! Anomaly detection on synthetic rotating machines (`hark_tests::machine`): a model fitted on
//! a minute of normal running finds bearing impacts, a speed change and imbalance in another
//! recording of the same machine, and stays quiet on normal running it has not heard,
//! at the sensor rates Hark supports.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

use hark_detector::{
    AnomalyEvent, AnomalyModel, AnomalyOutput, AnomalyPreset, AnomalyScorer, fit_anomaly,
};
use hark_dsp::{Frontend, SampleRate};
use hark_tests::machine::{Episode, Fault, machine};

fn fit(preset: AnomalyPreset, rate: u32, normal: &[f32]) -> AnomalyModel {
    let rate = SampleRate::new(rate).unwrap();
    let input = preset.input(rate);
    let hark_detector::AnomalyInput::Features(config) = &input else {
        panic!("a features preset")
    };
    let mut frontend = Frontend::new(rate, config.clone()).unwrap();
    let mut frames = Vec::new();
    frontend
        .process(normal, |f| frames.extend_from_slice(f))
        .unwrap();
    let (bytes, report) =
        fit_anomaly(input, &[frames], &preset.fit_params(), |_, _, _| {}).unwrap();
    assert!(report.threshold > report.holdout_median);
    AnomalyModel::from_bytes(&bytes).unwrap()
}

fn events(model: &AnomalyModel, rate: u32, samples: &[f32]) -> Vec<AnomalyEvent> {
    let mut scorer = AnomalyScorer::new(model.clone(), SampleRate::new(rate).unwrap()).unwrap();
    let mut events = Vec::new();
    let mut on = |o: AnomalyOutput| {
        if let AnomalyOutput::Event(e) = o {
            events.push(e);
        }
    };
    // Uneven chunks, as a device would deliver them.
    for chunk in samples.chunks(rate as usize / 7 + 3) {
        scorer.push(chunk, &mut on).unwrap();
    }
    scorer.finish(&mut on).unwrap();
    events
}

const FAULTS: [Episode; 3] = [
    Episode {
        fault: Fault::Bearing,
        start: 10.0,
        end: 15.0,
    },
    Episode {
        fault: Fault::Speed(1.06),
        start: 25.0,
        end: 30.0,
    },
    Episode {
        fault: Fault::Imbalance(3.0),
        start: 40.0,
        end: 45.0,
    },
];

/// Every fault overlaps an event that starts within a second of it, and no event lies
/// outside the faults (with a second's margin for the window and the smoothing).
fn assert_faults_found(events: &[AnomalyEvent], what: &str) {
    for episode in FAULTS {
        assert!(
            events
                .iter()
                .any(|e| e.start >= episode.start && e.start < episode.start + 1.0),
            "{what}: {:?} at {} s not found; events {events:?}",
            episode.fault,
            episode.start
        );
    }
    for e in events {
        assert!(
            FAULTS
                .iter()
                .any(|f| e.start >= f.start && e.end <= f.end + 1.0),
            "{what}: event outside the faults: {e:?}"
        );
    }
}

fn check(preset: AnomalyPreset, rate: u32) {
    // A minute, or more at low rates: at least 3000 frames, so that the 15 % held back for
    // the threshold has a few hundred windows (`hark fit` warns below 1000).
    let hop = match preset.input(SampleRate::new(rate).unwrap()) {
        hark_detector::AnomalyInput::Features(c) => {
            c.hop_length as f64 / f64::from(c.sample_rate.hz())
        }
        hark_detector::AnomalyInput::Values => unreachable!(),
    };
    let seconds = (3000.0 * hop).max(60.0);
    let model = fit(preset, rate, &machine(rate, seconds, 1, &[]));
    let what = format!("{preset:?} at {rate} Hz");
    let quiet = events(&model, rate, &machine(rate, 60.0, 3, &[]));
    assert!(
        quiet.is_empty(),
        "{what}: events on normal running: {quiet:?}"
    );
    assert_faults_found(
        &events(&model, rate, &machine(rate, 55.0, 2, &FAULTS)),
        &what,
    );
}

#[test]
fn audio_at_16k() {
    check(AnomalyPreset::Audio, 16_000);
}

#[test]
fn audio_at_48k_through_the_resampler() {
    check(AnomalyPreset::Audio, 48_000);
}

#[test]
fn vibration_at_1k() {
    check(AnomalyPreset::Vibration, 1_000);
}

#[test]
fn vibration_at_8k() {
    check(AnomalyPreset::Vibration, 8_000);
}

#[test]
fn vibration_at_48k() {
    check(AnomalyPreset::Vibration, 48_000);
}

/// A model fitted for one kind of features refuses another front end.
#[test]
fn a_vibration_model_at_another_rate_resamples_but_audio_features_are_refused() {
    let model = fit(
        AnomalyPreset::Vibration,
        8_000,
        &machine(8_000, 30.0, 1, &[]),
    );
    // Other input rates are resampled to the model's.
    assert!(AnomalyScorer::new(model.clone(), SampleRate::new(44_100).unwrap()).is_ok());
    let hark_detector::AnomalyInput::Features(audio) =
        AnomalyPreset::Audio.input(SampleRate::HZ_16000)
    else {
        unreachable!()
    };
    let err = model.check_features(&audio).unwrap_err();
    assert!(
        err.to_string().contains("the model expects features"),
        "{err}"
    );
}

/// The reference model trained in PyTorch (`models/anomaly/train_reference.py`, see its
/// README) loads and finds the faults of a machine recording it has not heard.
#[test]
fn the_pytorch_reference_model_loads_and_finds_the_faults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/anomaly/reference_machine.onnx");
    let model = AnomalyModel::from_path(&path).unwrap();
    assert_eq!(model.dim(), 5 * 64);
    let quiet = events(&model, 16_000, &machine(16_000, 60.0, 3, &[]));
    assert!(quiet.is_empty(), "events on normal running: {quiet:?}");
    assert_faults_found(
        &events(&model, 16_000, &machine(16_000, 55.0, 2, &FAULTS)),
        "PyTorch reference",
    );
}
