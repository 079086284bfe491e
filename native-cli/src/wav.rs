//! WAV input as `f32` chunks (mono, or every channel interleaved), read incrementally: any
//! rate, any channel count, PCM 8 to 32 bit or float, WAVE_FORMAT_EXTENSIBLE included (hound).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hark_dsp::SampleRate;

use crate::input::{ChannelSelect, Source};

/// A WAV file being read.
pub struct WavSource {
    path: PathBuf,
    reader: hound::WavReader<BufReader<File>>,
    rate: SampleRate,
    channels: usize,
    select: ChannelSelect,
    scale: f32,
    float: bool,
    lenient: bool,
    ended: bool,
    /// An error met after some frames of a chunk, reported on the next read.
    deferred: Option<anyhow::Error>,
    frames_read: u64,
}

impl WavSource {
    /// Opens `path` and checks its header. With `lenient`, corrupt or truncated data ends the
    /// input with a warning instead of an error.
    pub fn open(path: &Path, select: ChannelSelect, lenient: bool) -> Result<Self> {
        let reader = hound::WavReader::open(path)
            .with_context(|| format!("cannot read WAV file {}", path.display()))?;
        let spec = reader.spec();
        let rate = SampleRate::new(spec.sample_rate)
            .with_context(|| format!("{}: sample rate is 0 Hz", path.display()))?;
        let channels = usize::from(spec.channels);
        select.check(&path.display().to_string(), channels)?;
        let float = spec.sample_format == hound::SampleFormat::Float;
        let scale = if float {
            1.0
        } else {
            1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32
        };
        Ok(WavSource {
            path: path.to_path_buf(),
            reader,
            rate,
            channels,
            select,
            scale,
            float,
            lenient,
            ended: false,
            deferred: None,
            frames_read: 0,
        })
    }
}

impl Source for WavSource {
    fn rate(&self) -> SampleRate {
        self.rate
    }

    fn total_frames(&self) -> Option<u64> {
        Some(u64::from(self.reader.duration()))
    }

    fn channels(&self) -> usize {
        self.select.width(self.channels)
    }

    fn read(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if self.ended {
            return Ok(0);
        }
        let width = self.select.width(self.channels);
        match self.read_inner(max_frames, out) {
            Ok(n) => Ok(n),
            Err(e) if !self.lenient && !out.is_empty() => {
                self.ended = true;
                self.frames_read += (out.len() / width) as u64;
                self.deferred = Some(e);
                Ok(out.len() / width)
            }
            Err(e) if self.lenient => {
                eprintln!(
                    "hark: warning: {e:#}; keeping the {} frames before it",
                    self.frames_read + (out.len() / width) as u64
                );
                self.ended = true;
                self.frames_read += (out.len() / width) as u64;
                Ok(out.len() / width)
            }
            Err(e) => Err(e),
        }
    }
}

impl WavSource {
    fn read_inner(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        let channels = self.channels;
        let mut frame_sum = 0.0f32;
        let mut in_frame = 0;
        let mut values_read = 0u64;
        let limit = max_frames * channels;
        let (path, frames_read) = (&self.path, self.frames_read);
        let context = |values: u64| {
            format!(
                "{}: corrupt or truncated audio data at sample frame {}",
                path.display(),
                frames_read + values / channels as u64
            )
        };
        // With every channel asked for, the values of a frame wait in `frame` until it is
        // whole, so that a chunk never ends in the middle of one.
        let mut frame = Vec::with_capacity(channels);
        let mut take = |value: f32, out: &mut Vec<f32>| {
            match self.select {
                ChannelSelect::Mix => frame_sum += value,
                ChannelSelect::Only(k) if k == in_frame => frame_sum = value,
                ChannelSelect::Only(_) => {}
                ChannelSelect::All => frame.push(value),
            }
            in_frame += 1;
            if in_frame == channels {
                match self.select {
                    ChannelSelect::Mix => out.push(frame_sum / channels as f32),
                    ChannelSelect::Only(_) => out.push(frame_sum),
                    ChannelSelect::All => out.append(&mut frame),
                }
                frame_sum = 0.0;
                in_frame = 0;
            }
        };
        if self.float {
            for s in self.reader.samples::<f32>().take(limit) {
                let s = s.with_context(|| context(values_read))?;
                take(s, out);
                values_read += 1;
            }
        } else {
            let scale = self.scale;
            for s in self.reader.samples::<i32>().take(limit) {
                let s = s.with_context(|| context(values_read))?;
                take(s as f32 * scale, out);
                values_read += 1;
            }
        }
        if !values_read.is_multiple_of(channels as u64) {
            self.ended = true;
            bail!(
                "{}: the data ends in the middle of a sample frame ({} of {} channels)",
                self.path.display(),
                values_read % channels as u64,
                channels
            );
        }
        let frames = out.len() / self.select.width(channels);
        self.frames_read += frames as u64;
        Ok(frames)
    }
}
