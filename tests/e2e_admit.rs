//! `admit_unmapped_facilities` through a real broker and the `stadtpuls run` binary: a
//! ParkAPI v3 status of a car park the city's registry does not list (uid `PH Nord 7`),
//! produced to a topic configured `format = "parkapi"`.
//!
//! - With the option on, the car park joins the city at run time under the id derived
//!   from its uid, is listed in the live API (`admitted: true`) with the free spaces and
//!   the capacity the status states, and counted in `stadtpuls_facilities_admitted_total`.
//!   The instance is stopped with a window of the car park still open and started again
//!   with the same group: the restarted instance lists the car park with its level before
//!   any new message (the checkpoint carried the admission), and the open window goes on —
//!   its history row holds the two counts before the stop and the one after, once each.
//! - With the option off, the same status is refused as `unknown_sensor`, the uid in the
//!   dead letter's reason, and the car park is not listed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use serde_json::Value;
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::checkpoint::CheckpointStore;
use stadtpuls_ingest::kafka::{ensure_topics, header};
use stadtpuls_ingest::sink::Task;

use common::datex2::produce_document;
use common::feeds::{FeedCity, json_get};
use common::{ensure_broker, eventually, free_port, get, run_id, run_ready};

const SQL_KEY: &str = "e2e-kafka-sql-key";
const SQL_KEY_SHA256: &str = "73da54e4238c18d75be8b13fab47cca10fc40e92880315116dec1796fd6f1f68";
/// The car park's ParkAPI uid: not in the registry, not a plain id (its facility id is a
/// slug with a hash).
const UID: &str = "PH Nord 7";

/// A registry of one car park (`dom`, mapped from `P1`) and a `parkapi` topic.
fn write_config(
    dir: &std::path::Path,
    run: &str,
    city: &str,
    port: u16,
    admit: bool,
) -> std::path::PathBuf {
    let csv = "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
               dom,parking_facility,Parkhaus am Dom,50.77,6.08,,500,,P1\n";
    let tail = format!(
        "admit_unmapped_facilities = {admit}\n\
         [[cities.feeds]]\ntopic = \"parkapi-{run}\"\nformat = \"parkapi\"\n\
         [[api_keys]]\nprincipal = \"e2e\"\nkey_sha256 = \"{SQL_KEY_SHA256}\"\ncities = [\"*\"]\n"
    );
    FeedCity {
        brokers: common::brokers(),
        run,
        city,
        port,
        registry_csv: csv,
        tail: &tail,
    }
    .write(dir)
}

async fn create_topics(run: &str) {
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(
        &kafka,
        &[format!("parkapi-{run}"), format!("deadletter-{run}")],
        1,
    )
    .await
    .expect("create topics");
}

/// The status of [`UID`] at `time` (2026-11-24, UTC): `free` of 300.
fn status(time: &str, free: u32) -> Vec<u8> {
    format!(
        r#"{{"uid": "{UID}", "name": "Parkhaus Nord", "lat": 50.78, "lon": "6.09",
            "realtime_capacity": 300, "realtime_free_capacity": {free},
            "realtime_opening_status": "OPEN", "realtime_data_updated_at": "2026-11-24T{time}Z"}}"#
    )
    .into_bytes()
}

