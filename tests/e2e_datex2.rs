//! DATEX II through a real broker and the `stadtpuls run` binary: MDM Aachen's realtime
//! `ParkingStatusPublication` (`ingest/tests/fixtures/feeds/datex2/`), produced unchanged
//! as one record to a topic configured `format = "datex2"` in `[[cities.feeds]]`, with a
//! registry mapping its records by `external_id`; the vacant spaces a person reads per
//! record in the file come out of the live API, and `/metrics` counts the format.

mod common;

use std::time::Duration;

use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::datex2::{AACHEN_STATUS, fixture, produce_document, wait_for_levels};
use common::{ensure_broker, eventually, free_port, get, run_id, run_ready};

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
    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;

    let document = std::fs::read(fixture("parkapi-sources_aachen-realtime.xml")).expect("fixture");
    produce_document(&topic, &document).await;

    // The registry ids are `aachen-p<n>` for record `P<n>`.
    let ids: Vec<String> = AACHEN_STATUS
        .iter()
        .map(|(record, ..)| format!("aachen-{}", record.to_lowercase()))
        .collect();
    let levels = wait_for_levels(&client, &app.base, &city, &ids).await;
    for ((record, free, total), level) in AACHEN_STATUS.iter().zip(levels) {
        assert_eq!(level, ((*free).into(), (*total).into()), "Aachen {record}");
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
