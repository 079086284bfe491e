//! [`Resampler`]: streaming sample-rate conversion with rubato, and [`Frontend`], resampler and
//! extractor in one stage.

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler as _};

use crate::config::{FeatureConfig, SampleRate};
use crate::error::{ConfigError, ProcessError, check_finite};
use crate::extractor::FeatureExtractor;

/// Streaming sample-rate conversion of a mono signal (rubato's synchronous FFT resampler, with
/// its Blackman-Harris anti-aliasing filter).
///
/// Input is gathered into rubato's fixed input chunk (about 10 ms), so the output is the same
/// whatever the chunking of the input. The filter delay is trimmed: output sample `n` is the
/// signal at time `n / output_rate`. [`finish`](Self::finish) flushes the tail, so a whole
/// signal of `N` samples becomes `round(N * output / input)` samples. Equal rates pass through
/// untouched.
///
/// ```
/// use hark_dsp::{Resampler, SampleRate};
///
/// let rate = |hz| SampleRate::new(hz).unwrap();
/// let mut r = Resampler::new(rate(48_000), rate(16_000))?;
/// let mut out = Vec::new();
/// for chunk in vec![0.25f32; 48_000].chunks(1000) {
///     r.process(chunk, |block| out.extend_from_slice(block))?;
/// }
/// r.finish(|block| out.extend_from_slice(block));
/// assert_eq!(out.len(), 16_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Resampler {
    input_rate: SampleRate,
    output_rate: SampleRate,
    inner: Option<Box<Fft<f32>>>,
    chunk: Vec<f32>,
    fill: usize,
    out: Vec<f32>,
    trim: usize,
    consumed: u64,
    emitted: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("input_rate", &self.input_rate)
            .field("output_rate", &self.output_rate)
            .field("chunk", &self.chunk.len())
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A resampler from `input_rate` to `output_rate`.
    pub fn new(input_rate: SampleRate, output_rate: SampleRate) -> Result<Self, ConfigError> {
        let mut resampler = Resampler {
            input_rate,
            output_rate,
            inner: None,
            chunk: Vec::new(),
            fill: 0,
            out: Vec::new(),
            trim: 0,
            consumed: 0,
            emitted: 0,
        };
        if input_rate != output_rate {
            let desired_chunk = (input_rate.hz() as usize / 100).max(64);
            let inner = Fft::<f32>::new(
                input_rate.hz() as usize,
                output_rate.hz() as usize,
                desired_chunk,
                1,
                FixedSync::Input,
            )
            .map_err(|e| ConfigError::Resampler {
                from: input_rate.hz(),
                to: output_rate.hz(),
                reason: e.to_string(),
            })?;
            resampler.chunk = vec![0.0; inner.input_frames_next()];
            resampler.out = vec![0.0; inner.output_frames_max()];
            resampler.trim = inner.output_delay();
            resampler.inner = Some(Box::new(inner));
        }
        Ok(resampler)
    }

    /// Input rate.
    pub fn input_rate(&self) -> SampleRate {
        self.input_rate
    }

    /// Output rate.
    pub fn output_rate(&self) -> SampleRate {
        self.output_rate
    }

    /// True when the rates are equal and samples pass through untouched.
    pub fn is_passthrough(&self) -> bool {
        self.inner.is_none()
    }

    /// Input samples gathered before rubato runs (0 when passing through).
    pub fn chunk_len(&self) -> usize {
        self.chunk.len()
    }

    /// The most samples one call of `on_output` receives.
    pub fn max_block_len(&self) -> usize {
        self.out.len()
    }

    /// Resamples `input`, calling `on_output` with each block of output as it is produced.
    /// A chunk with a NaN or infinite sample is rejected whole and nothing is taken.
    pub fn process(
        &mut self,
        input: &[f32],
        mut on_output: impl FnMut(&[f32]),
    ) -> Result<(), ProcessError> {
        check_finite(input)?;
        self.process_finite(input, &mut on_output);
        Ok(())
    }

    pub(crate) fn process_finite(&mut self, mut input: &[f32], on_output: &mut impl FnMut(&[f32])) {
        self.consumed += input.len() as u64;
        if self.inner.is_none() {
            self.emitted += input.len() as u64;
            if !input.is_empty() {
                on_output(input);
            }
            return;
        }
        while !input.is_empty() {
            let n = (self.chunk.len() - self.fill).min(input.len());
            self.chunk[self.fill..self.fill + n].copy_from_slice(&input[..n]);
            self.fill += n;
            input = &input[n..];
            if self.fill == self.chunk.len() {
                self.run_chunk(u64::MAX, on_output);
            }
        }
    }

    /// Runs rubato on the gathered chunk and emits at most `limit` samples in total.
    fn run_chunk(&mut self, limit: u64, on_output: &mut impl FnMut(&[f32])) {
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        let frames_in = self.chunk.len();
        let frames_out = self.out.len();
        let (Ok(input), Ok(mut output)) = (
            SequentialSlice::new(&self.chunk[..], 1, frames_in),
            SequentialSlice::new_mut(&mut self.out[..], 1, frames_out),
        ) else {
            return;
        };
        // The buffers were sized from the resampler itself, so this cannot fail.
        let produced = inner
            .process_into_buffer(&input, &mut output, None)
            .map_or(0, |(_, produced)| produced);
        self.fill = 0;
        let skip = self.trim.min(produced);
        self.trim -= skip;
        let available = (produced - skip) as u64;
        let n = available.min(limit.saturating_sub(self.emitted)) as usize;
        if n > 0 {
            self.emitted += n as u64;
            on_output(&self.out[skip..skip + n]);
        }
    }

    /// Flushes the tail: pads with silence until all the input so far has come out, then
    /// resets. After it, `round(consumed * output / input)` samples have been emitted in all.
    pub fn finish(&mut self, mut on_output: impl FnMut(&[f32])) {
        if self.inner.is_some() {
            let (num, den) = (
                u64::from(self.output_rate.hz()),
                u64::from(self.input_rate.hz()),
            );
            let expected = (self.consumed * num + den / 2) / den;
            while self.emitted < expected {
                self.chunk[self.fill..].fill(0.0);
                self.fill = self.chunk.len();
                self.run_chunk(expected, &mut on_output);
            }
        }
        self.reset();
    }

    /// Forgets all state.
    pub fn reset(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            inner.reset();
            self.trim = inner.output_delay();
        }
        self.fill = 0;
        self.consumed = 0;
        self.emitted = 0;
    }
}

