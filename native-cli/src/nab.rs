//! `hark nab`: the streaming series detector on the Numenta Anomaly Benchmark, results in
//! NAB's layout, and NAB's published scoring (Lavin & Ahmad 2015) as a self-check.
//!
//! Scoring, as NAB v1.1 does it: every point above the threshold outside the first 15 % of a
//! file (at most 750 points, the probationary period) counts. Inside a labelled window only the
//! earliest detection counts, worth `tp_weight × σ(position)` with the scaled sigmoid
//! `2 / (1 + e^(5x)) - 1` of its relative position `x` in `[-1, 0)` (normalised so the window's
//! first point is worth exactly `tp_weight`); a window without detection costs `fn_weight`.
//! Outside windows every detection costs `fp_weight × σ` of its distance past the previous
//! window (in window widths; `fp_weight` before the first window). One threshold per profile
//! is chosen for the whole corpus, the one with the highest total; the total is reported
//! normalised between the null detector (no detection: `-fn_weight` per window, 0) and the
//! perfect one (`tp_weight` per window, 100).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use hark_detector::{
    AutoencoderParams, NeighbourParams, SPATIAL_TOLERANCE, SeriesDetector, SeriesMethod,
    SeriesParams,
};
use serde_json::json;

use crate::input::{self, Format, InputArgs};

/// Arguments of `hark nab`.
#[derive(Debug, clap::Args)]
pub struct NabArgs {
    /// The NAB folder (with data/, labels/combined_windows.json, config/profiles.json).
    #[arg(long)]
    data: PathBuf,
    /// Where the results go: RESULTS/<detector>/<category>/<detector>_<file>.csv and
    /// RESULTS/<detector>/final_results.json.
    #[arg(long)]
    output: PathBuf,
    /// The detector's name in the results.
    #[arg(long, default_value = "hark")]
    detector: String,
    /// Only score results already in RESULTS/<detector> (from Hark or any NAB detector).
    #[arg(long)]
    score_only: bool,
    /// How each point is scored: its distance to the nearest earlier windows ranked
    /// against recent distances, or an autoencoder's reconstruction error as a likelihood.
    #[arg(long, value_enum, default_value_t = Method::Neighbours)]
    method: Method,
    /// Values per window (default: 19 for neighbours, 16 for the autoencoder).
    #[arg(long)]
    window: Option<usize>,
    /// Points a reported score must top to be reported again.
    #[arg(long, default_value_t = SeriesParams::default().refractory)]
    refractory: usize,
    /// A value beyond the range of those seen before it by more than this share of the
    /// range scores 1 whatever the method says.
    #[arg(long, default_value_t = SPATIAL_TOLERANCE, conflicts_with = "no_spatial")]
    spatial_tolerance: f32,
    /// The method alone, no range check.
    #[arg(long)]
    no_spatial: bool,
    /// neighbours: nearest windows averaged.
    #[arg(long, default_value_t = NeighbourParams::default().k)]
    k: usize,
    /// neighbours: earlier windows searched.
    #[arg(long, default_value_t = NeighbourParams::default().history)]
    history: usize,
    /// neighbours: recent raw scores a raw score is ranked against.
    #[arg(long, default_value_t = NeighbourParams::default().calibration)]
    calibration: usize,
    /// neighbours: time scales, values per step of a window (1: the values; 8: means of 8
    /// values, 8 apart); the score is the mean of the scales' ranks. Each 1 to 1000.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = NeighbourParams::default().scales.iter().map(|&b| b as u64),
        value_parser = clap::value_parser!(u64).range(1..=1000)
    )]
    scales: Vec<u64>,
    /// autoencoder: raw scores averaged for the short-term mean of the likelihood.
    #[arg(long, default_value_t = AutoencoderParams::default().short)]
    short: usize,
    /// autoencoder: raw scores kept for the long-term statistics of the likelihood.
    #[arg(long, default_value_t = AutoencoderParams::default().long)]
    long: usize,
    /// autoencoder: one adaptation step every this many points (0: none).
    #[arg(long, default_value_t = AutoencoderParams::default().adapt_every)]
    adapt_every: usize,
}

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Method {
    /// k nearest earlier windows, a conformal rank (the default).
    Neighbours,
    /// An autoencoder fitted in the probationary period, a likelihood.
    Autoencoder,
}

