//! WAV input as `f32` chunks (mono, or every channel interleaved), read incrementally: any
//! rate, any channel count, PCM 8 to 32 bit or 32-bit float, WAVE_FORMAT_EXTENSIBLE included
//! (hound), and RF64 (WAV over 4 GB, whose header is read here). The layouts hound refuses
//! (64-bit float, mu-law, A-law) are read by symphonia instead (`crate::decoded`).
//!
//! hound parses the header. Integer samples in containers of 1 to 4 bytes and 32-bit float
//! samples are then decoded from the data in blocks (hound's sample iterator reads a file two
//! bytes at a time: it was a quarter of `hark detect`'s CPU with the streaming keyword model;
//! and it misreads 24-bit samples in 4-byte containers); any other layout goes through hound's
//! iterator.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hark_dsp::SampleRate;

use crate::input::{ChannelSelect, Source};

/// Where the samples come from.
enum Data {
    /// hound's sample iterator: float samples as they are, integers times `scale`.
    Hound {
        reader: hound::WavReader<BufReader<File>>,
        float: bool,
        scale: f32,
    },
    /// The data chunk itself, decoded here in blocks.
    Blocks(Blocks),
}

/// Integer samples in containers of 1 to 4 bytes, or 32-bit float samples, read from the data
/// chunk in blocks.
struct Blocks {
    reader: BufReader<File>,
    float: bool,
    /// Bytes per sample: the container, which may be wider than the sample's valid bits.
    width: usize,
    /// The header said 0 bytes of data, and `remaining` counts what follows it instead.
    unfinalised: bool,
    /// Values (samples of all channels) left in the data chunk.
    remaining: u64,
    bytes: Vec<u8>,
    values: Vec<f32>,
}

/// Values decoded per block.
const BLOCK_VALUES: usize = 8192;

impl Blocks {
    /// The reader of `reader`'s data chunk, if its samples are integers in containers of 1 to
    /// 4 bytes or 32-bit floats (none for other layouts).
    ///
    /// An integer container is read as a left-justified integer of its full width, as
    /// WAVE_FORMAT_EXTENSIBLE defines it: 24 valid bits in a 4-byte container are the top three
    /// bytes, the lowest one padding. (hound's own iterator reads such a sample from the low
    /// three bytes, 256 times too loud and with the sign from the wrong bit.)
    fn new(
        reader: hound::WavReader<BufReader<File>>,
    ) -> std::io::Result<Result<Self, hound::WavReader<BufReader<File>>>> {
        let spec = reader.spec();
        let float = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, _) => false,
            (hound::SampleFormat::Float, 32) => true,
            _ => return Ok(Err(reader)),
        };
        let mut values = u64::from(reader.len());
        let mut inner = reader.into_inner();
        // hound stopped right after the data chunk's header: its last 4 bytes are the chunk's
        // length, which gives the size of a sample's container (block align / channels).
        inner.seek(SeekFrom::Current(-4))?;
        let mut len = [0u8; 4];
        inner.read_exact(&mut len)?;
        let data_len = u64::from(u32::from_le_bytes(len));
        let width = match data_len.checked_div(values) {
            Some(w) => w as usize,
            None => usize::from(spec.bits_per_sample).div_ceil(8),
        };
        // A data chunk of length 0 with bytes after it: a recording whose writer never came
        // back to fill in the lengths (killed, or still writing). Its samples run to the end,
        // unless the RIFF length is the file's: then the file was finished, the data chunk
        // really is empty and what follows it is other chunks.
        let mut unfinalised = false;
        if data_len == 0 && width > 0 {
            let here = inner.stream_position()?;
            let end = inner.seek(SeekFrom::End(0))?;
            inner.seek(SeekFrom::Start(4))?;
            inner.read_exact(&mut len)?;
            let finished = u64::from(u32::from_le_bytes(len)) + 8 == end;
            inner.seek(SeekFrom::Start(here))?;
            let frame = (width * usize::from(spec.channels)) as u64;
            if !finished {
                values = end.saturating_sub(here) / frame * u64::from(spec.channels);
                unfinalised = values > 0;
            }
        }
        let fits = usize::from(spec.bits_per_sample) <= width * 8;
        if !fits || !(1..=4).contains(&width) || (float && width != 4) {
            inner.seek(SeekFrom::Start(0))?;
            let reader =
                hound::WavReader::new(inner).map_err(|e| std::io::Error::other(e.to_string()))?;
            return Ok(Err(reader));
        }
        Ok(Ok(Blocks::over(inner, float, width, values, unfinalised)))
    }

    /// Blocks of `values` samples of `width` bytes from where `reader` stands.
    fn over(
        reader: BufReader<File>,
        float: bool,
        width: usize,
        values: u64,
        unfinalised: bool,
    ) -> Self {
        Blocks {
            reader,
            float,
            width,
            unfinalised,
            remaining: values,
            bytes: Vec::with_capacity(BLOCK_VALUES * width),
            values: Vec::with_capacity(BLOCK_VALUES),
        }
    }

    /// Decodes up to `max` values into `self.values`; `Err` with the values before it when
    /// the data ends before its header says.
    fn read(&mut self, max: usize) -> std::io::Result<()> {
        let width = self.width;
        let n = (max as u64).min(self.remaining) as usize;
        let want = (n * width) as u64;
        self.bytes.clear();
        // `read_to_end` on a `take` retries interruptions and keeps what it read before an
        // error; fewer bytes than asked for is the data ending early.
        let result = match (&mut self.reader).take(want).read_to_end(&mut self.bytes) {
            Ok(got) if (got as u64) < want => Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        let filled = self.bytes.len();
        let whole = filled / width;
        self.remaining -= whole as u64;
        self.values.clear();
        let bytes = &self.bytes[..whole * width];
        let values = &mut self.values;
        const FULL: f32 = 1.0 / 2_147_483_648.0; // 2^-31
        match (self.float, width) {
            (true, _) => values.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ),
            // 8-bit WAV samples are unsigned, centred on 128.
            (false, 1) => values.extend(bytes.iter().map(|&b| (f32::from(b) - 128.0) / 128.0)),
            (false, 2) => values.extend(
                bytes
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0),
            ),
            (false, 3) => values.extend(
                bytes
                    .chunks_exact(3)
                    .map(|b| i32::from_le_bytes([0, b[0], b[1], b[2]]) as f32 * FULL),
            ),
            (false, _) => values.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 * FULL),
            ),
        }
        result
    }
}

