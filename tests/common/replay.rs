//! Replays of one seeded traffic workload through `stadtpuls run` against the real broker,
//! and the comparison of two runs' results (Parquet history and output topics) that the
//! fault tests use: a run with faults must equal an uninterrupted one.

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

use super::Stadtpuls;

/// The next offset of every input (topic, partition) once produced.
pub type Ends = BTreeMap<(String, i32), i64>;

/// A seeded traffic workload over `cities` city topics of `partitions` partitions each:
/// `events` events in event-time order over `span_ms` from `t0`, keyed by sensor (so a
/// sensor stays on one partition), a few seconds out of order now and then and a handful
/// 40–50 s late (past `out_of_orderness`, within `allowed_lateness`: new revisions).
#[derive(Debug, Clone)]
pub struct Workload {
    /// Names this workload's cities, topics and groups (`<name><run>-<c>`).
    pub name: String,
    pub run: String,
    pub brokers: String,
    pub cities: usize,
    pub partitions: i32,
    pub sensors: usize,
    pub lanes: u64,
    pub span_ms: i64,
    pub events: i64,
    pub t0: i64,
}

impl Workload {
    /// `events` events over four hours ending two hours ago, three cities of three
    /// partitions, 40 sensors of two lanes each.
    pub fn new(name: &str, run: &str, brokers: &str, events: i64) -> Self {
        let span_ms = 4 * 3_600_000;
        let now = chrono::Utc::now().timestamp_millis();
        // On an hour boundary, far enough back that nothing is in the future.
        let t0 = (now - span_ms - 2 * 3_600_000) / 3_600_000 * 3_600_000;
        Self {
            name: name.to_owned(),
            run: run.to_owned(),
            brokers: brokers.to_owned(),
            cities: 3,
            partitions: 3,
            sensors: 40,
            lanes: 2,
            span_ms,
            events,
            t0,
        }
    }

    pub fn city(&self, c: usize) -> String {
        format!("{}{}-{c}", self.name, self.run)
    }

    pub fn topic(&self, c: usize) -> String {
        format!("sensors.{}.traffic", self.city(c))
    }

    /// The output topics' common prefix of the run called `label`.
    pub fn output_prefix(&self, label: &str) -> String {
        format!("out-{}-{}-{label}", self.name, self.run)
    }

    /// One run's config: its own checkpoint and history directories under `dir`, group
    /// `group`, output topics of `label`; `extra` is appended (more sections).
    pub fn config(&self, dir: &Path, label: &str, group: &str, port: u16, extra: &str) -> PathBuf {
        self.write_config(&ConfigFile {
            dir,
            file: "stadtpuls.toml",
            label,
            group,
            port,
            librdkafka: "",
            extra,
        })
    }

    /// The config of one member of a group that shares `dir` (checkpoint and history
    /// directories) with others: written to `stadtpuls-<port>.toml`; `librdkafka` holds
    /// more `key = value` lines of the `[kafka.librdkafka]` table.
    pub fn member_config(
        &self,
        dir: &Path,
        label: &str,
        group: &str,
        port: u16,
        librdkafka: &str,
    ) -> PathBuf {
        self.write_config(&ConfigFile {
            dir,
            file: &format!("stadtpuls-{port}.toml"),
            label,
            group,
            port,
            librdkafka,
            extra: "",
        })
    }

    fn write_config(&self, c: &ConfigFile<'_>) -> PathBuf {
        let ConfigFile {
            dir,
            file,
            label,
            group,
            port,
            librdkafka,
            extra,
        } = *c;
        let mut csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n".to_owned();
        for s in 0..self.sensors {
            csv.push_str(&format!(
                "s{s},traffic,Road {s},48.40,9.99,{},,50,\n",
                self.lanes
            ));
        }
        std::fs::write(dir.join("city.csv"), csv).expect("write registry");
        let mut cities = String::new();
        for c in 0..self.cities {
            cities.push_str(&format!(
                "[[cities]]\nid = \"{}\"\nname = \"City {c}\"\ntimezone = \"Europe/Berlin\"\n\
                 lat = 48.40\nlon = 9.99\nregistry = \"city.csv\"\n",
                self.city(c)
            ));
        }
        let (name, run) = (&self.name, &self.run);
        let output = self.output_prefix(label);
        let toml = format!(
            r#"version = 1
[kafka]
brokers = "{brokers}"
group_id = "stadtpuls-{name}-{run}-{group}"
topic_pattern = '^sensors\.{name}{run}-[0-9]+\.traffic$'
deadletter_topic = "deadletter-{name}-{run}"
batch_max_wait = "50ms"
[kafka.librdkafka]
"topic.metadata.refresh.interval.ms" = "1000"
{librdkafka}
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
traffic_topic = "{output}.traffic"
traffic_lanes_topic = "{output}.traffic_lanes"
parking_topic = "{output}.parking"
{extra}
{cities}"#,
            brokers = self.brokers,
            state = dir.join("state").display(),
            history = dir.join("history").display(),
        );
        let path = dir.join(file);
        std::fs::write(&path, toml).expect("write config");
        path
    }

