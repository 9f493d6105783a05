//! TTN LoRaWAN uplinks through a real broker and the `stadtpuls run` binary: the Nwave and
//! Bosch fixtures of The Things Stack (`ingest/tests/fixtures/feeds/ttn/`) produced to two
//! topics configured `format = "ttn"` with the vendors' codecs, their `dev_eui`s mapped by
//! the registry's `external_id` to the spots of two on-street zones; the spot states a
//! person reads in the fixtures (and in ThingsBoard's decoded results) come out of the live
//! API as each zone's free count, a second copy of an uplink is counted once as
//! `duplicate`, and an Nwave heartbeat as `no_observation`.
//!
//! The fixtures all share one `dev_eui`, `f_cnt` and session (ThingsBoard copied one
//! uplink and changed its payload), so each gets its own `dev_eui` (or `f_cnt`) here; the
//! Nwave status uplink goes unchanged.

mod common;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::feeds::FeedCity;
use common::{ensure_broker, eventually, free_port, get, run_id, run_ready};

const FIXTURE_EUI: &str = "1000000000000001";

fn fixture(name: &str) -> String {
    String::from_utf8(common::feeds::fixture(&format!(
        "ttn/thingsboard_{name}.json"
    )))
    .expect("UTF-8 fixture")
}

/// A fixture as the uplink of device `eui`.
fn as_device(name: &str, eui: &str) -> String {
    fixture(name).replace(FIXTURE_EUI, eui)
}

/// Zone `schlachte`: the Nwave spots; zone `domshof`: the Bosch spots.
const REGISTRY: &str = "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
    schlachte,parking_facility,Schlachte,50.77,6.08,,,,\n\
    domshof,parking_facility,Domshof,50.77,6.08,,,,\n\
    s-1,parking_spot,Schlachte 1,50.77,6.08,,,schlachte,1000000000000001\n\
    s-2,parking_spot,Schlachte 2,50.77,6.08,,,schlachte,1000000000000005\n\
    d-1,parking_spot,Domshof 1,50.77,6.08,,,domshof,1000000000000002\n\
    d-2,parking_spot,Domshof 2,50.77,6.08,,,domshof,1000000000000003\n\
    d-3,parking_spot,Domshof 3,50.77,6.08,,,domshof,1000000000000004\n";

/// The city's two TTN feeds, one per vendor codec.
fn feeds(run: &str) -> String {
    format!(
        r#"[[cities.feeds]]
topic = "ttn-nwave-{run}"
format = "ttn"
codec = "nwave-nps"
[[cities.feeds]]
topic = "ttn-bosch-{run}"
format = "ttn"
codec = "bosch-pls"
"#
    )
}

async fn send(producer: &FutureProducer, topic: &str, payload: &str) {
    // Keyed by device, as a webhook bridge would: every copy of an uplink on one partition.
    let record: FutureRecord<'_, str, str> = FutureRecord::to(topic).payload(payload).key("eui");
    producer
        .send(record, Duration::from_secs(10))
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nwave_and_bosch_uplinks_reach_the_spots_and_a_copy_counts_once() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("bremen-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let tail = feeds(&run);
    let config = FeedCity {
        brokers: common::brokers(),
        run: &run,
        city: &city,
        port,
        registry_csv: REGISTRY,
        tail: &tail,
    }
    .write(dir.path());
    let nwave = format!("ttn-nwave-{run}");
    let bosch = format!("ttn-bosch-{run}");
    let topics = [nwave.clone(), bosch.clone(), format!("deadletter-{run}")];
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &topics, 1)
        .await
        .expect("create topics");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .create()
        .expect("producer");
    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;

    // Nwave, in time order: TTI status `lQ==` (2023-05-18) → s-2 occupied; the Community
    // status `lQ==` (2023-05-19, unchanged) → s-1 occupied, then the same uplink again
    // (duplicate); the heartbeat `ANPYAFkL` (next frame) → no_observation.
    let status = fixture("nwave-g4-nps-sm_tts-community_payload");
    let heartbeat = fixture("nwave-g4-nps-sm_tts-community_payload_1")
        .replace("\"f_cnt\": 10335", "\"f_cnt\": 10336");
    for uplink in [
        as_device("nwave-g4-nps-sm_tts-industries_payload", "1000000000000005"),
        status.clone(),
        status,
        heartbeat,
    ] {
        send(&producer, &nwave, &uplink).await;
    }
    // Bosch: status `AQ==` → d-1 occupied; startup (byte 16 = 0) → d-2 free; heartbeat
    // `ARI=` → d-3 occupied.
    for (name, eui) in [
        ("bosch-pls_tts-community_payload_1", "1000000000000002"),
        ("bosch-pls_tts-community_payload_2", "1000000000000003"),
        ("bosch-pls_tts-community_payload", "1000000000000004"),
    ] {
        send(&producer, &bosch, &as_device(name, eui)).await;
    }

    let parking_url = format!("{}/v1/cities/{city}/parking", app.base);
    let parking = eventually(Duration::from_secs(60), "spot levels", || async {
        let (status, body) = get(&client, &parking_url).await;
        let body: Value = (status == 200).then(|| serde_json::from_str(&body).ok())??;
        let facilities = body["facilities"].as_array()?;
        let total = |id: &str| {
            facilities
                .iter()
                .find(|f| f["facility_id"] == id)
                .map(|f| f["total"].clone())
        };
        (total("schlachte")? == 2 && total("domshof")? == 3).then_some(body)
    })
    .await;
    let level = |id: &str| -> (Value, Value) {
        let facility = parking["facilities"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["facility_id"] == id).cloned())
            .unwrap_or_else(|| panic!("{id} in {parking}"));
        (facility["free"].clone(), facility["total"].clone())
    };
    assert_eq!(
        level("schlachte"),
        (0.into(), 2.into()),
        "both Nwave spots occupied"
    );
    assert_eq!(
        level("domshof"),
        (1.into(), 3.into()),
        "Bosch: status and heartbeat occupied, startup free"
    );

    let metrics = eventually(Duration::from_secs(20), "ttn metrics", || async {
        let (_, body) = get(&client, &format!("{}/metrics", app.base)).await;
        body.contains(&format!(
            r#"stadtpuls_feed_messages_received_total{{city="{city}",format="ttn"}} 7"#
        ))
        .then_some(body)
    })
    .await;
    for line in [
        format!(r#"stadtpuls_feed_observations_accepted_total{{city="{city}",format="ttn"}} 5"#),
        format!(
            r#"stadtpuls_feed_observations_rejected_total{{city="{city}",format="ttn",reason="duplicate"}} 1"#
        ),
        format!(
            r#"stadtpuls_feed_observations_rejected_total{{city="{city}",format="ttn",reason="no_observation"}} 1"#
        ),
    ] {
        assert!(metrics.contains(&line), "missing {line}");
    }
    assert!(app.terminate().success());
}
