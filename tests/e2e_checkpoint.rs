//! Checkpoints against a real broker: `stadtpuls run` reads the first half of a stream,
//! checkpoints and stops on SIGTERM; a second run restores the checkpoint, seeks each
//! partition to its offset and reads the rest. A 15-minute window spanning the restart
//! holds every event exactly once (a lost state would lower its counts, a replay from an
//! earlier offset would double them), and the checkpoints end at the log-end offsets.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::checkpoint::CheckpointStore;
use stadtpuls_ingest::kafka::ensure_topics;
use stadtpuls_ingest::sink::Task;

use common::{Stadtpuls, ensure_broker, eventually, free_port, get, run_id};

const MIN: i64 = 60_000;
const SENSORS: [&str; 4] = ["s1", "s2", "s3", "s4"];

/// A plausible count (at most 14 a minute on one lane), distinct per sensor and minute.
fn vehicles(sensor: usize, minute: i64) -> i64 {
    2 * (sensor as i64 + 1) + minute % 7
}

fn write_config(dir: &Path, run: &str, city: &str, port: u16) -> std::path::PathBuf {
    let mut csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n".to_owned();
    for s in SENSORS {
        csv.push_str(&format!("{s},traffic,Road {s},48.40,9.99,1,,50,\n"));
    }
    std::fs::write(dir.join("city.csv"), csv).expect("write registry");
    let toml = format!(
        r#"{kafka}[windows]
sizes = ["1m", "15m"]
out_of_orderness = "30s"
idle_timeout = "1h"
allowed_lateness = "0s"
[api]
bind = "127.0.0.1:{port}"
[checkpoint]
dir = "{state}"
interval = "500ms"
[[cities]]
id = "{city}"
name = "Checkpoint City"
timezone = "Europe/Berlin"
lat = 48.40
lon = 9.99
registry = "city.csv"
share = "open"
"#,
        kafka = common::kafka_section(
            &common::brokers(),
            &format!("stadtpuls-ckpt-{run}"),
            &format!(r"^sensors\.{city}\.traffic$"),
            &format!("deadletter-ckpt-{run}"),
            "",
        ),
        state = dir.join("state").display(),
    );
    let path = dir.join("stadtpuls.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

/// Produces every sensor's minutes `minutes`, keyed by sensor; returns the next offset of
/// each partition written to.
async fn produce(
    producer: &FutureProducer,
    topic: &str,
    city: &str,
    t0: i64,
    minutes: std::ops::RangeInclusive<i64>,
    ends: &mut BTreeMap<i32, i64>,
) {
    for minute in minutes {
        for (i, sensor) in SENSORS.iter().enumerate() {
            let payload = json!({"city": city, "sensor_id": sensor, "lane": 0,
                "ts": t0 + minute * MIN, "interval_s": 60,
                "vehicle_count": vehicles(i, minute), "avg_speed_kmh": 48.0})
            .to_string();
            let record = FutureRecord::to(topic).payload(&payload).key(*sensor);
            let delivery = producer
                .send(record, Duration::from_secs(10))
                .await
                .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
            let end = ends.entry(delivery.partition).or_default();
            *end = (*end).max(delivery.offset + 1);
        }
    }
}

async fn window(client: &reqwest::Client, url: &str, start: i64) -> Option<Value> {
    let (status, body) = get(client, url).await;
    let body: Value = (status == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()?;
    let start = stadtpuls_processing::time::to_rfc3339(start);
    body["windows"]
        .as_array()?
        .iter()
        .find(|w| w["window_start"] == start.as_str())
        .cloned()
}

/// The checkpointed next offset of every partition of `topic`.
fn checkpointed(store: &CheckpointStore, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    (0..partitions)
        .filter_map(|partition| {
            let task = Task {
                topic: Arc::from(topic),
                partition,
            };
            let checkpoint = store.load(&task).ok().flatten()?;
            Some((partition, checkpoint.offset))
        })
        .collect()
}

/// Commits offset 0 for both partitions of `topic` in `group`.
fn rewind_group(group: &str, topic: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for partition in 0..2 {
        tpl.add_partition_offset(topic, partition, Offset::Offset(0))
            .expect("offset list");
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("commit offsets 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_restart_resume_from_the_checkpoint() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("ck-{run}");
    let topic = format!("sensors.{city}.traffic");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, port);
    let store = CheckpointStore::new(dir.path().join("state"));
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, std::slice::from_ref(&topic), 2)
        .await
        .expect("create topic");
    ensure_topics(&kafka, &[format!("deadletter-ckpt-{run}")], 1)
        .await
        .expect("create dead-letter topic");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .create()
        .expect("producer");
    // On an hour boundary two hours back: windows align, nothing is in the future.
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = (now - 2 * 3_600_000) / 3_600_000 * 3_600_000;
    let client = reqwest::Client::new();
    let config_arg = config.display().to_string();
    let args = ["run", "--config", config_arg.as_str()];
    let url = |sensor: &str, size: &str| {
        format!("http://127.0.0.1:{port}/v1/cities/{city}/traffic/{sensor}?window={size}")
    };

    // Run 1: minutes 1..=22, checkpointed, then SIGTERM.
    let mut ends = BTreeMap::new();
    produce(&producer, &topic, &city, t0, 1..=22, &mut ends).await;
    assert_eq!(ends.len(), 2, "keys spread over both partitions: {ends:?}");
    let first = Stadtpuls::start(&args, port, &dir.path().join("run1.log"));
    let phase1 = ends.clone();
    eventually(
        Duration::from_secs(60),
        "run 1 checkpointed its input",
        || {
            let got = checkpointed(&store, &topic, 2);
            let want = phase1.clone();
            async move { (got == want).then_some(()) }
        },
    )
    .await;
    let closed = window(&client, &url("s1", "15m"), t0).await;
    assert_eq!(
        closed.map(|w| w["vehicles"].clone()),
        Some(json!((1..=15).map(|m| vehicles(0, m)).sum::<i64>())),
        "run 1 closed the first quarter hour"
    );
    assert!(first.terminate().success(), "run 1 exits cleanly");
    assert_eq!(
        checkpointed(&store, &topic, 2),
        phase1,
        "shutdown checkpoint"
    );
    // As after a crash between a checkpoint and Kafka's offset commit: the group's
    // committed offsets lag. The checkpoint, not the group, decides where run 2 reads.
    rewind_group(&format!("stadtpuls-ckpt-{run}"), &topic);

    // Run 2: restores, seeks, reads minutes 23..=40.
    produce(&producer, &topic, &city, t0, 23..=40, &mut ends).await;
    let log2 = dir.path().join("run2.log");
    let second = Stadtpuls::start(&args, port, &log2);
    let quarter = t0 + 15 * MIN;
    for (i, sensor) in SENSORS.iter().enumerate() {
        let w = eventually(
            Duration::from_secs(60),
            "the quarter hour across the restart",
            || {
                let (client, address) = (client.clone(), url(sensor, "15m"));
                async move { window(&client, &address, quarter).await }
            },
        )
        .await;
        let expected: i64 = (16..=30).map(|m| vehicles(i, m)).sum();
        assert_eq!(
            w["vehicles"],
            json!(expected),
            "{sensor}: every minute of 16..=30 once"
        );
        assert_eq!(w["observations"], json!(15), "{sensor}");
        for minute in [22, 23, 24] {
            let m = window(&client, &url(sensor, "1m"), t0 + (minute - 1) * MIN)
                .await
                .unwrap_or_else(|| panic!("{sensor} minute {minute}"));
            assert_eq!(
                m["vehicles"],
                json!(vehicles(i, minute)),
                "{sensor} {minute}"
            );
        }
    }
    let all = ends.clone();
    eventually(
        Duration::from_secs(30),
        "run 2 checkpointed all input",
        || {
            let got = checkpointed(&store, &topic, 2);
            let want = all.clone();
            async move { (got == want).then_some(()) }
        },
    )
    .await;
    let (_, metrics) = get(&client, &format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("stadtpuls_checkpoints_total ") && !l.ends_with(" 0")),
        "checkpoints are counted"
    );
    assert!(second.terminate().success(), "run 2 exits cleanly");
    let log = std::fs::read_to_string(&log2).unwrap_or_default();
    for (partition, offset) in &phase1 {
        let line = format!("offset {offset}");
        assert!(
            log.lines().any(|l| l.contains("restored task")
                && l.contains(&format!("{topic}-{partition} "))
                && l.contains(&line)),
            "run 2 restored {topic}-{partition} at {offset}:\n{log}"
        );
    }
}