/// Resampling and feature extraction in one streaming stage: samples at any rate in, frames out.
///
/// ```
/// use hark_dsp::{FeatureConfig, Frontend, SampleRate};
///
/// let rate = SampleRate::new(44_100).unwrap();
/// let mut frontend = Frontend::new(rate, FeatureConfig::kws())?;
/// let mut frames = 0;
/// frontend.process(&vec![0.1f32; 44_100], |_frame| frames += 1)?;
/// frontend.finish(|_frame| frames += 1);
/// assert_eq!(frames, 98);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Frontend {
    resampler: Resampler,
    extractor: FeatureExtractor,
}

impl Frontend {
    /// A front end for samples at `input_rate` producing `config`'s features.
    pub fn new(input_rate: SampleRate, config: FeatureConfig) -> Result<Self, ConfigError> {
        let resampler = Resampler::new(input_rate, config.sample_rate)?;
        let extractor = FeatureExtractor::new(config)?;
        Ok(Frontend {
            resampler,
            extractor,
        })
    }

    /// The extractor (for its configuration and sizes).
    pub fn extractor(&self) -> &FeatureExtractor {
        &self.extractor
    }

    /// The resampler.
    pub fn resampler(&self) -> &Resampler {
        &self.resampler
    }

    /// Pushes `samples` and calls `on_frame` with every completed frame. A chunk with a NaN or
    /// infinite sample is rejected whole. Returns the number of frames delivered.
    pub fn process(
        &mut self,
        samples: &[f32],
        mut on_frame: impl FnMut(&[f32]),
    ) -> Result<usize, ProcessError> {
        check_finite(samples)?;
        Ok(self.process_finite(samples, &mut on_frame))
    }

