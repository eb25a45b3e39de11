//! The inflated payload's JSON, read in place: strings borrowed when they have no escapes, unescaped
//! into one arena otherwise; a message's end found 64 bytes at a time with its escapes left in (for a
//! long record message, with the ends of its bodies: [`message_end`]).

use super::{EventSpans, Span};
use crate::records::scan::{decode_escape, scan_escaped_message, ScanError, Scanner};
use crate::records::simd::{self, BlockScan, Classify};

pub(super) const FIELDS: [&str; 4] = ["messageType", "owner", "logGroup", "logStream"];

/// The unescaped-message arena: `buf` is sized once per payload to hold every string of it (an
/// unescaped string is never longer than its escaped text) plus slack, so unescaping writes into it
/// without growth checks; `len` is how much of it is in use.
#[derive(Default)]
pub(super) struct Arena {
    pub(super) buf: Vec<u8>,
    pub(super) len: usize,
}

/// Slack after the payload's length in the arena: the copy loop stores 8 bytes at a time.
pub(super) const ARENA_SLACK: usize = 16;

impl Arena {
    pub(super) fn reset(&mut self, json_len: usize) {
        self.len = 0;
        let need = json_len + ARENA_SLACK;
        if self.buf.len() < need {
            // Zeroed by the allocator (fresh pages), not by a fill loop.
            self.buf = vec![0; need];
        }
    }
}

/// Reads the string at the scanner: borrowed from `text` when it has no escapes, else unescaped into
/// the arena.
pub(super) fn string_span(
    sc: &mut Scanner<'_>,
    text: &str,
    arena: &mut Arena,
) -> Result<Span, ScanError> {
    sc.ws();
    let b = text.as_bytes();
    let start = sc.pos + 1; // after the opening quote (peek_kind saw it)
    let end = memchr::memchr2(b'"', b'\\', &b[start..]).ok_or(ScanError::Eof)? + start;
    if b[end] == b'"' {
        sc.pos = end + 1;
        return Ok(Span::Json(start, end));
    }
    let a0 = arena.len;
    // The text before the first backslash has neither quote nor backslash: copy it, checking only
    // for raw control characters.
    if let Some(i) = b[start..end].iter().position(|&c| c < 0x20) {
        return Err(ScanError::Unexpected {
            byte: b[start + i],
            at: start + i,
        });
    }
    let n = end - start;
    arena.buf[a0..a0 + n].copy_from_slice(&b[start..end]);
    let (after, o) = unescape_into(b, end, &mut arena.buf, a0 + n)?;
    sc.pos = after;
    arena.len = o;
    Ok(Span::Arena(a0, o))
}

/// Finds the end of the message string at the scanner, leaving its escapes in: a span of the JSON text,
/// escaped when the string holds a backslash. Raw control characters are rejected, as JSON requires;
/// the escapes themselves are checked when the message is read.
///
/// A message is JSON inside a JSON string, so escapes are dense (every quote of the record is `\"`):
/// rather than stopping at each one, the text is classified 64 bytes at a time into bit masks of
/// backslashes, quotes and control bytes (SIMD: [`crate::records::simd`]), and the backslash runs that escape a
/// character are found with carry arithmetic (the technique of simdjson's string scanner). The first
/// quote that is not escaped ends the string.
pub(super) fn message_span(sc: &mut Scanner<'_>, text: &str) -> Result<Span, ScanError> {
    sc.ws();
    let b = text.as_bytes();
    let start = sc.pos + 1; // after the opening quote (peek_kind saw it)
    let (end, any_backslash) = simd::dispatch(MessageEnd { b, start })?;
    sc.pos = end + 1;
    Ok(if any_backslash {
        Span::Escaped(start, end)
    } else {
        Span::Json(start, end)
    })
}

