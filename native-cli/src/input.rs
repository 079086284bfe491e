//! Inputs of every command that reads audio or sensor samples: audio files (WAV, FLAC, MP3, Ogg
//! Vorbis, AAC or ALAC in MP4/M4A, AAC in ADTS, AIFF), raw PCM and CSV sensor lines on stdin.
//! Each becomes a [`Source`] of `f32` chunks, mono (the mean of the channels, or one of them) or every channel
//! interleaved ([`ChannelSelect::All`]); [`Reader`] adds real-time pacing and a progress bar.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hark_dsp::SampleRate;

use crate::decoded::{DecodedSource, Unreadable};
use crate::wav::WavSource;

/// The extensions of the files a folder is searched for: audio, then CSV sensor rows.
pub const SAMPLE_EXTENSIONS: &[&str] = &[
    "wav", "flac", "mp3", "ogg", "oga", "opus", "webm", "mka", "m4a", "mp4", "aac", "aif", "aiff",
    "csv",
];

/// The extensions of the audio files a folder is searched for.
pub const AUDIO_EXTENSIONS: &[&str] = SAMPLE_EXTENSIONS.split_at(SAMPLE_EXTENSIONS.len() - 1).0;

/// The files named, with every folder among them expanded (recursively: the files whose
/// extension is one of `extensions`, sorted). A folder with none of them is an error.
pub fn expand(paths: &[PathBuf], extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            let mut stack = vec![path.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)
                    .with_context(|| format!("cannot list {}", dir.display()))?
                {
                    let p = entry?.path();
                    let known = p
                        .extension()
                        .is_some_and(|e| extensions.iter().any(|k| e.eq_ignore_ascii_case(k)));
                    if p.is_dir() {
                        stack.push(p);
                    } else if known {
                        found.push(p);
                    }
                }
            }
            if found.is_empty() {
                let names: Vec<String> = extensions.iter().map(|e| format!(".{e}")).collect();
                bail!("{}: no {} file in it", path.display(), or_list(&names));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Runs `run` on each file in turn. With one, its error is the command's. With several, `run`
/// gets the file's name to put on its lines, a file that fails is reported on stderr while the
/// others still run, and the command then fails saying how many did ("3 of 10 `failure`").
pub fn each_file(
    files: &[PathBuf],
    failure: &str,
    mut run: impl FnMut(&Path, Option<&str>) -> Result<()>,
) -> Result<()> {
    if let [file] = files {
        return run(file, None);
    }
    let mut failed = 0;
    for file in files {
        let name = file.display().to_string();
        if let Err(e) = run(file, Some(&name)) {
            failed += 1;
            say!("hark: error: {}", crate::error_line(&e));
        }
    }
    if failed > 0 {
        bail!("{failed} of {} {failure}", files.len());
    }
    Ok(())
}

/// "a", "a or b", "a, b or c".
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Which channel(s) a source hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelSelect {
    /// The mean of all channels.
    Mix,
    /// One channel, counted from 0.
    Only(usize),
    /// Every channel, interleaved as in the input.
    All,
}

impl ChannelSelect {
    /// Checks the choice against a channel count.
    pub fn check(self, name: &str, channels: usize) -> Result<()> {
        if channels == 0 {
            bail!("{name}: the input declares 0 channels");
        }
        if let ChannelSelect::Only(k) = self
            && k >= channels
        {
            bail!(
                "{name}: channel {k} asked for, but the input has {channels} (0 to {})",
                channels - 1
            );
        }
        Ok(())
    }

    /// Values per sample frame handed out, for an input of `channels`.
    pub fn width(self, channels: usize) -> usize {
        match self {
            ChannelSelect::All => channels,
            ChannelSelect::Mix | ChannelSelect::Only(_) => 1,
        }
    }

    /// The names of the values handed out, from the input's channel names; None for a mix.
    pub fn names(self, names: &[String]) -> Option<Vec<String>> {
        match self {
            ChannelSelect::All => Some(names.to_vec()),
            ChannelSelect::Only(k) => names.get(k).map(|n| vec![n.clone()]),
            ChannelSelect::Mix => None,
        }
    }

    /// Mixes, picks from or copies interleaved frames into `out`.
    pub fn apply(self, interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
        if channels == 1 {
            // Mono: every choice is the input itself (the per-frame loops below cost about
            // 3 % of a streaming keyword run).
            out.extend_from_slice(interleaved);
            return;
        }
        let frames = interleaved.chunks_exact(channels);
        match self {
            ChannelSelect::Mix => {
                out.extend(frames.map(|f| f.iter().sum::<f32>() / channels as f32));
            }
            ChannelSelect::Only(k) => out.extend(frames.map(|f| f[k])),
            ChannelSelect::All => {
                out.extend_from_slice(&interleaved[..interleaved.len() / channels * channels]);
            }
        }
    }
}

/// How an input is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// From the file's first bytes (WAV, FLAC, MP3, Ogg, WebM, MP4/M4A, AAC, AIFF) or a `.csv`
    /// name.
    Auto,
    /// WAV: PCM 8 to 32 bit or float, any channel count, WAVE_FORMAT_EXTENSIBLE included.
    Wav,
    /// FLAC.
    Flac,
    /// MP3 (MPEG-1/2 layer III).
    Mp3,
    /// Vorbis or Opus in Ogg (.ogg, .oga, .opus).
    Ogg,
    /// Opus or Vorbis in WebM or Matroska (.webm, .mka): what browsers record.
    Webm,
    /// AAC or ALAC in an MP4 container (.m4a, .mp4).
    Mp4,
    /// AAC in ADTS frames, without a container (.aac).
    Aac,
    /// AIFF (PCM).
    Aiff,
    /// Raw interleaved signed 16-bit little-endian PCM (needs --rate, --channels).
    S16le,
    /// Raw interleaved 32-bit float little-endian PCM (needs --rate, --channels).
    F32le,
    /// Text lines of sensor readings: `value`, `timestamp,value` or `timestamp,value,...` for
    /// several sensors (needs --rate).
    Csv,
}

