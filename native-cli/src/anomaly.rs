//! `hark fit` and `hark score`: an autoencoder fitted on normal data, and its anomaly scores
//! on files, raw PCM and CSV sensor lines.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use hark_detector::{
    AnomalyInput, AnomalyModel, AnomalyOutput, AnomalyPreset, AnomalyScorer, Calibration,
    SeriesDetector, SeriesParams, fit_anomaly,
};
use hark_dsp::MultichannelFrontend;
use serde_json::json;

use crate::Usage;
use crate::input::{self, ChannelSelect, Format, InputArgs, Reader, Source};
use crate::listen::{DeviceSource, positive_seconds};

/// The kind of data a model is fitted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Machine sounds: 16 kHz log-mel, 5-frame windows.
    Audio,
    /// Vibration and fast sensors at their own rate: linear band energies, 5-frame windows.
    Vibration,
    /// Slow metrics, one value per row: windows of 32 values.
    Metric,
}

impl From<Preset> for AnomalyPreset {
    fn from(p: Preset) -> Self {
        match p {
            Preset::Audio => AnomalyPreset::Audio,
            Preset::Vibration => AnomalyPreset::Vibration,
            Preset::Metric => AnomalyPreset::Metric,
        }
    }
}

/// Arguments of `hark fit`.
#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// Recordings of normal operation: files (WAV, FLAC, MP3, Ogg Vorbis or Opus, WebM, M4A, AAC,
    /// AIFF, CSV) or folders of them.
    #[arg(long, required_unless_present = "device", conflicts_with = "device", num_args = 1..)]
    normal: Vec<PathBuf>,
    /// Record the normal operation from an input device instead (an id from `hark devices`
    /// or a part of its name) for --duration seconds; Ctrl-C ends the recording early. The
    /// device is asked for --rate (default: 16 kHz for `audio`, its own rate for
    /// `vibration`) and --channels (default 1; more are fitted side by side unless --mix or
    /// --channel).
    #[arg(long, requires = "duration")]
    device: Option<String>,
    /// With --device: seconds to record.
    #[arg(long, requires = "device", value_parser = positive_seconds)]
    duration: Option<f64>,
    /// Where to write the ONNX model.
    #[arg(long, short)]
    output: PathBuf,
    /// The kind of data.
    #[arg(long, value_enum)]
    preset: Preset,
    #[command(flatten)]
    source: InputArgs,
    /// Mix the channels of multi-channel recordings (or the value columns of CSV rows) into
    /// one (their mean). Without it (and without --channel), every channel gets its own
    /// features, side by side in the model's input, so that a fault only one axis or sensor
    /// picks up is not averaged away; the recordings scored then need the same channels.
    #[arg(long, conflicts_with = "channel")]
    mix: bool,
    /// Consecutive frames (rows for metric) per window (default: the preset's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    context: Option<u32>,
    /// Scores averaged into the smoothed score (default: the preset's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    smoothing: Option<u32>,
    /// Set the threshold where a normal frame's smoothed score exceeds it with this
    /// probability, from a gamma distribution fitted to the held-back normal data's scores
    /// (never below the highest of them).
    #[arg(long, default_value_t = 1e-5, conflicts_with = "percentile")]
    false_alarm: f64,
    /// Set the threshold at this percentile of the held-back normal data's smoothed scores
    /// instead.
    #[arg(long)]
    percentile: Option<f64>,
    /// Widths of the encoder's layers down to the bottleneck, e.g. 64,8 (default: the
    /// preset's).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Passes over the training windows (at least 2000 updates are made in any case).
    #[arg(long)]
    epochs: Option<usize>,
    /// Seed of the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Arguments of `hark score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Recordings or sensor series: audio files (WAV, FLAC, MP3, Ogg Vorbis or Opus, WebM, M4A,
    /// AAC, AIFF), CSV, raw PCM (`--format`), `-` for stdin, or folders (every audio and .csv file
    /// inside). With several, each line names its file, and a file that fails is reported and the
    /// others are still scored.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// An anomaly model from `hark fit` (or exported with the same metadata). Without one,
    /// a series of values (CSV rows, or raw values with --format) is learnt as it comes:
    /// its first `--probation` rows, then each row is scored before the next is read (the
    /// detector `hark nab` runs).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Without --model: the rows learnt from before the first score.
    #[arg(long, default_value_t = SERIES_PROBATION, conflicts_with = "model",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    probation: u64,
    #[command(flatten)]
    source: InputArgs,
    /// JSON lines: {"t", "score", "smoothed"} per frame or row and
    /// {"event": "anomaly", "start", "end", "peak"} per event.
    #[arg(long)]
    json: bool,
    /// Print only the events, not every frame's score.
    #[arg(long, conflicts_with = "summary")]
    events_only: bool,
    /// One line per input instead: its anomaly score (the mean of its windows' scores, as the
    /// DCASE baseline ranks clips), the highest smoothed score, the windows scored and the
    /// events; with --json {"file", "score", "peak", "windows", "events"}.
    #[arg(long)]
    summary: bool,
    /// Threshold of the smoothed score instead of the model's calibrated one. Without
    /// --model, of a row's score, in (0, 1] (default 1: the most unusual of its recent rows at
    /// every time scale, or beyond the range seen before).
    #[arg(long)]
    threshold: Option<f32>,
}

