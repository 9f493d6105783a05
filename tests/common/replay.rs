//! Replays of one seeded traffic workload through `stadtpuls run` against the real broker,
//! and the comparison of two runs' results (Parquet history and output topics) that the
//! fault tests use: a run with faults must equal an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};
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
    /// Whether runs archive their raw input (`history.archive_raw`).
    pub archive_raw: bool,
    /// `kafka.instance_id` of the runs; `None`: unset (derived from host and API port).
    pub instance_id: Option<String>,
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
            archive_raw: false,
            instance_id: None,
        }
    }

    pub fn city(&self, c: usize) -> String {
        format!("{}{}-{c}", self.name, self.run)
    }

    pub fn topic(&self, c: usize) -> String {
        format!("sensors.{}.traffic", self.city(c))
    }

    /// The consumer group id of the configs made with `group`.
    pub fn group_id(&self, group: &str) -> String {
        format!("stadtpuls-{}-{}-{group}", self.name, self.run)
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
group_id = "{group_id}"
{instance_id}
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
archive_raw = {archive_raw}
[output]
traffic_topic = "{output}.traffic"
traffic_lanes_topic = "{output}.traffic_lanes"
parking_topic = "{output}.parking"
{extra}
{cities}"#,
            brokers = self.brokers,
            group_id = self.group_id(group),
            state = dir.join("state").display(),
            history = dir.join("history").display(),
            archive_raw = self.archive_raw,
            instance_id = self
                .instance_id
                .as_ref()
                .map_or(String::new(), |id| format!("instance_id = \"{id}\"")),
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
        let producer: ThreadedProducer<EndsContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("linger.ms", "5")
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

/// Runs `stadtpuls run` until it has its partitions, every partition is checkpointed at
/// its log end and the checkpoints are quiet, then stops it with SIGTERM.
///
/// Waiting for the assignment matters after a crash: the killed life may have checkpointed
/// everything before its idle read closed the last due windows, and a restarted member
/// needs seconds to get its partitions back. Quiet checkpoints before that say nothing.
pub fn run_to_end(dir: &Path, config: &Path, port: u16, ends: &Ends, log: &str) {
    let config = config.display().to_string();
    let app = Stadtpuls::start(&["run", "--config", &config], port, &dir.join(log));
    wait_ready(port, Duration::from_secs(60), log);
    wait_checkpointed(&dir.join("state"), ends, Duration::from_secs(300), log);
    wait_quiet(&dir.join("state"), log);
    assert!(app.terminate().success(), "{log}: clean exit");
}

/// Waits until the instance on `port` answers `/readyz` with 200: it has taken part in a
/// rebalance of its group.
///
/// # Panics
/// After `timeout`.
pub fn wait_ready(port: u16, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    while readyz_status(port) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "{what}: /readyz not 200 within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The status code of `GET /readyz` on `port`, over a plain HTTP/1.0 exchange (the callers
/// are synchronous).
fn readyz_status(port: u16) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
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

/// A test's temporary directory (configs, checkpoints, history, the instances' logs): kept
/// for inspection when `STADTPULS_KEEP_TEST_DIRS` is set, and when the test fails (the
/// directory is dropped while the thread panics), since a failure seen once under load — the
/// parallel test runner — may not come back when run again.
pub struct TestDir(tempfile::TempDir);

impl TestDir {
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.disable_cleanup(true);
            eprintln!("test failed: keeping {}", self.0.path().display());
        }
    }
}

/// A new [`TestDir`] under cargo's per-target temporary directory (`CARGO_TARGET_TMPDIR`),
/// apart from other sessions' directories in `/tmp` and removed with the target directory.
pub fn test_dir(name: &str) -> TestDir {
    let mut dir = tempfile::Builder::new()
        .prefix(&format!("stadtpuls-{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir");
    if std::env::var_os("STADTPULS_KEEP_TEST_DIRS").is_some() {
        eprintln!("keeping {}", dir.path().display());
        dir.disable_cleanup(true);
    }
    TestDir(dir)
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
