//! A small pull scanner over one JSON text. It reads the few values cost needs and skips everything
//! else — prompt and response bodies of up to 100 KB — without building a tree or allocating: strings
//! are skipped with `memchr`, containers by bracket matching. Skipped scalars are not validated beyond
//! their extent; everything that is read is validated fully.
//!
//! **Escaped mode** (`Scanner::escaped`, `ESC = true`) scans a JSON text *as it sits inside a JSON
//! string*: the body of a CloudWatch Logs `message`, where each `"` of the record is written `\"` and
//! each `\` is written `\\`. Cost fields are plain ASCII, so they read the same either way, and bodies
//! are skipped in place: the ingest path never copies a message out to unescape it. Anything the mode
//! does not take on (a `\u` escape that encodes a quote or backslash, escaped whitespace other than
//! `\n`, `\r`, `\t` between tokens) is an error, and the caller falls back to unescaping the message and
//! scanning it normally ([`crate::records::record::parse_escaped`]). So escaped mode may give up where the
//! normal mode would not, but when it succeeds it reads exactly what the normal mode reads from the
//! unescaped text (a differential test and the fuzz harness check this).
//!
//! **One pass over the bodies.** A message long enough to hold bodies is read once: the decoder finds
//! its end with the same block scan that skips a container (`scan_escaped_message`), and on the way
//! keeps where the record's members, theirs and the bodies' members end (`ContainerEnds`). The
//! scanner then skips a container that starts at one of those by a lookup; any other it scans as
//! before. The ends are the ones its own skip would find, so the record read is the same.

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("unexpected end of input")]
    Eof,
    #[error("unexpected byte {byte:#04x} at offset {at}")]
    Unexpected { byte: u8, at: usize },
    #[error("bad string escape at offset {0}")]
    Escape(usize),
    #[error("number out of range at offset {0}")]
    NumberRange(usize),
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// Levels of a skipped value whose bracket kinds are checked; deeper levels are only counted, so a
/// deeply nested body (which metering never reads) cannot make its record unreadable — and unmetered.
const MAX_DEPTH: usize = 512;

/// A scanner over `text`; `ESC`: `text` is the body of a JSON string holding the JSON (see the module
/// documentation).
pub struct Scanner<'a, const ESC: bool = false> {
    /// The text (slices are cut from it at ASCII delimiters, so no UTF-8 check is needed again)…
    t: &'a str,
    /// …and its bytes.
    s: &'a [u8],
    pub pos: usize,
    /// Escaped mode: the ends of containers the decoder's scan of the message already found
    /// ([`ContainerEnds`]); empty otherwise.
    ends: ContainerEnds<'a>,
}

/// Where some containers of an escaped message end, found by the decoder's scan of the message
/// ([`scan_escaped_message`]): `(start, end)` pairs, positions in the message, sorted by start; the
/// end is the position after the closing bracket, as [`skip_escaped_container`] gives it.
pub(crate) type ContainerEnds<'a> = &'a [(u32, u32)];

/// What the next value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl<'a> Scanner<'a, false> {
    pub fn new(s: &'a str) -> Self {
        Scanner {
            t: s,
            s: s.as_bytes(),
            pos: 0,
            ends: &[],
        }
    }
}

impl<'a> Scanner<'a, true> {
    /// A scanner over the body of a JSON string (escapes not decoded) that holds the JSON text.
    pub fn escaped(s: &'a str) -> Self {
        Scanner::escaped_with_ends(s, &[])
    }

    /// [`Scanner::escaped`], with the ends of containers already found in `s` (which must be
    /// [`scan_escaped_message`]'s for this text): a container that starts at one of them is skipped
    /// by a lookup instead of a scan.
    pub(crate) fn escaped_with_ends(s: &'a str, ends: ContainerEnds<'a>) -> Self {
        Scanner {
            t: s,
            s: s.as_bytes(),
            pos: 0,
            ends,
        }
    }
}

/// An escape that escaped mode does not take on (the caller falls back to unescaping).
#[inline]
fn give_up(at: usize) -> ScanError {
    ScanError::Escape(at)
}

