//! `hark listen` on a real ALSA capture device: a PCM of `type file` whose `infile` is a raw
//! recording (native-cli/tests/alsa/hark_test.conf), opened through cpal like a microphone.
//! The device delivers the file faster than real time and zeros after its end, so the tests
//! bound the capture with `--duration`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{fails_with, hark, hark_env, json_lines};

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
