//! moto behind the strict proxy, for running a Lambda under a Lambda emulator (`cargo lambda watch`)
//! where the test harness is not there to start them. The proxy refuses what the real services refuse
//! and moto accepts, and runs each DynamoDB transaction alone: moto's own transactions are not safe
//! beside concurrent requests (it copies the table while other threads write it, and answers an HTML
//! 500 "dictionary changed size during iteration"); DynamoDB isolates them. Loopback only.
//!
//!   cargo run -p bedrock-meter-integration-tests --example moto_strict
//!
//! Prints `AWS_ENDPOINT_URL=…` and `READY`, then serves until stdin closes; then prints every request
//! the proxy refused to stderr, and exits 1 when there was one.

use std::io::{Read, Write};

use bedrock_meter_integration_tests::Moto;

fn main() {
    let moto = Moto::start();
    let mut out = std::io::stdout();
    writeln!(out, "AWS_ENDPOINT_URL={}", moto.endpoint()).unwrap();
    writeln!(out, "MOTO_UPSTREAM_PORT={}", moto.upstream_port).unwrap();
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    let refused = moto.rejections();
    eprintln!("strict proxy: {} request(s) refused", refused.len());
    for r in &refused {
        eprintln!("  {r:?}");
    }
    drop(moto);
    if !refused.is_empty() {
        std::process::exit(1);
    }
}