impl<'a, const ESC: bool> Scanner<'a, ESC> {
    /// `text[start..end]`. The scanner only cuts at ASCII delimiters, so both ends are char boundaries
    /// and slicing the `&str` costs a boundary check, not a UTF-8 validation of the slice.
    #[inline]
    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.t.get(start..end).unwrap_or_default()
    }

    #[inline]
    fn unexpected(&self) -> ScanError {
        match self.s.get(self.pos) {
            Some(&byte) => ScanError::Unexpected { byte, at: self.pos },
            None => ScanError::Eof,
        }
    }

    /// In escaped mode: is there an escaped whitespace character (`\n`, `\r`, `\t`) at `i`?
    #[inline]
    fn escaped_ws_at(&self, i: usize) -> bool {
        ESC && self.s.get(i) == Some(&b'\\')
            && matches!(self.s.get(i + 1), Some(b'n' | b'r' | b't'))
    }

    /// In escaped mode: is there a (structural) quote, written `\"`, at `i`?
    #[inline]
    fn quote_at(&self, i: usize) -> bool {
        if ESC {
            self.s.get(i) == Some(&b'\\') && self.s.get(i + 1) == Some(&b'"')
        } else {
            self.s.get(i) == Some(&b'"')
        }
    }

    #[inline]
    pub fn ws(&mut self) {
        loop {
            match self.s.get(self.pos) {
                Some(b' ') => self.pos += 1,
                Some(b'\n' | b'\r' | b'\t') if !ESC => self.pos += 1,
                Some(b'\\') if self.escaped_ws_at(self.pos) => self.pos += 2,
                _ => return,
            }
        }
    }

    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.pos >= self.s.len()
    }

    #[inline]
    fn eat(&mut self, b: u8) -> Result<(), ScanError> {
        self.ws();
        if self.s.get(self.pos) == Some(&b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// The opening quote of a string.
    #[inline]
    fn open_quote(&mut self) -> Result<(), ScanError> {
        self.ws();
        if self.quote_at(self.pos) {
            self.pos += if ESC { 2 } else { 1 };
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    pub fn peek_kind(&mut self) -> Result<ValueKind, ScanError> {
        self.ws();
        match self.s.get(self.pos) {
            Some(b'{') => Ok(ValueKind::Object),
            Some(b'[') => Ok(ValueKind::Array),
            Some(b'"') if !ESC => Ok(ValueKind::String),
            Some(b'\\') if ESC && self.quote_at(self.pos) => Ok(ValueKind::String),
            Some(b'-' | b'0'..=b'9') => Ok(ValueKind::Number),
            Some(b't' | b'f') => Ok(ValueKind::Bool),
            Some(b'n') => Ok(ValueKind::Null),
            _ => Err(self.unexpected()),
        }
    }

    /// Iterates an object's members: `f(scanner, key)` must consume the value.
    pub fn object(
        &mut self,
        mut f: impl FnMut(&mut Self, Cow<'a, str>) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.eat(b'{')?;
        self.ws();
        if self.s.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.eat(b':')?;
            f(self, key)?;
            self.ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    /// Iterates an array's elements: `f(scanner)` must consume the element.
    pub fn array(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.eat(b'[')?;
        self.ws();
        if self.s.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            f(self)?;
            self.ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    /// A string value, unescaped; borrowed when it has no escapes.
    pub fn string(&mut self) -> Result<Cow<'a, str>, ScanError> {
        self.open_quote()?;
        if ESC {
            return self.string_escaped();
        }
        let start = self.pos;
        let end = memchr::memchr2(b'"', b'\\', &self.s[start..]).ok_or(ScanError::Eof)? + start;
        if self.s[end] == b'"' {
            self.pos = end + 1;
            return Ok(Cow::Borrowed(self.slice(start, end)));
        }
        let mut out = Vec::with_capacity(end - start + 16);
        out.extend_from_slice(&self.s[start..end]);
        self.pos = end;
        loop {
            match self.s.get(self.pos) {
                None => return Err(ScanError::Eof),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(
                        String::from_utf8(out).map_err(|_| ScanError::Escape(self.pos))?,
                    ));
                }
                Some(b'\\') => {
                    let at = self.pos;
                    let (len, cp) = decode_escape(self.s, at)?;
                    self.pos += len;
                    let c = char::from_u32(cp).ok_or(ScanError::Escape(at))?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(_) => {
                    let rest = &self.s[self.pos..];
                    let n = memchr::memchr2(b'"', b'\\', rest).ok_or(ScanError::Eof)?;
                    out.extend_from_slice(&rest[..n]);
                    self.pos += n;
                }
            }
        }
    }

    /// Escaped mode, after the opening `\"`: the string's value. Borrowed when the text up to the
    /// closing `\"` holds no other backslash (every cost field); otherwise its escaped text is decoded
    /// twice (the message's escapes, then the record's).
    fn string_escaped(&mut self) -> Result<Cow<'a, str>, ScanError> {
        let start = self.pos;
        let first = find_backslash(self.s, start).ok_or(ScanError::Eof)?;
        if self.s.get(first + 1) == Some(&b'"') {
            self.pos = first + 2;
            return Ok(Cow::Borrowed(self.slice(start, first)));
        }
        self.skip_string_body()?;
        let raw = self.slice(start, self.pos - 2);
        // `raw` holds no raw quote (it is inside the message string): decode the message's escapes…
        let quoted = format!("\"{raw}\"");
        let inner = Scanner::new(&quoted).string()?;
        // …then the record's.
        let quoted = format!("\"{inner}\"");
        let value = Scanner::new(&quoted).string()?.into_owned();
        Ok(Cow::Owned(value))
    }

    /// A non-negative integer that fits in u64 (`12`, also `12.0` and `1.2e3` when integral).
    pub fn u64(&mut self) -> Result<u64, ScanError> {
        self.ws();
        let start = self.pos;
        let s = self.s;
        let mut i = start;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(self.unexpected());
        }
        let int = &s[start..i];
        if int.len() > 1 && int[0] == b'0' {
            return Err(ScanError::Unexpected {
                byte: b'0',
                at: start,
            });
        }
        let mut v: u64 = 0;
        for &d in int {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or(ScanError::NumberRange(start))?;
        }
        // An integral value written with a fraction or exponent: accept when exact.
        if matches!(s.get(i), Some(b'.' | b'e' | b'E')) {
            let mut j = i;
            while j < s.len() && matches!(s[j], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                j += 1;
            }
            let text = self.slice(start, j);
            let f: f64 = text
                .parse()
                .map_err(|_| ScanError::Unexpected { byte: s[i], at: i })?;
            self.pos = j;
            if !(f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 9.007_199_254_740_992e15) {
                return Err(ScanError::NumberRange(start));
            }
            return Ok(f as u64);
        }
        self.pos = i;
        self.check_delimiter().map(|_| v)
    }

    fn check_delimiter(&self) -> Result<(), ScanError> {
        match self.s.get(self.pos) {
            None | Some(b',' | b'}' | b']' | b' ') => Ok(()),
            Some(b'\n' | b'\r' | b'\t') if !ESC => Ok(()),
            Some(b'\\') if self.escaped_ws_at(self.pos) => Ok(()),
            Some(&byte) => Err(ScanError::Unexpected { byte, at: self.pos }),
        }
    }

    /// `null` → true (consumed); anything else → false (not consumed).
    pub fn null(&mut self) -> bool {
        self.ws();
        if self.s[self.pos..].starts_with(b"null") {
            self.pos += 4;
            true
        } else {
            false
        }
    }

    /// Skips any value. Strings are skipped with memchr; containers by matching brackets.
    pub fn skip(&mut self) -> Result<(), ScanError> {
        self.ws();
        let s = self.s;
        match s.get(self.pos) {
            None => Err(ScanError::Eof),
            Some(b'"') if !ESC => {
                self.pos += 1;
                self.skip_string_body()
            }
            Some(b'\\') if ESC && self.quote_at(self.pos) => {
                self.pos += 2;
                self.skip_string_body()
            }
            Some(b'{' | b'[') => self.skip_container(),
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                let n = s[self.pos..]
                    .iter()
                    .position(|&b| match b {
                        b',' | b'}' | b']' | b' ' => true,
                        b'\n' | b'\r' | b'\t' => !ESC,
                        b'\\' => ESC,
                        _ => false,
                    })
                    .unwrap_or(s.len() - self.pos);
                let tok = &s[self.pos..self.pos + n];
                let ok = matches!(tok, b"true" | b"false" | b"null")
                    || (tok[0] != b't'
                        && tok[0] != b'f'
                        && tok[0] != b'n'
                        && tok
                            .iter()
                            .all(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')));
                if !ok {
                    return Err(self.unexpected());
                }
                self.pos += n;
                if ESC && s.get(self.pos) == Some(&b'\\') && !self.escaped_ws_at(self.pos) {
                    return Err(self.unexpected());
                }
                Ok(())
            }
            Some(_) => Err(self.unexpected()),
        }
    }

    /// After the opening quote: to just past the closing quote.
    #[inline]
    fn skip_string_body(&mut self) -> Result<(), ScanError> {
        if ESC {
            return self.skip_string_body_escaped();
        }
        let s = self.s;
        loop {
            let n = memchr::memchr2(b'"', b'\\', &s[self.pos..]).ok_or(ScanError::Eof)?;
            self.pos += n;
            if s[self.pos] == b'"' {
                self.pos += 1;
                return Ok(());
            }
            self.pos += 2; // backslash and the escaped byte
            if self.pos > s.len() {
                return Err(ScanError::Eof);
            }
        }
    }

    /// Escaped mode, after the opening `\"`: to just past the closing `\"`. In the message's text a
    /// record string ends at the first `\"` that does not follow a record-level backslash (`\\`), and
    /// every other `"` of it is written `\\\"`. Every escape of the message is checked as decoding the
    /// message would check it, so a string skipped here is one the decoded text also has.
    #[inline]
    fn skip_string_body_escaped(&mut self) -> Result<(), ScanError> {
        let s = self.s;
        loop {
            let p = find_backslash(s, self.pos).ok_or(ScanError::Eof)?;
            match s.get(p + 1) {
                None => return Err(ScanError::Eof),
                // The closing quote.
                Some(b'"') => {
                    self.pos = p + 2;
                    return Ok(());
                }
                // A record-level backslash: the next character of the record is escaped, whether the
                // message writes it raw (`n` of `\n`, `u` of `\u00e9`: scanned on as ordinary text)
                // or as an escape of its own (`\"`, `\\`, `\/`, `\uXXXX`…).
                Some(b'\\') => {
                    self.pos = if s.get(p + 2) == Some(&b'\\') {
                        p + 2 + decode_escape(s, p + 2)?.0
                    } else {
                        p + 2
                    };
                }
                // A character the message escaped. As a `\u` escape it could be a record-level quote or
                // backslash, which this mode does not take on; otherwise it is ordinary text.
                Some(_) => {
                    let (len, c) = decode_escape(s, p)?;
                    if len > 2 && (c == 0x22 || c == 0x5c) {
                        return Err(give_up(p));
                    }
                    self.pos = p + len;
                }
            }
            if self.pos > s.len() {
                return Err(ScanError::Eof);
            }
        }
    }

    fn skip_container(&mut self) -> Result<(), ScanError> {
        if ESC {
            if let Ok(i) = self
                .ends
                .binary_search_by_key(&self.pos, |&(start, _)| start as usize)
            {
                self.pos = self.ends[i].1 as usize;
                return Ok(());
            }
            if let Some(end) = skip_escaped_container(self.s, self.pos) {
                self.pos = end;
                return Ok(());
            }
        }
        self.skip_container_general()
    }

    /// [`Scanner::skip_container`] a byte at a time: the reference of the block scan, and what decides
    /// (and reports) whatever the block scan does not take on.
    fn skip_container_general(&mut self) -> Result<(), ScanError> {
        let s = self.s;
        // The closers expected, innermost last.
        let mut stack: [u8; MAX_DEPTH] = [0; MAX_DEPTH];
        let mut depth = 0usize;
        // Open levels beyond the stack: counted (no recursion, no allocation), kinds not checked.
        let mut beyond = 0usize;
        while self.pos < s.len() {
            let b = s[self.pos];
            self.pos += 1;
            match b {
                b'"' if !ESC => self.skip_string_body()?,
                b'\\' if ESC => match s.get(self.pos) {
                    Some(b'"') => {
                        self.pos += 1;
                        self.skip_string_body()?
                    }
                    Some(b'n' | b'r' | b't') => self.pos += 1,
                    _ => return Err(give_up(self.pos - 1)),
                },
                b'{' | b'[' => {
                    if depth == MAX_DEPTH {
                        beyond += 1;
                    } else {
                        stack[depth] = if b == b'{' { b'}' } else { b']' };
                        depth += 1;
                    }
                }
                b'}' | b']' if beyond > 0 => beyond -= 1,
                b'}' | b']' => {
                    if depth == 0 || stack[depth - 1] != b {
                        return Err(ScanError::Unexpected {
                            byte: b,
                            at: self.pos - 1,
                        });
                    }
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Err(ScanError::Eof)
    }
}

/// Escaped mode's skip of the container (object or array) that opens at `s[start]`, 64 bytes at a time
/// from bit masks: the position after its closing bracket, or `None` when it does not take the text on
/// — the general byte-at-a-time skip then decides, and reports any error. It takes on what a compact
/// record's bodies are made of: brackets, strings, and inside strings the record's own escapes (a run
/// of message backslashes of even length: the record's `\\`, `\n`, `\uXXXX`…, written `\\\\`,
/// `\\n`, `\\u…`) and escaped quotes; it gives up at any other message escape (`\n` between tokens,
/// `\/`, `\u00e9`: the general skip checks those), a raw quote, a backslash outside a string that does
/// not open one, unbalanced brackets, more than 64 levels, or the end of the text.
///
/// In the message, a record quote is `\"` after a run of backslashes of odd length L: the run's first
/// L − 1 are record backslashes written `\\`, so the quote is the string's end (or start) when
/// (L − 1) / 2 is even — L ≡ 1 (mod 4) — and an escaped quote inside it when L ≡ 3 (mod 4). Each run's
/// length mod 4 comes from where it starts: per residue r of the start position (mod 4), adding the
/// run starts of that residue to the backslash mask carries each such run into the byte after it, whose
/// position i then gives L ≡ i − r. Strings are the ranges between those quotes (a prefix XOR), and the
/// brackets outside them are counted one by one. Tests hold it equal to the general skip.
pub(crate) fn skip_escaped_container(s: &[u8], start: usize) -> Option<usize> {
    crate::records::simd::dispatch(EscapedContainer {
        s,
        start,
        tally: NoTally,
    })
}

/// The decoder's scan of a message that holds a record, escaped: `b[start..]` is the message's text
/// in the payload, up to and past its closing quote. When the text is a record object that
/// [`skip_escaped_container`] takes on whole (every escape of the message one the block scan takes
/// on), with no control byte in the 64-byte blocks it reads (the last of which may hold bytes past
/// the record: a control byte there makes it give up too, and the plain scan then decides), and the
/// closing quote follows it right away: the closing quote's
/// position, with the ends of the containers two to four levels deep pushed onto `ends` (positions
/// in the message: the record's members, theirs — the bodies — and the bodies' members), at most
/// [`MAX_CONTAINER_ENDS`] in all — so the record parser skips those by a lookup instead of a second
/// scan of the same bytes. `None` otherwise (`ends` as it was): the
/// message's end is then found by the plain scan, and the record parser scans as before.
///
/// When it gives a position, it is the one the plain scan of the message's end gives (every quote
/// before it is escaped, no control byte), and each end it pushes is the one
/// [`skip_escaped_container`] gives from that start: the same block scan from the same state. Tests
/// hold both.
pub(crate) fn scan_escaped_message(
    b: &[u8],
    start: usize,
    ends: &mut Vec<(u32, u32)>,
) -> Option<usize> {
    scan_escaped_message_by(b, start, ends, |scan| crate::records::simd::dispatch(scan))
}

/// [`scan_escaped_message`], its block scan run by `run` (the tests run it with each classifier).
#[inline(always)]
fn scan_escaped_message_by(
    b: &[u8],
    start: usize,
    ends: &mut Vec<(u32, u32)>,
    run: impl FnOnce(EscapedContainer<'_, Members<'_>>) -> Option<usize>,
) -> Option<usize> {
    if b.get(start) != Some(&b'{') || b.len() > u32::MAX as usize {
        return None;
    }
    let before = ends.len();
    let tally = Members {
        ends,
        base: start,
        open: [NOT_KEPT; 3],
    };
    let end = run(EscapedContainer { s: b, start, tally });
    match end {
        Some(end) if b.get(end) == Some(&b'"') => Some(end),
        _ => {
            ends.truncate(before);
            None
        }
    }
}

/// What a block scan of a container does at each bracket outside strings, beyond counting it.
trait Tally {
    /// Control bytes are refused (a message's text cannot hold them raw): the least byte of the blocks
    /// read is kept in registers and tested once, when the container closes, so a control byte
    /// anywhere in the blocks read — past the container's end in its last block too — refuses it.
    const CONTROL: bool;
    /// A container opened at `at`, `depth` levels deep counting itself (the scanned container is 1).
    fn open(&mut self, depth: u32, at: usize);
    /// The container `depth` levels deep closed, its closing bracket at `at`.
    fn close(&mut self, depth: u32, at: usize);
}

/// The skip of a container: nothing beyond counting.
struct NoTally;

impl Tally for NoTally {
    const CONTROL: bool = false;
    #[inline(always)]
    fn open(&mut self, _: u32, _: usize) {}
    #[inline(always)]
    fn close(&mut self, _: u32, _: usize) {}
}

/// The most container ends kept per payload (512 KB of them): a payload of 64 MB of `[]` must not
/// make them 256 MB. Past it, containers are not kept (the parser scans those): fewer ends, the same
/// records.
pub(crate) const MAX_CONTAINER_ENDS: usize = 1 << 16;

/// [`Members::open`] of a container whose end is not kept.
const NOT_KEPT: usize = usize::MAX;

/// [`scan_escaped_message`]'s tally: the spans of the containers 2 to 4 levels deep (a record's
/// members, theirs — the bodies — and the bodies' members, which the parser skips as it looks for
/// the few it reads), relative to `base`, in the order they open (so sorted by start): each is pushed
/// as it opens and its end filled in as it closes; none past [`MAX_CONTAINER_ENDS`] in `ends`.
struct Members<'v> {
    ends: &'v mut Vec<(u32, u32)>,
    base: usize,
    /// Per level 2 to 4, the index in `ends` of the container open there ([`NOT_KEPT`]: none).
    open: [usize; 3],
}

impl Tally for Members<'_> {
    const CONTROL: bool = true;
    #[inline(always)]
    fn open(&mut self, depth: u32, at: usize) {
        if let 2..=4 = depth {
            let kept = self.ends.len() < MAX_CONTAINER_ENDS;
            self.open[depth as usize - 2] = if kept { self.ends.len() } else { NOT_KEPT };
            if kept {
                self.ends.push(((at - self.base) as u32, 0));
            }
        }
    }
    #[inline(always)]
    fn close(&mut self, depth: u32, at: usize) {
        if let 2..=4 = depth {
            if let Some(e) = self.ends.get_mut(self.open[depth as usize - 2]) {
                e.1 = (at + 1 - self.base) as u32;
            }
        }
    }
}

/// Bits of the positions ≡ r (mod 4), for r = 0..4.
const RESIDUE: [u64; 4] = [
    0x1111_1111_1111_1111,
    0x2222_2222_2222_2222,
    0x4444_4444_4444_4444,
    0x8888_8888_8888_8888,
];

/// The scan of [`skip_escaped_container`] and [`scan_escaped_message`].
struct EscapedContainer<'s, T> {
    s: &'s [u8],
    start: usize,
    tally: T,
}

impl<T: Tally> crate::records::simd::BlockScan for EscapedContainer<'_, T> {
    type Out = Option<usize>;

    #[inline(always)]
    fn run<C: crate::records::simd::Classify>(self, c: C) -> Option<usize> {
        let s = self.s;
        let mut st = Escaped {
            tally: self.tally,
            run: 0,
            in_string: 0,
            pending_backslash: false,
            depth: 0,
            kinds: 0,
            least: c.least_start(),
        };
        // Whole blocks (every byte valid), then what is left, padded with spaces: two copies of the
        // step, so that the one over whole blocks carries no mask of valid bytes.
        let mut pos = self.start;
        while let Some(full) = s.get(pos..pos + 64) {
            if let Some(answer) = st.step(c, full.try_into().ok()?, u64::MAX, pos) {
                return answer;
            }
            pos += 64;
        }
        let rest = s.get(pos..).unwrap_or_default();
        if rest.is_empty() {
            return None;
        }
        let mut pad = [b' '; 64];
        pad[..rest.len()].copy_from_slice(rest);
        // A block with padding never goes on (its step says so): its answer is the scan's.
        st.step(c, &pad, (1u64 << rest.len()) - 1, pos).flatten()
    }
}

/// What [`EscapedContainer`] carries from one block to the next.
struct Escaped<T, L> {
    tally: T,
    /// The length of the backslash run still open at the previous block's end (0: none).
    run: usize,
    /// All ones when the previous block ended inside a string.
    in_string: u64,
    /// The previous block ended with a backslash outside strings: it must open a string here.
    pending_backslash: bool,
    depth: u32,
    /// One bit per open level, innermost lowest: 1 for an object.
    kinds: u64,
    /// The least byte of the blocks read (control bytes: one test at the container's end).
    least: L,
}

impl<T: Tally, L: Copy> Escaped<T, L> {
    /// The block at `pos` (`valid`: its bytes that are in the text; the rest is padding):
    /// `Some(answer)` when the scan ends in it, `None` to go on with the next block (never when
    /// `valid` is not every byte).
    #[inline(always)]
    fn step<C: crate::records::simd::Classify<Least = L>>(
        &mut self,
        c: C,
        block: &[u8; 64],
        valid: u64,
        pos: usize,
    ) -> Option<Option<usize>> {
        let m = c.classify(block);
        if T::CONTROL {
            self.least = c.least_with(self.least, block);
        }
        let b = m.backslash;
        // A block with neither backslash nor quote, no backslash run carried into it and none
        // pending, inside a string (a stretch of prose) or outside one without brackets: the step
        // below would find no quote, no bad byte, no bracket to count, and leave every carried
        // state as it is. Where the classifier says it pays, go straight on.
        if C::SKIP_PLAIN_BLOCKS
            && (b | m.quote) == 0
            && self.run == 0
            && !self.pending_backslash
            && valid == u64::MAX
            && (self.in_string != 0 || m.bracket == 0)
        {
            return None;
        }
        // The byte after each run of backslashes: after an odd run, after a run ≡ 1 (mod 4).
        let (after_odd, after_one) = run_ends(b, self.run);
        let structural = m.quote & after_one;
        let inside = c.prefix_xor(structural) ^ self.in_string;
        let opening = structural & inside;
        let outside_backslash = b & !inside;
        if self.pending_backslash && opening & 1 == 0 {
            return Some(None);
        }
        // A quote after no odd run (raw), an odd run before something else (a message escape), a
        // backslash outside strings other than the one of an opening quote (the last byte's is
        // checked in the next block).
        let bad = ((m.quote & !after_odd)
            | (after_odd & !m.quote)
            | (outside_backslash & !(opening >> 1) & !(1 << 63)))
            & valid;
        let mut brackets = m.bracket & !inside & valid;
        while brackets != 0 {
            let i = brackets.trailing_zeros();
            brackets &= brackets - 1;
            let byte = block[i as usize];
            if byte == b'{' || byte == b'[' {
                if self.depth == 64 {
                    return Some(None);
                }
                self.kinds = (self.kinds << 1) | u64::from(byte == b'{');
                self.depth += 1;
                self.tally.open(self.depth, pos + i as usize);
                continue;
            }
            if self.depth == 0 || (self.kinds & 1 == 1) != (byte == b'}') {
                return Some(None);
            }
            self.tally.close(self.depth, pos + i as usize);
            self.kinds >>= 1;
            self.depth -= 1;
            if self.depth == 0 {
                if T::CONTROL && c.saw_control(self.least) {
                    return Some(None);
                }
                let upto = u64::MAX >> (63 - i);
                return Some((bad & upto == 0).then_some(pos + i as usize + 1));
            }
        }
        if bad != 0 || valid != u64::MAX {
            return Some(None);
        }
        self.in_string = if inside >> 63 == 1 { u64::MAX } else { 0 };
        self.pending_backslash = outside_backslash >> 63 == 1;
        self.run = if b == u64::MAX {
            self.run + 64
        } else {
            b.leading_ones() as usize
        };
        None
    }
}

/// The byte after each run of backslashes that ends in the block whose backslashes are `b`, given the
/// length `run` of the run still open at the previous block's end: `(after_odd, after_one)`, the bytes
/// after a run of odd length and after a run of length ≡ 1 (mod 4).
///
/// Runs are short in what a record's bodies hold: `\"` (length 1) around every record string, `\\n`
/// (2) for a record's `\n`, `\\\"` (3) for a quote inside one. When no run of the block is longer
/// than 3, the lengths are read off the backslash mask shifted by one to four places (the previous
/// block's last bits are the open run's); otherwise, per residue r of a run's start (mod 4), adding
/// the run starts of that residue to the mask carries each such run into the byte after it, whose
/// position i then gives its length ≡ i − r (mod 4). Tests hold the two ways equal.
#[inline(always)]
fn run_ends(b: u64, run: usize) -> (u64, u64) {
    if run < 4 {
        // The open run's backslashes as the previous block's top bits.
        let prev = !(u64::MAX >> run);
        let b1 = (b << 1) | (prev >> 63);
        let b2 = (b << 2) | (prev >> 62);
        let b3 = (b << 3) | (prev >> 61);
        if b & b1 & b2 & b3 == 0 {
            // No run is longer than 3: a run of 3 ends where three shifted masks meet.
            let one = b1 & !b2;
            let three = b1 & b2 & b3;
            return (!b & (one | three), !b & one);
        }
    }
    run_ends_by_residue(b, run)
}

/// [`run_ends`] for any run lengths, by the residue of each run's start.
#[inline(always)]
fn run_ends_by_residue(b: u64, run: usize) -> (u64, u64) {
    // The residue (mod 4) of the open run's start, in this block's positions (it started `run` bytes
    // before the block).
    let open_run = (run > 0).then_some((run.wrapping_neg() & 3) as u32);
    let starts = b & !((b << 1) | u64::from(open_run.is_some()));
    let (mut after_odd, mut after_one) = (0u64, 0u64);
    for (r, residue) in RESIDUE.iter().enumerate() {
        let mut st = starts & residue;
        if open_run == Some(r as u32) {
            st |= 1;
        }
        let after = b.wrapping_add(st) & !b;
        after_one |= after & RESIDUE[(r + 1) % 4];
        after_odd |= after & (RESIDUE[(r + 1) % 4] | RESIDUE[(r + 3) % 4]);
    }
    (after_odd, after_one)
}

/// The first backslash at or after `from`. In escaped text they are a few bytes apart (every quote of
/// the record is one), so this is an inline 16-bytes-per-compare SIMD search ([`crate::records::simd::find_byte`])
/// rather than a `memchr` call, whose set-up would cost more than the search.
#[inline(always)]
fn find_backslash(s: &[u8], from: usize) -> Option<usize> {
    crate::records::simd::find_byte(s, from, b'\\')
}

/// The text of a JSON string body (without its quotes): its escapes decoded, all of it (an unescaped
/// quote inside is an error, not the end).
pub(crate) fn unescape_body(body: &str) -> Result<Cow<'_, str>, ScanError> {
    if !body.contains('\\') && !body.contains('"') {
        return Ok(Cow::Borrowed(body));
    }
    let quoted = format!("\"{body}\"");
    let mut sc = Scanner::new(&quoted);
    let text = sc.string()?.into_owned();
    if sc.pos != quoted.len() {
        return Err(ScanError::Unexpected {
            byte: b'"',
            at: sc.pos - 2,
        });
    }
    Ok(Cow::Owned(text))
}

/// The JSON escape at `s[p]` (a backslash): its length in bytes (2, 6 for `\uXXXX`, 12 for a
/// surrogate pair) and the character it stands for (always a valid `char`). The one escape decoder:
/// the scanner's strings, the subscription payload's arena and escaped-mode skipping all use it.
#[inline]
pub(crate) fn decode_escape(s: &[u8], p: usize) -> Result<(usize, u32), ScanError> {
    let c = match *s.get(p + 1).ok_or(ScanError::Eof)? {
        b'"' => 0x22,
        b'\\' => 0x5c,
        b'/' => 0x2f,
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => 0x0a,
        b'r' => 0x0d,
        b't' => 0x09,
        b'u' => {
            let hi = hex4_at(s, p + 2)?;
            return match hi {
                0xD800..=0xDBFF => {
                    if s.get(p + 6) != Some(&b'\\') || s.get(p + 7) != Some(&b'u') {
                        return Err(ScanError::Escape(p));
                    }
                    let lo = hex4_at(s, p + 8)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(ScanError::Escape(p));
                    }
                    Ok((12, 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)))
                }
                0xDC00..=0xDFFF => Err(ScanError::Escape(p)),
                _ => Ok((6, hi)),
            };
        }
        _ => return Err(ScanError::Escape(p)),
    };
    Ok((2, c))
}

