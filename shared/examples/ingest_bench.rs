//! Benchmark driver for the ingest path (issue 6). See BENCHMARKS.md; `bench/run.sh` runs everything.
//!
//! ```text
//! ingest_bench gen <body|meta> <seed> <event.json> <profiles.json>   write a ~1 MB subscription event
//! ingest_bench stages <event.json> <profiles.json> [iters]            per-stage medians, one JSON line
//! ingest_bench once <event.json> <profiles.json> [repeat]             end-to-end runs (peak RSS, profiles)
//! ```
//!
//! The pipeline (in `benches/support`) mirrors `functions/ingest` (`Ingest::handle_data`) stage for stage, without the
//! AWS calls: decode → parse → resolve (warm profile cache) → price → aggregate (per-minute metrics per
//! dimension set, and the detector's per-minute observations).

#[path = "../benches/support/mod.rs"]
mod support;

use support::{generate, stages, Mix, Pipeline, PROFILES_JSON};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = |i: usize| -> &str {
        args.get(i).map(String::as_str).unwrap_or_else(|| {
            eprintln!("usage: see the module documentation of shared/examples/ingest_bench.rs");
            std::process::exit(2)
        })
    };
    match a(0) {
        "gen" => {
            let mix = match a(1) {
                "body" => Mix::BodyHeavy,
                "meta" => Mix::MetadataOnly,
                m => panic!("unknown mix {m}"),
            };
            let seed: u64 = a(2).parse().expect("seed");
            let (event, stats) = generate(mix, seed);
            std::fs::write(a(3), &event).expect("write event");
            std::fs::write(a(4), PROFILES_JSON).expect("write profiles");
            eprintln!("{stats}");
        }
        "stages" => {
            let event = std::fs::read_to_string(a(1)).expect("read event");
            let profiles = std::fs::read_to_string(a(2)).expect("read profiles");
            let iters: usize = args.get(3).map_or(30, |s| s.parse().expect("iters"));
            println!("{}", stages(&event, &profiles, iters));
        }
        "once" => {
            let event = std::fs::read_to_string(a(1)).expect("read event");
            let profiles = std::fs::read_to_string(a(2)).expect("read profiles");
            let repeat: usize = args.get(3).map_or(1, |s| s.parse().expect("repeat"));
            let mut p = Pipeline::new(&profiles);
            let mut s = p.handle_event(&event);
            for _ in 1..repeat {
                s = p.handle_event(&event);
            }
            println!(
                "records {} malformed {} datums {} observations {} cost_usd {}",
                s.records,
                s.malformed,
                s.datums,
                s.observations,
                s.cost.to_decimal_string(6)
            );
        }
        other => {
            eprintln!("unknown command {other}");
            std::process::exit(2)
        }
    }
}
