//! Criterion benches of the ingest path, per stage and end to end, on the two generated ~1 MB
//! subscription payloads (body-heavy and metadata-only). Throughput is in bytes of inflated payload.
//!
//! `cargo bench -p bedrock-meter-core --bench ingest` (add `-- --quick` for a short run). The figures
//! in BENCHMARKS.md come from `bench/run.sh`, which uses the bench binary `examples/ingest_bench.rs`
//! (same code, medians over separate processes, side by side with the Python reference).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

mod support;

use bedrock_meter_core::records::subscription::Decoder;
use support::{
    aggregate, generate, parse_all, price_all, resolve_all, Mix, Pipeline, RawDecode, TextEvent,
    PROFILES_JSON,
};

fn bench(c: &mut Criterion) {
    for (name, mix) in [
        ("body_heavy", Mix::BodyHeavy),
        ("metadata_only", Mix::MetadataOnly),
    ] {
        let (event, _) = generate(mix, 1);
        let ev: TextEvent = serde_json::from_str(&event).expect("event");
        let data = ev.awslogs.data.as_str();
        let mut p = Pipeline::new(PROFILES_JSON);
        let mut raw = RawDecode::new();
        let inflated = raw.run(data);
        let mut decoder = Decoder::new();
        let logs = decoder.decode_data(data).expect("decode");
        let parsed = parse_all(&logs);
        let resolutions = resolve_all(&parsed, &p.profiles, &p.attribution);

        let mut g = c.benchmark_group(name);
        g.sample_size(20);
        g.throughput(Throughput::Bytes(inflated as u64));
        g.bench_function("decode_only", |b| b.iter(|| raw.run(black_box(data))));
        g.bench_function("decode", |b| {
            b.iter(|| {
                p.decoder
                    .decode_data(black_box(data))
                    .map(|l| l.log_events.len())
            })
        });
        g.bench_function("parse", |b| {
            b.iter(|| parse_all(black_box(&logs)).records.len())
        });
        g.bench_function("resolve", |b| {
            b.iter(|| resolve_all(black_box(&parsed), &p.profiles, &p.attribution).len())
        });
        g.bench_function("price", |b| {
            b.iter(|| price_all(black_box(&parsed), &resolutions, &p.prices).len())
        });
        g.bench_function("aggregate", |b| {
            b.iter(|| {
                aggregate(
                    black_box(&parsed),
                    &resolutions,
                    &p.prices,
                    &p.attribution,
                    &p.metrics,
                    p.now,
                )
                .datums
                .len()
            })
        });
        g.bench_function("end_to_end", |b| {
            b.iter(|| p.handle_event(black_box(&event)))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