    /// Produces the workload; returns the log-end offset of every (topic, partition).
    pub async fn produce(&self) -> Ends {
        let kafka = KafkaConfig {
            brokers: self.brokers.clone(),
            ..KafkaConfig::default()
        };
        let topics: Vec<String> = (0..self.cities).map(|c| self.topic(c)).collect();
        ensure_topics(&kafka, &topics, self.partitions)
            .await
            .expect("create input topics");
        ensure_topics(
            &kafka,
            &[format!("deadletter-{}-{}", self.name, self.run)],
            1,
        )
        .await
        .expect("create dead-letter topic");
        let ends = Arc::new(Mutex::new(BTreeMap::new()));
        // One record per record batch: Tansu 0.6.0 answers a fetch from an offset inside a
        // batch with the *next* batch (fetching from 53 of a batch 0..176 returns 177 on),
        // so a consumer resuming from a checkpoint mid-batch would silently skip the rest of
        // that batch. Apache Kafka returns the whole batch and the client skips to the
        // offset; with single-record batches both behave the same.
        let producer: ThreadedProducer<EndsContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("linger.ms", "5")
            .set("batch.num.messages", "1")
            .set("acks", "all")
            .set("queue.buffering.max.messages", "200000")
            .create_with_context(EndsContext(ends.clone()))
            .expect("producer");
        let mut rng = Lcg(11);
        let started = Instant::now();
        let n = self.events;
        for i in 0..n {
            let c = rng.next(self.cities as u64) as usize;
            let sensor = format!("s{}", rng.next(self.sensors as u64));
            let mut ts = self.t0 + i * self.span_ms / n;
            match rng.next(20_000) {
                0 => ts -= 40_000 + rng.next(10_000) as i64,
                1..=1000 => ts -= rng.next(10_000) as i64,
                _ => {}
            }
            let payload = format!(
                r#"{{"city":"{}","sensor_id":"{sensor}","lane":{},"ts":{},"interval_s":60,"vehicle_count":{},"avg_speed_kmh":{}.{}}}"#,
                self.city(c),
                rng.next(self.lanes),
                ts.max(self.t0),
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
}

/// What distinguishes one written config from another.
#[derive(Clone, Copy)]
struct ConfigFile<'a> {
    dir: &'a Path,
    file: &'a str,
    label: &'a str,
    group: &'a str,
    port: u16,
    librdkafka: &'a str,
    extra: &'a str,
}

/// A small deterministic generator (PCG-style LCG): no dependency, reproducible by seed.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, m: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % m
    }
}

/// Records the next offset of every partition written to, from the delivery reports.
struct EndsContext(Arc<Mutex<Ends>>);

impl ClientContext for EndsContext {}

