//! [`FeatureExtractor`]: samples in, frames of features out, over a ring buffer.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use ringbuf::LocalRb;
use ringbuf::storage::Heap;
use ringbuf::traits::Observer;

use crate::config::{FeatureConfig, Log, Spectrum};
use crate::error::{ConfigError, ProcessError, check_finite};
use crate::filterbank::{Filterbank, dct_matrix, window};

/// The precision of framing and the FFT: `f64` natively, for the parity margin against librosa
/// and Kaldi; `f32` in Wasm, where an `f64` vector holds two lanes instead of four.
#[cfg(not(target_arch = "wasm32"))]
type Real = f64;
#[cfg(target_arch = "wasm32")]
type Real = f32;

/// Frames the output queue holds by default before [`FeatureExtractor::push`] stops taking
/// samples (1.28 s at a 10 ms hop).
pub const DEFAULT_QUEUE_FRAMES: usize = 128;

/// A streaming feature extractor.
///
/// Everything is allocated in [`new`](Self::new); [`push`](Self::push),
/// [`pop_frame`](Self::pop_frame) and [`process`](Self::process) never allocate, lock or do I/O.
/// Feeding a signal in chunks of any size gives the same frames, bit for bit, as feeding it
/// whole.
///
/// ```
/// use hark_dsp::{FeatureConfig, FeatureExtractor};
///
/// let mut fx = FeatureExtractor::new(FeatureConfig::librosa())?;
/// let tone: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
/// let mut frames = 0;
/// for chunk in tone.chunks(128) {
///     fx.process(chunk, |frame| {
///         assert_eq!(frame.len(), 40);
///         frames += 1;
///     })?;
/// }
/// assert_eq!(frames, 97); // 1 + (16000 - 512) / 160
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FeatureExtractor {
    config: FeatureConfig,
    /// The last `frame_length` samples not yet framed.
    samples: LocalRb<Heap<f32>>,
    /// Samples still to discard before the next frame starts (when `hop > frame_length`).
    skip: usize,
    /// Completed frames, `n_features` values each.
    frames: LocalRb<Heap<f32>>,
    n_features: usize,
    window: Vec<Real>,
    window_offset: usize,
    fft: Arc<dyn RealToComplex<Real>>,
    fft_in: Vec<Real>,
    fft_out: Vec<Complex<Real>>,
    fft_scratch: Vec<Complex<Real>>,
    spectrum: Vec<f32>,
    filterbank: Filterbank,
    bands: Vec<f32>,
    dct: Option<Vec<f32>>,
    frame: Vec<f32>,
}

impl std::fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("config", &self.config)
            .field("frames_ready", &self.frames_ready())
            .finish_non_exhaustive()
    }
}

impl FeatureExtractor {
    /// An extractor whose output queue holds [`DEFAULT_QUEUE_FRAMES`] frames.
    pub fn new(config: FeatureConfig) -> Result<Self, ConfigError> {
        Self::with_queue(config, DEFAULT_QUEUE_FRAMES)
    }

