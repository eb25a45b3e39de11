//! The record parser on any bytes: one record, and a buffer of records (JSON Lines, pretty-printed,
//! back to back). Nothing may panic; a record that parses must parse the same when it stands alone.
#![no_main]

use bedrock_meter::record::{for_each_record_in_bytes, parse, parse_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse_bytes(data) {
        assert!(r.tokens.cache_write_1h <= r.tokens.cache_write);
        assert!(!r.model_id.is_empty());
        let text = std::str::from_utf8(data).expect("parsed, so UTF-8");
        assert_eq!(parse(text.trim()).as_ref().ok(), Some(&r));
    }
    for_each_record_in_bytes(data, |r| {
        if let Ok(r) = r {
            assert!(r.tokens.cache_write_1h <= r.tokens.cache_write);
        }
    });
});