/// A WAV file being read.
pub struct WavSource {
    path: PathBuf,
    data: Data,
    duration: u64,
    rate: SampleRate,
    channels: usize,
    select: ChannelSelect,
    lenient: bool,
    ended: bool,
    /// An error met after some frames of a chunk, reported on the next read.
    deferred: Option<anyhow::Error>,
    frames_read: u64,
}

impl WavSource {
    /// Opens `path` and checks its header. With `lenient`, corrupt or truncated data ends the
    /// input with a warning instead of an error.
    pub fn open(path: &Path, select: ChannelSelect, lenient: bool) -> Result<Self> {
        let mut magic = [0u8; 4];
        let mut file =
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        if file.read_exact(&mut magic).is_ok() && &magic == b"RF64" {
            return Self::open_rf64(path, BufReader::new(file), select, lenient);
        }
        drop(file);
        let reader = hound::WavReader::open(path)
            .with_context(|| format!("cannot read WAV file {}", path.display()))?;
        let spec = reader.spec();
        let rate = SampleRate::new(spec.sample_rate)
            .with_context(|| format!("{}: sample rate is 0 Hz", path.display()))?;
        let channels = usize::from(spec.channels);
        select.check(&path.display().to_string(), channels)?;
        let float = spec.sample_format == hound::SampleFormat::Float;
        if float && spec.bits_per_sample != 32 {
            // hound takes a WAVE_FORMAT_EXTENSIBLE header of 64-bit floats, then fails on the
            // first sample: refuse it here, so that symphonia reads it (`input::open_as`).
            bail!(
                "cannot read WAV file {}: {}-bit float samples",
                path.display(),
                spec.bits_per_sample
            );
        }
        let scale = if float {
            1.0
        } else {
            1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32
        };
        let mut duration = u64::from(reader.duration());
        let data = match Blocks::new(reader)
            .with_context(|| format!("cannot read WAV file {}", path.display()))?
        {
            Ok(blocks) => {
                if blocks.unfinalised {
                    duration = blocks.remaining / channels as u64;
                    say!(
                        "hark: warning: {}: the header says its data is 0 bytes long, but \
                         {duration} sample frames follow (a recording that was not finished?): \
                         reading them",
                        path.display()
                    );
                }
                Data::Blocks(blocks)
            }
            Err(reader) => Data::Hound {
                reader,
                float,
                scale,
            },
        };
        Ok(Self::assemble(
            path, data, duration, rate, channels, select, lenient,
        ))
    }

