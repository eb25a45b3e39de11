//! Gzip inflation of a payload: one or more members, each member's CRC and length checked, the output
//! buffer sized once from the trailer and capped at [`MAX_INFLATED_BYTES`].

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::{SubscriptionError, MAX_INFLATED_BYTES};

/// Inflates a gzip stream (one or more members) into `out`, checking each member's CRC and length.
pub(super) fn gunzip(
    input: &[u8],
    z: &mut Decompress,
    out: &mut Vec<u8>,
) -> Result<(), SubscriptionError> {
    out.clear();
    if input.len() >= 4 {
        // ISIZE of the last member: the inflated size (mod 2^32) when there is one member, the usual case.
        let t = &input[input.len() - 4..];
        let isize = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
        out.reserve_exact(isize.min(MAX_INFLATED_BYTES) + 1);
    }
    let mut rest = input;
    let mut members = 0;
    while !rest.is_empty() {
        if members > 0 && rest.iter().all(|&b| b == 0) {
            break; // zero padding after the last member
        }
        let body = gzip_header(rest)?;
        let start = out.len();
        z.reset(false);
        let consumed = loop {
            if out.len() == out.capacity() {
                if out.len() > MAX_INFLATED_BYTES {
                    return Err(SubscriptionError::TooLarge);
                }
                // Exact growth, never past the cap plus the one byte that tells a payload over it:
                // the memory is bounded, not only the check (`reserve` may double the buffer).
                let grow = (out.len() - start).clamp(32 * 1024, 8 * 1024 * 1024);
                out.reserve_exact(grow.min(MAX_INFLATED_BYTES + 1 - out.len()));
            }
            let before_in = z.total_in() as usize;
            let status = z
                .decompress_vec(&body[before_in..], out, FlushDecompress::None)
                .map_err(|_| SubscriptionError::Gzip("corrupt deflate stream"))?;
            if out.len() > MAX_INFLATED_BYTES {
                return Err(SubscriptionError::TooLarge);
            }
            match status {
                Status::StreamEnd => break z.total_in() as usize,
                Status::Ok => {}
                Status::BufError => {
                    if out.len() < out.capacity() {
                        return Err(SubscriptionError::Gzip("truncated"));
                    }
                }
            }
        };
        if out.len() > MAX_INFLATED_BYTES {
            return Err(SubscriptionError::TooLarge);
        }
        let trailer = body
            .get(consumed..consumed + 8)
            .ok_or(SubscriptionError::Gzip("truncated trailer"))?;
        let mut crc = Crc::new();
        crc.update(&out[start..]);
        let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let want_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc.sum() != want_crc {
            return Err(SubscriptionError::Gzip("CRC mismatch"));
        }
        if (out.len() - start) as u32 != want_len {
            return Err(SubscriptionError::Gzip("length mismatch"));
        }
        rest = &body[consumed + 8..];
        members += 1;
    }
    if members == 0 {
        return Err(SubscriptionError::Gzip("empty"));
    }
    Ok(())
}

/// Skips a gzip member header (RFC 1952), returning what follows it.
pub(super) fn gzip_header(b: &[u8]) -> Result<&[u8], SubscriptionError> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let short = SubscriptionError::Gzip("truncated header");
    if b.len() < 10 {
        return Err(short);
    }
    if b[0] != 0x1f || b[1] != 0x8b {
        return Err(SubscriptionError::Gzip("bad magic"));
    }
    if b[2] != 8 {
        return Err(SubscriptionError::Gzip("not deflate"));
    }
    let flags = b[3];
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        let n = b.get(pos..pos + 2).ok_or(short.clone())?;
        pos += 2 + u16::from_le_bytes([n[0], n[1]]) as usize;
    }
    for f in [FNAME, FCOMMENT] {
        if flags & f != 0 {
            let z = memchr::memchr(0, b.get(pos..).ok_or(short.clone())?).ok_or(short.clone())?;
            pos += z + 1;
        }
    }
    if flags & FHCRC != 0 {
        pos += 2;
    }
    b.get(pos..).ok_or(short)
}
