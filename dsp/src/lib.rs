//! Streaming spectrogram features for audio and sensor signals: log-mel, MFCC and linear band
//! energies, identical whatever the chunking of the input.
//!
//! ```
//! use hark_dsp::{FeatureConfig, Frontend, SampleRate};
//!
//! // 48 kHz audio in 128-sample blocks, as a sound card delivers it; 40 log-mel bands out.
//! let mut frontend = Frontend::new(SampleRate::new(48_000).unwrap(), FeatureConfig::librosa())?;
//! let block = [0.0f32; 128];
//! let mut frames = 0;
//! for _ in 0..375 {
//!     frontend.process(&block, |log_mel| {
//!         assert_eq!(log_mel.len(), 40);
//!         frames += 1;
//!     })?;
//! }
//! assert!(frames > 90);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Stages
//! - [`FeatureExtractor`]: framing over a ring buffer, window, real FFT (realfft), bands, log,
//!   DCT. Samples at the configured rate in, frames out.
//! - [`Resampler`]: streaming rate conversion with rubato, for 8 kHz, 22.05 kHz, 44.1 kHz,
//!   48 kHz or any other input.
//! - [`Frontend`]: the two in one.
//! - [`MultichannelFrontend`]: one [`Frontend`] per channel of interleaved samples (a stereo
//!   recording, a triaxial accelerometer), each frame every channel's features side by side.
//!
//! Every stage is built once (`new` allocates buffers and plans the FFT) and then processes
//! caller-owned slices without allocating, locking or doing I/O, so it can run on an audio
//! thread. The `compute` convenience methods allocate their result and are not for real time.
//!
//! # Numeric conventions
//! - Samples are `f32`, nominally in [-1, 1]; [`FeatureConfig::input_scale`] rescales them
//!   (the `kaldi` preset uses 32768, Kaldi's int16 range).
//! - Framing: frame `t` covers samples `[t * hop, t * hop + frame_length)`; no centring and no
//!   padding at the start (librosa `center=False`, Kaldi `snip_edges=true`). A frame is emitted
//!   as soon as its last sample arrives. The window (`window_length` samples) is centred in the
//!   frame, and the frame is zero-padded at the end to `n_fft`.
//! - Windows: periodic (`M = N`) or symmetric (`M = N - 1`) Hann and Hamming; Kaldi's povey
//!   window is the symmetric Hann raised to 0.85.
//! - FFT: unnormalised forward real FFT, `X[k] = sum_n x[n] e^{-2 pi i k n / N}`, bins
//!   `0..=n_fft/2`; power is `|X|^2`, magnitude `|X|`.
//! - Precision: framing, window and FFT in `f64` (`f32` on `wasm32`, where a SIMD vector holds
//!   four `f32` against two `f64`; the features then differ by about 1e-4 in ln units at
//!   most); bands, log and DCT in `f32`.
//! - Mel: HTK (`1127 ln(1 + f/700)`) or Slaney (linear below 1 kHz, log above); triangles
//!   linear in Hz (librosa) or in mel (Kaldi); Slaney area normalisation `2 / (f_r - f_l)` or
//!   none.
//! - Log: `ln(max(x, floor))` or `10 log10(max(x, amin))`.
//! - MFCC: orthonormal DCT-II of the log bands, first `n_mfcc` rows, optional lifter
//!   `1 + (L/2) sin(pi (k+1) / L)` (librosa's convention).
//!
//! # Bad input
//! Configuration problems (hop 0, `fmax` above Nyquist, more bands than FFT bins, ...) are a
//! [`ConfigError`] from `new`, never a panic. During processing, a chunk holding a NaN or an
//! infinity is rejected whole with [`ProcessError::NonFinite`], nothing of it is taken, and the
//! stage is left as it was, so the caller can clean the chunk and push it again. An empty chunk
//! is no error (it yields nothing); a whole-signal call on fewer samples than one frame is
//! [`ProcessError::TooShort`].
//!
//! # Presets
//! [`FeatureConfig::librosa`], [`FeatureConfig::librosa_mfcc`], [`FeatureConfig::kaldi`],
//! [`FeatureConfig::kws`] (the keyword models' front end) and [`FeatureConfig::vibration`].

mod config;
mod error;
mod extractor;
mod filterbank;
mod multichannel;
mod resample;

pub use config::{
    Bands, FeatureConfig, LinearBands, Log, MelBands, MelNorm, MelScale, Mfcc, Normalize,
    SampleRate, Spectrum, Triangles, Window,
};
pub use error::{ConfigError, ProcessError};
pub use extractor::{DEFAULT_QUEUE_FRAMES, FeatureExtractor, Features};
pub use multichannel::MultichannelFrontend;
pub use resample::{Frontend, Resampler};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
