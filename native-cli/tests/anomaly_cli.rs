//! `hark fit` and `hark score` end to end: a multi-channel WAVE_FORMAT_EXTENSIBLE vibration
//! recording, CSV sensor rows with timestamps, and the errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::path::Path;

use common::{fails_with, hark, hark_stdin, json_lines, stdout_json};
use hark_tests::machine::{BEARING_THEN_IMBALANCE, Episode, Fault, machine, write_wav};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `hark fit --normal NORMAL --output MODEL --preset PRESET`.
fn fit(normal: &Path, model: &Path, preset: &str) -> std::process::Output {
    hark(&[
        "fit",
        "--normal",
        path(normal),
        "--output",
        path(model),
        "--preset",
        preset,
    ])
}

/// Three accelerometer axes at 8 kHz, 24-bit: the one machine seen by each axis at its own
/// gain (1, 0.6, 0.3), with its own sensor noise (a quiet second machine of another seed);
/// what the faults of `episodes` add to the machine reaches axis `k` at `fault_gains[k]`.
fn axes(seconds: f64, seed: u64, episodes: &[Episode], fault_gains: [f32; 3]) -> Vec<f32> {
    let healthy = machine(8_000, seconds, seed, &[]);
    let faulty = machine(8_000, seconds, seed, episodes);
    let noise: Vec<Vec<f32>> = (0..3)
        .map(|k| machine(8_000, seconds, 100 + seed * 10 + k, &[]))
        .collect();
    (0..healthy.len())
        .flat_map(|i| {
            let fault = faulty[i] - healthy[i];
            let axis = |k: usize, gain: f32| {
                healthy[i] * gain + fault_gains[k] * fault + 0.05 * noise[k][i]
            };
            [axis(0, 1.0), axis(1, 0.6), axis(2, 0.3)]
        })
        .collect()
}

/// [`axes`] with the faults on every axis at the machine's gain there.
fn three_axes(seconds: f64, seed: u64, episodes: &[Episode]) -> Vec<f32> {
    axes(seconds, seed, episodes, [1.0, 0.6, 0.3])
}

#[test]
fn vibration_from_a_three_channel_24_bit_wav() {
    let dir = tempfile::tempdir().unwrap();
    let normal = dir.path().join("normal.wav");
    let faulty = dir.path().join("faulty.wav");
    let model = dir.path().join("vibration.onnx");
    write_wav(&normal, 8_000, 3, 24, &three_axes(60.0, 1, &[])).unwrap();
    let faults = BEARING_THEN_IMBALANCE;
    write_wav(&faulty, 8_000, 3, 24, &three_axes(30.0, 2, &faults)).unwrap();
    // hound wrote WAVE_FORMAT_EXTENSIBLE (format tag 0xFFFE).
    let header = std::fs::read(&normal).unwrap();
    assert_eq!(&header[20..22], &[0xFE, 0xFF]);

    let fit = fit(&normal, &model, "vibration");
    let log = String::from_utf8_lossy(&fit.stderr);
    assert!(fit.status.success(), "{log}");
    assert!(log.contains("epoch") && log.contains("threshold"), "{log}");

    let lines = json_lines(&hark(&[
        "score",
        path(&faulty),
        "--model",
        path(&model),
        "--json",
        "--events-only",
    ]));
    assert!(!lines.is_empty());
    for episode in faults {
        assert!(
            lines.iter().any(|l| {
                let start = l["start"].as_f64().unwrap();
                l["event"] == "anomaly" && start >= episode.start && start < episode.start + 1.0
            }),
            "{:?} not found in {lines:?}",
            episode.fault
        );
    }
    for l in &lines {
        let (start, end) = (l["start"].as_f64().unwrap(), l["end"].as_f64().unwrap());
        assert!(
            faults
                .iter()
                .any(|f| start >= f.start && end <= f.end + 1.0),
            "event outside the faults: {l}"
        );
        assert!(l["peak"].as_f64().unwrap() > 0.0);
    }

    // Every frame's score: times rise by the hop, scores are finite and >= 0.
    let scores = json_lines(&hark(&[
        "score",
        path(&faulty),
        "--model",
        path(&model),
        "--json",
    ]));
    let frames: Vec<&serde_json::Value> =
        scores.iter().filter(|l| l.get("score").is_some()).collect();
    // 30 s at 8 kHz, 512-sample frames every 256 samples, 5-frame windows.
    assert_eq!(frames.len(), (30 * 8_000 - 512) / 256 + 1 - 4);
    let times: Vec<f64> = frames.iter().map(|l| l["t"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| (w[1] - w[0] - 0.032).abs() < 1e-3));
    assert!(frames.iter().all(|l| l["score"].as_f64().unwrap() >= 0.0));
}

