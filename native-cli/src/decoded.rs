//! Input decoded with symphonia as `f32` chunks (mono, or every channel interleaved): FLAC, MP3,
//! Vorbis and Opus in Ogg, Opus and Vorbis in WebM/Matroska, AAC and ALAC in MP4, AIFF, and
//! the WAV layouts hound does not read (64-bit float, A-law, mu-law). Opus is decoded by
//! libopus through `symphonia-adapter-libopus`; every other codec by symphonia itself.

use std::path::Path;
use std::sync::LazyLock;

use anyhow::{Context, Result, anyhow, bail};
use hark_dsp::SampleRate;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::errors::Error as DecodeError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::TimeBase;

use crate::input::{ChannelSelect, Format, Source};

/// symphonia's decoders, and libopus's for Opus.
static CODECS: LazyLock<CodecRegistry> = LazyLock::new(|| {
    let mut codecs = CodecRegistry::new();
    symphonia::default::register_enabled_codecs(&mut codecs);
    codecs.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
    codecs
});

/// The file is not a stream symphonia can read at all (as opposed to one it read the header
/// of and then found wanting).
#[derive(Debug)]
pub struct Unreadable(String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreadable {}

/// A compressed (or AIFF, or unusual WAV) file being decoded.
pub struct DecodedSource {
    name: String,
    /// "FLAC", "MP3", "WAV"..., for messages.
    container: &'static str,
    kind: Format,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    rate: SampleRate,
    channels: usize,
    total: Option<u64>,
    /// The duration a WebM file declares, in seconds: its timestamps are milliseconds, so
    /// it is not a count of frames.
    declared: Option<f64>,
    select: ChannelSelect,
    lenient: bool,
    /// Decoded samples not handed out yet (`select.width(channels)` per frame).
    pending: Vec<f32>,
    pending_at: usize,
    interleaved: Vec<f32>,
    /// Frames decoded so far (the offset of the next packet).
    decoded: u64,
    /// Where the packets so far end, in the stream's timestamps (before any trimming).
    next_pts: i64,
    /// The track's time base, for packets without a length.
    time_base: Option<TimeBase>,
    /// For packets without a length: their timestamps in frames minus the frames decoded,
    /// taken once some audio has been decoded.
    offset: Option<i128>,
    /// Decoded frames still to drop at the start (an MP4 edit list's encoder priming).
    skip: u64,
    /// Frames still to hand out before the end an MP4 edit list sets (the rest is encoder
    /// padding), or `None`.
    keep: Option<u64>,
    damaged: u64,
    ended: bool,
    /// An error met after some frames of a chunk: reported on the next read, so that the
    /// frames before the damage are still processed.
    deferred: Option<anyhow::Error>,
}

impl DecodedSource {
    /// Values per frame handed out.
    fn width(&self) -> usize {
        self.select.width(self.channels)
    }

    /// Opens `path`, a file of `format` (for WAV: the layouts hound refuses), and reads its
    /// stream header. With `lenient`, a damaged frame becomes silence of its length (or ends
    /// the input if its length is unknown) with a warning, instead of an error.
    pub fn open(path: &Path, format: Format, select: ChannelSelect, lenient: bool) -> Result<Self> {
        let container = format.container().unwrap_or("audio");
        let extension = format.extension();
        // `format` names the demuxer below.
        let kind = format;
        let name = path.display().to_string();
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        hint.with_extension(extension);
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| {
                anyhow::Error::new(Unreadable(format!(
                    "{name}: not a readable {container} stream: {e}"
                )))
            })?;
        let track = format
            .default_track(TrackType::Audio)
            .with_context(|| format!("{name}: no audio track"))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .with_context(|| format!("{name}: no audio codec parameters"))?;
        let rate = params
            .sample_rate
            .and_then(SampleRate::new)
            .with_context(|| format!("{name}: the stream header has no sample rate"))?;
        let channels = params
            .channels
            .as_ref()
            .map(|c| c.count())
            .with_context(|| format!("{name}: the stream header has no channel count"))?;
        select.check(&name, channels)?;
        let decoder = CODECS
            .make_audio_decoder(params, &AudioDecoderOptions::default().verify(true))
            .map_err(|e| anyhow!("{name}: cannot decode: {e}"))?;
        // The length in the header, where it is exact: a stream that ends before it is
        // truncated. ADTS has no header with a length, and an MP3 has one only in a
        // Xing/Info/VBRI frame: without it the demuxer estimates the length from the first
        // frame's bit rate, which a VBR file overshoots.
        let exact_length = match kind {
            Format::Aac => false,
            Format::Mp3 => mp3_counts_its_frames(path),
            _ => true,
        };
        // An Ogg Opus stream's length counts its pre-skip, which libopus's adapter drops itself
        // rather than the demuxer.
        let trimmed_by_decoder = if params.codec == CODEC_ID_OPUS {
            track.delay.map_or(0, u64::from)
        } else {
            0
        };
        let total = track
            .num_frames
            .filter(|_| exact_length)
            .map(|n| n.saturating_sub(trimmed_by_decoder));
        let track_id = track.id;
        let time_base = track.time_base;
        // symphonia gives a WebM track no length; the segment may declare its duration.
        let declared = if kind == Format::Webm {
            crate::webm::declared_seconds(path)
        } else {
            None
        };
        let edit = if kind == Format::Mp4 {
            crate::mp4::audio_edit(path, rate.hz())
        } else {
            None
        };
        Ok(DecodedSource {
            name,
            container,
            kind,
            format,
            decoder,
            track_id,
            rate,
            channels,
            total,
            declared,
            select,
            lenient,
            pending: Vec::new(),
            pending_at: 0,
            interleaved: Vec::new(),
            decoded: 0,
            next_pts: 0,
            time_base,
            offset: None,
            skip: edit.map_or(0, |e| e.skip),
            keep: edit.and_then(|e| e.keep),
            damaged: 0,
            ended: false,
            deferred: None,
        })
    }

    /// Decodes the next packet into `pending`; `false` at the end.
    fn decode_next(&mut self) -> Result<bool> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return self.verify(),
                // The demuxers end a whole stream with `None`; the end of the file inside one
                // (an Ogg stream without its last page, MP4 sample data cut short) is this.
                // A WebM written as it was recorded (a browser's MediaRecorder) gives no sizes,
                // so its end is this too, and a cut cannot be told from it.
                Err(DecodeError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    if self.kind == Format::Webm {
                        return self.verify();
                    }
                    return self.damage("the stream ends early (truncated)", None);
                }
                Err(e) => {
                    return self.damage(&format!("{e}"), None);
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let length = packet.dur.get();
            // The demuxer skips what it cannot parse and resynchronises: a packet that starts
            // later than the previous one ended marks frames lost to damage.
            let pts = packet.pts.get();
            let gap = if length > 0 {
                // Timestamps are those of the stream before the decoder trims its delay (an
                // Opus stream's pre-skip).
                let gap = u64::try_from(pts.saturating_sub(self.next_pts)).unwrap_or(0);
                self.next_pts = self
                    .next_pts
                    .max(pts.saturating_add(i64::try_from(length).unwrap_or(i64::MAX)));
                gap
            } else {
                self.timestamp_gap(pts)
            };
            self.pending.clear();
            self.pending_at = 0;
            if gap > 0 {
                let what = format!("{gap} frames could not be decoded (the decoder lost sync)");
                self.damage(&what, Some(gap))?;
            }
            match self.decoder.decode(&packet) {
                Ok(buffer) => {
                    buffer.copy_to_vec_interleaved(&mut self.interleaved);
                    let before = self.pending.len();
                    self.select
                        .apply(&self.interleaved, self.channels, &mut self.pending);
                    self.decoded += ((self.pending.len() - before) / self.width()) as u64;
                    return Ok(true);
                }
                Err(DecodeError::DecodeError(what)) => {
                    return self.damage(what, Some(length));
                }
                Err(e) => return self.damage(&format!("{e}"), None),
            }
        }
    }

    /// For a demuxer that gives packets no length (WebM, whose timestamps are milliseconds):
    /// the frames between the audio decoded so far and where the packet at `pts` starts. The
    /// offset between the two timelines is taken at the first packet after some audio (the
    /// first one loses the encoder delay to the decoder), and a gap must exceed 2 ms, the
    /// timestamps' rounding.
    fn timestamp_gap(&mut self, pts: i64) -> u64 {
        let Some(base) = self.time_base else {
            return 0;
        };
        // The packet's start in frames at the decoded rate.
        let at = i128::from(pts) * i128::from(base.numer.get()) * i128::from(self.rate.hz())
            / i128::from(base.denom.get());
        let decoded = i128::from(self.decoded);
        match self.offset {
            Some(offset) => {
                let gap = at - offset - decoded;
                if gap > i128::from(self.rate.hz() / 500) {
                    u64::try_from(gap).unwrap_or(0)
                } else {
                    0
                }
            }
            None => {
                if decoded > 0 {
                    self.offset = Some(at - decoded);
                }
                0
            }
        }
    }

    /// At the end: the decoded audio against the MD5 sum in the stream header, when there is
    /// one and nothing was damaged (a mismatch means corruption the decoder did not notice).
    fn verify(&mut self) -> Result<bool> {
        if let Some(total) = self.total
            && self.decoded < total
        {
            let what = format!(
                "the stream ends early (truncated, or frames lost: {} of the {total} frames in \
                 its header)",
                self.decoded
            );
            return self.damage(&what, None);
        }
        // Within 0.1 s: WebM's timestamps are rounded and its packets up to 120 ms long.
        if let Some(seconds) = self.declared {
            let decoded = self.decoded as f64 / f64::from(self.rate.hz());
            if decoded < seconds - 0.1 {
                let what = format!(
                    "the stream ends early (truncated, or blocks lost: {decoded:.2} s of the \
                     {seconds:.2} s its header declares)"
                );
                return self.damage(&what, None);
            }
        }
        let verdict = self.decoder.finalize().verify_ok;
        if self.damaged == 0 && verdict == Some(false) {
            return self.damage(
                "the decoded audio does not match the MD5 sum in its header",
                None,
            );
        }
        Ok(false)
    }

    /// A damaged stream at the current offset: an error, or with `lenient` a warning and
    /// silence for the damaged frame (the end of the input if its length is unknown).
    fn damage(&mut self, what: &str, length: Option<u64>) -> Result<bool> {
        let message = format!(
            "{}: corrupt {} data at sample frame {}: {what}",
            self.name, self.container, self.decoded
        );
        if !self.lenient {
            bail!("{message} (--lenient keeps what decodes)");
        }
        self.damaged += 1;
        match length.filter(|&n| n > 0 && n <= 1 << 20) {
            Some(n) => {
                say!("hark: warning: {message}; {n} frames of silence in its place");
                self.pending
                    .resize(self.pending.len() + n as usize * self.width(), 0.0);
                self.decoded += n;
                Ok(true)
            }
            None => {
                say!(
                    "hark: warning: {message}; the input ends there ({} frames kept)",
                    self.decoded
                );
                Ok(false)
            }
        }
    }
}