/// Four hex digits at `pos`.
fn hex4_at(s: &[u8], pos: usize) -> Result<u32, ScanError> {
    let h = s.get(pos..pos + 4).ok_or(ScanError::Eof)?;
    let mut v = 0u32;
    for &c in h {
        v = v * 16 + (c as char).to_digit(16).ok_or(ScanError::Escape(pos))?;
    }
    Ok(v)
}

/// Where a message string that starts at `start` (just inside its opening quote) ends, found one
/// character at a time, and whether a backslash came before the end; `None` without an end or with a
/// control byte before it: the reference of the block scans that end messages (the decoder's and
/// [`scan_escaped_message`]).
#[cfg(test)]
pub(crate) fn message_end_by_bytes(b: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut i = start;
    let mut escaped = false;
    let end = loop {
        match b.get(i) {
            None => return None,
            Some(b'"') => break i,
            Some(b'\\') => {
                escaped = true;
                i += 2;
            }
            Some(_) => i += 1,
        }
    };
    if b[start..end].iter().any(|&c| c < 0x20) {
        return None;
    }
    Some((end, escaped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::simd::{BlockScan, Classify, EachClassifier};

    /// [`super::skip_escaped_container`] as the tests call it: run with every classifier this CPU has
    /// (the portable one, the target's baseline, AVX2 and AVX-512 where present — each with its own
    /// choice of skipping plain blocks), which must all give the dispatched answer.
    fn skip_escaped_container(s: &[u8], start: usize) -> Option<usize> {
        struct Each<'s> {
            s: &'s [u8],
            start: usize,
            answers: Vec<(&'static str, Option<usize>)>,
        }
        impl EachClassifier for Each<'_> {
            fn visit<C: Classify>(&mut self, name: &'static str, c: C) {
                let (s, start) = (self.s, self.start);
                let answer = EscapedContainer {
                    s,
                    start,
                    tally: NoTally,
                }
                .run(c);
                self.answers.push((name, answer));
            }
        }
        let want = super::skip_escaped_container(s, start);
        let mut each = Each {
            s,
            start,
            answers: Vec::new(),
        };
        crate::records::simd::each_classifier(&mut each);
        assert!(each.answers.len() >= 4);
        for (name, answer) in each.answers {
            assert_eq!(answer, want, "{name}: {}", String::from_utf8_lossy(s));
        }
        want
    }

    /// [`super::scan_escaped_message`] as the tests call it: every classifier gives the dispatched
    /// answer and pushes the same ends.
    fn scan_escaped_message(b: &[u8], start: usize, ends: &mut Vec<(u32, u32)>) -> Option<usize> {
        type Answer = (&'static str, Option<usize>, Vec<(u32, u32)>);
        struct Each<'s> {
            b: &'s [u8],
            start: usize,
            ends: Vec<(u32, u32)>,
            /// Per classifier: its name, its answer, the ends it pushed.
            answers: Vec<Answer>,
        }
        impl EachClassifier for Each<'_> {
            fn visit<C: Classify>(&mut self, name: &'static str, c: C) {
                let mut ends = self.ends.clone();
                let answer =
                    scan_escaped_message_by(self.b, self.start, &mut ends, |scan| scan.run(c));
                self.answers.push((name, answer, ends));
            }
        }
        let mut each = Each {
            b,
            start,
            ends: ends.clone(),
            answers: Vec::new(),
        };
        let want = super::scan_escaped_message(b, start, ends);
        crate::records::simd::each_classifier(&mut each);
        assert!(each.answers.len() >= 4);
        for (name, answer, their_ends) in each.answers {
            assert_eq!(answer, want, "{name}: {}", String::from_utf8_lossy(b));
            assert_eq!(&their_ends, ends, "{name}: {}", String::from_utf8_lossy(b));
        }
        want
    }

    #[test]
    fn strings_with_escapes() {
        let mut s = Scanner::new(r#""a\"b\\c\/d\u00e9\ud83d\ude00\n""#);
        assert_eq!(s.string().unwrap(), "a\"b\\c/dé😀\n");
        assert!(Scanner::new(r#""\x""#).string().is_err());
        assert!(Scanner::new(r#""\ud83d""#).string().is_err());
        assert!(Scanner::new(r#""abc"#).string().is_err());
    }

    #[test]
    fn skips_nested_values() {
        let text = r#"{"a":[1,{"b":"}]\"["},[[]],true,null,-1.5e3],"c":{}} tail"#;
        let mut s = Scanner::new(text);
        s.skip().unwrap();
        assert_eq!(&text[s.pos..], " tail");
        for bad in [r#"{"a":[}"#, r#"[1,2"#, r#"{"a":"x}"#, "tru", "[[]]]"] {
            let mut s = Scanner::new(bad);
            let r = s.skip();
            assert!(r.is_err() || !s.at_end(), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_is_skipped_without_a_crash() {
        let open = "[".repeat(100_000);
        assert_eq!(
            Scanner::new(&open).skip(),
            Err(ScanError::Eof),
            "never closed"
        );
        let deep = format!("{}{}", "[{\"a\":".repeat(50_000), "1}]".repeat(50_000));
        let text = format!("{deep} tail");
        let mut s = Scanner::new(&text);
        s.skip().unwrap();
        assert_eq!(&text[s.pos..], " tail");
        let unbalanced = format!("{}{}", "[".repeat(600), "]".repeat(599));
        assert_eq!(Scanner::new(&unbalanced).skip(), Err(ScanError::Eof));
    }

    #[test]
    fn integers() {
        assert_eq!(Scanner::new("18446744073709551615").u64(), Ok(u64::MAX));
        assert!(matches!(
            Scanner::new("18446744073709551616").u64(),
            Err(ScanError::NumberRange(_))
        ));
        assert_eq!(Scanner::new("12.0").u64(), Ok(12));
        assert_eq!(Scanner::new("1e3").u64(), Ok(1000));
        for bad in ["-1", "1.5", "1e300", "012", "\"12\"", "12x", "true"] {
            assert!(Scanner::new(bad).u64().is_err(), "{bad}");
        }
    }

    /// xorshift64: a fixed seed, so a failure repeats.
    use crate::test_support::Rng;

    /// One random edit of `b` at `at`, of the `kind` drawn by the caller: 0 the byte removed, 1 replaced
    /// by one of `bytes`, else one of `bytes` inserted before it.
    fn edit(rng: &mut Rng, b: &mut Vec<u8>, at: usize, kind: u64, bytes: &[u8]) {
        if kind == 0 {
            b.remove(at);
            return;
        }
        let byte = bytes[rng.below(bytes.len() as u64) as usize];
        if kind == 1 {
            b[at] = byte;
        } else {
            b.insert(at, byte);
        }
    }

    /// A random JSON value: nested objects and arrays, strings full of what escapes are made of.
    fn value(rng: &mut Rng, depth: u32) -> serde_json::Value {
        use serde_json::Value;
        let alphabet = [
            "a", "b", " ", "\"", "\\", "{", "}", "[", "]", ":", ",", "\n", "\t", "/", "é", "😀",
            "\u{1}", "\\\"", "\\\\", "u0041",
        ];
        let string = |rng: &mut Rng| -> String {
            let n = if rng.below(8) == 0 { 200 } else { 12 };
            (0..rng.below(n))
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect()
        };
        match if depth >= 6 {
            rng.below(3)
        } else {
            rng.below(6)
        } {
            0 => Value::String(string(rng)),
            1 => Value::from(rng.below(1_000_000)),
            2 => {
                [Value::Null, Value::Bool(true), Value::Bool(false)][rng.below(3) as usize].clone()
            }
            3 | 4 => Value::Array((0..rng.below(6)).map(|_| value(rng, depth + 1)).collect()),
            _ => Value::Object(
                (0..rng.below(6))
                    .map(|_| (string(rng), value(rng, depth + 1)))
                    .collect(),
            ),
        }
    }

    /// `text` as the body of a JSON string (a log event's message); `alt` also writes `/` as `\/`
    /// and non-ASCII characters as `\u` escapes.
    fn message(text: &str, alt: bool) -> String {
        let quoted = serde_json::Value::String(text.to_string()).to_string();
        let body = &quoted[1..quoted.len() - 1];
        if !alt {
            return body.to_string();
        }
        let mut out = String::new();
        for c in body.chars() {
            match c {
                '/' => out.push_str("\\/"),
                c if !c.is_ascii() => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out
    }

    /// Escaped mode's block skip of a container, wherever it takes one on, ends where the
    /// byte-at-a-time skip ends (which succeeds there too): generated bodies spanning many blocks at
    /// every alignment, with runs of backslashes of every length, escaped quotes and brackets inside
    /// strings, strings across block edges; then the same with random edits.
    #[test]
    fn escaped_block_skip_equals_the_general_skip() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut taken, mut total) = (0, 0);
        let compare = |text: &str, start: usize| -> bool {
            let fast = skip_escaped_container(text.as_bytes(), start);
            let mut sc = Scanner::escaped(text);
            sc.pos = start;
            let general = sc.skip_container_general().map(|()| sc.pos);
            if let Some(end) = fast {
                assert_eq!(general, Ok(end), "{start} {text}");
            }
            fast.is_some()
        };
        // Fewer rounds under qemu (the aarch64 step of the test command), where each costs ~20×.
        let rounds = if cfg!(target_arch = "aarch64") {
            1_000
        } else {
            6_000
        };
        for round in 0..rounds {
            let v = loop {
                let v = value(&mut rng, 0);
                if v.is_array() || v.is_object() {
                    break v;
                }
            };
            let json = serde_json::to_string(&v).unwrap();
            let prefix = "x".repeat(rng.below(70) as usize);
            let alt = round % 5 == 0;
            let text = format!("{prefix}{},\\\"tail\\\"", message(&json, alt));
            total += 1;
            if compare(&text, prefix.len()) {
                taken += 1;
            } else {
                // Only the alternative escapes (`\/`, `\u00e9`) are left to the general skip.
                assert!(alt && (json.contains('/') || !json.is_ascii()), "{text}");
            }
            // Random edits: whatever the outcome, never a different end.
            let mut b = text.into_bytes();
            for _ in 0..=rng.below(3) {
                let at = prefix.len() + rng.below((b.len() - prefix.len()) as u64) as usize;
                let kind = rng.below(3);
                edit(&mut rng, &mut b, at, kind, b"\\\"{}[]n u");
            }
            if let Ok(edited) = String::from_utf8(b) {
                compare(&edited, prefix.len());
            }
        }
        assert!(taken * 10 > total * 7, "{taken} of {total}");
        // Runs of 1 to 9 backslashes before a quote or a letter, at every position of a block.
        for len in 1..=9 {
            for at in 0..70 {
                for after in ["\\\"", "n", "\\\\\\\""] {
                    let run = "\\".repeat(len);
                    let inner = format!("{}{run}{after}", "a".repeat(at));
                    for text in [
                        format!("[\\\"{inner}\\\"]"),
                        format!("{{\\\"k\\\":[\\\"{inner}\\\",{{}}]}}"),
                    ] {
                        compare(&text, 0);
                    }
                }
            }
        }
        // Nesting: 64 levels are taken on, 65 are left to the general skip (which takes them).
        for n in [1, 63, 64, 65, 600] {
            let text = format!("{}{}", "[".repeat(n), "]".repeat(n));
            assert_eq!(compare(&text, 0), n <= 64, "{n}");
            let mut sc = Scanner::escaped(&text);
            assert!(sc.skip().is_ok() && sc.pos == text.len(), "{n}");
        }
    }
    /// The decoder's scan of a record message ([`scan_escaped_message`]), on random records and
    /// random edits of them, in a payload that goes on after the message: when it gives an end, it
    /// is the message's end (the first quote no backslash escapes, no control byte before it), and
    /// each container end it gives is the one [`skip_escaped_container`] gives from that start — the
    /// ends sorted by start, one per container two to four levels deep; otherwise it leaves `ends`
    /// as it was.
    #[test]
    fn message_scan_ends_where_the_plain_scan_ends_with_the_skips_container_ends() {
        let mut rng = Rng(0xbb67_ae85_84ca_a73b);
        let (mut found, mut entries) = (0, 0);
        let mut ends = vec![(7, 7)];
        for round in 0..4_000 {
            let v = loop {
                let v = value(&mut rng, 0);
                if v.is_object() {
                    break v;
                }
            };
            let json = serde_json::to_string(&v).unwrap();
            let prefix = "x".repeat(rng.below(70) as usize);
            let mut b = format!(
                "{prefix}{}\"}},{{\"id\":\"2\"}}",
                message(&json, round % 7 == 0)
            )
            .into_bytes();
            if round % 2 == 1 {
                for _ in 0..=rng.below(2) {
                    let at = prefix.len() + rng.below((b.len() - prefix.len()) as u64) as usize;
                    let kind = rng.below(3);
                    edit(&mut rng, &mut b, at, kind, b"\\\"{}[]x\x01\x1f");
                }
            }
            if std::str::from_utf8(&b).is_err() {
                continue; // the decoder checks the payload's UTF-8 before any scan
            }
            let start = prefix.len();
            let Some(end) = scan_escaped_message(&b, start, &mut ends) else {
                assert_eq!(ends, [(7, 7)], "left as it was");
                continue;
            };
            found += 1;
            assert_eq!(
                Some(end),
                message_end_by_bytes(&b, start).map(|(end, _)| end),
                "{}",
                String::from_utf8_lossy(&b)
            );
            let message = &b[start..end];
            let mut last = None;
            for &(p, e) in &ends[1..] {
                assert!(last < Some(p), "sorted by start");
                last = Some(p);
                assert_eq!(
                    skip_escaped_container(message, p as usize),
                    Some(e as usize)
                );
                entries += 1;
            }
            // One per container two to four levels deep: count them in the record's text (when
            // it is JSON: the scan checks brackets and strings, not the scalars between them).
            let text = String::from_utf8(message.to_vec()).unwrap();
            let Ok(record) =
                serde_json::from_str::<serde_json::Value>(&unescape_body(&text).unwrap())
            else {
                ends.truncate(1);
                continue;
            };
            fn count(v: &serde_json::Value, level: u32) -> usize {
                let here = usize::from((2..=4).contains(&level) && (v.is_array() || v.is_object()));
                let below: usize = match v {
                    serde_json::Value::Array(a) => a.iter().map(|x| count(x, level + 1)).sum(),
                    serde_json::Value::Object(o) => o.values().map(|x| count(x, level + 1)).sum(),
                    _ => 0,
                };
                here + below
            }
            assert_eq!(ends.len() - 1, count(&record, 1), "{text}");
            ends.truncate(1);
        }
        assert!(
            found > 1_000 && entries > 1_000,
            "{found} found, {entries} ends"
        );
        // A record closed early, then more of the message: no end (the plain scan finds it).
        for text in [
            "{\\\"a\\\":[1]}x}\"}",
            "{\\\"a\\\":[1]}}\"",
            "{\\\"a\\\":[1]}",
            "{\\\"a\\\":[1\x01]}\"",
        ] {
            assert_eq!(
                scan_escaped_message(text.as_bytes(), 0, &mut ends),
                None,
                "{text}"
            );
            assert_eq!(ends, [(7, 7)]);
        }
        assert_eq!(
            scan_escaped_message("{\\\"a\\\":[1]}\"".as_bytes(), 0, &mut ends),
            Some(11)
        );
        assert_eq!(ends, [(7, 7), (7, 10)]);
        // A control byte past the closing quote, in the block where the record ends: refused too
        // (the plain scan decides); one in a later block is never read.
        let tail = "{\\\"a\\\":[1]}\"\x01";
        assert_eq!(scan_escaped_message(tail.as_bytes(), 0, &mut ends), None);
        let later = format!("{}{}\x01", &tail[..tail.len() - 1], " ".repeat(64));
        assert_eq!(
            scan_escaped_message(later.as_bytes(), 0, &mut ends),
            Some(11)
        );
        ends.truncate(1);
        // Past the most kept: the first ones kept, each right; the end as ever.
        let many = format!(
            "{{\\\"a\\\":[{}]}}\"",
            vec!["[]"; MAX_CONTAINER_ENDS + 5].join(",")
        );
        ends.clear();
        let end = scan_escaped_message(many.as_bytes(), 0, &mut ends);
        assert_eq!(end, Some(many.len() - 1));
        assert_eq!(ends.len(), MAX_CONTAINER_ENDS);
        let message = &many.as_bytes()[..many.len() - 1];
        for &(p, e) in ends.iter().step_by(997).chain(ends.last()) {
            assert_eq!(
                skip_escaped_container(message, p as usize),
                Some(e as usize)
            );
        }
        // A kept container skipped by its end, one past the most by a scan: both where they end.
        let text = &many[..many.len() - 1];
        let last_kept = ends[MAX_CONTAINER_ENDS - 1];
        let not_kept = last_kept.1 as usize + 1;
        assert_eq!(&text[not_kept..not_kept + 2], "[]");
        for (at, want) in [
            (last_kept.0 as usize, last_kept.1 as usize),
            (not_kept, not_kept + 2),
            (0, text.len()),
        ] {
            let mut sc = Scanner::escaped_with_ends(text, &ends);
            sc.pos = at;
            assert!(sc.skip().is_ok() && sc.pos == want, "{at}");
        }
    }

    /// The short-run way of [`run_ends`] gives what the residue way gives, on every block it takes
    /// (and it takes those whose runs, the open one included, are at most 3 long): random backslash
    /// masks of every density with every open run length, and every mask of runs of one length at
    /// every position.
    #[test]
    fn run_ends_by_shifts_equal_run_ends_by_residue() {
        let mut rng = Rng(0x6a09_e667_f3bc_c909);
        let (mut short, mut long) = (0, 0);
        let mut check = |b: u64, run: usize| {
            let by_residue = run_ends_by_residue(b, run);
            assert_eq!(
                run_ends(b, run),
                by_residue,
                "{b:064b} after a run of {run}"
            );
            // The reference of the reference: each run's end, by counting.
            let (mut odd, mut one) = (0u64, 0u64);
            let mut len = run;
            for i in 0..64 {
                if b >> i & 1 == 1 {
                    len += 1;
                    continue;
                }
                if len % 2 == 1 {
                    odd |= 1 << i;
                }
                if len % 4 == 1 {
                    one |= 1 << i;
                }
                len = 0;
            }
            assert_eq!(by_residue, (odd, one), "{b:064b} after a run of {run}");
            let longest = (0..64).fold((run, run), |(cur, max), i| {
                let cur = if b >> i & 1 == 1 { cur + 1 } else { 0 };
                (cur, max.max(cur))
            });
            if longest.1 <= 3 {
                short += 1;
            } else {
                long += 1;
            }
        };
        for _ in 0..200_000 {
            // Sparse to dense: an AND of k random words has each bit set with probability 2^-k.
            let mut b = u64::MAX;
            for _ in 0..rng.below(5) {
                b &= rng.next();
            }
            if rng.below(2) == 0 {
                b = !b;
            }
            let run = match rng.below(4) {
                0 => 0,
                1 => rng.below(4) as usize,
                2 => rng.below(9) as usize,
                _ => rng.below(200) as usize,
            };
            check(b, run);
        }
        for len in 1..=9u32 {
            for at in 0..64u32 {
                let b = (u64::MAX >> (64 - len)) << at;
                for run in 0..=9 {
                    check(b, run);
                }
            }
        }
        check(u64::MAX, 0);
        check(u64::MAX, 3);
        check(0, 5);
        assert!(
            short > 20_000 && long > 20_000,
            "{short} short, {long} long"
        );
    }

    /// The block skip's straight-on step (a block without backslash or quote, inside a string or
    /// outside strings without brackets) ends where the byte-at-a-time skip ends: bodies of long
    /// prose strings (plain runs over several blocks, with brackets, escaped quotes and newlines now
    /// and then) and long arrays of numbers, at every alignment, then with random edits (a raw quote or
    /// a backslash in a plain run, a bracket removed) that the straight-on step must not step over.
    #[test]
    fn escaped_block_skip_of_prose_equals_the_general_skip() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let words = [
            "the ",
            "cost ",
            "of ",
            "a ",
            "token ",
            "(cached) ",
            "[draft] ",
            "{x} ",
            "is ",
            "low. ",
        ];
        let compare = |text: &str, start: usize| -> Option<usize> {
            let fast = skip_escaped_container(text.as_bytes(), start);
            let mut sc = Scanner::escaped(text);
            sc.pos = start;
            let general = sc.skip_container_general().map(|()| sc.pos);
            if let Some(end) = fast {
                assert_eq!(general, Ok(end), "{start} {text}");
            }
            fast
        };
        let (mut taken, mut plain_blocks) = (0, 0);
        for round in 0..3_000 {
            let prose = |rng: &mut Rng| -> String {
                let mut t = String::new();
                for _ in 0..rng.below(120) {
                    t.push_str(words[rng.below(words.len() as u64) as usize]);
                    match rng.below(40) {
                        0 => t.push('"'),
                        1 => t.push('\n'),
                        2 => t.push('\\'),
                        _ => {}
                    }
                }
                t
            };
            let v = match round % 3 {
                0 => {
                    serde_json::json!({"messages": [{"text": prose(&mut rng)}, {"text": prose(&mut rng)}]})
                }
                1 => serde_json::json!([prose(&mut rng), {"k": prose(&mut rng)}]),
                _ => serde_json::Value::Array(
                    (0..rng.below(60))
                        .map(|_| serde_json::Value::from(rng.below(100_000)))
                        .collect(),
                ),
            };
            let json = serde_json::to_string(&v).unwrap();
            let prefix = "x".repeat(rng.below(70) as usize);
            let text = format!("{prefix}{},\\\"tail\\\"", message(&json, false));
            plain_blocks += text.as_bytes()[prefix.len()..]
                .chunks(64)
                .filter(|c| c.len() == 64 && !c.contains(&b'\\') && !c.contains(&b'"'))
                .count();
            if compare(&text, prefix.len()).is_some() {
                taken += 1;
            }
            let mut b = text.into_bytes();
            for _ in 0..=rng.below(2) {
                let at = prefix.len() + rng.below((b.len() - prefix.len()) as u64) as usize;
                let kind = rng.below(4);
                if kind == 3 {
                    // A raw quote or a lone backslash deep in a plain run.
                    if let Some(p) = b[at..].iter().position(|&c| c == b'a') {
                        b[at + p] = if rng.below(2) == 0 { b'"' } else { b'\\' };
                    }
                } else {
                    edit(&mut rng, &mut b, at, kind, b"\\\"{}[]");
                }
            }
            if let Ok(edited) = String::from_utf8(b) {
                compare(&edited, prefix.len());
            }
        }
        assert_eq!(taken, 3_000, "every unedited body is taken on");
        assert!(plain_blocks > 5_000, "{plain_blocks} plain blocks");
    }
}
