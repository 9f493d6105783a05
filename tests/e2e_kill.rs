//! `kill -9` against a real broker: the same input (a million traffic events over three
//! city topics of three partitions each) is processed by `stadtpuls run` once without
//! interruption (run A) and once killed with SIGKILL five times at random moments between
//! checkpoints, restarted each time, then finished cleanly (run B). The Parquet history and
//! the output topics of both runs must hold the same windows with the same values, and B's
//! history no row twice: what a crash replays is taken back (effectively once), not doubled.
//!
//! The kill moments come from a seeded generator; the seed is printed and can be set with
//! `STADTPULS_KILL_SEED`. `STADTPULS_KILL_EVENTS` changes the number of events.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int64Type, TimestampMillisecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use serde_json::Value;
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::checkpoint::CheckpointStore;
use stadtpuls_ingest::kafka::ensure_topics;
use stadtpuls_ingest::sink::Task;

use common::{Stadtpuls, ensure_broker, free_port, run_id};

const PARTITIONS: i32 = 3;
const CITIES: usize = 3;
const SENSORS: usize = 40;
const LANES: u64 = 2;
/// Event time covered by the input: many 1-minute and 15-minute windows close.
const SPAN_MS: i64 = 4 * 3_600_000;
const KILLS: usize = 5;

/// A small deterministic generator (PCG-style LCG): no dependency, reproducible by seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, m: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % m
    }
}

fn city(run: &str, c: usize) -> String {
    format!("kill{run}-{c}")
}

fn topic(run: &str, c: usize) -> String {
    format!("sensors.{}.traffic", city(run, c))
}

