//! The push gateway while its broker is down: `stadtpuls run` on a Tansu broker of its own
//! (`common::tansu::OwnBroker`); a push is acknowledged (202), the broker is killed, a push
//! is answered 503 with `Retry-After` within the acknowledgement timeout and counted as
//! nothing accepted; the broker is started again on the same port and storage, and a push
//! is acknowledged again and reaches the live API.

mod common;

use std::time::{Duration, Instant};

use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::feeds::FeedCity;
use common::gateway::{hash, push, try_push, wait_levels, wait_metrics};
use common::tansu::OwnBroker;
use common::{eventually, free_port, get, run_id, run_ready};

const KEY: &str = "gateway-outage-key";

/// A native count of `native-p` at `ts`.
fn count(city: &str, ts: i64, free: u32) -> Vec<u8> {
    format!(
        r#"{{"city":"{city}","kind":"facility","id":"native-p","ts":{ts},"free_spaces":{free},"total_spaces":300}}"#
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_while_the_broker_is_down_is_503_and_the_next_after_it_is_back_202() {
    let broker_dir = tempfile::tempdir().expect("broker dir");
    let mut broker = OwnBroker::start(broker_dir.path());
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_id();
    let city = format!("gwdown-{run}");
    let port = free_port();
    let tail = format!(
        "[[push_keys]]\nprincipal = \"partner\"\nkey_sha256 = \"{}\"\ncity = \"{city}\"\nformats = [\"native\"]\n",
        hash(KEY)
    );
    let config = FeedCity {
        brokers: broker.addr(),
        run: &run,
        city: &city,
        port,
        registry_csv: "id,kind,name,lat,lon,lanes,capacity,facility_id\n\
                       native-p,parking_facility,Native,50.77,6.08,,300,\n",
        tail: &tail,
    }
    .write(dir.path());
    let kafka = KafkaConfig {
        brokers: broker.addr(),
        ..KafkaConfig::default()
    };
    let topics = ["traffic", "parking"]
        .map(|k| format!("sensors.{city}.{k}"))
        .into_iter()
        .chain([format!("deadletter-{run}")])
        .collect::<Vec<_>>();
    ensure_topics(&kafka, &topics, 1)
        .await
        .expect("create topics");
    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;
    let url = format!("{}/v1/ingest/{city}", app.base);
    let json = Some("application/json");
    let now = chrono::Utc::now().timestamp_millis();

    let first = count(&city, now - 120_000, 100);
    let first_len = first.len();
    let (status, _, answer) = push(&client, &url, Some(KEY), json, first).await;
    assert_eq!(status, 202, "{answer}");
    wait_levels(&client, &app.base, &city, &[("native-p", 100, 300)]).await;

    broker.kill();
    let asked = Instant::now();
    let (status, headers, answer) = push(
        &client,
        &url,
        Some(KEY),
        json,
        count(&city, now - 90_000, 50),
    )
    .await;
    assert_eq!(status, 503, "broker down: {answer}");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "answered within the 10 s acknowledgement timeout: {:?}",
        asked.elapsed()
    );
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5"),
        "503 tells when to retry"
    );
    assert!(answer["error"].is_string(), "{answer}");
    wait_metrics(
        &client,
        &app.base,
        &[
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="native",status="503"}} 1"#
            ),
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="native",status="202"}} 1"#
            ),
            format!(
                r#"stadtpuls_push_body_bytes_total{{city="{city}",format="native"}} {first_len}"#
            ),
        ],
    )
    .await;

    broker.restart();
    let last = count(&city, now - 60_000, 70);
    let last_len = last.len();
    let (status, answer) = eventually(Duration::from_secs(90), "a 202 after the restart", || {
        let (client, url, last) = (&client, &url, last.clone());
        async move {
            let (status, _, answer) = try_push(client, url, Some(KEY), json, last).await.ok()?;
            match status {
                503 => None,
                _ => Some((status, answer)),
            }
        }
    })
    .await;
    assert_eq!(status, 202, "broker back: {answer}");
    wait_levels(&client, &app.base, &city, &[("native-p", 70, 300)]).await;
    let (_, metrics) = get(&client, &format!("{}/metrics", app.base)).await;
    let bytes = format!(
        r#"stadtpuls_push_body_bytes_total{{city="{city}",format="native"}} {}"#,
        first_len + last_len
    );
    assert!(metrics.contains(&bytes), "missing {bytes}");
    assert!(app.terminate().success());
}