impl Format {
    /// The container's name for messages, for the formats read from a file's path.
    pub fn container(self) -> Option<&'static str> {
        match self {
            Format::Wav => Some("WAV"),
            Format::Flac => Some("FLAC"),
            Format::Mp3 => Some("MP3"),
            Format::Ogg => Some("Ogg"),
            Format::Webm => Some("WebM"),
            Format::Mp4 => Some("MP4"),
            Format::Aac => Some("AAC"),
            Format::Aiff => Some("AIFF"),
            Format::Auto | Format::S16le | Format::F32le | Format::Csv => None,
        }
    }

    /// The file extension that hints symphonia's probe at the container.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Flac => "flac",
            Format::Mp3 => "mp3",
            Format::Ogg => "ogg",
            Format::Webm => "webm",
            Format::Mp4 => "m4a",
            Format::Aac => "aac",
            Format::Aiff => "aiff",
            _ => "wav",
        }
    }
}

/// What to do with a malformed CSV line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BadLines {
    /// Report it on stderr with its line number and go on.
    Skip,
    /// Stop with an error naming the line.
    Fail,
}

/// Longest CSV line accepted, in bytes.
pub const MAX_LINE: usize = 4096;

/// Input options shared by the commands that read samples.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// The input's format; `-` (stdin) needs s16le, f32le or csv.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Sample rate of raw PCM or CSV input, in Hz (samples per second for sensors).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate: Option<u32>,
    /// Interleaved channels of raw PCM input.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub channels: u16,
    /// Use only this channel (from 0; for CSV, this value column) instead of the mean of all.
    #[arg(long)]
    pub channel: Option<usize>,
    /// On corrupt or truncated data, warn and keep what decoded (damaged FLAC frames become
    /// silence of the same length; NaN or infinite samples become 0) instead of stopping with
    /// an error.
    #[arg(long)]
    pub lenient: bool,
    /// A malformed CSV line (not a number, or longer than 4096 bytes): skip it with a
    /// warning, or fail.
    #[arg(long, value_enum, default_value_t = BadLines::Skip)]
    pub bad_lines: BadLines,
    /// The CSV field delimiter: `,`, `;`, `tab` or `|`; `auto` reads it from the first line
    /// (`;` if it has one, else a tab, else `,`). With any but `,`, a decimal comma is read
    /// as a decimal point: a file of one column with decimal commas (`20,5`) needs `;`.
    #[arg(long, default_value = "auto", value_parser = delimiter)]
    pub delimiter: Delimiter,
    /// Pace file input at real speed (for demos); otherwise it runs as fast as it can.
    #[arg(long)]
    pub realtime: bool,
}

/// `--delimiter`: a byte, or `None` to read it from the first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(Option<u8>);

