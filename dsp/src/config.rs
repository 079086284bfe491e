//! [`FeatureConfig`]: every knob of the front end, its presets and its validation.

use std::num::NonZeroU32;

use crate::error::ConfigError;

/// A sample rate in Hz. Zero cannot be constructed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleRate(NonZeroU32);

impl SampleRate {
    /// 16 kHz, the rate of the speech presets.
    pub const HZ_16000: SampleRate = SampleRate(NonZeroU32::MIN.saturating_add(15_999));

    /// A rate in Hz, or `None` for zero.
    pub const fn new(hz: u32) -> Option<Self> {
        match NonZeroU32::new(hz) {
            Some(hz) => Some(SampleRate(hz)),
            None => None,
        }
    }

    /// The rate in Hz.
    pub const fn hz(self) -> u32 {
        self.0.get()
    }

    /// Number of samples in `ms` milliseconds at this rate, rounded to the nearest sample.
    pub fn samples_in_ms(self, ms: f64) -> usize {
        (ms * f64::from(self.hz()) / 1000.0).round().max(0.0) as usize
    }

    /// Duration of `samples` samples in milliseconds.
    pub fn ms_of_samples(self, samples: usize) -> f64 {
        samples as f64 * 1000.0 / f64::from(self.hz())
    }
}

impl TryFrom<u32> for SampleRate {
    type Error = ConfigError;
    fn try_from(hz: u32) -> Result<Self, ConfigError> {
        SampleRate::new(hz).ok_or(ConfigError::ZeroLength {
            what: "sample_rate",
        })
    }
}

impl std::fmt::Display for SampleRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} Hz", self.hz())
    }
}

/// The analysis window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Window {
    /// All ones.
    Rectangular,
    /// `0.5 - 0.5 cos(2 pi n / M)`. Periodic (`M = N`, librosa / scipy `fftbins=True`) or
    /// symmetric (`M = N - 1`, Kaldi).
    Hann {
        /// `M = N` when true, `M = N - 1` when false.
        periodic: bool,
    },
    /// `0.54 - 0.46 cos(2 pi n / M)`, periodic or symmetric as for Hann.
    Hamming {
        /// `M = N` when true, `M = N - 1` when false.
        periodic: bool,
    },
    /// Kaldi's default: the symmetric Hann window raised to the power 0.85.
    Povey,
}

/// Which spectrum the bands sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spectrum {
    /// `|X|^2`.
    Power,
    /// `|X|`.
    Magnitude,
}

/// The mel formula.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MelScale {
    /// `2595 log10(1 + f / 700)` (equivalently Kaldi's `1127 ln(1 + f / 700)`).
    Htk,
    /// Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above (librosa's default).
    Slaney,
}

/// Area normalisation of the mel triangles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MelNorm {
    /// Peak 1 for every triangle.
    None,
    /// Each triangle scaled by `2 / (f_right - f_left)` so that bands have equal area (librosa
    /// `norm="slaney"`).
    Slaney,
}

/// The axis on which mel triangles are linear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Triangles {
    /// Linear in Hz between mel-spaced corner frequencies (librosa).
    Hz,
    /// Linear in mel (Kaldi). Only the FFT bins strictly inside a triangle count.
    Mel,
}

/// Mel filterbank settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MelBands {
    /// Number of bands.
    pub n_mels: usize,
    /// Lower edge of the first triangle, Hz.
    pub fmin: f32,
    /// Upper edge of the last triangle, Hz; at most half the sample rate.
    pub fmax: f32,
    /// The mel formula.
    pub scale: MelScale,
    /// Area normalisation.
    pub norm: MelNorm,
    /// The axis the triangles are linear on.
    pub triangles: Triangles,
}

/// Equal-width rectangular bands, for vibration and machine sensors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearBands {
    /// Number of bands.
    pub n_bands: usize,
    /// Lower edge, Hz.
    pub fmin: f32,
    /// Upper edge, Hz; at most half the sample rate.
    pub fmax: f32,
}