/// The admitted car park in the city's live parking once it shows `updated_at`.
async fn wait_admitted(
    client: &reqwest::Client,
    base: &str,
    city: &str,
    updated_at: &str,
) -> Value {
    let url = format!("{base}/v1/cities/{city}/parking");
    eventually(Duration::from_secs(60), "the admitted car park", || async {
        let body = json_get(client, &url).await?;
        body["facilities"]
            .as_array()?
            .iter()
            .find(|f| f["admitted"] == true && f["updated_at"] == updated_at)
            .cloned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmapped_car_park_is_admitted_and_survives_a_restart() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("admit-{run}");
    let topic = format!("parkapi-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, port, true);
    create_topics(&run).await;

    // First life: two counts in the minute 08:00.
    let (app, client) = run_ready(&config, port, &dir.path().join("life1.log")).await;
    produce_document(&topic, &status("08:00:10", 120)).await;
    produce_document(&topic, &status("08:00:30", 100)).await;
    let facility = wait_admitted(&client, &app.base, &city, "2026-11-24T08:00:30.000Z").await;
    let id = facility["facility_id"]
        .as_str()
        .expect("facility id")
        .to_owned();
    assert!(id.starts_with("ph-nord-7-"), "derived from the uid: {id}");
    assert_eq!(
        (facility["free"].clone(), facility["total"].clone()),
        (100.into(), 300.into())
    );
    assert_eq!(facility["name"], "Parkhaus Nord");
    assert_eq!(
        (facility["lat"].clone(), facility["lon"].clone()),
        (50.78.into(), 6.09.into())
    );
    let (_, metrics) = get(&client, &format!("{}/metrics", app.base)).await;
    let admitted =
        format!(r#"stadtpuls_facilities_admitted_total{{city="{city}",format="parkapi"}} 1"#);
    assert!(metrics.contains(&admitted), "missing {admitted}");
    let log = std::fs::read_to_string(dir.path().join("life1.log")).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("admitted at run time") && l.contains(UID) && l.contains(&id)),
        "an info line names the admission with the uid and the id"
    );

    // Stopped with both counts checkpointed; the checkpoint carries the admission.
    let store = CheckpointStore::new(dir.path().join("state"));
    let task = Task {
        topic: Arc::from(topic.as_str()),
        partition: 0,
    };
    eventually(
        Duration::from_secs(30),
        "a checkpoint of both counts",
        || async {
            let checkpoint = store.load(&task).ok().flatten()?;
            (checkpoint.offset == 2).then_some(())
        },
    )
    .await;
    assert!(app.terminate().success());
    let checkpoint = store.load(&task).ok().flatten().expect("checkpoint");
    let state = checkpoint.state().expect("state");
    let carried: Vec<(&str, &str, u32)> = state
        .admitted
        .iter()
        .map(|a| (a.id.as_str(), a.external_id.as_str(), a.capacity))
        .collect();
    assert_eq!(carried, [(id.as_str(), UID, 300)]);

    // Second life, same group: the car park is back before any new message.
    let (app, client) = run_ready(&config, port, &dir.path().join("life2.log")).await;
    let restored = wait_admitted(&client, &app.base, &city, "2026-11-24T08:00:30.000Z").await;
    assert_eq!(restored["facility_id"], id.as_str());
    assert_eq!(
        (restored["free"].clone(), restored["total"].clone()),
        (100.into(), 300.into())
    );
    // One more count in the same minute, then one 40 minutes on whose watermark (minus
    // the 30 minutes of out_of_orderness) closes it.
    produce_document(&topic, &status("08:00:50", 95)).await;
    produce_document(&topic, &status("08:40:10", 80)).await;
    let now = wait_admitted(&client, &app.base, &city, "2026-11-24T08:40:10.000Z").await;
    assert_eq!(
        (now["free"].clone(), now["total"].clone()),
        (80.into(), 300.into())
    );

    // History: the minute 08:00 holds 120, 100 and 95 — none lost, none twice.
    let query = format!(
        "SELECT updates, free_min, free, total FROM parking_1m_latest \
         WHERE city = '{city}' AND facility_id = '{id}' \
         AND window_start = TIMESTAMP '2026-11-24 08:00:00'"
    );
    let rows = eventually(
        Duration::from_secs(60),
        "the minute 08:00 in the history",
        || async {
            let rows = common::sql_rows(&client, &app.base, SQL_KEY, &query).await?;
            (!rows.is_empty()).then_some(rows)
        },
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0]["updates"], 3,
        "two counts before the restart, one after: {rows:?}"
    );
    assert_eq!(rows[0]["free_min"], 95, "{rows:?}");
    assert_eq!(
        (rows[0]["free"].clone(), rows[0]["total"].clone()),
        (95.into(), 300.into())
    );

    // The history route knows the admitted car park too.
    let history = format!(
        "{}/v1/cities/{city}/parking/{id}/history?from=2026-11-24T08:00:00Z&to=2026-11-24T09:00:00Z",
        app.base
    );
    let (status_code, body) = get(&client, &history).await;
    assert_eq!(status_code, 200, "{body}");
    // A restore admits again without counting an admission.
    let (_, metrics) = get(&client, &format!("{}/metrics", app.base)).await;
    assert!(
        !metrics.contains(&admitted),
        "the restart admitted nothing new"
    );
    assert!(app.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_the_unmapped_car_park_is_refused_with_its_uid() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("noadmit-{run}");
    let topic = format!("parkapi-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, port, false);
    create_topics(&run).await;
    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;
    produce_document(&topic, &status("08:00:10", 120)).await;

    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("group.id", format!("dl-reader-{run}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    reader
        .subscribe(&[format!("deadletter-{run}").as_str()])
        .expect("subscribe");
    let letter = tokio::time::timeout(Duration::from_secs(60), reader.recv())
        .await
        .expect("the dead letter within 60 s")
        .expect("receive");
    let h = |name: &str| -> Option<String> {
        letter
            .headers()?
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(h(header::REASON).as_deref(), Some("unknown_sensor"));
    let detail = h(header::DETAIL).unwrap_or_default();
    assert!(detail.contains(&format!("`{UID}`")), "{detail}");

    let body = json_get(&client, &format!("{}/v1/cities/{city}/parking", app.base))
        .await
        .expect("parking");
    let listed: Vec<&Value> = body["facilities"]
        .as_array()
        .expect("facilities")
        .iter()
        .collect();
    assert_eq!(listed.len(), 1, "only the registry's car park: {body}");
    assert_eq!(listed[0]["facility_id"], "dom");
    assert_eq!(listed[0]["admitted"], false);
    let (_, metrics) = get(&client, &format!("{}/metrics", app.base)).await;
    assert!(!metrics.contains(&format!(
        r#"stadtpuls_facilities_admitted_total{{city="{city}""#
    )));
    assert!(app.terminate().success());
}