impl Delimiter {
    /// Read from the first line.
    pub const AUTO: Delimiter = Delimiter(None);
}

fn delimiter(text: &str) -> Result<Delimiter, String> {
    match text {
        "auto" => Ok(Delimiter(None)),
        "," | "comma" => Ok(Delimiter(Some(b','))),
        ";" | "semicolon" => Ok(Delimiter(Some(b';'))),
        "tab" | "\t" | "\\t" => Ok(Delimiter(Some(b'\t'))),
        "|" | "pipe" => Ok(Delimiter(Some(b'|'))),
        _ => Err(format!(
            "`{text}` is not a delimiter this reader takes: `,`, `;`, `tab`, `|` or `auto`"
        )),
    }
}

impl InputArgs {
    fn select(&self) -> ChannelSelect {
        self.channel.map_or(ChannelSelect::Mix, ChannelSelect::Only)
    }
}

/// Samples from a file or stream: mono, or every channel interleaved.
pub trait Source {
    /// The input's sample rate.
    fn rate(&self) -> SampleRate;
    /// Values per sample frame that [`read`](Self::read) hands out: 1, or the input's
    /// channel count with [`ChannelSelect::All`].
    fn channels(&self) -> usize {
        1
    }
    /// Reads up to `max_frames` sample frames into `out` (cleared first), `channels()` values
    /// each; the number of frames, `Ok(0)` at the end.
    fn read(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize>;
    /// Frames in the whole input, when the header says.
    fn total_frames(&self) -> Option<u64> {
        None
    }
    /// Moves the timestamps of the values read since the last call into `out`, one per
    /// value (CSV `timestamp,value` lines; `None` for a line without one). Other sources
    /// have none and leave `out` empty.
    fn take_timestamps(&mut self, out: &mut Vec<Option<String>>) {
        out.clear();
    }
    /// The names of the channels (a CSV header's value columns), one per value of a frame,
    /// where the input has them.
    fn column_names(&self) -> Option<Vec<String>> {
        None
    }
}

/// Opens `path` (`-` for stdin) as the arguments say: mono, the mean of the channels unless
/// `--channel` picks one.
pub fn open(path: &Path, args: &InputArgs) -> Result<Box<dyn Source>> {
    open_as(path, args, args.select())
}

/// Opens `path` (`-` for stdin) handing out the channels `select` says (`args.channel` is
/// not looked at).
pub fn open_as(path: &Path, args: &InputArgs, select: ChannelSelect) -> Result<Box<dyn Source>> {
    let name = path.display().to_string();
    let stdin = path == Path::new("-");
    let format = match args.format {
        Format::Auto if stdin => {
            bail!("reading stdin needs --format s16le, f32le or csv (and --rate)")
        }
        Format::Auto => sniff(path)?,
        f => f,
    };
    let rate = || -> Result<SampleRate> {
        let hz = args
            .rate
            .with_context(|| format!("{}: {format:?} input needs --rate", path.display()))?;
        SampleRate::new(hz).with_context(|| format!("{}: --rate must be above 0", path.display()))
    };
    let reader = |path: &Path| -> Result<Box<dyn Read>> {
        if stdin {
            Ok(Box::new(std::io::stdin().lock()))
        } else {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            Ok(Box::new(file))
        }
    };
    Ok(match format {
        f if stdin && f.container().is_some() => bail!(
            "{} on stdin is not supported: give the file's path",
            f.container().unwrap_or_default()
        ),
        // hound reads integer PCM and 32-bit float; the layouts it refuses (64-bit float,
        // A-law, mu-law) go to symphonia. If symphonia cannot read the file either, hound's
        // error stands; if it read the header, its own error (a channel that is not there).
        Format::Wav => match WavSource::open(path, select, args.lenient) {
            Ok(source) => Box::new(source),
            Err(refused) => match DecodedSource::open(path, Format::Wav, select, args.lenient) {
                Ok(source) => Box::new(source),
                Err(e) if e.is::<Unreadable>() => return Err(refused),
                Err(e) => return Err(e),
            },
        },
        Format::Flac
        | Format::Mp3
        | Format::Ogg
        | Format::Webm
        | Format::Mp4
        | Format::Aac
        | Format::Aiff => Box::new(DecodedSource::open(path, format, select, args.lenient)?),
        Format::S16le | Format::F32le => {
            let channels = usize::from(args.channels);
            select.check(&name, channels)?;
            Box::new(RawSource {
                name,
                reader: BufReader::with_capacity(1 << 16, reader(path)?),
                float: format == Format::F32le,
                rate: rate()?,
                channels,
                select,
                lenient: args.lenient,
                bytes: Vec::new(),
                values: Vec::new(),
                frames_read: 0,
            })
        }
        Format::Csv => {
            let mut source = CsvSource {
                name,
                reader: BufReader::with_capacity(1 << 16, reader(path)?),
                rate: rate()?,
                select,
                bad_lines: args.bad_lines,
                delimiter: args.delimiter.0,
                line: Vec::with_capacity(MAX_LINE + 1),
                line_number: 0,
                skipped: 0,
                columns: None,
                ahead: None,
                timestamps: Vec::new(),
                header: None,
                splitter: None,
                fields: vec![0; MAX_LINE + 1],
                ends: vec![0; MAX_FIELDS],
            };
            // The first row says how many value columns there are.
            source.ahead = source.next_row()?;
            let columns = source.columns.unwrap_or(1);
            select.check(&format!("{} (value columns)", source.name), columns)?;
            Box::new(source)
        }
        Format::Auto => unreachable!("resolved above"),
    })
}

/// The format of a file from its first bytes or its name.
fn sniff(path: &Path) -> Result<Format> {
    let by_name = |ext: &str| {
        path.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(ext))
    };
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    if !meta.is_file() {
        // A named pipe or a device: reading its first bytes to look at them would take them
        // from the stream, so only the name or --format can say what it holds.
        if by_name("csv") {
            return Ok(Format::Csv);
        }
        bail!(
            "{} is not a regular file (a pipe or a device): give --format s16le, f32le or csv \
             (and --rate), as for stdin",
            path.display()
        );
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = Vec::with_capacity(12);
    file.take(12)
        .read_to_end(&mut magic)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let by_extension = || {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "wav" => Format::Wav,
            "flac" => Format::Flac,
            "mp3" => Format::Mp3,
            "ogg" | "oga" | "opus" => Format::Ogg,
            "webm" | "mka" => Format::Webm,
            "m4a" | "mp4" => Format::Mp4,
            "aac" => Format::Aac,
            "aif" | "aiff" => Format::Aiff,
            _ => return None,
        })
    };
    Ok(match magic.as_slice() {
        [b'R', b'I', b'F', b'F', ..] | [b'R', b'F', b'6', b'4', ..] => Format::Wav,
        [b'f', b'L', b'a', b'C', ..] => Format::Flac,
        [b'O', b'g', b'g', b'S', ..] => Format::Ogg,
        // An EBML header: Matroska, of which WebM is a profile.
        [0x1a, 0x45, 0xdf, 0xa3, ..] => Format::Webm,
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => Format::Mp4,
        [b'F', b'O', b'R', b'M', _, _, _, _, b'A', b'I', b'F', _] => Format::Aiff,
        // An ADTS frame: a 12-bit sync word and layer 0 (an MPEG audio frame has layer 1 to 3).
        [0xff, b, ..] if b & 0xf6 == 0xf0 => Format::Aac,
        // An ID3v2 tag, or an MPEG audio frame's sync word (11 bits set).
        [b'I', b'D', b'3', ..] => Format::Mp3,
        [0xff, b, ..] if b & 0xe0 == 0xe0 => Format::Mp3,
        _ if by_name("csv") => Format::Csv,
        // By its name: the reader then says what is wrong with it.
        _ => match by_extension() {
            Some(format) => format,
            None => bail!(
                "{}: not an audio file Hark reads (WAV, FLAC, MP3, Ogg, WebM, MP4/M4A, AAC, AIFF; \
                 first bytes {:02x?}); for raw PCM or CSV give --format",
                path.display(),
                magic
            ),
        },
    })
}