/// CSV rows `timestamp,value`: the scores and events carry the rows' timestamps.
/// Nobody reads stderr any more (`hark fit ... 2>&1 | head`, a supervisor's log pipe gone):
/// the progress lines are dropped, not a panic, and the model is written as it would be.
#[test]
fn a_fit_whose_log_reader_has_gone_still_writes_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let normal = dir.path().join("normal.wav");
    let (model, unread) = (dir.path().join("m.onnx"), dir.path().join("unread.onnx"));
    write_wav(&normal, 16_000, 1, 16, &machine(16_000, 60.0, 1, &[])).unwrap();
    let out = fit(&normal, &model, "audio");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
        .args(["fit", "--normal", path(&normal), "--output", path(&unread)])
        .args(["--preset", "audio"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // the read end closed before the first line
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(
        std::fs::read(&unread).unwrap(),
        std::fs::read(&model).unwrap()
    );
}

#[test]
fn metric_rows_keep_their_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let normal = dir.path().join("normal.csv");
    let test = dir.path().join("test.csv");
    let model = dir.path().join("metric.onnx");
    let row = |i: usize, bump: f64| {
        let t = i as f64;
        let noise = ((t * 12.9898).sin() * 43758.547).fract() * 0.1;
        let value = 20.0 + 3.0 * (t * std::f64::consts::TAU / 96.0).sin() + noise + bump;
        format!(
            "2026-01-{:02} {:02}:{:02}:00,{value:.4}\n",
            1 + i / 1440,
            i / 60 % 24,
            i % 60
        )
    };
    let mut text = String::from("timestamp,value\n");
    for i in 0..4000 {
        text += &row(i, 0.0);
    }
    std::fs::write(&normal, text).unwrap();
    let mut text = String::from("timestamp,value\n");
    for i in 0..600 {
        text += &row(i + 10_000, if (400..430).contains(&i) { 6.0 } else { 0.0 });
    }
    std::fs::write(&test, &text).unwrap();
    let fit = fit(&normal, &model, "metric");
    assert!(
        fit.status.success(),
        "{}",
        String::from_utf8_lossy(&fit.stderr)
    );

    let lines = json_lines(&hark(&[
        "score",
        path(&test),
        "--model",
        path(&model),
        "--json",
    ]));
    let scores: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("score").is_some()).collect();
    assert_eq!(
        scores.len(),
        600 - 31,
        "one score per row after the first window"
    );
    // The first score belongs to row 31 (0-based), the last window's row.
    let first_row = text.lines().nth(1 + 31).unwrap();
    assert_eq!(scores[0]["t"].as_str(), first_row.split(',').next());
    let events: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "anomaly").collect();
    assert!(!events.is_empty(), "the level shift is found");
    let shift_start = text
        .lines()
        .nth(1 + 400)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    // The last window with a shifted row (429) ends 31 rows later; smoothing adds 2.
    let shift_end = text
        .lines()
        .nth(1 + 429 + 31 + 2)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    for e in &events {
        // Timestamps of the same form compare as text.
        let start = e["start"].as_str().unwrap();
        let end = e["end"].as_str().unwrap();
        assert!(
            start >= shift_start && end <= shift_end,
            "{e} outside {shift_start}..{shift_end}"
        );
    }
}

#[test]
fn errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let kws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kws/kws12.onnx");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.wav");
    let fails = |out: std::process::Output, want: &str| fails_with(&out, 1, &[want]);
    // A keyword model is not an anomaly model.
    fails(
        hark(&["score", path(&sample), "--model", path(&kws)]),
        "\"kws\" is not an anomaly model",
    );
    fails(
        hark(&["score", path(&sample), "--model", path(&kws)]),
        "(a keyword model: run it with hark detect or hark classify)",
    );
    let reference =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/anomaly/reference_machine.onnx");
    for command in ["detect", "classify"] {
        fails(
            hark(&[command, path(&sample), "--model", path(&reference)]),
            "(an anomaly model: score it with hark score (or hark listen))",
        );
    }
    // Too little normal data.
    let short = dir.path().join("short.wav");
    write_wav(&short, 16_000, 1, 16, &machine(16_000, 2.0, 1, &[])).unwrap();
    let model = dir.path().join("m.onnx");
    fails(fit(&short, &model, "audio"), "too little normal data");
    assert!(!model.exists(), "no model written");
    // Normal data that never changes: digital silence, a sensor stuck at one reading.
    let silence = dir.path().join("silence.wav");
    write_wav(&silence, 16_000, 1, 16, &vec![0.0; 16_000 * 30]).unwrap();
    fails(
        fit(&silence, &model, "audio"),
        "the normal data does not vary",
    );
    let stuck = dir.path().join("stuck.csv");
    let rows: String = (0..3000).map(|i| format!("{i},21.5\n")).collect();
    std::fs::write(&stuck, rows).unwrap();
    fails(
        fit(&stuck, &model, "metric"),
        "a sensor stuck at one reading",
    );
    assert!(!model.exists(), "no model written");
    // A folder without recordings.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    fails(fit(&empty, &model, "audio"), ".aiff or .csv file in it");
    // An audio model and CSV rows; NaN samples on stdin.
    let normal = dir.path().join("normal.wav");
    write_wav(&normal, 16_000, 1, 16, &machine(16_000, 20.0, 1, &[])).unwrap();
    let out = fit(&normal, &model, "audio");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A threshold below 0 (NaN fails the same way).
    fails(
        hark(&[
            "score",
            path(&normal),
            "--model",
            path(&model),
            "--threshold=-1",
        ]),
        "threshold is -1, outside 0..",
    );
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, "1\n2\n3\n").unwrap();
    fails(
        hark(&["score", path(&csv), "--model", path(&model)]),
        "CSV rows need a model fitted with --preset metric",
    );
    let mut bytes: Vec<u8> = Vec::new();
    for i in 0..16_000 {
        let v = if i == 12_345 { f32::NAN } else { 0.01 };
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    fails(
        hark_stdin(
            &[
                "score",
                "-",
                "--model",
                path(&model),
                "--format",
                "f32le",
                "--rate",
                "16000",
            ],
            &bytes,
        ),
        "not finite",
    );
}