/// A log event as CloudWatch Logs writes it — `{"id":"<digits>","timestamp":<digits>,"message":"…"}`,
/// compact, members in that order — read at `pos` without the general scanner: its spans (the
/// message's end found by the same block scan as [`message_span`]) and the position after it. `None`
/// for anything else (other order, whitespace, escapes in the id, a timestamp beyond `i64`, an error of
/// any kind): the general scanner then reads the event from `pos`, and for what this takes on it reads
/// the same spans.
pub(super) fn compact_event(
    b: &[u8],
    pos: usize,
    ends: &mut Vec<(u32, u32)>,
) -> Option<(EventSpans, usize)> {
    const ID: &[u8] = b"{\"id\":\"";
    const TIMESTAMP: &[u8] = b"\",\"timestamp\":";
    const MESSAGE: &[u8] = b",\"message\":\"";
    let rest = b.get(pos..)?;
    if !rest.starts_with(ID) {
        return None;
    }
    // The id: up to the first quote, with no backslash before it (a string without escapes).
    let id_start = pos + ID.len();
    let id_end = simd::find_byte(b, id_start, b'"')?;
    if simd::find_byte(&b[..id_end], id_start, b'\\').is_some() {
        return None;
    }
    if !b[id_end..].starts_with(TIMESTAMP) {
        return None;
    }
    // The timestamp: digits without a leading zero, within i64, then the comma.
    let t_start = id_end + TIMESTAMP.len();
    let mut i = t_start;
    let mut t: u64 = 0;
    while let Some(&d) = b.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        t = t.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        i += 1;
    }
    if i == t_start || (i - t_start > 1 && b[t_start] == b'0') {
        return None;
    }
    let timestamp = i64::try_from(t).ok()?;
    if !b[i..].starts_with(MESSAGE) {
        return None;
    }
    let start = i + MESSAGE.len();
    let before = ends.len();
    let (end, any_backslash) = message_end(b, start, ends)?;
    if b.get(end + 1) != Some(&b'}') {
        ends.truncate(before);
        return None;
    }
    let message = if any_backslash {
        Span::Escaped(start, end)
    } else {
        Span::Json(start, end)
    };
    let ev = EventSpans {
        id: Span::Json(id_start, id_end),
        timestamp,
        message,
        ends: (before as u32, ends.len() as u32),
    };
    Some((ev, end + 2))
}

/// A message's end in a compact event, from `start` (just inside its opening quote): the position of
/// its closing quote and whether a backslash came before it, as [`MessageEnd`] gives them. A message
/// longer than [`SHORT_MESSAGE`] that holds a record as Bedrock writes it (bodies and all) is read by
/// [`scan_escaped_message`] instead, which also pushes onto `ends` where the record's members and
/// their members end — the bodies — so the record parser does not scan them a second time. Short
/// messages (a record without bodies) keep the plain scan, which costs less per byte. A long message
/// the record scan does not take on (one that does not open with `{`, a message escape such as `\t`
/// between tokens, a control byte) is scanned again from its start by the plain scan: at most about
/// twice its bytes, which a forged message can force, but never more.
fn message_end(b: &[u8], start: usize, ends: &mut Vec<(u32, u32)>) -> Option<(usize, bool)> {
    // The plain scan's answer within the first bytes is its answer for the whole text: the end is
    // the first quote no backslash escapes, and a control byte is one wherever the text is cut.
    let short = &b[..b.len().min(start.saturating_add(SHORT_MESSAGE))];
    match simd::dispatch(MessageEnd { b: short, start }) {
        Ok(found) => return Some(found),
        Err(ScanError::Eof) if short.len() < b.len() => {}
        Err(_) => return None,
    }
    if let Some(end) = scan_escaped_message(b, start, ends) {
        return Some((end, simd::find_byte(&b[..end], start, b'\\').is_some()));
    }
    simd::dispatch(MessageEnd { b, start }).ok()
}

/// Messages shorter than this are ended by the plain scan alone ([`message_end`]). 32 blocks of 64
/// bytes: the prefix is scanned in the blocks a scan of the whole text uses.
pub(super) const SHORT_MESSAGE: usize = 2048;

/// The scan of [`message_span`] from `start` (just inside the opening quote): the position of the
/// closing quote and whether a backslash came before it.
pub(super) struct MessageEnd<'b> {
    b: &'b [u8],
    start: usize,
}

