//! Helpers shared by the CLI's end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The shared data directory (`HARK_DATA`, or `../shared/data` beside the checkout).
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
