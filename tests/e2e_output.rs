//! The output topics against a real Kafka-protocol broker (Tansu): a real `Pipeline` over
//! 40 simulated minutes of one demo city, its closed windows staged and committed per task
//! (`WindowSink`), then read back with a plain consumer. Every closed window arrives once,
//! with the documented key and a value equal to its row; after `recover` a replay of the
//! same input commits identical key/value pairs (effectively once by key).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, TimestampMillisecondType, UInt8Type, UInt32Type, UInt64Type,
};
use arrow_schema::DataType;
use chrono::{DateTime, SecondsFormat};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use serde_json::{Value, json};
use stadtpuls_config::{CityRegistry, Config, KafkaConfig, OutputConfig};
use stadtpuls_ingest::kafka::{OutputTopics, ensure_output_topics};
use stadtpuls_ingest::pipeline::{Pipeline, PipelineOptions, RawMessage, StepOutput};
use stadtpuls_ingest::simulate::SimulatedFeed;
use stadtpuls_ingest::sink::{Stream, Task, WindowSink};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::time::to_rfc3339;
use stadtpuls_processing::window::ClosedWindows;

use common::topics::consume_count;
use common::{ensure_broker, run_id};

/// 2026-11-24T07:00:00Z, a Tuesday morning: traffic builds up, car parks fill.
const START: i64 = 1_795_503_600_000;
const MINUTES: i64 = 40;
const CITY: &str = "ulm";

/// Closed windows of one run, by stream.
#[derive(Default)]
struct Closed {
    traffic: Vec<ClosedWindows>,
    lanes: Vec<ClosedWindows>,
    parking: Vec<ClosedWindows>,
}

impl Closed {
    fn take(&mut self, out: StepOutput) {
        self.traffic.extend(out.traffic);
        self.lanes.extend(out.traffic_lanes);
        self.parking.extend(out.parking);
    }

    fn rows(&self) -> usize {
        [&self.traffic, &self.lanes, &self.parking]
            .iter()
            .flat_map(|windows| windows.iter())
            .map(|w| w.batch.num_rows())
            .sum()
    }
}

fn city_registry(config: &Config) -> CityRegistry {
    config
        .load_registries()
        .unwrap_or_else(|e| panic!("demo registries: {e}"))
        .into_iter()
        .find(|r| r.city.id == CITY)
        .expect("ulm is a demo city")
}

/// Runs a fresh pipeline over the simulated feed, one batch per minute, then closes every
/// open window. Deterministic: two runs give the same windows.
fn run_pipeline(config: &Config, registry: &CityRegistry) -> Closed {
    let registries = std::slice::from_ref(registry);
    let options = PipelineOptions {
        update_live: false,
        ..PipelineOptions::default()
    };
    let mut pipeline = Pipeline::new(config, registries, Arc::new(LiveState::new(0)), options);
    let topics = [
        Arc::<str>::from(format!("sensors.{CITY}.traffic")),
        Arc::<str>::from(format!("sensors.{CITY}.parking")),
    ];
    for (source, topic) in topics.iter().enumerate() {
        pipeline.add_source(source as u32, topic, START);
    }
    let mut feed = SimulatedFeed::new(registries, 7, START, 60);
    let mut offsets = [0i64; 2];
    let mut closed = Closed::default();
    for minute in 1..=MINUTES {
        let now = START + minute * 60_000;
        let batch: Vec<RawMessage> = feed
            .advance_to(now)
            .into_iter()
            .map(|m| {
                let source = usize::from(m.topic.ends_with(".parking"));
                offsets[source] += 1;
                RawMessage {
                    source: source as u32,
                    topic: topics[source].clone(),
                    partition: 0,
                    offset: offsets[source],
                    key: Some(m.key.into_bytes().into()),
                    payload: m.payload.into(),
                    format: None,
                }
            })
            .collect();
        let out = pipeline.process(&batch, now + 1_000).expect("process");
        assert!(out.dead_letters.is_empty(), "{:?}", out.dead_letters);
        closed.take(out);
    }
    closed.take(pipeline.finish().expect("finish"));
    closed
}

/// The two tasks of a one-city, one-partition deployment: traffic windows (per sensor and
/// per lane) are owned by the traffic partition, parking windows by the parking one.
fn tasks() -> (Task, Task) {
    let task = |kind: &str| Task {
        topic: Arc::from(format!("sensors.{CITY}.{kind}")),
        partition: 0,
    };
    (task("traffic"), task("parking"))
}

