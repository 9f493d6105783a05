//! The push gateway in `stadtpuls demo`, which has no broker: a push joins the simulated
//! feed's next batch, and the embedded pipeline decodes and serves it like a record read
//! from Kafka. A native count and a FIWARE `OffStreetParking` entity (through the format
//! door `/v1/ingest/{city}/fiware`, plain `application/json`) are answered 202 with the
//! topic and offset they got, and their levels come out of the live API; `/metrics` counts
//! the FIWARE observation as decoded by the pipeline. The simulator reports the two
//! facilities too, stamped now; the pushes are stamped two minutes ahead (within
//! `windows.max_future`), and a facility's level never goes back to an older count, so the
//! levels seen are the pushes'. The built-in demo answers 503 during its backfill and
//! takes the printed demo push key after it.

mod common;

use common::feeds::FeedCity;
use common::gateway::{hash, push, wait_levels, wait_metrics};
use common::{Stadtpuls, eventually, free_port, get, run_id};

const KEY: &str = "demo-push-e2e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_feeds_the_demos_embedded_pipeline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_id();
    let city = format!("demo-{run}");
    let port = free_port();
    let tail = format!(
        "[[cities.feeds]]\ntopic = \"fiware-{run}\"\nformat = \"fiware\"\n\
         [[push_keys]]\nprincipal = \"partner\"\nkey_sha256 = \"{}\"\ncity = \"{city}\"\nformats = [\"native\", \"fiware\"]\n",
        hash(KEY)
    );
    let config = FeedCity {
        // The demo reads no broker; the address is never dialled.
        brokers: "127.0.0.1:1".into(),
        run: &run,
        city: &city,
        port,
        registry_csv: "id,kind,name,lat,lon,lanes,capacity,facility_id\n\
                       t-1,traffic,Probe,50.77,6.08,2,,\n\
                       pushed-n,parking_facility,Pushed native,50.77,6.08,,40,\n\
                       pushed-f,parking_facility,Pushed FIWARE,50.77,6.08,,99,\n",
        tail: &tail,
    }
    .write(dir.path());
    let config = config.display().to_string();
    let app = Stadtpuls::start(
        &[
            "demo",
            "--config",
            &config,
            "--backfill",
            "2m",
            "--bad-ratio",
            "0",
        ],
        port,
        &dir.path().join("log"),
    );
    let client = reqwest::Client::new();
    eventually(std::time::Duration::from_secs(60), "readyz", || async {
        (get(&client, &format!("{}/readyz", app.base)).await.0 == 200).then_some(())
    })
    .await;
    let ingest = format!("{}/v1/ingest/{city}", app.base);
    let ahead = chrono::Utc::now() + chrono::Duration::minutes(2);

    let native = format!(
        r#"{{"city":"{city}","kind":"facility","id":"pushed-n","ts":{},"free_spaces":7,"total_spaces":40}}"#,
        ahead.timestamp_millis()
    );
    let (status, _, answer) = push(
        &client,
        &ingest,
        Some(KEY),
        Some("application/json"),
        native.into_bytes(),
    )
    .await;
    assert_eq!(status, 202, "native: {answer}");
    assert_eq!(
        answer["topic"],
        format!("sensors.{city}.parking"),
        "{answer}"
    );
    assert_eq!(answer["partition"], 0, "{answer}");
    assert!(answer["offset"].as_i64().is_some(), "{answer}");
    wait_levels(&client, &app.base, &city, &[("pushed-n", 7, 40)]).await;

    let observed = ahead.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let entity = format!(
        r#"{{"id":"pushed-f","type":"OffStreetParking","availableSpotNumber":42,"totalSpotNumber":99,"dateObserved":"{observed}"}}"#
    );
    let (status, _, answer) = push(
        &client,
        &format!("{ingest}/fiware"),
        Some(KEY),
        Some("application/json"),
        entity.into_bytes(),
    )
    .await;
    assert_eq!(status, 202, "FIWARE: {answer}");
    assert_eq!(answer["topic"], format!("fiware-{run}"), "{answer}");
    assert_eq!(
        answer["offset"], 0,
        "the first record of its topic: {answer}"
    );
    wait_levels(
        &client,
        &app.base,
        &city,
        &[("pushed-f", 42, 99), ("pushed-n", 7, 40)],
    )
    .await;
    wait_metrics(
        &client,
        &app.base,
        &[
            format!(
                r#"stadtpuls_feed_observations_accepted_total{{city="{city}",format="fiware"}} 1"#
            ),
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="native",status="202"}} 1"#
            ),
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="fiware",status="202"}} 1"#
            ),
        ],
    )
    .await;
    assert!(app.terminate().success());
}

/// The built-in demo as a user starts it: during the backfill a push is answered 503 with
/// `Retry-After` (stamped now, it would run ahead of the replayed clock); once `/readyz`
/// answers 200 the printed demo push key pushes a native count for ulm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_demo_takes_pushes_with_its_key_once_the_backfill_is_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let log = dir.path().join("log");
    // Twelve hours of backfill: about ten seconds of replay, the window for the 503.
    let app = Stadtpuls::start_with_env(
        &["demo", "--backfill", "12h", "--bad-ratio", "0"],
        &[
            (
                "STADTPULS_HISTORY__DIR",
                dir.path().join("history").display().to_string(),
            ),
            ("STADTPULS_API__BIND", format!("127.0.0.1:{port}")),
        ],
        port,
        &log,
    );
    let client = reqwest::Client::new();
    let readyz = format!("{}/readyz", app.base);
    eventually(std::time::Duration::from_secs(30), "the API", || async {
        (get(&client, &readyz).await.0 == 503).then_some(())
    })
    .await;
    let ingest = format!("{}/v1/ingest/ulm", app.base);
    let report = || {
        format!(
            r#"{{"city":"ulm","kind":"facility","id":"ulm-p-01","ts":{},"free_spaces":7,"total_spaces":400}}"#,
            chrono::Utc::now().timestamp_millis()
        )
        .into_bytes()
    };
    let json = Some("application/json");
    let key = Some(stadtpuls_config::DEMO_PUSH_KEY);
    let (status, headers, answer) = push(&client, &ingest, key, json, report()).await;
    assert_eq!(
        get(&client, &readyz).await.0,
        503,
        "still replaying after the push"
    );
    assert_eq!(status, 503, "during the backfill: {answer}");
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
    eventually(std::time::Duration::from_secs(120), "readyz", || async {
        (get(&client, &readyz).await.0 == 200).then_some(())
    })
    .await;
    let (status, _, answer) = push(&client, &ingest, key, json, report()).await;
    assert_eq!(status, 202, "after the backfill: {answer}");
    assert_eq!(answer["topic"], "sensors.ulm.parking", "{answer}");
    assert!(app.terminate().success());
}
