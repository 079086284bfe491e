//! Inputs end to end: FLAC (real files, corrupt ones), MP3, Ogg Vorbis, AAC and ALAC in M4A,
//! AIFF, raw PCM and CSV sensor lines on stdin.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::path::Path;
use std::process::Output;

use common::{data_dir, fails_with, hark, hark_stdin, json_lines};

fn read_npy(path: &Path) -> (Vec<f32>, Vec<u64>) {
    let bytes = std::fs::read(path).expect("npy written");
    let npy = npyz::NpyFile::new(&bytes[..]).expect("npy header");
    let shape = npy.shape().to_vec();
    (npy.into_vec::<f32>().expect("f32"), shape)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `hark features PATH -o OUT`, which must succeed: the features and their shape.
fn features_of(path: &Path, out: &Path) -> (Vec<f32>, Vec<u64>) {
    let output = hark(&[
        "features",
        path.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let problem = stderr(&output);
    assert!(output.status.success(), "{}: {problem}", path.display());
    read_npy(out)
}

/// `hark features - -o OUT --format FORMAT --rate 16000 EXTRA...` with `bytes` on stdin.
fn features_stdin(out: &Path, format: &str, extra: &[&str], bytes: &[u8]) -> Output {
    let out = out.to_str().unwrap();
    let args = [
        "features", "-", "-o", out, "--format", format, "--rate", "16000",
    ];
    hark_stdin(&[&args[..], extra].concat(), bytes)
}

fn sample_wav() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample.wav")
}

fn sample_s16le() -> Vec<u8> {
    let mut reader = hound::WavReader::open(sample_wav()).unwrap();
    reader
        .samples::<i16>()
        .flat_map(|s| s.unwrap().to_le_bytes())
        .collect()
}

/// The compressed copies of the sample (`tests/data/make_compressed.sh`).
fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// `hark detect --json FILE`: (keyword, start, end) of each event.
fn events(path: &Path) -> Vec<(String, f64, f64)> {
    let output = hark(&["detect", "--json", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    json_lines(&output)
        .iter()
        .map(|e| {
            (
                e["keyword"].as_str().unwrap().to_string(),
                e["start"].as_f64().unwrap(),
                e["end"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn compressed_recordings_give_the_keywords_of_the_wav() {
    let wav = events(&sample_wav());
    assert_eq!(wav.len(), 6, "{wav:?}");
    // The encoders' delay and padding are trimmed (MP3: the LAME tag; Vorbis: its granule
    // positions; AAC in M4A: the edit list, 1024 priming frames here; Opus: its pre-skip, and
    // in Ogg its last granule position), so the recordings are the WAV's length and the
    // events at its times. WebM keeps the encoder's padding at the end (less than an Opus
    // frame, 20 ms: one feature frame here).
    let dir = tempfile::tempdir().unwrap();
    let (_, wav_shape) = features_of(&sample_wav(), &dir.path().join("wav.npy"));
    for name in [
        "sample.mp3",
        "sample.ogg",
        "sample.m4a",
        "sample.opus",
        "sample.webm",
    ] {
        let (_, shape) = features_of(&fixture(name), &dir.path().join("f.npy"));
        if name.ends_with(".webm") {
            assert_eq!(shape[1], wav_shape[1], "{name}");
            assert!(
                (wav_shape[0]..=wav_shape[0] + 2).contains(&shape[0]),
                "{name}: {shape:?} against {wav_shape:?}"
            );
        } else {
            assert_eq!(shape, wav_shape, "{name}");
        }
        let got = events(&fixture(name));
        assert_eq!(got.len(), wav.len(), "{name}: {got:?}");
        for (g, w) in got.iter().zip(&wav) {
            assert_eq!(g.0, w.0, "{name}: {got:?}");
            for (a, b) in [(g.1, w.1), (g.2, w.2)] {
                assert!((a - b).abs() <= 0.03, "{name}: {g:?} against {w:?}");
            }
        }
    }
    // A folder: every audio file in it, each event naming its file.
    let names = [
        "sample.mp3",
        "sample.ogg",
        "sample.m4a",
        "sample.opus",
        "sample.webm",
    ];
    for name in names {
        std::fs::copy(fixture(name), dir.path().join(name)).unwrap();
    }
    let output = hark(&["detect", "--json", dir.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    for name in names {
        let of_file = lines
            .iter()
            .filter(|e| e["file"].as_str().unwrap().ends_with(name))
            .count();
        assert_eq!(of_file, 6, "{name}: {lines:?}");
    }
}

#[test]
fn a_browser_recording_decodes_to_its_keywords() {
    // Chromium's MediaRecorder writes WebM as it records: no sizes, no duration, no cues, so
    // its end is the end of the file. The fake microphone played the sample from its start:
    // its six keywords in order, within 0.1 s of the WAV's times, and nothing after the end
    // taken for damage.
    let wav = events(&sample_wav());
    let got = events(&fixture("sample_mediarecorder.webm"));
    let words: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        words,
        ["yes", "no", "left", "right", "stop", "go"],
        "{got:?}"
    );
    for (g, w) in got.iter().zip(&wav) {
        assert!((g.1 - w.1).abs() <= 0.1, "{g:?} against {w:?}");
    }
    // Recorded for 10 s at 48 kHz: about 1000 feature frames.
    let dir = tempfile::tempdir().unwrap();
    let (_, shape) = features_of(
        &fixture("sample_mediarecorder.webm"),
        &dir.path().join("f.npy"),
    );
    assert!((950..=1050).contains(&shape[0]), "{shape:?}");
}

#[test]
fn streams_without_an_exact_length_are_read_to_their_end() {
    // A VBR MP3 without a Xing/LAME frame count, whose demuxer estimates more than twice its
    // length from the first frame's bit rate, and raw AAC (ADTS), whose length is an estimate
    // too: neither is taken for truncated. Their encoder delay has nothing to trim it by, so
    // they run about 70 ms late (MP3: 1105 frames; AAC: 1024).
    let wav = events(&sample_wav());
    for name in ["sample_3s_vbr_untagged.mp3", "sample_3s.aac"] {
        let got = events(&fixture(name));
        let words: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(words, ["yes", "no"], "{name}: {got:?}");
        for (g, w) in got.iter().zip(&wav) {
            assert!(
                (g.2 - w.2 - 0.07).abs() <= 0.05,
                "{name}: {g:?} against {w:?}"
            );
        }
    }
}

/// An AIFF file of 16-bit mono `samples` at 16 kHz.
fn aiff(samples: &[i16]) -> Vec<u8> {
    let data_len = 2 * samples.len() as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"FORM");
    out.extend_from_slice(&(4 + 26 + 16 + data_len).to_be_bytes());
    out.extend_from_slice(b"AIFFCOMM");
    out.extend_from_slice(&18u32.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // channels
    out.extend_from_slice(&(samples.len() as u32).to_be_bytes());
    out.extend_from_slice(&16u16.to_be_bytes()); // bits
    // 16000 as an 80-bit extended float: exponent 16383 + 13, mantissa 16000 << 50.
    out.extend_from_slice(&(16383u16 + 13).to_be_bytes());
    out.extend_from_slice(&(16000u64 << 50).to_be_bytes());
    out.extend_from_slice(b"SSND");
    out.extend_from_slice(&(8 + data_len).to_be_bytes());
    out.extend_from_slice(&[0; 8]); // offset, block size
    for s in samples {
        out.extend_from_slice(&s.to_be_bytes());
    }
    out
}

#[test]
fn lossless_alac_and_aiff_decode_to_the_samples_of_the_wav() {
    // The sample's first second: as a WAV, in ALAC (an M4A made by ffmpeg) and as AIFF; their
    // features must be the same, so the decoded samples are.
    let dir = tempfile::tempdir().unwrap();
    let mut reader = hound::WavReader::open(sample_wav()).unwrap();
    let spec = reader.spec();
    let first: Vec<i16> = reader
        .samples::<i16>()
        .take(16_000)
        .map(Result::unwrap)
        .collect();
    let wav = dir.path().join("first.wav");
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    for &s in &first {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
    let aiff_path = dir.path().join("first.aiff");
    std::fs::write(&aiff_path, aiff(&first)).unwrap();
    let features = |path: &Path| features_of(path, &dir.path().join("f.npy"));
    let reference = features(&wav);
    assert_eq!(reference.1[0], 98);
    assert_eq!(features(&fixture("sample_1s_alac.m4a")), reference);
    assert_eq!(features(&aiff_path), reference);
    // The kind comes from the first bytes, not the name.
    let renamed = dir.path().join("recording.dat");
    std::fs::copy(&aiff_path, &renamed).unwrap();
    assert_eq!(features(&renamed), reference);
}

#[test]
fn damaged_compressed_recordings_are_errors_or_lenient_keeps_what_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.npy");
    let out = out.to_str().unwrap();
    for (name, keep, problem) in [
        // Cut at a third: the Ogg stream has no last page, the MP3 fewer frames than its
        // LAME tag counts.
        ("sample.ogg", 3, "corrupt Ogg data at sample frame"),
        ("sample.mp3", 3, "corrupt MP3 data at sample frame"),
        ("sample.opus", 3, "corrupt Ogg data at sample frame"),
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let cut = dir.path().join(format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() / keep]).unwrap();
        let cut = cut.to_str().unwrap();
        let strict = hark(&["features", cut, "-o", out]);
        let message = fails_with(&strict, 1, &[problem, "the stream ends early (truncated"]);
        assert!(!message.contains("panicked"), "{message}");
        let lenient = hark(&["features", cut, "-o", out, "--lenient"]);
        assert!(lenient.status.success(), "{}", stderr(&lenient));
        assert!(stderr(&lenient).contains("warning"), "{}", stderr(&lenient));
        let (_, shape) = read_npy(Path::new(out));
        // What came before the cut: some, not all, of the 9.5-s sample's 948 frames (the
        // bit rate varies, so a third of the bytes is not a third of the time).
        assert!(shape[0] > 100 && shape[0] < 900, "{name}: {shape:?}");
    }
    // WebM: a block the demuxer cannot read is dropped, and the timestamps of the blocks
    // after it say how much is missing, so that nothing after it moves earlier. Damage that
    // sends the demuxer to the end of the file is told by the duration the file declares.
    let webm = std::fs::read(fixture("sample.webm")).unwrap();
    let wav = events(&sample_wav());
    for (at, len, flip, problem) in [
        // A byte of a block's header flipped.
        (
            6591,
            1,
            true,
            "could not be decoded (the decoder lost sync)",
        ),
        // 400 bytes overwritten with 0xff: an element of unknown size, to the end.
        (
            6000,
            400,
            false,
            "the stream ends early (truncated, or blocks lost: 2.75 s of the 9.51 s",
        ),
    ] {
        let mut bytes = webm.clone();
        for b in &mut bytes[at..at + len] {
            *b = if flip { !*b } else { 0xff };
        }
        let damaged = dir.path().join("damaged.webm");
        std::fs::write(&damaged, &bytes).unwrap();
        let damaged = damaged.to_str().unwrap();
        let strict = hark(&["detect", damaged]);
        fails_with(&strict, 1, &["corrupt WebM data at sample frame", problem]);
        let lenient = hark(&["detect", "--json", "--lenient", damaged]);
        assert!(lenient.status.success(), "{}", stderr(&lenient));
        assert!(stderr(&lenient).contains("warning"), "{}", stderr(&lenient));
        let kept = json_lines(&lenient);
        assert!(kept.len() >= 2, "{kept:?}");
        for e in &kept {
            let keyword = e["keyword"].as_str().unwrap();
            let start = e["start"].as_f64().unwrap();
            assert!(
                wav.iter()
                    .any(|w| w.0 == keyword && (w.1 - start).abs() <= 0.1),
                "{e} is not at a time of the WAV's: {wav:?}"
            );
        }
    }
    // ffmpeg writes an M4A's index (its moov box) after the audio: cut, nothing can be read.
    let bytes = std::fs::read(fixture("sample.m4a")).unwrap();
    let cut = dir.path().join("cut.m4a");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let output = hark(&["features", cut.to_str().unwrap(), "-o", out]);
    fails_with(&output, 1, &["cut.m4a", "not a readable MP4 stream"]);
    // A compressed stream on stdin: its container needs the file.
    let output = hark_stdin(&["features", "-", "-o", out, "--format", "mp3"], &bytes);
    fails_with(&output, 1, &["MP3 on stdin is not supported"]);
    // Not audio at all, whatever its name says.
    let fake = dir.path().join("notes.mp3");
    std::fs::write(&fake, "these are not sounds\n").unwrap();
    let output = hark(&["features", fake.to_str().unwrap(), "-o", out]);
    fails_with(&output, 1, &["notes.mp3", "not a readable MP3 stream"]);
}

#[test]
fn flac_files_decode_and_match_their_md5() {
    // Every FLAC of one wake word: decoded, checked against the MD5 sum in its header (a
    // mismatch is an error), and long enough for features.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.npy");
    let mut count = 0;
    for entry in std::fs::read_dir(data_dir().join("wakewords_dev/jarvis")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "flac") {
            continue;
        }
        let (_, shape) = features_of(&path, &out);
        assert_eq!(shape[1], 40);
        assert!(shape[0] > 50, "{}: {shape:?}", path.display());
        count += 1;
    }
    assert!(count > 100, "only {count} FLAC files");
}

#[test]
fn the_shared_bad_flac_files_decode_exactly() {
    // libFLAC gives up on these two ("lost sync", "unknown error"); symphonia decodes every
    // frame of them and the MD5 sum of the audio in their headers matches, so all of it is
    // processed: 31040 and 34240 frames at 16 kHz.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.npy");
    for (name, samples) in [
        ("alexa_126_lost_sync.flac", 31_040u64),
        ("alexa_127_decoder_error.flac", 34_240),
    ] {
        let path = data_dir().join("bad_inputs").join(name);
        let (_, shape) = features_of(&path, &out);
        assert_eq!(shape[0], 1 + (samples - 400) / 160, "{name}");
    }
}

#[test]
fn damaged_flac_is_an_error_at_its_offset_or_lenient_keeps_what_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let good = data_dir().join("wakewords_dev/alexa/0.flac");
    let bytes = std::fs::read(&good).unwrap();
    // 200 bytes scrambled in the middle of the audio: one FLAC frame is lost.
    let mut scrambled = bytes.clone();
    let middle = bytes.len() / 2;
    for b in &mut scrambled[middle..middle + 200] {
        *b ^= 0x5a;
    }
    let scrambled_path = dir.path().join("scrambled.flac");
    std::fs::write(&scrambled_path, &scrambled).unwrap();
    let truncated_path = dir.path().join("truncated.flac");
    std::fs::write(&truncated_path, &bytes[..bytes.len() / 3]).unwrap();
    let out = dir.path().join("f.npy");
    let out = out.to_str().unwrap();
    let clean = hark(&["features", good.to_str().unwrap(), "-o", out]);
    assert!(clean.status.success(), "{}", stderr(&clean));
    let (_, clean_shape) = read_npy(Path::new(out));

    for (path, problem, lenient_frames) in [
        (
            &scrambled_path,
            "could not be decoded (the decoder lost sync)",
            Some(clean_shape[0]),
        ),
        (&truncated_path, "the stream ends early (truncated", None),
    ] {
        let name = path.file_name().unwrap().to_str().unwrap();
        let path = path.to_str().unwrap();
        let strict = hark(&["features", path, "-o", out]);
        let message = stderr(&strict);
        assert_eq!(strict.status.code(), Some(1), "{name}: {message}");
        assert!(message.contains(name), "{message}");
        assert!(
            message.contains("corrupt FLAC data at sample frame"),
            "{message}"
        );
        assert!(message.contains(problem), "{message}");
        assert!(!message.contains("panicked"), "{message}");

        let lenient = hark(&["features", path, "-o", out, "--lenient"]);
        let message = stderr(&lenient);
        assert!(lenient.status.success(), "{name}: {message}");
        assert!(message.contains("warning"), "{message}");
        let (_, shape) = read_npy(Path::new(out));
        match lenient_frames {
            // The lost frame becomes silence: the timeline stays the clean file's.
            Some(frames) => assert_eq!(shape[0], frames, "{name}"),
            None => assert!(
                shape[0] > 10 && shape[0] < clean_shape[0],
                "{name}: {shape:?}"
            ),
        }
    }
}

#[test]
fn raw_pcm_on_stdin_gives_the_same_features_and_events_as_the_wav() {
    let dir = tempfile::tempdir().unwrap();
    let from_wav = dir.path().join("wav.npy");
    let from_stdin = dir.path().join("stdin.npy");
    let wav = sample_wav();
    features_of(&wav, &from_wav);
    let raw = sample_s16le();
    let output = features_stdin(&from_stdin, "s16le", &[], &raw);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(read_npy(&from_wav), read_npy(&from_stdin));

    let file_events = hark(&["detect", wav.to_str().unwrap(), "--json"]);
    let stdin_events = hark_stdin(
        &[
            "detect", "-", "--json", "--format", "s16le", "--rate", "16000",
        ],
        &raw,
    );
    assert!(stdin_events.status.success(), "{}", stderr(&stdin_events));
    assert_eq!(file_events.stdout, stdin_events.stdout);
    assert_eq!(
        String::from_utf8_lossy(&stdin_events.stdout)
            .lines()
            .count(),
        6
    );

    // Two interleaved channels, one silent: --channel 0 gives the same features again.
    let stereo: Vec<u8> = raw.chunks(2).flat_map(|s| [s[0], s[1], 0, 0]).collect();
    let out = dir.path().join("stereo.npy");
    let output = features_stdin(
        &out,
        "s16le",
        &["--channels", "2", "--channel", "0"],
        &stereo,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(read_npy(&from_wav), read_npy(&out));
}

#[test]
fn bad_raw_streams_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.npy");
    // A NaN among float samples.
    let mut floats: Vec<u8> = (0..16_000)
        .flat_map(|i| ((i as f32 * 0.01).sin() * 0.1).to_le_bytes())
        .collect();
    floats[4000..4004].copy_from_slice(&f32::NAN.to_le_bytes());
    let output = features_stdin(&out, "f32le", &[], &floats);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).to_lowercase().contains("nan") || stderr(&output).contains("not finite"),
        "{}",
        stderr(&output)
    );
    // A stream that stops inside a sample.
    let odd = vec![0u8; 32_001];
    let output = features_stdin(&out, "s16le", &[], &odd);
    fails_with(&output, 1, &["middle of a sample frame"]);
    let output = features_stdin(&out, "s16le", &["--lenient"], &odd);
    assert!(output.status.success(), "{}", stderr(&output));
    // stdin without a format, raw input without a rate.
    let out = out.to_str().unwrap();
    let output = hark_stdin(&["features", "-", "-o", out], &odd);
    fails_with(&output, 1, &["needs --format"]);
    let output = hark_stdin(&["features", "-", "-o", out, "--format", "s16le"], &odd);
    assert!(
        stderr(&output).contains("needs --rate"),
        "{}",
        stderr(&output)
    );
}

fn csv_lines(n: usize) -> String {
    let mut text = String::from("timestamp,value\n");
    for i in 0..n {
        let v = (i as f64 * 0.3).sin() + 0.01 * (i % 7) as f64;
        text.push_str(&format!(
            "2026-01-01 00:00:{:02}.{:03},{v:.6}\n",
            i / 1000 % 60,
            i % 1000
        ));
    }
    text
}

#[test]
fn csv_sensor_lines_with_bad_lines_skipped_or_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.npy");
    let out = dir.path().join("out.npy");
    let args = |o: &Path| {
        vec![
            "features".to_string(),
            "-".into(),
            "-o".into(),
            o.to_str().unwrap().into(),
            "--format".into(),
            "csv".into(),
            "--rate".into(),
            "1000".into(),
            "--preset".into(),
            "vibration".into(),
        ]
    };
    let text = csv_lines(4000);
    let run = |extra: &[&str], input: &str, o: &Path| {
        let mut all = args(o);
        all.extend(extra.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        hark_stdin(&all, input.as_bytes())
    };
    let output = run(&[], &text, &clean);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).is_empty(),
        "a header is not a bad line: {}",
        stderr(&output)
    );

    // Insert a malformed line and an over-long one after line 101 (the header is line 1).
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines.insert(101, "2026-01-01 00:00:00.100,not-a-number".into());
    lines.insert(102, format!("2026-01-01,{}", "9".repeat(5000)));
    lines.insert(103, "2026-01-01,\"1.5".into());
    let damaged = lines.join("\n") + "\n";
    let output = run(&[], &damaged, &out);
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert!(
        message.contains("line 102: \"not-a-number\" is not a number; skipped"),
        "{message}"
    );
    assert!(
        message.contains("line 103: longer than 4096 bytes; skipped"),
        "{message}"
    );
    assert!(
        message.contains("line 104: a quote is not closed on its line; skipped"),
        "{message}"
    );
    assert_eq!(
        read_npy(&clean),
        read_npy(&out),
        "the skipped lines change nothing else"
    );

    let output = run(&["--bad-lines", "fail"], &damaged, &out);
    fails_with(&output, 1, &["line 102"]);

    // A logger's gaps, 30 empty values: the first 10 named, then one count at the end.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for i in 0..30 {
        let at = 200 + 100 * i;
        let stamp = lines[at].split(',').next().unwrap().to_string();
        lines[at] = format!("{stamp},");
    }
    let gaps = lines.join("\n") + "\n";
    let output = run(&[], &gaps, &out);
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert_eq!(
        message.matches("is not a number; skipped").count(),
        10,
        "{message}"
    );
    assert!(
        message.contains("line 201: \"\" is not a number"),
        "{message}"
    );
    assert!(message.contains("30 bad lines skipped in all"), "{message}");
    assert_eq!(message.lines().count(), 12, "{message}");

    // Values only, no header, no timestamps.
    let values: String = text
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.rsplit(',').next().unwrap()))
        .collect();
    let output = run(&[], &values, &out);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(read_npy(&clean), read_npy(&out));
}

