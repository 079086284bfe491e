//! Windows, band filterbanks and the DCT, computed once at construction in `f64`. The window
//! stays `f64` (framing and FFT run in `f64`); band weights and the DCT are stored as `f32`.

use crate::config::{Bands, FeatureConfig, MelBands, MelNorm, MelScale, Triangles, Window};
use crate::error::ConfigError;

/// The window, `length` samples.
pub(crate) fn window(kind: Window, length: usize) -> Vec<f64> {
    let n = length as f64;
    let cosine = |a: f64, b: f64, periodic: bool| -> Vec<f64> {
        let m = if periodic { n } else { (n - 1.0).max(1.0) };
        (0..length)
            .map(|i| a - b * (2.0 * std::f64::consts::PI * i as f64 / m).cos())
            .collect()
    };
    match kind {
        Window::Rectangular => vec![1.0; length],
        Window::Hann { periodic } => cosine(0.5, 0.5, periodic),
        Window::Hamming { periodic } => cosine(0.54, 0.46, periodic),
        Window::Povey => {
            let m = (n - 1.0).max(1.0);
            (0..length)
                .map(|i| {
                    let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / m).cos();
                    hann.powf(0.85)
                })
                .collect()
        }
    }
}

/// A band filterbank stored sparsely: band `b` has weights for the bins
/// `starts[b] .. starts[b] + len(b)`, packed one band after the other in `weights`.
#[derive(Debug, Clone)]
pub(crate) struct Filterbank {
    starts: Vec<usize>,
    offsets: Vec<usize>,
    weights: Vec<f32>,
}

impl Filterbank {
    /// The filterbank for `config`; bins of an `n_fft`-point spectrum.
    pub(crate) fn new(config: &FeatureConfig) -> Result<Self, ConfigError> {
        let n_bins = config.n_bins();
        let sr = f64::from(config.sample_rate.hz());
        let bin_hz = |k: usize| k as f64 * sr / config.n_fft as f64;
        let dense: Vec<Vec<f64>> = match config.bands {
            Bands::Mel(mel) => mel_weights(&mel, n_bins, bin_hz),
            Bands::Linear(lin) => {
                let (lo, hi) = (f64::from(lin.fmin), f64::from(lin.fmax));
                let width = (hi - lo) / lin.n_bands as f64;
                let mut bands = Vec::with_capacity(lin.n_bands);
                for b in 0..lin.n_bands {
                    let band_lo = lo + b as f64 * width;
                    let band_hi = band_lo + width;
                    let last = b + 1 == lin.n_bands;
                    let row: Vec<f64> = (0..n_bins)
                        .map(|k| {
                            let f = bin_hz(k);
                            let inside = f >= band_lo && (f < band_hi || (last && f <= hi));
                            if inside { 1.0 } else { 0.0 }
                        })
                        .collect();
                    if row.iter().all(|w| *w == 0.0) {
                        return Err(ConfigError::EmptyBand {
                            band: b,
                            lo: band_lo as f32,
                            hi: band_hi as f32,
                        });
                    }
                    bands.push(row);
                }
                bands
            }
            Bands::Spectrum => (0..n_bins)
                .map(|k| {
                    (0..n_bins)
                        .map(|j| if j == k { 1.0 } else { 0.0 })
                        .collect()
                })
                .collect(),
        };
        Ok(Self::from_dense(&dense))
    }

    fn from_dense(dense: &[Vec<f64>]) -> Self {
        let mut starts = Vec::with_capacity(dense.len());
        let mut offsets = Vec::with_capacity(dense.len() + 1);
        let mut weights = Vec::new();
        offsets.push(0);
        for row in dense {
            let first = row.iter().position(|w| *w != 0.0).unwrap_or(0);
            let last = row.iter().rposition(|w| *w != 0.0).map_or(first, |l| l + 1);
            starts.push(first);
            weights.extend(row[first..last].iter().map(|w| *w as f32));
            offsets.push(weights.len());
        }
        Filterbank {
            starts,
            offsets,
            weights,
        }
    }

    /// `out[b] = sum_k w[b][k] spectrum[k]`.
    #[inline]
    pub(crate) fn apply(&self, spectrum: &[f32], out: &mut [f32]) {
        for (b, value) in out.iter_mut().enumerate() {
            let w = &self.weights[self.offsets[b]..self.offsets[b + 1]];
            let start = self.starts[b];
            let bins = &spectrum[start..start + w.len()];
            *value = dot(w, bins);
        }
    }

    /// The filterbank as a dense `(bands, bins)` matrix, for tests.
    #[cfg(test)]
    pub(crate) fn to_dense(&self, n_bins: usize) -> Vec<Vec<f32>> {
        (0..self.starts.len())
            .map(|b| {
                let mut row = vec![0.0; n_bins];
                let w = &self.weights[self.offsets[b]..self.offsets[b + 1]];
                row[self.starts[b]..self.starts[b] + w.len()].copy_from_slice(w);
                row
            })
            .collect()
    }
}

/// A dot product in four lanes, so that the compiler can vectorise it.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 4];
    let (a4, a_rest) = a.split_at(a.len() / 4 * 4);
    let (b4, b_rest) = b.split_at(a4.len());
    for (x, y) in a4.chunks_exact(4).zip(b4.chunks_exact(4)) {
        for lane in 0..4 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let mut sum = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

fn hz_to_mel(f: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 1127.0 * (1.0 + f / 700.0).ln(),
        MelScale::Slaney => {
            let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if f >= min_log_hz {
                min_log_mel + (f / min_log_hz).ln() / logstep
            } else {
                f / f_sp
            }
        }
    }
}