/// Raw interleaved PCM.
struct RawSource {
    name: String,
    reader: BufReader<Box<dyn Read>>,
    float: bool,
    rate: SampleRate,
    channels: usize,
    select: ChannelSelect,
    lenient: bool,
    bytes: Vec<u8>,
    values: Vec<f32>,
    frames_read: u64,
}

impl Source for RawSource {
    fn rate(&self) -> SampleRate {
        self.rate
    }

    fn channels(&self) -> usize {
        self.select.width(self.channels)
    }

    fn read(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        let width = if self.float { 4 } else { 2 };
        let frame_bytes = width * self.channels;
        self.bytes.resize(max_frames * frame_bytes, 0);
        // Fill as much as the stream gives (a pipe delivers in pieces).
        let mut filled = 0;
        while filled < self.bytes.len() {
            match self.reader.read(&mut self.bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "{}: read failed after sample frame {}",
                            self.name, self.frames_read
                        )
                    });
                }
            }
        }
        let whole = filled / frame_bytes * frame_bytes;
        if whole < filled {
            let message = format!(
                "{}: the stream ends in the middle of a sample frame ({} stray bytes after sample frame {})",
                self.name,
                filled - whole,
                self.frames_read + (whole / frame_bytes) as u64
            );
            if !self.lenient {
                bail!(message);
            }
            say!("hark: warning: {message}; they are dropped");
        }
        self.values.clear();
        if self.float {
            self.values.extend(
                self.bytes[..whole]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        } else {
            self.values.extend(
                self.bytes[..whole]
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0),
            );
        }
        self.select.apply(&self.values, self.channels, out);
        let frames = self.values.len() / self.channels;
        self.frames_read += frames as u64;
        Ok(frames)
    }
}