/// One run's config: its own checkpoint and history directories, group and output topics.
fn write_config(dir: &Path, run: &str, name: &str, group: &str, port: u16) -> PathBuf {
    let mut csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n".to_owned();
    for s in 0..SENSORS {
        csv.push_str(&format!("s{s},traffic,Road {s},48.40,9.99,{LANES},,50,\n"));
    }
    std::fs::write(dir.join("city.csv"), csv).expect("write registry");
    let mut cities = String::new();
    for c in 0..CITIES {
        cities.push_str(&format!(
            "[[cities]]\nid = \"{}\"\nname = \"Kill City {c}\"\ntimezone = \"Europe/Berlin\"\n\
             lat = 48.40\nlon = 9.99\nregistry = \"city.csv\"\n",
            city(run, c)
        ));
    }
    let toml = format!(
        r#"version = 1
[kafka]
brokers = "{brokers}"
group_id = "stadtpuls-kill-{run}-{group}"
topic_pattern = '^sensors\.kill{run}-[0-9]+\.traffic$'
deadletter_topic = "deadletter-kill-{run}"
batch_max_wait = "50ms"
[kafka.librdkafka]
"topic.metadata.refresh.interval.ms" = "1000"
[windows]
sizes = ["1m", "15m"]
out_of_orderness = "30s"
idle_timeout = "1h"
allowed_lateness = "2m"
[api]
bind = "127.0.0.1:{port}"
[checkpoint]
dir = "{state}"
interval = "700ms"
[history]
dir = "{history}"
[output]
traffic_topic = "out-kill-{run}-{name}.traffic"
traffic_lanes_topic = "out-kill-{run}-{name}.traffic_lanes"
parking_topic = "out-kill-{run}-{name}.parking"
{cities}"#,
        brokers = common::brokers(),
        state = dir.join("state").display(),
        history = dir.join("history").display(),
    );
    let path = dir.join("stadtpuls.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

/// Produces `n` events in event-time order over [`SPAN_MS`] from `t0`, keyed by sensor (so
/// a sensor stays on one partition), a few seconds out of order now and then and a handful
/// 40–50 s late (past `out_of_orderness`, within `allowed_lateness`: new revisions).
/// Returns the log-end offset of every (topic, partition).
async fn produce(run: &str, n: i64, t0: i64) -> BTreeMap<(String, i32), i64> {
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    let topics: Vec<String> = (0..CITIES).map(|c| topic(run, c)).collect();
    ensure_topics(&kafka, &topics, PARTITIONS)
        .await
        .expect("create input topics");
    ensure_topics(&kafka, &[format!("deadletter-kill-{run}")], 1)
        .await
        .expect("create dead-letter topic");
    let ends = Arc::new(Mutex::new(BTreeMap::new()));
    let producer: ThreadedProducer<Ends> = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("linger.ms", "5")
        .set("acks", "all")
        .set("queue.buffering.max.messages", "200000")
        .create_with_context(Ends(ends.clone()))
        .expect("producer");
    let mut rng = Lcg(11);
    let started = Instant::now();
    for i in 0..n {
        let c = rng.next(CITIES as u64) as usize;
        let sensor = format!("s{}", rng.next(SENSORS as u64));
        let mut ts = t0 + i * SPAN_MS / n;
        match rng.next(20_000) {
            0 => ts -= 40_000 + rng.next(10_000) as i64,
            1..=1000 => ts -= rng.next(10_000) as i64,
            _ => {}
        }
        let payload = format!(
            r#"{{"city":"{}","sensor_id":"{sensor}","lane":{},"ts":{},"interval_s":60,"vehicle_count":{},"avg_speed_kmh":{}.{}}}"#,
            city(run, c),
            rng.next(LANES),
            ts.max(t0),
            rng.next(15),
            20 + rng.next(40),
            rng.next(10),
        );
        let mut record = BaseRecord::to(&topics[c]).key(&sensor).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => panic!("produce: {e}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("flush the producer");
    let ends = ends.lock().expect("ends").clone();
    let delivered: i64 = ends.values().sum::<i64>();
    eprintln!(
        "produced {n} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        delivered, n,
        "every event delivered, offsets dense: {ends:?}"
    );
    ends
}

/// Records the next offset of every partition written to, from the delivery reports.
struct Ends(Arc<Mutex<BTreeMap<(String, i32), i64>>>);

impl ClientContext for Ends {}

impl ProducerContext for Ends {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        let message = result
            .as_ref()
            .unwrap_or_else(|(e, _)| panic!("delivery: {e}"));
        let mut ends = self.0.lock().expect("ends");
        let end = ends
            .entry((message.topic().to_owned(), message.partition()))
            .or_default();
        *end = (*end).max(message.offset() + 1);
    }
}

fn plain_consumer(group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

/// The checkpointed next offset of every input partition.
fn checkpointed(
    store: &CheckpointStore,
    ends: &BTreeMap<(String, i32), i64>,
) -> BTreeMap<(String, i32), i64> {
    ends.keys()
        .filter_map(|(t, p)| {
            let task = Task {
                topic: std::sync::Arc::from(t.as_str()),
                partition: *p,
            };
            let checkpoint = store.load(&task).ok().flatten()?;
            Some(((t.clone(), *p), checkpoint.offset))
        })
        .collect()
}

/// Runs `stadtpuls run` until every partition is checkpointed at its log end, then stops
/// it with SIGTERM.
fn run_to_end(
    dir: &Path,
    config: &Path,
    port: u16,
    ends: &BTreeMap<(String, i32), i64>,
    log: &str,
) {
    let config = config.display().to_string();
    let app = Stadtpuls::start(&["run", "--config", &config], port, &dir.join(log));
    let store = CheckpointStore::new(dir.join("state"));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if checkpointed(&store, ends) == *ends {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{log}: not all input checkpointed within 300 s: {:?}",
            checkpointed(&store, ends)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(app.terminate().success(), "{log}: clean exit");
}

/// A value as comparable text; floats by their bits' decimal rendering.
fn cell(column: &dyn Array, row: usize) -> String {
    if column.is_null(row) {
        return "null".into();
    }
    match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(row).to_owned(),
        DataType::UInt8 => column.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => column.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => column.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row).to_string(),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Float64 => column.as_primitive::<Float64Type>().value(row).to_string(),
        DataType::Boolean => column.as_boolean().value(row).to_string(),
        DataType::Timestamp(_, _) => column
            .as_primitive::<TimestampMillisecondType>()
            .value(row)
            .to_string(),
        _ => format!("{:?}", column.slice(row, 1)),
    }
}

/// A history row's identity: table, city, entity, lane, window start.
type RowKey = (String, String, String, String, String);

/// Every row of every Parquet file under `history` (skipping `_` bookkeeping and hidden
/// temporary files), as (key, revision, other columns).
fn history_rows(history: &Path) -> Vec<(RowKey, u64, BTreeMap<String, String>)> {
    let mut files = Vec::new();
    let mut stack = vec![history.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read history dir {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".parquet") {
                files.push(path);
            }
        }
    }
    let mut rows = Vec::new();
    for file in files {
        let relative = file.strip_prefix(history).expect("under history");
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let table = parts[0].clone();
        let city = parts[1].trim_start_matches("city=").to_owned();
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&file).expect("open parquet"),
        )
        .expect("parquet footer")
        .build()
        .expect("parquet reader");
        for batch in reader {
            let batch: RecordBatch = batch.expect("parquet batch");
            let schema = batch.schema();
            for row in 0..batch.num_rows() {
                let mut values = BTreeMap::new();
                for (field, column) in schema.fields().iter().zip(batch.columns()) {
                    values.insert(field.name().clone(), cell(column.as_ref(), row));
                }
                let take = |k: &str| values.get(k).cloned().unwrap_or_default();
                let entity = if values.contains_key("facility_id") {
                    take("facility_id")
                } else {
                    take("sensor_id")
                };
                let key = (
                    table.clone(),
                    city.clone(),
                    entity,
                    take("lane"),
                    take("window_start"),
                );
                let revision = take("revision").parse().expect("revision");
                values.remove("revision");
                rows.push((key, revision, values));
            }
        }
    }
    rows
}

