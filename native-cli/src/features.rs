//! `hark features`: a WAV file in, a float32 .npy of shape (frames, bins) out.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hark_dsp::{FeatureConfig, Frontend};
use npyz::WriterBuilder;

use crate::wav::{ChannelSelect, WavSource};

/// Arguments of `hark features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The WAV file (any rate and channel count; channels are mixed to mono).
    input: PathBuf,
    /// Where to write the features.
    #[arg(short, long)]
    output: PathBuf,
    /// The feature configuration.
    #[arg(long, default_value = "kws", value_parser = clap::builder::PossibleValuesParser::new(FeatureConfig::PRESETS))]
    preset: String,
    /// Feed the file to the streaming front end N samples (per channel) at a time.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1 << 24))]
    chunk: u64,
    /// Use only this channel (from 0) instead of the mean of all channels.
    #[arg(long)]
    channel: Option<usize>,
    /// Print one JSON line of statistics to stderr: audio seconds, frames, CPU seconds spent
    /// in the front end and CPU seconds per audio second. The file is decoded into memory
    /// first so that only the front end is timed.
    #[arg(long)]
    stats: bool,
}

/// Runs `hark features`.
pub fn run(args: &Args) -> Result<()> {
    let config = FeatureConfig::preset(&args.preset)
        .with_context(|| format!("unknown preset {}", args.preset))?;
    let select = args.channel.map_or(ChannelSelect::Mix, ChannelSelect::Only);
    let mut source = WavSource::open(&args.input, select)?;
    let mut frontend = Frontend::new(source.rate(), config.clone())
        .with_context(|| format!("{}: cannot build the front end", args.input.display()))?;
    let n_features = config.n_features();
    let mut features: Vec<f32> = Vec::new();
    let mut chunk = Vec::new();
    let chunk_len = usize::try_from(args.chunk).unwrap_or(4096);
    let mut audio_frames = 0u64;
    let mut cpu = std::time::Duration::ZERO;
    if args.stats {
        // Decode everything first so that the clock sees only the front end.
        let mut signal = Vec::new();
        while source.read_mono(chunk_len, &mut chunk)? > 0 {
            signal.extend_from_slice(&chunk);
        }
        let start = cpu_time::ThreadTime::now();
        for block in signal.chunks(chunk_len) {
            push(
                &mut frontend,
                block,
                audio_frames,
                &args.input,
                &mut features,
            )?;
            audio_frames += block.len() as u64;
        }
        frontend.finish(|f| features.extend_from_slice(f));
        cpu = start.elapsed();
    } else {
        while source.read_mono(chunk_len, &mut chunk)? > 0 {
            push(
                &mut frontend,
                &chunk,
                audio_frames,
                &args.input,
                &mut features,
            )?;
            audio_frames += chunk.len() as u64;
        }
        frontend.finish(|f| features.extend_from_slice(f));
    }
    let n_frames = features.len() / n_features;
    if n_frames == 0 {
        bail!(
            "{}: {} samples at {} is shorter than one {:.1} ms frame",
            args.input.display(),
            audio_frames,
            source.rate(),
            config.frame_ms()
        );
    }
    write_npy(&args.output, &features, n_frames, n_features)?;
    if args.stats {
        let seconds = audio_frames as f64 / f64::from(source.rate().hz());
        eprintln!(
            "{{\"audio_seconds\": {seconds:.3}, \"frames\": {n_frames}, \"bins\": {n_features}, \"cpu_seconds\": {:.6}, \"cpu_per_audio_second\": {:.3e}}}",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() / seconds.max(f64::MIN_POSITIVE)
        );
    }
    Ok(())
}

fn push(
    frontend: &mut Frontend,
    block: &[f32],
    offset: u64,
    input: &Path,
    features: &mut Vec<f32>,
) -> Result<()> {
    frontend
        .process(block, |f| features.extend_from_slice(f))
        .with_context(|| {
            format!(
                "{}: bad samples in the block after sample frame {offset}",
                input.display()
            )
        })?;
    Ok(())
}

fn write_npy(path: &Path, data: &[f32], rows: usize, cols: usize) -> Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[rows as u64, cols as u64])
        .writer(BufWriter::new(file))
        .begin_nd()
        .with_context(|| format!("cannot write {}", path.display()))?;
    writer
        .extend(data.iter().copied())
        .and_then(|()| writer.finish())
        .with_context(|| format!("cannot write {}", path.display()))
}