/// How the spectrum is grouped into features.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Bands {
    /// A mel filterbank.
    Mel(MelBands),
    /// Equal-width bands; each sums the bins whose centre frequency is in `[lo, hi)` (the last
    /// band also takes `fmax` itself).
    Linear(LinearBands),
    /// The raw spectrum: `n_fft / 2 + 1` bins.
    Spectrum,
}

/// Compression of the band energies.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Log {
    /// Energies as they are.
    None,
    /// `ln(max(x, floor))` (Kaldi uses `floor = f32::EPSILON`).
    Natural {
        /// Smallest value taken before the log.
        floor: f32,
    },
    /// `10 log10(max(x, amin))` (librosa's `power_to_db` with `ref=1.0`, `top_db=None`).
    Db {
        /// Smallest value taken before the log.
        amin: f32,
    },
}

/// Cepstral coefficients from the log bands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mfcc {
    /// Number of coefficients kept (the first `n_mfcc` of the DCT).
    pub n_mfcc: usize,
    /// Sinusoidal liftering `1 + (L / 2) sin(pi (k + 1) / L)` as librosa applies it; 0 turns it
    /// off.
    pub lifter: f32,
}

/// Per-dimension normalisation `(x - mean) / std`, applied last.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    /// One mean per output dimension.
    pub mean: Vec<f32>,
    /// One standard deviation per output dimension, all positive.
    pub std: Vec<f32>,
}

/// Everything that defines the features. Start from a preset and change fields, then
/// [`validate`](FeatureConfig::validate) (the extractor validates too).
///
/// # Framing
/// Frame `t` covers samples `t * hop_length .. t * hop_length + frame_length` of the stream
/// (no centring, no padding at the start: librosa's `center=False`, Kaldi's `snip_edges=true`).
/// A frame is emitted as soon as its last sample has arrived. The window of `window_length`
/// samples sits in the middle of the frame (librosa's `pad_center`), and the frame is
/// zero-padded at the end to `n_fft`.
///
/// # Order of operations per frame
/// scale by `input_scale` → subtract the frame mean (`remove_dc`) → pre-emphasis
/// `x[n] -= p x[n-1]`, `x[0] -= p x[0]` (Kaldi) → window → real FFT (unnormalised) →
/// power or magnitude → bands → log → DCT-II (orthonormal) and lifter → normalise.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureConfig {
    /// Rate of the samples the extractor is fed; other rates go through a [`Resampler`].
    ///
    /// [`Resampler`]: crate::Resampler
    pub sample_rate: SampleRate,
    /// Samples per frame.
    pub frame_length: usize,
    /// Samples between the starts of consecutive frames.
    pub hop_length: usize,
    /// Length of the analysis window, at most `frame_length`; centred in the frame.
    pub window_length: usize,
    /// FFT size, at least `frame_length`.
    pub n_fft: usize,
    /// The analysis window.
    pub window: Window,
    /// Factor applied to every sample first (32768 turns [-1, 1] audio into Kaldi's int16 scale).
    pub input_scale: f32,
    /// Subtract each frame's mean before pre-emphasis.
    pub remove_dc: bool,
    /// Pre-emphasis coefficient in `[0, 1]`; 0 turns it off.
    pub preemphasis: f32,
    /// Power or magnitude spectrum.
    pub spectrum: Spectrum,
    /// Band grouping.
    pub bands: Bands,
    /// Log compression.
    pub log: Log,
    /// Cepstra instead of log bands.
    pub mfcc: Option<Mfcc>,
    /// Per-dimension normalisation of the output.
    pub normalize: Option<Normalize>,
}