/// Latest revision per window; the values without the revision number.
fn latest_history(
    rows: &[(RowKey, u64, BTreeMap<String, String>)],
) -> BTreeMap<RowKey, BTreeMap<String, String>> {
    let mut best: BTreeMap<RowKey, (u64, &BTreeMap<String, String>)> = BTreeMap::new();
    for (key, revision, values) in rows {
        let newer = best.get(key).is_none_or(|(r, _)| *r <= *revision);
        if newer {
            best.insert(key.clone(), (*revision, values));
        }
    }
    best.into_iter().map(|(k, (_, v))| (k, v.clone())).collect()
}

/// Every record of the output topics of `name`, read to their log ends: latest value (by
/// revision) per (stream, key), without the revision field; plus the number of records.
fn output_latest(run: &str, name: &str) -> (BTreeMap<(String, String), Value>, usize) {
    let consumer = plain_consumer(&format!("read-{run}-{name}"));
    let mut tpl = TopicPartitionList::new();
    for stream in ["traffic", "traffic_lanes", "parking"] {
        let topic = format!("out-kill-{run}-{name}.{stream}");
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("output topic metadata");
        for t in metadata.topics() {
            for p in t.partitions() {
                tpl.add_partition_offset(&topic, p.id(), Offset::Beginning)
                    .expect("assign");
            }
        }
    }
    consumer.assign(&tpl).expect("assign output partitions");
    let mut latest: BTreeMap<(String, String), (u64, Value)> = BTreeMap::new();
    let mut records = 0;
    // Read until the topics stay quiet: Tansu's log-end offsets (fetch_watermarks) can lag
    // the records it serves, so they cannot tell where the end is.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(5) {
        assert!(
            Instant::now() < deadline,
            "output of {name} not read within 120 s"
        );
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        quiet_since = Instant::now();
        let message = message.expect("receive output");
        let topic = message.topic().to_owned();
        let key = String::from_utf8(message.key().expect("keyed").to_vec()).expect("utf-8 key");
        let mut value: Value =
            serde_json::from_slice(message.payload().expect("payload")).expect("JSON value");
        let revision = value["revision"].as_u64().expect("revision");
        value.as_object_mut().expect("object").remove("revision");
        records += 1;
        let stream = topic.rsplit('.').next().unwrap_or_default().to_owned();
        let slot = (stream, key);
        if latest.get(&slot).is_none_or(|(r, _)| *r <= revision) {
            latest.insert(slot, (revision, value));
        }
    }
    (
        latest.into_iter().map(|(k, (_, v))| (k, v)).collect(),
        records,
    )
}

