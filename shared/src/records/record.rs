//! One Bedrock model-invocation log record (`schemaType: "ModelInvocationLog"`), reduced to what cost
//! and attribution need. Bodies are skipped without building a tree; the one thing read from a body is
//! the cache-write TTL split (`usage.cacheDetails` in Converse responses, `usage.cache_creation` in
//! Anthropic Messages responses), when the body is logged.

use std::borrow::Cow;

use crate::records::scan::{ContainerEnds, ScanError, Scanner, ValueKind};
use crate::time::Timestamp;

/// What a record says, borrowed from its text where it can be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub timestamp: Timestamp,
    pub account_id: Option<Cow<'a, str>>,
    /// The source Region of the call.
    pub region: Option<Cow<'a, str>>,
    pub request_id: Option<Cow<'a, str>>,
    pub operation: Option<Cow<'a, str>>,
    /// Exactly what the caller passed.
    pub model_id: Cow<'a, str>,
    /// `identity.arn` as logged.
    pub caller: Option<Cow<'a, str>>,
    pub inference_region: Option<Cow<'a, str>>,
    pub error_code: Option<Cow<'a, str>>,
    pub request_metadata: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub tokens: Tokens,
    /// The service tier as logged: the tier that served the call (`serviceTier` of the logged Converse
    /// response, or of the record itself) if the record says, else the tier the request asked for
    /// (`serviceTier` of the logged Converse request); `None` when neither is logged (Standard).
    pub service_tier: Option<Cow<'a, str>>,
    /// Whether a request or response body was logged as JSON (text delivery on): without one the
    /// tier cannot be read, and `service_tier` being `None` says nothing.
    pub body_logged: bool,
}

/// The caller of a record without `identity.arn`.
pub(crate) const UNKNOWN_CALLER: &str = "unknown";

impl Record<'_> {
    /// The caller as attributed: `identity.arn` as logged, or [`UNKNOWN_CALLER`].
    pub fn caller_or_unknown(&self) -> &str {
        self.caller
            .as_deref()
            .filter(|c| !c.is_empty())
            .unwrap_or(UNKNOWN_CALLER)
    }

    /// The value of a `requestMetadata` key (the last one, if the key is repeated).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.request_metadata
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }
}

/// Token counts of one request (or a sum of requests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tokens {
    /// Input tokens excluding cache reads and writes.
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    /// All cache-write tokens (5-minute plus 1-hour).
    pub cache_write: u64,
    /// Of `cache_write`, those known (from the logged response body) to be 1-hour writes.
    pub cache_write_1h: u64,
}

impl Tokens {
    /// Adds another count (saturating: a sum never wraps).
    pub fn add(&mut self, o: &Tokens) {
        self.input = self.input.saturating_add(o.input);
        self.output = self.output.saturating_add(o.output);
        self.cache_read = self.cache_read.saturating_add(o.cache_read);
        self.cache_write = self.cache_write.saturating_add(o.cache_write);
        self.cache_write_1h = self.cache_write_1h.saturating_add(o.cache_write_1h);
    }

    pub fn cache_write_5m(&self) -> u64 {
        self.cache_write - self.cache_write_1h
    }

    /// Everything the model read as prompt: the long-context tier looks at this.
    pub fn prompt_total(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
    }
}

/// Additive usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub requests: u64,
    pub errors: u64,
    pub tokens: Tokens,
}

impl Usage {
    pub fn add(&mut self, o: &Usage) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.tokens.add(&o.tokens);
    }

    pub fn of_record(r: &Record<'_>) -> Usage {
        Usage {
            requests: 1,
            errors: u64::from(r.error_code.is_some()),
            tokens: r.tokens,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("invalid UTF-8")]
    InvalidUtf8,
    #[error("invalid JSON: {0}")]
    Json(#[from] ScanError),
    #[error("not an object")]
    NotAnObject,
    #[error("trailing data after the record")]
    Trailing,
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("field {0} has the wrong type")]
    WrongType(&'static str),
    #[error("field {0} out of range")]
    OutOfRange(&'static str),
    #[error("bad timestamp")]
    BadTimestamp,
    #[error("schemaType is not ModelInvocationLog")]
    OtherSchema,
}

impl RecordError {
    /// A short stable label for counting and logging (never the record's text).
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::InvalidUtf8 => "invalid_utf8",
            RecordError::Json(_) => "invalid_json",
            RecordError::NotAnObject => "not_an_object",
            RecordError::Trailing => "trailing_data",
            RecordError::Missing(_) => "missing_field",
            RecordError::WrongType(_) => "wrong_type",
            RecordError::OutOfRange(_) => "out_of_range",
            RecordError::BadTimestamp => "bad_timestamp",
            RecordError::OtherSchema => "other_schema",
        }
    }
}

/// Parses one record from bytes (checks UTF-8 first).
pub fn parse_bytes(b: &[u8]) -> Result<Record<'_>, RecordError> {
    parse(std::str::from_utf8(b).map_err(|_| RecordError::InvalidUtf8)?)
}

/// Parses one record: the whole text must be one JSON object.
pub fn parse(text: &str) -> Result<Record<'_>, RecordError> {
    let mut sc = Scanner::new(text);
    let r = parse_at(&mut sc)?;
    if !sc.at_end() {
        return Err(RecordError::Trailing);
    }
    Ok(r)
}

/// Parses one record from the body of the JSON string it arrived in, escapes not decoded (a log
/// event's message as [`crate::records::subscription::Decoder`] leaves it: no unescaped `"` and no control
/// character — the decoder found its end; use [`crate::records::subscription::Message::parse`]).
/// The record is read in place ([`Scanner::escaped`]); when that mode gives up, or the record is bad,
/// the message is unescaped and parsed as text, so the result is always what [`parse`] gives for the
/// decoded text.
///
/// Records as Bedrock writes them (compact, plain keys) take the fast path ([`crate::records::fast`]),
/// which reads exactly what the general in-place parser would; everything else takes the general one.
pub fn parse_escaped(escaped: &str) -> Result<Record<'_>, RecordError> {
    parse_escaped_with(escaped, &[])
}

