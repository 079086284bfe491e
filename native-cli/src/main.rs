//! `hark`: Hark's command line.
//!
//! Exit codes: 0 success, 1 a runtime error (unreadable or corrupt input, bad samples, a write
//! that failed), 2 a usage error (unknown flag or value).

// Messages go through `say!` and results through `out!`, which do not panic on a closed stream.
#![deny(clippy::print_stderr, clippy::print_stdout)]

/// `println!` for results: when stdout is closed early (`hark detect ... | head`), the program
/// ends quietly with success instead of panicking; another write error is exit code 1.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(e);
        }
    }};
}

/// `eprintln!` for messages (warnings, errors, progress) that never panics: when stderr is
/// closed or nobody reads it any more (`hark listen 2>&1 | head`, a supervisor's log pipe
/// gone), the message is dropped and the work goes on, so a model being fitted is still
/// written. `eprintln!` would panic there (clippy's `print_stderr` keeps it out).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// Ends the program after a failed write to stdout.
pub(crate) fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    say!("hark: error: cannot write to stdout: {e}");
    std::process::exit(1);
}

/// A usage error found after the arguments were parsed (a combination that the model read
/// rules out): exit code 2, as for clap's own.
#[derive(Debug)]
pub(crate) struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// ` (a KIND model: what to do)` when the model file at `path` is of `kind` (its
/// `hark.kind`), else nothing: for the error of a command handed the other kind of model.
pub(crate) fn model_hint(path: &std::path::Path, kind: &str, what: &str) -> String {
    let is_kind = std::fs::read(path)
        .ok()
        .and_then(|bytes| hark_detector::model_kind(&bytes).ok())
        .is_some_and(|k| k == kind);
    if is_kind {
        let kind = if kind == "anomaly" {
            "an anomaly"
        } else {
            "a keyword"
        };
        format!(" ({kind} model: {what})")
    } else {
        String::new()
    }
}

mod anomaly;
mod decoded;
mod features;
mod input;
mod kws;
mod listen;
mod mp4;
mod nab;
mod wav;
mod webm;

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
    /// Compute spectrogram features of an audio file (or samples on stdin) and write them as a float32 .npy of shape
    /// (frames, bins).
    Features(features::Args),
    /// Classify clips with the keyword model: one line (or JSON line) per file.
    Classify(kws::ClassifyArgs),
    /// Spot keywords in recordings: one line (or JSON line) per event.
    Detect(kws::DetectArgs),
    /// Spot keywords live from an input device (a microphone): one line (or JSON line) per
    /// event; or, with an anomaly model from `fit`, score the device as `score` scores a file.
    Listen(listen::ListenArgs),
    /// List the input devices, with their ids for `listen --device` and their configurations.
    Devices(listen::DevicesArgs),
    /// Fit an anomaly model (an autoencoder) to recordings of normal operation, on this
    /// machine, and calibrate its threshold.
    Fit(anomaly::FitArgs),
    /// Anomaly scores of recordings or sensor series: one line (or JSON line) per frame or
    /// row, and the anomaly events; or one line per input (--summary). Without --model, a
    /// series is learnt from its first rows and then scored row by row.
    Score(anomaly::ScoreArgs),
    /// Run the streaming series detector on the Numenta Anomaly Benchmark, write the results
    /// in NAB's layout and score them with NAB's rules.
    Nab(nab::NabArgs),
    /// Print a feature preset in the text form models carry in their metadata.
    Config {
        /// The preset.
        #[arg(long, default_value = "kws", value_parser = clap::builder::PossibleValuesParser::new(hark_dsp::FeatureConfig::PRESETS))]
        preset: String,
    },
}

/// An error as `hark` prints it: its chain, and for samples that are not finite (NaN or
/// infinite), how to go on anyway.
pub(crate) fn error_line(e: &anyhow::Error) -> String {
    let non_finite = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<hark_dsp::ProcessError>(),
            Some(hark_dsp::ProcessError::NonFinite { .. })
        ) || matches!(
            c.downcast_ref::<hark_detector::DetectorError>(),
            Some(hark_detector::DetectorError::Samples(
                hark_dsp::ProcessError::NonFinite { .. }
            ))
        )
    });
    let hint = if non_finite {
        " (--lenient makes such samples 0 and goes on)"
    } else {
        ""
    };
    format!("{e:#}{hint}")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Features(args) => features::run(&args),
        Command::Classify(args) => kws::classify(&args),
        Command::Detect(args) => kws::detect(&args),
        Command::Listen(args) => listen::listen(&args),
        Command::Devices(args) => listen::devices(&args),
        Command::Fit(args) => anomaly::fit(&args),
        Command::Score(args) => anomaly::score(&args),
        Command::Nab(args) => nab::run(&args),
        Command::Config { preset } => hark_dsp::FeatureConfig::preset(&preset)
            .map(|c| out!("{c}"))
            .ok_or_else(|| anyhow::anyhow!("unknown preset {preset}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say!("hark: error: {}", error_line(&e));
            ExitCode::from(if e.downcast_ref::<Usage>().is_some() {
                2
            } else {
                1
            })
        }
    }
}
