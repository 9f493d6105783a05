//! The standard outputs through the real `stadtpuls run` binary and a real broker: MDM
//! Aachen's DATEX II status document goes in (Kafka, a `datex2` feed topic), and comes out
//! of the HTTP API as
//!
//! - a DATEX II 2.3 `ParkingStatusPublication` and `ParkingTablePublication` that
//!   validate against the official schema (xmllint) and that Stadtpuls' DATEX II decoder
//!   reads back with the numbers a person reads in the Aachen file;
//! - ParkAPI v3 parking sites that parkapi-sources' validators accept (in the test venv's
//!   Python) and that Stadtpuls' ParkAPI decoder reads back with the same numbers.
//!
//! The Aachen readings are from February 2025: every facility is stale, so the outputs'
//! stale marking is what goes through here (fresh documents are covered where they are
//! rendered, `processing/src/publish/`, and in `ingest/tests/datex2_output.rs`).

mod common;
#[path = "support/read_back.rs"]
mod read_back;

use std::path::Path;
use std::process::Command;

use stadtpuls_config::{FeedFormat, KafkaConfig};
use stadtpuls_ingest::kafka::ensure_topics;

use common::datex2::{AACHEN_STATUS, fixture, produce_document, wait_for_levels};
use common::feeds::FeedCity;
use common::{ensure_broker, free_port, get, pyvenv, run_id, run_ready};

/// The records of Aachen's status document (`P<n>`).
const FACILITIES: [u32; 17] = [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];

/// Aachen's facilities under registry ids `aachen-p<n>` (the id every output uses), 1000
/// spaces each in the registry, mapped from the feed's records `P<n>`.
fn write_config(dir: &Path, run: &str, city: &str, port: u16) -> std::path::PathBuf {
    let mut csv = String::from("id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n");
    for n in FACILITIES {
        csv.push_str(&format!(
            "aachen-p{n},parking_facility,Parkhaus {n} & Co,50.77{n},6.08,,1000,,P{n}\n"
        ));
    }
    FeedCity {
        brokers: common::brokers(),
        run,
        city,
        port,
        registry_csv: &csv,
        tail: &format!("[[cities.feeds]]\ntopic = \"datex2-{run}\"\nformat = \"datex2\"\n"),
    }
    .write(dir)
}

/// Decodes one of our documents with Stadtpuls' decoder for `format`, every facility id
/// mapped to itself; returns `facility free total` per accepted row and the refusals.
fn read_back(format: FeedFormat, city: &str, payload: &[u8]) -> (Vec<String>, Vec<String>) {
    let ids: Vec<String> = FACILITIES.iter().map(|n| format!("aachen-p{n}")).collect();
    let registered: Vec<_> = ids.iter().map(|id| (id.as_str(), Some(1000))).collect();
    let now = chrono::Utc::now().timestamp_millis();
    let back = read_back::read_back(format, city, &registered, now, payload);
    let mut rows: Vec<String> = back
        .rows
        .iter()
        .map(|r| {
            let total = r.total.map_or("-".to_owned(), |t| t.to_string());
            format!("{} {} {total}", r.facility, r.free)
        })
        .collect();
    rows.sort();
    (rows, back.refused)
}

/// `facility free total` of the Aachen records a person reads in the file
/// ([`AACHEN_STATUS`], the last 21 minutes of it).
fn hand_read_rows() -> Vec<String> {
    AACHEN_STATUS
        .iter()
        .map(|(record, free, total)| format!("aachen-{} {free} {total}", record.to_lowercase()))
        .collect()
}

/// `facility free total` of every facility with a level in the live view
/// (`GET /v1/cities/{city}/parking`), free clamped to the total as the outputs publish it.
async fn live_rows(client: &reqwest::Client, base: &str) -> Vec<String> {
    let (status, body) = get(client, &format!("{base}/parking")).await;
    assert_eq!(status, 200, "{body}");
    let parking: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut rows: Vec<String> = parking["facilities"]
        .as_array()
        .expect("facilities")
        .iter()
        .filter_map(|f| {
            let (free, total) = (f["free"].as_u64()?, f["total"].as_u64()?);
            Some(format!(
                "{} {} {total}",
                f["facility_id"].as_str()?,
                free.min(total)
            ))
        })
        .collect();
    rows.sort();
    rows
}

