//! Output topics split per sharing audience, against a real Kafka-protocol broker (Tansu):
//! a real `Pipeline` over simulated minutes of three demo cities — `ulm` open, `karlsruhe`
//! private, `mannheim` sharing traffic with partners and parking openly — its closed
//! windows staged and committed per task through `OutputTopics` with
//! `{audience}` templates, then every topic read back. Each city's windows are in its
//! audience's topic and nowhere else: nothing of a private city reaches the open topic.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;
use stadtpuls_config::{
    CityConfig, CityRegistry, Config, KafkaConfig, OutputConfig, Share, SharePolicy,
};
use stadtpuls_ingest::kafka::{OutputTopics, ensure_output_topics};
use stadtpuls_ingest::pipeline::{Pipeline, PipelineOptions, RawMessage};
use stadtpuls_ingest::simulate::SimulatedFeed;
use stadtpuls_ingest::sink::{Stream, Task, WindowSink};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::ClosedWindows;

use common::topics::consume_count;
use common::{ensure_broker, run_id};

/// 2026-11-24T07:00:00Z.
const START: i64 = 1_795_503_600_000;
const MINUTES: i64 = 20;
const CITIES: [&str; 3] = ["ulm", "karlsruhe", "mannheim"];

/// The demo config reduced to three cities with their shares set here (the demo's own
/// shares may change).
fn config() -> Config {
    let mut config = Config::demo(&HashMap::new()).unwrap_or_else(|e| panic!("demo config: {e}"));
    config.cities.retain(|c| CITIES.contains(&c.id.as_str()));
    assert_eq!(config.cities.len(), 3, "the three cities are demo cities");
    for city in &mut config.cities {
        city.share = match city.id.as_str() {
            "ulm" => SharePolicy::uniform(Share::Open),
            "karlsruhe" => SharePolicy::uniform(Share::Private),
            _ => SharePolicy {
                traffic: Share::Partners,
                parking: Share::Open,
                partners: vec!["ulm".to_owned()],
            },
        };
    }
    config
}

fn registries(config: &Config) -> Vec<CityRegistry> {
    config
        .load_registries()
        .unwrap_or_else(|e| panic!("demo registries: {e}"))
}

/// Closed windows of one run with the task that owns them.
type Staged = Vec<(Task, Stream, ClosedWindows)>;

