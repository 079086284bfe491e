//! Helpers for Hark's end-to-end tests: where the shared data lives and how to read it.
//!
//! The data set is not part of the repository: tests read it from `../shared/data` beside the
//! checkout, or from the directory named by `HARK_DATA`.

use std::path::{Path, PathBuf};

/// The shared data directory.
pub fn data_dir() -> PathBuf {
    std::env::var_os("HARK_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// A mono clip in [-1, 1] and its sample rate.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Samples of the first channel.
    pub samples: Vec<f32>,
    /// Sample rate in Hz.
    pub rate: u32,
}

/// Reads the first channel of a 16-bit PCM WAV file.
pub fn read_wav(path: &Path) -> Result<Clip, String> {
    let mut reader =
        hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples = reader
        .samples::<i16>()
        .step_by(channels)
        .map(|s| s.map(|s| f32::from(s) / 32768.0))
        .collect::<Result<Vec<f32>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Clip {
        samples,
        rate: spec.sample_rate,
    })
}

/// The paths (relative to the data directory) listed in the first column of a manifest.
pub fn manifest(relative: &str) -> Result<Vec<PathBuf>, String> {
    let path = data_dir().join(relative);
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|p| !p.is_empty())
        .map(|p| base.join(p))
        .collect())
}

/// Synthetic rotating machines for the anomaly tests: a shaft's harmonics, a gear mesh, a
/// structural resonance excited by noise, and broadband noise, with faults that can be
/// switched on for a stretch of time.
pub mod machine {
    /// A fault.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum Fault {
        /// Periodic impacts of a damaged outer race (3.58 per shaft turn), each ringing a
        /// resonance at 30 % of Nyquist for about 2 ms.
        Bearing,
        /// The shaft runs this much faster (1.06 = 6 %).
        Speed(f32),
        /// Imbalance: the first harmonic this many times as strong.
        Imbalance(f32),
    }

    /// A stretch of a fault, in seconds.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Episode {
        /// What goes wrong.
        pub fault: Fault,
        /// Start, seconds.
        pub start: f64,
        /// End, seconds.
        pub end: f64,
    }

    /// Bearing impacts at 8-12 s and imbalance (the first harmonic 3 times as strong) at
    /// 20-24 s: the faults of the command-line tests' 30-s recordings.
    pub const BEARING_THEN_IMBALANCE: [Episode; 2] = [
        Episode {
            fault: Fault::Bearing,
            start: 8.0,
            end: 12.0,
        },
        Episode {
            fault: Fault::Imbalance(3.0),
            start: 20.0,
            end: 24.0,
        },
    ];

    /// A small deterministic generator (SplitMix64) so the data does not depend on a crate's
    /// algorithm choices.
    struct Noise(u64);

    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let u = self.uniform().max(1e-300);
            let v = self.uniform();
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// `seconds` of a machine at `rate` Hz, 50 Hz shaft, with the faults of `episodes`.
    /// `seed` changes the noise and the slow wander of the speed, not the machine.
    pub fn machine(rate: u32, seconds: f64, seed: u64, episodes: &[Episode]) -> Vec<f32> {
        let fs = f64::from(rate);
        let n = (seconds * fs) as usize;
        let mut noise = Noise(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
        let nyquist = fs / 2.0;
        let harmonics: Vec<(f64, f64)> = (1..=60)
            .map(|k| (f64::from(k), 0.3 / f64::from(k).powf(0.8)))
            .filter(|(k, _)| k * 50.0 * 1.1 < nyquist)
            .collect();
        let mesh_teeth = 23.0;
        let resonance = (0.3 * nyquist).min(6000.0);
        // Two-pole resonators: one for the structure (always), one for bearing impacts.
        let pole = |f: f64, bandwidth: f64| {
            let r = (-std::f64::consts::PI * bandwidth / fs).exp();
            (2.0 * r * (std::f64::consts::TAU * f / fs).cos(), -r * r)
        };
        let (s1, s2) = pole(resonance * 0.5, 80.0);
        let (b1, b2) = pole(resonance, 500.0);
        let (mut sy1, mut sy2, mut by1, mut by2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let mut phase = 0.0f64; // shaft turns
        let mut last_impact = 0.0f64;
        let mut wander = 0.0f64;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let t = i as f64 / fs;
            let active = |want: fn(&Fault) -> Option<f32>| {
                episodes
                    .iter()
                    .filter(|e| t >= e.start && t < e.end)
                    .find_map(|e| want(&e.fault))
            };
            let speed = active(|f| match f {
                Fault::Speed(s) => Some(*s),
                _ => None,
            })
            .unwrap_or(1.0);
            let imbalance = active(|f| match f {
                Fault::Imbalance(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(1.0);
            let bearing = active(|f| matches!(f, Fault::Bearing).then_some(1.0)).is_some();
            // A slow random wander of +-0.3 % around the nominal speed.
            wander = 0.9999 * wander + 0.0001 * noise.normal() * 3.0;
            let f0 = 50.0 * f64::from(speed) * (1.0 + 0.003 * wander.clamp(-1.0, 1.0));
            phase += f0 / fs;
            let turn = std::f64::consts::TAU * phase;
            let mut x = 0.0;
            for &(k, a) in &harmonics {
                let a = if k == 1.0 {
                    a * f64::from(imbalance)
                } else {
                    a
                };
                x += a * (k * turn + k * 0.7).sin();
            }
            if mesh_teeth * f0 < nyquist * 0.9 {
                x += 0.05 * (1.0 + 0.5 * turn.sin()) * (mesh_teeth * turn).sin();
            }
            let sy = s1 * sy1 + s2 * sy2 + 0.02 * noise.normal();
            (sy2, sy1) = (sy1, sy);
            let mut kick = 0.0;
            if bearing && phase * 3.58 - last_impact >= 1.0 {
                last_impact = (phase * 3.58).floor();
                kick = 1.0;
            } else if !bearing {
                last_impact = (phase * 3.58).floor();
            }
            let by = b1 * by1 + b2 * by2 + kick * 0.5;
            (by2, by1) = (by1, by);
            x += 0.1 * sy + by + 0.02 * noise.normal();
            out.push((x * 0.5) as f32);
        }
        out
    }

    /// Writes samples (interleaved when `channels > 1`) as a WAV file of `bits` (16 or 24)
    /// bit PCM; hound writes WAVE_FORMAT_EXTENSIBLE for more than two channels or more than
    /// 16 bits.
    pub fn write_wav(
        path: &std::path::Path,
        rate: u32,
        channels: u16,
        bits: u16,
        samples: &[f32],
    ) -> Result<(), String> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let err = |e: hound::Error| format!("{}: {e}", path.display());
        let mut writer = hound::WavWriter::create(path, spec).map_err(err)?;
        let full = ((1i64 << (bits - 1)) - 1) as f32;
        for &s in samples {
            writer
                .write_sample((s.clamp(-1.0, 1.0) * full).round() as i32)
                .map_err(err)?;
        }
        writer.finalize().map_err(err)
    }
}
