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