/// Whether the MP3 file at `path` counts its frames: a Xing, Info (LAME, FhG) or VBRI frame
/// first, after any ID3v2 tag.
fn mp3_counts_its_frames(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 10];
    if file.read_exact(&mut head).is_err() {
        return false;
    }
    // An ID3v2 tag: its size in four 7-bit bytes, after a 10-byte header (and a footer of 10
    // bytes if flagged).
    let start = if head.starts_with(b"ID3") {
        let size = head[6..10]
            .iter()
            .fold(0u64, |n, &b| (n << 7) | u64::from(b & 0x7f));
        10 + size + if head[5] & 0x10 != 0 { 10 } else { 0 }
    } else {
        0
    };
    // The tag sits within the first frame, at most 36 bytes after its 4-byte header (VBRI)
    // or after its side information (Xing, Info); 512 bytes cover every layout.
    let mut frame = Vec::with_capacity(512);
    if file.seek(SeekFrom::Start(start)).is_err() || file.take(512).read_to_end(&mut frame).is_err()
    {
        return false;
    }
    frame
        .windows(4)
        .any(|w| w == b"Xing" || w == b"Info" || w == b"VBRI")
}

impl Source for DecodedSource {
    fn rate(&self) -> SampleRate {
        self.rate
    }

    fn total_frames(&self) -> Option<u64> {
        self.total
    }

