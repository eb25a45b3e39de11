//! The record parser's fast path (issue 26): a log record read in place from its escaped message the
//! way Bedrock writes it — compact JSON, every quote of the record written `\"` — by one loop that
//! dispatches each key on its bytes (a `match` on the byte slice: a switch on the length, then word
//! compares) and reads the values cost needs straight from the text, instead of the general
//! scanner's closures, `Cow` keys and whitespace checks at every token.
//!
//! It is a **subset** of the general in-place parser ([`super::record::parse_escaped`]): it takes on
//! only compact text (no whitespace between tokens), plain keys, strings and non-negative integers
//! in the fields it reads, and hands everything else — a body, a string with an escape, an unknown
//! member's value — to the general scanner at the same position, with the same functions the general
//! parser calls. Whenever it meets anything else (whitespace, `null`, a number with a fraction, an
//! escaped key, an error of any kind) it gives up and returns `None`, and the caller parses the message
//! the general way from the start. So when it returns a record, that record is the one the general
//! parser reads from the same text; tests hold the two equal on generated, adversarial and fuzzed
//! messages.

use std::borrow::Cow;

use super::record::{finish, read_cache_ttl_split, read_request_body, read_tier, Pending, Record};
use super::scan::{ContainerEnds, Scanner};
use super::simd::find_byte;

/// The record in the escaped message `s`, or `None` when the fast path does not take it on (the
/// general parser then decides).
#[cfg(test)]
pub(crate) fn parse_escaped(s: &str) -> Option<Record<'_>> {
    let mut r = super::record::empty_record();
    parse_escaped_into(s, &[], &mut r)?;
    Some(r)
}

/// [`parse_escaped`] into `r`, which must be [`super::record::empty_record`] on entry: the record is built where it
/// will stay (no moves of it through `Option`s and `Result`s). On `None`, `r` holds whatever was read
/// before the fast path gave up: the caller overwrites it.
///
/// `ends`: the ends of containers the decoder already found in `s` ([`ContainerEnds`]), skipped by
/// a lookup.
pub(crate) fn parse_escaped_into<'a>(
    s: &'a str,
    ends: ContainerEnds<'a>,
    r: &mut Record<'a>,
) -> Option<()> {
    let mut f = Fast {
        t: s,
        s: s.as_bytes(),
        pos: 0,
        ends,
    };
    f.record(r)?;
    (f.pos == f.s.len()).then_some(())
}

/// A cursor over the escaped message.
struct Fast<'a> {
    t: &'a str,
    s: &'a [u8],
    pos: usize,
    ends: ContainerEnds<'a>,
}