fn stage(sink: &mut OutputTopics, closed: &Closed) {
    let (traffic, parking) = tasks();
    for windows in &closed.traffic {
        sink.stage(&traffic, Stream::Traffic, windows)
            .expect("stage");
    }
    for windows in &closed.lanes {
        sink.stage(&traffic, Stream::TrafficLanes, windows)
            .expect("stage");
    }
    for windows in &closed.parking {
        sink.stage(&parking, Stream::Parking, windows)
            .expect("stage");
    }
}

/// One record as expected from a closed-window row: its key and its JSON value, computed
/// from the Arrow values directly (not by the encoder under test).
fn expected(stream: Stream, windows: &[ClosedWindows]) -> Vec<(String, Value)> {
    let mut records = Vec::new();
    for closed in windows {
        let label = closed.label();
        let batch = &closed.batch;
        // A step's closed windows may hold several windows: each row has its start.
        let starts = batch
            .column_by_name("window_start")
            .expect("window_start")
            .as_primitive::<TimestampMillisecondType>();
        for row in 0..batch.num_rows() {
            let start = DateTime::from_timestamp_millis(starts.value(row))
                .expect("window start")
                .to_rfc3339_opts(SecondsFormat::Secs, true);
            let mut value = serde_json::Map::new();
            for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                if stream == Stream::Traffic && field.name() == "lane" {
                    continue;
                }
                value.insert(field.name().clone(), json_of(column.as_ref(), row));
            }
            value.insert("window".into(), json!(label));
            value.insert("revision".into(), json!(closed.revision));
            let entity = match stream {
                Stream::Parking => &value["facility_id"],
                Stream::Traffic | Stream::TrafficLanes => &value["sensor_id"],
            };
            let entity = entity.as_str().expect("entity id").to_owned();
            assert!(!entity.contains(['/', '%']), "demo ids need no escaping");
            let mut key = format!("{CITY}/{entity}/{start}/{label}");
            if stream == Stream::TrafficLanes {
                key.push_str(&format!("/{}", value["lane"]));
            }
            records.push((key, Value::Object(value)));
        }
    }
    records
}

