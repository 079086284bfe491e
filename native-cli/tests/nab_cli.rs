//! `hark nab`: results in NAB's layout, and NAB's scoring checked on detectors whose scores
//! are known (perfect 100, null 0), then the streaming detector on the real benchmark.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::path::Path;

use common::{data_dir, hark};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small NAB tree: one series of 2000 points with one labelled window, NAB's profiles.
fn tiny_nab(root: &Path) -> Vec<String> {
    std::fs::create_dir_all(root.join("data/cat")).unwrap();
    std::fs::create_dir_all(root.join("labels")).unwrap();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::copy(
        data_dir().join("nab/config/profiles.json"),
        root.join("config/profiles.json"),
    )
    .unwrap();
    let stamps: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                "2020-01-{:02} {:02}:{:02}:00",
                1 + i / 288,
                i / 12 % 24,
                i % 12 * 5
            )
        })
        .collect();
    let mut text = String::from("timestamp,value\n");
    for (i, t) in stamps.iter().enumerate() {
        let v = (i as f64 * 0.1).sin() + if (1500..1510).contains(&i) { 5.0 } else { 0.0 };
        text += &format!("{t},{v}\n");
    }
    std::fs::write(root.join("data/cat/series.csv"), text).unwrap();
    std::fs::write(
        root.join("labels/combined_windows.json"),
        format!(
            "{{\"cat/series.csv\": [[\"{}.000000\", \"{}.000000\"]]}}",
            stamps[1450], stamps[1549]
        ),
    )
    .unwrap();
    stamps
}

fn scores(stdout: &[u8]) -> Vec<(String, f64)> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            let mut f = l.split_whitespace();
            (
                f.next().unwrap().to_string(),
                f.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn results_layout_and_scoring_of_known_detectors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nab");
    let out = dir.path().join("results");
    let stamps = tiny_nab(&root);
    let run = hark(&["nab", "--data", path(&root), "--output", path(&out)]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let results = std::fs::read_to_string(out.join("hark/cat/hark_series.csv")).unwrap();
    let mut lines = results.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score,label"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2000);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], stamps[i]);
        let score: f64 = row[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&score));
        if i < 300 {
            assert_eq!(score, 0.0, "probationary period");
        }
        assert_eq!(row[3], if (1450..=1549).contains(&i) { "1" } else { "0" });
    }
    let table = scores(&run.stdout);
    assert_eq!(table.len(), 3, "three profiles");
    let final_results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("hark/final_results.json")).unwrap(),
    )
    .unwrap();
    assert!(final_results["hark"]["standard"]["score"].is_number());
    // The spike is found early in its window: well above the null detector.
    let standard = table.iter().find(|(p, _)| p == "standard").unwrap().1;
    assert!(standard > 50.0, "{standard}");

    // Known detectors through --score-only: perfect (1 at the window's first point) and null.
    for (name, expected) in [("perfect", 100.0), ("null", 0.0)] {
        let mut text = String::from("timestamp,value,anomaly_score,label\n");
        for (i, t) in stamps.iter().enumerate() {
            let score = match name {
                "perfect" => f64::from(u8::from(i == 1450)),
                _ => 0.5,
            };
            text += &format!("{t},0,{score},0\n");
        }
        let file = out.join(format!("{name}/cat/{name}_series.csv"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        let run = hark(&[
            "nab",
            "--data",
            path(&root),
            "--output",
            path(&out),
            "--detector",
            name,
            "--score-only",
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        for (profile, score) in scores(&run.stdout) {
            assert!((score - expected).abs() < 1e-9, "{name} {profile}: {score}");
        }
    }
}

/// The whole benchmark (58 series). The floor is a regression guard well under the measured
/// score (README), not the goal.
#[test]
fn numenta_anomaly_benchmark() {
    // The default (nearest windows at two scales and the range check, 65.4 measured), the
    // method alone (51.7) and the autoencoder with the range check (51.6).
    for (method, extra, floor) in [
        ("neighbours", None, 60.0),
        ("neighbours", Some("--no-spatial"), 45.0),
        ("autoencoder", None, 45.0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let nab = data_dir().join("nab");
        let mut args = vec![
            "nab",
            "--data",
            path(&nab),
            "--output",
            path(dir.path()),
            "--method",
            method,
        ];
        args.extend(extra);
        let run = hark(&args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let table = scores(&run.stdout);
        let standard = table.iter().find(|(p, _)| p == "standard").unwrap().1;
        assert!(standard > floor, "{method}: {table:?}");
        let files = std::fs::read_dir(dir.path().join("hark"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| std::fs::read_dir(e.path()).unwrap().count())
            .sum::<usize>();
        assert_eq!(files, 58);
    }
}

#[test]
fn a_scale_out_of_range_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "1,100000000"] {
        let run = hark(&[
            "nab",
            "--data",
            path(dir.path()),
            "--output",
            path(dir.path()),
            "--scales",
            bad,
        ]);
        assert!(!run.status.success());
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("is not in 1..=1000"), "{stderr}");
    }
}