/// Asserts `rows` are the live view's and include every hand-read record.
fn assert_same_numbers(rows: &[String], live: &[String]) {
    assert_eq!(rows, live);
    for row in hand_read_rows() {
        assert!(rows.contains(&row), "missing {row} in {rows:?}");
    }
}

fn xmllint(doc: &[u8], dir: &Path, name: &str) {
    let file = dir.join(name);
    std::fs::write(&file, doc).expect("write doc");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ingest/tests/fixtures/datex2-schema/tmfg-metadata_DATEXIISchema_2_2_3_with_definitions.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(&file)
        .output()
        .expect("xmllint runs (Debian: apt-get install libxml2-utils)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} does not validate: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aachen_in_datex2_out_as_datex2_and_parkapi() {
    let python = pyvenv::python_with(
        "parkapi_sources.models, validataclass",
        &["parkapi-sources==0.24.0", "validataclass==0.11.0"],
    );
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("aachen-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, port);
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
    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;
    let document = std::fs::read(fixture("parkapi-sources_aachen-realtime.xml")).expect("fixture");
    produce_document(&format!("datex2-{run}"), &document).await;
    let ids: Vec<String> = AACHEN_STATUS
        .iter()
        .map(|(record, ..)| format!("aachen-{}", record.to_lowercase()))
        .collect();
    wait_for_levels(&client, &app.base, &city, &ids).await;
    let base = format!("{}/v1/cities/{city}", app.base);
    let live = live_rows(&client, &base).await;
    assert_eq!(live.len(), FACILITIES.len(), "{live:?}");

    // DATEX II: valid, and read back with the file's numbers; all stale (2025 readings).
    let (status, body) = get(&client, &format!("{base}/datex2/parking-status")).await;
    assert_eq!(status, 200, "{body}");
    xmllint(body.as_bytes(), dir.path(), "status.xml");
    assert_eq!(
        body.matches("<parkingFault>communicationsFailure</parkingFault>")
            .count(),
        17
    );
    let (rows, refused) = read_back(FeedFormat::Datex2, &city, body.as_bytes());
    assert!(refused.is_empty(), "{refused:?}");
    assert_same_numbers(&rows, &live);
    // A poller holding the current document gets a 304 from the real server.
    let url = format!("{base}/datex2/parking-status");
    let first = client.get(&url).send().await.expect("GET");
    let etag = first.headers().get("etag").cloned().expect("ETag");
    let again = client
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(again.status().as_u16(), 304);
    let (status, table) = get(&client, &format!("{base}/datex2/parking-table")).await;
    assert_eq!(status, 200);
    xmllint(table.as_bytes(), dir.path(), "table.xml");
    assert!(table.contains("<value lang=\"de\">Parkhaus 1 &amp; Co</value>"));

    // ParkAPI v3: accepted by parkapi-sources, and read back with the same numbers.
    let (status, list) = get(&client, &format!("{base}/parkapi/parking-sites")).await;
    assert_eq!(status, 200, "{list}");
    let (status, item) = get(&client, &format!("{base}/parkapi/parking-sites/aachen-p1")).await;
    assert_eq!(status, 200, "{item}");
    std::fs::write(dir.path().join("list.json"), &list).expect("write list");
    std::fs::write(dir.path().join("item.json"), &item).expect("write item");
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parkapi_validate.py"))
        .arg(dir.path().join("list.json"))
        .arg(dir.path().join("item.json"))
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "parkapi-sources refused: {}\n{list}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 17 registered sites plus the item; P1's line as parkapi-sources parsed it.
    assert_eq!(stdout.lines().count(), 18, "{stdout}");
    assert!(
        stdout.contains("aachen-p1 412 1000 UNKNOWN 2025-02-07T19:05:34+00:00"),
        "{stdout}"
    );
    let (rows, refused) = read_back(FeedFormat::ParkApi, &city, list.as_bytes());
    assert!(refused.is_empty(), "{refused:?}");
    assert_same_numbers(&rows, &live);
    assert!(app.terminate().success());
}
