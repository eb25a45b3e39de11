//! CloudWatch Logs subscription events: `{"awslogs":{"data":"<base64 of gzip>"}}`, the data being
//! `{messageType, owner, logGroup, logStream, subscriptionFilters, logEvents:[{id, timestamp, message}]}`.
//!
//! [`Decoder`] decodes one event into borrowed [`LogsData`]. It is built for the hot path of the ingest
//! Lambda: its buffers (decoded bytes, inflated JSON) and its inflate state are reused from one event to
//! the next, and the gzip stream is inflated straight into a buffer sized from the gzip trailer. A
//! message is **not** unescaped: the decoder only finds where its JSON string ends, and leaves it as a
//! [`Message`] borrowed from the inflated JSON. [`Message::parse`] reads the record from the escaped
//! text in place ([`crate::records::record::parse_escaped`]); [`Message::text`] decodes it for whoever needs the
//! text. Decoding a batch therefore copies no message and costs no allocation per log event beyond one
//! `Vec` slot (and none at all once the buffers have grown).
//!
//! [`encode`] builds an event (standard padded base64 of gzip, as CloudWatch Logs sends it), for the CLI
//! (`bedrock-meter event`) and tests.

use std::borrow::Cow;
use std::io::Write as _;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use flate2::{Crc, Decompress, FlushDecompress, Status};

use crate::records::record::{parse, parse_escaped, Record, RecordError};
use crate::records::scan::{Kind, ScanError, Scanner};
use crate::records::simd::{self, BlockScan, Classify};

/// `messageType` of a log batch.
pub const DATA_MESSAGE: &str = "DATA_MESSAGE";
/// `messageType` of the reachability probe CloudWatch Logs sends when a subscription is created.
pub const CONTROL_MESSAGE: &str = "CONTROL_MESSAGE";

/// Inflated payloads larger than this are refused (a subscription event is at most 1 MB compressed; this
/// bounds what a hostile or corrupt gzip stream can make the function allocate).
pub const MAX_INFLATED_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubscriptionError {
    #[error("event is not a CloudWatch Logs subscription event (no awslogs.data)")]
    NotAnEvent,
    #[error("awslogs.data is not base64: {0}")]
    Base64(String),
    #[error("awslogs.data is not gzip: {0}")]
    Gzip(&'static str),
    #[error("inflated payload exceeds {MAX_INFLATED_BYTES} bytes")]
    TooLarge,
    #[error("payload is not valid JSON: {0}")]
    Json(#[from] ScanError),
    #[error("payload is not UTF-8")]
    Utf8,
    #[error("payload field {0} is missing or has the wrong type")]
    Field(&'static str),
}

/// One log event: for Bedrock invocation logging, `message` is one log record as JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent<'a> {
    /// A numeric string, unique per event (and stable across redeliveries of the same event).
    pub id: &'a str,
    /// When the event was ingested, epoch milliseconds.
    pub timestamp: i64,
    pub message: Message<'a>,
}

/// A log event's message: its text, or, as the decoder leaves it, the body of the JSON string it came
/// in with its escapes not decoded (no raw `"` or control character: the decoder found its end).
/// Two messages are equal when their texts are.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    body: &'a str,
    escaped: bool,
}

impl<'a> Message<'a> {
    /// A message given as its text.
    pub fn text_of(text: &'a str) -> Message<'a> {
        Message {
            body: text,
            escaped: false,
        }
    }

    /// The message's text (decoded when it was left escaped; an error when its escapes are bad).
    pub fn text(self) -> Result<Cow<'a, str>, ScanError> {
        if !self.escaped {
            return Ok(Cow::Borrowed(self.body));
        }
        crate::records::scan::unescape_body(self.body)
    }

    /// Bytes of the message as sent (escaped when it was).
    pub fn len(self) -> usize {
        self.body.len()
    }

    pub fn is_empty(self) -> bool {
        self.body.is_empty()
    }

    /// The log record the message holds, read in place when the message was left escaped.
    pub fn parse(self) -> Result<Record<'a>, RecordError> {
        if self.escaped {
            parse_escaped(self.body)
        } else {
            parse(self.body)
        }
    }

    /// The message as a JSON string (with its quotes).
    fn write_json(self, out: &mut String) {
        if self.escaped {
            out.push('"');
            out.push_str(self.body);
            out.push('"');
        } else {
            out.push_str(&serde_json::Value::String(self.body.to_string()).to_string());
        }
    }
}