/// `hark fit --device`: the device, opened as `args` ask.
fn open_device(spec: &str, args: &FitArgs, select: ChannelSelect) -> Result<Box<dyn Source>> {
    let rate = match args.preset {
        Preset::Audio => Some(
            args.source
                .rate
                .unwrap_or(hark_dsp::FeatureConfig::machine().sample_rate.hz()),
        ),
        Preset::Vibration => args.source.rate,
        Preset::Metric => {
            return Err(Usage(
                "--device records audio or vibration; a metric model is fitted on CSV rows \
                 (--normal)"
                    .into(),
            )
            .into());
        }
    };
    let seconds = args.duration.unwrap_or(60.0);
    let device = DeviceSource::open(Some(spec), rate, args.source.channels, select, seconds)?;
    say!(
        "hark: fit: recording {seconds} s of normal running from {} ({} Hz, {} channel(s)); \
         Ctrl-C ends the recording early",
        device.id(),
        input::Source::rate(&device).hz(),
        device.device_channels()
    );
    Ok(Box::new(device))
}

/// Runs `hark fit`.
pub fn fit(args: &FitArgs) -> Result<()> {
    let started = Instant::now();
    let preset = AnomalyPreset::from(args.preset);
    let files = match &args.device {
        Some(spec) => vec![PathBuf::from(spec)],
        None => input::expand(&args.normal, input::SAMPLE_EXTENSIONS)?,
    };
    let mut source_args = args.source.clone();
    if args.preset == Preset::Metric && source_args.rate.is_none() {
        source_args.rate = Some(1);
    }
    let select = match source_args.channel {
        Some(k) => ChannelSelect::Only(k),
        None if args.mix => ChannelSelect::Mix,
        None => ChannelSelect::All,
    };
    // The first file's rate sets a vibration model's rate; the others are resampled to it.
    // Its channel count sets the model's; the others must have as many.
    let mut input: Option<(AnomalyInput, usize, &PathBuf)> = None;
    let mut recordings = Vec::new();
    let mut seconds = 0.0;
    for file in &files {
        let source = match &args.device {
            Some(spec) => open_device(spec, args, select)?,
            None => input::open_as(file, &source_args, select)?,
        };
        let mut source = Reader::new(source, &source_args, file);
        let (rate, channels) = (source.rate(), source.channels());
        let (input, first_channels, first) =
            input.get_or_insert_with(|| (preset.input(rate), channels, file));
        if channels != *first_channels {
            bail!(
                "{}: {channels} channel(s), but {} has {}: a model gives every channel its own \
                 features, so all recordings need the same channels (--mix or --channel K \
                 fits a model of one)",
                file.display(),
                first.display(),
                first_channels
            );
        }
        let (frames, duration) =
            read_frames(&mut source, input).with_context(|| format!("{}", file.display()))?;
        seconds += duration;
        recordings.push(frames);
    }
    let (input, channels, _) = input.context("no input files")?;
    let mut params = preset.fit_params();
    params.channels = channels;
    if let Some(c) = args.context {
        params.context_frames = c as usize;
    }
    if let Some(s) = args.smoothing {
        params.smoothing_frames = s as usize;
    }
    params.calibration = match args.percentile {
        Some(p) => Calibration::Percentile(p),
        None => Calibration::Gamma {
            false_alarm: args.false_alarm,
        },
    };
    if let Some(h) = &args.hidden {
        if h.is_empty() || h.contains(&0) {
            bail!("--hidden needs widths above 0, such as 64,8");
        }
        params.train.hidden.clone_from(h);
    }
    if let Some(e) = args.epochs {
        params.train.epochs = e;
    }
    params.train.seed = args.seed;
    let frame_values = channels * input.n_features();
    let frames: usize = recordings.iter().map(|r| r.len() / frame_values).sum();
    let layout = if channels > 1 {
        format!("{channels} channels side by side, {frame_values} values")
    } else {
        format!("{frame_values} value(s)")
    };
    say!(
        "hark: fit: {} recording(s), {seconds:.1} s, {frames} frames of {layout}",
        files.len(),
    );
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("training [{bar:40}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let (bytes, report) = fit_anomaly(
        input,
        &recordings,
        &params,
        |epoch, epochs, loss| match &bar {
            Some(bar) => {
                bar.set_length(epochs as u64);
                bar.set_position(epoch as u64);
                bar.set_message(format!("loss {loss:.4}"));
            }
            None if epoch == epochs || epoch % (epochs / 10).max(1) == 0 => {
                say!("hark: fit: epoch {epoch}/{epochs}, loss {loss:.4}");
            }
            None => {}
        },
    )?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if report.holdout_windows < 1000 {
        say!(
            "hark: warning: the threshold rests on {} held-back windows only; with more \
             normal data (1000 or more windows held back) it is more reliable",
            report.holdout_windows
        );
    }
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    say!(
        "hark: fit: {} training and {} held-back windows of {} values; {} parameters, {} \
         multiply-adds per window; {} epochs, final loss {:.4}; threshold {:.4} (held-back \
         median {:.4}); {:.1} s; wrote {} ({} bytes)",
        report.train_windows,
        report.holdout_windows,
        report.dim,
        report.parameters,
        report.multiply_adds,
        report.epochs,
        report.final_loss,
        report.threshold,
        report.holdout_median,
        started.elapsed().as_secs_f64(),
        args.output.display(),
        bytes.len()
    );
    Ok(())
}