    /// An extractor whose output queue holds `queue_frames` frames (at least 1).
    pub fn with_queue(config: FeatureConfig, queue_frames: usize) -> Result<Self, ConfigError> {
        config.validate()?;
        let queue_frames = queue_frames.max(1);
        let n_features = config.n_features();
        let n_bins = config.n_bins();
        let fft = RealFftPlanner::<Real>::new().plan_fft_forward(config.n_fft);
        let fft_scratch = fft.make_scratch_vec();
        let filterbank = Filterbank::new(&config)?;
        let dct = config
            .mfcc
            .map(|m| dct_matrix(config.n_bands(), m.n_mfcc, m.lifter));
        Ok(FeatureExtractor {
            samples: LocalRb::new(config.frame_length),
            skip: 0,
            frames: LocalRb::new(queue_frames * n_features),
            n_features,
            window: window(config.window, config.window_length)
                .into_iter()
                .map(to_real)
                .collect(),
            window_offset: (config.frame_length - config.window_length) / 2,
            fft_in: vec![0.0; config.n_fft],
            fft_out: vec![Complex::default(); n_bins],
            fft_scratch,
            fft,
            spectrum: vec![0.0; n_bins],
            filterbank,
            bands: vec![0.0; config.n_bands()],
            dct,
            frame: vec![0.0; n_features],
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }

    /// Values per frame.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Frames waiting in the output queue.
    pub fn frames_ready(&self) -> usize {
        self.frames.occupied_len() / self.n_features
    }

    /// Samples still needed before the next frame completes.
    pub fn samples_to_next_frame(&self) -> usize {
        self.skip + self.config.frame_length - self.samples.occupied_len()
    }

    /// Delay of the stage: a frame is complete `frame_length` samples after its first sample.
    pub fn delay(&self) -> usize {
        self.config.frame_length
    }

    /// Forgets all samples and queued frames; the next sample starts frame 0 again.
    pub fn reset(&mut self) {
        self.samples.clear();
        self.frames.clear();
        self.skip = 0;
    }

    /// Takes samples until the output queue is full and computes every frame they complete.
    ///
    /// Returns how many samples were taken: all of them unless the queue filled up, in which
    /// case pop frames and push the rest. A chunk with a NaN or infinite sample is rejected
    /// whole ([`ProcessError::NonFinite`]) and nothing is taken.
    pub fn push(&mut self, samples: &[f32]) -> Result<usize, ProcessError> {
        check_finite(samples)?;
        Ok(self.push_finite(samples))
    }

    /// Copies the oldest queued frame into `out` (of [`n_features`](Self::n_features) values).
    /// `Ok(false)` when no frame is ready.
    pub fn pop_frame(&mut self, out: &mut [f32]) -> Result<bool, ProcessError> {
        if out.len() != self.n_features {
            return Err(ProcessError::BufferLength {
                expected: self.n_features,
                actual: out.len(),
            });
        }
        if self.frames.occupied_len() < self.n_features {
            return Ok(false);
        }
        self.frames.pop_slice(out);
        Ok(true)
    }

    /// Pushes all of `samples` and calls `on_frame` with every frame as it completes (after any
    /// frames already queued). Returns the number of frames delivered.
    pub fn process(
        &mut self,
        samples: &[f32],
        mut on_frame: impl FnMut(&[f32]),
    ) -> Result<usize, ProcessError> {
        check_finite(samples)?;
        Ok(self.process_finite(samples, &mut on_frame))
    }

    /// [`process`](Self::process) for samples already checked to be finite.
    pub(crate) fn process_finite(
        &mut self,
        mut samples: &[f32],
        on_frame: &mut impl FnMut(&[f32]),
    ) -> usize {
        let mut delivered = self.drain(on_frame);
        while !samples.is_empty() {
            let taken = self.push_finite(samples);
            samples = &samples[taken..];
            delivered += self.drain(on_frame);
        }
        delivered
    }

    fn drain(&mut self, on_frame: &mut impl FnMut(&[f32])) -> usize {
        let mut delivered = 0;
        while self.frames.occupied_len() >= self.n_features {
            self.frames.pop_slice(&mut self.frame);
            on_frame(&self.frame);
            delivered += 1;
        }
        delivered
    }

    /// Computes the features of a whole signal, starting from a fresh state.
    /// Allocates the result: not for real time.
    pub fn compute(&mut self, signal: &[f32]) -> Result<Features, ProcessError> {
        check_finite(signal)?;
        if signal.len() < self.config.frame_length {
            return Err(ProcessError::TooShort {
                needed: self.config.frame_length,
                got: signal.len(),
            });
        }
        self.reset();
        let mut data = Vec::with_capacity(self.config.n_frames(signal.len()) * self.n_features);
        let n_frames = self.process_finite(signal, &mut |frame| data.extend_from_slice(frame));
        Ok(Features {
            data,
            n_frames,
            n_features: self.n_features,
        })
    }

    fn push_finite(&mut self, samples: &[f32]) -> usize {
        let mut taken = 0;
        while taken < samples.len() {
            if self.frames.vacant_len() < self.n_features {
                break;
            }
            let rest = &samples[taken..];
            if self.skip > 0 {
                let n = self.skip.min(rest.len());
                self.skip -= n;
                taken += n;
                continue;
            }
            taken += self.samples.push_slice(rest);
            if self.samples.is_full() {
                self.compute_frame();
                let hop = self.config.hop_length;
                let drop = hop.min(self.config.frame_length);
                self.samples.skip(drop);
                self.skip = hop - drop;
            }
        }
        taken
    }

    /// Turns the full sample ring into one frame on the output queue.
    fn compute_frame(&mut self) {
        let config = &self.config;
        let frame_length = config.frame_length;
        let (a, b) = self.samples.as_slices();
        let frame = &mut self.fft_in[..frame_length];
        let scale = Real::from(config.input_scale);
        // The ring's two halves one after the other: plain slice loops, which vectorise
        // (a chained iterator did not, and was a third of this function's time).
        let (head, tail) = frame.split_at_mut(a.len().min(frame_length));
        for (x, s) in head.iter_mut().zip(a) {
            *x = Real::from(*s) * scale;
        }
        for (x, s) in tail.iter_mut().zip(b) {
            *x = Real::from(*s) * scale;
        }
        if config.remove_dc {
            let mean = sum(frame) / frame_length as Real;
            frame.iter_mut().for_each(|x| *x -= mean);
        }
        let p = Real::from(config.preemphasis);
        if p != 0.0 {
            for i in (1..frame_length).rev() {
                frame[i] -= p * frame[i - 1];
            }
            frame[0] -= p * frame[0];
        }
        let (lo, hi) = (
            self.window_offset,
            self.window_offset + config.window_length,
        );
        frame[..lo].fill(0.0);
        frame[lo..hi]
            .iter_mut()
            .zip(&self.window)
            .for_each(|(x, w)| *x *= w);
        frame[hi..].fill(0.0);
        self.fft_in[frame_length..].fill(0.0);

        // The lengths were fixed at construction, so the FFT cannot fail.
        let _ = self.fft.process_with_scratch(
            &mut self.fft_in,
            &mut self.fft_out,
            &mut self.fft_scratch,
        );
        match config.spectrum {
            Spectrum::Power => {
                for (s, c) in self.spectrum.iter_mut().zip(&self.fft_out) {
                    *s = to_f32(c.re * c.re + c.im * c.im);
                }
            }
            Spectrum::Magnitude => {
                for (s, c) in self.spectrum.iter_mut().zip(&self.fft_out) {
                    *s = to_f32((c.re * c.re + c.im * c.im).sqrt());
                }
            }
        }
        self.filterbank.apply(&self.spectrum, &mut self.bands);
        match config.log {
            Log::None => {}
            Log::Natural { floor } => self.bands.iter_mut().for_each(|x| *x = x.max(floor).ln()),
            Log::Db { amin } => self
                .bands
                .iter_mut()
                .for_each(|x| *x = 10.0 * x.max(amin).log10()),
        }
        match &self.dct {
            Some(dct) => {
                let n_in = self.bands.len();
                for (k, out) in self.frame.iter_mut().enumerate() {
                    let row = &dct[k * n_in..(k + 1) * n_in];
                    *out = row.iter().zip(&self.bands).map(|(c, x)| c * x).sum();
                }
            }
            None => self.frame.copy_from_slice(&self.bands),
        }
        if let Some(norm) = &config.normalize {
            for ((x, m), s) in self.frame.iter_mut().zip(&norm.mean).zip(&norm.std) {
                *x = (*x - m) / s;
            }
        }
        self.frames.push_slice(&self.frame);
    }
}

/// A feature matrix, `n_frames` rows of `n_features` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// The values, frame after frame.
    pub data: Vec<f32>,
    /// Rows.
    pub n_frames: usize,
    /// Columns.
    pub n_features: usize,
}

impl Features {
    /// Frame `t`, or `None` past the end.
    pub fn frame(&self, t: usize) -> Option<&[f32]> {
        self.data
            .get(t * self.n_features..(t + 1) * self.n_features)
    }

