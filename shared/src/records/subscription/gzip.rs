//! Gzip inflation of a payload: one or more members, each member's CRC and length checked, the output
//! buffer sized once from the trailer and capped at [`MAX_INFLATED_BYTES`].
//!
//! A payload as CloudWatch Logs sends it is one member: libdeflate inflates it in one call, checks
//! its CRC and length, and the output is then checked to be UTF-8 ([`OneMember::inflate`]). Anything else
//! (several members, padding, a trailer that does not match, a stream libdeflate refuses) is read by
//! zlib-rs, member by member ([`gunzip_members`]), which gives the answer or the error it always
//! gave; there the read of the inflated bytes that sums the CRC also checks that they are UTF-8
//! ([`Utf8Check`]).
//!
//! One difference: libdeflate inflates some deflate streams that break RFC 1951 and that zlib-rs
//! refuses as corrupt (a length symbol 286 or 287, more than 30 distance codes, and the like; see
//! `libdeflate_takes_streams_zlib_rs_refuses`). The output's CRC and length are still checked, so such
//! a member is taken only when it inflates to exactly the bytes its trailer vouches for. A stream that
//! both refuse is inflated twice before its error, by libdeflate then by zlib-rs (each within the cap).

use std::ptr::NonNull;

use flate2::{Crc, Decompress, FlushDecompress, Status};
use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_SUCCESS,
};

use super::{SubscriptionError, MAX_INFLATED_BYTES};

/// The inflated bytes are checked this many at a time: the CRC's read brings them into the L1 cache,
/// where the UTF-8 check reads them again.
const CHECK_CHUNK: usize = 16 * 1024;

/// Whether the whole of `out` is UTF-8, checked piece by piece as the CRC reads it.
///
/// Soundness (a true answer means the whole is UTF-8): each piece starts where the last one was cut,
/// the last one ends at the output's end, so the pieces cover the output end to end; bytes once checked
/// are never written again (inflate only appends); and UTF-8 pieces joined are UTF-8.
///
/// No false refusal (UTF-8 text gets a true answer): each piece is cut before a byte that is not a
/// continuation byte (`0b10xx_xxxx`), so a cut never splits a character of valid text. A cut lands
/// inside a character only when the four bytes from the cut on are all continuation bytes, or when it
/// stops at the piece's start; either happens only in text that is not UTF-8. A piece is not cut at a
/// member's end (the next member may carry on a character): with many small members, pieces grow past
/// [`CHECK_CHUNK`] (slower, still right).
struct Utf8Check {
    /// Where the next piece starts.
    from: usize,
    valid: bool,
}

impl Utf8Check {
    /// Checks `out[from..]` up to `end`, or up to a character boundary at most three bytes before it.
    fn upto(&mut self, out: &[u8], end: usize) {
        let mut cut = end;
        while cut > self.from && end - cut < 3 && out.get(cut).is_some_and(|&b| b & 0xc0 == 0x80) {
            cut -= 1;
        }
        self.valid &= simdutf8::basic::from_utf8(&out[self.from..cut]).is_ok();
        self.from = cut;
    }
}

/// What a [`super::Decoder`] inflates with: libdeflate for a payload of one member, zlib-rs for the
/// rest.
pub(super) struct Inflaters {
    one_member: OneMember,
    members: Decompress,
}

impl Inflaters {
    pub(super) fn new() -> Inflaters {
        Inflaters {
            one_member: OneMember::new(),
            members: Decompress::new(false),
        }
    }
}

/// libdeflate's inflate of a gzip stream that is one member (a libdeflate decompressor, which
/// inflates a whole deflate stream in one call): the decoder's, and the bench's decode-only limit's.
pub struct OneMember(NonNull<libdeflate_decompressor>);

// SAFETY: a libdeflate decompressor is a block of memory of its own, tied to no thread; it is only
// used through `&mut OneMember`, so by one thread at a time.
unsafe impl Send for OneMember {}
// SAFETY: `&OneMember` gives no access to the decompressor (every use takes `&mut`).
unsafe impl Sync for OneMember {}

