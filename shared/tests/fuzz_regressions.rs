//! Every input the fuzzers ever crashed on (and a few hand-made hostile ones) replayed through the same
//! code the fuzz targets run (`fuzz/harness.rs`, included by both): none may panic. Inputs live in
//! `fuzz/regressions/<target>/`, one file each; a new crash found by `fuzz/run.sh` is added there.

use std::path::PathBuf;

#[path = "../../fuzz/harness.rs"]
mod harness;

use harness::{record_parser, subscription_decoder};

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