impl<'a> From<&'a str> for Message<'a> {
    fn from(text: &'a str) -> Self {
        Message::text_of(text)
    }
}

impl PartialEq for Message<'_> {
    fn eq(&self, other: &Self) -> bool {
        if self.escaped == other.escaped {
            return self.body == other.body;
        }
        self.text() == other.text()
    }
}

impl Eq for Message<'_> {}

/// The decoded `awslogs.data` payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogsData<'a> {
    pub message_type: &'a str,
    pub owner: &'a str,
    pub log_group: &'a str,
    pub log_stream: &'a str,
    pub subscription_filters: Vec<&'a str>,
    pub log_events: Vec<LogEvent<'a>>,
}

impl LogsData<'_> {
    pub fn is_control(&self) -> bool {
        self.message_type == CONTROL_MESSAGE
    }
}

/// Where a decoded string lives: in the inflated JSON (no escapes), in the arena (unescaped), or in
/// the inflated JSON with its escapes left in (messages).
#[derive(Clone, Copy, Debug, Default)]
enum Span {
    #[default]
    Empty,
    Json(usize, usize),
    Arena(usize, usize),
    Escaped(usize, usize),
}

#[derive(Clone, Copy, Debug, Default)]
struct EventSpans {
    id: Span,
    timestamp: i64,
    message: Span,
}