/// [`parse_escaped`] with the ends of containers the decoder already found in the message
/// ([`ContainerEnds`]: the same record, its bodies skipped by a lookup).
pub(crate) fn parse_escaped_with<'a>(
    escaped: &'a str,
    ends: ContainerEnds<'a>,
) -> Result<Record<'a>, RecordError> {
    let mut r = empty_record();
    if crate::records::fast::parse_escaped_into(escaped, ends, &mut r).is_some() {
        return Ok(r);
    }
    parse_escaped_general(escaped, ends)
}

/// [`parse_escaped_with`], the record pushed onto `out`: the fast path builds it in its slot of `out`
/// (no moves of the record); when the fast path does not take the message on, the general parser's
/// record replaces what it left there. On an error `out` is as it was.
pub(crate) fn parse_escaped_push<'a>(
    escaped: &'a str,
    ends: ContainerEnds<'a>,
    out: &mut Vec<Record<'a>>,
) -> Result<(), RecordError> {
    out.push(empty_record());
    let r = out.last_mut().expect("just pushed");
    if crate::records::fast::parse_escaped_into(escaped, ends, r).is_some() {
        return Ok(());
    }
    match parse_escaped_general(escaped, ends) {
        Ok(general) => {
            *r = general;
            Ok(())
        }
        Err(e) => {
            out.pop();
            Err(e)
        }
    }
}

/// [`parse_escaped_with`] without the fast path: in place with the general scanner, else from the
/// unescaped text.
pub(crate) fn parse_escaped_general<'a>(
    escaped: &'a str,
    ends: ContainerEnds<'a>,
) -> Result<Record<'a>, RecordError> {
    let mut sc = Scanner::escaped_with_ends(escaped, ends);
    if let Ok(r) = parse_at(&mut sc) {
        if sc.at_end() {
            return Ok(r);
        }
    }
    let text = crate::records::scan::unescape_body(escaped)?;
    parse(&text).map(Record::into_owned)
}

impl Record<'_> {
    /// The record with every string owned.
    pub fn into_owned(self) -> Record<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Record {
            timestamp: self.timestamp,
            account_id: self.account_id.map(own),
            region: self.region.map(own),
            request_id: self.request_id.map(own),
            operation: self.operation.map(own),
            model_id: own(self.model_id),
            caller: self.caller.map(own),
            inference_region: self.inference_region.map(own),
            error_code: self.error_code.map(own),
            request_metadata: self
                .request_metadata
                .into_iter()
                .map(|(k, v)| (own(k), own(v)))
                .collect(),
            tokens: self.tokens,
            service_tier: self.service_tier.map(own),
            body_logged: self.body_logged,
        }
    }
}

fn wrong(field: &'static str) -> impl Fn(ScanError) -> RecordError {
    move |e| match e {
        ScanError::NumberRange(_) => RecordError::OutOfRange(field),
        ScanError::Unexpected { .. } => RecordError::WrongType(field),
        other => RecordError::Json(other),
    }
}

fn opt_string<'a, const E: bool>(
    sc: &mut Scanner<'a, E>,
    field: &'static str,
) -> Result<Option<Cow<'a, str>>, RecordError> {
    match sc.peek_kind()? {
        ValueKind::String => Ok(Some(sc.string()?)),
        ValueKind::Null => {
            sc.null();
            Ok(None)
        }
        _ => Err(RecordError::WrongType(field)),
    }
}

fn opt_count<const E: bool>(
    sc: &mut Scanner<'_, E>,
    field: &'static str,
) -> Result<Option<u64>, RecordError> {
    match sc.peek_kind()? {
        ValueKind::Number => Ok(Some(sc.u64().map_err(wrong(field))?)),
        ValueKind::Null => {
            sc.null();
            Ok(None)
        }
        _ => Err(RecordError::WrongType(field)),
    }
}

fn object_or_null<'a, const E: bool>(
    sc: &mut Scanner<'a, E>,
    field: &'static str,
    mut f: impl FnMut(&mut Scanner<'a, E>, Cow<'a, str>) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    match sc.peek_kind()? {
        ValueKind::Object => {
            let mut inner: Result<(), RecordError> = Ok(());
            let outer = sc.object(|sc, k| match f(sc, k) {
                Ok(()) => Ok(()),
                Err(e) => {
                    inner = Err(e);
                    Err(ScanError::Eof) // stop; the real error is in `inner`
                }
            });
            inner?;
            outer.map_err(RecordError::Json)
        }
        ValueKind::Null => {
            sc.null();
            Ok(())
        }
        _ => Err(RecordError::WrongType(field)),
    }
}

/// A record with nothing read yet (`timestamp` and `model_id` are filled in by [`finish`]).
pub(super) fn empty_record<'a>() -> Record<'a> {
    Record {
        timestamp: Timestamp(0),
        account_id: None,
        region: None,
        request_id: None,
        operation: None,
        model_id: Cow::Borrowed(""),
        caller: None,
        inference_region: None,
        error_code: None,
        request_metadata: Vec::new(),
        tokens: Tokens::default(),
        service_tier: None,
        body_logged: false,
    }
}

/// What a record's members say besides the fields of [`Record`] they fill in directly: read by
/// [`parse_at`] and by the fast path ([`crate::records::fast`]), checked and combined by [`finish`].
#[derive(Default)]
pub(super) struct Pending<'a> {
    pub(super) timestamp: Option<Cow<'a, str>>,
    pub(super) model_id: Option<Cow<'a, str>>,
    pub(super) schema_type: Option<Cow<'a, str>>,
    pub(super) cache_1h_from_body: Option<u64>,
    pub(super) served_tier: Option<Cow<'a, str>>,
    pub(super) requested_tier: Option<Cow<'a, str>>,
}