/// Runs a pipeline over the simulated feed of the cities, one batch per minute, then
/// closes every open window.
fn run_pipeline(config: &Config, registries: &[CityRegistry]) -> Staged {
    let options = PipelineOptions {
        update_live: false,
        ..PipelineOptions::default()
    };
    let mut pipeline = Pipeline::new(config, registries, Arc::new(LiveState::new(0)), options);
    let topics: Vec<Arc<str>> = config
        .cities
        .iter()
        .flat_map(|c| {
            ["traffic", "parking"].map(|kind| Arc::<str>::from(format!("sensors.{}.{kind}", c.id)))
        })
        .collect();
    for (source, topic) in topics.iter().enumerate() {
        pipeline.add_source(source as u32, topic, START);
    }
    let mut feed = SimulatedFeed::new(registries, 11, START, 60);
    let mut offsets = vec![0i64; topics.len()];
    let mut staged = Staged::new();
    let mut take = |out: stadtpuls_ingest::pipeline::StepOutput| {
        for (stream, windows) in [
            (Stream::Traffic, out.traffic),
            (Stream::TrafficLanes, out.traffic_lanes),
            (Stream::Parking, out.parking),
        ] {
            for closed in windows {
                let task = Task {
                    topic: topics[closed.owner as usize].clone(),
                    partition: 0,
                };
                staged.push((task, stream, closed));
            }
        }
    };
    for minute in 1..=MINUTES {
        let now = START + minute * 60_000;
        let batch: Vec<RawMessage> = feed
            .advance_to(now)
            .into_iter()
            .map(|m| {
                let source = topics
                    .iter()
                    .position(|t| **t == *m.topic)
                    .unwrap_or_else(|| panic!("unexpected topic {}", m.topic));
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
        take(out);
    }
    take(pipeline.finish().expect("finish"));
    staged
}

/// (topic, key, JSON value) of every record of `topics`, see [`consume_count`].
async fn consume(topics: &[String], count: usize, group: &str) -> Vec<(String, String, Value)> {
    consume_count(&common::brokers(), topics, count, group)
        .await
        .into_iter()
        .map(|r| {
            let key = r.key_text();
            let value = serde_json::from_slice(&r.payload).expect("JSON value");
            (r.topic, key, value)
        })
        .collect()
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Traffic => "traffic",
        Stream::TrafficLanes => "traffic_lanes",
        Stream::Parking => "parking",
    }
}

/// The topic the test expects a city's stream in: decided here from the shares set in
/// [`config`], not by the code under test.
fn expected_topic(run: &str, city: &str, stream: Stream) -> String {
    let audience = match (city, stream) {
        ("ulm", _) | ("mannheim", Stream::Parking) => "open",
        (other, _) => other,
    };
    format!("aud-{run}.{audience}.{}", stream_name(stream))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_citys_windows_reach_only_its_audience_topic() {
    let _broker = ensure_broker();
    let run = run_id();
    let mut config = config();
    config.output = OutputConfig {
        enabled: true,
        traffic_topic: format!("aud-{run}.{{audience}}.traffic"),
        traffic_lanes_topic: format!("aud-{run}.{{audience}}.traffic_lanes"),
        parking_topic: format!("aud-{run}.{{audience}}.parking"),
        ..OutputConfig::default()
    };
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    let topics = config.output.window_topics(&config.cities);
    let mut want_topics = BTreeSet::new();
    for city in CITIES {
        for stream in [Stream::Traffic, Stream::TrafficLanes, Stream::Parking] {
            want_topics.insert(expected_topic(&run, city, stream));
        }
    }
    assert_eq!(
        topics.iter().cloned().collect::<BTreeSet<_>>(),
        want_topics,
        "one topic per audience and stream"
    );
    ensure_output_topics(&kafka, &config.output, &config.cities)
        .await
        .expect("create the output topics");

    let registries = registries(&config);
    let staged = run_pipeline(&config, &registries);
    // Expected keys by topic, from the rows' own city column.
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut rows = 0;
    for (_, stream, closed) in &staged {
        let cities = closed
            .batch
            .column_by_name("city")
            .and_then(|c| c.as_any().downcast_ref::<arrow_array::StringArray>())
            .expect("city column");
        for row in 0..closed.batch.num_rows() {
            want.entry(expected_topic(&run, cities.value(row), *stream))
                .or_default()
                .insert(cities.value(row).to_owned());
            rows += 1;
        }
    }
    assert_eq!(
        want.len(),
        want_topics.len(),
        "every audience topic gets windows: {:?}",
        want.keys()
    );

    let mut sink = OutputTopics::new(&kafka, &config.output, &config.cities).expect("producer");
    assert_eq!(
        sink.topic(Stream::Parking, "karlsruhe"),
        Some(format!("aud-{run}.karlsruhe.parking").as_str())
    );
    assert_eq!(sink.topic(Stream::Parking, "atlantis"), None);
    let mut tasks = BTreeSet::new();
    for (task, stream, closed) in &staged {
        sink.stage(task, *stream, closed).expect("stage");
        tasks.insert(task.clone());
    }
    assert_eq!(sink.staged_rows(), rows);
    for task in &tasks {
        sink.commit(task, 1).await.expect("commit");
    }
    assert_eq!(sink.staged_rows(), 0);

    let records = consume(&topics, rows, &format!("aud-{run}")).await;
    assert_eq!(records.len(), rows, "every window once");
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (topic, key, value) in &records {
        let city = value["city"].as_str().expect("city field");
        assert!(
            key.starts_with(&format!("{city}/")),
            "{key} is keyed by its city"
        );
        seen.entry(topic.clone())
            .or_default()
            .insert(city.to_owned());
    }
    assert_eq!(
        seen, want,
        "each city's windows in its audience's topic only"
    );
    for stream in [Stream::Traffic, Stream::TrafficLanes, Stream::Parking] {
        let open = &seen[&format!("aud-{run}.open.{}", stream_name(stream))];
        assert!(
            !open.contains("karlsruhe"),
            "nothing of the private city in the open topic"
        );
    }
    let open_traffic = &seen[&format!("aud-{run}.open.traffic")];
    assert!(
        !open_traffic.contains("mannheim"),
        "mannheim's partners-only traffic is not open"
    );

    // A window of a city the sink has no topic for is refused when staged, not committed.
    let only_ulm: Vec<CityConfig> = config
        .cities
        .iter()
        .filter(|c| c.id == "ulm")
        .cloned()
        .collect();
    let mut narrow = OutputTopics::new(&kafka, &config.output, &only_ulm).expect("producer");
    let (task, stream, closed) = staged
        .iter()
        .find(|(task, _, _)| task.topic.contains("karlsruhe"))
        .expect("a karlsruhe window");
    let error = narrow
        .stage(task, *stream, closed)
        .expect_err("karlsruhe has no topic here");
    assert!(
        error
            .to_string()
            .contains("`karlsruhe` has no output topic"),
        "{error}"
    );
    assert_eq!(narrow.staged_rows(), 0);
}
