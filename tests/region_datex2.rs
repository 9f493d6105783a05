//! A region's DATEX II 2.3 publications (`GET /v1/regions/{region}/datex2/…`) through the
//! real HTTP server (the API's accept loop on a local port, no broker needed): both
//! documents validate against the official 2.3 schema (xmllint), and Stadtpuls' own
//! DATEX II decoder reads the status back with the numbers of the region's parking view
//! (`GET /v1/regions/{region}/parking`), overall and per city; stale facilities are
//! marked as in a city's publication; conditional GET answers 304.
//!
//! Two cities with the same facility ids (`p-1`, `p-2`, `p-3`): the region's record ids
//! (`<city>/<facility>`) keep them apart. Needs `xmllint` (Debian `libxml2-utils`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use stadtpuls_api::edge::{ConnectionLimit, Edge};
use stadtpuls_api::{AppState, router};
use stadtpuls_config::{Config, FeedFormat};
use stadtpuls_ingest::decode::datex2::read_table;
use stadtpuls_processing::live::LiveState;

#[path = "support/read_back.rs"]
mod read_back;
use read_back::ParkingRow;
use stadtpuls_processing::window::parking::FacilityLive;

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;
const STALE_AFTER_MS: i64 = 900_000;
const CITIES: [&str; 2] = ["ulm", "neu-ulm"];
/// Every record of the region: `<city>/<facility>` with its registry capacity.
const RECORDS: [(&str, u32); 6] = [
    ("ulm/p-1", 100),
    ("ulm/p-2", 400),
    ("ulm/p-3", 50),
    ("neu-ulm/p-1", 100),
    ("neu-ulm/p-2", 400),
    ("neu-ulm/p-3", 50),
];

/// Both cities with a garage, a P+R and a lot under the same ids, and the region `donau`.
fn config(dir: &Path) -> Config {
    let mut toml = String::new();
    for city in CITIES {
        let csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
                   p-1,parking_facility,Parkhaus Brücke & Söhne,48.40,9.991,,100,,\n\
                   p-2,parking_facility,P+R Süd,48.39,9.98,,400,,\n\
                   p-3,parking_facility,Parkplatz Au,48.41,10.01,,50,,\n";
        std::fs::write(dir.join(format!("{city}.csv")), csv).expect("registry");
        toml.push_str(&format!(
            "[[cities]]\nid = \"{city}\"\nname = \"{city}\"\ntimezone = \"Europe/Berlin\"\n\
             lat = 48.40\nlon = 9.99\nregistry = \"{city}.csv\"\n\n"
        ));
    }
    toml.push_str(
        "[[regions]]\nid = \"donau\"\nname = \"Ulm / Neu-Ulm\"\ncities = [\"ulm\", \"neu-ulm\"]\n",
    );
    Config::from_toml(&toml, &dir.join("stadtpuls.toml"), &Default::default()).expect("config")
}

/// ulm: p-1 30 of 100 and p-2 200 of 400 (fresh), p-3 silent; neu-ulm: p-1 120 free of
/// 100 (a counter overcounting: 100 published), p-2 50 of 400 an hour old (stale), p-3 7
/// of 50 (fresh).
async fn serve(dir: &Path) -> (SocketAddr, Arc<LiveState>) {
    let config = config(dir);
    let registries = config.load_registries().expect("registries");
    let live = Arc::new(LiveState::new(6 * 3_600_000));
    for (city, id, free, total, age) in [
        ("ulm", "p-1", 30, 100, 60_000),
        ("ulm", "p-2", 200, 400, 120_000),
        ("neu-ulm", "p-1", 120, 100, 30_000),
        ("neu-ulm", "p-2", 50, 400, 3_600_000),
        ("neu-ulm", "p-3", 7, 50, 10_000),
    ] {
        live.set_facility(city, id, FacilityLive::new(free, Some(total), NOW - age));
    }
    let mut state = AppState::new(
        live.clone(),
        &registries,
        vec![60],
        STALE_AFTER_MS,
        Arc::new(|| true),
    )
    .with_regions(&config.regions);
    state.now_ms = Arc::new(|| NOW);
    state.static_since_ms = NOW - 86_400_000;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let edge = Edge {
        header_read_timeout: Duration::from_secs(5),
        connections: ConnectionLimit::new(16),
        drain: Duration::from_secs(1),
    };
    tokio::spawn(stadtpuls_api::edge::http::serve(
        listener,
        router(state),
        edge,
        std::future::pending(),
    ));
    (addr, live)
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("response")
}

fn xmllint(doc: &[u8], dir: &Path, name: &str) {
    let file = dir.join(name);
    std::fs::write(&file, doc).expect("write doc");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "ingest/tests/fixtures/datex2-schema/tmfg-metadata_DATEXIISchema_2_2_3_with_definitions.xsd",
    );
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(&file)
        .output()
        .expect("xmllint runs (Debian: apt-get install libxml2-utils)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} does not validate: {stderr}\n{}",
        String::from_utf8_lossy(doc)
    );
}

/// Decodes a region's status with Stadtpuls' DATEX II decoder, every record id of the
/// region mapped to itself; the rows by record id.
fn read_back(doc: &[u8]) -> BTreeMap<String, ParkingRow> {
    let registered: Vec<_> = RECORDS.iter().map(|&(id, c)| (id, Some(c))).collect();
    let back = read_back::read_back(FeedFormat::Datex2, "donau", &registered, NOW, doc);
    assert!(back.refused.is_empty(), "{:?}", back.refused);
    back.rows
        .into_iter()
        .map(|row| (row.facility.clone(), row))
        .collect()
}