impl ProducerContext for EndsContext {
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

fn plain_consumer(brokers: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

/// The checkpointed next offset of every input partition.
pub fn checkpointed(store: &CheckpointStore, ends: &Ends) -> Ends {
    ends.keys()
        .filter_map(|(t, p)| {
            let task = Task {
                topic: Arc::from(t.as_str()),
                partition: *p,
            };
            let checkpoint = store.load(&task).ok().flatten()?;
            Some(((t.clone(), *p), checkpoint.offset))
        })
        .collect()
}

/// Waits until every partition is checkpointed at its log end in `state`.
///
/// # Panics
/// After `timeout`, naming what was checkpointed.
pub fn wait_checkpointed(state: &Path, ends: &Ends, timeout: Duration, what: &str) {
    let store = CheckpointStore::new(state);
    let deadline = Instant::now() + timeout;
    loop {
        if checkpointed(&store, ends) == *ends {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not all input checkpointed within {timeout:?}: {:?} of {ends:?}",
            checkpointed(&store, ends)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `stadtpuls run` until every partition is checkpointed at its log end and the
/// checkpoints are quiet, then stops it with SIGTERM.
pub fn run_to_end(dir: &Path, config: &Path, port: u16, ends: &Ends, log: &str) {
    let config = config.display().to_string();
    let app = Stadtpuls::start(&["run", "--config", &config], port, &dir.join(log));
    wait_checkpointed(&dir.join("state"), ends, Duration::from_secs(300), log);
    wait_quiet(&dir.join("state"), log);
    assert!(app.terminate().success(), "{log}: clean exit");
}

/// How long no checkpoint may change before a run counts as settled: an idle read (1 s)
/// advances the watermark and closes the windows the last messages made due, and the next
/// checkpoint (every 700 ms in these runs) commits them; twice that, with margin.
const QUIET: Duration = Duration::from_secs(4);

/// Waits until no checkpoint file under `state` has changed for [`QUIET`]. Reaching the log
/// end is not enough: the windows the last batch made due close on the next idle tick, and
/// stopping before their checkpoint leaves them open in the snapshot, so two runs stopped at
/// different moments would hold different histories.
///
/// # Panics
/// When the checkpoints keep changing for two minutes.
pub fn wait_quiet(state: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = newest_checkpoint(state);
    let mut since = Instant::now();
    while since.elapsed() < QUIET {
        assert!(
            Instant::now() < deadline,
            "{what}: checkpoints still changing after 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
        let newest = newest_checkpoint(state);
        if newest != last {
            last = newest;
            since = Instant::now();
        }
    }
}

/// The newest checkpoint file's path and modification time under `state`.
fn newest_checkpoint(state: &Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let mut newest = None;
    let mut stack = vec![state.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                let candidate = (modified, path);
                if newest.as_ref().is_none_or(|n| candidate > *n) {
                    newest = Some(candidate);
                }
            }
        }
    }
    newest
}

/// Asserts that the Parquet histories under `a` and `b` hold the same windows with the same
/// latest values and that `b` holds no (window, revision) twice; returns A's window count.
pub fn assert_same_history(a: &Path, b: &Path) -> usize {
    let rows_a = history_rows(a);
    let rows_b = history_rows(b);
    let mut seen = BTreeSet::new();
    for (key, revision, _) in &rows_b {
        assert!(
            seen.insert((key, *revision)),
            "history {} holds {key:?} revision {revision} twice",
            b.display()
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
    history_a.len()
}

/// Asserts that the output topics of two runs hold the same keys with the same latest
/// values; returns A's key count.
pub fn assert_same_output(brokers: &str, prefix_a: &str, prefix_b: &str) -> usize {
    let (out_a, records_a) = output_latest(brokers, prefix_a);
    let (out_b, records_b) = output_latest(brokers, prefix_b);
    eprintln!(
        "output: A {records_a} records ({} keys), B {records_b} records ({} keys)",
        out_a.len(),
        out_b.len()
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
    out_a.len()
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
pub type RowKey = (String, String, String, String, String);

/// Every row of every Parquet file under `history` (skipping `_` bookkeeping and hidden
/// temporary files), as (key, revision, other columns).
pub fn history_rows(history: &Path) -> Vec<(RowKey, u64, BTreeMap<String, String>)> {
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
pub fn latest_history(
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

/// Every record of the output topics `<prefix>.{traffic,traffic_lanes,parking}`, read to their log ends: latest value (by
/// revision) per (stream, key), without the revision field; plus the number of records.
pub fn output_latest(brokers: &str, prefix: &str) -> (BTreeMap<(String, String), Value>, usize) {
    let consumer = plain_consumer(brokers, &format!("read-{prefix}"));
    let mut tpl = TopicPartitionList::new();
    for stream in ["traffic", "traffic_lanes", "parking"] {
        let topic = format!("{prefix}.{stream}");
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
            "output {prefix} not read within 120 s"
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

/// A temporary directory, kept for inspection when `STADTPULS_KEEP_TEST_DIRS` is set.
///
/// Under cargo's per-target temporary directory (`CARGO_TARGET_TMPDIR`), apart from other
/// sessions' directories in `/tmp` and removed with the target directory.
pub fn test_dir(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("stadtpuls-{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir");
    if std::env::var_os("STADTPULS_KEEP_TEST_DIRS").is_some() {
        eprintln!("keeping {}", dir.path().display());
        let mut dir = dir;
        dir.disable_cleanup(true);
        return dir;
    }
    dir
}

/// Kills the binary with SIGKILL: no shutdown code runs.
pub fn kill9(app: Stadtpuls) {
    let pid = app.child.id().to_string();
    let status = Command::new("kill")
        .args(["-KILL", &pid])
        .stderr(Stdio::null())
        .status()
        .expect("kill -9");
    assert!(status.success(), "kill -9 {pid}");
    drop(app); // waits for the killed child
}