/// All frames of a source for `input` (for several channels, every channel's features side
/// by side, channel 0 first: [`MultichannelFrontend`]), and its duration in seconds.
fn read_frames(source: &mut Reader, input: &AnomalyInput) -> Result<(Vec<f32>, f64)> {
    let rate = source.rate();
    let mut frontend = match input {
        AnomalyInput::Features(config) => Some(MultichannelFrontend::new(
            rate,
            config.clone(),
            source.channels(),
        )?),
        AnomalyInput::Values => None,
    };
    let mut frames = Vec::new();
    let mut chunk = Vec::new();
    let mut samples = 0u64;
    loop {
        let n = source.next(1 << 16, &mut chunk)?;
        if n == 0 {
            break;
        }
        match frontend.as_mut() {
            Some(frontend) => {
                frontend
                    .process(&chunk, |frame| frames.extend_from_slice(frame))
                    .with_context(|| format!("after sample frame {samples}"))?;
            }
            None => frames.extend_from_slice(&chunk),
        }
        samples += n as u64;
    }
    if let Some(frontend) = frontend.as_mut() {
        frontend.finish(|frame| frames.extend_from_slice(frame));
    }
    Ok((frames, samples as f64 / f64::from(rate.hz())))
}

/// Rows a series is learnt from before its first score, without a model: NAB's probationary
/// period for its longer files (15 % of a file, at most 750 rows).
const SERIES_PROBATION: u64 = 750;