    /// The frames in order.
    pub fn frames(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.n_features.max(1))
    }
}

/// A window coefficient (computed in `f64`) at the framing precision.
#[allow(clippy::unnecessary_cast)] // f64 to f64 natively
fn to_real(x: f64) -> Real {
    x as Real
}

/// A spectrum value at the precision of the rest of the pipeline.
#[allow(clippy::unnecessary_cast)] // f32 to f32 in Wasm
fn to_f32(x: Real) -> f32 {
    x as f32
}

/// A sum in four lanes, so that it vectorises (a plain sum of `f64` is one long chain of
/// dependent additions).
fn sum(x: &[Real]) -> Real {
    let mut acc: [Real; 4] = [0.0; 4];
    let chunks = x.chunks_exact(4);
    let rest = chunks.remainder().iter().sum::<Real>();
    for c in chunks {
        for lane in 0..4 {
            acc[lane] += c[lane];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn four_lane_sum_is_the_sum() {
        for n in (0..13).chain([400, 1023, 1024]) {
            let x: Vec<f64> = noise(n, n as u64)
                .iter()
                .map(|&v| f64::from(v) + 0.25)
                .collect();
            let naive: f64 = x.iter().sum();
            assert!(
                (sum(&x) - naive).abs() <= 1e-12 * naive.abs().max(1.0),
                "{n}"
            );
        }
    }

    #[test]
    fn frame_count_matches_formula() {
        for name in FeatureConfig::PRESETS {
            let config = FeatureConfig::preset(name).expect("preset");
            let mut fx = FeatureExtractor::new(config.clone()).expect("valid");
            for len in [config.frame_length, 4000, 16_000] {
                let f = fx.compute(&noise(len, 1)).expect("long enough");
                assert_eq!(f.n_frames, config.n_frames(len), "{name} {len}");
            }
        }
    }

    #[test]
    fn nan_chunk_is_rejected_whole_and_nothing_is_lost() {
        let mut fx = FeatureExtractor::new(FeatureConfig::kws()).expect("valid");
        let signal = noise(3200, 2);
        let reference = fx.compute(&signal).expect("ok");
        fx.reset();
        let mut got = Vec::new();
        fx.process(&signal[..1000], |f| got.extend_from_slice(f))
            .expect("clean");
        let mut bad = signal[1000..1100].to_vec();
        bad[37] = f32::NAN;
        let err = fx.push(&bad).expect_err("NaN must be rejected");
        assert!(matches!(err, ProcessError::NonFinite { index: 37, value } if value.is_nan()));
        assert!(err.to_string().contains("sample 37"));
        let err = fx.push(&[0.0, f32::INFINITY]).expect_err("inf");
        assert!(matches!(err, ProcessError::NonFinite { index: 1, .. }));
        fx.process(&signal[1000..], |f| got.extend_from_slice(f))
            .expect("clean");
        assert_eq!(got, reference.data);
    }

    #[test]
    fn short_and_empty_signals_are_errors() {
        let mut fx = FeatureExtractor::new(FeatureConfig::librosa()).expect("valid");
        assert_eq!(
            fx.compute(&[]),
            Err(ProcessError::TooShort {
                needed: 512,
                got: 0
            })
        );
        assert_eq!(fx.push(&[]), Ok(0));
        let mut small = [0.0; 3];
        assert_eq!(
            fx.pop_frame(&mut small),
            Err(ProcessError::BufferLength {
                expected: 40,
                actual: 3
            })
        );
    }

    #[test]
    fn full_queue_stops_push_and_loses_nothing() {
        let config = FeatureConfig::kws();
        let signal = noise(16_000, 3);
        let reference = FeatureExtractor::new(config.clone())
            .expect("valid")
            .compute(&signal)
            .expect("ok");
        let mut fx = FeatureExtractor::with_queue(config, 2).expect("valid");
        let mut rest = &signal[..];
        let mut out = vec![0.0; 40];
        let mut got = Vec::new();
        while !rest.is_empty() {
            let taken = fx.push(rest).expect("clean");
            assert!(fx.frames_ready() <= 2);
            rest = &rest[taken..];
            while fx.pop_frame(&mut out).expect("sized") {
                got.extend_from_slice(&out);
            }
        }
        assert_eq!(got, reference.data);
    }

    #[test]
    fn hop_longer_than_frame_skips_samples() {
        let config = FeatureConfig {
            hop_length: 1000,
            ..FeatureConfig::kws()
        };
        let signal = noise(5000, 4);
        let mut fx = FeatureExtractor::new(config.clone()).expect("valid");
        let whole = fx.compute(&signal).expect("ok");
        assert_eq!(whole.n_frames, config.n_frames(5000));
        // Frame 2 must be the frame of samples 2000..2400 alone.
        let alone = fx.compute(&signal[2000..2400]).expect("ok");
        assert_eq!(whole.frame(2), alone.frame(0));
    }
}