/// Bad CSV lines named one by one in warnings; past them, one count at the end.
const NAMED_BAD_LINES: u64 = 10;

/// Fields a CSV row may have (a timestamp and the value columns).
const MAX_FIELDS: usize = 1025;

/// CSV sensor readings, one row per line: `value`, `timestamp,value` or, for several
/// sensors, `timestamp,value,value,...` (the first field of a row of two or more is its
/// timestamp). A first line that is not numbers is taken as a header. Every row must have
/// the value columns of the first; the columns are channels ([`ChannelSelect`]).
///
/// As spreadsheets and loggers write them: fields may be quoted (`"20.5"`, split by
/// `csv-core`), and the delimiter is `--delimiter` or read from the first line: `;` if it has
/// one, else a tab, else `,` (a tab file's timestamps may hold commas). Where it is not `,`,
/// a decimal comma is read too (`20,5` is 20.5).
struct CsvSource {
    name: String,
    reader: BufReader<Box<dyn Read>>,
    rate: SampleRate,
    select: ChannelSelect,
    bad_lines: BadLines,
    /// `--delimiter`, else `None`: read from the first line.
    delimiter: Option<u8>,
    line: Vec<u8>,
    line_number: u64,
    skipped: u64,
    /// Value columns, from the first row.
    columns: Option<usize>,
    /// The first row, read when the file was opened.
    ahead: Option<(Option<String>, Vec<f32>)>,
    timestamps: Vec<Option<String>>,
    /// The header's value-column names, when the first line was a header.
    header: Option<Vec<String>>,
    /// The field splitter, once the first line has given the delimiter.
    splitter: Option<(u8, csv_core::Reader)>,
    /// A row's unquoted fields, back to back, and where each ends (scratch).
    fields: Vec<u8>,
    ends: Vec<usize>,
}

impl CsvSource {
    /// The next line (without its end), or `None` at the end; an over-long line is consumed
    /// and reported as `Err(())`.
    fn next_line(&mut self) -> Result<Option<std::result::Result<(), ()>>> {
        self.line.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.line)
            .with_context(|| {
                format!(
                    "{}: read failed at line {}",
                    self.name,
                    self.line_number + 1
                )
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.line_number += 1;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            return Ok(Some(Ok(())));
        }
        if self.line.len() <= MAX_LINE {
            return Ok(Some(Ok(()))); // the last line, without a newline
        }
        // Too long: skip to the end of the line.
        loop {
            let buf = self.reader.fill_buf().with_context(|| {
                format!("{}: read failed at line {}", self.name, self.line_number)
            })?;
            if buf.is_empty() {
                break;
            }
            if let Some(i) = buf.iter().position(|&b| b == b'\n') {
                self.reader.consume(i + 1);
                break;
            }
            let len = buf.len();
            self.reader.consume(len);
        }
        Ok(Some(Err(())))
    }

    fn bad(&mut self, problem: &str) -> Result<()> {
        let message = format!("{}: line {}: {problem}", self.name, self.line_number);
        match self.bad_lines {
            BadLines::Fail => bail!("{message} (--bad-lines skip goes on past it)"),
            BadLines::Skip => {
                self.skipped += 1;
                if self.skipped <= NAMED_BAD_LINES {
                    say!("hark: warning: {message}; skipped");
                }
                if self.skipped == NAMED_BAD_LINES {
                    say!(
                        "hark: warning: {}: further bad lines are skipped without a word (counted at the end)",
                        self.name
                    );
                }
                Ok(())
            }
        }
    }
}

