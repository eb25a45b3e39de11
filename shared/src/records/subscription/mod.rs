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

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::records::record::{parse, parse_escaped_push, parse_escaped_with, Record, RecordError};
use crate::records::scan::ContainerEnds;
use crate::records::scan::{ScanError, Scanner, ValueKind};

mod encode;
mod gzip;
mod payload;

#[cfg(test)]
pub(crate) use encode::encode_data;
pub use encode::{control_message, encode, event_id, payload_json};
pub use gzip::OneMember;
use gzip::{gunzip, Inflaters};
use payload::{message_span, string_span, Arena, FIELDS};

/// `messageType` of a log batch.
pub const DATA_MESSAGE: &str = "DATA_MESSAGE";
/// `messageType` of the reachability probe CloudWatch Logs sends when a subscription is created.
pub(crate) const CONTROL_MESSAGE: &str = "CONTROL_MESSAGE";

/// Inflated payloads larger than this are refused (a subscription event is at most 1 MB compressed; this
/// bounds what a hostile or corrupt gzip stream can make the function allocate).
pub(crate) const MAX_INFLATED_BYTES: usize = 64 * 1024 * 1024;

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
#[derive(Clone, Copy)]
pub struct Message<'a> {
    body: &'a str,
    escaped: bool,
    /// The ends of the record's containers the decoder found as it read the message (a message of
    /// [`payload::SHORT_MESSAGE`] bytes or more that opens with `{`; often none): the in-place
    /// parser of an escaped message skips those by a lookup (the plain parser does not read them).
    ends: ContainerEnds<'a>,
}

impl std::fmt::Debug for Message<'_> {
    /// The text and how it is kept; of the container ends only how many (up to 65,536).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("body", &self.body)
            .field("escaped", &self.escaped)
            .field("ends", &self.ends.len())
            .finish()
    }
}

impl<'a> Message<'a> {
    /// A message given as its text.
    pub fn text_of(text: &'a str) -> Message<'a> {
        Message {
            body: text,
            escaped: false,
            ends: &[],
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
            parse_escaped_with(self.body, self.ends)
        } else {
            parse(self.body)
        }
    }

    /// [`Message::parse`], the record pushed onto `out` (read in place when the message was left
    /// escaped, and built in its slot of `out`); on an error `out` is as it was.
    pub fn parse_push(self, out: &mut Vec<Record<'a>>) -> Result<(), RecordError> {
        if self.escaped {
            parse_escaped_push(self.body, self.ends, out)
        } else {
            out.push(parse(self.body)?);
            Ok(())
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
    /// The range of the decoder's `ends` that holds the message's container ends.
    ends: (u32, u32),
}

/// Reusable decoding state (keep one per Lambda instance).
pub struct Decoder {
    compressed: Vec<u8>,
    json: Vec<u8>,
    arena: Arena,
    inflate: Inflaters,
    filters: Vec<Span>,
    events: Vec<EventSpans>,
    /// The messages' container ends ([`Message`]), each event's in its range.
    ends: Vec<(u32, u32)>,
    /// Whether log events in CloudWatch's compact form are read by [`payload::compact_event`] (always,
    /// except in the tests that hold it equal to the general scanner).
    compact_events: bool,
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
            inflate: Inflaters::new(),
            filters: Vec::new(),
            events: Vec::new(),
            ends: Vec::new(),
            compact_events: true,
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
        // SAFETY: `gunzip` returned `Ok`: it checked all of `self.json` to be UTF-8.
        unsafe { self.parse_json() }
    }

    /// Decodes `awslogs.data` as the event's deserialization left it (already out of base64).
    pub fn decode_base64_data<'s>(
        &'s mut self,
        data: &Base64Data,
    ) -> Result<LogsData<'s>, SubscriptionError> {
        gunzip(data.gzip()?, &mut self.inflate, &mut self.json)?;
        // SAFETY: `gunzip` returned `Ok`: it checked all of `self.json` to be UTF-8.
        unsafe { self.parse_json() }
    }