impl BlockScan for MessageEnd<'_> {
    type Out = Result<(usize, bool), ScanError>;

    #[inline(always)]
    fn run<C: Classify>(self, c: C) -> Self::Out {
        let b = self.b;
        let mut pos = self.start;
        let mut next_escaped = 0u64;
        let mut any_backslash = false;
        // Whole blocks without the closing quote: the common case, without the masking by `valid`
        // and the cut at the end that the block holding the end needs (the step below, the same
        // test on these blocks, where `valid` and the part before the end are every byte).
        while let Some(full) = b.get(pos..pos + 64) {
            let m = c.classify(full.try_into().expect("64 bytes"));
            let mut after = next_escaped;
            let escaped = escaped_chars(m.backslash, &mut after);
            if m.quote & !escaped != 0 {
                break; // the end is in this block: the step below reads it again
            }
            next_escaped = after;
            if m.control != 0 {
                let at = pos + m.control.trailing_zeros() as usize;
                return Err(ScanError::Unexpected { byte: b[at], at });
            }
            any_backslash |= m.backslash != 0;
            pos += 64;
        }
        let mut pad = [b' '; 64];
        loop {
            // The 64 bytes at `pos`, padded with spaces past the end of the text; `valid`: those in it.
            let (block, valid): (&[u8; 64], u64) = match b.get(pos..pos + 64) {
                Some(full) => (full.try_into().expect("64 bytes"), u64::MAX),
                None => {
                    let rest = b.get(pos..).unwrap_or_default();
                    pad[..rest.len()].copy_from_slice(rest);
                    (&pad, (1u64 << rest.len()) - 1)
                }
            };
            let m = c.classify(block);
            let escaped = escaped_chars(m.backslash & valid, &mut next_escaped);
            let ends = m.quote & !escaped & valid;
            let before = if ends != 0 {
                (1u64 << ends.trailing_zeros()) - 1
            } else {
                valid
            };
            let ctrl = m.control & before;
            if ctrl != 0 {
                let at = pos + ctrl.trailing_zeros() as usize;
                return Err(ScanError::Unexpected { byte: b[at], at });
            }
            any_backslash |= m.backslash & before != 0;
            if ends != 0 {
                return Ok((pos + ends.trailing_zeros() as usize, any_backslash));
            }
            if valid != u64::MAX {
                return Err(ScanError::Eof);
            }
            pos += 64;
        }
    }
}

/// The characters escaped by a backslash (the one after each odd-length run of backslashes), given the
/// block's backslashes; `next_escaped` carries whether the next block's first character is escaped.
#[inline(always)]
pub(super) fn escaped_chars(backslash: u64, next_escaped: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let backslash = backslash & !*next_escaped;
    let follows_escape = (backslash << 1) | *next_escaped;
    let odd_starts = backslash & !EVEN & !follows_escape;
    let (even_starts, overflow) = odd_starts.overflowing_add(backslash);
    *next_escaped = u64::from(overflow);
    let invert = even_starts << 1;
    (EVEN ^ invert) & follows_escape
}

/// Bytes a JSON string body cannot hold raw or that end a run: `"`, `\\` and controls (< 0x20).
#[inline(always)]
pub(super) fn special_byte(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// A mask whose lowest set bit (little-endian byte order) marks the first special byte of `w`, zero
/// when there is none. Bits above the first match may be spurious (borrows), never below it.
#[inline(always)]
pub(super) fn special_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = zero(w ^ (ONES * b'"' as u64));
    let backslash = zero(w ^ (ONES * b'\\' as u64));
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    (quote | backslash | control) & HIGH
}

/// Copies the run of ordinary bytes at `b[pos..]` to `out[o..]`, 8 bytes at a time (stores may run up
/// to 8 bytes past the run: later writes overwrite them); returns the positions of the first special
/// byte (or the end of `b`) and of the output after the run. Needs `o <= pos` and
/// `out.len() >= b.len() + ARENA_SLACK`.
#[inline(always)]
pub(super) fn copy_run(b: &[u8], out: &mut [u8], mut pos: usize, mut o: usize) -> (usize, usize) {
    while let Some(chunk) = b.get(pos..pos + 8) {
        out[o..o + 8].copy_from_slice(chunk);
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let m = special_mask(w);
        if m != 0 {
            let k = (m.trailing_zeros() / 8) as usize;
            return (pos + k, o + k);
        }
        pos += 8;
        o += 8;
    }
    while pos < b.len() && !special_byte(b[pos]) {
        out[o] = b[pos];
        pos += 1;
        o += 1;
    }
    (pos, o)
}