impl FeatureConfig {
    /// The 40-band log-mel spectrogram of
    /// `librosa.power_to_db(librosa.feature.melspectrogram(y, sr=16000, n_fft=512,
    /// win_length=400, hop_length=160, window="hann", center=False, power=2.0, n_mels=40,
    /// fmin=20, fmax=8000, htk=False, norm="slaney"), ref=1.0, amin=1e-10, top_db=None)`.
    pub fn librosa() -> Self {
        FeatureConfig {
            sample_rate: SampleRate::HZ_16000,
            frame_length: 512,
            hop_length: 160,
            window_length: 400,
            n_fft: 512,
            window: Window::Hann { periodic: true },
            input_scale: 1.0,
            remove_dc: false,
            preemphasis: 0.0,
            spectrum: Spectrum::Power,
            bands: Bands::Mel(MelBands {
                n_mels: 40,
                fmin: 20.0,
                fmax: 8000.0,
                scale: MelScale::Slaney,
                norm: MelNorm::Slaney,
                triangles: Triangles::Hz,
            }),
            log: Log::Db { amin: 1e-10 },
            mfcc: None,
            normalize: None,
        }
    }

    /// `librosa.feature.mfcc(S=<the librosa preset>, n_mfcc=13)`: DCT-II, orthonormal, no lifter.
    pub fn librosa_mfcc() -> Self {
        FeatureConfig {
            mfcc: Some(Mfcc {
                n_mfcc: 13,
                lifter: 0.0,
            }),
            ..Self::librosa()
        }
    }

    /// kaldi-native-fbank's `OnlineFbank` with its defaults, `dither=0` and `num_bins=40`:
    /// 25 ms povey window, 10 ms hop, DC removal, pre-emphasis 0.97, 512-point FFT, power,
    /// HTK mel triangles linear in mel from 20 Hz to Nyquist, `ln(max(x, f32::EPSILON))`.
    /// Samples in [-1, 1] are scaled to int16 range, as Kaldi expects.
    pub fn kaldi() -> Self {
        FeatureConfig {
            sample_rate: SampleRate::HZ_16000,
            frame_length: 400,
            hop_length: 160,
            window_length: 400,
            n_fft: 512,
            window: Window::Povey,
            input_scale: 32768.0,
            remove_dc: true,
            preemphasis: 0.97,
            spectrum: Spectrum::Power,
            bands: Bands::Mel(MelBands {
                n_mels: 40,
                fmin: 20.0,
                fmax: 8000.0,
                scale: MelScale::Htk,
                norm: MelNorm::None,
                triangles: Triangles::Mel,
            }),
            log: Log::Natural {
                floor: f32::EPSILON,
            },
            mfcc: None,
            normalize: None,
        }
    }

    /// The front end of Hark's keyword models: 16 kHz, 25 ms periodic Hann window, 10 ms hop,
    /// 512-point FFT, 40 HTK mel bands (triangles in Hz, no area normalisation) from 20 to
    /// 7600 Hz, power, `ln(max(x, 1e-6))`. The log floor sits near the noise of 16-bit audio
    /// so that digital silence does not dominate the input range.
    pub fn kws() -> Self {
        FeatureConfig {
            sample_rate: SampleRate::HZ_16000,
            frame_length: 400,
            hop_length: 160,
            window_length: 400,
            n_fft: 512,
            window: Window::Hann { periodic: true },
            input_scale: 1.0,
            remove_dc: false,
            preemphasis: 0.0,
            spectrum: Spectrum::Power,
            bands: Bands::Mel(MelBands {
                n_mels: 40,
                fmin: 20.0,
                fmax: 7600.0,
                scale: MelScale::Htk,
                norm: MelNorm::None,
                triangles: Triangles::Hz,
            }),
            log: Log::Natural { floor: 1e-6 },
            mfcc: None,
            normalize: None,
        }
    }

