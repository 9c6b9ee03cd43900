//! Checksummed record framing for append-only files:
//! `len u32 LE | crc32 u32 LE | payload`. A record counts only if whole
//! and its checksum matches, so a crash mid-write leaves at most a torn
//! tail, which readers cut off. Shared by the embedded account store's log
//! and the session controller's journal.

/// Largest payload accepted when reading (a corrupt length must not
/// allocate gigabytes).
pub const MAX_PAYLOAD: usize = 64 << 20;

/// Appends `payload` to `out` as one framed record.
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Frames the bytes `write` appends to `out` (the payload is written in
/// place, then its header filled in).
pub fn frame_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    write(out);
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The payloads of the whole, intact records at the start of `buf`, in
/// order; `valid_len` then tells where the valid prefix ends.
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Frames<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Frames { buf, pos: 0 }
    }

    /// Bytes of the records read so far.
    pub fn valid_len(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        let header: [u8; 8] = rest.get(..8)?.try_into().ok()?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_PAYLOAD {
            return None;
        }
        let payload = rest.get(8..8 + len)?;
        if crc32fast::hash(payload) != crc {
            return None;
        }
        self.pos += 8 + len;
        Some(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_tails() {
        let mut buf = Vec::new();
        frame(b"one", &mut buf);
        frame_with(&mut buf, |out| out.extend_from_slice(b"two"));
        let whole = buf.len();
        frame(b"three", &mut buf);
        let all: Vec<&[u8]> = Frames::new(&buf).collect();
        assert_eq!(all, vec![&b"one"[..], b"two", b"three"]);
        for cut in whole..buf.len() {
            let mut frames = Frames::new(&buf[..cut]);
            assert_eq!(frames.by_ref().count(), 2, "cut at {cut}");
            assert_eq!(frames.valid_len(), whole);
        }
        let mut bad = buf.clone();
        bad[whole + 9] ^= 0xff;
        assert_eq!(Frames::new(&bad).count(), 2);
    }
}
