//! Errors: one enum for setup ([`ConfigError`]), one for processing ([`ProcessError`]).

/// A configuration that cannot produce features. Returned by [`FeatureConfig::validate`],
/// [`FeatureExtractor::new`] and [`Resampler::new`], never during processing.
///
/// [`FeatureConfig::validate`]: crate::FeatureConfig::validate
/// [`FeatureExtractor::new`]: crate::FeatureExtractor::new
/// [`Resampler::new`]: crate::Resampler::new
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A length that must be at least one sample is zero.
    #[error("{what} must be at least 1 sample, got 0")]
    ZeroLength {
        /// Which length (`hop_length`, `frame_length`, ...).
        what: &'static str,
    },
    /// The analysis window is longer than the frame it is applied to.
    #[error("window_length ({window_length}) is longer than frame_length ({frame_length})")]
    WindowLongerThanFrame {
        /// Window length in samples.
        window_length: usize,
        /// Frame length in samples.
        frame_length: usize,
    },
    /// The FFT is shorter than the frame, so samples would be dropped.
    #[error("n_fft ({n_fft}) is shorter than frame_length ({frame_length})")]
    FftShorterThanFrame {
        /// FFT size.
        n_fft: usize,
        /// Frame length in samples.
        frame_length: usize,
    },
    /// A band edge lies above the Nyquist frequency of the feature sample rate.
    #[error("fmax {fmax} Hz is above the Nyquist frequency {nyquist} Hz")]
    FmaxAboveNyquist {
        /// Requested upper edge in Hz.
        fmax: f32,
        /// Half the feature sample rate.
        nyquist: f32,
    },
    /// The band range is empty or negative.
    #[error("band range is empty: fmin {fmin} Hz must be >= 0 and below fmax {fmax} Hz")]
    BadBandRange {
        /// Lower edge in Hz.
        fmin: f32,
        /// Upper edge in Hz.
        fmax: f32,
    },
    /// More bands were asked for than the spectrum can resolve.
    #[error("{bands} bands requested but the spectrum has only {bins} bins (n_fft / 2 + 1)")]
    TooManyBands {
        /// Requested band count.
        bands: usize,
        /// FFT bins available.
        bins: usize,
    },
    /// A linear band contains no FFT bin at this resolution.
    #[error(
        "linear band {band} ({lo} Hz to {hi} Hz) contains no FFT bin; use fewer bands or a larger n_fft"
    )]
    EmptyBand {
        /// Index of the empty band.
        band: usize,
        /// Lower edge in Hz.
        lo: f32,
        /// Upper edge in Hz.
        hi: f32,
    },
    /// MFCC count out of range.
    #[error("n_mfcc must be between 1 and the number of bands ({bands}), got {n_mfcc}")]
    BadMfccCount {
        /// Requested coefficient count.
        n_mfcc: usize,
        /// Bands feeding the DCT.
        bands: usize,
    },
    /// MFCC needs a log stage in front of it.
    #[error("MFCC needs a log stage (Log::Natural or Log::Db), got Log::None")]
    MfccWithoutLog,
    /// A scalar parameter is out of its documented range.
    #[error("{what} = {value} is out of range: {expected}")]
    OutOfRange {
        /// Parameter name.
        what: &'static str,
        /// Value given.
        value: f64,
        /// The allowed range, in words.
        expected: &'static str,
    },
    /// Normalisation statistics do not match the feature dimension.
    #[error("normalisation has {actual} {what} values but the features have {expected} dimensions")]
    NormalizeLength {
        /// `mean` or `std`.
        what: &'static str,
        /// Feature dimension.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// The resampler could not be built for these rates.
    #[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
    Resampler {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// What rubato said.
        reason: String,
    },
    /// A configuration string could not be parsed.
    #[error("cannot parse feature config: {0}")]
    Parse(String),
}

/// A problem with the samples or buffers handed to a processing call.
///
/// Processing errors leave the stage unchanged: a rejected chunk is not consumed, so the caller
/// can clean it and push it again and nothing that was accepted before is lost.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// A sample is NaN or infinite. The whole chunk was rejected.
    #[error("sample {index} of the chunk is not finite ({value}); the chunk was rejected")]
    NonFinite {
        /// Position in the chunk.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// A caller buffer has the wrong length.
    #[error("buffer has {actual} values, expected {expected}")]
    BufferLength {
        /// Length needed.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// An interleaved chunk ends inside a sample frame. The whole chunk was rejected.
    #[error(
        "chunk of {len} values is not whole sample frames of {channels} interleaved channels; the chunk was rejected"
    )]
    PartialFrame {
        /// Interleaved channels.
        channels: usize,
        /// Values in the chunk.
        len: usize,
    },
    /// A whole-signal call got fewer samples than one frame needs.
    #[error("signal has {got} samples, one frame needs {needed}")]
    TooShort {
        /// Samples needed for one frame.
        needed: usize,
        /// Samples given.
        got: usize,
    },
}

/// Checks that every sample is finite; the index of the first bad one otherwise.
pub(crate) fn check_finite(samples: &[f32]) -> Result<(), ProcessError> {
    // Blocks keep the common (clean) path a tight loop; the position is found only on failure.
    for (block_index, block) in samples.chunks(64).enumerate() {
        if !block.iter().all(|x| x.is_finite()) {
            let (offset, value) = block
                .iter()
                .copied()
                .enumerate()
                .find(|(_, x)| !x.is_finite())
                .unwrap_or((0, f32::NAN));
            return Err(ProcessError::NonFinite {
                index: block_index * 64 + offset,
                value,
            });
        }
    }
    Ok(())
}