/// The logged request body (`input.inputBodyJson`, an object): only its `serviceTier` is read.
pub(super) fn read_request_body<'a, const E: bool>(
    sc: &mut Scanner<'a, E>,
    requested_tier: &mut Option<Cow<'a, str>>,
) -> Result<(), RecordError> {
    object_or_null(sc, "input.inputBodyJson", |sc, k| {
        if k == "serviceTier" {
            *requested_tier = read_tier(sc)?;
        } else {
            sc.skip()?;
        }
        Ok(())
    })
}

/// Checks what every record needs and combines what was read into the record.
pub(super) fn finish<'a>(r: &mut Record<'a>, p: Pending<'a>) -> Result<(), RecordError> {
    if let Some(st) = &p.schema_type {
        if st != "ModelInvocationLog" {
            return Err(RecordError::OtherSchema);
        }
    }
    let ts = p.timestamp.ok_or(RecordError::Missing("timestamp"))?;
    r.timestamp = timestamp_of(&ts).ok_or(RecordError::BadTimestamp)?;
    r.model_id = p
        .model_id
        .filter(|m| !m.is_empty())
        .ok_or(RecordError::Missing("modelId"))?;
    if let Some(h) = p.cache_1h_from_body {
        r.tokens.cache_write_1h = h.min(r.tokens.cache_write);
    }
    r.service_tier = p.served_tier.or(p.requested_tier);
    Ok(())
}

thread_local! {
    /// The date (first ten bytes) of the last timestamp [`timestamp_of`] parsed in the plain form
    /// `YYYY-MM-DDTHH:MM:SSZ`, and that day's first second; `i64::MIN` before any.
    static LAST_DAY: std::cell::Cell<([u8; 10], i64)> =
        const { std::cell::Cell::new(([0; 10], i64::MIN)) };
}

/// [`Timestamp::parse_iso8601`] of a record's timestamp, always the same answer. The records of a
/// batch share their date, so the timestamp in Bedrock's form `YYYY-MM-DDTHH:MM:SSZ` whose date is the
/// last one parsed is read from its time alone (the date's day already known; the same range checks of
/// hour, minute and second); any other is parsed in full, and a plain one then becomes the last.
pub(crate) fn timestamp_of(ts: &str) -> Option<Timestamp> {
    let b = ts.as_bytes();
    let plain = b.len() == 20 && b[10] == b'T' && b[13] == b':' && b[16] == b':' && b[19] == b'Z';
    let hms = || crate::time::seconds_of_day(b);
    if plain {
        let (day, start) = LAST_DAY.get();
        if start != i64::MIN && b[..10] == day {
            if let Some(t) = hms() {
                return Some(Timestamp(start + t));
            }
        }
    }
    let t = Timestamp::parse_iso8601(ts)?;
    if plain {
        if let (Some(secs), Ok(day)) = (hms(), b[..10].try_into()) {
            LAST_DAY.set((day, t.0 - secs));
        }
    }
    Some(t)
}

/// Parses the record at the scanner's position (leaves the scanner after it).
fn parse_at<'a, const E: bool>(sc: &mut Scanner<'a, E>) -> Result<Record<'a>, RecordError> {
    if sc.peek_kind()? != ValueKind::Object {
        return Err(RecordError::NotAnObject);
    }
    let mut p = Pending::default();
    let mut r = empty_record();
    object_or_null(sc, "record", |sc, key| {
        match key.as_ref() {
            "timestamp" => p.timestamp = opt_string(sc, "timestamp")?,
            "modelId" => p.model_id = opt_string(sc, "modelId")?,
            "schemaType" => p.schema_type = opt_string(sc, "schemaType")?,
            "accountId" => r.account_id = opt_string(sc, "accountId")?,
            "region" => r.region = opt_string(sc, "region")?,
            "requestId" => r.request_id = opt_string(sc, "requestId")?,
            "operation" => r.operation = opt_string(sc, "operation")?,
            "inferenceRegion" => r.inference_region = opt_string(sc, "inferenceRegion")?,
            "errorCode" => r.error_code = opt_string(sc, "errorCode")?,
            "serviceTier" => p.served_tier = read_tier(sc)?,
            "identity" => object_or_null(sc, "identity", |sc, k| {
                if k == "arn" {
                    r.caller = opt_string(sc, "identity.arn")?;
                } else {
                    sc.skip()?;
                }
                Ok(())
            })?,
            "requestMetadata" => {
                r.request_metadata.clear();
                object_or_null(sc, "requestMetadata", |sc, k| {
                    match sc.peek_kind()? {
                        ValueKind::String => r.request_metadata.push((k, sc.string()?)),
                        _ => sc.skip()?,
                    }
                    Ok(())
                })?
            }
            "input" => object_or_null(sc, "input", |sc, k| {
                let t = &mut r.tokens;
                match k.as_ref() {
                    "inputTokenCount" => {
                        t.input = opt_count(sc, "input.inputTokenCount")?.unwrap_or(0)
                    }
                    "cacheReadInputTokenCount" => {
                        t.cache_read = opt_count(sc, "input.cacheReadInputTokenCount")?.unwrap_or(0)
                    }
                    "cacheWriteInputTokenCount" => {
                        t.cache_write =
                            opt_count(sc, "input.cacheWriteInputTokenCount")?.unwrap_or(0)
                    }
                    "inputBodyJson" if sc.peek_kind()? == ValueKind::Object => {
                        r.body_logged = true;
                        read_request_body(sc, &mut p.requested_tier)?
                    }
                    _ => sc.skip()?,
                }
                Ok(())
            })?,
            "output" => object_or_null(sc, "output", |sc, k| {
                match k.as_ref() {
                    "outputTokenCount" => {
                        r.tokens.output = opt_count(sc, "output.outputTokenCount")?.unwrap_or(0)
                    }
                    "outputBodyJson" if sc.peek_kind()? == ValueKind::Object => {
                        r.body_logged = true;
                        p.cache_1h_from_body = read_cache_ttl_split(sc, &mut p.served_tier)?
                    }
                    _ => sc.skip()?,
                }
                Ok(())
            })?,
            _ => sc.skip()?,
        }
        Ok(())
    })?;
    finish(&mut r, p)?;
    Ok(r)
}