/// Runs `hark score`.
pub fn score(args: &ScoreArgs) -> Result<()> {
    let Some(model_path) = &args.model else {
        let threshold = match args.threshold {
            None => 1.0,
            Some(t) if t > 0.0 && t <= 1.0 => t,
            Some(t) => {
                return Err(Usage(format!(
                    "--threshold {t}: without --model a row's score is in [0, 1]; the \
                     threshold is a number in (0, 1]"
                ))
                .into());
            }
        };
        let inputs = input::expand(&args.inputs, &["csv"])?;
        return input::each_file(&inputs, "inputs could not be scored", |path, file| {
            score_series(path, args, threshold, file)
        });
    };
    let model = AnomalyModel::from_path(model_path).with_context(|| {
        format!(
            "model {}{}",
            model_path.display(),
            crate::model_hint(
                model_path,
                "kws",
                "run it with hark detect or hark classify"
            ) + &crate::model_hint(model_path, "kws-stream", "run it with hark detect")
        )
    })?;
    let inputs = input::expand(&args.inputs, input::SAMPLE_EXTENSIONS)?;
    input::each_file(&inputs, "inputs could not be scored", |path, file| {
        score_one(path, &model, args, file)
    })
}

/// Whether `path` is read as CSV rows.
fn is_csv(path: &Path, args: &InputArgs) -> bool {
    args.format == Format::Csv
        || (args.format == Format::Auto
            && path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv")))
}

/// Scores a series with no model: one [`SeriesDetector`] per value column, which learns from
/// the first `--probation` rows and then scores each row before the next is read. A row's
/// score is the highest of its columns'; an event is a row where some column's detector
/// reports a score at or above `threshold` (once per burst), and names the column when there
/// are several.
fn score_series(path: &Path, args: &ScoreArgs, threshold: f32, file: Option<&str>) -> Result<()> {
    let mut source_args = args.source.clone();
    let raw = matches!(source_args.format, Format::S16le | Format::F32le);
    if !raw && !is_csv(path, &source_args) {
        bail!(
            "{}: without --model, score reads a series of values (CSV rows, or raw values with \
             --format s16le or f32le); for audio or vibration recordings, fit a model to \
             normal running first (hark fit) and pass it with --model",
            path.display()
        );
    }
    if source_args.rate.is_none() {
        source_args.rate = Some(1);
    }
    let select = source_args
        .channel
        .map_or(ChannelSelect::All, ChannelSelect::Only);
    let opened = input::open_as(path, &source_args, select)?;
    let mut source = Reader::new(opened, &source_args, path);
    let columns = source.channels();
    let names = source.column_names().unwrap_or_default();
    let params = SeriesParams {
        probation: usize::try_from(args.probation).unwrap_or(usize::MAX),
        ..SeriesParams::default()
    };
    let mut detectors: Vec<SeriesDetector> = (0..columns)
        .map(|_| SeriesDetector::new(params.clone()))
        .collect();
    let mut printer = Printer::new(args.json, args.events_only);
    printer.summary = args.summary.then(Summary::default);
    printer.file = file.map(str::to_string);
    let name = path.display();
    if !args.json && !args.summary {
        say!(
            "hark: {name}: no model: learning the series from its first {} rows, then scoring \
             each row",
            args.probation
        );
    }
    let rate = f64::from(source.rate().hz());
    let mut chunk = Vec::new();
    let mut fresh = Vec::new();
    let mut reports = Vec::with_capacity(columns);
    let mut rows = 0u64;
    // Small chunks: a row's score is printed soon after the row is read.
    while source.next(256, &mut chunk)? > 0 {
        source.take_timestamps(&mut fresh);
        printer.stamps.extend(fresh.drain(..));
        for row in chunk.chunks_exact(columns) {
            let index = rows;
            rows += 1;
            let mut score = 0.0f32;
            reports.clear();
            for (k, (detector, &value)) in detectors.iter_mut().zip(row).enumerate() {
                let reported = detector.push(value);
                score = score.max(detector.score());
                if reported >= threshold {
                    reports.push((k, reported));
                }
            }
            if rows <= args.probation {
                continue;
            }
            let seconds = index as f64 / rate;
            printer.print_row(index, seconds, score);
            for &(k, peak) in &reports {
                let column = (columns > 1).then(|| (k, names.get(k).map(String::as_str)));
                printer.print_event(index, seconds, peak, column);
            }
        }
        printer.forget_before(rows);
    }
    if rows <= args.probation {
        let short = format!(
            "{rows} rows, within the probationary period ({} rows, --probation)",
            args.probation
        );
        if printer.summary.is_some() {
            bail!("{name}: too short to score: {short}");
        }
        say!("hark: warning: {name}: nothing scored: {short}");
    }
    printer.print_summary(&name.to_string(), args.json);
    Ok(())
}

/// Scores one input and prints its lines (or its summary), each with `file` when given.
fn score_one(
    path: &Path,
    model: &AnomalyModel,
    args: &ScoreArgs,
    file: Option<&str>,
) -> Result<()> {
    let mut source_args = args.source.clone();
    let values = *model.input() == AnomalyInput::Values;
    if is_csv(path, &source_args) && !values {
        bail!(
            "{}: CSV rows need a model fitted with --preset metric; this one reads spectrogram \
             features of audio or vibration",
            path.display()
        );
    }
    if values && source_args.rate.is_none() {
        source_args.rate = Some(1);
    }
    let channels = model.channels();
    let opened = if channels > 1 {
        if let Some(k) = source_args.channel {
            bail!(
                "--channel {k}: the model reads {channels} channels side by side (it was \
                 fitted on a {channels}-channel recording); score the same channels, or fit \
                 a model of one channel with --channel or --mix"
            );
        }
        let opened = input::open_as(path, &source_args, ChannelSelect::All)?;
        if opened.channels() != channels {
            bail!(
                "{}: {} channel(s), but the model reads {channels} side by side (it was fitted \
                 on a {channels}-channel recording)",
                path.display(),
                opened.channels()
            );
        }
        opened
    } else {
        input::open(path, &source_args)?
    };
    let mut source = Reader::new(opened, &source_args, path);
    let mut scorer = AnomalyScorer::new(model.clone(), source.rate())?;
    if let Some(t) = args.threshold {
        scorer.set_threshold(t)?;
    }
    let mut printer = Printer {
        json: args.json,
        events_only: args.events_only,
        summary: args.summary.then(Summary::default),
        file: file.map(str::to_string),
        windows: 0,
        stamps: VecDeque::new(),
        first: 0,
    };
    let mut chunk = Vec::new();
    let mut fresh = Vec::new();
    let mut offset = 0u64;
    let name = path.display();
    // A file is read in larger chunks than a live stream (stdin, a named pipe, a device),
    // whose scores should not wait: the scorer runs the model on up to 32 windows at a time
    // and on what is pending at the end of each push, and tract's fixed cost per run is about
    // that of five windows.
    let regular_file = path != Path::new("-") && std::fs::metadata(path).is_ok_and(|m| m.is_file());
    let chunk_len = if regular_file { 1 << 15 } else { 4096 };
    loop {
        let n = source.next(chunk_len, &mut chunk)?;
        if n == 0 {
            break;
        }
        source.take_timestamps(&mut fresh);
        printer.stamps.extend(fresh.drain(..));
        scorer
            .push(&chunk, |o| printer.print(&o))
            .with_context(|| format!("{name}: after sample frame {offset}"))?;
        offset += n as u64;
        // Keep the timestamps an open event may still need, drop the rest.
        let keep_from = scorer
            .open_event()
            .map_or(offset.saturating_sub(1), |e| e.start_index);
        printer.forget_before(keep_from);
    }
    scorer.finish(|o| printer.print(&o))?;
    if printer.windows == 0 {
        let short = if values {
            format!(
                "{offset} rows, fewer than one window of the model ({} rows)",
                model.context_frames()
            )
        } else {
            format!(
                "{:.3} s, shorter than one window of the model ({} frames of features)",
                offset as f64 / f64::from(source.rate().hz()),
                model.context_frames()
            )
        };
        if printer.summary.is_some() {
            bail!("{name}: too short to score: {short}");
        }
        say!("hark: warning: {name}: nothing scored: {short}");
    }
    printer.print_summary(&name.to_string(), args.json);
    Ok(())
}

/// What `--summary` keeps of an input's scores.
#[derive(Debug, Default)]
struct Summary {
    sum: f64,
    peak: f32,
    events: u64,
}

/// Prints scores and events; maps row indices to CSV timestamps when the input has them.
pub(crate) struct Printer {
    json: bool,
    events_only: bool,
    /// With `--summary`: nothing is printed per frame, this adds it up.
    summary: Option<Summary>,
    /// The input's name, on every line when several are scored.
    file: Option<String>,
    /// Windows scored so far.
    windows: u64,
    /// Timestamps of rows `first..`.
    stamps: VecDeque<Option<String>>,
    first: u64,
}

impl Printer {
    /// A printer of every score and event (or only the events) of one input, with no file
    /// name and no timestamps: a live stream.
    pub(crate) fn new(json: bool, events_only: bool) -> Printer {
        Printer {
            json,
            events_only,
            summary: None,
            file: None,
            windows: 0,
            stamps: VecDeque::new(),
            first: 0,
        }
    }

    fn stamp(&self, index: u64) -> Option<&str> {
        let i = usize::try_from(index.checked_sub(self.first)?).ok()?;
        self.stamps.get(i)?.as_deref()
    }

    fn forget_before(&mut self, index: u64) {
        while self.first < index && self.stamps.pop_front().is_some() {
            self.first += 1;
        }
    }

    fn time(&self, index: u64, seconds: f64) -> serde_json::Value {
        match self.stamp(index) {
            Some(s) => json!(s),
            None => json!((seconds * 1000.0).round() / 1000.0),
        }
    }

    /// One JSON line, with `file` when several inputs are scored.
    fn json_line(&self, mut line: serde_json::Value) {
        if let (Some(file), Some(map)) = (&self.file, line.as_object_mut()) {
            map.insert("file".into(), json!(file));
        }
        out!("{line}");
    }

    /// One text line, after the input's name when several are scored.
    fn text_line(&self, line: &str) {
        match &self.file {
            Some(file) => out!("{file}\t{line}"),
            None => out!("{line}"),
        }
    }

    /// With `--summary`, the input's line: the mean of its scores, the highest (smoothed)
    /// score, the windows (rows) scored and the events.
    fn print_summary(&self, name: &str, json: bool) {
        let Some(summary) = &self.summary else {
            return;
        };
        let score = summary.sum / self.windows.max(1) as f64;
        if json {
            out!(
                "{}",
                json!({"file": name, "score": score, "peak": summary.peak,
                       "windows": self.windows, "events": summary.events})
            );
        } else {
            out!(
                "{name}\tscore {score:.4}\tpeak {:.4}\t{} windows\t{} events",
                summary.peak,
                self.windows,
                summary.events
            );
        }
    }

    /// A row's score in a series scored with no model: {"t", "score"}.
    fn print_row(&mut self, index: u64, seconds: f64, score: f32) {
        self.windows += 1;
        if let Some(summary) = self.summary.as_mut() {
            summary.sum += f64::from(score);
            summary.peak = summary.peak.max(score);
            return;
        }
        if self.events_only {
            return;
        }
        if self.json {
            self.json_line(json!({"t": self.time(index, seconds), "score": score}));
        } else {
            let t = self
                .stamp(index)
                .map_or_else(|| format!("{seconds:.3}"), str::to_string);
            self.text_line(&format!("{t}\t{score:.4}"));
        }
    }

    /// An event of one row in a series scored with no model, naming its column (its index,
    /// and its name where a header gave one) when the rows have several.
    fn print_event(
        &mut self,
        index: u64,
        seconds: f64,
        peak: f32,
        column: Option<(usize, Option<&str>)>,
    ) {
        if let Some(summary) = self.summary.as_mut() {
            summary.events += 1;
            return;
        }
        if self.json {
            let t = self.time(index, seconds);
            let mut line = json!({"event": "anomaly", "start": t, "end": t, "peak": peak});
            if let (Some((k, name)), Some(map)) = (column, line.as_object_mut()) {
                map.insert("column".into(), json!(k));
                if let Some(name) = name {
                    map.insert("name".into(), json!(name));
                }
            }
            self.json_line(line);
        } else {
            let t = self
                .stamp(index)
                .map_or_else(|| format!("{seconds:.3} s"), str::to_string);
            let column = match column {
                Some((k, Some(name))) => format!(" in column {k} ({name})"),
                Some((k, None)) => format!(" in column {k}"),
                None => String::new(),
            };
            self.text_line(&format!("anomaly at {t}{column}, score {peak:.4}"));
        }
    }

    pub(crate) fn print(&mut self, output: &AnomalyOutput) {
        if matches!(output, AnomalyOutput::Score(_)) {
            self.windows += 1;
        }
        if let Some(summary) = self.summary.as_mut() {
            match output {
                AnomalyOutput::Score(s) => {
                    summary.sum += f64::from(s.score);
                    summary.peak = summary.peak.max(s.smoothed);
                }
                AnomalyOutput::Event(_) => summary.events += 1,
            }
            return;
        }
        match output {
            AnomalyOutput::Score(s) if !self.events_only => {
                if self.json {
                    self.json_line(
                        json!({"t": self.time(s.index, s.time), "score": s.score, "smoothed": s.smoothed}),
                    );
                } else {
                    let t = self
                        .stamp(s.index)
                        .map_or_else(|| format!("{:.3}", s.time), str::to_string);
                    self.text_line(&format!("{t}\t{:.4}\t{:.4}", s.score, s.smoothed));
                }
            }
            AnomalyOutput::Score(_) => {}
            AnomalyOutput::Event(e) => {
                if self.json {
                    self.json_line(
                        json!({"event": "anomaly", "start": self.time(e.start_index, e.start), "end": self.time(e.end_index, e.end), "peak": e.peak}),
                    );
                } else {
                    let at = |i: u64, t: f64| {
                        self.stamp(i)
                            .map_or_else(|| format!("{t:.3} s"), str::to_string)
                    };
                    self.text_line(&format!(
                        "anomaly from {} to {}, peak {:.4}",
                        at(e.start_index, e.start),
                        at(e.end_index, e.end),
                        e.peak
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn printer_keeps_timestamps_by_row() {
        let mut p = Printer {
            json: true,
            events_only: false,
            summary: None,
            file: None,
            windows: 0,
            stamps: ["a", "b", "c"].map(|s| Some(s.to_string())).into(),
            first: 0,
        };
        assert_eq!(p.stamp(1), Some("b"));
        p.forget_before(2);
        assert_eq!(p.stamp(1), None);
        assert_eq!(p.stamp(2), Some("c"));
        assert_eq!(p.time(7, 1.23456), json!(1.235));
    }
}