impl Default for OneMember {
    fn default() -> Self {
        OneMember::new()
    }
}

impl Drop for OneMember {
    fn drop(&mut self) {
        // SAFETY: the decompressor came from `libdeflate_alloc_decompressor` and is freed once.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

impl OneMember {
    pub fn new() -> OneMember {
        // SAFETY: no precondition; it returns NULL only when out of memory.
        let p = unsafe { libdeflate_alloc_decompressor() };
        OneMember(NonNull::new(p).expect("libdeflate_alloc_decompressor: out of memory"))
    }

    /// Inflates `input` into `out` when it is exactly one gzip member — header, deflate stream, CRC
    /// and length, nothing after it — whose output is the length its trailer gives, at most
    /// [`MAX_INFLATED_BYTES`]: `true`, the CRC and the length checked by libdeflate. `false` (`out`
    /// then empty) for anything else: several members, padding after one, a length that is not the
    /// output's, a header or stream libdeflate refuses. [`gunzip_members`] then reads the input, and
    /// its answer or error is the one a payload always got. (libdeflate takes a few streams zlib-rs
    /// would refuse: see the module's documentation.) The output is not checked to be UTF-8
    /// ([`gunzip`] does that).
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        let Some(trailer) = input.len().checked_sub(4).map(|at| &input[at..]) else {
            return false;
        };
        let isize = u32::from_le_bytes(trailer.try_into().expect("4 bytes")) as usize;
        if isize > MAX_INFLATED_BYTES {
            return false;
        }
        // One byte more than the member needs, as `gunzip_members` reserves: when this path says no,
        // that one reuses the buffer without growing it.
        out.reserve_exact(isize + 1);
        let (mut read, mut written) = (0usize, 0usize);
        // SAFETY: `self.0` is a live decompressor, used by this thread alone (`&mut`); libdeflate
        // reads `input` and writes at most `isize` bytes from `out`'s start, within the capacity just
        // reserved (`out` is empty), then says how many bytes it read and wrote.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                isize,
                &mut read,
                &mut written,
            )
        };
        if result != libdeflate_result_LIBDEFLATE_SUCCESS || read != input.len() || written != isize
        {
            return false;
        }
        // SAFETY: libdeflate succeeded and wrote `written` bytes from `out`'s start, within its
        // capacity.
        unsafe { out.set_len(written) };
        true
    }
}

/// Inflates a gzip stream (one or more members) into `out`, checking each member's CRC and length, and
/// that the whole of it is UTF-8 ([`SubscriptionError::Utf8`] when it is not, after every member's own
/// checks): `Ok` means all of `out` is UTF-8. One member is inflated by libdeflate
/// ([`OneMember::inflate`]); for anything else, [`gunzip_members`] gives the answer.
pub(super) fn gunzip(
    input: &[u8],
    inflaters: &mut Inflaters,
    out: &mut Vec<u8>,
) -> Result<(), SubscriptionError> {
    if inflaters.one_member.inflate(input, out) {
        return match simdutf8::basic::from_utf8(out) {
            Ok(_) => Ok(()),
            Err(_) => Err(SubscriptionError::Utf8),
        };
    }
    gunzip_members(input, &mut inflaters.members, out)
}

