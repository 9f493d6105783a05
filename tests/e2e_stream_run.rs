//! `GET /v1/stream` in `stadtpuls run`: a parking observation produced to the city's
//! Kafka topic comes out of the stream as a `parking` event whose numbers equal the
//! facility's in `GET /v1/cities/{city}/parking`.

mod common;
#[path = "support/sse.rs"]
mod sse;

use std::time::Duration;

use common::datex2::produce_document;
use common::feeds::FeedCity;
use common::{free_port, get, run_id, run_ready};
use serde_json::Value;
use sse::SseReader;
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parking_message_read_from_kafka_reaches_the_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_id();
    let city = format!("sse-{run}");
    let port = free_port();
    let config = FeedCity {
        brokers: common::brokers(),
        run: &run,
        city: &city,
        port,
        registry_csv: "id,kind,name,lat,lon,lanes,capacity,facility_id\n\
                       p-1,parking_facility,Parkhaus,50.77,6.08,,100,\n",
        tail: "",
    }
    .write(dir.path());
    let topic = format!("sensors.{city}.parking");
    let level = |free: u32| {
        let ts = chrono::Utc::now().timestamp_millis();
        format!(
            r#"{{"city":"{city}","kind":"facility","id":"p-1","ts":{ts},"free_spaces":{free},"total_spaces":100}}"#
        )
    };
    // The topic exists before the start, so the consumer gets its assignment.
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &[topic.clone(), format!("deadletter-{run}")], 1)
        .await
        .expect("create topics");
    produce_document(&topic, level(50).as_bytes()).await;
    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;
    let url = format!("{}/v1/stream?cities={city}&kinds=parking", app.base);
    let mut stream = SseReader::connect(&client, &url, None).await;

    tokio::time::sleep(Duration::from_millis(1100)).await;
    produce_document(&topic, level(37).as_bytes()).await;

    // The first level may arrive too if it was read after the subscription.
    let event = loop {
        let frame = stream.next(Duration::from_secs(60)).await;
        assert_eq!(frame.event, "parking", "{frame:?}");
        let event: Value = serde_json::from_str(&frame.data).expect("JSON");
        assert_eq!(event["facility_id"], "p-1");
        if event["free"] == 37 {
            break event;
        }
        assert_eq!(event["free"], 50, "{event}");
    };
    let (status, body) = get(&client, &format!("{}/v1/cities/{city}/parking", app.base)).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    let facility = body["facilities"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["facility_id"] == "p-1"))
        .unwrap_or_else(|| panic!("p-1 not served: {body}"));
    for field in [
        "free",
        "total",
        "occupied",
        "occupancy_pct",
        "status",
        "trend",
        "trend_pct_per_h",
        "updated_at",
    ] {
        assert_eq!(
            event[field], facility[field],
            "`{field}`: {event} vs {facility}"
        );
    }
    drop(stream);
    assert!(app.terminate().success());
}
