//! DATEX II through a real broker and the `stadtpuls run` binary: MDM Aachen's realtime
//! `ParkingStatusPublication` (`ingest/tests/fixtures/feeds/datex2/`), produced unchanged
//! as one record to a topic configured `format = "datex2"` in `[[cities.feeds]]`, with a
//! registry mapping its records by `external_id`; the vacant spaces a person reads per
//! record in the file come out of the live API, and `/metrics` counts the format.

mod common;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::feeds::{fixture, json_get};
use common::{ensure_broker, eventually, free_port, get, run_id, run_ready};

/// (registry id, Aachen record, vacant, capacity override) of the records of the last
/// 21 minutes of the document (18:49–19:10 UTC): within `out_of_orderness` of each other.
/// P18 is `closed`: 0 free, whatever it counted (518).
const EXPECTED: [(&str, &str, u64, u64); 13] = [
    ("aachen-p1", "P1", 412, 560),
    ("aachen-p2", "P2", 291, 497),
    ("aachen-p3", "P3", 143, 186),
    ("aachen-p6", "P6", 624, 999),
    ("aachen-p7", "P7", 554, 717),
    ("aachen-p8", "P8", 443, 600),
    ("aachen-p9", "P9", 74, 500),
    ("aachen-p10", "P10", 42, 319),
    ("aachen-p11", "P11", 271, 348),
    ("aachen-p12", "P12", 130, 176),
    ("aachen-p15", "P15", 118, 160),
    ("aachen-p17", "P17", 429, 480),
    ("aachen-p18", "P18", 0, 569),
];

fn write_config(dir: &std::path::Path, run: &str, city: &str, port: u16) -> std::path::PathBuf {
    let mut csv = String::from("id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n");
    for n in [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18] {
        csv.push_str(&format!(
            "aachen-p{n},parking_facility,Parkhaus {n},50.77,6.08,,1000,,P{n}\n"
        ));
    }
    std::fs::write(dir.join("aachen.csv"), csv).expect("write registry");
    let toml = format!(
        r#"version = 1
[kafka]
brokers = "{brokers}"
group_id = "stadtpuls-{run}"
topic_pattern = '^sensors\.{city}\.(traffic|parking)$'
deadletter_topic = "deadletter-{run}"
batch_max_wait = "50ms"
[kafka.librdkafka]
"topic.metadata.refresh.interval.ms" = "1000"
[windows]
sizes = ["1m"]
# the document's records span 21 minutes (and some days before: those are late)
out_of_orderness = "30m"
idle_timeout = "3s"
max_clock_jump = "100000h"
[api]
bind = "127.0.0.1:{port}"
[history]
dir = "{hist}"
[output]
enabled = false
[checkpoint]
dir = "{state}"
interval = "1s"
[[cities]]
id = "{city}"
name = "Aachen"
timezone = "Europe/Berlin"
lat = 50.77
lon = 6.08
registry = "aachen.csv"
[[cities.feeds]]
topic = "datex2-{run}"
format = "datex2"
"#,
        brokers = common::brokers(),
        hist = dir.join("history").display(),
        state = dir.join("state").display(),
    );
    let path = dir.join("stadtpuls.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aachen_datex2_status_reaches_the_live_api() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("aachen-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, port);
    let topic = format!("datex2-{run}");
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &[topic.clone(), format!("deadletter-{run}")], 1)
        .await
        .expect("create topics");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .create()
        .expect("producer");

    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;

    let document = fixture("datex2/parkapi-sources_aachen-realtime.xml");
    let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&topic)
        .payload(document.as_slice())
        .key("k");
    producer
        .send(record, Duration::from_secs(10))
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));

    let parking_url = format!("{}/v1/cities/{city}/parking", app.base);
    let parking = eventually(Duration::from_secs(60), "parking levels", || async {
        let body = json_get(&client, &parking_url).await?;
        let facilities = body["facilities"].as_array()?;
        let reported = facilities
            .iter()
            .filter(|f| !f["free"].is_null() && EXPECTED.iter().any(|e| f["facility_id"] == e.0))
            .count();
        (reported == EXPECTED.len()).then_some(body)
    })
    .await;
    for (id, record, free, total) in EXPECTED {
        let facility = parking["facilities"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["facility_id"] == id).cloned())
            .unwrap_or_else(|| panic!("{id} in {parking}"));
        assert_eq!(
            (facility["free"].clone(), facility["total"].clone()),
            (free.into(), total.into()),
            "Aachen {record}: {facility}"
        );
    }

    let metrics = eventually(Duration::from_secs(20), "feed metrics", || async {
        let (_, body) = get(&client, &format!("{}/metrics", app.base)).await;
        body.contains(&format!(
            r#"stadtpuls_feed_messages_received_total{{city="{city}",format="datex2"}} 1"#
        ))
        .then_some(body)
    })
    .await;
    let accepted =
        format!(r#"stadtpuls_feed_observations_accepted_total{{city="{city}",format="datex2"}}"#);
    assert!(metrics.contains(&accepted), "missing {accepted}");
    assert!(app.terminate().success());
}
