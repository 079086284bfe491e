//! The edit list of an MP4 file's audio track. symphonia (0.6) reads the list but does not
//! apply it, and AAC needs it: encoders put priming frames before the recording (1024 from
//! ffmpeg, 2112 from Apple's: 21 to 64 ms) and padding after it, and the edit list says which
//! of the decoded frames are the recording. Only the boxes on the way to it are read: the
//! audio (`mdat`) is skipped with a seek.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Which decoded frames of the audio track are the recording, at the track's sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    /// Frames to drop at the start (the encoder's priming).
    pub skip: u64,
    /// Frames to keep after them, or `None`: to the end.
    pub keep: Option<u64>,
}

/// The largest `moov` box read (its sample tables grow with the length of the recording:
/// about 8 bytes per 1024 frames, so 64 MiB is days of audio).
const MAX_MOOV: u64 = 64 << 20;

/// The edit of the first audio track of the MP4 file at `path`, with frames counted at `rate`;
/// `None` if it has no edit list, or one that is not a single stretch played at normal speed
/// (which is all an audio file's encoder writes), or the file cannot be read as MP4 boxes (the
/// decoder then reports what is wrong with it).
pub fn audio_edit(path: &Path, rate: u32) -> Option<Edit> {
    let mut file = std::fs::File::open(path).ok()?;
    let moov = top_level_box(&mut file, b"moov")?;
    let movie_scale = full_box_timescale(child(&moov, b"mvhd")?)?;
    boxes(&moov)
        .filter(|(kind, _)| kind == b"trak")
        .find_map(|(_, trak)| {
            let mdia = child(trak, b"mdia")?;
            let handler = child(mdia, b"hdlr")?.get(8..12)?;
            if handler != b"soun" {
                return None;
            }
            let media_scale = full_box_timescale(child(mdia, b"mdhd")?)?;
            Some((child(trak, b"edts"), media_scale))
        })
        .and_then(|(edts, media_scale)| {
            let elst = child(edts?, b"elst")?;
            edit(elst, movie_scale, media_scale, rate)
        })
}

/// The one edit of an `elst` payload, converted to frames at `rate`.
fn edit(elst: &[u8], movie_scale: u32, media_scale: u32, rate: u32) -> Option<Edit> {
    let version = *elst.first()?;
    let count = u32::from_be_bytes(elst.get(4..8)?.try_into().ok()?);
    if count != 1 {
        return None;
    }
    let entry = elst.get(8..)?;
    let (duration, media_time, speed) = match version {
        0 => (
            u64::from(be_u32(entry, 0)?),
            i64::from(be_u32(entry, 4)? as i32),
            entry.get(8..10)?,
        ),
        1 => (
            be_u64(entry, 0)?,
            be_u64(entry, 8)? as i64,
            entry.get(16..18)?,
        ),
        _ => return None,
    };
    // An empty edit (-1: a delay) or another speed than 1 is not an encoder's trim.
    if media_time < 0 || speed != [0, 1] {
        return None;
    }
    let at_rate = |value: u64, scale: u32| -> Option<u64> {
        let frames = u128::from(value) * u128::from(rate) / u128::from(scale.max(1));
        u64::try_from(frames).ok()
    };
    Some(Edit {
        skip: at_rate(media_time as u64, media_scale)?,
        keep: match duration {
            0 => None,
            d => Some(at_rate(d, movie_scale)?),
        },
    })
}