/// (free, total, facilities reporting) of `rows` with the rule of the parking views:
/// fresh readings only, free clamped to the total.
fn totals<'a>(rows: impl Iterator<Item = &'a ParkingRow>) -> (u64, u64, u64) {
    rows.filter(|r| r.ts > NOW - STALE_AFTER_MS)
        .fold((0, 0, 0), |(free, total, n), r| {
            let t = r.total.unwrap_or_default();
            (free + u64::from(r.free.min(t)), total + u64::from(t), n + 1)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_status_validates_and_reads_back_as_the_region_parking_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, _) = serve(dir.path()).await;
    let response = get(addr, "/v1/regions/donau/datex2/parking-status", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/xml; charset=utf-8"
    );
    let status = response.bytes().await.expect("body");
    xmllint(&status, dir.path(), "status.xml");
    let text = String::from_utf8_lossy(&status);
    assert!(text.contains("<nationalIdentifier>stadtpuls-region.donau</nationalIdentifier>"));
    // Stale marked as in a city's publication: the hour-old neu-ulm/p-2 only.
    assert_eq!(text.matches("communicationsFailure").count(), 1, "{text}");

    let rows = read_back(&status);
    // Every reported facility, under its region-wide id, with its last reading's time
    // (the never-reported ulm/p-3 absent; the overcounting neu-ulm/p-1 clamped).
    let ids: Vec<&str> = rows.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "neu-ulm/p-1",
            "neu-ulm/p-2",
            "neu-ulm/p-3",
            "ulm/p-1",
            "ulm/p-2"
        ]
    );
    assert_eq!(rows["neu-ulm/p-1"].free, 100);
    assert_eq!(rows["neu-ulm/p-2"].ts, NOW - 3_600_000);

    let view: serde_json::Value = get(addr, "/v1/regions/donau/parking", &[])
        .await
        .json()
        .await
        .expect("json");
    let (free, total, reporting) = totals(rows.values());
    assert_eq!(view["totals"]["free"], free, "{view}");
    assert_eq!(view["totals"]["total"], total, "{view}");
    assert_eq!(view["totals"]["facilities_reporting"], reporting, "{view}");
    // By hand: ulm 30 + 200 of 500, neu-ulm 100 + 7 of 150 (p-2 stale, left out).
    assert_eq!((free, total), (337, 650));
    for part in view["by_city"].as_array().expect("by_city") {
        let city = part["city"].as_str().expect("city");
        let prefix = format!("{city}/");
        let (free, total, _) = totals(
            rows.iter()
                .filter(|(id, _)| id.starts_with(&prefix))
                .map(|(_, row)| row),
        );
        assert_eq!(
            (part["free"].as_u64(), part["total"].as_u64()),
            (Some(free), Some(total)),
            "{city}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_table_validates_and_lists_every_member_facility() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, _) = serve(dir.path()).await;
    let response = get(addr, "/v1/regions/donau/datex2/parking-table", &[]).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    assert_eq!(
        response.headers()["last-modified"],
        "Mon, 23 Nov 2026 01:00:00 GMT"
    );
    let table = response.bytes().await.expect("body");
    xmllint(&table, dir.path(), "table.xml");
    let records = read_table(&table).expect("table reads");
    let ids: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r.id.clone().unwrap_or_default(),
                r.capacity.clone().unwrap_or_default(),
            )
        })
        .collect();
    // Members in config order, each city's facilities in registry order.
    let expected: Vec<(String, String)> = RECORDS
        .iter()
        .map(|(id, capacity)| ((*id).to_owned(), capacity.to_string()))
        .collect();
    assert_eq!(ids, expected);
    let response = get(
        addr,
        "/v1/regions/donau/datex2/parking-table",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(response.status(), 304);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_status_revalidates_until_a_reading_changes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, live) = serve(dir.path()).await;
    let path = "/v1/regions/donau/datex2/parking-status";
    let response = get(addr, path, &[]).await;
    let etag = response.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    // The newest reading: neu-ulm/p-3's, ten seconds before NOW (00:59:50).
    assert_eq!(
        response.headers()["last-modified"],
        "Tue, 24 Nov 2026 00:59:50 GMT"
    );
    for validators in [
        [("if-none-match", etag.as_str())],
        [("if-modified-since", "Tue, 24 Nov 2026 00:59:50 GMT")],
    ] {
        assert_eq!(get(addr, path, &validators).await.status(), 304);
    }
    live.set_facility("ulm", "p-3", FacilityLive::new(9, Some(50), NOW - 5_000));
    let response = get(addr, path, &[("if-none-match", &etag)]).await;
    assert_eq!(response.status(), 200);
    assert_ne!(
        response.headers()["etag"].to_str().ok(),
        Some(etag.as_str())
    );
    let rows = read_back(&response.bytes().await.expect("body"));
    assert_eq!(rows["ulm/p-3"].free, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_region_is_404_with_the_region_routes_wording() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (addr, _) = serve(dir.path()).await;
    for path in [
        "/v1/regions/atlantis/datex2/parking-status",
        "/v1/regions/atlantis/datex2/parking-table",
        "/v1/regions/atlantis/parking",
    ] {
        let response = get(addr, path, &[]).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"], "no region `atlantis` is visible to this key");
    }
}