fn json_of(column: &dyn Array, row: usize) -> Value {
    if column.is_null(row) {
        return Value::Null;
    }
    match column.data_type() {
        DataType::Utf8 => json!(column.as_string::<i32>().value(row)),
        DataType::UInt8 => json!(column.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt32 => json!(column.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => json!(column.as_primitive::<UInt64Type>().value(row)),
        DataType::Float64 => json!(column.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => json!(column.as_boolean().value(row)),
        DataType::Timestamp(_, _) => json!(to_rfc3339(
            column.as_primitive::<TimestampMillisecondType>().value(row)
        )),
        other => panic!("unexpected column type {other}"),
    }
}

/// One record as read: topic, key and the value's text.
type Record = (String, String, String);

async fn consume(topics: &[String], count: usize, group: &str) -> Vec<Record> {
    consume_from(&common::brokers(), topics, count, group).await
}

/// (topic, key, value) of every record of `topics` on `brokers`, see [`consume_count`].
async fn consume_from(brokers: &str, topics: &[String], count: usize, group: &str) -> Vec<Record> {
    consume_count(brokers, topics, count, group)
        .await
        .into_iter()
        .map(|r| {
            let key = r.key_text();
            let value = String::from_utf8(r.payload).expect("utf-8 value");
            (r.topic, key, value)
        })
        .collect()
}

fn revision(value: &str) -> u64 {
    let parsed: Value = serde_json::from_str(value).expect("JSON value");
    parsed["revision"].as_u64().expect("revision")
}

/// Latest value per (topic, key), as a compacted topic or an upserting consumer keeps it.
fn latest(records: &[Record]) -> BTreeMap<(String, String), String> {
    let mut map: BTreeMap<(String, String), String> = BTreeMap::new();
    for (topic, key, value) in records {
        let newer = map
            .get(&(topic.clone(), key.clone()))
            .is_none_or(|old| revision(old) <= revision(value));
        if newer {
            map.insert((topic.clone(), key.clone()), value.clone());
        }
    }
    map
}

/// A value field by field, each as JSON text: compares numbers by the text written, not
/// by a (lossy) re-parse.
fn fields(value: &str) -> BTreeMap<String, String> {
    let raw: BTreeMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(value).unwrap_or_else(|e| panic!("{e}: {value}"));
    raw.into_iter()
        .map(|(name, text)| (name, text.get().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_windows_reach_the_output_topics_once_per_key() {
    let _broker = ensure_broker();
    let run = run_id();
    let config = Config::demo(&HashMap::new()).unwrap_or_else(|e| panic!("demo config: {e}"));
    let registry = city_registry(&config);
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    let output = OutputConfig {
        enabled: true,
        traffic_topic: format!("out-{run}.traffic"),
        traffic_lanes_topic: format!("out-{run}.traffic_lanes"),
        parking_topic: format!("out-{run}.parking"),
        ..OutputConfig::default()
    };
    let topics = vec![
        output.traffic_topic.clone(),
        output.traffic_lanes_topic.clone(),
        output.parking_topic.clone(),
    ];
    ensure_output_topics(&kafka, &output, &config.cities)
        .await
        .expect("create the output topics");
    ensure_output_topics(&kafka, &output, &config.cities)
        .await
        .expect("existing topics are fine");
    for topic in &topics {
        assert_eq!(
            cleanup_policy(topic).await.as_deref(),
            Some("compact"),
            "{topic} is compacted"
        );
    }

    let closed = run_pipeline(&config, &registry);
    let mut want: Vec<(String, String, Value)> = Vec::new();
    for (stream, windows, topic) in [
        (Stream::Traffic, &closed.traffic, &output.traffic_topic),
        (
            Stream::TrafficLanes,
            &closed.lanes,
            &output.traffic_lanes_topic,
        ),
        (Stream::Parking, &closed.parking, &output.parking_topic),
    ] {
        let records = expected(stream, windows);
        assert!(
            records.len() > 50,
            "{stream:?}: only {} rows",
            records.len()
        );
        want.extend(records.into_iter().map(|(k, v)| (topic.to_owned(), k, v)));
    }
    assert_eq!(want.len(), closed.rows());

    // First run: stage everything, commit both tasks.
    let mut sink = OutputTopics::new(&kafka, &output, &config.cities).expect("producer");
    assert_eq!(
        sink.topic(Stream::TrafficLanes, CITY),
        Some(topics[1].as_str())
    );
    stage(&mut sink, &closed);
    assert_eq!(sink.staged_rows(), want.len());
    let (traffic, parking) = tasks();
    sink.commit(&traffic, 1).await.expect("commit traffic");
    assert_eq!(sink.staged_rows(), sink.staged_rows_of(&parking));
    sink.commit(&parking, 1).await.expect("commit parking");
    assert_eq!(sink.staged_rows(), 0);
    sink.commit(&parking, 2)
        .await
        .expect("nothing staged is a no-op");

    let first = consume(&topics, want.len(), &format!("first-{run}")).await;
    type Comparable = (String, String, BTreeMap<String, String>);
    let mut got: Vec<Comparable> = first
        .iter()
        .map(|(topic, key, value)| (topic.clone(), key.clone(), fields(value)))
        .collect();
    let mut expected_records: Vec<Comparable> = want
        .iter()
        .map(|(topic, key, value)| {
            let texts = value
                .as_object()
                .expect("object")
                .iter()
                .map(|(name, v)| (name.clone(), v.to_string()))
                .collect();
            (topic.clone(), key.clone(), texts)
        })
        .collect();
    got.sort();
    expected_records.sort();
    assert_eq!(got.len(), expected_records.len(), "every window once");
    for (record, expected) in got.iter().zip(&expected_records) {
        assert_eq!(record, expected);
    }

    // A crash before the checkpoint: the new owner recovers the traffic task (dropping what
    // was staged for it) and replays the same input through a fresh pipeline.
    // A local queue far smaller than a commit: enqueuing waits for deliveries to drain it.
    let mut small_queue = kafka.clone();
    small_queue
        .librdkafka
        .insert("queue.buffering.max.messages".into(), "64".into());
    let mut sink = OutputTopics::new(&small_queue, &output, &config.cities).expect("producer");
    stage(&mut sink, &closed);
    sink.recover(&traffic, 0).expect("recover");
    assert_eq!(
        sink.staged_rows_of(&traffic),
        0,
        "recover drops the staged rows"
    );
    sink.recover(&parking, 0).expect("recover");
    assert_eq!(sink.staged_rows(), 0);
    let replayed = run_pipeline(&config, &registry);
    stage(&mut sink, &replayed);
    sink.commit(&traffic, 1)
        .await
        .expect("commit traffic again");
    sink.commit(&parking, 1)
        .await
        .expect("commit parking again");

    let both = consume(&topics, 2 * want.len(), &format!("second-{run}")).await;
    assert_eq!(
        both.len(),
        2 * want.len(),
        "the replay produced each window again"
    );
    let mut counts: BTreeMap<(&str, &str, String), usize> = BTreeMap::new();
    for (topic, key, value) in &both {
        *counts.entry((topic, key, value.to_string())).or_default() += 1;
    }
    assert!(
        counts.values().all(|&n| n == 2),
        "each key/value pair exactly twice: identical records"
    );
    assert_eq!(
        latest(&both),
        latest(&first),
        "a compacted topic sees each window once"
    );
    let keys: std::collections::BTreeSet<_> = want.iter().map(|(t, k, _)| (t, k)).collect();
    assert_eq!(latest(&first).len(), keys.len());
}

/// The `cleanup.policy` the broker reports for `topic`.
async fn cleanup_policy(topic: &str) -> Option<String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .create()
        .expect("admin client");
    let results = admin
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .expect("describe configs");
    results
        .into_iter()
        .filter_map(Result::ok)
        .flat_map(|resource| resource.entries)
        .find(|entry| entry.name == "cleanup.policy")
        .and_then(|entry| entry.value)
}

/// A broker of this test's own on `port` (memory storage), killed on drop.
struct OwnBroker(std::process::Child);

impl OwnBroker {
    fn start(port: u16) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = std::process::Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu ({e}); run scripts/test.sh"));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "tansu did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self(child)
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_without_a_broker_fails_keeps_its_rows_and_succeeds_later() {
    let port = common::free_port();
    let mut kafka = KafkaConfig {
        brokers: format!("127.0.0.1:{port}"),
        ..KafkaConfig::default()
    };
    // Fail fast instead of the 30 s default, so the test does not wait long.
    kafka
        .librdkafka
        .insert("message.timeout.ms".into(), "1500".into());
    let run = run_id();
    let output = OutputConfig {
        enabled: true,
        traffic_topic: format!("down-{run}.traffic"),
        traffic_lanes_topic: format!("down-{run}.traffic_lanes"),
        parking_topic: format!("down-{run}.parking"),
        ..OutputConfig::default()
    };
    let config = Config::demo(&HashMap::new()).unwrap_or_else(|e| panic!("demo config: {e}"));
    let registry = city_registry(&config);
    let closed = run_pipeline(&config, &registry);
    let (_, parking) = tasks();
    let mut sink = OutputTopics::new(&kafka, &output, &config.cities).expect("producer");
    for windows in &closed.parking {
        sink.stage(&parking, Stream::Parking, windows)
            .expect("stage");
    }
    let staged = sink.staged_rows();
    assert!(staged > 50, "{staged}");
    let failures = || {
        stadtpuls_ingest::metrics::OUTPUT_FAILURES
            .with_label_values(&[output.parking_topic.as_str()])
            .get()
    };

    let error = sink
        .commit(&parking, 1)
        .await
        .expect_err("no broker: the commit fails");
    assert!(
        error
            .to_string()
            .contains(&format!("{staged} of {staged} records")),
        "{error}"
    );
    assert_eq!(sink.staged_rows(), staged, "nothing staged is lost");
    assert_eq!(failures(), staged as u64);

    // The broker comes (back): the runner's retry of the same commit goes through.
    let _broker = OwnBroker::start(port);
    ensure_output_topics(&kafka, &output, &config.cities)
        .await
        .expect("create the output topics");
    let mut attempts = 0;
    while let Err(error) = sink.commit(&parking, 1).await {
        attempts += 1;
        assert!(attempts < 20, "commit still failing: {error}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(sink.staged_rows(), 0);
    let records = consume_from(
        &kafka.brokers,
        std::slice::from_ref(&output.parking_topic),
        staged,
        &run,
    )
    .await;
    let keys: std::collections::BTreeSet<&str> = records.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(keys.len(), staged, "every staged window arrived");
}
