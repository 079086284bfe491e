//! Helpers shared by the CLI's end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The shared data directory (`HARK_DATA`, or `../shared/data` beside the checkout).
#[allow(dead_code)] // not every test file uses it
pub fn data_dir() -> PathBuf {
    std::env::var_os("HARK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// Runs the `hark` binary built for these tests.
pub fn hark(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hark"))
        .args(args)
        .output()
        .expect("hark runs")
}

/// Runs the `hark` binary with extra environment variables.
#[allow(dead_code)] // not every test file uses it
pub fn hark_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hark"));
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("hark runs")
}

/// Runs the `hark` binary with `stdin` as its standard input.
#[allow(dead_code)] // not every test file uses it
pub fn hark_stdin(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hark"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hark starts");
    let mut input = child.stdin.take().expect("stdin");
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // hark may stop reading early (a fatal bad line): a broken pipe is fine.
        let _ = input.write_all(&bytes);
    });
    let output = child.wait_with_output().expect("hark runs");
    writer.join().expect("writer thread");
    output
}

/// The JSON lines of a successful run's stdout.
#[allow(dead_code)] // not every test file uses it
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    assert!(
        output.status.success(),
        "hark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout_json(output)
}

/// The JSON lines of a run's stdout, whether it succeeded or not (what a run over several
/// files printed before failing for one of them).
#[allow(dead_code)] // not every test file uses it
pub fn stdout_json(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Asserts that a run failed with exit code `code` (1: a runtime error, 2: a usage error)
/// and that its stderr names every one of `wanted`; returns the stderr.
#[allow(dead_code)] // not every test file uses it
pub fn fails_with(output: &Output, code: i32, wanted: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    for w in wanted {
        assert!(stderr.contains(w), "{w:?} not in {stderr}");
    }
    stderr
}