#[test]
fn realtime_paces_file_input() {
    // 2 s of audio take at least about 2 s with --realtime (and far less without).
    let wav = sample_wav();
    let dir = tempfile::tempdir().unwrap();
    let raw: Vec<u8> = sample_s16le()[..64_000].to_vec();
    let out = dir.path().join("x.npy");
    let started = std::time::Instant::now();
    let output = features_stdin(&out, "s16le", &["--realtime"], &raw);
    let paced = started.elapsed();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(paced.as_secs_f64() >= 1.9, "2 s of audio read in {paced:?}");
    assert!(wav.exists());
}

/// A WAV file by hand: `format` tag, `bits` per sample, `channels`, the data bytes; an 18-byte
/// `fmt ` chunk (with a `fact` chunk, as non-PCM layouts have), or the 40-byte
/// WAVE_FORMAT_EXTENSIBLE one when `extensible` (the sub-format's GUID then carries `format`).
fn wav_bytes(format: u16, bits: u16, channels: u16, extensible: bool, data: &[u8]) -> Vec<u8> {
    let rate = 16_000u32;
    let align = channels * bits / 8;
    let mut fmt = Vec::new();
    fmt.extend((if extensible { 0xFFFE } else { format }).to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(rate.to_le_bytes());
    fmt.extend((rate * u32::from(align)).to_le_bytes());
    fmt.extend(align.to_le_bytes());
    fmt.extend(bits.to_le_bytes());
    if extensible {
        fmt.extend(22u16.to_le_bytes());
        fmt.extend(bits.to_le_bytes()); // valid bits
        fmt.extend(((1u32 << channels) - 1).to_le_bytes()); // channel mask
        fmt.extend(u32::from(format).to_le_bytes()); // GUID xxxxxxxx-0000-0010-8000-00aa00389b71
        fmt.extend([0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]);
    } else {
        fmt.extend(0u16.to_le_bytes());
    }
    let frames = (data.len() / usize::from(align)) as u32;
    let mut out = b"RIFF".to_vec();
    out.extend((4 + 8 + fmt.len() as u32 + 12 + 8 + data.len() as u32).to_le_bytes());
    out.extend(b"WAVEfmt ");
    out.extend((fmt.len() as u32).to_le_bytes());
    out.extend(fmt);
    out.extend(b"fact");
    out.extend(4u32.to_le_bytes());
    out.extend(frames.to_le_bytes());
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}

/// The RF64 form of a WAV made by `wav_bytes`: `RF64` and 0xFFFFFFFF for the RIFF size, a
/// `ds64` chunk with the true sizes, 0xFFFFFFFF for the data chunk's size.
fn rf64(wav: &[u8]) -> Vec<u8> {
    let at = wav.windows(4).position(|w| w == b"data").unwrap();
    let data_len = (wav.len() - at - 8) as u64;
    let mut out = b"RF64".to_vec();
    out.extend(u32::MAX.to_le_bytes());
    out.extend(b"WAVEds64");
    out.extend(28u32.to_le_bytes());
    out.extend((wav.len() as u64 + 36 - 8).to_le_bytes()); // RIFF size
    out.extend(data_len.to_le_bytes());
    out.extend(0u64.to_le_bytes()); // sample count (for non-PCM; not read)
    out.extend(0u32.to_le_bytes()); // no table
    out.extend(&wav[12..at + 4]);
    out.extend(u32::MAX.to_le_bytes());
    out.extend(&wav[at + 8..]);
    out
}

/// G.711 mu-law of a 16-bit sample.
fn mu_law(sample: i16) -> u8 {
    let mut x = i32::from(sample);
    let sign = if x < 0 { 0x80 } else { 0 };
    x = x.abs().min(32_635) + 0x84;
    let exponent = (31 - x.leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (x >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// G.711 A-law of a 16-bit sample.
fn a_law(sample: i16) -> u8 {
    let x = i32::from(sample) >> 3;
    let (mask, x) = if x >= 0 { (0xD5, x) } else { (0x55, -x - 1) };
    let segment = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]
        .iter()
        .position(|&end| x <= end);
    let Some(segment) = segment else {
        return 0x7F ^ mask;
    };
    let shift = if segment < 2 { 1 } else { segment };
    (((segment << 4) as i32 | ((x >> shift) & 0x0F)) as u8) ^ mask
}

#[test]
fn wav_layouts_hound_refuses_are_decoded_by_symphonia() {
    // 64-bit float (scipy's default for float64 arrays), plain and WAVE_FORMAT_EXTENSIBLE, and
    // G.711 mu-law; hound refuses all three.
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let wav = sample_wav();
    let reference = path("reference.npy");
    let output = hark(&["features", &s(&wav), "-o", &s(&reference)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (want, want_shape) = read_npy(&reference);

    let samples: Vec<i16> = hound::WavReader::open(&wav)
        .unwrap()
        .samples::<i16>()
        .map(|s| s.unwrap())
        .collect();
    let as_f64 = |s: i16| f64::from(s) / 32_768.0;
    let mono: Vec<u8> = samples
        .iter()
        .flat_map(|&s| as_f64(s).to_le_bytes())
        .collect();
    // Channel 0 silent, channel 1 the sample.
    let stereo: Vec<u8> = samples
        .iter()
        .flat_map(|&s| [0.0, as_f64(s)])
        .flat_map(f64::to_le_bytes)
        .collect();
    let cases = [
        ("f64.wav", wav_bytes(3, 64, 1, false, &mono), None),
        ("f64x2.wav", wav_bytes(3, 64, 2, true, &stereo), Some("1")),
    ];
    let out = path("out.npy");
    // `hark features` of `bytes` written as `name`, with `--channel` if given.
    let features = |name: &str, bytes: &[u8], channel: Option<&str>| {
        std::fs::write(path(name), bytes).unwrap();
        let mut args = vec!["features".to_string(), s(&path(name)), "-o".into(), s(&out)];
        if let Some(c) = channel {
            args.extend(["--channel".into(), c.into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hark(&args)
    };
    for (name, bytes, channel) in cases {
        let output = features(name, &bytes, channel);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        // The same samples exactly: the same features bit for bit.
        assert_eq!(read_npy(&out), (want.clone(), want_shape.clone()), "{name}");
    }

    // A channel the file does not have: symphonia read the header, so its error is the one.
    let output = hark(&[
        "features",
        &s(&path("f64x2.wav")),
        "-o",
        &s(&path("x.npy")),
        "--channel",
        "2",
    ]);
    fails_with(&output, 1, &["channel 2 asked for"]);

    // Truncated in the data: an error naming it, or with --lenient the frames before it.
    let full = wav_bytes(3, 64, 1, false, &mono);
    std::fs::write(path("cut.wav"), &full[..full.len() / 2 + 3]).unwrap();
    let output = hark(&["features", &s(&path("cut.wav")), "-o", &s(&path("x.npy"))]);
    fails_with(&output, 1, &["corrupt WAV data", "truncated"]);
    let output = hark(&[
        "features",
        &s(&path("cut.wav")),
        "-o",
        &s(&path("x.npy")),
        "--lenient",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (_, shape) = read_npy(&path("x.npy"));
    assert!(
        shape[0] > want_shape[0] / 3 && shape[0] < want_shape[0],
        "{shape:?}"
    );

    // RF64 (EBU Tech 3306, WAV over 4 GB): the sizes in a ds64 chunk, 0xFFFFFFFF in their
    // places; 16-bit mono and 64-bit float stereo (`--channel 1`) as the sample itself.
    let pcm16: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let rf64_cases = [
        ("rf64.wav", rf64(&wav_bytes(1, 16, 1, false, &pcm16)), None),
        (
            "rf64x2.wav",
            rf64(&wav_bytes(3, 64, 2, true, &stereo)),
            Some("1"),
        ),
    ];
    for (name, bytes, channel) in rf64_cases {
        let output = features(name, &bytes, channel);
        if name == "rf64x2.wav" {
            // 64-bit float in RF64: neither our reader nor symphonia's; said so.
            fails_with(&output, 1, &["format tag 3 with 64-bit samples"]);
            continue;
        }
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        assert_eq!(read_npy(&out), (want.clone(), want_shape.clone()), "{name}");
    }

    // mu-law and A-law: 8-bit companding adds noise about 40 dB down, so only the frames' loud
    // bands (within 20 dB of the frame's loudest) must match the 16-bit file's.
    for (name, tag, code) in [("mu.wav", 7, mu_law as fn(i16) -> u8), ("a.wav", 6, a_law)] {
        let coded: Vec<u8> = samples.iter().map(|&s| code(s)).collect();
        std::fs::write(path(name), wav_bytes(tag, 8, 1, false, &coded)).unwrap();
        let output = hark(&["features", &s(&path(name)), "-o", &s(&path("law.npy"))]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let (got, shape) = read_npy(&path("law.npy"));
        assert_eq!(shape, want_shape, "{name}");
        let mut compared = 0;
        for (g, w) in got.chunks(40).zip(want.chunks(40)) {
            let loudest = w.iter().copied().fold(f32::MIN, f32::max);
            for (a, b) in g.iter().zip(w) {
                if *b > loudest - 4.6 && loudest > 0.0 {
                    assert!((a - b).abs() < 0.3, "{name}: band {a} against {b}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 1000, "{name}: {compared}");
    }
}

/// A float WAV with NaN and infinite samples (a sensor that dropped out): a clear error that
/// points to `--lenient`; with it, those samples become 0 and everything else is kept.
#[test]
fn samples_that_are_not_finite_fail_or_become_0_with_lenient() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &Path, samples: &[f32]| {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    };
    let clean: Vec<f32> = (0..48_000).map(|i| 0.1 * (i as f32 * 0.05).sin()).collect();
    let mut broken = clean.clone();
    let mut zeroed = clean.clone();
    for (at, v) in [(20_000, f32::NAN), (30_000, f32::INFINITY)] {
        broken[at] = v;
        zeroed[at] = 0.0;
    }
    let (broken_wav, zeroed_wav) = (dir.path().join("broken.wav"), dir.path().join("zeroed.wav"));
    write(&broken_wav, &broken);
    write(&zeroed_wav, &zeroed);
    let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    let run = |wav: &Path, out: &Path, extra: &[&str]| {
        let mut args = vec![
            "features",
            wav.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        hark(&args)
    };
    let output = run(&broken_wav, &a, &[]);
    fails_with(
        &output,
        1,
        &["not finite (NaN)", "--lenient makes such samples 0"],
    );
    let output = run(&broken_wav, &a, &["--lenient"]);
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert!(
        message.contains("sample frame 20000 is not finite (NaN)"),
        "{message}"
    );
    assert!(
        message.contains("2 samples in all were not finite"),
        "{message}"
    );
    assert!(run(&zeroed_wav, &b, &[]).status.success());
    assert_eq!(read_npy(&a), read_npy(&b), "as if those samples had been 0");

    // The same for a clip (`classify` reads a whole clip first), and for one file of several,
    // whose error is printed before the others run.
    let (broken, zeroed) = (broken_wav.to_str().unwrap(), zeroed_wav.to_str().unwrap());
    fails_with(
        &hark(&["classify", broken, "--json"]),
        1,
        &["not finite", "--lenient makes such samples 0"],
    );
    let lenient = hark(&["classify", broken, "--json", "--lenient"]);
    assert!(lenient.status.success(), "{}", stderr(&lenient));
    let plain = hark(&["classify", zeroed, "--json"]);
    let label = |out: &std::process::Output| {
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
        (line["label"].clone(), line["score"].clone())
    };
    assert_eq!(
        label(&lenient),
        label(&plain),
        "as if those samples had been 0"
    );
    let output = hark(&["detect", broken, zeroed]);
    fails_with(
        &output,
        1,
        &[
            "not finite",
            "--lenient makes such samples 0",
            "1 of 2 recordings",
        ],
    );
}