    fn channels(&self) -> usize {
        self.width()
    }

    fn read(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        let max_values = max_frames * self.width();
        while out.len() < max_values && !self.ended {
            if self.pending_at == self.pending.len() {
                match self.decode_next() {
                    Ok(true) => continue,
                    Ok(false) => self.ended = true,
                    Err(e) => {
                        self.ended = true;
                        if out.is_empty() {
                            return Err(e);
                        }
                        self.deferred = Some(e);
                    }
                }
                continue;
            }
            let width = self.width();
            if self.skip > 0 {
                let frames = (self.pending.len() - self.pending_at) / width;
                let drop = usize::try_from(self.skip).map_or(frames, |skip| skip.min(frames));
                self.pending_at += drop * width;
                self.skip -= drop as u64;
                continue;
            }
            let mut take = (max_values - out.len()).min(self.pending.len() - self.pending_at);
            if let Some(keep) = self.keep {
                take = usize::try_from(keep).map_or(take, |keep| take.min(keep * width));
                if take == 0 {
                    self.ended = true;
                    continue;
                }
                self.keep = Some(keep - (take / width) as u64);
            }
            out.extend_from_slice(&self.pending[self.pending_at..self.pending_at + take]);
            self.pending_at += take;
        }
        Ok(out.len() / self.width())
    }
}
