//! The hot path: native JSON traffic messages → decode → Arrow batch → window aggregation.
//!
//! Messages follow the reference workload of `shared/bench` (9 cities × 2,000 sensors,
//! 3 lanes, 2 % up to 30 s out of order), generated here with a fixed seed.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions, RawMessage};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

const CITIES: [(&str, &str); 9] = [
    ("karlsruhe", "ka"),
    ("mannheim", "ma"),
    ("freiburg", "fr"),
    ("ulm", "ul"),
    ("konstanz", "kn"),
    ("friedrichshafen", "fn"),
    ("ettlingen", "et"),
    ("heidelberg", "hd"),
    ("pforzheim", "pf"),
];
const START_MS: i64 = 1_795_478_400_000;
const BATCH: usize = 10_000;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` messages spanning `span_ms` of event time, in the reference workload's format.
fn messages(n: usize, span_ms: i64) -> Vec<RawMessage> {
    let mut rng = Rng(42);
    // Outside the `sensors.<city>.<kind>` convention: cities come from the payloads.
    let topic: Arc<str> = Arc::from("bench-input");
    (0..n)
        .map(|i| {
            let (city, prefix) = CITIES[rng.below(9) as usize];
            let sensor = rng.below(2000) + 1;
            let lane = rng.below(3) + 1;
            let mut ts = START_MS + (i as i64 * span_ms) / n as i64;
            if rng.below(50) == 0 {
                ts = (ts - 1 - rng.below(30_000) as i64).max(START_MS);
            }
            let vc = rng.below(41);
            let sp = rng.below(1301);
            let oc = rng.below(1001);
            let hv = rng.below(vc + 1);
            let payload = format!(
                r#"{{"city":"{city}","sensor_id":"{prefix}-{sensor:06}","lane":{lane},"ts":{ts},"vehicle_count":{vc},"speed_kmh":{}.{},"occupancy_pct":{}.{},"heavy_vehicles":{hv}}}"#,
                sp / 10,
                sp % 10,
                oc / 10,
                oc % 10
            );
            RawMessage {
                source: 0,
                topic: topic.clone(),
                partition: 0,
                offset: i as i64,
                key: None,
                payload: payload.into_bytes().into(),
            }
        })
        .collect()
}

fn pipeline() -> Pipeline {
    let ids: Vec<&str> = CITIES.iter().map(|c| c.0).collect();
    let catalog = Catalog::with_cities(&ids, UnknownSensors::Admit);
    let spec = WindowSpec::tumbling(&[60_000], 30_000, 60_000, TimestampSemantics::Instant);
    let limits = Limits {
        max_message_bytes: 1 << 20,
        max_future_ms: i64::MAX / 4,
    };
    let options = PipelineOptions {
        unknown_sensors: UnknownSensors::Admit,
        timestamps: TimestampSemantics::Instant,
        update_live: false,
    };
    Pipeline::from_parts(
        catalog,
        &spec,
        &ParkingSpec::default(),
        limits,
        Arc::new(LiveState::new(0)),
        options,
    )
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
