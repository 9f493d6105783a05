//! The hot path: native JSON traffic messages → decode → Arrow batch → window aggregation.
//!
//! Messages follow the reference workload of `shared/bench` (9 cities × 2,000 sensors,
//! 3 lanes, 2 % up to 30 s out of order), generated here with a fixed seed.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stadtpuls_benches::{BATCH, CITIES, START_MS, messages, reference_pipeline};
use stadtpuls_ingest::pipeline::{Limits, Pipeline, RawMessage};

fn pipeline() -> Pipeline {
    let ids: Vec<&str> = CITIES.iter().map(|c| c.0).collect();
    let limits = Limits {
        max_message_bytes: 1 << 20,
        max_future_ms: i64::MAX / 4,
        max_clock_jump_ms: 150_000,
    };
    reference_pipeline(&ids, 30_000, 60_000, limits)
}

fn hot_path(c: &mut Criterion) {
    // Ten batches over ten minutes of event time: windows open, fill and close.
    let batches: Vec<Vec<RawMessage>> = messages(10 * BATCH, 10 * 60_000)
        .chunks(BATCH)
        .map(<[RawMessage]>::to_vec)
        .collect();
    // A benchmark of rejections would be meaningless: check every event is accepted.
    let mut check = pipeline();
    let accepted: usize = batches
        .iter()
        .map(|b| {
            check
                .process(b, START_MS)
                .map(|o| o.accepted)
                .unwrap_or_default()
        })
        .sum();
    assert_eq!(
        accepted,
        10 * BATCH,
        "every benchmark event must be accepted"
    );
    let mut group = c.benchmark_group("hot_path");
    group.throughput(Throughput::Elements((10 * BATCH) as u64));
    group.sample_size(10);
    group.bench_function("decode_window_10x10k", |b| {
        b.iter_with_setup(pipeline, |mut p| {
            let mut rows = 0;
            for batch in &batches {
                let out = p
                    .process(batch, START_MS)
                    .map(|o| o.accepted)
                    .unwrap_or_default();
                rows += out;
            }
            let closed = p.finish().map(|o| o.traffic.len()).unwrap_or_default();
            black_box((rows, closed))
        });
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
