//! `hark`: Hark's command line.
//!
//! Exit codes: 0 success, 1 a runtime error (unreadable or corrupt input, bad samples, a write
//! that failed), 2 a usage error (unknown flag or value).

mod features;
mod wav;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Hark: streaming keyword spotting and anomaly detection, on the device.
#[derive(Debug, Parser)]
#[command(name = "hark", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute spectrogram features of a WAV file and write them as a float32 .npy of shape
    /// (frames, bins).
    Features(features::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Features(args) => features::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hark: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