impl NabArgs {
    /// The series detector's settings for a file of `len` points.
    fn params(&self, len: usize) -> SeriesParams {
        let method = match self.method {
            Method::Neighbours => {
                let d = NeighbourParams::default();
                SeriesMethod::Neighbours(NeighbourParams {
                    window: self.window.unwrap_or(d.window),
                    k: self.k,
                    history: self.history,
                    calibration: self.calibration,
                    scales: self.scales.iter().map(|&b| b as usize).collect(),
                })
            }
            Method::Autoencoder => {
                let d = AutoencoderParams::default();
                SeriesMethod::Autoencoder(AutoencoderParams {
                    window: self.window.unwrap_or(d.window),
                    short: self.short,
                    long: self.long,
                    adapt_every: self.adapt_every,
                    ..d
                })
            }
        };
        SeriesParams {
            refractory: self.refractory,
            method,
            spatial_tolerance: (!self.no_spatial).then_some(self.spatial_tolerance),
            ..SeriesParams::for_length(len)
        }
    }
}

/// One cost profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    tp: f64,
    fp: f64,
    fn_: f64,
}

/// One file's results: timestamps (normalised), scores and its windows.
struct Scored {
    name: String,
    timestamps: Vec<String>,
    scores: Vec<f64>,
    windows: Vec<(String, String)>,
}

/// Runs `hark nab`.
pub fn run(args: &NabArgs) -> Result<()> {
    let labels_path = args.data.join("labels/combined_windows.json");
    let labels: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(
        &std::fs::read_to_string(&labels_path)
            .with_context(|| format!("cannot read {}", labels_path.display()))?,
    )
    .with_context(|| format!("{}: not NAB's window labels", labels_path.display()))?;
    let profiles = read_profiles(&args.data.join("config/profiles.json"))?;
    let out_dir = args.output.join(&args.detector);
    let started = Instant::now();
    if !args.score_only {
        let files: Vec<&String> = labels.keys().collect();
        // Two workers: the files are independent series.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&name) = files.get(i) else {
                                return Ok(());
                            };
                            detect_file(args, &out_dir, name, &labels[name])?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a worker panicked")))
                })
                .collect()
        });
        for r in results {
            r?;
        }
        say!(
            "hark: nab: {} files in {:.1} s",
            labels.len(),
            started.elapsed().as_secs_f64()
        );
    }
    // Score what is on disk, as NAB would.
    let mut corpus = Vec::new();
    for (name, windows) in &labels {
        let path = result_path(&out_dir, &args.detector, name);
        let (timestamps, scores) = read_results(&path)?;
        corpus.push(Scored {
            name: name.clone(),
            timestamps,
            scores,
            windows: windows
                .iter()
                .map(|(a, b)| (normalise_time(a), normalise_time(b)))
                .collect(),
        });
    }
    let mut summary = serde_json::Map::new();
    for (profile, costs) in &profiles {
        let (threshold, normalised) = score_corpus(&corpus, *costs)?;
        out!(
            "{:<20} {:>7.2}   (threshold {threshold:.6})",
            profile,
            normalised
        );
        summary.insert(
            profile.clone(),
            json!({"score": normalised, "threshold": threshold}),
        );
    }
    let final_path = out_dir.join("final_results.json");
    std::fs::write(
        &final_path,
        serde_json::to_string_pretty(&json!({ args.detector.clone(): summary }))?,
    )
    .with_context(|| format!("cannot write {}", final_path.display()))?;
    Ok(())
}

