//! DATEX II through a real broker and the `stadtpuls run` binary: MDM Aachen's realtime
//! `ParkingStatusPublication` (`ingest/tests/fixtures/feeds/datex2/`), produced unchanged
//! as one record to a topic configured `format = "datex2"` in `[[cities.feeds]]`, with a
//! registry mapping its records by `external_id`; the vacant spaces a person reads per
//! record in the file come out of the live API, and `/metrics` counts the format. The
//! same document pulled over HTTP (`[[cities.pull]]`, from a server in the test that
//! honours `If-None-Match`) gives the same values, written once.

mod common;
#[path = "support/pull_server.rs"]
mod pull_server;

use std::time::Duration;

use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::datex2::{AACHEN_STATUS, fixture, produce_document, wait_for_levels};
use common::feeds::FeedCity;
use common::{ensure_broker, eventually, free_port, get, run_id, run_ready};

/// The config of city `city` with a `datex2` topic; `extra` is appended (a pull source).
fn write_config(
    dir: &std::path::Path,
    run: &str,
    city: &str,
    port: u16,
    extra: &str,
) -> std::path::PathBuf {
    let mut csv = String::from("id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n");
    for n in [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18] {
        csv.push_str(&format!(
            "aachen-p{n},parking_facility,Parkhaus {n},50.77,6.08,,1000,,P{n}\n"
        ));
    }
    FeedCity {
        brokers: common::brokers(),
        run,
        city,
        port,
        registry_csv: &csv,
        tail: &format!("[[cities.feeds]]\ntopic = \"datex2-{run}\"\nformat = \"datex2\"\n{extra}"),
    }
    .write(dir)
}

fn aachen_document() -> Vec<u8> {
    std::fs::read(fixture("parkapi-sources_aachen-realtime.xml")).expect("fixture")
}

async fn create_topics(run: &str) {
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(
        &kafka,
        &[format!("datex2-{run}"), format!("deadletter-{run}")],
        1,
    )
    .await
    .expect("create topics");
}

/// Waits for every record of [`AACHEN_STATUS`] in the live API of `base` and checks its
/// free and total spaces (registry ids `aachen-p<n>` for record `P<n>`), then for
/// `/metrics` to count one DATEX II message of `city`; returns the metrics text.
async fn assert_aachen_live(client: &reqwest::Client, base: &str, city: &str) -> String {
    let ids: Vec<String> = AACHEN_STATUS
        .iter()
        .map(|(record, ..)| format!("aachen-{}", record.to_lowercase()))
        .collect();
    let levels = wait_for_levels(client, base, city, &ids).await;
    for ((record, free, total), level) in AACHEN_STATUS.iter().zip(levels) {
        assert_eq!(level, ((*free).into(), (*total).into()), "Aachen {record}");
    }
    let metrics = eventually(Duration::from_secs(20), "feed metrics", || async {
        let (_, body) = get(client, &format!("{base}/metrics")).await;
        body.contains(&format!(
            r#"stadtpuls_feed_messages_received_total{{city="{city}",format="datex2"}} 1"#
        ))
        .then_some(body)
    })
    .await;
    let accepted =
        format!(r#"stadtpuls_feed_observations_accepted_total{{city="{city}",format="datex2"}}"#);
    assert!(metrics.contains(&accepted), "missing {accepted}");
    metrics
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aachen_datex2_status_reaches_the_live_api() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("aachen-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, port, "");
    create_topics(&run).await;
    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;

    produce_document(&format!("datex2-{run}"), &aachen_document()).await;

    assert_aachen_live(&client, &app.base, &city).await;
    assert!(app.terminate().success());
}

/// `[[cities.pull]]` in `stadtpuls run`: the poller fetches the document at start, writes
/// it to the city's `datex2` topic, and from then on gets 304s (the test server honours
/// `If-None-Match`), so the document is in the pipeline once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aachen_datex2_status_pulled_over_http_reaches_the_live_api() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("aachen-pull-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let served = std::sync::Arc::new(std::sync::Mutex::new(pull_server::Served {
        body: aachen_document(),
        etag: "\"aachen-1\"".into(),
        ..pull_server::Served::default()
    }));
    let addr = pull_server::start(served.clone()).await;
    let pull = format!(
        "[[cities.pull]]\nurl = \"http://{addr}/status.xml\"\nformat = \"datex2\"\nevery = \"5s\"\n"
    );
    let config = write_config(dir.path(), &run, &city, port, &pull);
    create_topics(&run).await;
    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;

    assert_aachen_live(&client, &app.base, &city).await;
    let outcome = |outcome: &str| {
        format!(
            r#"stadtpuls_pull_requests_total{{city="{city}",format="datex2",outcome="{outcome}"}}"#
        )
    };
    let metrics = eventually(
        Duration::from_secs(20),
        "a 304 at the next tick",
        || async {
            let (_, body) = get(&client, &format!("{}/metrics", app.base)).await;
            body.contains(&outcome("not_modified")).then_some(body)
        },
    )
    .await;
    assert!(
        metrics.contains(&format!("{} 1\n", outcome("changed"))),
        "written once: {metrics}"
    );
    assert!(
        metrics.contains(&format!(
            r#"stadtpuls_feed_messages_received_total{{city="{city}",format="datex2"}} 1"#
        )),
        "one document in the pipeline"
    );
    let asked = pull_server::lock(&served).asked.clone();
    assert_eq!(asked.first(), Some(&(None, None)));
    assert!(
        asked[1..]
            .iter()
            .all(|(etag, _)| etag.as_deref() == Some("\"aachen-1\"")),
        "{asked:?}"
    );
    assert!(app.terminate().success());
}