/// A `serviceTier` value: `{"type": "flex"}` (the Converse shape) or a bare string; anything else is
/// not a tier and is skipped (a body never makes its record unreadable for this).
pub(super) fn read_tier<'a, const E: bool>(
    sc: &mut Scanner<'a, E>,
) -> Result<Option<Cow<'a, str>>, RecordError> {
    match sc.peek_kind()? {
        ValueKind::String => Ok(Some(sc.string()?).filter(|t| !t.is_empty())),
        ValueKind::Object => {
            let mut tier = None;
            sc.object(|sc, k| {
                if k == "type" && sc.peek_kind()? == ValueKind::String {
                    tier = Some(sc.string()?).filter(|t| !t.is_empty());
                    Ok(())
                } else {
                    sc.skip()
                }
            })?;
            Ok(tier)
        }
        _ => {
            sc.skip()?;
            Ok(None)
        }
    }
}

/// In a response body object: 1-hour cache-write tokens, if the body says. Reads
/// `usage.cacheDetails[{ttl, inputTokens}]` (Converse) and
/// `usage.cache_creation.ephemeral_1h_input_tokens` (Anthropic Messages); also the served tier
/// (`serviceTier`, Converse) into `served_tier`; skips all else.
pub(super) fn read_cache_ttl_split<'a, const E: bool>(
    sc: &mut Scanner<'a, E>,
    served_tier: &mut Option<Cow<'a, str>>,
) -> Result<Option<u64>, RecordError> {
    let mut one_hour: Option<u64> = None;
    let mut add = |n: u64| one_hour = Some(one_hour.unwrap_or(0).saturating_add(n));
    object_or_null(sc, "output.outputBodyJson", |sc, k| {
        if k == "serviceTier" {
            if let Some(t) = read_tier(sc)? {
                *served_tier = Some(t);
            }
            return Ok(());
        }
        if k != "usage" || sc.peek_kind()? != ValueKind::Object {
            return Ok(sc.skip()?);
        }
        object_or_null(sc, "usage", |sc, k| {
            match (k.as_ref(), sc.peek_kind()?) {
                ("cacheDetails", ValueKind::Array) => {
                    let mut inner: Result<(), RecordError> = Ok(());
                    sc.array(|sc| {
                        if sc.peek_kind()? != ValueKind::Object {
                            return sc.skip();
                        }
                        let (mut ttl, mut n) = (None, 0u64);
                        let res = object_or_null(sc, "cacheDetails", |sc, k| {
                            match (k.as_ref(), sc.peek_kind()?) {
                                ("ttl", ValueKind::String) => ttl = Some(sc.string()?),
                                ("inputTokens", ValueKind::Number) => {
                                    n = sc.u64().map_err(wrong("cacheDetails.inputTokens"))?
                                }
                                _ => sc.skip()?,
                            }
                            Ok(())
                        });
                        if let Err(e) = res {
                            inner = Err(e);
                            return Err(ScanError::Eof);
                        }
                        if ttl.as_deref() == Some("1h") {
                            add(n);
                        } else if ttl.is_some() {
                            add(0);
                        }
                        Ok(())
                    })
                    .or_else(|e| inner.clone().and(Err(RecordError::Json(e))))?;
                }
                ("cache_creation", ValueKind::Object) => {
                    object_or_null(sc, "cache_creation", |sc, k| {
                        match (k.as_ref(), sc.peek_kind()?) {
                            ("ephemeral_1h_input_tokens", ValueKind::Number) => {
                                add(sc.u64().map_err(wrong("cache_creation"))?)
                            }
                            ("ephemeral_5m_input_tokens", ValueKind::Number) => {
                                sc.u64().map_err(wrong("cache_creation"))?;
                                add(0);
                            }
                            _ => sc.skip()?,
                        }
                        Ok(())
                    })?
                }
                _ => sc.skip()?,
            }
            Ok(())
        })
    })?;
    Ok(one_hour)
}