    /// Decodes an already inflated payload (JSON text).
    pub fn decode_json<'s>(&'s mut self, json: &[u8]) -> Result<LogsData<'s>, SubscriptionError> {
        self.json.clear();
        self.json.extend_from_slice(json);
        if simdutf8::basic::from_utf8(&self.json).is_err() {
            return Err(SubscriptionError::Utf8);
        }
        // SAFETY: `self.json` was just checked to be UTF-8.
        unsafe { self.parse_json() }
    }

    /// Reads the payload in `self.json`.
    ///
    /// # Safety
    /// All of `self.json` must be UTF-8, checked by the caller: with simdutf8's SIMD check (AVX2 or
    /// SSE4.2 chosen at run time, NEON on aarch64; the same answer as `std::str::from_utf8` at a
    /// fraction of its instructions): by [`gunzip`] (whole after libdeflate's inflate of one member,
    /// piece by piece in the same pass as the CRC after zlib-rs's), or whole (`decode_json`).
    unsafe fn parse_json(&mut self) -> Result<LogsData<'_>, SubscriptionError> {
        debug_assert!(std::str::from_utf8(&self.json).is_ok());
        // SAFETY: the caller checked all of `self.json` to be UTF-8 (this function's contract), and
        // nothing has changed it since.
        let text = unsafe { std::str::from_utf8_unchecked(&self.json) };
        self.arena.reset(text.len());
        self.filters.clear();
        self.events.clear();
        self.ends.clear();
        let mut head = [Span::Empty; 4]; // messageType, owner, logGroup, logStream
        let mut seen_type = false;
        let mut seen_events = false;
        let mut sc = Scanner::new(text);
        let (arena, filters, events, ends) = (
            &mut self.arena,
            &mut self.filters,
            &mut self.events,
            &mut self.ends,
        );
        let compact_events = self.compact_events;
        let mut failed: Option<SubscriptionError> = None;
        let mut fail = |e: SubscriptionError| {
            failed.get_or_insert(e);
            ScanError::Eof
        };
        if sc.peek_kind()? != ValueKind::Object {
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
                    ValueKind::String => {
                        head[i] = string_span(sc, text, arena)?;
                        Ok(())
                    }
                    ValueKind::Null => {
                        sc.null();
                        Ok(())
                    }
                    _ => Err(fail(SubscriptionError::Field(FIELDS[i]))),
                };
            }
            match key.as_ref() {
                "subscriptionFilters" => match sc.peek_kind()? {
                    ValueKind::Array => sc.array(|sc| {
                        if sc.peek_kind()? == ValueKind::String {
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
                    if sc.peek_kind()? != ValueKind::Array {
                        return Err(fail(SubscriptionError::Field("logEvents")));
                    }
                    sc.array(|sc| {
                        if compact_events {
                            if let Some((ev, end)) =
                                payload::compact_event(text.as_bytes(), sc.pos, ends)
                            {
                                sc.pos = end;
                                events.push(ev);
                                return Ok(());
                            }
                        }
                        if sc.peek_kind()? != ValueKind::Object {
                            return Err(fail(SubscriptionError::Field("logEvents[]")));
                        }
                        let mut ev = EventSpans::default();
                        let mut has_message = false;
                        sc.object(|sc, k| match (k.as_ref(), sc.peek_kind()?) {
                            ("id", ValueKind::String) => {
                                ev.id = string_span(sc, text, arena)?;
                                Ok(())
                            }
                            ("timestamp", ValueKind::Number) => {
                                let t = sc.u64()?;
                                ev.timestamp = i64::try_from(t)
                                    .map_err(|_| fail(SubscriptionError::Field("timestamp")))?;
                                Ok(())
                            }
                            ("message", ValueKind::String) => {
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
        // SAFETY: `arena[..len]` is a concatenation of runs of `text` (valid UTF-8: checked before `text` was made)
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
                        ends: &self.ends[e.ends.0 as usize..e.ends.1 as usize],
                    },
                })
                .collect(),
        })
    }
}

/// `awslogs.data` of a Lambda event given as JSON text (any other members are ignored).
fn awslogs_data(event: &str) -> Result<Cow<'_, str>, SubscriptionError> {
    let mut sc = Scanner::new(event);
    let mut data = None;
    let not = |_| SubscriptionError::NotAnEvent;
    if sc.peek_kind().map_err(not)? != ValueKind::Object {
        return Err(SubscriptionError::NotAnEvent);
    }
    sc.object(|sc, k| {
        if k == "awslogs" && sc.peek_kind()? == ValueKind::Object {
            sc.object(|sc, k| {
                if k == "data" && sc.peek_kind()? == ValueKind::String {
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

/// `awslogs.data` as a Lambda event carries it, decoded from base64 while the event is deserialized:
/// the gzip bytes, straight from the event's text (serde's byte path: serde_json finds the string's
/// end with a SIMD search for `"` and `\\`, and no copy of the 1 MB text or UTF-8 check of it is
/// made), or — kept for the handler, which reports it as [`Decoder::decode_data`] would, with a
/// failure pointer and a retry — the text and why it is not base64. Whitespace at the ends is
/// ignored as `decode_data`'s trim does (Unicode whitespace included). What fails the deserialization
/// itself: a value that is not a string, and a raw control byte among the whitespace at either end
/// (where a trim would drop it). A control byte anywhere else, invalid UTF-8 and a lone surrogate
/// escape are not base64: the handler's error. Its `Debug` shows lengths only, never the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Base64Data {
    decoded: Result<Vec<u8>, NotBase64>,
    text_len: usize,
}

impl std::fmt::Debug for Base64Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Base64Data");
        d.field("text_len", &self.text_len);
        match &self.decoded {
            Ok(g) => d.field("gzip_len", &g.len()),
            Err(e) => d.field("not_base64", &e.error),
        };
        d.finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
struct NotBase64 {
    text: Vec<u8>,
    error: String,
}

impl Base64Data {
    /// Decodes `text` (standard base64, padded or not, whitespace at its ends ignored as
    /// `str::trim` does).
    pub fn from_text(text: &[u8]) -> Base64Data {
        let mut inner = text.trim_ascii();
        // Whitespace beyond ASCII at an end (rare): trimmed as `decode_data`'s `str::trim` does.
        if inner.first().is_some_and(|&b| b >= 0x80) || inner.last().is_some_and(|&b| b >= 0x80) {
            if let Ok(t) = std::str::from_utf8(inner) {
                inner = t.trim().as_bytes();
            }
        }
        let mut decoded = Vec::new();
        let decoded = match LENIENT.decode_vec(inner, &mut decoded) {
            Ok(()) => Ok(decoded),
            Err(e) => Err(NotBase64 {
                text: text.to_vec(),
                error: e.to_string(),
            }),
        };
        Base64Data {
            decoded,
            text_len: text.len(),
        }
    }

    /// The length of the base64 text, in bytes.
    pub fn text_len(&self) -> usize {
        self.text_len
    }

    /// The gzip bytes, or why the text is not base64.
    pub fn gzip(&self) -> Result<&[u8], SubscriptionError> {
        match &self.decoded {
            Ok(g) => Ok(g),
            Err(e) => Err(SubscriptionError::Base64(e.error.clone())),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Base64Data {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Base64Data;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a base64 string")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Base64Data, E> {
                self.visit_bytes(v.as_bytes())
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Base64Data, E> {
                // A trim would take a control byte among the whitespace at either end with it:
                // refuse those here, as the string path did (elsewhere, base64 refuses them).
                let blank = |b: &&u8| **b <= b' ';
                if v.iter().take_while(blank).any(|&b| b < 0x20)
                    || v.iter().rev().take_while(blank).any(|&b| b < 0x20)
                {
                    return Err(E::invalid_value(
                        serde::de::Unexpected::Str("a control character"),
                        &self,
                    ));
                }
                Ok(Base64Data::from_text(v))
            }
        }
        deserializer.deserialize_bytes(Text)
    }
}

impl serde::Serialize for Base64Data {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.decoded {
            Ok(g) => serializer.serialize_str(&STANDARD.encode(g)),
            Err(e) => serializer.serialize_str(&String::from_utf8_lossy(&e.text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use std::io::Write as _;

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

    /// The payload decoded with and without the compact-event reader: equal results (both errors, or
    /// the same data).
    fn decode_both_ways(json: &str) -> Result<usize, SubscriptionError> {
        let mut fast = Decoder::new();
        let mut general = Decoder::new();
        general.compact_events = false;
        let a = fast.decode_json(json.as_bytes());
        let b = general.decode_json(json.as_bytes());
        match (&a, &b) {
            (Ok(x), Ok(y)) => {
                assert_eq!(x.log_events.len(), y.log_events.len(), "{json}");
                for (e, f) in x.log_events.iter().zip(&y.log_events) {
                    // The same spans: equal text, escaped the same way.
                    assert_eq!(
                        (e.id, e.timestamp, e.message.body, e.message.escaped),
                        (f.id, f.timestamp, f.message.body, f.message.escaped),
                        "{json}"
                    );
                    // The same record, whatever container ends the compact reader found (the
                    // general one finds none).
                    assert!(f.message.ends.is_empty());
                    assert_eq!(e.message.parse(), f.message.parse(), "{json}");
                }
                assert_eq!(x, y);
            }
            (Err(_), Err(_)) => {}
            _ => panic!("{json}: {a:?} vs {b:?}"),
        }
        a.map(|d| d.log_events.len())
    }

    #[test]
    fn compact_events_read_as_the_general_scanner_reads_them() {
        let head = r#"{"messageType":"DATA_MESSAGE","owner":"1","logEvents":["#;
        let events = [
            r#"{"id":"37000000000000000000000000000000000000000000000000000001","timestamp":1764064500123,"message":"{\"modelId\":\"m\"}"}"#,
            r#"{"id":"1","timestamp":0,"message":"plain"}"#,
            r#"{"id":"1","timestamp":0,"message":""}"#,
            r#"{"id":"","timestamp":9223372036854775807,"message":"x"}"#,
            // not compact: read by the general scanner, the same way
            r#"{"id":"1","timestamp":9223372036854775808,"message":"x"}"#,
            r#"{"id":"1","timestamp":18446744073709551616,"message":"x"}"#,
            r#"{"id":"1","timestamp":01,"message":"x"}"#,
            r#"{"id":"1","timestamp":1.0,"message":"x"}"#,
            r#"{"id":"1","timestamp":-1,"message":"x"}"#,
            r#"{"id":"1\"2","timestamp":1,"message":"x"}"#,
            r#"{"id":"1\u0032","timestamp":1,"message":"x"}"#,
            r#"{"id":"1","message":"x","timestamp":1}"#,
            r#"{"timestamp":1,"id":"1","message":"x"}"#,
            r#"{"id":"1","timestamp":1,"message":"x","extra":[1,{"a":"}"}]}"#,
            r#"{"id":"1","timestamp":1,"message":"x","message":"y"}"#,
            r#"{"id":"1","timestamp":1,"id":"2","message":"y"}"#,
            r#"{ "id":"1","timestamp":1,"message":"x"}"#,
            r#"{"id":"1","timestamp":1,"message":"x" }"#,
            r#"{"id":"1","timestamp":1,"message":"a\u00e9\ud83d\ude00\n\/\\\""}"#,
            r#"{"id":"1","timestamp":1,"message":"bad \x escape is found when read"}"#,
            r#"{"id":"1","timestamp":1,"message":"unterminated"#,
            r#"{"id":"1","timestamp":1,"message":"x"]"#,
            r#"{"id":1,"timestamp":1,"message":"x"}"#,
            r#"{"id":"1","timestamp":"1","message":"x"}"#,
            r#"{"id":"1","timestamp":1,"message":null}"#,
            r#"{"id":"1","timestamp":1}"#,
            "{\"id\":\"1\",\"timestamp\":1,\"message\":\"raw control \u{1}\"}",
            "{\"id\":\"1\u{1}\",\"timestamp\":1,\"message\":\"control in the id\"}",
        ];
        let mut ok = 0;
        for ev in events {
            for n in [1, 3] {
                let json = format!("{head}{}]}}", vec![ev; n].join(","));
                ok += usize::from(decode_both_ways(&json).is_ok());
            }
        }
        assert!(ok > 10, "{ok}");
        // Random edits of a compact payload.
        let good = format!("{head}{}]}}", [events[0], events[1], events[18]].join(","));
        let mut rng = crate::test_support::Rng(0x9e37_79b9_7f4a_7c15u64);
        let mut next = |n: u64| rng.below(n);
        let (mut n_ok, mut n_err) = (0, 0);
        // Fewer rounds under qemu (the aarch64 step of the test command), where each costs ~20×.
        let rounds = if cfg!(target_arch = "aarch64") {
            3_000
        } else {
            20_000
        };
        for _ in 0..rounds {
            let mut b = good.clone().into_bytes();
            for _ in 0..=next(2) {
                let at = next(b.len() as u64) as usize;
                match next(3) {
                    0 => {
                        b.remove(at);
                    }
                    1 => b[at] = b"0 9\\\"{}:,\x01"[next(10) as usize],
                    _ => b.insert(at, b"0 9\\\"{}:,"[next(9) as usize]),
                }
            }
            let Ok(json) = String::from_utf8(b) else {
                continue;
            };
            match decode_both_ways(&json) {
                Ok(_) => n_ok += 1,
                Err(_) => n_err += 1,
            }
        }
        assert!(n_ok * 20 > rounds && n_err * 20 > rounds, "{n_ok} {n_err}");
    }

    /// A record as Bedrock logs it with text delivery on: its request and response bodies, token
    /// counts `[input, cache read, output]`.
    fn record_with_bodies(
        round: usize,
        input: serde_json::Value,
        output: serde_json::Value,
        tokens: [u64; 3],
    ) -> serde_json::Value {
        serde_json::json!({
            "schemaType": "ModelInvocationLog",
            "timestamp": "2026-11-25T10:00:00Z",
            "accountId": "123456789012",
            "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/r/s"},
            "region": "us-east-1",
            "requestId": format!("r{round}"),
            "operation": "Converse",
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "input": {
                "inputContentType": "application/json",
                "inputBodyJson": input,
                "inputTokenCount": tokens[0],
                "cacheReadInputTokenCount": tokens[1],
            },
            "output": {
                "outputContentType": "application/json",
                "outputBodyJson": output,
                "outputTokenCount": tokens[2],
            },
        })
    }

    /// Records with bodies, longer than the plain scan's share ([`payload::SHORT_MESSAGE`]): the
    /// compact reader finds their members' ends as it finds the message's end, and the record read
    /// with them is the one read without them (`decode_both_ways`), also after random edits of the
    /// bodies (a raw quote, a control byte, a bracket more or less, a backslash).
    #[test]
    fn records_read_with_the_container_ends_found_while_decoding_are_the_same() {
        let mut rng = crate::test_support::Rng(0x3c6e_f372_fe94_f82b);
        let words = [
            "cost ", "token ", "{x} ", "[y] ", "\"q\" ", "a\\b ", "\n", "é ", "😀 ",
        ];
        let prose = |rng: &mut crate::test_support::Rng, n: u64| -> String {
            (0..n)
                .map(|_| words[rng.below(words.len() as u64) as usize])
                .collect()
        };
        let head = r#"{"messageType":"DATA_MESSAGE","owner":"1","logEvents":["#;
        let (mut with_ends, mut edited_ok) = (0, 0);
        for round in 0..300 {
            let turns: Vec<serde_json::Value> = (0..1 + rng.below(8))
                .map(|i| {
                    let n = 20 + rng.below(200);
                    serde_json::json!({
                        "role": if i % 2 == 0 { "user" } else { "assistant" },
                        "content": [{"text": prose(&mut rng, n)}],
                    })
                })
                .collect();
            let tier = ["priority", "flex", "default"][rng.below(3) as usize];
            let mut body =
                serde_json::json!({"messages": turns, "inferenceConfig": {"maxTokens": 512}});
            if round % 2 == 0 {
                body["serviceTier"] = serde_json::json!({"type": tier});
            }
            let output = serde_json::json!([{"delta": {"text": prose(&mut rng, 30)}}, {"usage": {"outputTokens": 9}}]);
            let tokens = [rng.below(100_000), rng.below(1000), rng.below(5000)];
            let record = record_with_bodies(round, body, output, tokens);
            let message = serde_json::Value::String(record.to_string()).to_string();
            let event = format!(r#"{{"id":"{round}","timestamp":1,"message":{message}}}"#);
            let json = format!("{head}{event},{event}]}}");
            assert_eq!(decode_both_ways(&json).ok(), Some(2), "{json}");
            let mut fast = Decoder::new();
            let logs = fast.decode_json(json.as_bytes()).unwrap();
            let long = message.len() > payload::SHORT_MESSAGE + 2;
            if long {
                assert!(
                    logs.log_events.iter().all(|e| !e.message.ends.is_empty()),
                    "{json}"
                );
                with_ends += 1;
            }
            assert_eq!(
                logs.log_events[0].message.parse().unwrap(),
                parse(&record.to_string()).unwrap().into_owned()
            );
            // Edits of the first event's message, in its bodies.
            let mut b = json.clone().into_bytes();
            let from = json.find("inputBodyJson").unwrap();
            let to = json.find("outputTokenCount").unwrap();
            for _ in 0..=rng.below(2) {
                let at = from + rng.below((to - from) as u64) as usize;
                match rng.below(3) {
                    0 => {
                        b.remove(at);
                    }
                    1 => b[at] = b"\"\\{}[]\x01n"[rng.below(8) as usize],
                    _ => b.insert(at, b"\"\\{}[]\x1fn"[rng.below(8) as usize]),
                }
            }
            if let Ok(edited) = String::from_utf8(b) {
                edited_ok += usize::from(decode_both_ways(&edited).is_ok());
            }
        }
        assert!(with_ends > 200, "{with_ends} payloads with container ends");
        assert!(edited_ok > 50, "{edited_ok}");
    }

    /// The record parser's fast path alone (no fallback to the unescaped text, which would mask a
    /// wrong end as a slower read of the same record), with and without the ends the decoder found,
    /// on records with bodies and edits of them: the same outcome and the same record. (A lookup
    /// that skipped to a wrong place fails this.)
    #[test]
    fn the_fast_path_reads_the_same_record_with_and_without_the_container_ends() {
        let mut rng = crate::test_support::Rng(0x1234_5678_9abc_def1);
        let words = [
            "cost ", "{x} ", "[y] ", "\"q\" ", "a\\b ", "\n", "é ", "\\\" ",
        ];
        let head = r#"{"messageType":"DATA_MESSAGE","owner":"1","logEvents":["#;
        let (mut taken, mut with_ends) = (0, 0);
        for round in 0..3000 {
            let mut prose = |n: u64| -> String {
                (0..n)
                    .map(|_| words[rng.below(words.len() as u64) as usize])
                    .collect()
            };
            let t1 = prose(300);
            let t2 = prose(30);
            let input = serde_json::json!({
                "messages": [{"role": "user", "content": [{"text": t1}]}],
                "serviceTier": {"type": "flex"},
                "x": [[[[1]]]],
            });
            let output =
                serde_json::json!([{"delta": {"text": t2}}, {"usage": {"outputTokens": 9}}]);
            let record = record_with_bodies(round, input, output, [5, 3, 7]);
            let message = serde_json::Value::String(record.to_string()).to_string();
            let event = format!(r#"{{"id":"{round}","timestamp":1,"message":{message}}}"#);
            let json = format!("{head}{event}]}}");
            let mut b = json.clone().into_bytes();
            let from = json.find("\"input").unwrap();
            let to = json.len() - 4;
            for _ in 0..rng.below(4) {
                let at = from + rng.below((to - from) as u64) as usize;
                let c = b"\"\\{}[],:n1 \x01"[rng.below(12) as usize];
                match rng.below(3) {
                    0 => {
                        b.remove(at);
                    }
                    1 => b[at] = c,
                    _ => b.insert(at, c),
                }
            }
            let Ok(text) = String::from_utf8(b) else {
                continue;
            };
            let _ = decode_both_ways(&text);
            let mut dec = Decoder::new();
            let Ok(logs) = dec.decode_json(text.as_bytes()) else {
                continue;
            };
            for e in &logs.log_events {
                if !e.message.escaped {
                    continue;
                }
                with_ends += usize::from(!e.message.ends.is_empty());
                let mut r1 = crate::records::record::empty_record();
                let mut r2 = crate::records::record::empty_record();
                let a = crate::records::fast::parse_escaped_into(
                    e.message.body,
                    e.message.ends,
                    &mut r1,
                );
                let b2 = crate::records::fast::parse_escaped_into(e.message.body, &[], &mut r2);
                assert_eq!(a.is_some(), b2.is_some(), "{text}");
                if a.is_some() {
                    taken += 1;
                    assert_eq!(r1, r2, "{text}");
                }
            }
        }
        assert!(taken > 500 && with_ends > 500, "{taken} {with_ends}");
    }

    /// Which messages get container ends: one of [`payload::SHORT_MESSAGE`] bytes or more that opens
    /// with `{`, also without a backslash (not left escaped: the plain parser, which reads it,
    /// ignores them); one shorter does not.
    #[test]
    fn long_messages_that_open_with_a_brace_get_container_ends() {
        let head = r#"{"messageType":"DATA_MESSAGE","owner":"1","logEvents":["#;
        let msg = format!("{{{}[[1]]}}", " ".repeat(2100));
        let json = format!(r#"{head}{{"id":"1","timestamp":1,"message":"{msg}"}}]}}"#);
        let mut dec = Decoder::new();
        let logs = dec.decode_json(json.as_bytes()).unwrap();
        let m = logs.log_events[0].message;
        assert!(!m.escaped);
        assert_eq!(m.ends.len(), 2);
        let msg = format!(
            "{{\\\"a\\\":[{}]}}",
            " ".repeat(payload::SHORT_MESSAGE - 10)
        );
        assert_eq!(msg.len(), payload::SHORT_MESSAGE);
        let json = format!(r#"{head}{{"id":"1","timestamp":1,"message":"{msg}"}}]}}"#);
        let logs = dec.decode_json(json.as_bytes()).unwrap();
        assert_eq!(logs.log_events[0].message.ends.len(), 1);
        let msg = format!(
            "{{\\\"a\\\":[{}]}}",
            " ".repeat(payload::SHORT_MESSAGE - 11)
        );
        let json = format!(r#"{head}{{"id":"1","timestamp":1,"message":"{msg}"}}]}}"#);
        let logs = dec.decode_json(json.as_bytes()).unwrap();
        assert!(logs.log_events[0].message.ends.is_empty());
    }

    #[test]
    fn any_message_round_trips() {
        let alphabet: Vec<char> = "ab\"\\/\n\t\u{1}é😀{}:, 0123456789".chars().collect();
        let mut rng = crate::test_support::Rng(0x2545_f491_4f6c_dd1d);
        let mut next = || rng.next();
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

    /// A stream that inflates past the cap is refused without the buffer ever growing past it (plus
    /// the one byte that tells): the trailer's size lies, so the buffer grows step by step.
    #[test]
    fn the_inflate_buffer_never_grows_past_the_cap() {
        use flate2::write::GzEncoder;
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(MAX_INFLATED_BYTES >> 20) + 4 {
            enc.write_all(&zeros).unwrap();
        }
        let mut gz = enc.finish().unwrap();
        let n = gz.len();
        gz[n - 4..].copy_from_slice(&100u32.to_le_bytes()); // a lying ISIZE
        let mut out = Vec::new();
        let mut z = Inflaters::new();
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

    #[test]
    fn base64_data_decodes_as_the_string_path_and_refuses_what_it_refuses() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct Via {
            data: Base64Data,
        }
        #[derive(serde::Deserialize)]
        struct Plain {
            data: String,
        }
        let data = encode::encode_data(&control_message(1_700_000_000_000));
        for json in [
            format!(r#"{{"data":"{data}"}}"#),
            format!(r#"{{"data":"{}"}}"#, data.replace('/', "\\/")),
            r#"{"data":"aA\/b"}"#.to_string(),
            r#"{"data":""}"#.to_string(),
            format!(r#"{{"data":" {data} "}}"#),
        ] {
            let via: Via = serde_json::from_str(&json).unwrap();
            let plain: Plain = serde_json::from_str(&json).unwrap();
            // The same bytes as base64 of the string the string path reads, and its length.
            let want = LENIENT.decode(plain.data.trim()).unwrap();
            assert_eq!(via.data.gzip().unwrap(), want.as_slice(), "{json}");
            assert_eq!(via.data.text_len(), plain.data.len(), "{json}");
            // Also read from bytes (what lambda_runtime hands serde_json).
            let from_slice: Via = serde_json::from_slice(json.as_bytes()).unwrap();
            assert_eq!(from_slice.data, via.data, "{json}");
        }
        let ok: Via = serde_json::from_str(&format!(r#"{{"data":"{data}"}}"#)).unwrap();
        let mut dec = Decoder::default();
        let want = dec.decode_data(&data).unwrap().message_type.to_string();
        assert_eq!(dec.decode_base64_data(&ok.data).unwrap().message_type, want);
        // Serialized again, it is the same base64 text.
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            format!(r#"{{"data":"{data}"}}"#)
        );
        // A raw control byte: the string path refuses it; this one keeps base64's refusal for the
        // handler (which reports it as decode_data does), and the text for a retry.
        let ctrl = format!("{{\"data\":\"{}\u{1}{}\"}}", &data[..8], &data[8..]);
        assert!(serde_json::from_str::<Plain>(&ctrl).is_err());
        let via: Via = serde_json::from_str(&ctrl).unwrap();
        assert!(matches!(
            Decoder::default().decode_base64_data(&via.data),
            Err(SubscriptionError::Base64(_))
        ));
        assert_eq!(via.data.text_len(), data.len() + 1);
        let again: Plain = serde_json::from_str(&serde_json::to_string(&via).unwrap()).unwrap();
        assert_eq!(again.data, format!("{}\u{1}{}", &data[..8], &data[8..]));
        // Not base64 at all: the same error as decode_data's.
        let bad: Via = serde_json::from_str(r#"{"data":"not base64 !!!"}"#).unwrap();
        assert_eq!(
            Decoder::default()
                .decode_base64_data(&bad.data)
                .unwrap_err(),
            Decoder::default()
                .decode_data("not base64 !!!")
                .unwrap_err()
        );
        // Raw control bytes at either end, where a trim would drop them: refused here.
        for (pre, post) in [
            ("\n", ""),
            ("", "\t"),
            ("\r\n", " "),
            (" ", "\u{c}"),
            ("", "\u{b}"),
            ("\u{1} ", ""),
            ("", " \u{1f}"),
        ] {
            let json = format!("{{\"data\":\"{pre}{data}{post}\"}}");
            assert!(serde_json::from_str::<Plain>(&json).is_err());
            assert!(serde_json::from_str::<Via>(&json).is_err(), "{json:?}");
        }
        // Unicode whitespace at the ends: trimmed, as decode_data's str::trim does.
        for (pre, post) in [("\u{a0}", ""), ("", "\u{3000}"), ("\u{2028} ", " \u{85}")] {
            let text = format!("{pre}{data}{post}");
            let via: Via = serde_json::from_str(&format!("{{\"data\":\"{text}\"}}")).unwrap();
            let plain = Decoder::default()
                .decode_data(&text)
                .unwrap()
                .message_type
                .to_string();
            let mut dec = Decoder::default();
            assert_eq!(
                dec.decode_base64_data(&via.data).unwrap().message_type,
                plain
            );
        }
        // Invalid UTF-8 inside the string (from bytes): not base64, the handler's error.
        let mut bytes = format!(r#"{{"data":"{}"#, &data[..8]).into_bytes();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(format!(r#"{}"}}"#, &data[8..]).as_bytes());
        let via: Via = serde_json::from_slice(&bytes).unwrap();
        assert!(matches!(via.data.gzip(), Err(SubscriptionError::Base64(_))));
        // Debug shows lengths and base64's refusal, never the text.
        let shown = format!(
            "{:?}",
            serde_json::from_str::<Via>(r#"{"data":"CANARY text!"}"#)
                .unwrap()
                .data
        );
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("text_len: 12"), "{shown}");
        // Not a string at all: refused. A lone surrogate escape: the string path refuses it; the
        // byte path reads it as bytes, which base64 refuses.
        assert!(serde_json::from_str::<Via>(r#"{"data":12}"#).is_err());
        assert!(serde_json::from_str::<Plain>(r#"{"data":"\ud800"}"#).is_err());
        let lone: Via = serde_json::from_str(r#"{"data":"\ud800"}"#).unwrap();
        assert!(matches!(
            lone.data.gzip(),
            Err(SubscriptionError::Base64(_))
        ));
    }
}
