//! What each fuzz target does with one input. The fuzz targets (`fuzz_targets/*.rs`) and the
//! regression test (`shared/tests/fuzz_regressions.rs`) both include this file, so the replayed
//! regressions run exactly the code the fuzzers ran. Nothing here may panic on any input.

// Each fuzz target uses one of the two entry points.
#![allow(dead_code)]

use std::io::Write as _;

use base64::Engine as _;
use bedrock_meter_core::records::record::{
    for_each_record_in_bytes, parse, parse_bytes, parse_escaped, Record,
};
use bedrock_meter_core::records::subscription::{Decoder, LogsData};

/// Every message is parsed as the ingest Lambda parses it (in place from its escaped text), and that
/// must give exactly what parsing its decoded text gives.
fn parse_messages(d: &LogsData<'_>) {
    for ev in &d.log_events {
        let in_place = ev.message.parse();
        let decoded = ev.message.text().map(|t| parse(&t).map(Record::into_owned));
        match decoded {
            Ok(expected) => assert_eq!(in_place, expected),
            Err(_) => assert!(in_place.is_err()),
        }
    }
}

/// The subscription payload decoder on any input: as a Lambda event, as an inflated payload, and as
/// the gzip stream inside `awslogs.data` (the input base64-encoded, so the inflater sees raw bytes).
/// Every message that decodes is also parsed as a record.
pub fn subscription_decoder(input: &[u8]) {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    let mut dec = Decoder::new();
    match mode % 4 {
        0 => {
            if let Ok(text) = std::str::from_utf8(data) {
                if let Ok(d) = dec.decode_event(text) {
                    parse_messages(&d);
                }
            }
        }
        1 => {
            if let Ok(d) = dec.decode_json(data) {
                parse_messages(&d);
            }
        }
        2 => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(data);
            if let Ok(d) = dec.decode_data(&b64) {
                parse_messages(&d);
            }
        }
        _ => {
            // A valid gzip stream of arbitrary JSON: inflating must agree with the inflated path.
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).expect("vec");
            let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("vec"));
            let via_gzip = dec.decode_data(&b64).map(|d| format!("{d:?}"));
            let mut dec2 = Decoder::new();
            let direct = dec2.decode_json(data).map(|d| format!("{d:?}"));
            assert_eq!(via_gzip, direct);
        }
    }
}

/// The record parser on any bytes: one record, and a buffer of records (JSON Lines, pretty-printed,
/// back to back). A record that parses must parse the same when it stands alone.
pub fn record_parser(data: &[u8]) {
    if let Ok(r) = parse_bytes(data) {
        assert!(r.tokens.cache_write_1h <= r.tokens.cache_write);
        assert!(!r.model_id.is_empty());
        let text = std::str::from_utf8(data).expect("parsed, so UTF-8");
        assert_eq!(parse(text.trim()).as_ref().ok(), Some(&r));
    }
    // Read in place from the text escaped as a JSON string body (as a log event's message arrives),
    // a record must parse exactly as from the text.
    if let Ok(text) = std::str::from_utf8(data) {
        let quoted = serde_json::Value::String(text.to_string()).to_string();
        let escaped = &quoted[1..quoted.len() - 1];
        assert_eq!(parse_escaped(escaped), parse(text).map(Record::into_owned));
    }
    for_each_record_in_bytes(data, |r| {
        if let Ok(r) = r {
            assert!(r.tokens.cache_write_1h <= r.tokens.cache_write);
        }
    });
}