    /// The front end of Hark's machine-sound anomaly models: 16 kHz, 1024-sample periodic
    /// Hann frames every 512 samples (64 ms / 32 ms), 64 Slaney mel bands (area-normalised)
    /// from 0 to 8000 Hz, power in dB (`amin` 1e-10): the DCASE 2020 task 2 baseline's
    /// front end with half its bands.
    pub fn machine() -> Self {
        FeatureConfig {
            sample_rate: SampleRate::HZ_16000,
            frame_length: 1024,
            hop_length: 512,
            window_length: 1024,
            n_fft: 1024,
            window: Window::Hann { periodic: true },
            input_scale: 1.0,
            remove_dc: false,
            preemphasis: 0.0,
            spectrum: Spectrum::Power,
            bands: Bands::Mel(MelBands {
                n_mels: 64,
                fmin: 0.0,
                fmax: 8000.0,
                scale: MelScale::Slaney,
                norm: MelNorm::Slaney,
                triangles: Triangles::Hz,
            }),
            log: Log::Db { amin: 1e-10 },
            mfcc: None,
            normalize: None,
        }
    }

    /// Linear band energies for vibration and machine sensors at `sample_rate`: 64 equal bands
    /// from 0 Hz to Nyquist, 1024-sample Hann frames, hop 512, power, dB.
    pub fn vibration(sample_rate: SampleRate) -> Self {
        FeatureConfig {
            sample_rate,
            frame_length: 1024,
            hop_length: 512,
            window_length: 1024,
            n_fft: 1024,
            window: Window::Hann { periodic: true },
            input_scale: 1.0,
            remove_dc: true,
            preemphasis: 0.0,
            spectrum: Spectrum::Power,
            bands: Bands::Linear(LinearBands {
                n_bands: 64,
                fmin: 0.0,
                fmax: sample_rate.hz() as f32 / 2.0,
            }),
            log: Log::Db { amin: 1e-10 },
            mfcc: None,
            normalize: None,
        }
    }

