//! The hot path stage by stage, so a regression shows where it is: decode (JSON → Arrow
//! batch, ids interned), window update (assignment + aggregation), emit (closed windows →
//! Arrow result batches).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use stadtpuls_benches::{BATCH, CITIES, START_MS, messages};
use stadtpuls_ingest::decode::StreamKind;
use stadtpuls_ingest::decode::native::{self, Sinks};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::engine::{Operator, TrafficWindowOperator};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::{TrafficBatch, TrafficBatchBuilder};
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

const BOUNDS: TimeBounds = TimeBounds {
    now: START_MS,
    max_future_ms: i64::MAX / 4,
};

fn catalog() -> Catalog {
    let ids: Vec<&str> = CITIES.iter().map(|c| c.0).collect();
    Catalog::with_cities(&ids, UnknownSensors::Admit)
}

/// Decodes `payloads` into one traffic batch with `catalog`.
fn decode(catalog: &mut Catalog, payloads: &[&[u8]]) -> TrafficBatch {
    let mut traffic = TrafficBatchBuilder::with_capacity(payloads.len());
    let mut parking = ParkingBatchBuilder::default();
    let mut rejected = Vec::new();
    let mut sinks = Sinks {
        catalog,
        traffic: &mut traffic,
        parking: &mut parking,
        rejected: &mut rejected,
    };
    for p in payloads {
        native::decode(StreamKind::Traffic, p, None, BOUNDS, &mut sinks);
    }
    assert!(
        rejected.is_empty(),
        "benchmark input must be valid: {:?}",
        rejected.first()
    );
    traffic.finish(catalog).expect("batch")
}

fn operator() -> TrafficWindowOperator {
    TrafficWindowOperator::new(&WindowSpec::tumbling(
        &[60_000],
        30_000,
        60_000,
        TimestampSemantics::Instant,
    ))
}

fn stages(c: &mut Criterion) {
    let raw = messages(10 * BATCH, 10 * 60_000);
    let payloads: Vec<&[u8]> = raw.iter().map(|m| m.payload.as_ref()).collect();
    // Sensors admitted once, as in a running pipeline after its first minutes.
    let mut warm = catalog();
    let batches: Vec<TrafficBatch> = payloads
        .chunks(BATCH)
        .map(|chunk| decode(&mut warm, chunk))
        .collect();

    let mut group = c.benchmark_group("stages");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_10k", |b| {
        b.iter(|| black_box(decode(&mut warm, &payloads[..BATCH]).num_rows()));
    });
    group.throughput(Throughput::Elements((10 * BATCH) as u64));
    group.bench_function("window_update_100k", |b| {
        b.iter_batched(
            operator,
            |mut op| {
                for batch in &batches {
                    black_box(
                        op.fold(0, START_MS, batch, &warm)
                            .map(|s| s.rows)
                            .unwrap_or_default(),
                    );
                }
                op
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("emit_100k", |b| {
        b.iter_batched(
            || {
                let mut op = operator();
                for batch in &batches {
                    let _ = op.fold(0, START_MS, batch, &warm);
                }
                op
            },
            |mut op| black_box(op.finish(&warm).map(|c| c.len()).unwrap_or_default()),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
