//! The subscription payload decoder on any input: as a Lambda event, as an inflated payload, and as
//! the gzip stream inside `awslogs.data` (the input base64-encoded, so the inflater sees raw bytes).
//! Every message that decodes is also parsed as a record. Nothing may panic.
#![no_main]

use base64::Engine as _;
use bedrock_meter::record::parse;
use bedrock_meter::subscription::{Decoder, LogsData};
use libfuzzer_sys::fuzz_target;

fn parse_messages(d: &LogsData<'_>) {
    for ev in &d.log_events {
        let _ = parse(ev.message);
    }
}

fuzz_target!(|input: &[u8]| {
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
            use std::io::Write as _;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(data).expect("vec");
            let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("vec"));
            let via_gzip = dec.decode_data(&b64).map(|d| format!("{d:?}"));
            let mut dec2 = Decoder::new();
            let direct = dec2.decode_json(data).map(|d| format!("{d:?}"));
            assert_eq!(via_gzip, direct);
        }
    }
});
