//! Shared workload of the Stadtpuls benchmarks: messages shaped like the reference workload
//! of `shared/bench` (9 cities × 2,000 sensors, 3 lanes, 2 % up to 30 s out of order),
//! generated with a fixed seed.

use std::sync::Arc;

use stadtpuls_ingest::pipeline::RawMessage;

/// The reference workload's cities and sensor-id prefixes.
pub const CITIES: [(&str, &str); 9] = [
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
/// 2026-11-24T00:00:00Z, the workload's first event time.
pub const START_MS: i64 = 1_795_478_400_000;
/// Messages per batch, as one Kafka fetch.
pub const BATCH: usize = 10_000;

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

/// Returns `n` messages spanning `span_ms` of event time, in the reference workload's format.
pub fn messages(n: usize, span_ms: i64) -> Vec<RawMessage> {
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
                format: None,
            }
        })
        .collect()
}
