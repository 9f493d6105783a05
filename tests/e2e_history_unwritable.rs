//! `stadtpuls run` whose history directory cannot be written (a regular file sits at
//! `history.dir`; root ignores permissions, a file does not): the process keeps running,
//! logs an error naming the path, counts `stadtpuls_history_write_failures_total`, and
//! stops reading (later windows do not close while the commit is retried). Once a directory
//! replaces the file the history holds every window the API closed, once — nothing lost,
//! nothing doubled.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::history::{all_rows, read_history};
use common::{Stadtpuls, ensure_broker, eventually, free_port, get, run_id};

const MIN: i64 = 60_000;
const SENSORS: [&str; 3] = ["s1", "s2", "s3"];

fn vehicles(sensor: usize, minute: i64) -> i64 {
    2 * (sensor as i64 + 1) + minute % 5
}

fn write_config(dir: &Path, run: &str, city: &str, port: u16, history: &Path) -> String {
    let mut csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n".to_owned();
    for s in SENSORS {
        csv.push_str(&format!("{s},traffic,Road {s},48.40,9.99,1,,50,\n"));
    }
    std::fs::write(dir.join("city.csv"), csv).expect("write registry");
    let toml = format!(
        r#"version = 1
[kafka]
brokers = "{brokers}"
group_id = "stadtpuls-unwritable-{run}"
topic_pattern = '^sensors\.{city}\.traffic$'
deadletter_topic = "deadletter-unwritable-{run}"
batch_max_wait = "50ms"
[windows]
sizes = ["1m"]
out_of_orderness = "30s"
idle_timeout = "1h"
allowed_lateness = "0s"
[api]
bind = "127.0.0.1:{port}"
[checkpoint]
dir = "{state}"
interval = "500ms"
[history]
dir = "{history}"
[[cities]]
id = "{city}"
name = "Unwritable City"
timezone = "Europe/Berlin"
lat = 48.40
lon = 9.99
registry = "city.csv"
share = "open"
"#,
        brokers = common::brokers(),
        state = dir.join("state").display(),
        history = history.display(),
    );
    let path = dir.join("stadtpuls.toml");
    std::fs::write(&path, toml).expect("write config");
    path.display().to_string()
}

async fn produce(producer: &FutureProducer, topic: &str, city: &str, t0: i64, minutes: &[i64]) {
    for &minute in minutes {
        for (i, sensor) in SENSORS.iter().enumerate() {
            let payload = json!({"city": city, "sensor_id": sensor, "lane": 0,
                "ts": t0 + minute * MIN, "interval_s": 60,
                "vehicle_count": vehicles(i, minute), "avg_speed_kmh": 48.0})
            .to_string();
            producer
                .send(
                    FutureRecord::to(topic).payload(&payload).key(*sensor),
                    Duration::from_secs(10),
                )
                .await
                .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
        }
    }
}