    /// A source of `data` at its start.
    fn assemble(
        path: &Path,
        data: Data,
        duration: u64,
        rate: SampleRate,
        channels: usize,
        select: ChannelSelect,
        lenient: bool,
    ) -> Self {
        WavSource {
            path: path.to_path_buf(),
            data,
            duration,
            rate,
            channels,
            select,
            lenient,
            ended: false,
            deferred: None,
            frames_read: 0,
        }
    }

    /// An RF64 file (EBU Tech 3306: WAV with 64-bit sizes in a `ds64` chunk, for files over
    /// 4 GB), which hound does not parse: its header is read here, its samples by [`Blocks`].
    /// `reader` stands just after the `RF64` tag.
    fn open_rf64(
        path: &Path,
        mut reader: BufReader<File>,
        select: ChannelSelect,
        lenient: bool,
    ) -> Result<Self> {
        let name = path.display().to_string();
        let bad = |what: &str| anyhow::anyhow!("cannot read RF64 file {name}: {what}");
        let u32_at = |r: &mut BufReader<File>| -> Result<u32> {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)
                .map_err(|_| bad("the header ends early"))?;
            Ok(u32::from_le_bytes(b))
        };
        let _riff_size = u32_at(&mut reader)?;
        if u32_at(&mut reader)?.to_le_bytes() != *b"WAVE" {
            bail!(bad("no WAVE tag"));
        }
        let mut data_size_64 = None;
        let mut format = None; // (tag, channels, rate, block align, bits)
        let data_len = loop {
            let id = u32_at(&mut reader)?.to_le_bytes();
            let size = u32_at(&mut reader)?;
            let body = |r: &mut BufReader<File>, n: usize| -> Result<Vec<u8>> {
                let mut b = vec![0u8; n];
                r.read_exact(&mut b)
                    .map_err(|_| bad("a chunk ends early"))?;
                Ok(b)
            };
            match &id {
                b"ds64" if size >= 16 => {
                    let b = body(&mut reader, size as usize + (size as usize & 1))?;
                    let data = u64::from_le_bytes(b[8..16].try_into().unwrap_or_default());
                    data_size_64 = Some(data);
                }
                b"fmt " if size >= 16 => {
                    let b = body(&mut reader, size as usize + (size as usize & 1))?;
                    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
                    let mut tag = u16_at(0);
                    if tag == 0xFFFE && size >= 40 {
                        tag = u16_at(24); // the sub-format GUID starts with the format tag
                    }
                    let rate = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                    format = Some((tag, u16_at(2), rate, u16_at(12), u16_at(14)));
                }
                b"data" => {
                    break match (size, data_size_64) {
                        (0xFFFF_FFFF, Some(n)) => n,
                        (0xFFFF_FFFF, None) => bail!(bad("no ds64 chunk gives the data size")),
                        (n, _) => u64::from(n),
                    };
                }
                _ => {
                    let skip = i64::from(size) + i64::from(size & 1);
                    reader
                        .seek_relative(skip)
                        .map_err(|_| bad("a chunk ends early"))?;
                }
            }
        };
        let Some((tag, channels, hz, align, bits)) = format else {
            bail!(bad("no fmt chunk before the data"));
        };
        let rate = SampleRate::new(hz).with_context(|| format!("{name}: sample rate is 0 Hz"))?;
        let channels = usize::from(channels);
        select.check(&name, channels)?;
        let width = usize::from(align) / channels;
        let float = match (tag, width) {
            (1, 1..=4) if usize::from(bits) <= width * 8 => false,
            (3, 4) => true,
            _ => bail!(bad(&format!(
                "format tag {tag} with {bits}-bit samples in {width}-byte containers (PCM of 1 \
                 to 4 bytes and 32-bit float are read)"
            ))),
        };
        let frames = data_len / align as u64;
        let blocks = Blocks::over(reader, float, width, frames * channels as u64, false);
        Ok(Self::assemble(
            path,
            Data::Blocks(blocks),
            frames,
            rate,
            channels,
            select,
            lenient,
        ))
    }
}

impl Source for WavSource {
    fn rate(&self) -> SampleRate {
        self.rate
    }

    fn total_frames(&self) -> Option<u64> {
        Some(self.duration)
    }

    fn channels(&self) -> usize {
        self.select.width(self.channels)
    }

