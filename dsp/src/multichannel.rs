//! [`MultichannelFrontend`]: one [`Frontend`] per channel of interleaved samples, their frames
//! side by side.

use crate::config::{FeatureConfig, SampleRate};
use crate::error::{ConfigError, ProcessError, check_finite};
use crate::resample::Frontend;

/// Sample frames (one sample of every channel) taken from the input at a time: the size of the
/// per-channel buffers, which are allocated once in [`MultichannelFrontend::new`].
const BLOCK: usize = 256;

/// Features of every channel of an interleaved signal (a stereo recording, a triaxial
/// accelerometer), frame by frame: each channel has its own [`Frontend`] (resampler and
/// extractor), and each frame delivered is channel 0's features, then channel 1's, and so on.
///
/// Unlike a mix to mono, a sound or vibration that only one channel picks up keeps its level.
/// The frames are those of each channel's own [`Frontend`], so they are the same whatever the
/// chunking of the input. One channel passes straight through to its [`Frontend`].
///
/// Everything is allocated in [`new`](Self::new); processing does not allocate.
///
/// ```
/// use hark_dsp::{FeatureConfig, MultichannelFrontend, SampleRate};
///
/// let rate = SampleRate::new(8_000).unwrap();
/// let mut frontend = MultichannelFrontend::new(rate, FeatureConfig::vibration(rate), 3)?;
/// assert_eq!(frontend.frame_len(), 3 * 64);
/// let interleaved = vec![0.1f32; 3 * 8_000]; // one second of x, y, z
/// let mut frames = 0;
/// frontend.process(&interleaved, |frame| {
///     assert_eq!(frame.len(), 192);
///     frames += 1;
/// })?;
/// frontend.finish(|_| frames += 1);
/// assert_eq!(frames, 14);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MultichannelFrontend {
    frontends: Vec<Frontend>,
    /// One channel's samples of the block being processed.
    block: Vec<f32>,
    /// Per channel, the frames the block completed.
    frames: Vec<Vec<f32>>,
    /// One frame of every channel.
    stacked: Vec<f32>,
    n_features: usize,
}

impl MultichannelFrontend {
    /// Front ends for `channels` interleaved channels at `input_rate`, each producing
    /// `config`'s features.
    pub fn new(
        input_rate: SampleRate,
        config: FeatureConfig,
        channels: usize,
    ) -> Result<Self, ConfigError> {
        if channels == 0 {
            return Err(ConfigError::OutOfRange {
                what: "channels",
                value: 0.0,
                expected: "at least 1",
            });
        }
        let frontends = (0..channels)
            .map(|_| Frontend::new(input_rate, config.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let n_features = frontends[0].extractor().n_features();
        let per_block = if channels > 1 {
            max_block_frames(&frontends[0])
        } else {
            0
        };
        Ok(MultichannelFrontend {
            block: Vec::with_capacity(if channels > 1 { BLOCK } else { 0 }),
            frames: (0..if channels > 1 { channels } else { 0 })
                .map(|_| Vec::with_capacity(per_block * n_features))
                .collect(),
            stacked: vec![0.0; channels * n_features],
            n_features,
            frontends,
        })
    }

    /// Interleaved channels.
    pub fn channels(&self) -> usize {
        self.frontends.len()
    }

    /// Features per channel in a frame.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Values per frame delivered: `channels × n_features`.
    pub fn frame_len(&self) -> usize {
        self.frontends.len() * self.n_features
    }

    /// The front ends, channel 0 first (for their configuration and sizes).
    pub fn frontends(&self) -> &[Frontend] {
        &self.frontends
    }

    /// Pushes interleaved `samples` (whole sample frames: a multiple of
    /// [`channels`](Self::channels) values) and calls `on_frame` with every completed frame of
    /// all channels. A chunk that holds a NaN or infinite sample, or a partial sample frame,
    /// is rejected whole: no channel takes any of it. Returns the number of frames delivered.
    pub fn process(
        &mut self,
        samples: &[f32],
        mut on_frame: impl FnMut(&[f32]),
    ) -> Result<usize, ProcessError> {
        let channels = self.frontends.len();
        if !samples.len().is_multiple_of(channels) {
            return Err(ProcessError::PartialFrame {
                channels,
                len: samples.len(),
            });
        }
        check_finite(samples)?;
        if channels == 1 {
            return Ok(self.frontends[0].process_finite(samples, &mut on_frame));
        }
        let mut delivered = 0;
        for block in samples.chunks(BLOCK * channels) {
            for (c, (frontend, frames)) in
                self.frontends.iter_mut().zip(&mut self.frames).enumerate()
            {
                self.block.clear();
                self.block
                    .extend(block.iter().skip(c).step_by(channels).copied());
                frames.clear();
                frontend.process_finite(&self.block, &mut |f| frames.extend_from_slice(f));
            }
            delivered += self.deliver(&mut on_frame);
        }
        Ok(delivered)
    }

    /// Flushes every channel's resampler tail (end of stream), delivers the frames that
    /// completes, then resets. Returns the number of frames delivered.
    pub fn finish(&mut self, mut on_frame: impl FnMut(&[f32])) -> usize {
        if self.frontends.len() == 1 {
            return self.frontends[0].finish(on_frame);
        }
        for (frontend, frames) in self.frontends.iter_mut().zip(&mut self.frames) {
            frames.clear();
            frontend.finish(|f| frames.extend_from_slice(f));
        }
        self.deliver(&mut on_frame)
    }

    /// Forgets all state.
    pub fn reset(&mut self) {
        for frontend in &mut self.frontends {
            frontend.reset();
        }
        for frames in &mut self.frames {
            frames.clear();
        }
    }

    /// Calls `on_frame` with the frames in `self.frames` side by side. Every channel has the
    /// same number: their front ends took the same number of samples.
    fn deliver(&mut self, on_frame: &mut impl FnMut(&[f32])) -> usize {
        let n = self.n_features;
        let count = self.frames[0].len() / n;
        debug_assert!(self.frames.iter().all(|f| f.len() == count * n));
        for i in 0..count {
            for (c, frames) in self.frames.iter().enumerate() {
                self.stacked[c * n..(c + 1) * n].copy_from_slice(&frames[i * n..(i + 1) * n]);
            }
            on_frame(&self.stacked);
        }
        count
    }
}

/// The most frames one channel's front end can complete from a block of [`BLOCK`] samples, or
/// from the tail [`Frontend::finish`] flushes.
fn max_block_frames(frontend: &Frontend) -> usize {
    let resampler = frontend.resampler();
    let hop = frontend.extractor().config().hop_length;
    let samples = if resampler.is_passthrough() {
        BLOCK
    } else {
        // Every complete input chunk of the resampler emits at most one output block; the
        // tail of `finish` is at most a few blocks (the filter delay and the last chunk).
        (BLOCK / resampler.chunk_len() + 3) * resampler.max_block_len()
    };
    samples / hop + 2
}
