//! `GET /v1/stream` against `stadtpuls demo` (10 s windows, 1 s out-of-orderness, so
//! windows close every ten seconds): a closed traffic window's event carries the numbers
//! `GET /v1/cities/{city}/traffic/{sensor}` serves for the same window; a resume with
//! `Last-Event-ID` gets exactly the events after that id; a resume older than the ring
//! is told so (`event: missed`); heartbeats arrive as comment lines.

mod common;
#[path = "support/sse.rs"]
mod sse;

use std::time::Duration;

use common::demo::demo_ready;
use common::get;
use serde_json::Value;
use sse::SseReader;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_carries_the_apis_numbers_and_resumes_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, client) = demo_ready(
        dir.path(),
        "1m",
        &[("STADTPULS_API__STREAM_HEARTBEAT", "1s".into())],
    )
    .await;
    let url = format!("{}/v1/stream?cities=ulm&kinds=traffic&window=10s", app.base);
    let mut live = SseReader::connect(&client, &url, None).await;

    // A closed window's event equals the API's JSON of that sensor and window.
    let first = live.next(Duration::from_secs(60)).await;
    assert_eq!(first.event, "traffic", "{first:?}");
    let event: Value = serde_json::from_str(&first.data).expect("JSON data");
    assert_eq!(event["city"], "ulm");
    assert_eq!(event["window"], "10s");
    let sensor = event["sensor_id"].as_str().expect("sensor_id").to_owned();
    let (status, body) = get(
        &client,
        &format!("{}/v1/cities/ulm/traffic/{sensor}?window=10s", app.base),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    let windows = body["windows"].as_array().expect("windows");
    let served = windows
        .iter()
        .find(|w| w["window_start"] == event["window_start"])
        .unwrap_or_else(|| panic!("window {} not served: {body}", event["window_start"]));
    let fields = served.as_object().expect("window object");
    assert!(fields.len() > 5, "{served}");
    for (name, value) in fields {
        assert_eq!(
            &event[name], value,
            "`{name}` of {sensor}: stream {event} API {served}"
        );
    }

    // What a client resuming after `first` gets is exactly what the live one got since.
    let mut since = Vec::new();
    while since.len() < 5 {
        since.push(live.next(Duration::from_secs(60)).await);
    }
    let first_id = first.id.clone().expect("id");
    let mut resumed = SseReader::connect(&client, &url, Some(&first_id)).await;
    for expected in &since {
        let got = resumed.next(Duration::from_secs(10)).await;
        assert_eq!(&got, expected);
    }
    let ids: Vec<u64> = since
        .iter()
        .map(|f| {
            f.id.as_deref()
                .and_then(|i| i.parse().ok())
                .expect("numeric id")
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    // An id older than the ring: told so first, then what the ring holds.
    let mut stale = SseReader::connect(&client, &url, Some("1")).await;
    let notice = stale.next(Duration::from_secs(10)).await;
    assert_eq!(notice.event, "missed", "{notice:?}");
    let notice: Value = serde_json::from_str(&notice.data).expect("JSON");
    assert_eq!(notice["last_event_id"], "1");

    // Idle stretches carry heartbeats (1 s here): a subscriber of feed events only (the
    // demo's feeds do not go stale) gets nothing else.
    let feed_url = format!("{}/v1/stream?kinds=feed", app.base);
    let mut idle = SseReader::connect(&client, &feed_url, None).await;
    let nothing = tokio::time::timeout(Duration::from_millis(2500), idle.read()).await;
    assert!(nothing.is_err(), "an event on an idle stream: {nothing:?}");
    assert!(idle.comments >= 2, "{} heartbeats in 2.5 s", idle.comments);
    let (_, metrics) = get(&client, &format!("{}/metrics", app.base)).await;
    let clients = metrics
        .lines()
        .find_map(|l| l.strip_prefix("stadtpuls_sse_clients "))
        .and_then(|v| v.trim().parse::<i64>().ok())
        .expect("stadtpuls_sse_clients");
    assert_eq!(clients, 4, "{metrics}");
    drop((live, resumed, stale, idle));
    assert!(app.terminate().success());
}
