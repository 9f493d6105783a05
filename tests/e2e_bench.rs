//! `stadtpuls bench` end to end: the checksum of the reference workload equals a plain
//! re-computation, and the run through a real broker gives the same results.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;

use common::ensure_broker;
use serde_json::Value;

const START_MS: i64 = 1_795_478_400_000;
const CITIES: [(&str, &str); 3] = [("ulm", "ul"), ("karlsruhe", "ka"), ("konstanz", "kn")];

/// Lines in the format of `shared/bench/gen.py`, a few seconds out of order now and then.
fn workload(n: i64) -> Vec<String> {
    let mut state: u64 = 7;
    let mut next = move |m: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % m
    };
    (0..n)
        .map(|i| {
            let (city, prefix) = CITIES[next(3) as usize];
            let mut ts = START_MS + i * 600_000 / n;
            if next(50) == 0 {
                ts = (ts - 1 - next(20_000) as i64).max(START_MS);
            }
            let vc = next(41);
            let sp = next(1301);
            let oc = next(1001);
            format!(
                r#"{{"city":"{city}","sensor_id":"{prefix}-{:06}","lane":{},"ts":{ts},"vehicle_count":{vc},"speed_kmh":{}.{},"occupancy_pct":{}.{},"heavy_vehicles":{}}}"#,
                next(200) + 1,
                next(3) + 1,
                sp / 10,
                sp % 10,
                oc / 10,
                oc % 10,
                next(vc + 1)
            )
        })
        .collect()
}

/// count, Σ vehicles, Σ speed, max occupancy, Σ heavy of one (city, sensor, minute).
type Group = (i64, i64, f64, f64, i64);

/// The harness checksum computed the obvious way: a map over (city, sensor, minute).
fn reference_checksum(lines: &[String]) -> i64 {
    let mut groups: HashMap<(String, String, i64), Group> = HashMap::new();
    for line in lines {
        let v: Value = serde_json::from_str(line).expect("json");
        let key = (
            v["city"].as_str().unwrap_or_default().to_owned(),
            v["sensor_id"].as_str().unwrap_or_default().to_owned(),
            v["ts"].as_i64().unwrap_or_default().div_euclid(60_000),
        );
        let g = groups.entry(key).or_insert((0, 0, 0.0, f64::MIN, 0));
        g.0 += 1;
        g.1 += v["vehicle_count"].as_i64().unwrap_or_default();
        g.2 += v["speed_kmh"].as_f64().unwrap_or_default();
        g.3 = g.3.max(v["occupancy_pct"].as_f64().unwrap_or_default());
        g.4 += v["heavy_vehicles"].as_i64().unwrap_or_default();
    }
    groups
        .values()
        .map(|&(cnt, vc, speed_sum, max_occ, heavy)| {
            let avg = speed_sum / cnt as f64;
            cnt + vc
                + heavy
                + (10.0 * max_occ).round_ties_even() as i64
                + (10.0 * avg * cnt as f64).round_ties_even() as i64
        })
        .sum()
}

fn result_line(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run stadtpuls bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("a RESULT line");
    serde_json::from_str(line).expect("RESULT is JSON")
}

#[test]
fn bench_checksum_matches_a_plain_recomputation_and_the_kafka_run() {
    let _broker = ensure_broker();
    let lines = workload(20_000);
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    for line in &lines {
        writeln!(file, "{line}").expect("write");
    }
    let path = file.path().display().to_string();

    let local = result_line(&["bench", "--input", &path, "--batch", "4000"]);
    assert_eq!(
        local["cnt_total"], 20_000,
        "nothing dropped as late: {local}"
    );
    assert_eq!(local["checksum"], reference_checksum(&lines), "{local}");

    let brokers = common::brokers();
    let kafka = result_line(&[
        "bench", "--input", &path, "--kafka", &brokers, "--limit", "20000", "--batch", "1000",
    ]);
    assert_eq!(kafka["peer"], "stadtpuls-kafka");
    assert_eq!(kafka["events"], 20_000);
    assert_eq!(kafka["checksum"], local["checksum"]);
    assert!(kafka["drain_events_per_s"].as_f64().unwrap_or_default() > 0.0);

    // The batched case: each city's lines as JSON arrays of 100 observations per message
    // (the last of each city shorter), the same results as the file run.
    let batched = result_line(&[
        "bench",
        "--input",
        &path,
        "--kafka",
        &brokers,
        "--limit",
        "20000",
        "--per-message",
        "100",
    ]);
    assert_eq!(batched["events"], 20_000, "{batched}");
    assert_eq!(batched["per_message"], 100, "{batched}");
    let messages = batched["messages"].as_u64().unwrap_or_default();
    assert!(
        (200..=200 + CITIES.len() as u64).contains(&messages),
        "20,000 lines of 3 cities in arrays of 100: {batched}"
    );
    assert_eq!(batched["checksum"], local["checksum"], "{batched}");
    assert!(batched["drain_messages_per_s"].as_f64().unwrap_or_default() > 0.0);
}

/// `stadtpuls bench --network` (the cost curve's input): every sensor of a synthetic network
/// reports once a minute, and every report is counted once in each window it falls in —
/// one 1-minute, one 2-minute and two 4-minute hopping windows (slide 2 minutes).
#[test]
fn the_network_bench_counts_every_report_in_every_window() {
    let result = result_line(&[
        "bench",
        "--network",
        "11x30",
        "--network-minutes",
        "4",
        "--windows",
        "1m,2m",
        "--hopping",
        "4m/2m",
    ]);
    let reports = 11 * 30 * 4;
    assert_eq!(result["cnt_total"], 4 * reports, "{result}");
    assert_eq!(result["late_events"], 0, "{result}");
    assert_eq!(result["network"]["cities"], 11);
    assert_eq!(result["windows"], serde_json::json!(["1m", "2m", "4m/2m"]));
    assert!(
        result["open_states_max"].as_u64().unwrap_or_default() >= 330,
        "{result}"
    );

    let refused = Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
        .args(["bench", "--network", "9x0"])
        .output()
        .expect("run stadtpuls bench");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not a positive number of sensors"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// `stadtpuls bench --sse --kafka`: the harness runs the pipeline in-process against the
/// broker and matches every produced facility count to its `parking` event on the stream
/// (the latency figures are the benchmark's, not this test's).
#[test]
fn the_stream_bench_through_kafka_sees_every_count_as_an_event() {
    let _broker = ensure_broker();
    let result = result_line(&[
        "bench",
        "--sse",
        "--kafka",
        &common::brokers(),
        "--sse-kafka-messages",
        "24",
        "--sse-interval-ms",
        "20",
    ]);
    assert_eq!(result["sse_kafka_messages"], 24, "{result}");
    assert_eq!(
        result["events"], 24,
        "every count arrived as an event: {result}"
    );
    let (p50, p99) = (result["p50_ms"].as_f64(), result["p99_ms"].as_f64());
    assert!(p50 > Some(0.0) && p99 >= p50, "{result}");
}
