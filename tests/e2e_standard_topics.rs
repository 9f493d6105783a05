//! The standard outputs on Kafka (`[output] datex2_topic`, `ngsi_ld_topic`) against a real
//! Kafka-protocol broker (Tansu): a real `Pipeline` fills the live view of two demo cities
//! — `ulm` sharing parking openly, `karlsruhe` private — `StandardTopics` publishes it
//! with `{audience}` templates, and every topic is read back. Each city's DATEX II status
//! publication is schema-valid (xmllint, the official 2.3 schema) and lies in its
//! audience's topic only, as do its NGSI-LD upserts (one per reporting facility, a JSON
//! array of one normalized entity); a second look without changes sends nothing, and a
//! later minute sends only what changed.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use stadtpuls_config::{CityRegistry, Config, KafkaConfig, OutputConfig, Share, SharePolicy};
use stadtpuls_ingest::health::BrokerHealth;
use stadtpuls_ingest::kafka::{StandardTopics, ensure_standard_topics};
use stadtpuls_ingest::pipeline::{Pipeline, PipelineOptions, RawMessage};
use stadtpuls_ingest::simulate::SimulatedFeed;
use stadtpuls_processing::live::LiveState;

use common::topics::consume_count;
use common::{ensure_broker, run_id};

/// 2026-11-24T07:00:00Z.
const START: i64 = 1_795_503_600_000;
const CITIES: [&str; 2] = ["ulm", "karlsruhe"];

fn config(run: &str) -> Config {
    let mut config = Config::demo(&HashMap::new()).unwrap_or_else(|e| panic!("demo config: {e}"));
    config.cities.retain(|c| CITIES.contains(&c.id.as_str()));
    for city in &mut config.cities {
        city.share = match city.id.as_str() {
            "ulm" => SharePolicy::uniform(Share::Open),
            _ => SharePolicy::uniform(Share::Private),
        };
    }
    config.kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    config.output = OutputConfig {
        datex2_topic: Some(format!("std-{run}.{{audience}}.datex2")),
        ngsi_ld_topic: Some(format!("std-{run}.{{audience}}.ngsi-ld")),
        ..OutputConfig::default()
    };
    config
}

/// Feeds the simulated parking of the cities through a pipeline into `live`, minute by
/// minute from `from` to `to` (minutes after [`START`]).
struct Feed {
    pipeline: Pipeline,
    feed: SimulatedFeed,
    topics: Vec<Arc<str>>,
    offsets: Vec<i64>,
}

impl Feed {
    fn new(config: &Config, registries: &[CityRegistry], live: Arc<LiveState>) -> Self {
        let mut pipeline = Pipeline::new(config, registries, live, PipelineOptions::default());
        let topics: Vec<Arc<str>> = config
            .cities
            .iter()
            .flat_map(|c| {
                ["traffic", "parking"]
                    .map(|kind| Arc::<str>::from(format!("sensors.{}.{kind}", c.id)))
            })
            .collect();
        for (source, topic) in topics.iter().enumerate() {
            pipeline.add_source(source as u32, topic, START);
        }
        Self {
            pipeline,
            feed: SimulatedFeed::new(registries, 5, START, 60),
            offsets: vec![0; topics.len()],
            topics,
        }
    }

    fn minutes(&mut self, from: i64, to: i64) {
        for minute in from..=to {
            let now = START + minute * 60_000;
            let batch: Vec<RawMessage> = self
                .feed
                .advance_to(now)
                .into_iter()
                .map(|m| {
                    let source = self
                        .topics
                        .iter()
                        .position(|t| **t == *m.topic)
                        .unwrap_or_else(|| panic!("unexpected topic {}", m.topic));
                    self.offsets[source] += 1;
                    RawMessage {
                        source: source as u32,
                        topic: self.topics[source].clone(),
                        partition: 0,
                        offset: self.offsets[source],
                        key: Some(m.key.into_bytes().into()),
                        payload: m.payload.into(),
                        format: None,
                    }
                })
                .collect();
            let out = self.pipeline.process(&batch, now + 1_000).expect("process");
            assert!(out.dead_letters.is_empty(), "{:?}", out.dead_letters);
        }
    }
}

/// One record as read: topic, key, content type, value.
type Record = (String, String, String, Vec<u8>);

/// (topic, key, content type, value) of every record of `topics`, see [`consume_count`].
async fn consume(topics: &[String], count: usize, group: &str) -> Vec<Record> {
    consume_count(&common::brokers(), topics, count, group)
        .await
        .into_iter()
        .map(|r| {
            let key = r.key_text();
            let content_type = r.headers.get("content-type").cloned().unwrap_or_default();
            (r.topic, key, content_type, r.payload)
        })
        .collect()
}