impl CsvSource {
    /// The next good row: its timestamp and values; `None` at the end. Bad lines are
    /// skipped with a warning or fail, as `bad_lines` says.
    fn next_row(&mut self) -> Result<Option<(Option<String>, Vec<f32>)>> {
        loop {
            let Some(line) = self.next_line()? else {
                if self.skipped > NAMED_BAD_LINES {
                    say!(
                        "hark: warning: {}: {} bad lines skipped in all, the first {NAMED_BAD_LINES} named above",
                        self.name,
                        self.skipped
                    );
                    self.skipped = 0; // said once
                }
                return Ok(None);
            };
            if line.is_err() {
                self.bad(&format!("longer than {MAX_LINE} bytes"))?;
                continue;
            }
            let text = match std::str::from_utf8(&self.line) {
                Ok(t) => t.trim(),
                Err(_) => {
                    self.bad("not UTF-8 text")?;
                    continue;
                }
            };
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let given = self.delimiter;
            let (delimiter, splitter) = self.splitter.get_or_insert_with(|| {
                let delimiter = given.unwrap_or_else(|| {
                    [b';', b'\t', b',']
                        .into_iter()
                        .find(|d| text.as_bytes().contains(d))
                        .unwrap_or(b',')
                });
                let splitter = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
                (delimiter, splitter)
            });
            let delimiter = *delimiter;
            // The line's end back on, so that the splitter sees a whole record.
            self.line.push(b'\n');
            splitter.reset();
            let (result, _, _, count) =
                splitter.read_record(&self.line, &mut self.fields, &mut self.ends);
            match result {
                csv_core::ReadRecordResult::Record => {}
                csv_core::ReadRecordResult::OutputEndsFull => {
                    self.bad(&format!("more than {} fields", MAX_FIELDS - 1))?;
                    continue;
                }
                _ => {
                    self.bad("a quote is not closed on its line")?;
                    continue;
                }
            }
            // Valid UTF-8: the line was, and quotes are ASCII.
            let mut fields = (0..count).map(|i| {
                std::str::from_utf8(field(&self.fields, &self.ends, i))
                    .unwrap_or("")
                    .trim()
            });
            let stamp = if count > 1 { fields.next() } else { None };
            let mut values = Vec::new();
            let mut problem = None;
            for field in fields {
                let decimal_comma;
                let number = if delimiter != b',' && field.contains(',') {
                    decimal_comma = field.replacen(',', ".", 1);
                    decimal_comma.as_str()
                } else {
                    field
                };
                match number.parse::<f32>() {
                    Ok(v) if v.is_finite() => values.push(v),
                    Ok(_) => problem = Some((format!("{field:?} is not a finite number"), false)),
                    Err(_) => problem = Some((format!("{field:?} is not a number"), true)),
                }
                if problem.is_some() {
                    break;
                }
            }
            match problem {
                Some((_, true)) if self.line_number == 1 => {
                    // A header: its names of the value columns (all but a timestamp's).
                    let names = (0..count).map(|i| {
                        String::from_utf8_lossy(field(&self.fields, &self.ends, i))
                            .trim()
                            .to_string()
                    });
                    self.header = Some(names.skip(usize::from(count > 1)).collect());
                    continue;
                }
                Some((problem, _)) => {
                    self.bad(&problem)?;
                    continue;
                }
                None => {}
            }
            match self.columns {
                None => self.columns = Some(values.len()),
                Some(n) if n != values.len() => {
                    let problem = format!("{} values, but the first row has {n}", values.len());
                    self.bad(&problem)?;
                    continue;
                }
                Some(_) => {}
            }
            let stamp = stamp.map(str::to_string);
            return Ok(Some((stamp, values)));
        }
    }
}

impl Source for CsvSource {
    fn rate(&self) -> SampleRate {
        self.rate
    }

    fn channels(&self) -> usize {
        self.select.width(self.columns.unwrap_or(1))
    }

    fn take_timestamps(&mut self, out: &mut Vec<Option<String>>) {
        out.clear();
        std::mem::swap(out, &mut self.timestamps);
    }

