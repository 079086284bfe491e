//! WAV input as mono `f32` chunks, read incrementally: any rate, any channel count, PCM 8 to 32
//! bit or float, WAVE_FORMAT_EXTENSIBLE included (hound).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hark_dsp::SampleRate;

/// Which channel(s) become the mono signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelSelect {
    /// The mean of all channels.
    Mix,
    /// One channel, counted from 0.
    Only(usize),
}

/// A WAV file being read.
pub struct WavSource {
    path: PathBuf,
    reader: hound::WavReader<BufReader<File>>,
    rate: SampleRate,
    channels: usize,
    select: ChannelSelect,
    scale: f32,
    float: bool,
    frames_read: u64,
}

impl WavSource {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path, select: ChannelSelect) -> Result<Self> {
        let reader = hound::WavReader::open(path)
            .with_context(|| format!("cannot read WAV file {}", path.display()))?;
        let spec = reader.spec();
        let rate = SampleRate::new(spec.sample_rate)
            .with_context(|| format!("{}: sample rate is 0 Hz", path.display()))?;
        let channels = usize::from(spec.channels);
        if channels == 0 {
            bail!("{}: the header declares 0 channels", path.display());
        }
        if let ChannelSelect::Only(k) = select
            && k >= channels
        {
            bail!(
                "{}: channel {k} asked for, but the file has {channels} (0 to {})",
                path.display(),
                channels - 1
            );
        }
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
            frames_read: 0,
        })
    }

    /// The file's sample rate.
    pub fn rate(&self) -> SampleRate {
        self.rate
    }

    /// Reads up to `max_frames` frames into `out` (cleared first) as mono. `Ok(0)` at the end.
    pub fn read_mono(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
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
        let mut take = |value: f32, out: &mut Vec<f32>| {
            match self.select {
                ChannelSelect::Mix => frame_sum += value,
                ChannelSelect::Only(k) if k == in_frame => frame_sum = value,
                ChannelSelect::Only(_) => {}
            }
            in_frame += 1;
            if in_frame == channels {
                let v = match self.select {
                    ChannelSelect::Mix => frame_sum / channels as f32,
                    ChannelSelect::Only(_) => frame_sum,
                };
                out.push(v);
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
            bail!(
                "{}: the data ends in the middle of a sample frame ({} of {} channels)",
                self.path.display(),
                values_read % channels as u64,
                channels
            );
        }
        self.frames_read += out.len() as u64;
        Ok(out.len())
    }
}