/// Reusable decoding state (keep one per Lambda instance).
pub struct Decoder {
    compressed: Vec<u8>,
    json: Vec<u8>,
    arena: Arena,
    inflate: Decompress,
    filters: Vec<Span>,
    events: Vec<EventSpans>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

/// Accepts padded and unpadded standard base64.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            compressed: Vec::new(),
            json: Vec::new(),
            arena: Arena::default(),
            inflate: Decompress::new(false),
            filters: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Decodes a whole Lambda event (`{"awslogs":{"data":"…"}}`) given as JSON text.
    pub fn decode_event<'s>(&'s mut self, event: &str) -> Result<LogsData<'s>, SubscriptionError> {
        let data = awslogs_data(event)?;
        self.decode_data(&data)
    }

    /// Decodes the `awslogs.data` string (base64 of gzip of JSON).
    pub fn decode_data<'s>(&'s mut self, data: &str) -> Result<LogsData<'s>, SubscriptionError> {
        self.compressed.clear();
        LENIENT
            .decode_vec(data.trim().as_bytes(), &mut self.compressed)
            .map_err(|e| SubscriptionError::Base64(e.to_string()))?;
        gunzip(&self.compressed, &mut self.inflate, &mut self.json)?;
        self.parse_json()
    }

    /// Decodes an already inflated payload (JSON text).
    pub fn decode_json<'s>(&'s mut self, json: &[u8]) -> Result<LogsData<'s>, SubscriptionError> {
        self.json.clear();
        self.json.extend_from_slice(json);
        self.parse_json()
    }

    fn parse_json(&mut self) -> Result<LogsData<'_>, SubscriptionError> {
        let text = std::str::from_utf8(&self.json).map_err(|_| SubscriptionError::Utf8)?;
        self.arena.reset(text.len());
        self.filters.clear();
        self.events.clear();
        let mut head = [Span::Empty; 4]; // messageType, owner, logGroup, logStream
        let mut seen_type = false;
        let mut seen_events = false;
        let mut sc = Scanner::new(text);
        let (arena, filters, events) = (&mut self.arena, &mut self.filters, &mut self.events);
        let mut failed: Option<SubscriptionError> = None;
        let mut fail = |e: SubscriptionError| {
            failed.get_or_insert(e);
            ScanError::Eof
        };
        if sc.peek_kind()? != Kind::Object {
            return Err(SubscriptionError::Field("payload"));
        }
        let res = sc.object(|sc, key| {
            let slot = match key.as_ref() {
                "messageType" => Some(0),
                "owner" => Some(1),
                "logGroup" => Some(2),
                "logStream" => Some(3),
                _ => None,
            };
            if let Some(i) = slot {
                if i == 0 {
                    seen_type = true;
                }
                return match sc.peek_kind()? {
                    Kind::String => {
                        head[i] = string_span(sc, text, arena)?;
                        Ok(())
                    }
                    Kind::Null => {
                        sc.null();
                        Ok(())
                    }
                    _ => Err(fail(SubscriptionError::Field(FIELDS[i]))),
                };
            }
            match key.as_ref() {
                "subscriptionFilters" => match sc.peek_kind()? {
                    Kind::Array => sc.array(|sc| {
                        if sc.peek_kind()? == Kind::String {
                            filters.push(string_span(sc, text, arena)?);
                            Ok(())
                        } else {
                            sc.skip()
                        }
                    }),
                    _ => sc.skip(),
                },
                "logEvents" => {
                    seen_events = true;
                    if sc.peek_kind()? != Kind::Array {
                        return Err(fail(SubscriptionError::Field("logEvents")));
                    }
                    sc.array(|sc| {
                        if sc.peek_kind()? != Kind::Object {
                            return Err(fail(SubscriptionError::Field("logEvents[]")));
                        }
                        let mut ev = EventSpans::default();
                        let mut has_message = false;
                        sc.object(|sc, k| match (k.as_ref(), sc.peek_kind()?) {
                            ("id", Kind::String) => {
                                ev.id = string_span(sc, text, arena)?;
                                Ok(())
                            }
                            ("timestamp", Kind::Number) => {
                                let t = sc.u64()?;
                                ev.timestamp = i64::try_from(t)
                                    .map_err(|_| fail(SubscriptionError::Field("timestamp")))?;
                                Ok(())
                            }
                            ("message", Kind::String) => {
                                has_message = true;
                                ev.message = message_span(sc, text)?;
                                Ok(())
                            }
                            ("id" | "timestamp" | "message", _) => {
                                Err(fail(SubscriptionError::Field("logEvents[]")))
                            }
                            _ => sc.skip(),
                        })?;
                        if !has_message {
                            return Err(fail(SubscriptionError::Field("logEvents[].message")));
                        }
                        events.push(ev);
                        Ok(())
                    })
                }
                _ => sc.skip(),
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        res?;
        if !sc.at_end() {
            return Err(SubscriptionError::Field("payload"));
        }
        if !seen_type {
            return Err(SubscriptionError::Field("messageType"));
        }
        if !seen_events {
            return Err(SubscriptionError::Field("logEvents"));
        }
        let arena = &self.arena.buf[..self.arena.len];
        debug_assert!(std::str::from_utf8(arena).is_ok());
        // SAFETY: `arena[..len]` is a concatenation of runs of `text` (valid UTF-8: `from_utf8` above)
        // cut only before and after ASCII bytes (quotes, backslashes, escape sequences), and of
        // escapes encoded with `char::encode_utf8`. Every byte below `len` was last written as part of
        // one of those (the copy loop's stores past a run's end are overwritten or lie beyond `len`),
        // so it is valid UTF-8 and need not be validated a second time.
        let arena = unsafe { std::str::from_utf8_unchecked(arena) };
        let json = text;
        let get = |s: Span| -> &str {
            match s {
                Span::Empty => "",
                Span::Json(a, b) | Span::Escaped(a, b) => &json[a..b],
                Span::Arena(a, b) => &arena[a..b],
            }
        };
        Ok(LogsData {
            message_type: get(head[0]),
            owner: get(head[1]),
            log_group: get(head[2]),
            log_stream: get(head[3]),
            subscription_filters: self.filters.iter().map(|s| get(*s)).collect(),
            log_events: self
                .events
                .iter()
                .map(|e| LogEvent {
                    id: get(e.id),
                    timestamp: e.timestamp,
                    message: Message {
                        body: get(e.message),
                        escaped: matches!(e.message, Span::Escaped(..)),
                    },
                })
                .collect(),
        })
    }
}

const FIELDS: [&str; 4] = ["messageType", "owner", "logGroup", "logStream"];

/// The unescaped-message arena: `buf` is sized once per payload to hold every string of it (an
/// unescaped string is never longer than its escaped text) plus slack, so unescaping writes into it
/// without growth checks; `len` is how much of it is in use.
#[derive(Default)]
struct Arena {
    buf: Vec<u8>,
    len: usize,
}

/// Slack after the payload's length in the arena: the copy loop stores 8 bytes at a time.
const ARENA_SLACK: usize = 16;

impl Arena {
    fn reset(&mut self, json_len: usize) {
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
fn string_span(sc: &mut Scanner<'_>, text: &str, arena: &mut Arena) -> Result<Span, ScanError> {
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
fn message_span(sc: &mut Scanner<'_>, text: &str) -> Result<Span, ScanError> {
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

/// The scan of [`message_span`] from `start` (just inside the opening quote): the position of the
/// closing quote and whether a backslash came before it.
struct MessageEnd<'b> {
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
fn escaped_chars(backslash: u64, next_escaped: &mut u64) -> u64 {
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
fn special_byte(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// A mask whose lowest set bit (little-endian byte order) marks the first special byte of `w`, zero
/// when there is none. Bits above the first match may be spurious (borrows), never below it.
#[inline(always)]
fn special_mask(w: u64) -> u64 {
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
fn copy_run(b: &[u8], out: &mut [u8], mut pos: usize, mut o: usize) -> (usize, usize) {
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
fn unescape_into(
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
        let e = *b.get(pos + 1).ok_or(ScanError::Eof)?;
        if e == b'"' {
            // The common escape: a record is JSON inside this string.
            out[o] = b'"';
            o += 1;
            pos += 2;
            continue;
        }
        pos += 2;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => 0,
            _ => return Err(ScanError::Escape(at)),
        };
        if e != b'u' {
            out[o] = simple;
            o += 1;
            continue;
        }
        let hi = hex4(b, pos)?;
        pos += 4;
        let cp = if (0xD800..0xDC00).contains(&hi) {
            if b.get(pos) != Some(&b'\\') || b.get(pos + 1) != Some(&b'u') {
                return Err(ScanError::Escape(at));
            }
            let lo = hex4(b, pos + 2)?;
            pos += 6;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(ScanError::Escape(at));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        let ch = char::from_u32(cp).ok_or(ScanError::Escape(at))?;
        o += ch.encode_utf8(&mut out[o..]).len();
    }
}

fn hex4(b: &[u8], pos: usize) -> Result<u32, ScanError> {
    let h = b.get(pos..pos + 4).ok_or(ScanError::Eof)?;
    let mut v = 0u32;
    for &c in h {
        let d = (c as char).to_digit(16).ok_or(ScanError::Escape(pos))?;
        v = v * 16 + d;
    }
    Ok(v)
}

/// Inflates a gzip stream (one or more members) into `out`, checking each member's CRC and length.
fn gunzip(input: &[u8], z: &mut Decompress, out: &mut Vec<u8>) -> Result<(), SubscriptionError> {
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
fn gzip_header(b: &[u8]) -> Result<&[u8], SubscriptionError> {
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

/// `awslogs.data` of a Lambda event given as JSON text (any other members are ignored).
pub fn awslogs_data(event: &str) -> Result<Cow<'_, str>, SubscriptionError> {
    let mut sc = Scanner::new(event);
    let mut data = None;
    let not = |_| SubscriptionError::NotAnEvent;
    if sc.peek_kind().map_err(not)? != Kind::Object {
        return Err(SubscriptionError::NotAnEvent);
    }
    sc.object(|sc, k| {
        if k == "awslogs" && sc.peek_kind()? == Kind::Object {
            sc.object(|sc, k| {
                if k == "data" && sc.peek_kind()? == Kind::String {
                    data = Some(sc.string()?);
                    Ok(())
                } else {
                    sc.skip()
                }
            })
        } else {
            sc.skip()
        }
    })
    .map_err(not)?;
    data.ok_or(SubscriptionError::NotAnEvent)
}

/// Builds the `awslogs.data` string for a payload: standard padded base64 of gzip of its JSON.
pub fn encode_data(data: &LogsData<'_>) -> String {
    let json = payload_json(data);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes())
        .expect("writing to a Vec cannot fail");
    let bytes = gz.finish().expect("writing to a Vec cannot fail");
    STANDARD.encode(bytes)
}

/// Builds a whole Lambda event: `{"awslogs":{"data":"…"}}`.
pub fn encode(data: &LogsData<'_>) -> String {
    serde_json::json!({ "awslogs": { "data": encode_data(data) } }).to_string()
}

/// The payload's JSON, with members in the order CloudWatch Logs writes them.
pub fn payload_json(d: &LogsData<'_>) -> String {
    use std::fmt::Write as _;
    let q = |v: &str| serde_json::Value::String(v.to_string()).to_string();
    let mut out = String::with_capacity(
        256 + d
            .log_events
            .iter()
            .map(|e| e.message.len() + 96)
            .sum::<usize>(),
    );
    let filters: Vec<String> = d.subscription_filters.iter().map(|f| q(f)).collect();
    let _ = write!(
        out,
        "{{\"messageType\":{},\"owner\":{},\"logGroup\":{},\"logStream\":{},\"subscriptionFilters\":[{}],\"logEvents\":[",
        q(d.message_type),
        q(d.owner),
        q(d.log_group),
        q(d.log_stream),
        filters.join(",")
    );
    for (i, e) in d.log_events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"id\":{},\"timestamp\":{},\"message\":",
            q(e.id),
            e.timestamp
        );
        e.message.write_json(&mut out);
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// A log event id in CloudWatch's shape (56 decimal digits), derived from the ingestion time and a
/// sequence number so generated events are reproducible.
pub fn event_id(timestamp_ms: i64, seq: u64) -> String {
    format!("{:032}{:024}", timestamp_ms.max(0), seq)
}

/// The control message CloudWatch Logs sends to check that a destination is reachable.
pub fn control_message(timestamp_ms: i64) -> LogsData<'static> {
    LogsData {
        message_type: CONTROL_MESSAGE,
        owner: "CloudwatchLogs",
        log_group: "",
        log_stream: "",
        subscription_filters: Vec::new(),
        log_events: vec![LogEvent {
            id: "",
            timestamp: timestamp_ms,
            message: "CWL CONTROL MESSAGE: Checking health of destination Lambda function.".into(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LogsData<'static> {
        LogsData {
            message_type: DATA_MESSAGE,
            owner: "111122223333",
            log_group: "/aws/bedrock/modelinvocations",
            log_stream: "aws/bedrock/modelinvocations",
            subscription_filters: vec!["bedrock-meter"],
            log_events: vec![
                LogEvent {
                    id: "1",
                    timestamp: 1_764_000_000_000,
                    message: r#"{"timestamp":"2025-11-24T16:00:00Z","modelId":"m.x","note":"tab\tquote\" é 😀"}"#.into(),
                },
                LogEvent {
                    id: "2",
                    timestamp: 1_764_000_000_500,
                    message: "plain text, no escapes".into(),
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let d = sample();
        let event = encode(&d);
        let mut dec = Decoder::new();
        let got = dec.decode_event(&event).unwrap();
        assert_eq!(got, d);
        assert!(!got.is_control());
        // The decoder is reusable, and a control message is recognised.
        let c = control_message(5);
        let got = dec.decode_event(&encode(&c)).unwrap();
        assert!(got.is_control());
        assert_eq!(got.log_events.len(), 1);
    }

    #[test]
    fn unicode_escapes_and_padding() {
        let json = r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"9","timestamp":3,"message":"a\u00e9\ud83d\ude00\n\/"}]}"#;
        let mut dec = Decoder::new();
        let got = dec.decode_json(json.as_bytes()).unwrap();
        assert_eq!(got.log_events[0].message.text().unwrap(), "aé😀\n/");
        // Unpadded base64 is accepted too.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(json.as_bytes()).unwrap();
        let b = gz.finish().unwrap();
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&b);
        assert_eq!(
            dec.decode_data(&unpadded).unwrap().log_events[0]
                .message
                .text()
                .unwrap(),
            "aé😀\n/"
        );
    }

    #[test]
    fn errors_are_typed() {
        let mut dec = Decoder::new();
        assert_eq!(
            dec.decode_event(r#"{"other":1}"#),
            Err(SubscriptionError::NotAnEvent)
        );
        assert!(matches!(
            dec.decode_data("!!!"),
            Err(SubscriptionError::Base64(_))
        ));
        assert!(matches!(
            dec.decode_data(&STANDARD.encode(b"not gzip at all")),
            Err(SubscriptionError::Gzip(_))
        ));
        let good = encode_data(&sample());
        let mut raw = STANDARD.decode(&good).unwrap();
        let n = raw.len();
        raw[n - 6] ^= 0xff; // CRC
        assert_eq!(
            dec.decode_data(&STANDARD.encode(&raw)),
            Err(SubscriptionError::Gzip("CRC mismatch"))
        );
        let raw = STANDARD.decode(&good).unwrap();
        for cut in [11, raw.len() / 2, raw.len() - 3] {
            assert!(
                dec.decode_data(&STANDARD.encode(&raw[..cut])).is_err(),
                "cut {cut}"
            );
        }
        for bad in [
            r#"{"logEvents":[]}"#,
            r#"{"messageType":"DATA_MESSAGE"}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":"x","message":""}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"unterminated}]}"#,
            r#"{"messageType":"DATA_MESSAGE","logEvents":[]} trailing"#,
            r#"[1]"#,
            "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"id\":\"1\",\"timestamp\":1,\"message\":\"a\\\"b\x01\"}]}",
            "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"id\":\"1\",\"timestamp\":1,\"message\":\"\\\"0123456789abcdefghijklmnop\nq\"}]}",
            "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"id\":\"1\",\"timestamp\":1,\"message\":\"\\\"0123456789abcdefghijklmnop",
        ] {
            assert!(dec.decode_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn any_message_round_trips() {
        let alphabet: Vec<char> = "ab\"\\/\n\t\u{1}é😀{}:, 0123456789".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let msgs: Vec<String> = (0..300)
            .map(|_| {
                let len = (next() % 80) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            })
            .collect();
        let d = LogsData {
            message_type: DATA_MESSAGE,
            log_events: msgs
                .iter()
                .map(|m| LogEvent {
                    id: "1",
                    timestamp: 2,
                    message: m.as_str().into(),
                })
                .collect(),
            ..Default::default()
        };
        let mut dec = Decoder::new();
        assert_eq!(dec.decode_data(&encode_data(&d)).unwrap(), d);
    }

    #[test]
    fn multi_member_gzip() {
        let json = payload_json(&sample());
        let (a, b) = json.split_at(40);
        let mut bytes = Vec::new();
        for part in [a, b] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part.as_bytes()).unwrap();
            bytes.extend(gz.finish().unwrap());
        }
        let mut dec = Decoder::new();
        assert_eq!(dec.decode_data(&STANDARD.encode(&bytes)).unwrap(), sample());
    }

    #[test]
    fn large_payload() {
        let big = "x".repeat(300_000);
        let msgs: Vec<String> = (0..20)
            .map(|i| format!("{{\"i\":{i},\"b\":\"{big}\"}}"))
            .collect();
        let d = LogsData {
            message_type: DATA_MESSAGE,
            log_events: msgs
                .iter()
                .enumerate()
                .map(|(i, m)| LogEvent {
                    id: "7",
                    timestamp: i as i64,
                    message: m.as_str().into(),
                })
                .collect(),
            ..Default::default()
        };
        let mut dec = Decoder::new();
        let got = dec.decode_data(&encode_data(&d)).unwrap();
        assert_eq!(got.log_events.len(), 20);
        assert_eq!(got.log_events[19].message.text().unwrap(), msgs[19]);
    }

    /// Where a message string ends, found one character at a time: the reference for the block scan.
    fn message_end_reference(b: &[u8]) -> Option<(usize, bool)> {
        let mut i = 1;
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
        if b[1..end].iter().any(|&c| c < 0x20) {
            return None;
        }
        Some((end, escaped))
    }

    /// Messages for the end scan: runs of backslashes of every length across 64-byte block boundaries,
    /// escaped and unescaped quotes, multi-byte characters, the odd control byte; plus adversarial
    /// ones: a quote, a backslash or a control byte at every position around the block edges, and
    /// texts that end inside an escape.
    fn end_scan_inputs() -> Vec<Vec<u8>> {
        let alphabet = [
            b'a', b'a', b'a', b'a', b'a', b'a', b'\\', b'\\', b'"', b'{', 0xc3,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
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
            let want = message_end_reference(&body);
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

    /// A stream that inflates past the cap is refused without the buffer ever growing past it (plus
    /// the one byte that tells): the trailer's size lies, so the buffer grows step by step.
    #[test]
    fn the_inflate_buffer_never_grows_past_the_cap() {
        use flate2::write::GzEncoder;
        use std::io::Write as _;
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_INFLATED_BYTES >> 20) + 4 {
            enc.write_all(&zeros).unwrap();
        }
        let mut gz = enc.finish().unwrap();
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&100u32.to_le_bytes()); // a lying ISIZE
        let mut out = Vec::new();
        let mut z = Decompress::new(false);
        assert_eq!(
            gunzip(&gz, &mut z, &mut out),
            Err(SubscriptionError::TooLarge)
        );
        assert!(
            out.capacity() <= MAX_INFLATED_BYTES + 1,
            "buffer grew to {} bytes",
            out.capacity()
        );
    }
}