/// Splits a buffer of records — JSON Lines, one pretty-printed object, or objects back to back — and
/// calls `f` with each parse result. A broken record is reported as an error and the scan resumes at the
/// next line that starts with `{`, so it never takes its neighbours down.
fn for_each_record<'a>(text: &'a str, mut f: impl FnMut(Result<Record<'a>, RecordError>)) {
    let b = text.as_bytes();
    let mut pos = 0usize;
    loop {
        while pos < b.len() && b[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= b.len() {
            return;
        }
        let mut sc = Scanner::new(&text[pos..]);
        let res = parse_at(&mut sc);
        // A record never spans a line that starts with '{': that is where the next record begins, and a
        // value that runs into it is a broken record that swallowed its neighbour.
        let swallowed = |len: usize| memchr::memmem::find(&b[pos..pos + len], b"\n{").is_some();
        let ok_end = res.is_ok() && !swallowed(sc.pos) && {
            // A record must end its line (or be followed by another record / whitespace).
            let rest = &b[pos + sc.pos..];
            let next = rest.iter().position(|c| !matches!(c, b' ' | b'\t' | b'\r'));
            matches!(next.map(|i| rest[i]), None | Some(b'\n') | Some(b'{'))
        };
        if ok_end {
            pos += sc.pos;
            f(res);
            continue;
        }
        f(match res {
            Ok(_) => Err(RecordError::Trailing),
            Err(e) => Err(e),
        });
        // A well-formed value with bad content: resume right after it.
        let mut whole = Scanner::new(&text[pos..]);
        if whole.skip().is_ok() && !swallowed(whole.pos) {
            pos += whole.pos;
            continue;
        }
        // Broken JSON: resynchronise at the next line beginning with '{'.
        let mut next = pos + 1;
        loop {
            match memchr::memchr(b'\n', &b[next.min(b.len())..]) {
                None => return,
                Some(i) => {
                    next += i + 1;
                    if b.get(next) == Some(&b'{') {
                        break;
                    }
                }
            }
        }
        pos = next;
    }
}

/// [`for_each_record`] over bytes: a buffer that is not all UTF-8 is taken line by line, and each line
/// that is not UTF-8 is one [`RecordError::InvalidUtf8`].
pub fn for_each_record_in_bytes<'a>(
    b: &'a [u8],
    mut f: impl FnMut(Result<Record<'a>, RecordError>),
) {
    match std::str::from_utf8(b) {
        Ok(text) => for_each_record(text, f),
        Err(_) => {
            for line in b.split(|c| *c == b'\n') {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match std::str::from_utf8(line) {
                    Ok(text) => for_each_record(text, &mut f),
                    Err(_) => f(Err(RecordError::InvalidUtf8)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> String {
        let p = format!(
            "{}/tests/fixtures/examples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    /// `timestamp_of` (the last date's day remembered) gives what `Timestamp::parse_iso8601` gives, on
    /// any sequence of timestamps: runs of one date, dates that change, bad days (Feb 30th), bad and
    /// edge times (24:00, 23:59:60, a non-digit), other forms (`t`, a space, fractions, offsets, no
    /// zone) between plain ones.
    #[test]
    fn timestamps_with_the_last_date_remembered_read_as_parsed_in_full() {
        let mut rng = crate::test_support::Rng(0x853c_49e6_748f_ea9bu64);
        let mut below = |n: u64| rng.below(n);
        let dates = [
            "2026-11-25",
            "2026-11-26",
            "2026-02-30",
            "2024-02-29",
            "1970-01-01",
            "20x6-01-01",
        ];
        let (mut fast, mut total) = (0, 0);
        let mut date = dates[0];
        for _ in 0..20_000 {
            // A date runs on for a while (as in a batch), then changes.
            if below(8) == 0 {
                date = dates[below(dates.len() as u64) as usize];
            }
            let (h, m, s) = (below(26), below(62), below(62));
            let mut t = format!("{date}T{h:02}:{m:02}:{s:02}Z");
            match below(12) {
                0 => t = t.replace('T', "t"),
                1 => t = t.replace('T', " "),
                2 => t = t.replace('Z', ".250Z"),
                3 => t = t.replace('Z', "+02:00"),
                4 => {
                    t.pop();
                }
                5 => t.replace_range(12..13, "x"),
                6 => t.replace_range(18..19, ":"),
                _ => {}
            }
            let before = LAST_DAY.get();
            let got = timestamp_of(&t);
            assert_eq!(got, Timestamp::parse_iso8601(&t), "{t}");
            total += 1;
            if before.1 != i64::MIN
                && t.len() == 20
                && t.as_bytes()[..10] == before.0
                && got.is_some()
            {
                fast += 1;
            }
        }
        // Most plain timestamps after the first of their date are read from the remembered day.
        assert!(fast * 5 > total, "{fast} of {total}");
    }

    #[test]
    fn converse_stream_nova_lite() {
        let text = example("02_conversestream_nova_lite_real.json");
        let r = parse(&text).unwrap();
        assert_eq!(r.timestamp.to_string(), "2025-03-11T00:38:02Z");
        assert_eq!(r.model_id, "amazon.nova-lite-v1:0");
        assert_eq!(
            r.caller.as_deref(),
            Some("arn:aws:iam::XXXXXXXXXXXX:user/dheeraj")
        );
        assert_eq!(r.region.as_deref(), Some("us-east-1"));
        assert_eq!(r.operation.as_deref(), Some("ConverseStream"));
        assert_eq!(
            r.request_id.as_deref(),
            Some("ff4b6c63-5561-4431-93b8-06a817275900")
        );
        assert_eq!(
            r.tokens,
            Tokens {
                input: 4,
                output: 38,
                ..Tokens::default()
            }
        );
    }

    #[test]
    fn the_broken_example_is_a_typed_error() {
        // Anonymised timestamp ("xxxxxxxxxxxx"): not a time, so not countable on any day.
        let text = example("03_invokemodelwithresponsestream_titan_real.json");
        assert_eq!(parse(&text), Err(RecordError::BadTimestamp));
        let fixed = text.replacen(
            "\"timestamp\": \"xxxxxxxxxxxx\"",
            "\"timestamp\": \"2025-01-02T03:04:05Z\"",
            1,
        );
        let r = parse(&fixed).unwrap();
        assert_eq!(r.model_id, "amazon.titan-text-express-v1");
        assert_eq!(
            r.tokens,
            Tokens {
                input: 7,
                output: 11,
                ..Tokens::default()
            },
            "stream array body skipped"
        );
    }

    #[test]
    fn profile_arn_with_identity_and_schema_at_the_end() {
        let text = example("04_conversestream_inference_profile_arn_real.json");
        let r = parse(&text).unwrap();
        assert_eq!(r.model_id, "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0");
        assert_eq!(
            r.caller.as_deref(),
            Some("arn:aws:iam::111122223333:user/bedrock-test")
        );
        assert_eq!(
            r.tokens,
            Tokens {
                input: 62,
                output: 36,
                ..Tokens::default()
            }
        );
    }

    #[test]
    fn s3_offloaded_body_with_inference_region() {
        let text = example("05_invokemodelwithresponsestream_s3offload_inferenceregion.json");
        let r = parse(&text).unwrap();
        assert_eq!(r.inference_region.as_deref(), Some("us-east-1"));
        assert_eq!(r.region.as_deref(), Some("us-west-2"));
        assert_eq!(
            r.tokens,
            Tokens {
                input: 6,
                output: 167,
                cache_read: 0,
                cache_write: 225_913,
                cache_write_1h: 0
            }
        );
    }

    #[test]
    fn metadata_only_record() {
        let text = example("06_converse_metadata_only_text_delivery_disabled.json");
        let r = parse(&text).unwrap();
        assert_eq!(r.model_id, "apac.amazon.nova-micro-v1:0");
        assert_eq!(
            r.tokens,
            Tokens {
                input: 1,
                output: 8,
                ..Tokens::default()
            }
        );
        assert_eq!(
            r.caller.as_deref(),
            Some("arn:aws:sts::111111111111:assumed-role/...")
        );
    }

    const MIN: &str = r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"amazon.nova-micro-v1:0"}"#;

    #[test]
    fn optional_fields_default() {
        let r = parse(MIN).unwrap();
        assert_eq!(r.tokens, Tokens::default());
        assert_eq!(
            (r.caller, r.region, r.error_code, r.inference_region),
            (None, None, None, None)
        );
        assert!(r.request_metadata.is_empty());
    }

    #[test]
    fn any_key_order_and_all_optional_fields() {
        let text = r#"{"output":{"outputTokenCount":5,"outputBodyJson":{"usage":{"cacheDetails":[{"ttl":"1h","inputTokens":300},{"ttl":"5m","inputTokens":200}]}}},
            "requestMetadata":{"tenant":"acme","env":"prod","n":1},"errorCode":"ThrottlingException",
            "input":{"cacheWriteInputTokenCount":500,"inputBodyJson":{"messages":[{"content":[{"text":"}{\"]["}]}]},"cacheReadInputTokenCount":40,"inputTokenCount":3},
            "identity":{"arn":"arn:aws:sts::1:assumed-role/R/s"},"modelId":"global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "inferenceRegion":"eu-west-1","region":"eu-central-1","schemaVersion":"1.0","schemaType":"ModelInvocationLog","timestamp":"2026-11-25T10:00:00Z"}"#;
        let r = parse(text).unwrap();
        assert_eq!(
            r.tokens,
            Tokens {
                input: 3,
                output: 5,
                cache_read: 40,
                cache_write: 500,
                cache_write_1h: 300
            }
        );
        assert_eq!(r.error_code.as_deref(), Some("ThrottlingException"));
        assert_eq!(
            r.request_metadata,
            vec![
                ("tenant".into(), "acme".into()),
                ("env".into(), "prod".into())
            ]
        );
        assert_eq!(r.inference_region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn anthropic_messages_body_gives_the_ttl_split() {
        let text = r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"anthropic.claude-opus-4-5-20251101-v1:0",
            "input":{"inputTokenCount":10,"cacheWriteInputTokenCount":1000},
            "output":{"outputTokenCount":5,"outputBodyJson":{"id":"x","content":[{"type":"text","text":"hi"}],
              "usage":{"input_tokens":10,"cache_creation_input_tokens":1000,"cache_creation":{"ephemeral_5m_input_tokens":600,"ephemeral_1h_input_tokens":400},"output_tokens":5}}}}"#;
        let r = parse(text).unwrap();
        assert_eq!(
            (
                r.tokens.cache_write,
                r.tokens.cache_write_1h,
                r.tokens.cache_write_5m()
            ),
            (1000, 400, 600)
        );
        // A body claiming more 1h tokens than were written is capped.
        let lying = text.replace(
            "\"ephemeral_1h_input_tokens\":400",
            "\"ephemeral_1h_input_tokens\":4000",
        );
        assert_eq!(parse(&lying).unwrap().tokens.cache_write_1h, 1000);
    }

    #[test]
    fn service_tier_served_else_requested_else_none() {
        // The Converse request asks for flex (ConverseRequest.serviceTier); the response says priority
        // served it (ConverseResponse.serviceTier): the served tier wins.
        let both = r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"openai.gpt-oss-120b-1:0",
            "input":{"inputTokenCount":10,"inputBodyJson":{"messages":[{"role":"user","content":[{"text":"x"}]}],"serviceTier":{"type":"flex"}}},
            "output":{"outputTokenCount":5,"outputBodyJson":{"output":{"message":{}},"usage":{"inputTokens":10},"serviceTier":{"type":"priority"},"metrics":{"latencyMs":9}}}}"#;
        let r = parse(both).unwrap();
        assert_eq!(r.service_tier.as_deref(), Some("priority"));
        assert_eq!((r.tokens.input, r.tokens.output), (10, 5));
        // Only the request's tier logged (no response body): the requested tier.
        let requested = r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x",
            "input":{"inputBodyJson":{"serviceTier":{"type":"flex"},"messages":[]},"inputTokenCount":1},"output":{"outputTokenCount":1}}"#;
        assert_eq!(
            parse(requested).unwrap().service_tier.as_deref(),
            Some("flex")
        );
        // A tier on the record itself (string or object) counts as served.
        for top in [r#""reserved""#, r#"{"type":"reserved"}"#] {
            let t = format!(
                r#"{{"serviceTier":{top},"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{{"inputBodyJson":{{"serviceTier":{{"type":"flex"}}}}}}}}"#
            );
            assert_eq!(
                parse(&t).unwrap().service_tier.as_deref(),
                Some("reserved"),
                "{top}"
            );
        }
        // Nothing logged: none (priced as the default tier).
        let none = r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{"inputBodyJson":{"messages":[]}}}"#;
        assert_eq!(parse(none).unwrap().service_tier, None);
        // A tier of another shape is not a tier, and never makes the record unreadable.
        for odd in ["12", "null", "[\"flex\"]", r#"{"type":5}"#, r#""""#] {
            let t = format!(
                r#"{{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{{"inputTokenCount":3,"inputBodyJson":{{"serviceTier":{odd}}}}},"output":{{"outputBodyJson":{{"serviceTier":{odd}}}}}}}"#
            );
            let r = parse(&t).unwrap_or_else(|e| panic!("{odd}: {e}"));
            assert_eq!((r.service_tier, r.tokens.input), (None, 3), "{odd}");
        }
        // The escaped (CloudWatch message) path reads the same tier.
        let escaped = serde_json::to_string(both).unwrap();
        let escaped = &escaped[1..escaped.len() - 1];
        assert_eq!(
            parse_escaped(escaped).unwrap().service_tier.as_deref(),
            Some("priority")
        );
    }

    #[test]
    fn bodies_in_every_shape_are_skipped() {
        for body in [
            r#"{"a":[1,2,{"b":null}]}"#,
            r#"["chunk1",{"bytes":"eyJ9"}]"#,
            r#""plain""#,
            "null",
            "12",
            "true",
        ] {
            let text = format!(
                r#"{{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{{"inputBodyJson":{body},"inputTokenCount":2}},"output":{{"outputBodyJson":{body},"outputTokenCount":3}}}}"#
            );
            let r = parse(&text).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!((r.tokens.input, r.tokens.output), (2, 3), "{body}");
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let cases: &[(&str, RecordError)] = &[
            (r#"{"modelId":"m.x"}"#, RecordError::Missing("timestamp")),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z"}"#,
                RecordError::Missing("modelId"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":""}"#,
                RecordError::Missing("modelId"),
            ),
            (
                r#"{"timestamp":1732000000,"modelId":"m.x"}"#,
                RecordError::WrongType("timestamp"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":["m.x"]}"#,
                RecordError::WrongType("modelId"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{"inputTokenCount":"12"}}"#,
                RecordError::WrongType("input.inputTokenCount"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{"inputTokenCount":-5}}"#,
                RecordError::WrongType("input.inputTokenCount"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{"inputTokenCount":1.5}}"#,
                RecordError::OutOfRange("input.inputTokenCount"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{"inputTokenCount":99999999999999999999999}}"#,
                RecordError::OutOfRange("input.inputTokenCount"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","output":{"outputTokenCount":1e400}}"#,
                RecordError::OutOfRange("output.outputTokenCount"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":"oops"}"#,
                RecordError::WrongType("input"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","identity":{"arn":7}}"#,
                RecordError::WrongType("identity.arn"),
            ),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","schemaType":"Other"}"#,
                RecordError::OtherSchema,
            ),
            (r#"[1,2]"#, RecordError::NotAnObject),
            (r#""text""#, RecordError::NotAnObject),
            (
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x"} {"#,
                RecordError::Trailing,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text).unwrap_err(), want, "{text}");
        }
        assert_eq!(
            parse_bytes(b"{\"timestamp\":\"2026-11-25T10:00:00Z\",\"modelId\":\"m.\xff\"}"),
            Err(RecordError::InvalidUtf8)
        );
        assert!(matches!(parse(""), Err(RecordError::Json(ScanError::Eof))));
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let text = example("05_invokemodelwithresponsestream_s3offload_inferenceregion.json");
        let full = parse(&text).unwrap();
        for cut in 0..text.trim_end().len() {
            if let Some(prefix) = text.get(..cut) {
                if let Ok(r) = parse(prefix) {
                    panic!("prefix of {cut} bytes parsed as {r:?}, full is {full:?}");
                }
            }
        }
    }

    #[test]
    fn a_bad_record_never_takes_its_neighbours_down() {
        let good = |i: u32| {
            format!(
                r#"{{"timestamp":"2026-11-25T10:00:0{i}Z","modelId":"amazon.nova-micro-v1:0","input":{{"inputTokenCount":{i}}}}}"#
            )
        };
        let pretty = example("02_conversestream_nova_lite_real.json");
        let text = [
            good(1),
            r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{"inputTokenCount":"#.to_string(), // truncated
            good(2),
            "not json at all".into(),
            r#"{"timestamp":"bad","modelId":"m.x"}"#.into(),
            good(3),
            pretty,
            r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m.x","input":{"inputTokenCount":"x"}} {"timestamp":"2026-11-25T10:00:00Z","modelId":"m.y"}"#.into(),
            good(4),
        ]
        .join("\n");
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for_each_record(&text, |r| match r {
            Ok(r) => ok.push(r.tokens.input),
            Err(e) => bad.push(e.kind()),
        });
        assert_eq!(ok, vec![1, 2, 3, 4, 0, 4], "good records survive: {bad:?}");
        assert_eq!(
            bad,
            vec!["wrong_type", "not_an_object", "bad_timestamp", "wrong_type"]
        );
        // A string cut off at the end of its line does not swallow the record on the next line.
        let text = format!("{}\n{{\"timestamp\":\"2026-11-25T10:00:00Z\",\"modelId\":\"m.x\",\"requestMetadata\":{{\"k\":\"v\n{}\n{}", good(1), good(2), good(3));
        let mut ok = Vec::new();
        for_each_record(&text, |r| ok.extend(r.ok().map(|r| r.tokens.input)));
        assert_eq!(ok, vec![1, 2, 3]);
        // Invalid UTF-8 on one line only costs that line.
        let mut bytes = good(1).into_bytes();
        bytes.extend_from_slice(b"\n{\"timestamp\":\"\xff\xfe\"}\n");
        bytes.extend_from_slice(good(2).as_bytes());
        let (mut n_ok, mut n_bad) = (0, 0);
        for_each_record_in_bytes(&bytes, |r| if r.is_ok() { n_ok += 1 } else { n_bad += 1 });
        assert_eq!((n_ok, n_bad), (2, 1));
    }

    /// Escapes `text` as the body of a JSON string, the way a log event's message arrives; `alt`
    /// also writes `/` as `\/` and non-ASCII characters as `\u` escapes (surrogate pairs above the BMP).
    fn escape(text: &str, alt: bool) -> String {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '/' if alt => out.push_str("\\/"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c if alt && !c.is_ascii() => {
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

    #[test]
    fn parsing_in_place_from_the_escaped_message_equals_parsing_its_text() {
        let mut texts: Vec<String> = [
            "01_converse_claude_sonnet_anonymised.json",
            "02_conversestream_nova_lite_real.json",
            "03_invokemodelwithresponsestream_titan_real.json",
            "04_conversestream_inference_profile_arn_real.json",
            "05_invokemodelwithresponsestream_s3offload_inferenceregion.json",
            "06_converse_metadata_only_text_delivery_disabled.json",
        ]
        .iter()
        .filter_map(|n| {
            let p = format!("{}/tests/fixtures/examples/{n}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(p).ok()
        })
        .collect();
        assert!(texts.len() >= 5, "the reference examples are there");
        // Strings that need the slow paths: escaped quotes and backslashes in bodies and in read
        // fields, an escaped key, non-ASCII text, a 1-hour cache split, whitespace between tokens.
        texts.push(
            r#"{ "schemaType" : "ModelInvocationLog", "timestamp":"2026-11-25T10:00:00Z",
  "modelId":"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "region":"us-east-1",
  "identity":{"arn":"arn:aws:sts::1:assumed-role/R/s\"q\\b/é"},
  "requestMetadata":{"tenant":"acme \"inc\" \\ café 😀", "t\u0065am":"x\ny"},
  "input":{"inputTokenCount":3,"cacheWriteInputTokenCount":100,"inputBodyJson":{"messages":[{"content":[{"text":"say \"hi\" \\\" } ] { [ \\ \u00e9 😀 \/"}]}]}},
  "output":{"outputTokenCount":5.0,"outputBodyJson":{"output":{"message":{"content":[{"text":"\\\\\""}]}},
    "usage":{"cacheDetails":[{"ttl":"1h","inputTokens":60},{"ttl":"5m","inputTokens":40}]}}}
}"#
            .to_string(),
        );
        // Bad records must fail the same way in place as from the text.
        texts.extend(
            [
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m","input":{"inputTokenCount":-1}}"#,
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m","input":{"inputTokenCount":"1"}}"#,
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m"} trailing"#,
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m","x":[1,2}"#,
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m","x":"\q"}"#,
                r#"{"timestamp":"2026-11-25T10:00:00Z","schemaType":"Other","modelId":"m"}"#,
                r#"{"timestamp":"not a time","modelId":"m"}"#,
                r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":""}"#,
                r#"[]"#,
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        for text in &texts {
            let expected = parse(text).map(Record::into_owned);
            for alt in [false, true] {
                let escaped = escape(text, alt);
                assert_eq!(parse_escaped(&escaped), expected, "{escaped}");
            }
            // Records Bedrock writes (compact, no escapes in the cost fields) are read in place,
            // borrowing from the message: not through the unescaping fallback.
            // (Skipped values are not validated, so some records parse that serde_json refuses.)
            let value = serde_json::from_str::<serde_json::Value>(text);
            if let (Ok(r), Ok(value)) = (&expected, value) {
                let compact = serde_json::to_string(&value).unwrap();
                let escaped = escape(&compact, false);
                let in_place = parse_escaped(&escaped).unwrap();
                // (Compacting sorts the keys: the metadata order may differ from `r`'s.)
                assert_eq!(in_place, parse(&compact).unwrap());
                assert_eq!(in_place.tokens, r.tokens);
                if !r.model_id.contains(['"', '\\']) {
                    assert!(matches!(in_place.model_id, Cow::Borrowed(_)), "{compact}");
                }
            }
        }
    }

    #[test]
    fn a_message_that_does_not_decode_is_never_read_in_place() {
        let head = r#"{\"timestamp\":\"2026-11-25T10:00:00Z\",\"modelId\":\"m\",\"input\":{\"inputTokenCount\":3},\"note\":\""#;
        // Bad escapes of the message inside a string the parser skips.
        for bad in [
            r"\ud800",
            r"\udc00",
            r"\ud800\u0041",
            r"\x",
            r"\q",
            r"\\\uZZZZ",
            r"\\\ud800",
            r"\\\q",
        ] {
            let escaped = format!(r#"{head}{bad}\"}}"#);
            assert!(
                crate::records::scan::unescape_body(&escaped).is_err(),
                "{escaped}"
            );
            assert!(parse_escaped(&escaped).is_err(), "{escaped}");
        }
        // The same kinds of escape, valid: read in place, as from the text.
        for good in [
            r"\ud83d\ude00",
            r"\u00e9",
            r"\\\u00e9",
            r"\/",
            r"\\\/",
            r"\\\ud83d\ude00",
            r"\\n",
        ] {
            let escaped = format!(r#"{head}{good}\"}}"#);
            let text = crate::records::scan::unescape_body(&escaped).unwrap();
            let r = parse_escaped(&escaped).unwrap();
            assert_eq!(r, parse(&text).unwrap(), "{escaped}");
            assert!(
                matches!(r.model_id, Cow::Borrowed(_)),
                "read in place: {escaped}"
            );
        }
        // An unescaped quote inside a body is not a message the decoder gives, and is not decoded.
        assert!(crate::records::scan::unescape_body(r#"a"b"#).is_err());
    }
}