    fn read(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if self.ended {
            return Ok(0);
        }
        let width = self.select.width(self.channels);
        match self.read_inner(max_frames, out) {
            Ok(n) => Ok(n),
            Err(e) if !self.lenient && !out.is_empty() => {
                self.ended = true;
                self.frames_read += (out.len() / width) as u64;
                self.deferred = Some(e);
                Ok(out.len() / width)
            }
            Err(e) if self.lenient => {
                say!(
                    "hark: warning: {e:#}; keeping the {} frames before it",
                    self.frames_read + (out.len() / width) as u64
                );
                self.ended = true;
                self.frames_read += (out.len() / width) as u64;
                Ok(out.len() / width)
            }
            Err(e) => Err(e),
        }
    }
}

impl WavSource {
    fn read_inner(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        let channels = self.channels;
        if let Data::Blocks(blocks) = &mut self.data {
            let width = self.select.width(channels);
            let mut frames = 0;
            while frames < max_frames && blocks.remaining > 0 {
                let want = ((max_frames - frames) * channels)
                    .min(BLOCK_VALUES / channels * channels)
                    .max(channels);
                let result = blocks.read(want);
                let before = out.len();
                self.select.apply(&blocks.values, channels, out);
                frames += (out.len() - before) / width;
                if let Err(e) = result {
                    let at = self.frames_read + frames as u64;
                    return Err(anyhow::Error::new(e).context(format!(
                        "{}: corrupt or truncated audio data at sample frame {at}",
                        self.path.display()
                    )));
                }
            }
            self.frames_read += frames as u64;
            return Ok(frames);
        }
        let Data::Hound {
            reader,
            float,
            scale,
        } = &mut self.data
        else {
            unreachable!("the blocks returned above")
        };
        let mut frame_sum = 0.0f32;
        let mut in_frame = 0;
        let mut values_read = 0u64;
        let limit = max_frames * channels;
        let (path, frames_read) = (&self.path, self.frames_read);
        let context = |values: u64| {
            format!(
                "{}: corrupt or truncated audio data at sample frame {}",
                path.display(),
                frames_read + values / channels as u64
            )
        };
        // With every channel asked for, the values of a frame wait in `frame` until it is
        // whole, so that a chunk never ends in the middle of one.
        let mut frame = Vec::with_capacity(channels);
        let mut take = |value: f32, out: &mut Vec<f32>| {
            match self.select {
                ChannelSelect::Mix => frame_sum += value,
                ChannelSelect::Only(k) if k == in_frame => frame_sum = value,
                ChannelSelect::Only(_) => {}
                ChannelSelect::All => frame.push(value),
            }
            in_frame += 1;
            if in_frame == channels {
                match self.select {
                    ChannelSelect::Mix => out.push(frame_sum / channels as f32),
                    ChannelSelect::Only(_) => out.push(frame_sum),
                    ChannelSelect::All => out.append(&mut frame),
                }
                frame_sum = 0.0;
                in_frame = 0;
            }
        };
        if *float {
            for s in reader.samples::<f32>().take(limit) {
                let s = s.with_context(|| context(values_read))?;
                take(s, out);
                values_read += 1;
            }
        } else {
            let scale = *scale;
            for s in reader.samples::<i32>().take(limit) {
                let s = s.with_context(|| context(values_read))?;
                take(s as f32 * scale, out);
                values_read += 1;
            }
        }
        if !values_read.is_multiple_of(channels as u64) {
            self.ended = true;
            bail!(
                "{}: the data ends in the middle of a sample frame ({} of {} channels)",
                self.path.display(),
                values_read % channels as u64,
                channels
            );
        }
        let frames = out.len() / self.select.width(channels);
        self.frames_read += frames as u64;
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// 16-bit (or `bits`) integer samples, `channels` of them at `rate`.
    fn int_spec(channels: u16, rate: u32, bits: u16) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        }
    }

    /// Writes three channels of distinct signals in `spec`'s layout; returns the path.
    fn write(dir: &Path, name: &str, spec: hound::WavSpec, frames: usize) -> PathBuf {
        let path = dir.join(name);
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..frames {
            for c in 0..usize::from(spec.channels) {
                let v = ((i as f32) * (0.01 + 0.02 * c as f32)).sin() * (0.3 + 0.2 * c as f32);
                match (spec.sample_format, spec.bits_per_sample) {
                    (hound::SampleFormat::Float, _) => w.write_sample(v).unwrap(),
                    (_, bits) => w
                        .write_sample((v * (1u32 << (bits - 1)) as f32) as i32)
                        .unwrap(),
                }
            }
        }
        w.finalize().unwrap();
        path
    }

    /// The first `limit` values of the file by hound's own iterator, scaled as the reader
    /// scales them.
    /// A RIFF/WAVE file of a `fmt ` chunk holding `fmt` and then `chunks` (whole chunks,
    /// headers included), its RIFF length filled in.
    fn riff(fmt: &[u8], chunks: &[u8]) -> Vec<u8> {
        let mut file = b"RIFF".to_vec();
        file.extend(((4 + 8 + fmt.len() + chunks.len()) as u32).to_le_bytes());
        file.extend(b"WAVEfmt ");
        file.extend((fmt.len() as u32).to_le_bytes());
        file.extend(fmt);
        file.extend(chunks);
        file
    }

    fn by_hound(path: &Path, limit: usize) -> Vec<f32> {
        let mut r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        if spec.sample_format == hound::SampleFormat::Float {
            r.samples::<f32>().take(limit).map(Result::unwrap).collect()
        } else {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .take(limit)
                .map(|s| s.unwrap() as f32 * scale)
                .collect()
        }
    }

    fn read_all(path: &Path, select: ChannelSelect, chunk: usize) -> Vec<f32> {
        let mut source = WavSource::open(path, select, false).unwrap();
        let (mut all, mut out) = (Vec::new(), Vec::new());
        while source.read(chunk, &mut out).unwrap() > 0 {
            all.extend_from_slice(&out);
        }
        all
    }

    #[test]
    fn blocks_decode_as_hound_does() {
        let dir = tempfile::tempdir().unwrap();
        let layouts = [
            ("i16.wav", hound::SampleFormat::Int, 16),
            ("f32.wav", hound::SampleFormat::Float, 32),
            ("i24.wav", hound::SampleFormat::Int, 24),
            ("i8.wav", hound::SampleFormat::Int, 8),
            ("i32.wav", hound::SampleFormat::Int, 32),
        ];
        for (name, sample_format, bits) in layouts {
            let spec = hound::WavSpec {
                channels: 3,
                sample_rate: 8_000,
                bits_per_sample: bits,
                sample_format,
            };
            let path = write(dir.path(), name, spec, 20_011);
            let source = WavSource::open(&path, ChannelSelect::All, false).unwrap();
            assert!(matches!(source.data, Data::Blocks(_)), "{name}");
            let want = by_hound(&path, usize::MAX);
            for chunk in [1, 333, 4096, 100_000] {
                assert_eq!(
                    read_all(&path, ChannelSelect::All, chunk),
                    want,
                    "{name} {chunk}"
                );
            }
            let mut mixed = Vec::new();
            ChannelSelect::Mix.apply(&want, 3, &mut mixed);
            assert_eq!(read_all(&path, ChannelSelect::Mix, 777), mixed, "{name}");
            let second: Vec<f32> = want.iter().skip(1).step_by(3).copied().collect();
            assert_eq!(
                read_all(&path, ChannelSelect::Only(1), 50),
                second,
                "{name}"
            );
        }
    }

    #[test]
    fn a_wider_container_holds_the_sample_in_its_top_bytes() {
        // 24 valid bits in 4-byte containers (WAVE_FORMAT_EXTENSIBLE, as pro recorders and
        // data loggers write them): the same values as the 3-byte file, not 256 times them.
        let dir = tempfile::tempdir().unwrap();
        let spec = int_spec(2, 48_000, 24);
        let packed = write(dir.path(), "i24.wav", spec, 5_003);
        let want = read_all(&packed, ChannelSelect::All, 4096);
        let bytes = std::fs::read(&packed).unwrap();
        let data = &bytes[bytes.len() - 5_003 * 2 * 3..];
        let padded: Vec<u8> = data
            .chunks_exact(3)
            .flat_map(|b| [0, b[0], b[1], b[2]])
            .collect();
        let mut fmt = Vec::new();
        fmt.extend(0xFFFEu16.to_le_bytes());
        fmt.extend(2u16.to_le_bytes());
        fmt.extend(48_000u32.to_le_bytes());
        fmt.extend((48_000u32 * 8).to_le_bytes());
        fmt.extend(8u16.to_le_bytes()); // block align: 2 channels x 4 bytes
        fmt.extend(32u16.to_le_bytes());
        fmt.extend(22u16.to_le_bytes());
        fmt.extend(24u16.to_le_bytes()); // valid bits
        fmt.extend(3u32.to_le_bytes());
        fmt.extend(1u32.to_le_bytes()); // PCM sub-format GUID
        fmt.extend([0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]);
        let mut data = b"data".to_vec();
        data.extend((padded.len() as u32).to_le_bytes());
        data.extend(&padded);
        let file = riff(&fmt, &data);
        let wide = dir.path().join("i24in32.wav");
        std::fs::write(&wide, file).unwrap();
        let source = WavSource::open(&wide, ChannelSelect::All, false).unwrap();
        assert!(matches!(source.data, Data::Blocks(_)));
        assert_eq!(read_all(&wide, ChannelSelect::All, 4096), want);
        assert!(want.iter().any(|v| v.abs() > 0.4) && want.iter().all(|v| v.abs() <= 1.0));
    }

    #[test]
    fn a_recording_never_finalised_is_read_to_its_end() {
        // A writer killed before it filled in the lengths: RIFF and data lengths 0.
        let dir = tempfile::tempdir().unwrap();
        let spec = int_spec(2, 16_000, 16);
        let path = write(dir.path(), "whole.wav", spec, 7_001);
        let want = read_all(&path, ChannelSelect::All, 4096);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4..8].fill(0);
        bytes[40..44].fill(0); // the data chunk's length (a 44-byte header)
        // And half a frame more at the end, which is not a frame.
        bytes.extend([1, 2]);
        let cut = dir.path().join("unfinished.wav");
        std::fs::write(&cut, bytes).unwrap();
        let source = WavSource::open(&cut, ChannelSelect::All, false).unwrap();
        assert_eq!(source.total_frames(), Some(7_001));
        assert_eq!(read_all(&cut, ChannelSelect::All, 4096), want);
    }

    #[test]
    fn an_empty_data_chunk_in_a_finished_file_is_empty() {
        // RIFF length filled in, data chunk of length 0, then a LIST chunk: no samples (the
        // LIST chunk's bytes are not audio).
        let dir = tempfile::tempdir().unwrap();
        let mut fmt = Vec::new();
        fmt.extend(1u16.to_le_bytes()); // PCM
        fmt.extend(1u16.to_le_bytes()); // mono
        fmt.extend(16_000u32.to_le_bytes());
        fmt.extend(32_000u32.to_le_bytes());
        fmt.extend(2u16.to_le_bytes());
        fmt.extend(16u16.to_le_bytes());
        let mut chunks = b"data\0\0\0\0LIST".to_vec();
        chunks.extend(12u32.to_le_bytes());
        chunks.extend(b"INFOISFT\0\0\0\0");
        let mut bytes = riff(&fmt, &chunks);
        let path = dir.path().join("empty.wav");
        std::fs::write(&path, &bytes).unwrap();
        let source = WavSource::open(&path, ChannelSelect::All, false).unwrap();
        assert_eq!(source.total_frames(), Some(0));
        assert!(read_all(&path, ChannelSelect::All, 4096).is_empty());
        // The same bytes with the RIFF length never filled in: read as an unfinished recording.
        bytes[4..8].fill(0);
        std::fs::write(&path, &bytes).unwrap();
        let source = WavSource::open(&path, ChannelSelect::All, false).unwrap();
        assert_eq!(source.total_frames(), Some(10));
    }

    #[test]
    fn truncated_blocks_keep_the_frames_before_the_damage() {
        let dir = tempfile::tempdir().unwrap();
        let spec = int_spec(2, 16_000, 16);
        let path = write(dir.path(), "cut.wav", spec, 10_000);
        let bytes = std::fs::read(&path).unwrap();
        // Cut inside sample frame 6000 (4 bytes a frame after the 44-byte header).
        std::fs::write(&path, &bytes[..44 + 6_000 * 4 + 3]).unwrap();
        let want = by_hound(&path, 6_000 * 2);
        let mut source = WavSource::open(&path, ChannelSelect::All, false).unwrap();
        let (mut all, mut out) = (Vec::new(), Vec::new());
        let err = loop {
            match source.read(4096, &mut out) {
                Ok(0) => panic!("the damage was not reported"),
                Ok(_) => all.extend_from_slice(&out),
                Err(e) => break e,
            }
        };
        assert_eq!(all, want);
        assert!(
            format!("{err:#}").contains("truncated audio data at sample frame 6000"),
            "{err:#}"
        );
        let mut lenient = WavSource::open(&path, ChannelSelect::All, true).unwrap();
        let mut kept = 0;
        while lenient.read(4096, &mut out).unwrap() > 0 {
            kept += out.len() / 2;
        }
        assert_eq!(kept, 6_000);
    }
}
