//! `hark classify` and `hark detect` end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::path::Path;

use common::{data_dir, fails_with, hark, hark_stdin, json_lines, stdout_json};

#[test]
fn classify_prints_one_json_line_per_clip() {
    let clips = [
        "speech_commands_v0.02_dev/down/c7dc7278_nohash_0.wav",
        "speech_commands_v0.02_dev/stop/c7dc7278_nohash_0.wav",
        "speech_commands_v0.02_dev/_silence_/1041.wav",
    ];
    let paths: Vec<String> = clips
        .iter()
        .map(|c| data_dir().join(c).display().to_string())
        .collect();
    let mut args = vec!["classify", "--json"];
    args.extend(paths.iter().map(String::as_str));
    let lines = json_lines(&hark(&args));
    assert_eq!(lines.len(), 3);
    let labels: Vec<&str> = lines.iter().map(|l| l["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["down", "stop", "_silence_"]);
    for (line, path) in lines.iter().zip(&paths) {
        assert_eq!(line["file"].as_str(), Some(path.as_str()));
        let score = line["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score));
    }
}

#[test]
fn classify_takes_a_folder_of_clips() {
    // A test set as folders of clips: every .wav and .flac inside, nested folders too, sorted
    // by path; other files are passed over.
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir_all(set.join("b")).unwrap();
    let copy = |from: &str, to: &str| {
        std::fs::copy(data_dir().join(from), set.join(to)).unwrap();
    };
    copy(
        "speech_commands_v0.02_dev/down/c7dc7278_nohash_0.wav",
        "b/1.wav",
    );
    copy(
        "speech_commands_v0.02_dev/stop/c7dc7278_nohash_0.wav",
        "a.WAV",
    );
    copy("wakewords_dev/alexa/0.flac", "c.flac");
    std::fs::write(set.join("notes.txt"), "not a clip").unwrap();
    let lines = json_lines(&hark(&["classify", "--json", set.to_str().unwrap()]));
    let got: Vec<(String, &str)> = lines
        .iter()
        .map(|l| {
            let file = Path::new(l["file"].as_str().unwrap());
            let name = file.strip_prefix(&set).unwrap().display().to_string();
            (name, l["label"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a.WAV".to_string(), "stop"),
            ("b/1.wav".to_string(), "down"),
            ("c.flac".to_string(), "_unknown_")
        ]
    );
    // A folder with no clip in it is an error that says so.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = hark(&["classify", empty.to_str().unwrap()]);
    fails_with(&out, 1, &["no .wav, .flac, .mp3", "or .aiff file in it"]);
}

#[test]
fn detect_prints_events_as_json_lines() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.wav");
    let lines = json_lines(&hark(&["detect", sample.to_str().unwrap(), "--json"]));
    let words: Vec<&str> = lines
        .iter()
        .map(|l| l["keyword"].as_str().unwrap())
        .collect();
    for expected in ["yes", "no", "left", "right", "stop", "go"] {
        assert!(
            words.contains(&expected),
            "{expected} missing from {words:?}"
        );
    }
    for l in &lines {
        let (start, end) = (l["start"].as_f64().unwrap(), l["end"].as_f64().unwrap());
        assert!(start < end && end <= 9.5 + 1e-9, "{l}");
    }
}

#[test]
fn detect_runs_several_recordings_each_from_a_fresh_pipeline() {
    // The sample twice (one a copy in a folder) and a file that is not there: each event
    // names its file, both copies give the same events, the missing file is an error that
    // does not stop the others.
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.wav");
    std::fs::copy(&sample, dir.path().join("copy.wav")).unwrap();
    let missing = dir.path().join("missing.wav");
    let out = hark(&[
        "detect",
        sample.to_str().unwrap(),
        missing.to_str().unwrap(),
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    fails_with(
        &out,
        1,
        &["missing.wav", "1 of 3 recordings could not be run"],
    );
    let lines = stdout_json(&out);
    let events_of = |file: &Path| -> Vec<(String, f64)> {
        lines
            .iter()
            .filter(|l| l["file"].as_str() == file.to_str())
            .map(|l| {
                (
                    l["keyword"].as_str().unwrap().to_string(),
                    l["end"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let first = events_of(&sample);
    let words: Vec<&str> = first.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(words, ["yes", "no", "left", "right", "stop", "go"]);
    assert_eq!(first, events_of(&dir.path().join("copy.wav")));
    assert_eq!(lines.len(), 12, "{lines:?}");
}

#[test]
fn bad_models_and_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.onnx");
    std::fs::write(&fake, b"this is not a model").unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.wav");
    let out = hark(&[
        "detect",
        sample.to_str().unwrap(),
        "--model",
        fake.to_str().unwrap(),
    ]);
    fails_with(&out, 1, &["fake.onnx", "cannot load the ONNX model"]);
    let bad = dir.path().join("not_audio.wav");
    std::fs::write(&bad, b"RIFF but nothing else").unwrap();
    let good = data_dir().join("speech_commands_v0.02_dev/down/0c40e715_nohash_0.wav");
    let out = hark(&["classify", bad.to_str().unwrap(), good.to_str().unwrap()]);
    fails_with(
        &out,
        1,
        &["not_audio.wav", "1 of 2 clips could not be classified"],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("down"),
        "the good clip is still classified"
    );
    // Below 8 kHz there is little of a voice: a warning (8 kHz telephone speech gets none).
    for (rate, warned) in [(4_000, true), (8_000, false)] {
        let slow = dir.path().join(format!("slow{rate}.wav"));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&slow, spec).unwrap();
        for i in 0..rate {
            w.write_sample(((f64::from(i) * 0.3).sin() * 3000.0) as i16)
                .unwrap();
        }
        w.finalize().unwrap();
        for command in ["classify", "detect"] {
            let out = hark(&[command, slow.to_str().unwrap()]);
            assert!(out.status.success(), "{command} {rate}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                stderr.contains("speech needs at least 8 kHz"),
                warned,
                "{command} {rate}: {stderr}"
            );
        }
    }
    // A WAV of no samples is no clip (padded, it would be called `_silence_`).
    let empty = dir.path().join("empty.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&empty, spec)
        .unwrap()
        .finalize()
        .unwrap();
    let out = hark(&["classify", empty.to_str().unwrap(), good.to_str().unwrap()]);
    fails_with(&out, 1, &["empty.wav", "(0 samples)"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("empty.wav") && stdout.contains("down"),
        "{stdout}"
    );
    let out = hark(&["detect", sample.to_str().unwrap(), "--threshold", "1.5"]);
    fails_with(&out, 2, &["not a number in (0, 1]"]);
}

#[test]
fn the_window_model_spots_the_sample_keywords() {
    // `hark detect` defaults to the bundled streaming model; the window model by path.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.wav");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kws/kws12.onnx");
    let lines = json_lines(&hark(&[
        "detect",
        sample.to_str().unwrap(),
        "--json",
        "--model",
        model.to_str().unwrap(),
    ]));
    let keywords: Vec<&str> = lines
        .iter()
        .map(|l| l["keyword"].as_str().unwrap())
        .collect();
    assert_eq!(keywords, ["yes", "no", "left", "right", "stop", "go"]);
}

#[test]
fn detector_options_reach_the_pipeline() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.wav");
    let sample = sample.to_str().unwrap();
    let keywords = |extra: &[&str]| {
        let mut args = vec!["detect", sample, "--json"];
        args.extend(extra);
        json_lines(&hark(&args))
            .iter()
            .map(|l| l["keyword"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let six = ["yes", "no", "left", "right", "stop", "go"];
    let window = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kws/kws12.onnx");
    let window = window.to_str().unwrap();
    // A refractory time longer than the recording leaves its first event only.
    assert_eq!(keywords(&["--refractory", "60"]), ["yes"]);
    // The window model on every second frame near a threshold or without smoothing, and the
    // default streaming model with 240 ms of smoothing: the same six words.
    for extra in [
        &["--model", window, "--dense-stride", "2"][..],
        &["--model", window, "--smoothing-ms", "0"],
        &["--smoothing-ms", "240"],
    ] {
        let words = keywords(extra);
        assert!(
            six.iter().all(|w| words.contains(&w.to_string())),
            "{extra:?}: {words:?}"
        );
    }
    // Out-of-range settings are usage errors.
    for (bad, message) in [
        ("--refractory=-1", "0 to 3600 seconds"),
        ("--refractory=nan", "0 to 3600 seconds"),
        ("--rearm=0", "not a number in (0, 1]"),
        ("--rearm=1.5", "not a number in (0, 1]"),
        ("--stride=0", "not a number of frames of at least 1"),
        ("--dense-stride=0", "not a number of frames of at least 1"),
        ("--dense-from=nan", "not a share of the threshold"),
        ("--dense-from=-0.5", "not a share of the threshold"),
    ] {
        fails_with(
            &hark(&["detect", sample, "--json", bad]),
            2,
            &[bad.split('=').next().unwrap(), message],
        );
    }
}

#[test]
fn rearm_reaches_the_pipeline() {
    // One speaker says "yes" twice, 0.5 s apart, as raw PCM on stdin. Between the words the
    // streaming model's score falls below the threshold but not below half of it: the
    // default (re-arm below the threshold) reports both, `--rearm 0.5` the first only.
    let base = data_dir().join("speech_commands_v0.02_dev/yes");
    let mut pcm = Vec::new();
    let gap = [0u8; 16_000]; // 0.5 s of 16-bit silence
    pcm.extend_from_slice(&gap);
    for name in ["af7a8296_nohash_0.wav", "af7a8296_nohash_1.wav"] {
        let mut reader = hound::WavReader::open(base.join(name)).expect("clip");
        for s in reader.samples::<i16>() {
            pcm.extend_from_slice(&s.expect("sample").to_le_bytes());
        }
        pcm.extend_from_slice(&gap);
    }
    let args = [
        "detect", "-", "--format", "s16le", "--rate", "16000", "--json",
    ];
    let count = |extra: &[&str]| {
        let args: Vec<&str> = args.iter().chain(extra).copied().collect();
        let lines = json_lines(&hark_stdin(&args, &pcm));
        assert!(lines.iter().all(|l| l["keyword"] == "yes"), "{lines:?}");
        lines.len()
    };
    assert_eq!(count(&[]), 2);
    assert_eq!(count(&["--rearm", "0.5"]), 1);
}

#[test]
fn a_gate_in_front_of_the_window_model() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.wav");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kws");
    let stream = models.join("kws12_stream.onnx");
    let window = models.join("kws12.onnx");
    let detect = |extra: &[&str]| {
        let mut args = vec!["detect", sample.to_str().unwrap(), "--json"];
        args.extend(extra);
        hark(&args)
    };
    let lines = json_lines(&detect(&["--gate", stream.to_str().unwrap()]));
    let keywords: Vec<&str> = lines
        .iter()
        .map(|l| l["keyword"].as_str().unwrap())
        .collect();
    assert_eq!(keywords, ["yes", "no", "left", "right", "stop", "go"]);
    // A gate that shuts after each word (--gate-hold-ms 0) still finds them.
    let lines = json_lines(&detect(&[
        "--gate",
        stream.to_str().unwrap(),
        "--gate-hold-ms",
        "0",
    ]));
    assert_eq!(lines.len(), 6, "{lines:?}");
    // A window model is no gate, and a streaming model takes none: clear errors.
    for (extra, message) in [
        (
            vec!["--gate", window.to_str().unwrap()],
            "the gate is a window model",
        ),
        (
            vec![
                "--model",
                stream.to_str().unwrap(),
                "--gate",
                stream.to_str().unwrap(),
            ],
            "in front of a window model",
        ),
    ] {
        fails_with(&detect(&extra), 1, &[message]);
    }
}