/// [`axes`] where a bearing defect reaches the third only (the radial axis in its load
/// zone), at `gain`.
fn one_axis_bearing(seconds: f64, seed: u64, episodes: &[Episode], gain: f32) -> Vec<f32> {
    axes(seconds, seed, episodes, [0.0, 0.0, gain])
}

/// The share of each episode that the events of `lines` cover (a frame's span is its hop).
fn coverage(lines: &[serde_json::Value], episodes: &[Episode]) -> Vec<f64> {
    episodes
        .iter()
        .map(|e| {
            let covered: f64 = lines
                .iter()
                .filter(|l| l["event"] == "anomaly")
                .map(|l| {
                    let start = l["start"].as_f64().unwrap().max(e.start);
                    let end = (l["end"].as_f64().unwrap() + 0.032).min(e.end);
                    (end - start).max(0.0)
                })
                .sum();
            covered / (e.end - e.start)
        })
        .collect()
}

/// A bearing defect that only the third axis picks up, at a tenth of the level the first
/// axis carries the shaft: a model fitted with each axis's features side by side (the
/// default) finds it; mixing the axes into one signal averages most of it away.
#[test]
fn a_fault_on_one_axis_of_three_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let normal = dir.path().join("normal.wav");
    let faulty = dir.path().join("faulty.wav");
    let stacked = dir.path().join("stacked.onnx");
    let mixed = dir.path().join("mixed.onnx");
    write_wav(&normal, 8_000, 3, 24, &one_axis_bearing(60.0, 1, &[], 0.0)).unwrap();
    let faults = [
        Episode {
            fault: Fault::Bearing,
            start: 8.0,
            end: 12.0,
        },
        Episode {
            fault: Fault::Bearing,
            start: 20.0,
            end: 24.0,
        },
    ];
    write_wav(
        &faulty,
        8_000,
        3,
        24,
        &one_axis_bearing(30.0, 2, &faults, 0.3),
    )
    .unwrap();
    let out = fit(&normal, &stacked, "vibration");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("3 channels side by side, 192 values"), "{log}");
    let out = hark(&[
        "fit",
        "--normal",
        path(&normal),
        "--output",
        path(&mixed),
        "--preset",
        "vibration",
        "--mix",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = |model: &Path| {
        json_lines(&hark(&[
            "score",
            path(&faulty),
            "--model",
            path(model),
            "--json",
            "--events-only",
        ]))
    };
    let (on_stacked, on_mixed) = (events(&stacked), events(&mixed));
    for l in &on_stacked {
        let (start, end) = (l["start"].as_f64().unwrap(), l["end"].as_f64().unwrap());
        assert!(
            faults
                .iter()
                .any(|f| start >= f.start && end <= f.end + 1.0),
            "event outside the faults: {l}"
        );
    }
    let stacked_cover = coverage(&on_stacked, &faults);
    let mixed_cover = coverage(&on_mixed, &faults);
    eprintln!("covered: channels side by side {stacked_cover:?}, mixed {mixed_cover:?}");
    assert!(
        stacked_cover.iter().all(|&c| c >= 0.8),
        "{stacked_cover:?}: {on_stacked:?}"
    );
    assert!(
        mixed_cover.iter().sum::<f64>() < stacked_cover.iter().sum::<f64>() - 0.5,
        "mixed {mixed_cover:?} against {stacked_cover:?}"
    );

    // Three channels from FLAC (`tests/data/three_axes.flac`, made by `tests/data/make.py`:
    // tones on each axis) score exactly as the same 16-bit samples in a WAV.
    let flac = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/three_axes.flac");
    let twin = dir.path().join("three_axes.wav");
    let spec = hound::WavSpec {
        channels: 3,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&twin, spec).unwrap();
    let mut raw = Vec::new();
    for i in 0..16_000 {
        for f in [50.0f64, 120.0, 310.0] {
            let phase = std::f64::consts::TAU * f * f64::from(i) / 8_000.0;
            let v = (6000.0 * phase.sin() + 2000.0 * (3.1 * phase).sin()).round_ties_even() as i16;
            writer.write_sample(v).unwrap();
            raw.extend_from_slice(&v.to_le_bytes());
        }
    }
    writer.finalize().unwrap();
    let scores = |input: &Path| {
        json_lines(&hark(&[
            "score",
            path(input),
            "--model",
            path(&stacked),
            "--json",
        ]))
    };
    let (from_flac, from_wav) = (scores(&flac), scores(&twin));
    let frames = from_flac
        .iter()
        .filter(|l| l.get("score").is_some())
        .count();
    assert_eq!(frames, (16_000 - 512) / 256 + 1 - 4);
    assert_eq!(from_flac, from_wav);
    // And as raw interleaved PCM on stdin.
    let args = [
        "score",
        "-",
        "--model",
        path(&stacked),
        "--json",
        "--format",
        "s16le",
        "--rate",
        "8000",
        "--channels",
        "3",
    ];
    assert_eq!(json_lines(&hark_stdin(&args, &raw)), from_wav);
    let args = [
        "score",
        "-",
        "--model",
        path(&stacked),
        "--format",
        "s16le",
        "--rate",
        "8000",
    ];
    let out = hark_stdin(&args, &raw);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("-: 1 channel(s), but the model reads 3"),
        "{err}"
    );

    // The model reads three channels: a mono recording, or one channel of three, is a
    // clear error, and so is fitting recordings of different channel counts.
    let mono = dir.path().join("mono.wav");
    write_wav(&mono, 8_000, 1, 16, &machine(8_000, 20.0, 3, &[])).unwrap();
    let fails = |out: std::process::Output, want: &str| fails_with(&out, 1, &[want]);
    fails(
        hark(&["score", path(&mono), "--model", path(&stacked)]),
        "1 channel(s), but the model reads 3 side by side",
    );
    fails(
        hark(&[
            "score",
            path(&faulty),
            "--model",
            path(&stacked),
            "--channel",
            "2",
        ]),
        "the model reads 3 channels side by side",
    );
    let both = dir.path().join("both.onnx");
    fails(
        hark(&[
            "fit",
            "--normal",
            path(&normal),
            path(&mono),
            "--output",
            path(&both),
            "--preset",
            "vibration",
        ]),
        "1 channel(s), but",
    );
    assert!(!both.exists());
    // One channel picked, or the mean (recordings of any channel counts), fits a model of
    // one channel, which scores mono recordings.
    for (pick, files) in [
        ("--channel=2", vec![path(&normal)]),
        ("--mix", vec![path(&normal), path(&mono)]),
    ] {
        let mut args = vec![
            "fit",
            pick,
            "--output",
            path(&both),
            "--preset",
            "vibration",
        ];
        args.push("--normal");
        args.extend(files);
        let out = hark(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let scores = json_lines(&hark(&[
            "score",
            path(&mono),
            "--model",
            path(&both),
            "--json",
        ]));
        assert!(scores.iter().filter(|l| l.get("score").is_some()).count() > 500);
    }
}

/// CSV rows of three sensors, `timestamp,a,b,c`: the columns are a model's channels, a fault
/// in one column is found at its rows, a row of other columns is skipped with a warning, and
/// rows of one value are a clear error for the model.
#[test]
fn csv_rows_of_three_sensors() {
    let dir = tempfile::tempdir().unwrap();
    let normal = dir.path().join("normal.csv");
    let test = dir.path().join("test.csv");
    let model = dir.path().join("plant.onnx");
    let row = |i: usize, bump: f64| {
        let t = i as f64;
        let noise = |k: f64| ((t * 12.9898 + k).sin() * 43758.547).fract() * 0.1;
        let day = t * std::f64::consts::TAU / 96.0;
        format!(
            "{i},{:.4},{:.4},{:.4}\n",
            20.0 + 3.0 * day.sin() + noise(1.0),
            1013.0 + 2.0 * (day + 1.0).sin() + noise(2.0),
            0.2 * day.cos() + 0.5 * noise(3.0) + bump
        )
    };
    let mut text = String::from("t,temperature,pressure,vibration\n");
    for i in 0..4000 {
        text += &row(i, 0.0);
    }
    std::fs::write(&normal, text).unwrap();
    let mut text = String::from("t,temperature,pressure,vibration\n");
    for i in 10_000..10_600 {
        text += &row(
            i,
            if (10_400..10_430).contains(&i) {
                0.5
            } else {
                0.0
            },
        );
        if i == 10_100 {
            text += "10100.5,20.0,1013.0\n";
        }
    }
    std::fs::write(&test, &text).unwrap();
    let out = fit(&normal, &model, "metric");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("3 channels side by side, 3 values"), "{log}");

    let out = hark(&["score", path(&test), "--model", path(&model), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("2 values, but the first row has 3; skipped"),
        "{err}"
    );
    let lines = json_lines(&out);
    let scores = lines.iter().filter(|l| l.get("score").is_some()).count();
    assert_eq!(
        scores,
        600 - 31,
        "one score per good row after the first window"
    );
    let events: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "anomaly").collect();
    // The bump's event, and any other far weaker (this model's threshold, from 600 held-back
    // rows, let one of 0.03 through at the start; the bump peaks near 3).
    let span = |e: &serde_json::Value| -> (f64, f64, f64) {
        let at = |k: &str| e[k].as_str().unwrap().parse::<f64>().unwrap();
        (at("start"), at("end"), e["peak"].as_f64().unwrap())
    };
    let (bump, other): (Vec<_>, Vec<_>) = events
        .iter()
        .map(|e| span(e))
        .partition(|&(start, end, _)| start <= 10_429.0 + 33.0 && end >= 10_400.0);
    assert_eq!(bump.len(), 1, "{events:?}");
    let (start, end, peak) = bump[0];
    assert!(
        (10_400.0..10_410.0).contains(&start) && end <= 10_429.0 + 31.0 + 2.0,
        "{events:?}"
    );
    assert!(other.iter().all(|o| o.2 < peak / 20.0), "{events:?}");

    let one = dir.path().join("one.csv");
    std::fs::write(&one, "t,temperature\n1,20.0\n2,20.1\n").unwrap();
    let out = hark(&["score", path(&one), "--model", path(&model)]);
    fails_with(&out, 1, &["1 channel(s), but the model reads 3"]);
    // --channel picks a column; past the last one it is a clear error.
    let out = hark(&[
        "score",
        path(&test),
        "--model",
        path(&model),
        "--channel",
        "3",
    ]);
    fails_with(&out, 1, &["--channel 3: the model reads 3 channels"]);
    let single = dir.path().join("single.onnx");
    let out = hark(&[
        "fit",
        "--normal",
        path(&normal),
        "--output",
        path(&single),
        "--preset",
        "metric",
        "--channel",
        "3",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("channel 3 asked for, but the input has 3 (0 to 2)"),
        "{err}"
    );
}

#[test]
fn a_named_pipe_is_scored_as_it_arrives() {
    // A sensor feeding a FIFO named on the command line is a live stream: its scores must
    // come while the writer is still writing, not when it closes (a file is read in chunks of
    // 32768 rows, which 5000 rows never fill).
    let dir = tempfile::tempdir().unwrap();
    let normal = dir.path().join("normal.csv");
    let model = dir.path().join("metric.onnx");
    let fifo = dir.path().join("sensor");
    let row = |i: usize| {
        let t = i as f64;
        let value = 20.0 + 3.0 * (t * std::f64::consts::TAU / 96.0).sin();
        format!("{i},{value:.4}\n")
    };
    let text: String = (0..4000).map(row).collect();
    std::fs::write(&normal, format!("t,value\n{text}")).unwrap();
    let fit = fit(&normal, &model, "metric");
    assert!(
        fit.status.success(),
        "{}",
        String::from_utf8_lossy(&fit.stderr)
    );
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Its first bytes cannot be looked at without taking them from the stream.
    let unnamed = hark(&["score", path(&fifo), "--model", path(&model)]);
    assert!(!unnamed.status.success());
    let stderr = String::from_utf8_lossy(&unnamed.stderr);
    assert!(stderr.contains("not a regular file"), "{stderr}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
        .args(["score", path(&fifo), "--model", path(&model), "--json"])
        .args(["--format", "csv"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // Opening the FIFO for writing waits for hark to open it for reading.
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    use std::io::Write;
    let rows: String = (10_000..15_000).map(row).collect();
    writer.write_all(rows.as_bytes()).unwrap();
    writer.flush().unwrap();
    // The writer stays open: a score must arrive anyway.
    let first = lines_rx.recv_timeout(std::time::Duration::from_secs(60));
    drop(writer);
    let status = child.wait().unwrap();
    let first = first.expect("no score while the pipe was still open");
    assert!(first.contains("\"score\""), "{first}");
    assert!(status.success());
}

/// `--summary` over a folder of clips, as a machine's test set is scored (the DCASE way):
/// one line per clip whose score ranks every faulty clip above every normal one; a broken
/// file among them is reported and the others are still scored.
#[test]
fn a_folder_of_clips_is_summarised_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let normal = dir.path().join("normal.wav");
    write_wav(&normal, 16_000, 1, 16, &machine(16_000, 60.0, 1, &[])).unwrap();
    let model = dir.path().join("m.onnx");
    let out = fit(&normal, &model, "audio");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clips = dir.path().join("test");
    std::fs::create_dir(&clips).unwrap();
    let whole = |fault| {
        [Episode {
            fault,
            start: 0.0,
            end: 10.0,
        }]
    };
    let cases = [
        ("normal_a", vec![]),
        ("normal_b", vec![]),
        ("normal_c", vec![]),
        ("bearing", whole(Fault::Bearing).to_vec()),
        ("speed", whole(Fault::Speed(1.06)).to_vec()),
        ("imbalance", whole(Fault::Imbalance(1.5)).to_vec()),
    ];
    for (seed, (name, episodes)) in cases.iter().enumerate() {
        let samples = machine(16_000, 10.0, 10 + seed as u64, episodes);
        write_wav(&clips.join(format!("{name}.wav")), 16_000, 1, 16, &samples).unwrap();
    }
    let broken = dir.path().join("broken.wav");
    std::fs::write(&broken, b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();

    let out = hark(&[
        "score",
        path(&clips),
        path(&broken),
        "--model",
        path(&model),
        "--summary",
        "--json",
    ]);
    fails_with(
        &out,
        1,
        &["broken.wav", "1 of 7 inputs could not be scored"],
    );
    let lines = stdout_json(&out);
    assert_eq!(lines.len(), cases.len(), "one line per clip: {lines:?}");
    let score = |name: &str| {
        let line = lines
            .iter()
            .find(|l| {
                l["file"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("{name}.wav"))
            })
            .unwrap_or_else(|| panic!("{name} in {lines:?}"));
        // 10 s of 32-ms hops, less the 4 frames before the first whole window.
        assert!(
            (300..=315).contains(&line["windows"].as_u64().unwrap()),
            "{line}"
        );
        line["score"].as_f64().unwrap()
    };
    let highest_normal = ["normal_a", "normal_b", "normal_c"]
        .map(score)
        .into_iter()
        .fold(0.0, f64::max);
    for faulty in ["bearing", "speed", "imbalance"] {
        assert!(
            score(faulty) > highest_normal,
            "{faulty} {} not above the normal clips' {highest_normal}",
            score(faulty)
        );
    }

    // Without --summary, several inputs: every line names its file, in the order given.
    let first = clips.join("speed.wav");
    let second = clips.join("normal_a.wav");
    let lines = json_lines(&hark(&[
        "score",
        path(&first),
        path(&second),
        "--model",
        path(&model),
        "--json",
    ]));
    let files: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    let switch = files.iter().position(|f| *f == path(&second)).unwrap();
    assert!(switch > 300, "the first file's lines come first");
    assert!(files[..switch].iter().all(|f| *f == path(&first)));
    assert!(files[switch..].iter().all(|f| *f == path(&second)));

    // A clip shorter than one window: an error with --summary, a warning without.
    let short = dir.path().join("short.wav");
    write_wav(&short, 16_000, 1, 16, &machine(16_000, 0.1, 3, &[])).unwrap();
    let out = hark(&["score", path(&short), "--model", path(&model), "--summary"]);
    fails_with(&out, 1, &["too short to score: 0.100 s"]);
    let out = hark(&["score", path(&short), "--model", path(&model)]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning") && out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rows `timestamp,value,...` of sensors that follow a daily cycle with some noise (5-minute
/// rows), `columns` of them; `bump(row, column)` is added to a value.
fn sensor_rows(rows: usize, columns: usize, bump: impl Fn(usize, usize) -> f64) -> String {
    let mut text = String::from("timestamp");
    for k in 0..columns {
        text += &format!(",sensor{k}");
    }
    text.push('\n');
    for i in 0..rows {
        let t = i as f64;
        text += &format!(
            "2026-03-{:02} {:02}:{:02}:00",
            1 + i / 288,
            i / 12 % 24,
            i % 12 * 5
        );
        for k in 0..columns {
            let noise = ((t * 12.9898 + k as f64 * 78.233).sin() * 43758.547).fract() * 0.3;
            let value = 40.0 + 5.0 * (t * std::f64::consts::TAU / 288.0).sin() + noise;
            text += &format!(",{:.4}", value + bump(i, k));
        }
        text.push('\n');
    }
    text
}

/// CSV as spreadsheets and loggers write it: quoted fields, `;` with decimal commas, tabs,
/// CRLF line ends. Each is read as the plain file: the same lines out, the same model fitted.
#[test]
fn csv_as_spreadsheets_and_loggers_write_it() {
    let dir = tempfile::tempdir().unwrap();
    let plain = sensor_rows(1200, 2, |i, k| if i == 1000 && k == 1 { 20.0 } else { 0.0 });
    let rows = || plain.lines().map(|l| l.split(',').collect::<Vec<_>>());
    let join = |sep: &str, field: &dyn Fn(&str) -> String, end: &str| {
        rows()
            .map(|r| r.iter().map(|f| field(f)).collect::<Vec<_>>().join(sep) + end)
            .collect::<String>()
    };
    let variants = [
        ("quoted", join(",", &|f| format!("\"{f}\""), "\n")),
        ("semicolons", join(";", &|f| f.replace('.', ","), "\n")),
        ("tabs", join("\t", &|f| f.to_string(), "\n")),
        (
            "tabs and decimal commas",
            join("\t", &|f| f.replace('.', ","), "\n"),
        ),
        ("crlf", join(",", &|f| f.to_string(), "\r\n")),
    ];
    assert!(
        variants[1].1.contains(";40,"),
        "decimal commas: {}",
        &variants[1].1[..80]
    );
    let score = |file: &Path| {
        let out = hark(&["score", path(file), "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("warning"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let plain_file = dir.path().join("plain.csv");
    std::fs::write(&plain_file, &plain).unwrap();
    let expected = score(&plain_file);
    let events = json_lines(&hark(&[
        "score",
        path(&plain_file),
        "--json",
        "--events-only",
    ]));
    assert!(
        events.iter().any(|e| e["start"] == stamp_of(&plain, 1000)),
        "{events:?}"
    );
    let plain_model = dir.path().join("plain.onnx");
    assert!(fit(&plain_file, &plain_model, "metric").status.success());
    for (name, text) in &variants {
        let file = dir.path().join(format!("{name}.csv"));
        std::fs::write(&file, text).unwrap();
        assert!(
            score(&file) == expected,
            "{name}: other lines than the plain file's"
        );
        let model = dir.path().join(format!("{name}.onnx"));
        let out = fit(&file, &model, "metric");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(&model).unwrap(),
            std::fs::read(&plain_model).unwrap(),
            "{name}: another model than the plain file's"
        );
    }

    // One column with decimal commas is ambiguous (`40,1234` could be a timestamp and a
    // value): `--delimiter` settles it.
    let column = |decimal: char| {
        rows()
            .map(|r| r[1].replace('.', &decimal.to_string()) + "\n")
            .collect::<String>()
    };
    let one = dir.path().join("one.csv");
    let commas = dir.path().join("one-commas.csv");
    std::fs::write(&one, column('.')).unwrap();
    std::fs::write(&commas, column(',')).unwrap();
    let run = |args: &[&str]| {
        let out = hark(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let expected = run(&["score", path(&one), "--json"]);
    assert!(!expected.is_empty());
    for delimiter in [";", "semicolon", "tab"] {
        assert!(
            run(&["score", path(&commas), "--json", "--delimiter", delimiter]) == expected,
            "--delimiter {delimiter}: other lines than the file with decimal points"
        );
    }
    assert!(
        run(&["score", path(&commas), "--json"]) != expected,
        "read as `timestamp,value` without --delimiter"
    );
    let out = hark(&["score", path(&one), "--delimiter", ":"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`:` is not a delimiter"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The timestamp of data row `i` of `text`.
fn stamp_of(text: &str, i: usize) -> &str {
    text.lines().nth(1 + i).unwrap().split(',').next().unwrap()
}

#[test]
fn a_series_with_no_model_is_learnt_then_scored_row_by_row() {
    // No normal data to fit on: `hark score` learns the series from its first rows, then
    // scores each row before reading the next (the detector `hark nab` runs).
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("temps.csv");
    // A spike at row 2000 and a stuck sensor (a flat line) from row 3000. (The spike's
    // windows stay among the 600 recent scores each new one is ranked against, so an
    // anomaly within 600 rows of another ranks lower.)
    let text = sensor_rows(3600, 1, |i, _| match i {
        2000 => 12.0,
        3000.. => -5.0 * ((i as f64) * std::f64::consts::TAU / 288.0).sin(),
        _ => 0.0,
    });
    std::fs::write(&csv, &text).unwrap();
    let lines = json_lines(&hark(&["score", path(&csv), "--json"]));
    let scores: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("score").is_some()).collect();
    assert_eq!(
        scores.len(),
        3600 - 750,
        "a score per row after the first 750"
    );
    assert_eq!(scores[0]["t"], stamp_of(&text, 750));
    assert!(
        scores
            .iter()
            .all(|l| (0.0..=1.0).contains(&l["score"].as_f64().unwrap()))
    );
    let events: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "anomaly")
        .map(|l| l["start"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&stamp_of(&text, 2000)),
        "the spike: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|&t| t >= stamp_of(&text, 3000) && t < stamp_of(&text, 3100)),
        "the stuck sensor within 100 rows: {events:?}"
    );
    let elsewhere = events
        .iter()
        .filter(|&&t| t != stamp_of(&text, 2000) && t < stamp_of(&text, 3000))
        .count();
    assert!(
        elsewhere <= 2,
        "{elsewhere} events in normal running: {events:?}"
    );

    // The same from stdin, and the same events with --events-only; --probation moves the
    // first score.
    let piped = json_lines(&hark_stdin(
        &["score", "-", "--format", "csv", "--json", "--events-only"],
        text.as_bytes(),
    ));
    let piped: Vec<&str> = piped.iter().map(|l| l["start"].as_str().unwrap()).collect();
    assert_eq!(piped, events);
    let early = json_lines(&hark(&[
        "score",
        path(&csv),
        "--json",
        "--probation",
        "300",
    ]));
    assert_eq!(early[0]["t"], stamp_of(&text, 300));
}

#[test]
fn a_series_scored_with_no_model_matches_the_nab_detector() {
    // On a NAB file longer than 5000 rows, `hark nab` learns from the same 750 rows, so the
    // rows it reports at its optimal threshold (1) are `hark score`'s events.
    let file =
        common::data_dir().join("nab/data/realKnownCause/machine_temperature_system_failure.csv");
    let text = std::fs::read_to_string(&file).unwrap();
    let values: Vec<f32> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(values.len() > 5000);
    let mut detector =
        hark_detector::SeriesDetector::new(hark_detector::SeriesParams::for_length(values.len()));
    let reported: Vec<&str> = values
        .iter()
        .enumerate()
        .filter(|&(_, &v)| detector.push(v) >= 1.0)
        .map(|(i, _)| stamp_of(&text, i))
        .collect();
    let lines = json_lines(&hark(&["score", path(&file), "--json", "--events-only"]));
    let events: Vec<&str> = lines.iter().map(|l| l["start"].as_str().unwrap()).collect();
    assert!(events.len() >= 4, "{events:?}");
    assert_eq!(events, reported);
}

#[test]
fn a_series_of_several_sensors_names_the_column_of_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("three.csv");
    // Sensor 2 jumps to a new level at row 2000; the others run on.
    let text = sensor_rows(2500, 3, |i, k| if k == 2 && i >= 2000 { 20.0 } else { 0.0 });
    std::fs::write(&csv, &text).unwrap();
    let lines = json_lines(&hark(&["score", path(&csv), "--json", "--events-only"]));
    let at_jump: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["start"] == stamp_of(&text, 2000))
        .collect();
    assert_eq!(at_jump.len(), 1, "{lines:?}");
    assert_eq!(at_jump[0]["column"], 2);
    assert_eq!(
        at_jump[0]["name"], "sensor2",
        "the header's name of the column"
    );
    let text_lines = hark(&["score", path(&csv), "--events-only"]);
    assert!(
        String::from_utf8_lossy(&text_lines.stdout).contains(" in column 2 (sensor2), score"),
        "{}",
        String::from_utf8_lossy(&text_lines.stdout)
    );
    // Without a header, the index alone.
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, text.split_once('\n').unwrap().1).unwrap();
    let bare_lines = json_lines(&hark(&["score", path(&bare), "--json", "--events-only"]));
    let at_jump = bare_lines
        .iter()
        .find(|l| l["start"] == stamp_of(&text, 2000));
    assert!(
        at_jump.is_some_and(|l| l["column"] == 2 && l.get("name").is_none()),
        "{bare_lines:?}"
    );
    // One column by --channel: the events are that column's alone.
    let only = json_lines(&hark(&[
        "score",
        path(&csv),
        "--json",
        "--events-only",
        "--channel",
        "2",
    ]));
    assert!(only.iter().any(|l| l["start"] == stamp_of(&text, 2000)));
    assert!(only.iter().all(|l| l.get("column").is_none()), "{only:?}");
    // --summary: one line with the rows scored and the events.
    let summary = json_lines(&hark(&["score", path(&csv), "--json", "--summary"]));
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["windows"], 2500 - 750);
    assert_eq!(summary[0]["events"].as_u64().unwrap() as usize, lines.len());
}

#[test]
fn a_series_with_no_model_refuses_what_it_cannot_score() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("pump.wav");
    write_wav(&wav, 16_000, 1, 16, &machine(16_000, 1.0, 1, &[])).unwrap();
    fails_with(
        &hark(&["score", path(&wav)]),
        1,
        &["without --model", "fit a model", "hark fit"],
    );
    let csv = dir.path().join("short.csv");
    std::fs::write(&csv, sensor_rows(500, 1, |_, _| 0.0)).unwrap();
    fails_with(
        &hark(&["score", path(&csv), "--summary"]),
        1,
        &["too short to score: 500 rows", "--probation"],
    );
    let out = hark(&["score", path(&csv)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing scored: 500 rows"));
    fails_with(
        &hark(&["score", path(&csv), "--threshold", "1.5"]),
        2,
        &["without --model", "(0, 1]"],
    );
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/anomaly/reference_machine.onnx");
    fails_with(
        &hark(&[
            "score",
            path(&csv),
            "--model",
            path(&model),
            "--probation",
            "100",
        ]),
        2,
        &["--probation"],
    );
}
