//! `stadtpuls run` with every output topic split per sharing audience, against a real
//! Kafka-protocol broker (Tansu): two cities, `alpha` open and `beta` private, a parking
//! count each. The binary creates the topics of both audiences at start and writes each
//! city's parking windows, DATEX II status publication and NGSI-LD upserts only to its
//! audience's topics: `beta` never appears in an `open` topic.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::{ensure_broker, free_port, run_id, run_ready};

fn write_config(dir: &std::path::Path, run: &str, port: u16) -> std::path::PathBuf {
    for city in ["alpha", "beta"] {
        let csv = format!(
            "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
             {city}-p-1,parking_facility,Parkhaus,48.398,9.991,,100,,\n"
        );
        std::fs::write(dir.join(format!("{city}.csv")), csv).expect("write registry");
    }
    let toml = format!(
        r#"{kafka}[windows]
sizes = ["1m"]
idle_timeout = "1h"
[api]
bind = "127.0.0.1:{port}"
[history]
dir = "{hist}"
[output]
traffic_topic = "m-{run}.{{audience}}.traffic"
traffic_lanes_topic = "m-{run}.{{audience}}.traffic_lanes"
parking_topic = "m-{run}.{{audience}}.parking"
datex2_topic = "datex-{run}.{{audience}}"
ngsi_ld_topic = "ngsi-{run}.{{audience}}"
publish_every = "1s"
[checkpoint]
dir = "{state}"
interval = "1s"
[[cities]]
id = "alpha-{run}"
name = "Alpha"
timezone = "Europe/Berlin"
lat = 48.3984
lon = 9.9916
registry = "alpha.csv"
share = "open"
[[cities]]
id = "beta-{run}"
name = "Beta"
timezone = "Europe/Berlin"
lat = 48.3984
lon = 9.9916
registry = "beta.csv"
"#,
        kafka = common::kafka_section(
            &common::brokers(),
            &format!("stadtpuls-{run}"),
            &format!(r"^sensors\.(alpha|beta)-{run}\.(traffic|parking)$"),
            &format!("deadletter-{run}"),
            "",
        ),
        hist = dir.join("history").display(),
        state = dir.join("state").display(),
    );
    let path = dir.join("stadtpuls.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

/// Reads `topics` from the beginning until every topic has a record and nothing more has
/// arrived for 3 s: (topic → the cities its records name).
async fn cities_by_topic(topics: &[String], group: &str) -> BTreeMap<String, BTreeSet<String>> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .create()
        .expect("consumer");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).expect("subscribe");
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let wait = if seen.len() < topics.len() {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(3)
        };
        let Ok(message) = tokio::time::timeout(wait, consumer.recv()).await else {
            return seen;
        };
        assert!(
            std::time::Instant::now() < deadline || seen.len() == topics.len(),
            "only {:?} of {topics:?} within 60 s",
            seen.keys()
        );
        let message = message.expect("receive");
        let key = String::from_utf8_lossy(message.key().expect("key")).into_owned();
        // Window keys start with `<city>/`, DATEX II keys are the city, NGSI-LD keys the
        // entity urn `urn:ngsi-ld:<type>:<city>:<id>`.
        let city = match key.strip_prefix("urn:ngsi-ld:") {
            Some(urn) => urn.split(':').nth(1).unwrap_or_default().to_owned(),
            None => key.split('/').next().unwrap_or_default().to_owned(),
        };
        seen.entry(message.topic().to_owned())
            .or_default()
            .insert(city);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_each_city_only_to_its_audience_topics() {
    let _broker = ensure_broker();
    let run = run_id();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, port);
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    let (alpha, beta) = (format!("alpha-{run}"), format!("beta-{run}"));
    let inputs: Vec<String> = [&alpha, &beta]
        .iter()
        .map(|c| format!("sensors.{c}.parking"))
        .collect();
    ensure_topics(&kafka, &inputs, 1)
        .await
        .expect("input topics");

    let (_app, _client) = run_ready(&config, port, &dir.path().join("stadtpuls.log")).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .create()
        .expect("producer");
    // Two hours ago, on an hour boundary: a count in the first minute, and one two minutes
    // on, whose watermark closes the first window.
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = (now - 2 * 3_600_000) / 3_600_000 * 3_600_000;
    for ((name, city), topic) in [("alpha", &alpha), ("beta", &beta)].iter().zip(&inputs) {
        for (ts, free) in [(t0 + 10_000, 40), (t0 + 130_000, 35)] {
            let payload = json!({"city": city, "kind": "facility", "id": format!("{name}-p-1"),
                "ts": ts, "free_spaces": free, "total_spaces": 100})
            .to_string();
            producer
                .send(
                    FutureRecord::to(topic).key("k").payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
        }
    }

    let topics: Vec<String> = ["open", beta.as_str()]
        .iter()
        .flat_map(|audience| {
            [
                format!("m-{run}.{audience}.parking"),
                format!("datex-{run}.{audience}"),
                format!("ngsi-{run}.{audience}"),
            ]
        })
        .collect();
    let seen = cities_by_topic(&topics, &format!("check-{run}")).await;
    let want: BTreeMap<String, BTreeSet<String>> = topics
        .iter()
        .map(|topic| {
            let city = if topic.contains(".open") {
                &alpha
            } else {
                &beta
            };
            (topic.clone(), BTreeSet::from([city.clone()]))
        })
        .collect();
    assert_eq!(seen, want, "each city in its audience's topics only");
}