/// The timescale of an `mvhd` or `mdhd` payload (version 0 or 1).
fn full_box_timescale(payload: &[u8]) -> Option<u32> {
    match payload.first()? {
        0 => be_u32(payload, 12),
        1 => be_u32(payload, 20),
        _ => None,
    }
    .filter(|&scale| scale > 0)
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The payload of the first top-level box of `kind` in `file`, the others skipped by seeking.
fn top_level_box(file: &mut std::fs::File, kind: &[u8; 4]) -> Option<Vec<u8>> {
    let end = file.metadata().ok()?.len();
    let mut at = 0u64;
    while at + 8 <= end {
        file.seek(SeekFrom::Start(at)).ok()?;
        let mut head = [0u8; 16];
        file.read_exact(&mut head[..8]).ok()?;
        let (size, header) = match be_u32(&head, 0)? {
            0 => (end - at, 8),
            1 => {
                file.read_exact(&mut head[8..]).ok()?;
                (be_u64(&head, 8)?, 16)
            }
            size => (u64::from(size), 8),
        };
        if size < header || at.checked_add(size)? > end {
            return None;
        }
        if &head[4..8] == kind {
            let len = size - header;
            if len > MAX_MOOV {
                return None;
            }
            let mut payload = vec![0u8; usize::try_from(len).ok()?];
            file.read_exact(&mut payload).ok()?;
            return Some(payload);
        }
        at += size;
    }
    None
}

/// The boxes in `data`, back to back: (kind, payload); ends at the first malformed one.
fn boxes(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let size = be_u32(rest, 0)?;
        let (size, header) = match size {
            0 => (rest.len(), 8),
            1 => (usize::try_from(be_u64(rest, 8)?).ok()?, 16),
            size => (usize::try_from(size).ok()?, 8),
        };
        if size < header || size > rest.len() {
            return None;
        }
        let (this, next) = rest.split_at(size);
        rest = next;
        Some((&this[4..8], &this[header..]))
    })
}

/// The payload of the first child box of `kind` in `data`.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data)
        .find(|(k, _)| k == kind)
        .map(|(_, payload)| payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = (8 + payload.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    /// A version-0 `elst` of one entry.
    fn elst(duration: u32, media_time: i32, speed: u16) -> Vec<u8> {
        let mut p = vec![0, 0, 0, 0];
        p.extend_from_slice(&1u32.to_be_bytes());
        p.extend_from_slice(&duration.to_be_bytes());
        p.extend_from_slice(&media_time.to_be_bytes());
        p.extend_from_slice(&speed.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p
    }

    #[test]
    fn an_encoders_trim_in_frames_at_the_decoders_rate() {
        // ffmpeg's AAC at 16 kHz: 9.5 s (movie timescale 1000) after 1024 priming frames.
        let e = edit(&elst(9500, 1024, 1), 1000, 16_000, 16_000);
        assert_eq!(
            e,
            Some(Edit {
                skip: 1024,
                keep: Some(152_000)
            })
        );
        // A media timescale other than the rate.
        let e = edit(&elst(9500, 2048, 1), 1000, 32_000, 16_000);
        assert_eq!(
            e,
            Some(Edit {
                skip: 1024,
                keep: Some(152_000)
            })
        );
        // No duration: to the end.
        let e = edit(&elst(0, 2112, 1), 1000, 48_000, 48_000);
        assert_eq!(
            e,
            Some(Edit {
                skip: 2112,
                keep: None
            })
        );
    }

    #[test]
    fn edits_that_are_not_a_trim_are_left_alone() {
        assert_eq!(edit(&elst(500, -1, 1), 1000, 16_000, 16_000), None); // a delay
        assert_eq!(edit(&elst(500, 0, 2), 1000, 16_000, 16_000), None); // twice the speed
        let mut two = elst(500, 0, 1);
        two[7] = 2;
        assert_eq!(edit(&two, 1000, 16_000, 16_000), None);
        assert_eq!(edit(&[], 1000, 16_000, 16_000), None);
        assert_eq!(edit(&elst(500, 0, 1)[..10], 1000, 16_000, 16_000), None);
    }

    #[test]
    fn boxes_stop_at_a_malformed_one() {
        let mut data = boxed(b"free", &[1, 2, 3]);
        data.extend(boxed(b"skip", &[]));
        data.extend_from_slice(&[0, 0, 0, 200, b'b', b'a', b'd', b'!']); // longer than what is left
        let kinds: Vec<&[u8]> = boxes(&data).map(|(k, _)| k).collect();
        assert_eq!(kinds, [b"free", b"skip"]);
        assert_eq!(child(&data, b"skip"), Some(&[][..]));
        assert_eq!(boxes(&[0, 0, 0, 4, 1, 2, 3, 4]).count(), 0); // smaller than its header
    }
}