    /// A preset by name: `librosa`, `librosa-mfcc`, `kaldi`, `kws`, `machine`, `vibration`
    /// (at 16 kHz).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "librosa" => Some(Self::librosa()),
            "librosa-mfcc" => Some(Self::librosa_mfcc()),
            "kaldi" => Some(Self::kaldi()),
            "kws" => Some(Self::kws()),
            "machine" => Some(Self::machine()),
            "vibration" => Some(Self::vibration(SampleRate::HZ_16000)),
            _ => None,
        }
    }

    /// The names [`preset`](Self::preset) knows.
    pub const PRESETS: &'static [&'static str] = &[
        "librosa",
        "librosa-mfcc",
        "kaldi",
        "kws",
        "machine",
        "vibration",
    ];

    /// Sets frame and window length and hop from milliseconds, and grows `n_fft` to the next
    /// power of two if the frame no longer fits.
    pub fn with_frame_ms(mut self, frame_ms: f64, hop_ms: f64) -> Self {
        self.frame_length = self.sample_rate.samples_in_ms(frame_ms);
        self.window_length = self.frame_length;
        self.hop_length = self.sample_rate.samples_in_ms(hop_ms);
        if self.n_fft < self.frame_length {
            self.n_fft = self.frame_length.next_power_of_two();
        }
        self
    }

    /// Frame length in milliseconds.
    pub fn frame_ms(&self) -> f64 {
        self.sample_rate.ms_of_samples(self.frame_length)
    }

    /// Hop in milliseconds.
    pub fn hop_ms(&self) -> f64 {
        self.sample_rate.ms_of_samples(self.hop_length)
    }

    /// Number of FFT bins, `n_fft / 2 + 1`.
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Number of bands before any DCT.
    pub fn n_bands(&self) -> usize {
        match self.bands {
            Bands::Mel(m) => m.n_mels,
            Bands::Linear(l) => l.n_bands,
            Bands::Spectrum => self.n_bins(),
        }
    }

    /// Values per output frame.
    pub fn n_features(&self) -> usize {
        match self.mfcc {
            Some(m) => m.n_mfcc,
            None => self.n_bands(),
        }
    }

    /// Number of frames a signal of `samples` samples yields.
    pub fn n_frames(&self, samples: usize) -> usize {
        if samples < self.frame_length || self.hop_length == 0 {
            0
        } else {
            1 + (samples - self.frame_length) / self.hop_length
        }
    }

    /// Checks every field; the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (what, value) in [
            ("frame_length", self.frame_length),
            ("hop_length", self.hop_length),
            ("window_length", self.window_length),
            ("n_fft", self.n_fft),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLength { what });
            }
        }
        if self.window_length > self.frame_length {
            return Err(ConfigError::WindowLongerThanFrame {
                window_length: self.window_length,
                frame_length: self.frame_length,
            });
        }
        if self.n_fft < self.frame_length {
            return Err(ConfigError::FftShorterThanFrame {
                n_fft: self.n_fft,
                frame_length: self.frame_length,
            });
        }
        if self.n_fft < 2 {
            return Err(out_of_range("n_fft", self.n_fft as f64, "at least 2"));
        }
        if !(self.input_scale.is_finite() && self.input_scale != 0.0) {
            return Err(out_of_range(
                "input_scale",
                self.input_scale.into(),
                "finite and non-zero",
            ));
        }
        if !(0.0..=1.0).contains(&self.preemphasis) {
            return Err(out_of_range(
                "preemphasis",
                self.preemphasis.into(),
                "between 0 and 1",
            ));
        }
        let nyquist = self.sample_rate.hz() as f32 / 2.0;
        let bins = self.n_bins();
        let (n_bands, fmin, fmax) = match self.bands {
            Bands::Mel(m) => (m.n_mels, m.fmin, m.fmax),
            Bands::Linear(l) => (l.n_bands, l.fmin, l.fmax),
            Bands::Spectrum => (bins, 0.0, nyquist),
        };
        if n_bands == 0 {
            return Err(ConfigError::ZeroLength { what: "band count" });
        }
        if !(fmin.is_finite() && fmax.is_finite() && fmin >= 0.0 && fmin < fmax) {
            return Err(ConfigError::BadBandRange { fmin, fmax });
        }
        if fmax > nyquist {
            return Err(ConfigError::FmaxAboveNyquist { fmax, nyquist });
        }
        if n_bands > bins {
            return Err(ConfigError::TooManyBands {
                bands: n_bands,
                bins,
            });
        }
        match self.log {
            Log::None => {}
            Log::Natural { floor: v } | Log::Db { amin: v } => {
                if !(v.is_finite() && v > 0.0) {
                    return Err(out_of_range("log floor", v.into(), "finite and above 0"));
                }
            }
        }
        if let Some(m) = self.mfcc {
            if self.log == Log::None {
                return Err(ConfigError::MfccWithoutLog);
            }
            if m.n_mfcc == 0 || m.n_mfcc > n_bands {
                return Err(ConfigError::BadMfccCount {
                    n_mfcc: m.n_mfcc,
                    bands: n_bands,
                });
            }
            if !(m.lifter.is_finite() && m.lifter >= 0.0) {
                return Err(out_of_range("lifter", m.lifter.into(), "finite and >= 0"));
            }
        }
        if let Some(n) = &self.normalize {
            let expected = self.n_features();
            for (what, v) in [("mean", &n.mean), ("std", &n.std)] {
                if v.len() != expected {
                    return Err(ConfigError::NormalizeLength {
                        what,
                        expected,
                        actual: v.len(),
                    });
                }
            }
            if let Some(bad) = n.mean.iter().find(|x| !x.is_finite()) {
                return Err(out_of_range("normalize.mean", (*bad).into(), "finite"));
            }
            if let Some(bad) = n.std.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                return Err(out_of_range(
                    "normalize.std",
                    (*bad).into(),
                    "finite and above 0",
                ));
            }
        }
        Ok(())
    }
}