/// Window starts (ms) the API serves for `sensor`, with their vehicle counts.
async fn served(client: &reqwest::Client, url: &str) -> Vec<(i64, Value)> {
    let (status, body) = get(client, url).await;
    if status != 200 {
        return Vec::new();
    }
    let json: Value = serde_json::from_str(&body).unwrap_or_default();
    json["windows"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .filter_map(|w| {
                    let start = chrono::DateTime::parse_from_rfc3339(w["window_start"].as_str()?)
                        .ok()?
                        .timestamp_millis();
                    Some((start, w["vehicles"].clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `stadtpuls_history_write_failures_total` reaches `at_least`; returns it.
async fn wait_failures(client: &reqwest::Client, base: &str, at_least: f64) -> f64 {
    eventually(
        Duration::from_secs(30),
        "history write failures counted",
        || {
            let client = client.clone();
            let address = format!("{base}/metrics");
            async move {
                let (_, text) = get(&client, &address).await;
                let n = metric(&text, "stadtpuls_history_write_failures_total");
                (n >= at_least).then_some(n)
            }
        },
    )
    .await
}

/// Waits until the history holds `windows` latest traffic rows of `city`.
async fn wait_history(history: &Path, city: &str, windows: usize) {
    eventually(
        Duration::from_secs(40),
        "the windows in the history",
        || {
            let tables = read_history(history, city);
            let n = tables["traffic_1m"].len();
            async move { (n >= windows).then_some(()) }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_history_stalls_reading_and_loses_nothing() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("uw-{run}");
    let topic = format!("sensors.{city}.traffic");
    let dir = tempfile::tempdir().expect("tempdir");
    let history = dir.path().join("history");
    std::fs::write(&history, "not a directory").expect("file in the way");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, port, &history);
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, std::slice::from_ref(&topic), 1)
        .await
        .expect("create topic");
    ensure_topics(&kafka, &[format!("deadletter-unwritable-{run}")], 1)
        .await
        .expect("create dead-letter topic");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .create()
        .expect("producer");
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = (now - 2 * 3_600_000) / 3_600_000 * 3_600_000;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let url = |sensor: &str| format!("{base}/v1/cities/{city}/traffic/{sensor}?window=1m");

    // Phase 1: the file is there from the start. Recovering the task at assignment
    // fails and is retried: nothing is read, the process stays up.
    produce(&producer, &topic, &city, t0, &[0, 1, 2, 3, 4, 5]).await;
    let log = dir.path().join("run.log");
    let mut process = Stadtpuls::start(&["run", "--config", &config], port, &log);
    let failures = wait_failures(&client, &base, 2.0).await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let path = history.display().to_string();
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains(&path)),
        "an error naming {path} is logged:\n{text}"
    );
    assert!(
        matches!(process.child.try_wait(), Ok(None)),
        "still running"
    );
    assert!(
        served(&client, &url("s1")).await.is_empty(),
        "nothing read while the history cannot be recovered"
    );

    // Phase 2: a directory replaces the file; reading starts, minutes 0..=4 close and
    // are committed.
    std::fs::remove_file(&history).expect("remove the file");
    std::fs::create_dir(&history).expect("create the directory");
    wait_history(&history, &city, SENSORS.len() * 5).await;

    // Phase 3: the directory disappears behind a file mid-run: the next commit fails,
    // the rows stay staged and reading pauses (the window of minute 11 needs minute 12, read only
    // after the failure: it never closes).
    let moved = dir.path().join("history.moved");
    std::fs::rename(&history, &moved).expect("move the history away");
    std::fs::write(&history, "not a directory").expect("file in the way");
    produce(&producer, &topic, &city, t0, &[6, 7, 8, 9, 10]).await;
    let failures = wait_failures(&client, &base, failures + 2.0).await;
    produce(&producer, &topic, &city, t0, &[11, 12]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        matches!(process.child.try_wait(), Ok(None)),
        "still running"
    );
    let stalled = served(&client, &url("s1")).await;
    assert!(
        stalled.iter().all(|(start, _)| *start < t0 + 10 * MIN),
        "windows closed from minutes read after the failure: {stalled:?}"
    );
    let (_, text) = get(&client, &format!("{base}/metrics")).await;
    assert!(metric(&text, "stadtpuls_history_write_failures_total") >= failures);
    assert!(
        metric(&text, "stadtpuls_history_staged_rows") > 0.0,
        "rows stay staged:\n{text}"
    );

    // Phase 4: the directory is back; reading resumes and every window the API closed
    // (at least those of minutes 0..=11; 12 waits for later data) is in the history, once.
    std::fs::remove_file(&history).expect("remove the file");
    std::fs::rename(&moved, &history).expect("move the history back");
    let min_windows = SENSORS.len() * 12;
    wait_history(&history, &city, min_windows).await;
    let mut api = BTreeMap::new();
    for sensor in SENSORS {
        for (start, vehicles) in served(&client, &url(sensor)).await {
            api.insert((sensor.to_owned(), start), vehicles);
        }
    }
    // A final checkpoint commits whatever closed after the last one.
    assert!(process.terminate().success(), "exits cleanly");
    let tables = read_history(&history, &city);
    let history_rows: BTreeMap<(String, i64), Value> = tables["traffic_1m"]
        .iter()
        .map(|(key, row)| (key.clone(), row["vehicles"].clone()))
        .collect();
    assert!(
        api.len() >= min_windows,
        "the API closed {} windows",
        api.len()
    );
    assert_eq!(history_rows, api, "the history holds what the API served");
    assert_eq!(
        all_rows(&history, &city, "traffic_1m"),
        api.len() as u64,
        "no window twice"
    );
    for (i, sensor) in SENSORS.iter().enumerate() {
        for minute in 0..=11 {
            // `ts` ends the observation's interval: minute m falls in the window before.
            let start = t0 + (minute - 1) * MIN;
            assert_eq!(
                history_rows.get(&((*sensor).to_owned(), start)),
                Some(&json!(vehicles(i, minute))),
                "{sensor} minute {minute}"
            );
        }
    }
}
