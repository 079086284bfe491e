//! `hark listen` on a real ALSA capture device: a PCM of `type file` whose `infile` is a raw
//! recording (native-cli/tests/alsa/hark_test.conf), opened through cpal like a microphone.
//! The device delivers the file faster than real time and zeros after its end, so the tests
//! bound the capture with `--duration`. With an anomaly model from `hark fit`, `listen` scores
//! the device as `hark score` scores a file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{fails_with, hark, hark_env, json_lines};
use hark_tests::machine::{BEARING_THEN_IMBALANCE, machine, write_wav};

fn alsa_config() -> String {
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/alsa/hark_test.conf");
    format!("/usr/share/alsa/alsa.conf:{}", ours.display())
}

/// The bundled sample recording as raw 16 kHz mono s16le, followed by `silence` seconds of
/// zeros, in a temporary directory.
fn raw_sample(dir: &Path, silence: f64) -> PathBuf {
    let wav = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.wav");
    let mut reader = hound::WavReader::open(wav).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16)
    );
    let mut bytes: Vec<u8> = reader
        .samples::<i16>()
        .flat_map(|s| s.unwrap().to_le_bytes())
        .collect();
    bytes.resize(bytes.len() + (silence * 32_000.0) as usize, 0);
    let path = dir.join("sample.raw");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn listen(raw: &Path, args: &[&str]) -> Output {
    let config = alsa_config();
    let mut all = vec!["listen", "--device", "alsa:hark_test", "--json"];
    all.extend_from_slice(args);
    hark_env(
        &all,
        &[
            ("ALSA_CONFIG_PATH", Path::new(&config)),
            ("HARK_ALSA_INFILE", raw),
        ],
    )
}

#[test]
fn listen_on_a_capture_device_spots_the_keywords_without_dropping() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_sample(dir.path(), 1.0);
    let seconds = std::fs::metadata(&raw).unwrap().len() as f64 / 32_000.0;
    // A ring as long as the recording: the device delivers it all at once.
    let output = listen(
        &raw,
        &["--duration", &format!("{seconds}"), "--ring-ms", "20000"],
    );
    let lines = json_lines(&output);
    let first = &lines[0];
    assert_eq!(first["status"], "listening");
    assert_eq!(first["device"], "alsa:hark_test");
    assert_eq!(
        first["rate"], 16_000,
        "the model's rate, asked of the device"
    );
    assert_eq!(first["channels"], 1);
    assert_eq!(first["format"], "i16");
    let keywords: Vec<&str> = lines.iter().filter_map(|l| l["keyword"].as_str()).collect();
    assert_eq!(keywords, ["yes", "no", "left", "right", "stop", "go"]);
    // Each event lies at its word (the sample's words start at 0.5 s, every 1.5 s).
    for (i, event) in lines
        .iter()
        .filter(|l| l.get("keyword").is_some())
        .enumerate()
    {
        let end = event["end"].as_f64().unwrap();
        let word_start = 0.5 + 1.5 * i as f64;
        assert!(
            end > word_start && end < word_start + 1.6,
            "event {event} is not at word {i}"
        );
    }
    let last = lines.last().unwrap();
    assert_eq!(last["status"], "stopped");
    assert_eq!(last["dropped"], 0);
    assert_eq!(last["events"], 6);
    assert!((last["seconds"].as_f64().unwrap() - seconds).abs() < 0.01);
}

/// `saved` (from `listen --save`) holds the samples of `raw` (s16le), as 32-bit floats.
fn assert_saved(saved: &Path, raw: &Path, rate: u32, channels: u16) {
    let mut reader = hound::WavReader::open(saved).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (rate, channels, 32)
    );
    assert_eq!(spec.sample_format, hound::SampleFormat::Float);
    let got: Vec<f32> = reader.samples::<f32>().map(Result::unwrap).collect();
    let want: Vec<f32> = std::fs::read(raw)
        .unwrap()
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    assert_eq!(got.len(), want.len(), "samples saved");
    assert!(got == want, "the saved samples differ from the device's");
}

#[test]
fn listen_saves_what_it_heard() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_sample(dir.path(), 0.0);
    let seconds = std::fs::metadata(&raw).unwrap().len() as f64 / 32_000.0;
    let saved = dir.path().join("heard.wav");
    let output = listen(
        &raw,
        &[
            "--duration",
            &format!("{seconds}"),
            "--ring-ms",
            "20000",
            "--save",
            saved.to_str().unwrap(),
        ],
    );
    let keywords = json_lines(&output)
        .iter()
        .filter(|l| l.get("keyword").is_some())
        .count();
    assert_eq!(keywords, 6);
    assert_saved(&saved, &raw, 16_000, 1);
    // A file that cannot be made is a clear error before listening.
    let out = listen(
        &raw,
        &["--duration", "1", "--save", "/no/such/dir/heard.wav"],
    );
    fails_with(&out, 1, &["cannot write /no/such/dir/heard.wav"]);
}