/// The text form of a configuration: `key=value` pairs separated by spaces, every field
/// present, floats in their shortest exact form, so that parsing gives back the same config.
/// Models carry this string in their metadata.
///
/// ```
/// use hark_dsp::FeatureConfig;
///
/// let text = FeatureConfig::kws().to_string();
/// assert!(text.starts_with("sample_rate=16000 frame_length=400 hop_length=160"));
/// assert_eq!(text.parse::<FeatureConfig>()?, FeatureConfig::kws());
/// # Ok::<(), hark_dsp::ConfigError>(())
/// ```
impl std::fmt::Display for FeatureConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let window = match self.window {
            Window::Rectangular => "rectangular",
            Window::Hann { periodic: true } => "hann",
            Window::Hann { periodic: false } => "hann-symmetric",
            Window::Hamming { periodic: true } => "hamming",
            Window::Hamming { periodic: false } => "hamming-symmetric",
            Window::Povey => "povey",
        };
        write!(
            f,
            "sample_rate={} frame_length={} hop_length={} window_length={} n_fft={} window={window} \
             input_scale={:?} remove_dc={} preemphasis={:?} spectrum={} ",
            self.sample_rate.hz(),
            self.frame_length,
            self.hop_length,
            self.window_length,
            self.n_fft,
            self.input_scale,
            self.remove_dc,
            self.preemphasis,
            match self.spectrum {
                Spectrum::Power => "power",
                Spectrum::Magnitude => "magnitude",
            },
        )?;
        match self.bands {
            Bands::Mel(m) => write!(
                f,
                "bands=mel:{}:{:?}:{:?}:{}:{}:{}",
                m.n_mels,
                m.fmin,
                m.fmax,
                match m.scale {
                    MelScale::Htk => "htk",
                    MelScale::Slaney => "slaney",
                },
                match m.norm {
                    MelNorm::None => "none",
                    MelNorm::Slaney => "slaney",
                },
                match m.triangles {
                    Triangles::Hz => "hz",
                    Triangles::Mel => "mel",
                }
            )?,
            Bands::Linear(l) => write!(f, "bands=linear:{}:{:?}:{:?}", l.n_bands, l.fmin, l.fmax)?,
            Bands::Spectrum => write!(f, "bands=spectrum")?,
        }
        match self.log {
            Log::None => write!(f, " log=none")?,
            Log::Natural { floor } => write!(f, " log=ln:{floor:?}")?,
            Log::Db { amin } => write!(f, " log=db:{amin:?}")?,
        }
        match self.mfcc {
            None => write!(f, " mfcc=none")?,
            Some(m) => write!(f, " mfcc={}:{:?}", m.n_mfcc, m.lifter)?,
        }
        match &self.normalize {
            None => write!(f, " normalize=none"),
            Some(n) => {
                let list = |v: &[f32]| {
                    v.iter()
                        .map(|x| format!("{x:?}"))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                write!(f, " normalize={}/{}", list(&n.mean), list(&n.std))
            }
        }
    }
}

impl std::str::FromStr for FeatureConfig {
    type Err = ConfigError;

