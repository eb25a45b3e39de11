//! The record parser on any bytes (see `harness::record_parser`). Nothing may panic.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::record_parser(data));