impl<'a> Fast<'a> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    #[inline(always)]
    fn eat(&mut self, b: u8) -> Option<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// Is a (structural) quote, written `\"`, at the cursor?
    #[inline(always)]
    fn at_quote(&self) -> bool {
        self.s.get(self.pos..self.pos + 2) == Some(b"\\\"")
    }

    /// The first byte of a value: `None` at whitespace (a space, or a backslash that is not a
    /// quote: an escaped `\n`, `\r`, `\t`), which the fast path does not take on.
    #[inline(always)]
    fn value_start(&self) -> Option<u8> {
        match self.peek()? {
            b' ' => None,
            b'\\' if !self.at_quote() => None,
            b => Some(b),
        }
    }

    /// At a quote: where the string's body starts and ends when it holds no escape, the cursor then
    /// after its closing quote. `None` (cursor unmoved) when it has an escape or does not end.
    #[inline(always)]
    fn plain_span(&mut self) -> Option<(usize, usize)> {
        if !self.at_quote() {
            return None;
        }
        let start = self.pos + 2;
        let end = find_byte(self.s, start, b'\\')?;
        if self.s.get(end + 1) != Some(&b'"') {
            return None;
        }
        self.pos = end + 2;
        Some((start, end))
    }

    /// [`Fast::plain_span`] as a string borrowed from the message.
    #[inline(always)]
    fn plain_string(&mut self) -> Option<&'a str> {
        let (start, end) = self.plain_span()?;
        self.t.get(start..end)
    }

    /// A key [`Fast::key`] read, as a string borrowed from the message (the key is a slice of it).
    #[inline(always)]
    fn key_str(&self, k: &'a [u8]) -> Option<&'a str> {
        let start = (k.as_ptr() as usize).checked_sub(self.s.as_ptr() as usize)?;
        self.t.get(start..start + k.len())
    }

    /// Runs a function of the general scanner at the cursor and moves the cursor to where it ends.
    #[inline]
    fn general<T, E>(
        &mut self,
        f: impl FnOnce(&mut Scanner<'a, true>) -> Result<T, E>,
    ) -> Option<T> {
        let mut sc = Scanner::escaped_with_ends(self.t, self.ends);
        sc.pos = self.pos;
        let v = f(&mut sc).ok()?;
        self.pos = sc.pos;
        Some(v)
    }

    /// A string value (`opt_string` of the general parser, without its `null`).
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        if let Some(v) = self.plain_string() {
            return Some(Cow::Borrowed(v));
        }
        if !self.at_quote() {
            return None;
        }
        self.general(|sc| sc.string())
    }

    /// A key and its colon, as bytes (keys are matched on their bytes: no `str` slicing, whose
    /// boundary checks were a call per key). Only plain keys: an escaped key gives up (the general
    /// parser decodes it).
    #[inline(always)]
    fn key(&mut self) -> Option<&'a [u8]> {
        let (start, end) = self.plain_span()?;
        self.eat(b':')?;
        Some(&self.s[start..end])
    }

    /// A token count (`opt_count` of the general parser, without its `null` and the integral values
    /// written with a fraction or exponent): digits, no leading zero, fits in u64, followed by the
    /// member's end.
    #[inline(always)]
    fn count(&mut self) -> Option<u64> {
        let s = self.s;
        let start = self.pos;
        let mut i = start;
        let mut v: u64 = 0;
        while let Some(&d) = s.get(i) {
            if !d.is_ascii_digit() {
                break;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            i += 1;
        }
        if i == start || (i - start > 1 && s[start] == b'0') {
            return None;
        }
        if !matches!(s.get(i), Some(b',' | b'}')) {
            return None;
        }
        self.pos = i;
        Some(v)
    }

    /// Skips a member's value that is not read: a plain string here, anything else by the general
    /// scanner (which checks it as the general parser would).
    #[inline(always)]
    fn skip(&mut self) -> Option<()> {
        if self.plain_span().is_some() {
            return Some(());
        }
        self.value_start()?;
        self.general(|sc| sc.skip())
    }

    /// After a member's value: `,` (more members: true) or `}` (the object's end: false).
    #[inline(always)]
    fn next_member(&mut self) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Some(true)
            }
            b'}' => {
                self.pos += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// An object's opening brace; false when it is empty (`{}`, consumed).
    #[inline(always)]
    fn open_object(&mut self) -> Option<bool> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(false);
        }
        Some(true)
    }

    /// Calls `member(self, key)` for each member of the object at the cursor; `member` reads the value.
    #[inline(always)]
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        if !self.open_object()? {
            return Some(());
        }
        loop {
            let k = self.key()?;
            member(self, k)?;
            if !self.next_member()? {
                return Some(());
            }
        }
    }

    fn record(&mut self, r: &mut Record<'a>) -> Option<()> {
        let mut p = Pending::default();
        self.object(|f, key| {
            match key {
                b"timestamp" => p.timestamp = Some(f.string()?),
                b"accountId" => r.account_id = Some(f.string()?),
                b"region" => r.region = Some(f.string()?),
                b"requestId" => r.request_id = Some(f.string()?),
                b"operation" => r.operation = Some(f.string()?),
                b"modelId" => p.model_id = Some(f.string()?),
                b"input" => f.object(|f, k| {
                    match k {
                        b"inputTokenCount" => r.tokens.input = f.count()?,
                        b"cacheReadInputTokenCount" => r.tokens.cache_read = f.count()?,
                        b"cacheWriteInputTokenCount" => r.tokens.cache_write = f.count()?,
                        b"inputBodyJson" if f.peek() == Some(b'{') => {
                            r.body_logged = true;
                            f.general(|sc| read_request_body(sc, &mut p.requested_tier))?
                        }
                        _ => f.skip()?,
                    }
                    Some(())
                })?,
                b"output" => f.object(|f, k| {
                    match k {
                        b"outputTokenCount" => r.tokens.output = f.count()?,
                        b"outputBodyJson" if f.peek() == Some(b'{') => {
                            r.body_logged = true;
                            p.cache_1h_from_body =
                                f.general(|sc| read_cache_ttl_split(sc, &mut p.served_tier))?
                        }
                        _ => f.skip()?,
                    }
                    Some(())
                })?,
                b"identity" => f.object(|f, k| {
                    if k == b"arn" {
                        r.caller = Some(f.string()?);
                    } else {
                        f.skip()?;
                    }
                    Some(())
                })?,
                b"requestMetadata" => {
                    r.request_metadata.clear();
                    f.object(|f, k| {
                        if f.at_quote() {
                            let k = f.key_str(k)?;
                            r.request_metadata.push((Cow::Borrowed(k), f.string()?));
                        } else {
                            f.skip()?;
                        }
                        Some(())
                    })?
                }
                b"inferenceRegion" => r.inference_region = Some(f.string()?),
                b"errorCode" => r.error_code = Some(f.string()?),
                b"schemaType" => p.schema_type = Some(f.string()?),
                b"serviceTier" => {
                    f.value_start()?;
                    p.served_tier = f.general(read_tier)?
                }
                _ => f.skip()?,
            }
            Some(())
        })?;
        finish(r, p).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::record::{parse, parse_escaped_general, parse_escaped_push};
    use crate::records::scan::unescape_body;

    /// Escapes `text` as the body of a JSON string (as a log event's message arrives).
    fn escape(text: &str) -> String {
        let quoted = serde_json::Value::String(text.to_string()).to_string();
        quoted[1..quoted.len() - 1].to_string()
    }

    /// The fast path's contract on one escaped message: when it reads a record, the general in-place
    /// parser reads the same one from the same text, and so does parsing the unescaped text.
    fn check(escaped: &str) -> bool {
        let general = parse_escaped_general(escaped, &[]);
        // Pushed in place after a record already there: the same record, or the same error and
        // nothing pushed.
        let before = parse(META).expect("META is a record");
        let mut out = vec![before.clone()];
        match (parse_escaped_push(escaped, &[], &mut out), &general) {
            (Ok(()), Ok(g)) => assert_eq!(out, [before, g.clone()], "pushed: {escaped}"),
            (Err(e), Err(g)) => {
                assert_eq!(&e, g, "push error: {escaped}");
                assert_eq!(out, [before], "nothing pushed: {escaped}");
            }
            (pushed, g) => panic!("push {pushed:?} vs general {g:?}: {escaped}"),
        }
        match parse_escaped(escaped) {
            Some(fast) => {
                assert_eq!(Ok(&fast), general.as_ref(), "fast vs general: {escaped}");
                let text = unescape_body(escaped).expect("a record read decodes");
                assert_eq!(
                    parse(&text).map(Record::into_owned),
                    Ok(fast.clone().into_owned()),
                    "fast vs text: {escaped}"
                );
                true
            }
            None => false,
        }
    }

    const META: &str = r#"{"timestamp":"2026-11-25T10:00:00Z","accountId":"123456789012","region":"us-east-1","requestId":"7f0c","operation":"Converse","modelId":"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/agent01","input":{"inputContentType":"application/json","inputTokenCount":12,"cacheReadInputTokenCount":15000,"cacheWriteInputTokenCount":700},"output":{"outputContentType":"application/json","outputTokenCount":33},"identity":{"arn":"arn:aws:sts::123456789012:assumed-role/R/s"},"requestMetadata":{"tenant":"t01","env":"prod"},"inferenceRegion":"us-east-2","errorCode":"ThrottlingException","schemaType":"ModelInvocationLog","schemaVersion":"1.0"}"#;

    #[test]
    fn a_compact_record_is_read_by_the_fast_path() {
        let e = escape(META);
        assert!(check(&e), "taken on");
        let r = parse_escaped(&e).unwrap();
        assert_eq!(r.tokens.cache_read, 15000);
        assert_eq!(r.metadata("env"), Some("prod"));
        assert!(matches!(r.model_id, Cow::Borrowed(_)));
    }

    #[test]
    fn what_the_fast_path_does_not_take_on_is_left_to_the_general_parser() {
        let cases = [
            // whitespace between tokens
            META.replacen(r#""region":"#, r#""region": "#, 1),
            META.replacen(r#","region""#, r#", "region""#, 1),
            META.replacen(r#""region":"us-east-1""#, r#""region":"us-east-1" "#, 1),
            META.replacen(r#""inputTokenCount":12"#, "\"inputTokenCount\":\n12", 1),
            format!("{META} "),
            format!(" {META}"),
            // null, fractions, exponents, leading zeros, negative and huge numbers
            META.replacen(r#""region":"us-east-1""#, r#""region":null"#, 1),
            META.replacen(r#":12,"#, ":12.0,", 1),
            META.replacen(r#":12,"#, ":1.2e1,", 1),
            META.replacen(r#":12,"#, ":012,", 1),
            META.replacen(r#":12,"#, ":-12,", 1),
            META.replacen(r#":12,"#, ":18446744073709551616,", 1),
            META.replacen(r#":12,"#, ":99999999999999999999999,", 1),
            META.replacen(r#":12,"#, ":null,", 1),
            META.replacen(r#":12,"#, r#":"12","#, 1),
            // escapes in keys (one that decodes to a known key), duplicate and unknown keys
            META.replacen(r#""region""#, r#""r\u0065gion""#, 1),
            META.replacen(r#""modelId""#, r#""model\"Id""#, 1),
            META.replacen(r#""timestamp""#, r#""\ud83d\ude00""#, 1),
            META.replacen(r#""env":"prod""#, r#""e\u006ev":"prod""#, 1),
            META.replacen(r#""schemaVersion""#, r#""x\"y":1,"schemaVersion""#, 1),
            // wrong types and bad values
            META.replacen(r#""identity":{"#, r#""identity":null,"x":{"#, 1),
            META.replacen(
                r#""schemaType":"ModelInvocationLog""#,
                r#""schemaType":"Other""#,
                1,
            ),
            META.replacen(
                r#""timestamp":"2026-11-25T10:00:00Z""#,
                r#""timestamp":"soon""#,
                1,
            ),
            META.replacen(r#""modelId":"arn"#, r#""modelId":"","x":"arn"#, 1),
            META.replacen("}", "}}", 1),
            META.replacen(r#""input":{"#, r#""input":["#, 1),
            "[]".to_string(),
            "{}".to_string(),
            String::new(),
        ];
        for text in &cases {
            let e = escape(text);
            assert!(!check(&e), "not taken on: {e}");
            let general = parse_escaped_general(&e, &[]);
            assert_eq!(crate::records::record::parse_escaped(&e), general, "{e}");
        }
    }

    #[test]
    fn values_the_fast_path_hands_to_the_general_scanner_read_the_same() {
        let cases = [
            // escapes in read strings, an escaped key inside a skipped value, non-ASCII text
            META.replacen("assumed-role/R/s", r#"assumed-role/R/s\"q\\b\/é😀"#, 1),
            META.replacen(r#""t01""#, r#""t\u00e9\n\"01\"""#, 1),
            META.replacen(r#""env":"prod""#, r#""env":7,"tier":{"a":[1,"}"]},"env":"dev""#, 1),
            // duplicate keys: the last one counts, as in the general parser
            META.replacen(r#""region":"us-east-1""#, r#""region":"us-east-1","region":"eu-west-1""#, 1),
            META.replacen(r#""output":{"#, r#""output":{"outputTokenCount":5},"output":{"#, 1),
            META.replacen(r#""requestMetadata":{"#, r#""requestMetadata":{"a":"b"},"requestMetadata":{"#, 1),
            META.replacen(r#""identity":{"#, r#""identity":{"arn":"x"},"identity":{"other":1,"#, 1),
            // unknown keys with values of every kind
            META.replacen(r#""schemaVersion""#, r#""xy":{"a":[true,false,null,-1.5e3,"\\"]},"schemaVersion""#, 1),
            // bodies, a served and a requested tier, the 1-hour cache split
            META.replacen(
                r#""inputTokenCount":12"#,
                r#""inputBodyJson":{"serviceTier":{"type":"flex"},"messages":[{"content":[{"text":"say \"hi\" } ] \\"}]}]},"inputTokenCount":12"#,
                1,
            ),
            META.replacen(
                r#""outputTokenCount":33"#,
                r#""outputBodyJson":{"serviceTier":{"type":"priority"},"usage":{"cacheDetails":[{"ttl":"1h","inputTokens":600},{"ttl":"5m","inputTokens":100}]}},"outputTokenCount":33"#,
                1,
            ),
            META.replacen(r#""errorCode""#, r#""serviceTier":"flex","errorCode""#, 1),
            META.replacen(r#""errorCode""#, r#""serviceTier":{"type":["x"]},"errorCode""#, 1),
            META.replacen(r#""inputTokenCount":12"#, r#""inputBodyJson":"not an object","inputTokenCount":12"#, 1),
            // empty objects
            META.replacen(r#""requestMetadata":{"tenant":"t01","env":"prod"}"#, r#""requestMetadata":{}"#, 1),
            META.replacen(r#""identity":{"arn":"arn:aws:sts::123456789012:assumed-role/R/s"}"#, r#""identity":{}"#, 1),
            // huge but valid counts
            META.replacen(r#":12,"#, ":18446744073709551615,", 1),
        ];
        for text in &cases {
            let e = escape(text);
            assert!(check(&e), "taken on: {e}");
        }
    }

    #[test]
    fn bad_escapes_in_skipped_values_are_never_read() {
        for bad in [r"\ud800", r"\x", r"\\\ud800", r"\\\q"] {
            let e = escape(META).replacen(
                r#"\"schemaVersion\":\"1.0\""#,
                &format!(r#"\"note\":\"{bad}\""#),
                1,
            );
            assert!(unescape_body(&e).is_err(), "{e}");
            assert_eq!(parse_escaped(&e), None, "{e}");
            assert!(crate::records::record::parse_escaped(&e).is_err(), "{e}");
        }
    }

    /// xorshift64: a fixed seed, so a failure repeats.
    use crate::test_support::Rng;

    /// Random edits of escaped records (bytes replaced, removed, duplicated; pieces of JSON and escapes
    /// inserted): wherever the fast path reads a record, it is the general parser's.
    #[test]
    fn mutated_messages_read_as_the_general_parser_reads_them() {
        let seeds = [
            escape(META),
            escape(&META.replacen(
                r#""inputTokenCount":12"#,
                r#""inputBodyJson":{"serviceTier":{"type":"flex"},"m":[{"t":"a \"b\" \\ é"}]},"inputTokenCount":12"#,
                1,
            )),
            escape(r#"{"timestamp":"2026-11-25T10:00:00Z","modelId":"m","requestMetadata":{"a":"1","a":"2"}}"#),
        ];
        let pieces: [&[u8]; 16] = [
            b"\\\"",
            b"\\\\",
            b"\\\\\\\"",
            b"\\n",
            b"\\u0041",
            b"\\ud800",
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b" ",
            b"null",
            b"0",
            b"\xc3\xa9",
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut taken, mut total) = (0, 0);
        // Fewer rounds under qemu (the aarch64 step of the test command), where each costs ~20×.
        let rounds = if cfg!(target_arch = "aarch64") {
            3_000
        } else {
            20_000
        };
        for round in 0..rounds {
            let mut b = seeds[round % seeds.len()].clone().into_bytes();
            for _ in 0..=rng.below(3) {
                let at = rng.below(b.len() as u64 + 1) as usize;
                match rng.below(4) {
                    0 if at < b.len() => {
                        b.remove(at);
                    }
                    1 if at < b.len() => b[at] = b"0a:,{}\\\"9 "[rng.below(10) as usize],
                    2 => {
                        let p = pieces[rng.below(pieces.len() as u64) as usize];
                        b.splice(at..at, p.iter().copied()).for_each(drop);
                    }
                    _ => {
                        let end = (at + rng.below(40) as usize).min(b.len());
                        let dup = b[at.min(end)..end].to_vec();
                        b.splice(at..at, dup).for_each(drop);
                    }
                }
            }
            let Ok(e) = String::from_utf8(b) else {
                continue;
            };
            // Only what the decoder can give: the body of one JSON string (no raw quote inside).
            let quoted = format!("\"{e}\"");
            let mut whole = Scanner::new(&quoted);
            if whole.skip().is_err() || whole.pos != quoted.len() {
                continue;
            }
            total += 1;
            if check(&e) {
                taken += 1;
            }
            assert_eq!(
                crate::records::record::parse_escaped(&e),
                parse_escaped_general(&e, &[]),
                "{e}"
            );
        }
        // Both kinds of outcome are exercised.
        assert!(
            taken * 20 > total && (total - taken) * 20 > total,
            "{taken} of {total}"
        );
    }
}