    /// Parses the text form written by `Display`. Every key must be present once; the result
    /// is validated.
    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let bad = |what: &str| ConfigError::Parse(what.to_string());
        let mut map = std::collections::BTreeMap::new();
        for pair in text.split_whitespace() {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(&format!("{pair:?} is not key=value")))?;
            if map.insert(key, value).is_some() {
                return Err(bad(&format!("{key} given twice")));
            }
        }
        let mut take = |key: &'static str| {
            map.remove(key)
                .ok_or_else(|| ConfigError::Parse(format!("{key} is missing")))
        };
        fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
            v.parse().map_err(|_| {
                ConfigError::Parse(format!("{key}={v} is not a number of the right kind"))
            })
        }
        let rate: u32 = num("sample_rate", take("sample_rate")?)?;
        let sample_rate = SampleRate::try_from(rate)?;
        let frame_length = num("frame_length", take("frame_length")?)?;
        let hop_length = num("hop_length", take("hop_length")?)?;
        let window_length = num("window_length", take("window_length")?)?;
        let n_fft = num("n_fft", take("n_fft")?)?;
        let window = match take("window")? {
            "rectangular" => Window::Rectangular,
            "hann" => Window::Hann { periodic: true },
            "hann-symmetric" => Window::Hann { periodic: false },
            "hamming" => Window::Hamming { periodic: true },
            "hamming-symmetric" => Window::Hamming { periodic: false },
            "povey" => Window::Povey,
            other => return Err(bad(&format!("unknown window {other}"))),
        };
        let input_scale = num("input_scale", take("input_scale")?)?;
        let remove_dc = match take("remove_dc")? {
            "true" => true,
            "false" => false,
            other => return Err(bad(&format!("remove_dc={other} is not true or false"))),
        };
        let preemphasis = num("preemphasis", take("preemphasis")?)?;
        let spectrum = match take("spectrum")? {
            "power" => Spectrum::Power,
            "magnitude" => Spectrum::Magnitude,
            other => return Err(bad(&format!("unknown spectrum {other}"))),
        };
        let bands_text = take("bands")?;
        let parts: Vec<&str> = bands_text.split(':').collect();
        let bands = match parts.as_slice() {
            ["mel", n, lo, hi, scale, norm, tri] => Bands::Mel(MelBands {
                n_mels: num("bands", n)?,
                fmin: num("bands", lo)?,
                fmax: num("bands", hi)?,
                scale: match *scale {
                    "htk" => MelScale::Htk,
                    "slaney" => MelScale::Slaney,
                    other => return Err(bad(&format!("unknown mel scale {other}"))),
                },
                norm: match *norm {
                    "none" => MelNorm::None,
                    "slaney" => MelNorm::Slaney,
                    other => return Err(bad(&format!("unknown mel norm {other}"))),
                },
                triangles: match *tri {
                    "hz" => Triangles::Hz,
                    "mel" => Triangles::Mel,
                    other => return Err(bad(&format!("unknown triangle axis {other}"))),
                },
            }),
            ["linear", n, lo, hi] => Bands::Linear(LinearBands {
                n_bands: num("bands", n)?,
                fmin: num("bands", lo)?,
                fmax: num("bands", hi)?,
            }),
            ["spectrum"] => Bands::Spectrum,
            _ => return Err(bad(&format!("bands={bands_text} is not understood"))),
        };
        let log_text = take("log")?;
        let log = match log_text.split_once(':') {
            None if log_text == "none" => Log::None,
            Some(("ln", v)) => Log::Natural {
                floor: num("log", v)?,
            },
            Some(("db", v)) => Log::Db {
                amin: num("log", v)?,
            },
            _ => return Err(bad(&format!("log={log_text} is not understood"))),
        };
        let mfcc_text = take("mfcc")?;
        let mfcc = match mfcc_text.split_once(':') {
            None if mfcc_text == "none" => None,
            Some((n, l)) => Some(Mfcc {
                n_mfcc: num("mfcc", n)?,
                lifter: num("mfcc", l)?,
            }),
            None => return Err(bad(&format!("mfcc={mfcc_text} is not understood"))),
        };
        let norm_text = take("normalize")?;
        let normalize = if norm_text == "none" {
            None
        } else {
            let (m, s) = norm_text
                .split_once('/')
                .ok_or_else(|| bad("normalize is not MEANS/STDS"))?;
            let list = |v: &str| -> Result<Vec<f32>, ConfigError> {
                v.split(',').map(|x| num("normalize", x)).collect()
            };
            Some(Normalize {
                mean: list(m)?,
                std: list(s)?,
            })
        };
        if let Some(key) = map.keys().next() {
            return Err(bad(&format!("unknown key {key}")));
        }
        let config = FeatureConfig {
            sample_rate,
            frame_length,
            hop_length,
            window_length,
            n_fft,
            window,
            input_scale,
            remove_dc,
            preemphasis,
            spectrum,
            bands,
            log,
            mfcc,
            normalize,
        };
        config.validate()?;
        Ok(config)
    }
}