fn mel_to_hz(m: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * ((m / 1127.0).exp() - 1.0),
        MelScale::Slaney => {
            let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
            let min_log_mel = min_log_hz / f_sp;
            let logstep = 6.4f64.ln() / 27.0;
            if m >= min_log_mel {
                min_log_hz * (logstep * (m - min_log_mel)).exp()
            } else {
                f_sp * m
            }
        }
    }
}

/// Dense mel weights `(n_mels, n_bins)`, following librosa's `filters.mel` for
/// [`Triangles::Hz`] and Kaldi's `MelBanks` for [`Triangles::Mel`].
fn mel_weights(mel: &MelBands, n_bins: usize, bin_hz: impl Fn(usize) -> f64) -> Vec<Vec<f64>> {
    let (m_lo, m_hi) = (
        hz_to_mel(f64::from(mel.fmin), mel.scale),
        hz_to_mel(f64::from(mel.fmax), mel.scale),
    );
    let step = (m_hi - m_lo) / (mel.n_mels + 1) as f64;
    let corner_mel: Vec<f64> = (0..mel.n_mels + 2)
        .map(|i| m_lo + i as f64 * step)
        .collect();
    let corner_hz: Vec<f64> = corner_mel
        .iter()
        .map(|m| mel_to_hz(*m, mel.scale))
        .collect();
    (0..mel.n_mels)
        .map(|b| {
            let mut row: Vec<f64> = (0..n_bins)
                .map(|k| {
                    let f = bin_hz(k);
                    match mel.triangles {
                        Triangles::Hz => {
                            let (l, c, r) = (corner_hz[b], corner_hz[b + 1], corner_hz[b + 2]);
                            let lower = (f - l) / (c - l);
                            let upper = (r - f) / (r - c);
                            lower.min(upper).max(0.0)
                        }
                        Triangles::Mel => {
                            let m = hz_to_mel(f, mel.scale);
                            let (l, c, r) = (corner_mel[b], corner_mel[b + 1], corner_mel[b + 2]);
                            if m > l && m < r {
                                if m <= c {
                                    (m - l) / (c - l)
                                } else {
                                    (r - m) / (r - c)
                                }
                            } else {
                                0.0
                            }
                        }
                    }
                })
                .collect();
            if mel.norm == MelNorm::Slaney {
                let enorm = 2.0 / (corner_hz[b + 2] - corner_hz[b]);
                row.iter_mut().for_each(|w| *w *= enorm);
            }
            row
        })
        .collect()
}

/// The first `n_out` rows of the orthonormal DCT-II of size `n_in`, with librosa's lifter,
/// as a dense `(n_out, n_in)` matrix in row-major order.
pub(crate) fn dct_matrix(n_in: usize, n_out: usize, lifter: f32) -> Vec<f32> {
    let n = n_in as f64;
    let mut m = Vec::with_capacity(n_in * n_out);
    for k in 0..n_out {
        let scale = if k == 0 {
            (1.0 / n).sqrt()
        } else {
            (2.0 / n).sqrt()
        };
        let lift = if lifter > 0.0 {
            let l = f64::from(lifter);
            1.0 + (l / 2.0) * (std::f64::consts::PI * (k + 1) as f64 / l).sin()
        } else {
            1.0
        };
        for i in 0..n_in {
            let c = (std::f64::consts::PI * k as f64 * (2.0 * i as f64 + 1.0) / (2.0 * n)).cos();
            m.push((scale * lift * c) as f32);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_mel_round_trips() {
        for f in [0.0, 20.0, 999.0, 1000.0, 4000.0, 8000.0] {
            for scale in [MelScale::Htk, MelScale::Slaney] {
                let back = mel_to_hz(hz_to_mel(f, scale), scale);
                assert!((back - f).abs() < 1e-6, "{f} {scale:?} {back}");
            }
        }
        // librosa.hz_to_mel(1000) == 15, librosa.hz_to_mel(8000) ~= 45.245640471924965
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(8000.0, MelScale::Slaney) - 45.245_640_471_924_965).abs() < 1e-9);
    }

    #[test]
    fn dct_is_orthonormal() {
        let n = 16;
        let m = dct_matrix(n, n, 0.0);
        for a in 0..n {
            for b in 0..n {
                let dot: f32 = (0..n).map(|i| m[a * n + i] * m[b * n + i]).sum();
                let expected = if a == b { 1.0 } else { 0.0 };
                assert!((dot - expected).abs() < 1e-5, "{a} {b} {dot}");
            }
        }
    }

    #[test]
    fn sparse_matches_dense() {
        let config = FeatureConfig::librosa();
        let fb = Filterbank::new(&config).expect("valid");
        let dense = fb.to_dense(config.n_bins());
        let spectrum: Vec<f32> = (0..config.n_bins())
            .map(|k| (k as f32 * 0.37).sin().abs())
            .collect();
        let mut out = vec![0.0; 40];
        fb.apply(&spectrum, &mut out);
        for (b, row) in dense.iter().enumerate() {
            let expected: f32 = row.iter().zip(&spectrum).map(|(w, s)| w * s).sum();
            assert!((out[b] - expected).abs() <= 1e-5 * expected.abs().max(1.0));
        }
    }

    #[test]
    fn windows_have_known_values() {
        let hann = window(Window::Hann { periodic: true }, 4);
        for (w, expected) in hann.iter().zip([0.0, 0.5, 1.0, 0.5]) {
            assert!((w - expected).abs() < 1e-12, "{hann:?}");
        }
        let sym = window(Window::Hann { periodic: false }, 5);
        assert!((sym[2] - 1.0).abs() < 1e-7 && sym[0] == 0.0 && sym[4].abs() < 1e-7);
        let povey = window(Window::Povey, 5);
        assert!((povey[1] - 0.5f64.powf(0.85)).abs() < 1e-12);
    }
}
