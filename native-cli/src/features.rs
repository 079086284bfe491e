//! `hark features`: audio or sensor samples in (an audio file, raw PCM or CSV), a float32 .npy of
//! shape (frames, bins) out (or (segments, frames, bins) with `--segment`).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hark_dsp::{FeatureConfig, Frontend};
use npyz::WriterBuilder;

use crate::input::{self, InputArgs, Reader};

/// Arguments of `hark features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The input: an audio file (WAV, FLAC, MP3, Ogg Vorbis or Opus, WebM, M4A, AAC, AIFF; any rate
    /// and channel count; channels are mixed to mono), raw PCM or CSV (`--format`), or `-` for
    /// stdin.
    input: PathBuf,
    #[command(flatten)]
    source: InputArgs,
    /// Where to write the features.
    #[arg(short, long)]
    output: PathBuf,
    /// The feature configuration.
    #[arg(long, default_value = "kws", value_parser = clap::builder::PossibleValuesParser::new(FeatureConfig::PRESETS))]
    preset: String,
    /// Feed the file to the streaming front end N samples (per channel) at a time.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1 << 24))]
    chunk: u64,
    /// Cut the input into segments of N samples (at the file's rate) and compute each on its
    /// own, from a fresh front end: the output has shape (segments, frames, bins). For
    /// training data: many clips joined into one file.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    segment: Option<u64>,
    /// Print one JSON line of statistics to stderr: audio seconds, frames, CPU seconds spent
    /// in the front end and CPU seconds per audio second. The file is decoded into memory
    /// first so that only the front end is timed.
    #[arg(long)]
    stats: bool,
}

/// Runs `hark features`.
/// Runs `hark features`.
pub fn run(args: &Args) -> Result<()> {
    let config = FeatureConfig::preset(&args.preset)
        .with_context(|| format!("unknown preset {}", args.preset))?;
    let mut source = Reader::new(
        input::open(&args.input, &args.source)?,
        &args.source,
        &args.input,
    );
    let frontend = Frontend::new(source.rate(), config.clone())
        .with_context(|| format!("{}: cannot build the front end", args.input.display()))?;
    let chunk_len = usize::try_from(args.chunk).unwrap_or(4096);
    let segment = args
        .segment
        .map(|s| usize::try_from(s).unwrap_or(usize::MAX));
    let mut feeder = Feeder {
        frontend,
        input: &args.input,
        segment,
        in_segment: 0,
        segment_start: 0,
        audio_frames: 0,
        features: Vec::new(),
        segment_frames: Vec::new(),
    };
    let mut chunk = Vec::new();
    let mut cpu = std::time::Duration::ZERO;
    if args.stats {
        // Decode everything first so that the clock sees only the front end.
        let mut signal = Vec::new();
        while source.next(chunk_len, &mut chunk)? > 0 {
            signal.extend_from_slice(&chunk);
        }
        let start = cpu_time::ThreadTime::now();
        for block in signal.chunks(chunk_len) {
            feeder.feed(block)?;
        }
        feeder.end();
        cpu = start.elapsed();
    } else {
        while source.next(chunk_len, &mut chunk)? > 0 {
            feeder.feed(&chunk)?;
        }
        feeder.end();
    }
    let n_features = config.n_features();
    let n_frames = feeder.features.len() / n_features;
    let audio_frames = feeder.audio_frames;
    if n_frames == 0 {
        bail!(
            "{}: {} samples at {} is shorter than one {:.1} ms frame",
            args.input.display(),
            audio_frames,
            source.rate(),
            config.frame_ms()
        );
    }
    let shape = match segment {
        None => vec![n_frames as u64, n_features as u64],
        Some(len) => {
            if feeder.in_segment != 0 {
                bail!(
                    "{}: {audio_frames} samples is not a whole number of {len}-sample segments",
                    args.input.display(),
                );
            }
            let per = feeder.segment_frames.first().copied().unwrap_or(0);
            if per == 0 || feeder.segment_frames.iter().any(|n| *n != per) {
                bail!(
                    "{}: segments of {len} samples give no frame",
                    args.input.display()
                );
            }
            let segments = feeder.segment_frames.len();
            vec![segments as u64, per as u64, n_features as u64]
        }
    };
    write_npy(&args.output, &feeder.features, &shape)?;
    if args.stats {
        let seconds = audio_frames as f64 / f64::from(source.rate().hz());
        say!(
            "{{\"audio_seconds\": {seconds:.3}, \"frames\": {n_frames}, \"bins\": {n_features}, \"cpu_seconds\": {:.6}, \"cpu_per_audio_second\": {:.3e}}}",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() / seconds.max(f64::MIN_POSITIVE)
        );
    }
    Ok(())
}

/// Feeds blocks to the front end, restarting it at segment boundaries.
struct Feeder<'a> {
    frontend: Frontend,
    input: &'a Path,
    segment: Option<usize>,
    in_segment: usize,
    /// Length of `features` when the current segment began.
    segment_start: usize,
    audio_frames: u64,
    features: Vec<f32>,
    segment_frames: Vec<usize>,
}

impl Feeder<'_> {
    fn feed(&mut self, mut block: &[f32]) -> Result<()> {
        while !block.is_empty() {
            let n = match self.segment {
                Some(len) => block.len().min(len - self.in_segment),
                None => block.len(),
            };
            let features = &mut self.features;
            let (input, offset) = (self.input, self.audio_frames);
            self.frontend
                .process(&block[..n], |f| features.extend_from_slice(f))
                .with_context(|| {
                    format!(
                        "{}: bad samples in the block after sample frame {offset}",
                        input.display()
                    )
                })?;
            self.audio_frames += n as u64;
            self.in_segment += n;
            block = &block[n..];
            if self.segment == Some(self.in_segment) {
                let features = &mut self.features;
                self.frontend.finish(|f| features.extend_from_slice(f));
                let n_features = self.frontend.extractor().n_features();
                let frames = (self.features.len() - self.segment_start) / n_features;
                self.segment_frames.push(frames);
                self.segment_start = self.features.len();
                self.in_segment = 0;
            }
        }
        Ok(())
    }

    fn end(&mut self) {
        if self.segment.is_none() {
            let features = &mut self.features;
            self.frontend.finish(|f| features.extend_from_slice(f));
        }
    }
}

fn write_npy(path: &Path, data: &[f32], shape: &[u64]) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(BufWriter::new(file))
        .begin_nd()
        .with_context(|| format!("cannot write {}", path.display()))?;
    writer
        .extend(data.iter().copied())
        .and_then(|()| writer.finish())
        .with_context(|| format!("cannot write {}", path.display()))
}
