//! `hark classify` and `hark detect`: the keyword model on clips and on streams.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hark_detector::{DENSE_FROM, DetectorParams, GATE_FROM, KwsModel, Pipeline, REARM};
use serde_json::json;

use crate::Usage;
use crate::input::{self, InputArgs, Reader};

/// Arguments of `hark classify`.
#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// Audio clips (WAV, FLAC, MP3, Ogg Vorbis or Opus, WebM, M4A, AAC, AIFF), or folders of them
    /// (every such file inside). About one second each; a longer one is scanned and names a keyword
    /// only where some window reaches its threshold.
    #[arg(required = true)]
    clips: Vec<PathBuf>,
    #[command(flatten)]
    source: InputArgs,
    /// An ONNX keyword model (default: the bundled 12-class model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// One JSON line per clip: {"file", "label", "score"}.
    #[arg(long)]
    json: bool,
}

/// Arguments of `hark detect`.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Recordings of any length, rate and channel count: WAV, FLAC, MP3, Ogg Vorbis or Opus, WebM,
    /// M4A, AAC, AIFF, raw PCM (`--format`), `-` for stdin, or folders (every audio file inside).
    /// With several, each event names its file, and a file that fails is reported and the others
    /// are still run.
    #[arg(required = true)]
    streams: Vec<PathBuf>,
    #[command(flatten)]
    source: InputArgs,
    #[command(flatten)]
    detector: DetectorOptions,
}

/// The keyword detector's options, shared by `hark detect` and `hark listen`.
#[derive(Debug, clap::Args)]
pub struct DetectorOptions {
    /// An ONNX keyword model, window or streaming (default: the bundled 12-class streaming
    /// model; with `--gate`, the bundled window model). `listen` also takes an anomaly model
    /// from `hark fit` (its scores and events are then printed as by `hark score`).
    #[arg(long)]
    model: Option<PathBuf>,
    /// JSON lines: one per event, {"keyword", "start", "end", "score"} (and status lines from
    /// `listen`).
    #[arg(long)]
    pub json: bool,
    /// One threshold for every keyword instead of the model's own, in (0, 1]; for an anomaly
    /// model (`listen`), the threshold of its smoothed score instead of the calibrated one.
    #[arg(long, value_parser = positive)]
    threshold: Option<f32>,
    /// Run a window model every N feature frames (10 ms each); a streaming model
    /// (models/kws/kws12_stream.onnx) runs on its own step and ignores this.
    #[arg(long, default_value_t = DetectorParams::default().stride_frames, value_parser = frames)]
    stride: usize,
    /// Run on every frame (every `--dense-stride`) while a keyword's smoothed score is at
    /// least this share of its threshold (the windows deciding an event then do not depend
    /// on where the stream started).
    #[arg(long, default_value_t = DENSE_FROM, conflicts_with = "no_dense", value_parser = share)]
    dense_from: f32,
    /// Always on the stride.
    #[arg(long)]
    no_dense: bool,
    /// While near a threshold (`--dense-from`), run every N frames instead of every frame
    /// (2: about 40 % less CPU on speech, but events then move a little with the start).
    #[arg(long, default_value_t = DetectorParams::default().dense_stride, value_parser = frames)]
    dense_stride: usize,
    /// Average the model's probabilities over this many milliseconds before the thresholds
    /// (rounded to whole runs of the model, at least one; 0: each run alone). Default: the
    /// model's own (`hark.smoothing_frames`: one step of the bundled streaming model), else
    /// 24 frames, 240 ms at a 10 ms hop.
    #[arg(long)]
    smoothing_ms: Option<u32>,
    /// After an event, no other event for this many seconds.
    #[arg(long, default_value_t = DetectorParams::default().refractory, value_parser = refractory)]
    refractory: f64,
    /// After a keyword's event, it fires again only once its score has fallen below this
    /// share of its threshold (1: below the threshold).
    #[arg(long, default_value_t = REARM, value_parser = threshold)]
    rearm: f32,
    /// A streaming model (such as models/kws/kws12_stream.onnx) in front of the window
    /// model: the window model then runs only while the gate's score of some keyword is at
    /// least `--gate-from` of its threshold (and `--gate-hold-ms` after), or its own scores
    /// are near a threshold. Events still come from the window model.
    #[arg(long)]
    gate: Option<PathBuf>,
    /// With `--gate`: the share of a keyword's threshold at which the gate opens.
    #[arg(long, default_value_t = GATE_FROM, value_parser = threshold)]
    gate_from: f32,
    /// With `--gate`: how long the window model keeps running after the gate's last step
    /// at or above `--gate-from`, in milliseconds.
    #[arg(long)]
    gate_hold_ms: Option<u32>,
}

