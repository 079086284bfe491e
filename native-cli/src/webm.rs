//! The duration a WebM (Matroska) file declares in its segment's `Info`. symphonia (0.6) gives
//! a WebM track no length, so a stream its demuxer ends early (damage that sends it to the
//! end of the file) would pass for a whole one; this length tells the two apart where the
//! file has one. Files written while recording (a browser's `MediaRecorder`) declare none.

use std::io::Read;
use std::path::Path;

/// Element ids (with their length marker bits, as Matroska writes them).
const EBML: u32 = 0x1a45_dfa3;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_a966;
const CLUSTER: u32 = 0x1f43_b675;
const TIMESTAMP_SCALE: u32 = 0x2a_d7b1;
const DURATION: u32 = 0x4489;

/// How much of the file is searched: `Info` comes before the first cluster.
const HEAD: u64 = 1 << 16;

/// The duration in seconds declared by the WebM or Matroska file at `path`, or `None` if it
/// declares none or its head cannot be read as EBML elements (the demuxer then reports what
/// is wrong with it).
pub fn declared_seconds(path: &Path) -> Option<f64> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(HEAD)
        .read_to_end(&mut head)
        .ok()?;
    declared_in(&head)
}

/// [`declared_seconds`] of a file's first bytes.
fn declared_in(head: &[u8]) -> Option<f64> {
    let mut at = 0;
    let (id, size) = element(head, &mut at)?;
    if id != EBML {
        return None;
    }
    at = at.checked_add(usize::try_from(size?).ok()?)?;
    let (id, _) = element(head, &mut at)?;
    if id != SEGMENT {
        return None;
    }
    // The segment's children, in the order written: `Info` comes before the clusters.
    loop {
        let (id, size) = element(head, &mut at)?;
        let end = at.checked_add(usize::try_from(size?).ok()?)?;
        match id {
            INFO => return info_seconds(head.get(at..end)?),
            CLUSTER => return None,
            _ => at = end,
        }
    }
}

/// The duration in an `Info` element's payload, in seconds.
fn info_seconds(info: &[u8]) -> Option<f64> {
    let mut at = 0;
    let mut scale_ns = 1_000_000u64;
    let mut duration = None;
    while at < info.len() {
        let (id, size) = element(info, &mut at)?;
        let end = at.checked_add(usize::try_from(size?).ok()?)?;
        let payload = info.get(at..end)?;
        match id {
            TIMESTAMP_SCALE if payload.len() <= 8 => {
                scale_ns = payload.iter().fold(0, |n, &b| (n << 8) | u64::from(b));
            }
            DURATION => {
                duration = match payload.len() {
                    4 => Some(f64::from(f32::from_be_bytes(payload.try_into().ok()?))),
                    8 => Some(f64::from_be_bytes(payload.try_into().ok()?)),
                    _ => None,
                };
            }
            _ => {}
        }
        at = end;
    }
    let seconds = duration? * scale_ns as f64 / 1e9;
    (seconds.is_finite() && seconds > 0.0).then_some(seconds)
}

/// The element at `at`: its id and its payload's size (`None`: unknown, as a file written
/// while recording has), with `at` moved to the payload.
fn element(bytes: &[u8], at: &mut usize) -> Option<(u32, Option<u64>)> {
    let (id, id_len) = vint(bytes.get(*at..)?, false)?;
    if id_len > 4 {
        return None;
    }
    let (size, size_len) = vint(bytes.get(*at + id_len..)?, true)?;
    *at += id_len + size_len;
    let unknown = size == (1u64 << (7 * size_len)) - 1;
    Some((u32::try_from(id).ok()?, (!unknown).then_some(size)))
}

/// An EBML variable-length integer and its length in bytes; `strip` removes the length marker
/// (sizes keep only the value, ids keep the marker).
fn vint(bytes: &[u8], strip: bool) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    // The marker is the first byte's highest set bit (all of it for an 8-byte integer).
    let mut value = if strip {
        u64::from(first) & (0xff >> len)
    } else {
        u64::from(first)
    };
    for &b in bytes.get(1..len)? {
        value = (value << 8) | u64::from(b);
    }
    Some((value, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An element with a one-byte size.
    fn el(id: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = id.to_vec();
        out.push(0x80 | u8::try_from(payload.len()).unwrap());
        out.extend_from_slice(payload);
        out
    }

    fn file(info: &[u8], segment_size_unknown: bool) -> Vec<u8> {
        let mut out = el(&[0x1a, 0x45, 0xdf, 0xa3], &el(&[0x42, 0x82], b"webm"));
        out.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
        if segment_size_unknown {
            out.push(0xff);
        } else {
            // An 8-byte size, as ffmpeg writes it (its marker is the whole first byte).
            out.extend_from_slice(&[0x01, 0, 0, 0, 0, 0, 0, 0x7f]);
        }
        out.extend(el(&[0x11, 0x4d, 0x9b, 0x74], &[0; 6])); // a SeekHead, skipped
        out.extend(el(&[0x15, 0x49, 0xa9, 0x66], info));
        out.extend(el(&[0x1f, 0x43, 0xb6, 0x75], &[0; 4]));
        out
    }

    #[test]
    fn reads_the_declared_duration() {
        let mut info = el(&[0x2a, 0xd7, 0xb1], &[0x0f, 0x42, 0x40]); // 1 ms ticks
        info.extend(el(&[0x44, 0x89], &9508.0f64.to_be_bytes()));
        assert_eq!(declared_in(&file(&info, false)), Some(9.508));
        // A float of 4 bytes, and the default scale, in a segment of unknown size.
        let info = el(&[0x44, 0x89], &2500.0f32.to_be_bytes());
        assert_eq!(declared_in(&file(&info, true)), Some(2.5));
    }

    #[test]
    fn the_fixtures_durations() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        // ffmpeg declares 9.508 s (the 9.5-s sample and its encoder delay, rounded to 4 ms).
        let seconds = declared_seconds(&data.join("sample.webm"));
        assert!(
            seconds.is_some_and(|s| (s - 9.508).abs() < 1e-9),
            "{seconds:?}"
        );
        assert_eq!(
            declared_seconds(&data.join("sample_mediarecorder.webm")),
            None
        );
    }

    #[test]
    fn none_without_a_duration_or_ebml() {
        // As MediaRecorder writes it: an Info without a Duration.
        let info = el(&[0x2a, 0xd7, 0xb1], &[0x0f, 0x42, 0x40]);
        assert_eq!(declared_in(&file(&info, true)), None);
        assert_eq!(declared_in(b"OggS and more"), None);
        assert_eq!(declared_in(&[]), None);
        // Cut inside the Info.
        let mut info = el(&[0x2a, 0xd7, 0xb1], &[0x0f, 0x42, 0x40]);
        info.extend(el(&[0x44, 0x89], &9508.0f64.to_be_bytes()));
        let whole = file(&info, false);
        assert_eq!(declared_in(&whole[..whole.len() - 12]), None);
    }
}