/// `xmllint --noout --schema` of the official DATEX II 2.3 schema on `doc`.
fn xmllint(doc: &[u8]) -> (bool, String) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "ingest/tests/fixtures/datex2-schema/tmfg-metadata_DATEXIISchema_2_2_3_with_definitions.xsd",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("status.xml");
    std::fs::write(&file, doc).expect("write doc");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(&file)
        .output()
        .expect("xmllint runs (Debian: apt-get install libxml2-utils)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_publications_and_upserts_reach_only_their_audience_topics() {
    let _broker = ensure_broker();
    let run = run_id();
    let config = config(&run);
    let topics = config.output.standard_topics(&config.cities);
    let expected: BTreeSet<String> = ["open", "karlsruhe"]
        .iter()
        .flat_map(|a| {
            [
                format!("std-{run}.{a}.datex2"),
                format!("std-{run}.{a}.ngsi-ld"),
            ]
        })
        .collect();
    assert_eq!(topics.iter().cloned().collect::<BTreeSet<_>>(), expected);
    ensure_standard_topics(&config.kafka, &config.output, &config.cities)
        .await
        .expect("create the topics");

    let registries = config
        .load_registries()
        .unwrap_or_else(|e| panic!("demo registries: {e}"));
    let live = Arc::new(LiveState::new(0));
    let mut feed = Feed::new(&config, &registries, live.clone());
    feed.minutes(1, 10);
    let mut standard = StandardTopics::from_config(
        &config,
        &registries,
        live.clone(),
        START,
        BrokerHealth::default(),
    )
    .expect("producer")
    .expect("topics configured");
    let now = START + 10 * 60_000 + 1_000;
    let reporting: usize = CITIES.iter().map(|c| live.facilities(c).len()).sum();
    assert!(reporting > 4, "facilities reporting: {reporting}");

    let first = standard.publish(now).await;
    assert_eq!(first.failed, 0);
    assert_eq!(first.datex2, 2, "one status publication per city");
    assert_eq!(
        first.ngsi_ld as usize, reporting,
        "one upsert per reporting facility"
    );
    let again = standard.publish(now + 1_000).await;
    assert_eq!(
        (again.datex2, again.ngsi_ld, again.failed),
        (0, 0, 0),
        "nothing changed, nothing sent"
    );

    let records = consume(&topics, 2 + reporting, &format!("std-{run}")).await;
    assert_eq!(records.len(), 2 + reporting);
    let mut cities_by_topic: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (topic, key, content_type, value) in &records {
        let city = if topic.ends_with(".datex2") {
            assert_eq!(content_type, "application/xml; charset=utf-8");
            let (valid, errors) = xmllint(value);
            assert!(valid, "{key}: not valid DATEX II 2.3:\n{errors}");
            let text = String::from_utf8_lossy(value);
            assert!(text.contains("ParkingStatusPublication"), "{text}");
            key.clone()
        } else {
            assert_eq!(content_type, "application/ld+json");
            let body: Value = serde_json::from_slice(value).expect("JSON upsert body");
            let entities = body.as_array().expect("an upsert body is an array");
            assert_eq!(entities.len(), 1);
            let entity = &entities[0];
            assert_eq!(entity["id"].as_str(), Some(key.as_str()));
            assert!(entity["@context"].is_array(), "{entity}");
            assert!(entity["availableSpotNumber"]["value"].is_u64(), "{entity}");
            let id = key.strip_prefix("urn:ngsi-ld:").expect("an NGSI-LD urn");
            id.split(':').nth(1).expect("city in the id").to_owned()
        };
        cities_by_topic
            .entry(topic.clone())
            .or_default()
            .insert(city);
    }
    let want: BTreeMap<String, BTreeSet<String>> = [
        ("open.datex2", "ulm"),
        ("open.ngsi-ld", "ulm"),
        ("karlsruhe.datex2", "karlsruhe"),
        ("karlsruhe.ngsi-ld", "karlsruhe"),
    ]
    .into_iter()
    .map(|(suffix, city)| {
        (
            format!("std-{run}.{suffix}"),
            BTreeSet::from([city.to_owned()]),
        )
    })
    .collect();
    assert_eq!(
        cities_by_topic, want,
        "each city in its audience's topics only"
    );

    // Five minutes on, some levels changed: only they are sent again.
    feed.minutes(11, 15);
    let later = standard.publish(START + 15 * 60_000 + 1_000).await;
    assert_eq!(later.failed, 0);
    assert!(later.ngsi_ld > 0, "levels changed");
    assert!(later.datex2 <= 2);
}
