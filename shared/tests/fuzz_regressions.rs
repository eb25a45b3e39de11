//! Every input the fuzzers ever crashed on (and a few hand-made hostile ones) replayed through the same
//! code the fuzz targets run (`fuzz/fuzz_targets/*.rs`): none may panic. Inputs live in
//! `fuzz/regressions/<target>/`, one file each; a new crash found by `fuzz/run.sh` is added there.

use std::io::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use bedrock_meter::record::{for_each_record_in_bytes, parse, parse_bytes};
use bedrock_meter::subscription::{Decoder, LogsData};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("dir entry").path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("read input"))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

fn parse_messages(d: &LogsData<'_>) {
    for ev in &d.log_events {
        let _ = parse(ev.message);
    }
}

/// What `fuzz_targets/subscription_decoder.rs` does with one input.
fn subscription_decoder(input: &[u8]) {
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

/// What `fuzz_targets/record_parser.rs` does with one input.
fn record_parser(data: &[u8]) {
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
}

fn replay(target: &str, f: fn(&[u8])) {
    for (name, input) in inputs(target) {
        if std::panic::catch_unwind(|| f(&input)).is_err() {
            panic!("{target}: input {name} panics");
        }
    }
}

#[test]
fn subscription_decoder_regressions() {
    replay("subscription_decoder", subscription_decoder);
}

#[test]
fn record_parser_regressions() {
    replay("record_parser", record_parser);
}

/// The record inputs are also fed to the decoder's every mode (a record is often what lands there).
#[test]
fn record_inputs_through_the_decoder() {
    for (_, input) in inputs("record_parser") {
        for mode in 0..4u8 {
            let mut v = vec![mode];
            v.extend_from_slice(&input);
            subscription_decoder(&v);
        }
    }
}