fn read_profiles(path: &Path) -> Result<BTreeMap<String, Costs>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let mut profiles = BTreeMap::new();
    for (name, p) in value
        .as_object()
        .with_context(|| format!("{}: not NAB's profiles", path.display()))?
    {
        let weight = |key: &str| {
            p["CostMatrix"][key]
                .as_f64()
                .with_context(|| format!("{}: {name} has no CostMatrix.{key}", path.display()))
        };
        profiles.insert(
            name.clone(),
            Costs {
                tp: weight("tpWeight")?,
                fp: weight("fpWeight")?,
                fn_: weight("fnWeight")?,
            },
        );
    }
    Ok(profiles)
}

fn result_path(out_dir: &Path, detector: &str, name: &str) -> PathBuf {
    let path = Path::new(name);
    let category = path.parent().unwrap_or(Path::new(""));
    let file = path
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    out_dir.join(category).join(format!("{detector}_{file}"))
}

/// Runs the detector over one data file and writes its results.
fn detect_file(
    args: &NabArgs,
    out_dir: &Path,
    name: &str,
    windows: &[(String, String)],
) -> Result<()> {
    let path = args.data.join("data").join(name);
    let source_args = InputArgs {
        format: Format::Csv,
        rate: Some(1),
        channels: 1,
        channel: None,
        lenient: false,
        bad_lines: input::BadLines::Fail,
        delimiter: input::Delimiter::AUTO,
        realtime: false,
    };
    let mut source = input::open(&path, &source_args)?;
    let mut values = Vec::new();
    let mut chunk = Vec::new();
    let mut stamps = Vec::new();
    let mut timestamps = Vec::new();
    while source.read(1 << 14, &mut chunk)? > 0 {
        values.extend_from_slice(&chunk);
        source.take_timestamps(&mut stamps);
        timestamps.append(&mut stamps);
    }
    if timestamps.len() != values.len() || timestamps.iter().any(Option::is_none) {
        bail!("{}: every row needs timestamp,value", path.display());
    }
    let timestamps: Vec<String> = timestamps.into_iter().flatten().collect();
    let windows: Vec<(String, String)> = windows
        .iter()
        .map(|(a, b)| (normalise_time(a), normalise_time(b)))
        .collect();
    // The length is known in NAB, and its probationary period follows from it.
    let mut detector = SeriesDetector::new(args.params(values.len()));
    let mut text = String::from("timestamp,value,anomaly_score,label\n");
    let mut in_window = false;
    let mut next_window = 0;
    for (t, v) in timestamps.iter().zip(&values) {
        let score = detector.push(*v);
        let stamp = normalise_time(t);
        if next_window < windows.len() && stamp == windows[next_window].0 {
            in_window = true;
        }
        text += &format!("{t},{v},{score},{}\n", u8::from(in_window));
        if in_window && stamp == windows[next_window].1 {
            in_window = false;
            next_window += 1;
        }
    }
    let out = result_path(out_dir, &args.detector, name);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&out, text).with_context(|| format!("cannot write {}", out.display()))
}

/// A NAB results file's timestamps (normalised) and anomaly scores.
fn read_results(path: &Path) -> Result<(Vec<String>, Vec<f64>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| format!("{}: no {name} column", path.display()))
    };
    let (t_col, s_col) = (column("timestamp")?, column("anomaly_score")?);
    let mut timestamps = Vec::new();
    let mut scores = Vec::new();
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let bad = || format!("{}: line {}: {line:?}", path.display(), n + 2);
        let score: f64 = fields
            .get(s_col)
            .and_then(|s| s.trim().parse().ok())
            .with_context(bad)?;
        if !(0.0..=1.0).contains(&score) {
            bail!("{}: anomaly_score {score} is outside [0, 1]", bad());
        }
        timestamps.push(normalise_time(fields.get(t_col).with_context(bad)?));
        scores.push(score);
    }
    Ok((timestamps, scores))
}

/// `2014-04-10 07:15:00.000000` and `2014-04-10 07:15:00` are the same time.
fn normalise_time(t: &str) -> String {
    let t = t.trim();
    match t.split_once('.') {
        Some((whole, frac)) if frac.chars().all(|c| c == '0') => whole.to_string(),
        _ => t.to_string(),
    }
}