/// Unescapes the JSON string body from `pos` (inside the string) into `out` from `o`; returns the
/// position after the closing quote and the output position after the string. Raw control
/// characters are rejected, as JSON requires.
///
/// Needs `o <= pos` and `out.len() >= b.len() + ARENA_SLACK`: unescaping never writes more bytes than
/// it reads, so the output stays behind the input and within `out`.
pub(super) fn unescape_into(
    b: &[u8],
    mut pos: usize,
    out: &mut [u8],
    mut o: usize,
) -> Result<(usize, usize), ScanError> {
    loop {
        (pos, o) = copy_run(b, out, pos, o);
        let Some(&c) = b.get(pos) else {
            return Err(ScanError::Eof);
        };
        if c == b'"' {
            return Ok((pos + 1, o));
        }
        if c != b'\\' {
            return Err(ScanError::Unexpected { byte: c, at: pos });
        }
        let at = pos;
        if b.get(pos + 1) == Some(&b'"') {
            // The common escape: a record is JSON inside this string.
            out[o] = b'"';
            o += 1;
            pos += 2;
            continue;
        }
        let (len, cp) = decode_escape(b, at)?;
        pos += len;
        if cp < 0x80 {
            out[o] = cp as u8;
            o += 1;
            continue;
        }
        let ch = char::from_u32(cp).ok_or(ScanError::Escape(at))?;
        o += ch.encode_utf8(&mut out[o..]).len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::scan::message_end_by_bytes;

    /// Messages for the end scan: runs of backslashes of every length across 64-byte block boundaries,
    /// escaped and unescaped quotes, multi-byte characters, the odd control byte; plus adversarial
    /// ones: a quote, a backslash or a control byte at every position around the block edges, and
    /// texts that end inside an escape.
    fn end_scan_inputs() -> Vec<Vec<u8>> {
        let alphabet = [
            b'a', b'a', b'a', b'a', b'a', b'a', b'\\', b'\\', b'"', b'{', 0xc3,
        ];
        let mut rng = crate::test_support::Rng(0x9e37_79b9_7f4a_7c15u64);
        let mut next = |n: u64| rng.below(n);
        let mut out = Vec::new();
        for round in 0..20_000 {
            let len = next(if round % 10 == 0 { 600 } else { 200 }) as usize;
            let mut body: Vec<u8> = vec![b'"'];
            while body.len() < len {
                let c = match next(300) {
                    0 => b'\n',
                    1 => 0x1f,
                    _ => alphabet[next(alphabet.len() as u64) as usize],
                };
                let run = if c == b'\\' { 1 + next(6) as usize } else { 1 };
                if c == b'"' && next(25) != 0 {
                    // Mostly an escaped quote (an odd run of backslashes before it): long strings.
                    body.extend(std::iter::repeat_n(b'\\', 2 * next(3) as usize + 1));
                }
                body.extend(std::iter::repeat_n(c, run));
                if c == 0xc3 {
                    body.push(0xa9);
                }
            }
            out.push(body);
        }
        for len in [62usize, 63, 64, 65, 66, 127, 128, 129, 130, 191, 192, 193] {
            for at in len.saturating_sub(4)..len {
                for special in [
                    &b"\""[..],
                    b"\\\"",
                    b"\\\\\"",
                    b"\x01",
                    b"\x7f",
                    b"\\",
                    b"\\\\",
                ] {
                    let mut body = vec![b'x'; len];
                    body[0] = b'"';
                    let at = at.max(1);
                    body.truncate(at);
                    body.extend_from_slice(special);
                    body.extend(std::iter::repeat_n(b'y', 70));
                    out.push(body.clone());
                    body.truncate(at + special.len()); // ends right after the special bytes
                    out.push(body);
                }
            }
        }
        out
    }

    /// The end scan with classifier `c`, in the shape the reference gives.
    fn end_with<C: Classify>(c: C, body: &[u8]) -> Option<(usize, bool)> {
        MessageEnd { b: body, start: 1 }.run(c).ok()
    }

    #[test]
    fn message_ends_found_by_block_masks_equal_a_byte_by_byte_scan() {
        let mut checked = 0;
        for body in end_scan_inputs() {
            let want = message_end_by_bytes(&body, 1);
            // Every classifier this CPU has, whatever the input (UTF-8 or not).
            assert_eq!(
                end_with(crate::records::simd::Portable, &body),
                want,
                "portable {body:?}"
            );
            assert_eq!(
                end_with(crate::records::simd::Native::default(), &body),
                want,
                "native {body:?}"
            );
            #[cfg(target_arch = "x86_64")]
            if let Some(avx2) = crate::records::simd::Avx2::detect() {
                assert_eq!(end_with(avx2, &body), want, "avx2 {body:?}");
            }
            // And the decoder's own entry point (dispatched) on text.
            let Ok(text) = std::str::from_utf8(&body) else {
                continue;
            };
            let mut sc = Scanner::new(text);
            let got = message_span(&mut sc, text);
            match (want, got) {
                (Some((end, escaped)), Ok(span)) => {
                    let (a, z, e) = match span {
                        Span::Json(a, z) => (a, z, false),
                        Span::Escaped(a, z) => (a, z, true),
                        _ => panic!("{span:?}"),
                    };
                    assert_eq!((a, z, e, sc.pos), (1, end, escaped, end + 1), "{text:?}");
                    checked += 1;
                }
                (None, Err(_)) => {}
                (want, got) => panic!("{text:?}: want {want:?}, got {got:?}"),
            }
        }
        assert!(checked > 5_000, "{checked}");
    }

    /// [`message_end`] (the plain scan of the first [`SHORT_MESSAGE`] bytes, then the record scan,
    /// then the plain scan again) gives what the plain scan of the whole text gives, on long
    /// `{`-messages with a special byte put around the prefix's cut and around the record's end; and
    /// each end it keeps is the container skip's.
    #[test]
    fn long_message_ends_equal_the_plain_scans() {
        let mut checked = (0, 0);
        let specials: [&[u8]; 9] = [
            b"\"", b"\\\"", b"\\\\\"", b"\x01", b"\\", b"\\\\", b"}", b"{", b"\\\\\\",
        ];
        for filler_len in [
            2040usize, 2045, 2046, 2047, 2048, 2049, 2050, 2100, 2111, 2112, 2113,
        ] {
            for at_rel in [2044usize, 2045, 2046, 2047, 2048, 2049, 2050, 10, 0] {
                for sp in specials {
                    for tail in [&b"\"},{\"id\":\"2\"}"[..], b"\" },", b"", b"\\\"x\"}"] {
                        // "{\"a\":[\"xxxx...\"]}" + tail, start = 1
                        let mut body = b"\"{\\\"a\\\":[\\\"".to_vec();
                        while body.len() < filler_len {
                            body.push(b'x');
                        }
                        body.extend_from_slice(b"\\\"]}");
                        let at = (1 + at_rel).min(body.len());
                        let mut b = body[..at].to_vec();
                        b.extend_from_slice(sp);
                        b.extend_from_slice(&body[at..]);
                        b.extend_from_slice(tail);
                        let want = simd::dispatch(MessageEnd { b: &b, start: 1 }).ok();
                        let mut ends = vec![(9, 9)];
                        let got = message_end(&b, 1, &mut ends);
                        assert_eq!(got, want, "{}", String::from_utf8_lossy(&b));
                        assert_eq!(got, message_end_by_bytes(&b, 1));
                        if let Some((end, _)) = got {
                            for &(p, e) in &ends[1..] {
                                assert_eq!(
                                    crate::records::scan::skip_escaped_container(
                                        &b[1..end],
                                        p as usize
                                    ),
                                    Some(e as usize)
                                );
                                checked.1 += 1;
                            }
                        } else {
                            assert_eq!(ends, [(9, 9)]);
                        }
                        checked.0 += 1;
                    }
                }
            }
        }
        assert!(checked.0 > 1000 && checked.1 > 100, "{checked:?}");
    }
}