/// What `hark detect` and `hark listen` run: the model, its gate and the parameters.
#[derive(Debug, Clone)]
pub struct Detector {
    /// The keyword model.
    pub model: KwsModel,
    /// A streaming model in front of it (`--gate`).
    pub gate: Option<KwsModel>,
    /// The stream detector's parameters.
    pub params: DetectorParams,
}

impl Detector {
    /// A pipeline for samples at `rate`.
    pub fn pipeline(&self, rate: hark_dsp::SampleRate) -> Result<Pipeline> {
        let pipeline = Pipeline::new(self.model.clone(), rate, self.params.clone())?;
        Ok(match &self.gate {
            Some(gate) => pipeline.with_gate(gate.clone())?,
            None => pipeline,
        })
    }
}

impl DetectorOptions {
    /// `--model`.
    pub fn model_path(&self) -> Option<&Path> {
        self.model.as_deref()
    }

    /// `--threshold`.
    pub fn threshold(&self) -> Option<f32> {
        self.threshold
    }

    /// The options given that only the keyword detector reads (those at their defaults are
    /// not counted), as their flags.
    pub fn keyword_options_set(&self) -> Vec<&'static str> {
        let default = DetectorParams::default();
        [
            ("--stride", self.stride != default.stride_frames),
            ("--dense-from", self.dense_from != DENSE_FROM),
            ("--no-dense", self.no_dense),
            ("--dense-stride", self.dense_stride != default.dense_stride),
            ("--smoothing-ms", self.smoothing_ms.is_some()),
            ("--refractory", self.refractory != default.refractory),
            ("--rearm", self.rearm != REARM),
            ("--gate", self.gate.is_some()),
            ("--gate-from", self.gate_from != GATE_FROM),
            ("--gate-hold-ms", self.gate_hold_ms.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, set)| set.then_some(flag))
        .collect()
    }

    /// The model, its gate and the detector parameters these options ask for.
    pub fn load(&self) -> Result<Detector> {
        if let Some(t) = self.threshold
            && t > 1.0
        {
            return Err(Usage(format!(
                "--threshold {t}: {t} is not a number in (0, 1] (a keyword's score is a \
                 probability)"
            ))
            .into());
        }
        // No --model: streams get the streaming model, a gate's main model is the window one.
        let model = match (&self.model, &self.gate) {
            (Some(_), _) => load_model(self.model.as_deref())?,
            (None, Some(_)) => KwsModel::bundled().context("the bundled window model")?,
            (None, None) => KwsModel::bundled_stream().context("the bundled streaming model")?,
        };
        let gate = self
            .gate
            .as_deref()
            .map(|p| KwsModel::from_path(p).with_context(|| format!("gate {}", p.display())))
            .transpose()?;
        let thresholds = self.threshold.map(|t| {
            model
                .thresholds()
                .iter()
                .map(|k| k.map(|_| t))
                .collect::<Vec<_>>()
        });
        let default = DetectorParams::default();
        let hop_ms = model.feature_config().hop_ms();
        let params = DetectorParams {
            stride_frames: self.stride.max(1),
            dense_from: (!self.no_dense).then_some(self.dense_from),
            dense_stride: self.dense_stride,
            smoothing_frames: self
                .smoothing_ms
                .map(|ms| (f64::from(ms) / hop_ms).round().max(1.0) as usize),
            refractory: self.refractory,
            rearm: self.rearm,
            thresholds,
            gate_from: self.gate_from,
            gate_hold_frames: self.gate_hold_ms.map_or(default.gate_hold_frames, |ms| {
                (f64::from(ms) / hop_ms).round() as usize
            }),
        };
        Ok(Detector {
            model,
            gate,
            params,
        })
    }

    /// Prints one event, readable or as a JSON line.
    pub fn print(&self, e: &hark_detector::Event) {
        self.print_from(None, e);
    }

    /// Prints one event, after the name of its file when one is given.
    fn print_from(&self, file: Option<&str>, e: &hark_detector::Event) {
        if self.json {
            let mut line = json!({"keyword": e.keyword, "start": round(e.start as f32), "end": round(e.end as f32), "score": round(e.score)});
            if let (Some(file), Some(map)) = (file, line.as_object_mut()) {
                map.insert("file".into(), json!(file));
            }
            out!("{line}");
        } else {
            let text = format!("{:8.2} s  {:<8} {:.2}", e.end, e.keyword, e.score);
            match file {
                Some(file) => out!("{file}\t{text}"),
                None => out!("{text}"),
            }
        }
    }
}