#[test]
fn a_slow_consumer_drops_samples_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_sample(dir.path(), 0.0);
    // A 50 ms ring and a detector that sleeps 20 ms per chunk, against a device that
    // delivers seconds of audio in milliseconds: most samples cannot fit.
    let output = listen(
        &raw,
        &[
            "--duration",
            "5",
            "--ring-ms",
            "50",
            "--consumer-delay-ms",
            "20",
        ],
    );
    let lines = json_lines(&output);
    let last = lines.last().unwrap();
    assert_eq!(last["status"], "stopped");
    let dropped = last["dropped"].as_u64().unwrap();
    assert!(dropped > 0, "nothing dropped: {last}");
    assert!(dropped < 5 * 16_000, "more dropped than captured: {last}");
    assert!((last["seconds"].as_f64().unwrap() - 5.0).abs() < 0.01);
}

#[test]
fn an_unknown_device_is_a_clear_error() {
    let output = hark(&[
        "listen",
        "--device",
        "no such microphone",
        "--duration",
        "1",
    ]);
    fails_with(
        &output,
        1,
        &["no input device matches \"no such microphone\""],
    );
}

#[test]
fn devices_lists_inputs_as_json_lines() {
    let config = alsa_config();
    let output = hark_env(
        &["devices", "--json"],
        &[("ALSA_CONFIG_PATH", Path::new(&config))],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let device: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert!(
            device["id"].as_str().is_some_and(|id| id.contains(':')),
            "{device}"
        );
    }
}

/// `hark listen ARGS` on the file device with no --duration (it yields zeros forever after
/// the file), interrupted by SIGINT after `after`.
fn listen_until_sigint(raw: &Path, args: &[&str], after: std::time::Duration) -> Output {
    let config = alsa_config();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_hark"))
        .args(["listen", "--device", "alsa:hark_test"])
        .args(args)
        .env("ALSA_CONFIG_PATH", &config)
        .env("HARK_ALSA_INFILE", raw)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}

#[test]
fn ctrl_c_stops_cleanly_with_a_summary() {
    // No --duration: the device yields zeros forever after the file, until SIGINT.
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_sample(dir.path(), 0.0);
    let output = listen_until_sigint(
        &raw,
        &["--ring-ms", "20000"],
        std::time::Duration::from_secs(2),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary = stderr.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("hark: ") && summary.contains("s of audio, 6 events, "),
        "{stderr}"
    );
    assert!(summary.ends_with("samples dropped"), "{summary}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().count(),
        6,
        "one readable line per keyword: {stdout}"
    );
}

#[test]
fn ctrl_c_runs_what_the_ring_holds_before_stopping() {
    // The device fills a 20-s ring with the whole recording in milliseconds; a detector that
    // sleeps 200 ms per 4096-sample chunk (0.26 s of audio) has run about a second of it
    // when SIGINT comes. The rest was captured, so it is still run: all six keywords.
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_sample(dir.path(), 0.0);
    let output = listen_until_sigint(
        &raw,
        &["--ring-ms", "20000", "--consumer-delay-ms", "200", "--json"],
        std::time::Duration::from_secs(1),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output);
    let keywords: Vec<&str> = lines.iter().filter_map(|l| l["keyword"].as_str()).collect();
    assert_eq!(keywords, ["yes", "no", "left", "right", "stop", "go"]);
    // (The device goes on with zeros after the file, unpaced: those overflow the ring and
    // are counted as dropped, after the recording.)
    assert_eq!(lines.last().unwrap()["status"], "stopped");
}

/// The samples of a 16-bit WAV file as the raw s16le the file device plays (interleaved as in
/// the file), so that `listen` hears exactly what `score` reads from the file.
fn raw_of_wav(wav: &Path, raw: &Path) {
    let mut reader = hound::WavReader::open(wav).unwrap();
    assert_eq!(reader.spec().bits_per_sample, 16);
    let bytes: Vec<u8> = reader
        .samples::<i16>()
        .flat_map(|s| s.unwrap().to_le_bytes())
        .collect();
    std::fs::write(raw, bytes).unwrap();
}

/// A synthetic machine (seed 1) and a model of it, with a recording of another run (30 s,
/// seed 2) with [`BEARING_THEN_IMBALANCE`], as 16-bit WAV files of `channels` (the machine
/// seen at gains 1, 0.6, 0.36, ...), the recording also as the device's raw input.
struct Fitted {
    dir: tempfile::TempDir,
    normal: PathBuf,
    faulty: PathBuf,
    raw: PathBuf,
    model: String,
}