/// Inflates a gzip stream of one or more members with zlib-rs: [`gunzip`] for what
/// [`OneMember::inflate`] does not take.
fn gunzip_members(
    input: &[u8],
    z: &mut Decompress,
    out: &mut Vec<u8>,
) -> Result<(), SubscriptionError> {
    out.clear();
    let mut utf8 = Utf8Check {
        from: 0,
        valid: true,
    };
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
        let mut at = start;
        while at < out.len() {
            let end = (at + CHECK_CHUNK).min(out.len());
            crc.update(&out[at..end]);
            // At the member's end the next member's bytes are not out yet: a character may go on
            // there. Its rest is checked with the next piece (the last one after the last member).
            if end < out.len() {
                utf8.upto(out, end);
            }
            at = end;
        }
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
    utf8.upto(out, out.len());
    if !utf8.valid {
        return Err(SubscriptionError::Utf8);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Rng;
    use flate2::write::GzEncoder;
    use std::io::Write as _;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b).unwrap();
        enc.finish().unwrap()
    }

    /// Inflates a good stream both ways — [`gunzip`] (libdeflate when it is one member) and
    /// [`gunzip_members`] alone (zlib-rs, the UTF-8 check piece by piece) — asserts that the two give
    /// the same output and answer, and returns whether the output is UTF-8 (`Ok`, or the `Utf8` error).
    fn inflated_utf8(gz: &[u8], z: &mut Decompress, out: &mut Vec<u8>) -> bool {
        let utf8 = |r: Result<(), SubscriptionError>| match r {
            Ok(()) => true,
            Err(SubscriptionError::Utf8) => false,
            Err(e) => panic!("a good stream: {e:?}"),
        };
        let mut first = Vec::new();
        let either = utf8(gunzip(gz, &mut Inflaters::new(), &mut first));
        let members = utf8(gunzip_members(gz, z, out));
        assert_eq!((either, &first), (members, &*out));
        members
    }

    /// A gzip member of `b` with the header flags `flags` (FEXTRA, FNAME, FCOMMENT, FHCRC) and their
    /// fields.
    fn gzip_with_header(b: &[u8], flags: u8) -> Vec<u8> {
        let mut gz = header(flags);
        gz.extend(&gzip(b)[10..]);
        gz
    }

    /// A gzip member's header with the flags `flags` (FEXTRA, FNAME, FCOMMENT, FHCRC) and their fields.
    fn header(flags: u8) -> Vec<u8> {
        let mut gz = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255];
        if flags & 4 != 0 {
            gz.extend([3, 0, b'x', b'y', b'z']);
        }
        if flags & 8 != 0 {
            gz.extend(b"name.json\0");
        }
        if flags & 16 != 0 {
            gz.extend(b"a comment\0");
        }
        if flags & 2 != 0 {
            gz.extend([0x12, 0x34]);
        }
        gz
    }

    /// [`gunzip`] takes one member by libdeflate and gives what [`gunzip_members`] (zlib-rs) gives, for
    /// streams good and broken: several members, zero padding, trailing bytes, a lying length or CRC,
    /// a flipped byte, a cut, header fields. The one-member path must be the one taken for most good
    /// single members (else this compares zlib-rs with itself).
    #[test]
    fn one_member_by_libdeflate_gives_what_zlib_rs_gives() {
        let mut rng = Rng(0x005e_ed1a_bdef_1a7e);
        let mut inflaters = Inflaters::new();
        let mut z = Decompress::new(false);
        let (mut out, mut want) = (Vec::new(), Vec::new());
        let (mut taken, mut singles) = (0, 0);
        for case in 0..1200 {
            let len = [0, 1, 100, 1000, CHECK_CHUNK + 3][case % 5];
            let text_bytes = text(&mut rng, len, usize::from(case % 7 == 0));
            let flags = [0, 2, 4, 8, 16, 30][rng.below(6) as usize];
            let mut gz = gzip_with_header(&text_bytes, flags);
            let kind = rng.below(9);
            match kind {
                0 | 1 => {} // one good member
                2 => {
                    // A second member: half the time the same text again, whose trailer then holds the
                    // first member's CRC and length (only "all input read" tells it from one member).
                    let second = if rng.below(2) == 0 {
                        text_bytes.clone()
                    } else {
                        text(&mut rng, 50, 0)
                    };
                    gz.extend(gzip(&second));
                }
                3 => gz.extend(std::iter::repeat_n(0, 1 + rng.below(9) as usize)), // padding
                4 => gz.extend([1, 2, 3]),                                         // trailing bytes
                5 => {
                    // a lying length (the trailer's last four bytes)
                    let n = gz.len();
                    let lie = (text_bytes.len() as u32).wrapping_add(rng.below(5) as u32) ^ 1;
                    gz[n - 4..].copy_from_slice(&lie.to_le_bytes());
                }
                6 => {
                    let n = gz.len();
                    gz[n - 8] ^= 1 + rng.below(255) as u8; // a wrong CRC
                }
                7 => {
                    let at = rng.below(gz.len() as u64) as usize;
                    gz[at] ^= 1 + rng.below(255) as u8; // a flipped byte anywhere
                }
                _ => gz.truncate(rng.below(gz.len() as u64) as usize), // a cut
            }
            let single = kind <= 1;
            singles += usize::from(single);
            if inflaters.one_member.inflate(&gz, &mut out) {
                taken += usize::from(single);
                assert!(
                    kind != 2 && kind != 3 && kind != 4,
                    "case {case}: not one member"
                );
            }
            let got = gunzip(&gz, &mut inflaters, &mut out);
            let expected = gunzip_members(&gz, &mut z, &mut want);
            assert_eq!(got, expected, "case {case}, kind {kind}, flags {flags}");
            if got.is_ok() || got == Err(SubscriptionError::Utf8) {
                assert_eq!(out, want, "case {case}, kind {kind}, flags {flags}");
            }
        }
        assert_eq!(
            taken, singles,
            "every good single member goes to libdeflate"
        );
        assert!(singles > 200, "{singles}");
    }

    /// Text of `len` bytes or a few more ([`text`]'s valid text), and — when `bad` — one byte sequence
    /// that breaks UTF-8 spliced in somewhere (a stray continuation byte, a lead byte without its
    /// continuation, an overlong or surrogate form, a byte no UTF-8 holds).
    fn text_with_a_break(rng: &mut Rng, len: usize, bad: bool) -> Vec<u8> {
        let mut b = text(rng, len, 0);
        if bad {
            let at = rng.below(b.len() as u64) as usize;
            let breaks: [&[u8]; 6] = [
                b"\x80",
                b"\xe2\x82",
                b"\xc0\xaf",
                b"\xed\xa0\x80",
                b"\xff",
                b"\xf0\x9f",
            ];
            b.splice(at..at, breaks[rng.below(6) as usize].iter().copied());
        }
        b
    }

    /// The UTF-8 answer of the inflate equals `std::str::from_utf8` of the whole output, with characters
    /// across the check's pieces and members split inside a character, valid or not.
    #[test]
    fn the_utf8_check_done_with_the_crc_equals_the_whole_check() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut z = Decompress::new(false);
        let mut out = Vec::new();
        for case in 0..400 {
            let len = [10, CHECK_CHUNK - 2, CHECK_CHUNK + 1, 3 * CHECK_CHUNK + 5][case % 4];
            let bad = rng.below(2) == 0;
            let mut whole = text_with_a_break(&mut rng, len, bad);
            // A four-byte character across the first piece's end, and across the second's.
            for at in [CHECK_CHUNK, 2 * CHECK_CHUNK] {
                if whole.len() > at + 4 && rng.below(2) == 0 {
                    let back = rng.below(4) as usize;
                    whole.splice(at - back..at - back, "😀".bytes());
                }
            }
            // One to three members, split anywhere (inside a character too).
            let mut cuts: Vec<usize> = (0..rng.below(3))
                .map(|_| rng.below(whole.len() as u64 + 1) as usize)
                .collect();
            cuts.sort_unstable();
            let mut gz = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([whole.len()]) {
                gz.extend(gzip(&whole[from..cut]));
                from = cut;
            }
            let utf8 = inflated_utf8(&gz, &mut z, &mut out);
            assert_eq!(out, whole, "case {case}");
            assert_eq!(
                utf8,
                std::str::from_utf8(&whole).is_ok(),
                "case {case}: {len} bytes, bad {bad}"
            );
        }
    }

    /// A cut is never made inside a character of valid text, at every offset around a piece's end.
    #[test]
    fn a_piece_ends_before_a_character_never_inside_one() {
        for c in ['é', '€', '😀'] {
            for back in 0..6 {
                let mut b = vec![b'a'; CHECK_CHUNK - back];
                b.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                b.extend_from_slice(&[b'z'; 10]);
                let mut check = Utf8Check {
                    from: 0,
                    valid: true,
                };
                check.upto(&b, CHECK_CHUNK.min(b.len()));
                check.upto(&b, b.len());
                assert!(check.valid, "{c:?} {back} bytes before the cut");
            }
        }
    }

    // Review (review3): adversarial checks of the piecewise UTF-8 answer against `std::str::from_utf8`.

    /// A byte that is often at a UTF-8 edge: continuation, lead bytes of every length, bytes no UTF-8
    /// holds, ASCII.
    fn edgy(rng: &mut Rng) -> u8 {
        match rng.below(8) {
            0..=2 => 0x80 | rng.below(64) as u8,
            3 => 0xc0 | rng.below(32) as u8,
            4 => 0xe0 | rng.below(16) as u8,
            5 => 0xf0 | rng.below(16) as u8,
            _ => b'a' + rng.below(26) as u8,
        }
    }

    /// Valid text (characters of one to four bytes), with `flips` random positions overwritten by
    /// edgy bytes.
    fn text(rng: &mut Rng, len: usize, flips: usize) -> Vec<u8> {
        let mut b = Vec::with_capacity(len + 4);
        while b.len() < len {
            let c = match rng.below(6) {
                0 => char::from_u32(0x80 + rng.below(0x780) as u32).unwrap(),
                1 => char::from_u32(0x800 + rng.below(0xd000 - 0x800) as u32).unwrap(),
                2 => char::from_u32(0x10000 + rng.below(0x100000) as u32).unwrap(),
                _ => char::from(b'a' + rng.below(26) as u8),
            };
            b.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        for _ in 0..flips {
            if b.is_empty() {
                break;
            }
            let at = rng.below(b.len() as u64) as usize;
            b[at] = edgy(rng);
        }
        b
    }

    /// `Utf8Check` with any increasing sequence of piece ends (not only gunzip's) gives the whole's answer.
    #[test]
    fn utf8_check_with_arbitrary_piece_ends_equals_the_whole_check() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let (mut valid_cases, mut invalid_cases) = (0, 0);
        for case in 0..100_000 {
            let len = rng.below(40) as usize;
            let b: Vec<u8> = match case % 3 {
                0 => (0..len).map(|_| edgy(&mut rng)).collect(),
                1 => text(&mut rng, len, 1),
                _ => text(&mut rng, len, 0),
            };
            let mut check = Utf8Check {
                from: 0,
                valid: true,
            };
            let mut end = 0;
            while end < b.len() {
                end += rng.below(6) as usize;
                if end >= b.len() {
                    break;
                }
                check.upto(&b, end);
                assert!(check.from <= end);
            }
            check.upto(&b, b.len());
            assert_eq!(check.from, b.len());
            let want = std::str::from_utf8(&b).is_ok();
            assert_eq!(check.valid, want, "case {case}: {b:x?}");
            if want {
                valid_cases += 1;
            } else {
                invalid_cases += 1;
            }
        }
        assert!(valid_cases > 20_000 && invalid_cases > 20_000);
    }

    /// gunzip's answer equals `std::str::from_utf8` of its output, with edgy bytes right at the check's
    /// piece ends and at member ends, empty members, and zero padding after the last member.
    #[test]
    fn gunzip_utf8_answer_with_edgy_bytes_at_piece_and_member_ends() {
        let mut rng = Rng(0x0bad_cafe_f00d_beef);
        let mut z = Decompress::new(false);
        let mut out = Vec::new();
        let (mut valid_cases, mut invalid_cases) = (0, 0);
        for case in 0..600 {
            let len = [
                CHECK_CHUNK - 1,
                CHECK_CHUNK + 3,
                2 * CHECK_CHUNK + 2,
                4 * CHECK_CHUNK + 7,
            ][case % 4];
            let mut whole = text(&mut rng, len, 0);
            // Member cuts: none to four, anywhere, repeated ones giving empty members.
            let mut cuts: Vec<usize> = (0..rng.below(5))
                .map(|_| match rng.below(3) {
                    0 => rng.below(whole.len() as u64 + 1) as usize,
                    1 => (CHECK_CHUNK * (1 + rng.below(3) as usize)).min(whole.len()),
                    _ => (CHECK_CHUNK + rng.below(8) as usize - 4).min(whole.len()),
                })
                .collect();
            cuts.sort_unstable();
            // Edgy bytes a few bytes around piece ends (within each member's own pieces too) and
            // member ends, in about half the cases.
            if case % 2 == 0 {
                let mut spots: Vec<usize> = cuts.clone();
                let mut m0 = 0;
                for &c in cuts.iter().chain([whole.len()].iter()) {
                    let mut p = m0 + CHECK_CHUNK;
                    while p < c {
                        spots.push(p);
                        p += CHECK_CHUNK;
                    }
                    m0 = c;
                }
                for s in spots {
                    for d in 0..5usize {
                        let at = s + d;
                        if at >= 4 && at - 4 < whole.len() && rng.below(3) == 0 {
                            whole[at - 4] = edgy(&mut rng);
                        }
                    }
                }
            }
            let mut gz = Vec::new();
            let mut from = 0;
            for &cut in cuts.iter().chain([whole.len()].iter()) {
                gz.extend(gzip(&whole[from..cut]));
                if rng.below(4) == 0 {
                    gz.extend(gzip(b"")); // an extra empty member
                }
                from = cut;
            }
            if rng.below(3) == 0 {
                gz.extend(std::iter::repeat_n(0, 1 + rng.below(20) as usize));
            }
            let utf8 = inflated_utf8(&gz, &mut z, &mut out);
            assert_eq!(out, whole, "case {case}");
            let want = std::str::from_utf8(&whole).is_ok();
            assert_eq!(utf8, want, "case {case}: cuts {cuts:?}");
            if want {
                valid_cases += 1;
            } else {
                invalid_cases += 1;
            }
        }
        assert!(
            valid_cases > 100 && invalid_cases > 100,
            "{valid_cases} {invalid_cases}"
        );
    }

    /// Four continuation bytes ending at a piece end: the cut lands inside a character, and both
    /// the piece and the whole are invalid.
    #[test]
    fn four_continuation_bytes_at_a_piece_end() {
        for back in 0..8 {
            let mut b = vec![b'a'; CHECK_CHUNK - back];
            b.extend_from_slice(b"\xf0\x9f\x98\x80\x80\x80");
            b.extend_from_slice(&[b'z'; 10]);
            let mut z = Decompress::new(false);
            let mut out = Vec::new();
            assert!(!inflated_utf8(&gzip(&b), &mut z, &mut out), "{back}");
            let mut ok = b.clone();
            ok.truncate(CHECK_CHUNK - back + 4);
            ok.extend_from_slice(&[b'z'; 10]);
            assert!(inflated_utf8(&gzip(&ok), &mut z, &mut out), "{back}");
        }
    }

    /// A deflate stream written bit by bit (LSB first, as RFC 1951 packs them); Huffman codes go in
    /// MSB first through [`Bits::code`].
    struct Bits(Vec<u8>, u32);

    impl Bits {
        fn put(&mut self, v: u32, n: u32) {
            for i in 0..n {
                if self.1.is_multiple_of(8) {
                    self.0.push(0);
                }
                let last = self.0.len() - 1;
                self.0[last] |= (((v >> i) & 1) as u8) << (self.1 % 8);
                self.1 += 1;
            }
        }

        fn code(&mut self, c: u32, n: u32) {
            for i in (0..n).rev() {
                self.put((c >> i) & 1, 1);
            }
        }
    }

    /// `deflate` as one gzip member whose trailer vouches for `plain`.
    fn member_of(deflate: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut gz = header(0);
        gz.extend_from_slice(deflate);
        let mut crc = Crc::new();
        crc.update(plain);
        gz.extend(crc.sum().to_le_bytes());
        gz.extend((plain.len() as u32).to_le_bytes());
        gz
    }

    /// The difference the module's documentation names, pinned (from the review): libdeflate inflates
    /// these two streams, which break RFC 1951, to the bytes their trailers vouch for, and zlib-rs
    /// refuses them. A libdeflate that changes this makes the test fail, and the documentation is then
    /// to be read again.
    #[test]
    fn libdeflate_takes_streams_zlib_rs_refuses() {
        // A fixed-Huffman block: 'a', then length symbol 286 (never valid) at distance 1, then the end.
        let mut fixed = Bits(Vec::new(), 0);
        fixed.put(1, 1); // BFINAL
        fixed.put(1, 2); // BTYPE 01, fixed codes
        fixed.code(0x30 + u32::from(b'a'), 8);
        fixed.code(0xc0 + (286 - 280), 8);
        fixed.code(0, 5); // distance code 0: distance 1
        fixed.code(0, 7); // end of block

        // A dynamic block declaring 32 distance codes (at most 30 are valid).
        let mut dynamic = Bits(Vec::new(), 0);
        dynamic.put(1, 1); // BFINAL
        dynamic.put(2, 2); // BTYPE 10, dynamic codes
        dynamic.put(0, 5); // HLIT: 257
        dynamic.put(31, 5); // HDIST: 32
        dynamic.put(14, 4); // HCLEN: 18 code-length codes
        for sym in [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1] {
            dynamic.put(u32::from(sym == 18 || sym == 1), 3); // 1 -> '0', 18 -> '1'
        }
        let zeros = |b: &mut Bits, n: u32| {
            b.code(1, 1);
            b.put(n - 11, 7);
        };
        zeros(&mut dynamic, 97); // lengths of 0..=96
        dynamic.code(0, 1); // 'a' (97): length 1
        zeros(&mut dynamic, 138); // 98..=235
        zeros(&mut dynamic, 20); // 236..=255
        dynamic.code(0, 1); // end of block (256): length 1
        zeros(&mut dynamic, 32); // no distance code used
        for _ in 0..3 {
            dynamic.code(0, 1); // 'a'
        }
        dynamic.code(1, 1); // end of block
        for (stream, plain) in [(fixed.0, vec![b'a'; 259]), (dynamic.0, b"aaa".to_vec())] {
            let gz = member_of(&stream, &plain);
            let mut out = Vec::new();
            assert_eq!(gunzip(&gz, &mut Inflaters::new(), &mut out), Ok(()));
            assert_eq!(out, plain);
            assert_eq!(
                gunzip_members(&gz, &mut Decompress::new(false), &mut out),
                Err(SubscriptionError::Gzip("corrupt deflate stream"))
            );
        }
    }

    /// A trailer that claims more than the cap makes neither path reserve past it (from the review:
    /// without `OneMember::inflate`'s cap check the buffer took 4 GiB).
    #[test]
    fn a_huge_trailer_reserves_no_more_than_the_cap() {
        let good = gzip(b"{}");
        for lie in [u32::MAX, MAX_INFLATED_BYTES as u32 + 1] {
            let mut gz = good.clone();
            let n = gz.len();
            gz[n - 4..].copy_from_slice(&lie.to_le_bytes());
            let mut out = Vec::new();
            assert_eq!(
                gunzip(&gz, &mut Inflaters::new(), &mut out),
                Err(SubscriptionError::Gzip("length mismatch"))
            );
            assert!(
                out.capacity() <= MAX_INFLATED_BYTES + 1,
                "{}",
                out.capacity()
            );
        }
    }
}