/// NAB's scaled sigmoid of a relative position.
fn scaled_sigmoid(x: f64) -> f64 {
    if x >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * x).exp()) - 1.0
    }
}

/// A scorable point: its anomaly score, its weighted sweep score and its window.
struct Point {
    score: f64,
    sweep: f64,
    window: Option<usize>,
}

/// The points of one file outside its probationary period; windows numbered from `first`.
fn sweep_points(file: &Scored, costs: Costs, first: usize, points: &mut Vec<Point>) -> Result<()> {
    let n = file.timestamps.len();
    let probation = ((0.15 * n as f64).floor()).min(0.15 * 5000.0);
    let max_tp = scaled_sigmoid(-1.0);
    let index_of = |t: &str| {
        file.timestamps
            .iter()
            .position(|x| x == t)
            .with_context(|| format!("{}: window time {t} is not in the data", file.name))
    };
    let mut next = 0;
    let mut current: Option<(usize, f64, usize)> = None; // (right index, width, window id)
    let mut previous: Option<(usize, f64)> = None; // (right index, width)
    for i in 0..n {
        if current.is_none()
            && next < file.windows.len()
            && file.timestamps[i] == file.windows[next].0
        {
            let right = index_of(&file.windows[next].1)?;
            current = Some((right, (right - i + 1) as f64, first + next));
            next += 1;
        }
        let (sweep, window) = match current {
            Some((right, width, id)) => {
                let position = -((right as f64) - i as f64 + 1.0) / width;
                (scaled_sigmoid(position) * costs.tp / max_tp, Some(id))
            }
            None => {
                let position = previous.map_or(3.0, |(right, width)| {
                    (i as f64 - right as f64).abs() / (width - 1.0)
                });
                (scaled_sigmoid(position) * costs.fp, None)
            }
        };
        if i as f64 >= probation {
            points.push(Point {
                score: file.scores[i],
                sweep,
                window,
            });
        }
        if let Some((right, width, _)) = current
            && i == right
        {
            previous = Some((right, width));
            current = None;
        }
    }
    if next < file.windows.len() {
        bail!(
            "{}: window starting {} is not in the data",
            file.name,
            file.windows[next].0
        );
    }
    Ok(())
}

/// The best threshold for the corpus and its normalised score.
fn score_corpus(corpus: &[Scored], costs: Costs) -> Result<(f64, f64)> {
    let mut points = Vec::new();
    let mut windows = 0;
    for file in corpus {
        sweep_points(file, costs, windows, &mut points)?;
        windows += file.windows.len();
    }
    let (threshold, raw) = best_threshold(&mut points, windows, costs);
    let null = -costs.fn_ * windows as f64;
    let perfect = costs.tp * windows as f64;
    Ok((threshold, 100.0 * (raw - null) / (perfect - null)))
}