fn kill9(app: Stadtpuls) {
    let pid = app.child.id().to_string();
    let status = Command::new("kill")
        .args(["-KILL", &pid])
        .stderr(Stdio::null())
        .status()
        .expect("kill -9");
    assert!(status.success(), "kill -9 {pid}");
    drop(app); // waits for the killed child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "not yet green: at 1M events run A writes no history dir; at 300k run B's final run did not reach the log end within 300 s (under investigation)"]
async fn kill_9_at_random_moments_changes_no_result() {
    let _broker = ensure_broker();
    let run = run_id();
    let events: i64 = std::env::var("STADTPULS_KILL_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = std::env::var("STADTPULS_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("kill -9 test: run {run}, seed {seed} (STADTPULS_KILL_SEED={seed} repeats it)");
    // On an hour boundary, far enough back that nothing is in the future.
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = (now - SPAN_MS - 2 * 3_600_000) / 3_600_000 * 3_600_000;
    let ends = produce(&run, events, t0).await;
    assert_eq!(ends.values().sum::<i64>(), events, "{ends:?}");

    // Run A: uninterrupted.
    let dir_a = tempfile::tempdir().expect("tempdir");
    let port_a = free_port();
    let config_a = write_config(dir_a.path(), &run, "a", "a", port_a);
    let started = Instant::now();
    run_to_end(dir_a.path(), &config_a, port_a, &ends, "a.log");
    eprintln!("run A: {:.1} s", started.elapsed().as_secs_f64());

    // Run B: five kills at random moments, then a clean finish.
    let dir_b = tempfile::tempdir().expect("tempdir");
    let port_b = free_port();
    let store_b = CheckpointStore::new(dir_b.path().join("state"));
    let mut rng = Lcg(seed);
    let started = Instant::now();
    for k in 0..KILLS {
        let life = Duration::from_millis(500 + rng.next(2_500));
        // A new consumer group per life: the broker would keep the killed member in the
        // group until its session times out, delaying the restart by that long. Where a
        // partition is read from is decided by the checkpoint, not by the group.
        let config_b = write_config(dir_b.path(), &run, "b", &format!("b{k}"), port_b);
        let config_arg = config_b.display().to_string();
        let app = Stadtpuls::start(
            &["run", "--config", &config_arg],
            port_b,
            &dir_b.path().join(format!("b{k}.log")),
        );
        std::thread::sleep(life);
        kill9(app);
        let progress: i64 = checkpointed(&store_b, &ends).values().sum();
        eprintln!("run B: kill {k} after {life:?}, {progress} of {events} events checkpointed");
    }
    let config_b = write_config(dir_b.path(), &run, "b", "b-final", port_b);
    run_to_end(dir_b.path(), &config_b, port_b, &ends, "b-final.log");
    eprintln!("run B: {:.1} s", started.elapsed().as_secs_f64());

    // (1) History: the same windows with the same values; B holds no row twice.
    let rows_a = history_rows(&dir_a.path().join("history"));
    let rows_b = history_rows(&dir_b.path().join("history"));
    let mut seen = BTreeSet::new();
    for (key, revision, _) in &rows_b {
        assert!(
            seen.insert((key, *revision)),
            "run B's history holds {key:?} revision {revision} twice"
        );
    }
    let revised = rows_a.iter().filter(|(_, r, _)| *r > 0).count();
    let history_a = latest_history(&rows_a);
    let history_b = latest_history(&rows_b);
    eprintln!(
        "history: A {} rows ({} windows, {revised} revisions > 0), B {} rows ({} windows)",
        rows_a.len(),
        history_a.len(),
        rows_b.len(),
        history_b.len()
    );
    assert!(
        history_a.len() > 10_000,
        "many windows closed: {}",
        history_a.len()
    );
    let only_a: Vec<_> = history_a
        .keys()
        .filter(|k| !history_b.contains_key(*k))
        .take(5)
        .collect();
    let only_b: Vec<_> = history_b
        .keys()
        .filter(|k| !history_a.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "windows only in A: {only_a:?}; only in B: {only_b:?}"
    );
    for (key, values) in &history_a {
        assert_eq!(Some(values), history_b.get(key), "history row {key:?}");
    }

    // (2) Output topics: the same keys, the same latest values.
    let (out_a, records_a) = output_latest(&run, "a");
    let (out_b, records_b) = output_latest(&run, "b");
    eprintln!(
        "output: A {records_a} records ({} keys), B {records_b} records ({} keys)",
        out_a.len(),
        out_b.len()
    );
    assert_eq!(
        out_a.len(),
        history_a.len(),
        "every history window is in the output"
    );
    let only_a: Vec<_> = out_a
        .keys()
        .filter(|k| !out_b.contains_key(*k))
        .take(5)
        .collect();
    let only_b: Vec<_> = out_b
        .keys()
        .filter(|k| !out_a.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "keys only in A: {only_a:?}; only in B: {only_b:?}"
    );
    for (key, value) in &out_a {
        assert_eq!(Some(value), out_b.get(key), "output record {key:?}");
    }
}