    pub(crate) fn process_finite(
        &mut self,
        samples: &[f32],
        on_frame: &mut impl FnMut(&[f32]),
    ) -> usize {
        let extractor = &mut self.extractor;
        let mut frames = 0;
        self.resampler.process_finite(samples, &mut |block| {
            frames += extractor.process_finite(block, on_frame);
        });
        frames
    }

    /// Flushes the resampler's tail through the extractor (end of stream); the frames that
    /// completes are delivered, then both stages are reset.
    pub fn finish(&mut self, mut on_frame: impl FnMut(&[f32])) -> usize {
        let extractor = &mut self.extractor;
        let mut frames = 0;
        self.resampler.finish(|block| {
            frames += extractor.process_finite(block, &mut on_frame);
        });
        extractor.reset();
        frames
    }

    /// Forgets all state.
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.extractor.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(hz: u32) -> SampleRate {
        SampleRate::new(hz).expect("non-zero")
    }

    fn resample_whole(from: u32, to: u32, signal: &[f32], chunk: usize) -> Vec<f32> {
        let mut r = Resampler::new(rate(from), rate(to)).expect("valid");
        let mut out = Vec::new();
        for c in signal.chunks(chunk.max(1)) {
            r.process(c, |b| out.extend_from_slice(b)).expect("finite");
        }
        r.finish(|b| out.extend_from_slice(b));
        out
    }

    #[test]
    fn lengths_and_alignment() {
        for from in [8_000, 44_100, 48_000, 16_000, 22_050] {
            // A 440 Hz tone: after resampling it must still be a 440 Hz tone, in phase.
            let n = from as usize;
            let signal: Vec<f32> = (0..n)
                .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / from as f32).sin())
                .collect();
            let out = resample_whole(from, 16_000, &signal, 1000);
            assert_eq!(out.len(), 16_000, "{from}");
            // Fit a sin + b cos over the middle: amplitude 1, delay under half a sample.
            let w = 2.0 * std::f64::consts::PI * 440.0 / 16_000.0;
            let (mut a, mut b) = (0.0f64, 0.0f64);
            let range = 2000..14_000;
            for i in range.clone() {
                a += f64::from(out[i]) * (w * i as f64).sin();
                b += f64::from(out[i]) * (w * i as f64).cos();
            }
            let n = range.len() as f64 / 2.0;
            let (a, b) = (a / n, b / n);
            let amplitude = a.hypot(b);
            let delay_samples = -b.atan2(a) / w;
            assert!(
                (amplitude - 1.0).abs() < 2e-3,
                "{from} Hz: amplitude {amplitude}"
            );
            assert!(
                delay_samples.abs() < 0.5,
                "{from} Hz: delay {delay_samples} samples"
            );
        }
    }

    #[test]
    fn chunking_does_not_change_output() {
        let signal: Vec<f32> = (0..20_000)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let whole = resample_whole(44_100, 16_000, &signal, signal.len());
        for chunk in [1, 37, 441, 4096] {
            assert_eq!(
                resample_whole(44_100, 16_000, &signal, chunk),
                whole,
                "{chunk}"
            );
        }
    }

    #[test]
    fn passthrough_is_exact() {
        let signal: Vec<f32> = (0..1234).map(|i| i as f32 / 1234.0).collect();
        assert_eq!(resample_whole(16_000, 16_000, &signal, 100), signal);
    }

    #[test]
    fn nan_is_rejected() {
        let mut r = Resampler::new(rate(48_000), rate(16_000)).expect("valid");
        let err = r.process(&[0.0, f32::NAN], |_| {}).expect_err("NaN");
        assert!(matches!(err, ProcessError::NonFinite { index: 1, .. }));
    }
}