fn out_of_range(what: &'static str, value: f64, expected: &'static str) -> ConfigError {
    ConfigError::OutOfRange {
        what,
        value,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for name in FeatureConfig::PRESETS {
            let config = FeatureConfig::preset(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(config.validate(), Ok(()), "{name}");
        }
        assert!(FeatureConfig::preset("nope").is_none());
    }

    #[test]
    fn impossible_configs_are_rejected() {
        let base = FeatureConfig::librosa();
        let cases: Vec<(FeatureConfig, &str)> = vec![
            (
                FeatureConfig {
                    hop_length: 0,
                    ..base.clone()
                },
                "hop_length must be at least 1",
            ),
            (
                FeatureConfig {
                    bands: Bands::Mel(MelBands {
                        fmax: 9000.0,
                        ..mel(&base)
                    }),
                    ..base.clone()
                },
                "above the Nyquist",
            ),
            (
                FeatureConfig {
                    bands: Bands::Mel(MelBands {
                        n_mels: 300,
                        ..mel(&base)
                    }),
                    ..base.clone()
                },
                "300 bands requested but the spectrum has only 257",
            ),
            (
                FeatureConfig {
                    window_length: 600,
                    ..base.clone()
                },
                "longer than frame_length",
            ),
            (
                FeatureConfig {
                    n_fft: 256,
                    ..base.clone()
                },
                "shorter than frame_length",
            ),
            (
                FeatureConfig {
                    log: Log::None,
                    ..FeatureConfig::librosa_mfcc()
                },
                "MFCC needs a log stage",
            ),
            (
                FeatureConfig {
                    normalize: Some(Normalize {
                        mean: vec![0.0; 3],
                        std: vec![1.0; 3],
                    }),
                    ..base.clone()
                },
                "normalisation has 3 mean values but the features have 40",
            ),
            (
                FeatureConfig {
                    preemphasis: f32::NAN,
                    ..base.clone()
                },
                "preemphasis",
            ),
        ];
        for (config, expected) in cases {
            let message = config
                .validate()
                .expect_err("config must be rejected")
                .to_string();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }

    fn mel(config: &FeatureConfig) -> MelBands {
        match config.bands {
            Bands::Mel(m) => m,
            _ => panic!("not a mel config"),
        }
    }

    #[test]
    fn text_form_round_trips() {
        let mut configs: Vec<FeatureConfig> = FeatureConfig::PRESETS
            .iter()
            .filter_map(|n| FeatureConfig::preset(n))
            .collect();
        configs.push(FeatureConfig {
            normalize: Some(Normalize {
                mean: vec![0.1; 13],
                std: vec![1.5; 13],
            }),
            window: Window::Hamming { periodic: false },
            spectrum: Spectrum::Magnitude,
            ..FeatureConfig::librosa_mfcc()
        });
        for config in configs {
            let text = config.to_string();
            assert_eq!(text.parse::<FeatureConfig>(), Ok(config), "{text}");
        }
        let text = FeatureConfig::kws().to_string();
        for (broken, expected) in [
            (
                text.replace("hop_length=160", "hop_length=0"),
                "hop_length must be at least 1",
            ),
            (text.replace(" n_fft=512", ""), "n_fft is missing"),
            (format!("{text} extra=1"), "unknown key extra"),
            (
                text.replace("window=hann", "window=kaiser"),
                "unknown window kaiser",
            ),
            (
                text.replace("n_fft=512", "n_fft=abc"),
                "n_fft=abc is not a number",
            ),
        ] {
            let err = broken
                .parse::<FeatureConfig>()
                .expect_err("must fail")
                .to_string();
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
    }

    #[test]
    fn ms_helpers_round_trip() {
        let config = FeatureConfig::kws().with_frame_ms(30.0, 10.0);
        assert_eq!((config.frame_length, config.hop_length), (480, 160));
        assert_eq!(config.n_fft, 512);
        assert!((config.frame_ms() - 30.0).abs() < 1e-9);
        assert_eq!(config.n_frames(16_000), 98);
        assert_eq!(SampleRate::new(0), None);
        assert_eq!(SampleRate::HZ_16000.hz(), 16_000);
    }
}