/// Sweeps the threshold down through every distinct score: the best (threshold, total).
fn best_threshold(points: &mut [Point], windows: usize, costs: Costs) -> (f64, f64) {
    points.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut scorable = vec![false; windows];
    for p in points.iter() {
        if let Some(w) = p.window {
            scorable[w] = true;
        }
    }
    let mut per_window: Vec<f64> = scorable
        .iter()
        .map(|&s| if s { -costs.fn_ } else { 0.0 })
        .collect();
    let mut window_total: f64 = per_window.iter().sum();
    let mut fp = 0.0;
    let mut threshold = 1.1;
    let mut best = (threshold, window_total + fp);
    for p in points.iter() {
        if p.score != threshold {
            let total = window_total + fp;
            if total > best.1 {
                best = (threshold, total);
            }
            threshold = p.score;
        }
        match p.window {
            Some(w) => {
                if p.sweep > per_window[w] {
                    window_total += p.sweep - per_window[w];
                    per_window[w] = p.sweep;
                }
            }
            None => fp += p.sweep,
        }
    }
    let total = window_total + fp;
    if total > best.1 {
        best = (threshold, total);
    }
    best
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const STANDARD: Costs = Costs {
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    };

    #[test]
    fn scaled_sigmoid_matches_nab() {
        assert!((scaled_sigmoid(-1.0) - 0.98661).abs() < 1e-5);
        assert!((scaled_sigmoid(-0.5) - 0.84828).abs() < 1e-5);
        assert_eq!(scaled_sigmoid(0.0), 0.0);
        assert!((scaled_sigmoid(1.0) + 0.98661).abs() < 1e-5);
        assert_eq!(scaled_sigmoid(3.0), -1.0);
    }

    /// 1000 points, two windows (300..=349, 700..=749).
    fn file(scores: Vec<f64>) -> Scored {
        let timestamps: Vec<String> = (0..1000).map(|i| format!("t{i:04}")).collect();
        Scored {
            name: "f.csv".into(),
            windows: vec![
                (timestamps[300].clone(), timestamps[349].clone()),
                (timestamps[700].clone(), timestamps[749].clone()),
            ],
            timestamps,
            scores,
        }
    }

    #[test]
    fn perfect_null_and_late_detectors() {
        let mut perfect = vec![0.0; 1000];
        perfect[300] = 1.0;
        perfect[700] = 1.0;
        let (_, s) = score_corpus(&[file(perfect)], STANDARD).unwrap();
        assert!((s - 100.0).abs() < 1e-9, "{s}");
        let (_, s) = score_corpus(&[file(vec![0.5; 1000])], STANDARD).unwrap();
        assert!(s.abs() < 1e-9, "null: {s}");
        // One detection at each window's middle: the sigmoid at -0.5 (0.84828 / 0.98661).
        let mut middle = vec![0.0; 1000];
        middle[325] = 1.0;
        middle[725] = 1.0;
        let (_, s) = score_corpus(&[file(middle)], STANDARD).unwrap();
        let tp = scaled_sigmoid(-25.0 / 50.0) / scaled_sigmoid(-1.0);
        assert!((s - 100.0 * (2.0 * tp + 2.0) / 4.0).abs() < 1e-9, "{s}");
    }

    #[test]
    fn false_positives_cost_by_distance_and_probation_is_ignored() {
        let mut scores = vec![0.0; 1000];
        scores[300] = 1.0;
        scores[700] = 1.0;
        scores[10] = 1.0; // probationary (first 150 points): ignored
        scores[200] = 1.0; // before the first window: a full fp_weight
        let (_, s) = score_corpus(&[file(scores.clone())], STANDARD).unwrap();
        assert!((s - 100.0 * (2.0 - 0.11 + 2.0) / 4.0).abs() < 1e-9, "{s}");
        // Right after a window the penalty is small: 5 points past a 50-wide window.
        scores[200] = 0.0;
        scores[354] = 1.0;
        let (_, s) = score_corpus(&[file(scores)], STANDARD).unwrap();
        let cost = 0.11 * scaled_sigmoid(5.0 / 49.0);
        assert!((s - 100.0 * (2.0 + cost + 2.0) / 4.0).abs() < 1e-9, "{s}");
    }

    #[test]
    fn the_threshold_is_chosen_over_the_corpus() {
        // A detector whose window points score 0.8 and whose noise scores 0.6: the best
        // threshold keeps the windows and drops the noise.
        let mut scores = vec![0.6; 1000];
        scores[310] = 0.8;
        scores[710] = 0.8;
        let (threshold, s) = score_corpus(&[file(scores)], STANDARD).unwrap();
        assert_eq!(threshold, 0.8);
        assert!(s > 90.0, "{s}");
    }

    #[test]
    fn times_with_zero_fractions_are_equal() {
        assert_eq!(
            normalise_time("2014-04-10 07:15:00.000000"),
            "2014-04-10 07:15:00"
        );
        assert_eq!(normalise_time("2014-04-10 07:15:00"), "2014-04-10 07:15:00");
    }
}