    fn column_names(&self) -> Option<Vec<String>> {
        let names = self.header.as_ref()?;
        let columns = self.columns?;
        (names.len() == columns)
            .then(|| self.select.names(names))
            .flatten()
    }

    fn read(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        let mut frames = 0;
        while frames < max_frames {
            let row = match self.ahead.take() {
                Some(row) => row,
                None => match self.next_row()? {
                    Some(row) => row,
                    None => break,
                },
            };
            let (stamp, values) = row;
            self.select.apply(&values, values.len(), out);
            self.timestamps.push(stamp);
            frames += 1;
        }
        Ok(frames)
    }
}

/// Field `i` of a row that `csv_core` wrote back to back into `fields`, ending at `ends`.
fn field<'a>(fields: &'a [u8], ends: &[usize], i: usize) -> &'a [u8] {
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &fields[start..ends[i]]
}

/// A source read in chunks, paced at real speed if asked, with a progress bar on a terminal
/// for inputs longer than a few seconds.
pub struct Reader {
    source: Box<dyn Source>,
    realtime: bool,
    started: Instant,
    frames: u64,
    progress: Option<indicatif::ProgressBar>,
    /// With `--lenient`, samples that are not finite become 0 (counted) instead of an error.
    lenient: bool,
    name: String,
    replaced: u64,
}

impl Reader {
    /// Wraps an opened source.
    pub fn new(source: Box<dyn Source>, args: &InputArgs, name: &Path) -> Self {
        use std::io::IsTerminal;
        let rate = f64::from(source.rate().hz());
        let progress = source
            .total_frames()
            .filter(|&n| n as f64 / rate > 5.0 && !args.realtime)
            .filter(|_| std::io::stderr().is_terminal())
            .map(|n| {
                let bar = indicatif::ProgressBar::new(n);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:40}] {percent}% ({eta} left)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar.set_message(file_name(name));
                bar
            });
        Reader {
            source,
            realtime: args.realtime,
            started: Instant::now(),
            frames: 0,
            progress,
            lenient: args.lenient,
            name: name.display().to_string(),
            replaced: 0,
        }
    }

    /// The input's sample rate.
    pub fn rate(&self) -> SampleRate {
        self.source.rate()
    }

    /// Values per sample frame in the chunks (1 unless every channel was asked for).
    pub fn channels(&self) -> usize {
        self.source.channels()
    }

    /// The names of the channels in a chunk's frames (a CSV header's), where the input has
    /// them.
    pub fn column_names(&self) -> Option<Vec<String>> {
        self.source.column_names()
    }

    /// The timestamps of the values read since the last call (CSV input), one per value.
    pub fn take_timestamps(&mut self, out: &mut Vec<Option<String>>) {
        self.source.take_timestamps(out);
    }

    /// The next chunk of at most `max_frames` sample frames (20 ms when paced), `channels()`
    /// values each; the number of frames, `Ok(0)` at the end.
    pub fn next(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        let rate = f64::from(self.source.rate().hz());
        let max = if self.realtime {
            ((rate * 0.02) as usize).clamp(1, max_frames)
        } else {
            max_frames
        };
        let n = self.source.read(max, out)?;
        if self.lenient {
            self.replace_non_finite(out);
        }
        if n == 0 && self.replaced > 0 {
            say!(
                "hark: warning: {}: {} samples in all were not finite and became 0 (--lenient)",
                self.name,
                self.replaced
            );
            self.replaced = 0; // said once
        }
        self.frames += n as u64;
        if self.realtime {
            let due = Duration::from_secs_f64(self.frames as f64 / rate);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if let Some(bar) = &self.progress {
            if n == 0 {
                bar.finish_and_clear();
            } else {
                bar.set_position(self.frames);
            }
        }
        Ok(n)
    }
}

impl Reader {
    /// `--lenient`: NaN and infinite samples (a float WAV from a sensor that dropped out)
    /// become 0, so the timeline and everything after them are kept; the first is named.
    fn replace_non_finite(&mut self, chunk: &mut [f32]) {
        let width = self.source.channels().max(1);
        for (i, v) in chunk.iter_mut().enumerate() {
            if !v.is_finite() {
                if self.replaced == 0 {
                    say!(
                        "hark: warning: {}: sample frame {} is not finite ({v}); it and any \
                         other such sample become 0 (--lenient)",
                        self.name,
                        self.frames + (i / width) as u64
                    );
                }
                self.replaced += 1;
                *v = 0.0;
            }
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