/// A count of feature frames, at least 1.
fn frames(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{text}` is not a number of frames of at least 1")),
    }
}

/// A share of a threshold: a finite number of at least 0.
fn share(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{text}` is not a share of the threshold (a number of at least 0)"
        )),
    }
}

fn refractory(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Ok(s),
        _ => Err(format!("`{text}` is not a time from 0 to 3600 seconds")),
    }
}

/// A finite number above 0 (`--threshold`: keyword models check (0, 1] when loaded, anomaly
/// models take any).
fn positive(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{text} is not a number above 0")),
    }
}

pub(crate) fn threshold(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!("{text} is not a number in (0, 1]")),
    }
}

/// Loads `--model` or the bundled window model (for clips).
pub fn load_model(path: Option<&Path>) -> Result<KwsModel> {
    match path {
        Some(p) => KwsModel::from_path(p).with_context(|| {
            format!(
                "model {}{}",
                p.display(),
                crate::model_hint(p, "anomaly", "score it with hark score (or hark listen)")
            )
        }),
        None => KwsModel::bundled().context("the bundled model"),
    }
}

/// Telephone speech is sampled at 8 kHz; below that a recording holds too little of a voice
/// for the keyword models, which are trained on 16 kHz speech, and the events mean little.
/// `source` names the file or the capture device.
pub fn warn_if_below_speech(source: &dyn std::fmt::Display, rate: hark_dsp::SampleRate) {
    if rate.hz() < 8_000 {
        say!(
            "hark: warning: {source}: sampled at {} Hz; speech needs at least 8 kHz, so the \
             keyword model hears little of a voice in it",
            rate.hz()
        );
    }
}

/// A whole clip, through the [`Reader`] the other commands use (`--lenient` included).
fn read_all(path: &Path, args: &InputArgs) -> Result<(Vec<f32>, hark_dsp::SampleRate)> {
    let mut source = Reader::new(input::open(path, args)?, args, path);
    let mut all = Vec::new();
    let mut chunk = Vec::new();
    while source.next(1 << 16, &mut chunk)? > 0 {
        all.extend_from_slice(&chunk);
    }
    Ok((all, source.rate()))
}

/// Runs `hark classify`.
pub fn classify(args: &ClassifyArgs) -> Result<()> {
    let model = load_model(args.model.as_deref())?;
    let clips = input::expand(&args.clips, input::AUDIO_EXTENSIONS)?;
    let mut failed = 0;
    for clip in &clips {
        let result = read_all(clip, &args.source).and_then(|(samples, rate)| {
            warn_if_below_speech(&clip.display(), rate);
            model
                .classify(&samples, rate)
                .with_context(|| format!("{}", clip.display()))
        });
        match result {
            Ok(c) if args.json => out!(
                "{}",
                json!({"file": clip.display().to_string(), "label": c.label, "score": round(c.score)})
            ),
            Ok(c) => out!("{}\t{}\t{:.3}", clip.display(), c.label, c.score),
            Err(e) => {
                failed += 1;
                say!("hark: error: {}", crate::error_line(&e));
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} clips could not be classified", clips.len());
    }
    Ok(())
}

/// Runs `hark detect`.
pub fn detect(args: &DetectArgs) -> Result<()> {
    let detector = args.detector.load()?;
    let streams = input::expand(&args.streams, input::AUDIO_EXTENSIONS)?;
    input::each_file(&streams, "recordings could not be run", |stream, file| {
        detect_one(stream, &detector, args, file)
    })
}

/// Runs one recording through a fresh pipeline; its events name `file` when given.
fn detect_one(
    stream: &Path,
    detector: &Detector,
    args: &DetectArgs,
    file: Option<&str>,
) -> Result<()> {
    let mut source = Reader::new(input::open(stream, &args.source)?, &args.source, stream);
    warn_if_below_speech(&stream.display(), source.rate());
    let mut pipeline = detector.pipeline(source.rate())?;
    let print = |e: hark_detector::Event| args.detector.print_from(file, &e);
    let mut chunk = Vec::new();
    let mut offset = 0u64;
    while source.next(4096, &mut chunk)? > 0 {
        pipeline
            .push(&chunk, print)
            .with_context(|| format!("{}: after sample frame {offset}", stream.display()))?;
        offset += chunk.len() as u64;
    }
    pipeline.finish(print)?;
    Ok(())
}

pub(crate) fn round(x: f32) -> f64 {
    (f64::from(x) * 1000.0).round() / 1000.0
}