/// [`Fitted`] with `normal_seconds` of normal running fitted with `preset`.
fn fitted(rate: u32, channels: u16, normal_seconds: f64, preset: &str) -> Fitted {
    let dir = tempfile::tempdir().unwrap();
    let spread = |mono: Vec<f32>| -> Vec<f32> {
        mono.iter()
            .flat_map(|&s| (0..channels).map(move |k| s * 0.6f32.powi(i32::from(k))))
            .collect()
    };
    let normal = dir.path().join("normal.wav");
    let faulty = dir.path().join("faulty.wav");
    let raw = dir.path().join("faulty.raw");
    let model = dir.path().join("model.onnx");
    let samples = spread(machine(rate, normal_seconds, 1, &[]));
    write_wav(&normal, rate, channels, 16, &samples).unwrap();
    let samples = spread(machine(rate, 30.0, 2, &BEARING_THEN_IMBALANCE));
    write_wav(&faulty, rate, channels, 16, &samples).unwrap();
    raw_of_wav(&faulty, &raw);
    let out = hark(&[
        "fit",
        "--normal",
        normal.to_str().unwrap(),
        "--output",
        model.to_str().unwrap(),
        "--preset",
        preset,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = model.to_str().unwrap().to_string();
    Fitted {
        dir,
        normal,
        faulty,
        raw,
        model,
    }
}

/// The JSON lines of `listen` without its status lines.
fn without_status(lines: &[serde_json::Value]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .filter(|l| l.get("status").is_none())
        .cloned()
        .collect()
}

/// `hark listen --json` with the fitted model on its faulty recording, all 30 s of it with a
/// ring to hold them, and `extra` arguments.
fn listen_fitted(m: &Fitted, extra: &[&str]) -> Output {
    let mut args = vec![
        "--model",
        &m.model,
        "--duration",
        "30",
        "--ring-ms",
        "40000",
    ];
    args.extend_from_slice(extra);
    listen(&m.raw, &args)
}

/// The anomaly events among the JSON lines of a run.
fn anomaly_events(output: &Output) -> Vec<serde_json::Value> {
    json_lines(output)
        .into_iter()
        .filter(|l| l["event"] == "anomaly")
        .collect()
}

#[test]
fn listen_with_an_anomaly_model_scores_the_device_as_score_scores_the_file() {
    // A microphone by a machine: `hark listen --model pump.onnx` prints what `hark score`
    // prints for the same samples, every frame's score and the events, and finds both
    // faults.
    let m = fitted(16_000, 1, 60.0, "audio");
    let heard = json_lines(&listen_fitted(&m, &[]));
    let first = &heard[0];
    assert_eq!(first["status"], "listening");
    assert_eq!(
        (first["rate"].as_u64(), first["channels"].as_u64()),
        (Some(16_000), Some(1))
    );
    let last = heard.last().unwrap();
    assert_eq!(last["status"], "stopped");
    assert_eq!(last["dropped"], 0);
    assert_eq!(last["events"], 2);
    let faulty = m.faulty.to_str().unwrap();
    let scored = json_lines(&hark(&["score", faulty, "--model", &m.model, "--json"]));
    let heard = without_status(&heard);
    assert!(heard.len() > 900, "{} lines", heard.len());
    assert_eq!(heard, scored, "listen and score differ");
    let events: Vec<&serde_json::Value> =
        heard.iter().filter(|l| l["event"] == "anomaly").collect();
    assert_eq!(events.len(), 2, "{events:?}");
    for (event, fault) in events.iter().zip(&BEARING_THEN_IMBALANCE) {
        let start = event["start"].as_f64().unwrap();
        assert!(
            start >= fault.start && start < fault.start + 1.0,
            "{event} is not at {fault:?}"
        );
    }

    // --events-only and --threshold, as for `score`.
    let only = json_lines(&listen_fitted(&m, &["--events-only", "--threshold", "40"]));
    let only = without_status(&only);
    assert_eq!(only.len(), 2, "{only:?}");
    assert!(
        only.iter()
            .all(|l| l["event"] == "anomaly" && l["peak"].as_f64().unwrap() > 40.0)
    );
}

#[test]
fn listen_reads_every_channel_an_anomaly_model_was_fitted_on() {
    // Three axes of a vibration sensor through one 3-channel device: the model reads them
    // side by side, so the device is opened with 3 channels and none is mixed away.
    let m = fitted(8_000, 3, 60.0, "vibration");
    let saved = m.dir.path().join("heard.wav");
    let heard = listen_fitted(&m, &["--events-only", "--save", saved.to_str().unwrap()]);
    let lines = json_lines(&heard);
    assert_eq!(lines[0]["channels"], 3);
    assert_eq!(lines[0]["rate"], 8_000);
    let faulty = m.faulty.to_str().unwrap();
    let scored = hark(&[
        "score",
        faulty,
        "--model",
        &m.model,
        "--json",
        "--events-only",
    ]);
    assert_eq!(anomaly_events(&heard).len(), 2);
    assert_eq!(anomaly_events(&heard), anomaly_events(&scored));
    // --save wrote what the scorer heard: every channel, the device's samples exactly.
    assert_saved(&saved, &m.raw, 8_000, 3);

    // A ring too small for what the device delivers: whole sample frames are dropped and
    // counted, and what is kept stays aligned (a partial frame would be an error).
    let slow = json_lines(&listen(
        &m.raw,
        &[
            "--model",
            &m.model,
            "--duration",
            "30",
            "--ring-ms",
            "50",
            "--consumer-delay-ms",
            "20",
            "--events-only",
        ],
    ));
    let last = slow.last().unwrap();
    assert_eq!(last["status"], "stopped");
    let dropped = last["dropped"].as_u64().unwrap();
    assert!(dropped > 0 && dropped < 30 * 8_000, "{last}");

    let out = listen_fitted(&m, &["--channel", "1"]);
    fails_with(&out, 2, &["--channel 1", "reads 3 channels side by side"]);
}

#[test]
fn listen_refuses_options_the_model_does_not_read() {
    let m = fitted(16_000, 1, 20.0, "audio");
    let raw = raw_sample(m.dir.path(), 0.0);
    let model = m.model.as_str();
    for flag in [
        &["--stride", "4"][..],
        &["--gate", model],
        &["--rearm", "0.5"],
        &["--no-dense"],
    ] {
        let mut args = vec!["--model", model, "--duration", "1"];
        args.extend_from_slice(flag);
        let out = listen(&raw, &args);
        fails_with(&out, 2, &[flag[0], "an option of the keyword detector"]);
    }
    // A keyword model prints only events anyway; its scores are probabilities.
    fails_with(
        &listen(&raw, &["--duration", "1", "--events-only"]),
        2,
        &["--events-only is for anomaly models"],
    );
    fails_with(
        &listen(&raw, &["--duration", "1", "--threshold", "1.5"]),
        2,
        &["not a number in (0, 1]"],
    );

    // A model of sensor values reads rows, not a device's audio.
    let csv = m.dir.path().join("temps.csv");
    let rows: String = (0..400)
        .map(|i| format!("{i},{}\n", 20.0 + (f64::from(i) * 0.1).sin()))
        .collect();
    std::fs::write(&csv, rows).unwrap();
    let metric = m.dir.path().join("temps.onnx");
    let (csv, metric) = (csv.to_str().unwrap(), metric.to_str().unwrap());
    let fit = hark(&["fit", "--normal", csv, "-o", metric, "--preset", "metric"]);
    assert!(fit.status.success());
    fails_with(
        &listen(&raw, &["--model", metric, "--duration", "1"]),
        1,
        &["reads sensor values", "hark score -"],
    );
}

#[test]
fn fit_records_normal_running_from_a_device() {
    // `hark fit --device` records the normal running itself: the model is the one fitted on
    // a file of the same samples, byte for byte, for one channel and for three side by side.
    for (rate, channels, preset) in [(16_000, 1, "audio"), (8_000, 3, "vibration")] {
        let m = fitted(rate, channels, 60.0, preset);
        let raw = m.dir.path().join("normal.raw");
        raw_of_wav(&m.normal, &raw);
        let model = m.dir.path().join("device.onnx");
        let config = alsa_config();
        let (rate, channels) = (rate.to_string(), channels.to_string());
        let out = hark_env(
            &[
                "fit",
                "--device",
                "alsa:hark_test",
                "--duration",
                "60",
                "--preset",
                preset,
                "--rate",
                &rate,
                "--channels",
                &channels,
                "-o",
                model.to_str().unwrap(),
            ],
            &[
                ("ALSA_CONFIG_PATH", Path::new(&config)),
                ("HARK_ALSA_INFILE", &raw),
            ],
        );
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{log}");
        assert!(
            log.contains(&format!("recording 60 s of normal running from alsa:hark_test ({rate} Hz, {channels} channel(s))")),
            "{log}"
        );
        assert!(
            std::fs::read(&model).unwrap() == std::fs::read(&m.model).unwrap(),
            "{preset}: the model fitted from the device differs from the file's"
        );
    }
    let out = hark(&[
        "fit",
        "--device",
        "alsa:hark_test",
        "--preset",
        "audio",
        "-o",
        "x.onnx",
    ]);
    fails_with(&out, 2, &["--duration"]);
    let out = hark(&[
        "fit",
        "--device",
        "alsa:hark_test",
        "--duration",
        "5",
        "--preset",
        "metric",
        "-o",
        "x.onnx",
    ]);
    fails_with(&out, 2, &["a metric model is fitted on CSV rows"]);
}
