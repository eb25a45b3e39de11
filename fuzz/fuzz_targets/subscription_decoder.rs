//! The subscription payload decoder on any input (see `harness::subscription_decoder`). Nothing may panic.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|input: &[u8]| harness::subscription_decoder(input));
