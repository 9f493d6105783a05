//! Every partner-feed fixture (`ingest/tests/fixtures/feeds/`: FIWARE, DATEX II with the
//! legacy MDM profile and DATEX II 3, TTN, ParkAPI) through one `stadtpuls run` and a real
//! broker, twice: produced unchanged over Kafka to city A's feed topics, and pushed
//! through the HTTP gateway (`POST /v1/ingest/{city}`, `/v1/ingest/{city}/ttn`) to city B,
//! which has the same registry. The values a person reads in each file (table in
//! `e2e_fixtures/table.rs`: facility → free/total, spot → free/occupied, sensor →
//! vehicles) come out of the live API of both cities and out of the history (SQL over
//! `parking_1m_latest` and `traffic_1m_latest`) of both. A file in the fixture folder
//! that the table does not list fails the test.
//!
//! Windows: the files span 2016 to 2026. They are sent in time order, each after both
//! cities counted the one before (idle partitions drop out of the watermark after 3 s,
//! so the next family's topic never finds its rows late); a FIWARE count stamped now
//! closes every window at the end.

mod common;
#[path = "e2e_fixtures/table.rs"]
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::feeds::{FeedCity, json_get};
use common::gateway::{hash, push, wait_levels};
use common::{ensure_broker, eventually, free_port, get, run_id, run_ready_with_env, sql_rows};
use table::{Expect, Family, Fixture};

const PUSH_KEY: &str = "e2e-fixtures-push";
const SQL_KEY: &str = "e2e-fixtures-sql";
/// 64 MiB: NDW's trafficspeed capture is 50.8 MB of XML in one record (and one push).
const MAX_BYTES: usize = 64 * 1024 * 1024;
const FEEDS: &str = "ingest/tests/fixtures/feeds";
/// The car parks whose newest reading says `closed`: Aachen's P18
/// (`parkingSiteOpeningStatus`), Stuttgart's 12717253 and 12718764 (the MDM profile's
/// `parkingFacilityStatus`), Dresden's Frauenkirche (ParkAPI2 `status`). Their counters
/// still count spaces; a closed car park has none free, status `closed` and no occupancy.
const CLOSED: [&str; 4] = [
    "aachen-P18",
    "stuttgart-12717253",
    "stuttgart-12718764",
    "frauenkirche",
];
/// Open ones of the same feeds, for contrast.
const OPEN: [&str; 3] = ["aachen-P1", "stuttgart-12717315", "altmarkt"];

/// City A's feeds: one topic per family; the Nwave and Bosch uplinks on topics with
/// their codecs.
fn kafka_topic(family: Family, run: &str) -> String {
    let name = match family {
        Family::Fiware => "fiware",
        Family::Parkapi => "parkapi",
        Family::Datex2 => "datex2",
        Family::TtnNwave => "ttn-nwave",
        Family::TtnBosch => "ttn-bosch",
    };
    format!("{name}-a-{run}")
}

/// City A's feeds, city B with the same registry and one topic per format (a push goes
/// to the city's first topic of its format), B's push key, the SQL key.
fn tail(run: &str, b: &str) -> String {
    use Family::*;
    let mut tail = String::new();
    for family in [Fiware, Parkapi, Datex2, TtnNwave, TtnBosch] {
        let codec = match family {
            TtnNwave => "codec = \"nwave-nps\"\n",
            TtnBosch => "codec = \"bosch-pls\"\n",
            _ => "",
        };
        tail.push_str(&format!(
            "[[cities.feeds]]\ntopic = \"{}\"\nformat = \"{}\"\n{codec}",
            kafka_topic(family, run),
            family.format()
        ));
    }
    tail.push_str(&format!(
        "[[cities]]\nid = \"{b}\"\nname = \"{b}\"\ntimezone = \"Europe/Berlin\"\nlat = 50.77\nlon = 6.08\nregistry = \"registry.csv\"\nshare = \"open\"\n"
    ));
    for format in ["fiware", "parkapi", "datex2", "ttn"] {
        tail.push_str(&format!(
            "[[cities.feeds]]\ntopic = \"{format}-b-{run}\"\nformat = \"{format}\"\n"
        ));
    }
    // B's uplinks all land on one `ttn` topic: its codec is Nwave's, the Bosch uplinks
    // name their device model (`version_ids`), as the Things Stack adds it.
    tail.push_str("codec = \"nwave-nps\"\n");
    tail.push_str(&format!(
        r#"[push]
max_body_bytes = {MAX_BYTES}
rate_per_s = 100.0
burst = 1000
[[push_keys]]
principal = "partner"
key_sha256 = "{push}"
city = "{b}"
formats = ["fiware", "parkapi", "datex2", "ttn"]
[[api_keys]]
principal = "e2e"
key_sha256 = "{sql}"
cities = ["*"]
"#,
        push = hash(PUSH_KEY),
        sql = hash(SQL_KEY),
    ));
    tail
}

/// Every file below the fixture folder but its README, as `family/…` paths.
fn files_on_disk(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if entry.path().is_dir() {
            files_on_disk(&entry.path(), &path, out);
        } else if path != "README.md" {
            out.insert(path);
        }
    }
}

/// The bytes a fixture is sent as: unpacked if gzipped, with the table's edits.
fn payload(fixture: &Fixture) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FEEDS)
        .join(fixture.file);
    let raw = std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    let bytes = if fixture.file.ends_with(".gz") {
        let mut xml = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut xml)
            .unwrap_or_else(|e| panic!("gunzip {}: {e}", fixture.file));
        xml
    } else {
        raw
    };
    if fixture.edits.is_empty() {
        return bytes;
    }
    let mut text = String::from_utf8(bytes).expect("an edited fixture is UTF-8");
    for (from, to) in &fixture.edits {
        assert!(text.contains(from), "{}: no `{from}` to edit", fixture.file);
        text = text.replace(from, to);
    }
    text.into_bytes()
}

/// The push of `fixture` to city B: URL and Content-Type by family.
async fn push_to_b(client: &reqwest::Client, ingest: &str, fixture: &Fixture, body: Vec<u8>) {
    let (url, content_type, body) = match fixture.family {
        Family::Fiware => (ingest.to_owned(), "application/ld+json", body),
        Family::Parkapi => (
            ingest.to_owned(),
            "application/vnd.stadtpuls.parkapi+json",
            body,
        ),
        Family::Datex2 => (ingest.to_owned(), "application/xml", body),
        Family::TtnNwave => (format!("{ingest}/ttn"), "application/json", body),
        Family::TtnBosch => {
            let text = String::from_utf8(body).expect("UTF-8 uplink");
            let named = text.replacen(
                "\"f_port\":",
                "\"version_ids\": {\"brand_id\": \"bosch\", \"model_id\": \"tps110\"}, \"f_port\":",
                1,
            );
            (
                format!("{ingest}/ttn"),
                "application/json",
                named.into_bytes(),
            )
        }
    };
    let (status, _, answer) = push(client, &url, Some(PUSH_KEY), Some(content_type), body).await;
    assert_eq!(status, 202, "push {}: {answer}", fixture.file);
}

async fn produce(producer: &FutureProducer, topic: &str, payload: &[u8]) {
    let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).payload(payload).key("k");
    producer
        .send(record, Duration::from_secs(30))
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
}

/// Waits until `/metrics` counts `n` messages of `format` for `city`.
async fn wait_received(client: &reqwest::Client, base: &str, city: &str, format: &str, n: u32) {
    let line =
        format!(r#"stadtpuls_feed_messages_received_total{{city="{city}",format="{format}"}} {n}"#);
    eventually(Duration::from_secs(180), &line, || async {
        let (_, body) = get(client, &format!("{base}/metrics")).await;
        body.lines().any(|l| l == line).then_some(())
    })
    .await;
}

/// (facility → free/total) and (sensor → vehicles) the whole table leaves behind.
fn expected(table: &[Fixture]) -> (BTreeMap<String, (u64, u64)>, BTreeMap<String, u64>) {
    let (mut levels, mut vehicles) = (BTreeMap::new(), BTreeMap::new());
    for fixture in table {
        match &fixture.expect {
            Expect::Levels(l) => {
                for (id, free, total) in l {
                    levels.insert(id.clone(), (*free, *total));
                }
            }
            Expect::Vehicles(v) => {
                for (id, n) in v {
                    *vehicles.entry((*id).to_owned()).or_default() += n;
                }
            }
            Expect::Nothing(_) => {}
        }
    }
    (levels, vehicles)
}

/// `column` of every row, keyed by `key` (as text).
fn by_key(rows: &[Value], key: &str, columns: &[&str]) -> BTreeMap<String, Vec<Value>> {
    rows.iter()
        .map(|r| {
            let id = r[key].as_str().unwrap_or_default().to_owned();
            (id, columns.iter().map(|c| r[*c].clone()).collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_over_kafka_and_the_gateway_reaches_the_api_and_the_history() {
    let table = table::fixtures();
    let mut on_disk = BTreeSet::new();
    files_on_disk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(FEEDS),
        "",
        &mut on_disk,
    );
    let listed: BTreeSet<String> = table.iter().map(|f| f.file.to_owned()).collect();
    let missing: Vec<&String> = on_disk.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "fixtures not in the table of tests/e2e_fixtures/table.rs: {missing:?}"
    );
    let gone: Vec<&String> = listed.difference(&on_disk).collect();
    assert!(gone.is_empty(), "table rows without a file: {gone:?}");

    let _broker = ensure_broker();
    let run = run_id();
    let (a, b) = (format!("fx-a-{run}"), format!("fx-b-{run}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let registry = table::registry();
    let tail = tail(&run, &b);
    let config = FeedCity {
        brokers: common::brokers(),
        run: &run,
        city: &a,
        port,
        registry_csv: &registry,
        tail: &tail,
    }
    .write(dir.path());
    let mut topics: Vec<String> = [
        Family::Fiware,
        Family::Parkapi,
        Family::Datex2,
        Family::TtnNwave,
        Family::TtnBosch,
    ]
    .iter()
    .map(|f| kafka_topic(*f, &run))
    .collect();
    topics.extend(["fiware", "parkapi", "datex2", "ttn"].map(|f| format!("{f}-b-{run}")));
    topics.push(format!("deadletter-{run}"));
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &topics, 1)
        .await
        .expect("create topics");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("message.max.bytes", (MAX_BYTES + 65_536).to_string())
        .create()
        .expect("producer");
    // The history keeps what it was given: the fixtures' windows (2016 on) are years
    // before the closer's (now), beyond the default retention of 400 days.
    let env = [
        ("STADTPULS_KAFKA__MAX_MESSAGE_BYTES", MAX_BYTES.to_string()),
        ("STADTPULS_HISTORY__RETENTION", "8000d".to_owned()),
    ];
    let (app, client) = run_ready_with_env(&config, &env, port, &dir.path().join("log")).await;
    let ingest = format!("{}/v1/ingest/{b}", app.base);

    let mut received: BTreeMap<&str, u32> = BTreeMap::new();
    for fixture in &table {
        if let Expect::Nothing(why) = &fixture.expect {
            eprintln!("{}: nothing to see ({why})", fixture.file);
        }
        let body = payload(fixture);
        produce(&producer, &kafka_topic(fixture.family, &run), &body).await;
        push_to_b(&client, &ingest, fixture, body).await;
        let format = fixture.family.format();
        let n = received.entry(format).or_default();
        *n += 1;
        for city in [&a, &b] {
            wait_received(&client, &app.base, city, format, *n).await;
        }
    }
    // Now (a minute ago), a count and a car park: closes every traffic and parking window
    // of both cities (each stream has its own watermark).
    let now = chrono::Utc::now();
    let stamp = |minutes| (now - chrono::Duration::minutes(minutes)).format("%Y-%m-%dT%H:%M:%SZ");
    let closer = format!(
        r#"[{{"id":"urn:ngsi-ld:TrafficFlowObserved:closer","type":"TrafficFlowObserved","intensity":1,"dateObservedFrom":"{}","dateObservedTo":"{}"}},
            {{"id":"urn:ngsi-ld:OffStreetParking:closer","type":"OffStreetParking","availableSpotNumber":1,"totalSpotNumber":2,"dateObserved":"{}"}}]"#,
        stamp(2),
        stamp(1),
        stamp(1),
    );
    produce(
        &producer,
        &kafka_topic(Family::Fiware, &run),
        closer.as_bytes(),
    )
    .await;
    let (status, _, answer) = push(
        &client,
        &ingest,
        Some(PUSH_KEY),
        Some("application/ld+json"),
        closer.into_bytes(),
    )
    .await;
    assert_eq!(status, 202, "closer: {answer}");

    let (levels, vehicles) = expected(&table);
    let want: Vec<(&str, u64, u64)> = levels
        .iter()
        .map(|(id, (f, t))| (id.as_str(), *f, *t))
        .collect();
    for city in [&a, &b] {
        // Live: every facility's level, every sensor's latest closed window.
        wait_levels(&client, &app.base, city, &want).await;
        let url = format!("{}/v1/cities/{city}/traffic", app.base);
        let live = eventually(Duration::from_secs(60), "live traffic windows", || async {
            let body = json_get(&client, &url).await?;
            let rows = by_key(body["sensors"].as_array()?, "sensor_id", &["vehicles"]);
            vehicles
                .keys()
                .all(|s| rows.contains_key(s))
                .then_some(rows)
        })
        .await;
        for (sensor, n) in &vehicles {
            assert_eq!(
                live[sensor],
                [Value::from(*n)],
                "{city}: live vehicles of {sensor}"
            );
        }
        // Live: closed is a state of its own, not a full car park.
        let body = json_get(&client, &format!("{}/v1/cities/{city}/parking", app.base))
            .await
            .expect("the city's parking");
        let opening = by_key(
            body["facilities"].as_array().expect("facilities"),
            "facility_id",
            &["status", "opening_status", "occupancy_pct", "free"],
        );
        for id in CLOSED {
            assert_eq!(
                opening[id],
                [json!("closed"), json!("closed"), Value::Null, json!(0)],
                "{city}: live {id}"
            );
        }
        for id in OPEN {
            assert_eq!(opening[id][1], json!("open"), "{city}: live {id}");
            assert_ne!(opening[id][0], json!("closed"), "{city}: live {id}");
        }
        // History: the latest window of every facility; every sensor's vehicles.
        let parking_sql = format!(
            "SELECT facility_id, free, total, status, opening_status, occupancy_pct \
             FROM parking_1m_latest WHERE city = '{city}' \
             QUALIFY ROW_NUMBER() OVER (PARTITION BY facility_id ORDER BY window_start DESC) = 1"
        );
        let traffic_sql = format!(
            "SELECT sensor_id, SUM(vehicles) AS vehicles FROM traffic_1m_latest \
             WHERE city = '{city}' GROUP BY sensor_id"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let (parking, traffic, states) = loop {
            let parking = sql_rows(&client, &app.base, SQL_KEY, &parking_sql).await;
            let traffic = sql_rows(&client, &app.base, SQL_KEY, &traffic_sql).await;
            let parking = parking.unwrap_or_default();
            let states = by_key(
                &parking,
                "facility_id",
                &["status", "opening_status", "occupancy_pct"],
            );
            let parking = by_key(&parking, "facility_id", &["free", "total"]);
            let traffic = by_key(&traffic.unwrap_or_default(), "sensor_id", &["vehicles"]);
            let missing: Vec<&String> = levels
                .keys()
                .filter(|f| !parking.contains_key(*f))
                .chain(vehicles.keys().filter(|s| !traffic.contains_key(*s)))
                .collect();
            if missing.is_empty() {
                break (parking, traffic, states);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{city}: no history of {missing:?} after 60 s; parking {parking:?}, traffic {traffic:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        for (facility, (free, total)) in &levels {
            assert_eq!(
                parking[facility],
                [Value::from(*free), Value::from(*total)],
                "{city}: history of {facility}"
            );
        }
        // History: the closed ones closed, with no occupancy; the open ones open.
        for id in CLOSED {
            assert_eq!(
                states[id],
                [json!("closed"), json!("closed"), Value::Null],
                "{city}: history of {id}"
            );
        }
        for id in OPEN {
            assert_eq!(states[id][1], json!("open"), "{city}: history of {id}");
        }
        for (sensor, n) in &vehicles {
            assert_eq!(
                traffic[sensor],
                [Value::from(*n)],
                "{city}: history of {sensor}"
            );
        }
    }
    // The same outcome over both paths, every accepted and refused observation; the
    // refusals the table explains among them.
    let (_, metrics) = get(&client, &format!("{}/metrics", app.base)).await;
    let outcome = |city: &str| -> BTreeSet<String> {
        let label = format!("city=\"{city}\",");
        metrics
            .lines()
            .filter(|l| l.starts_with("stadtpuls_feed_observations_") && l.contains(&label))
            .map(|l| l.replace(&label, ""))
            .collect()
    };
    assert_eq!(
        outcome(&a),
        outcome(&b),
        "Kafka (A) and the gateway (B) alike"
    );
    for explained in [
        // the keyValues ParkingGroup and ParkingSpot: no time
        r#"stadtpuls_feed_observations_rejected_total{format="fiware",reason="malformed"} 4"#,
        // the ParkAPI v3 list's `uidx`; Luisenhospital's nodata
        r#"stadtpuls_feed_observations_rejected_total{format="parkapi",reason="malformed"} 1"#,
        r#"stadtpuls_feed_observations_rejected_total{format="parkapi",reason="no_observation"} 1"#,
        // the Nwave heartbeat and startup
        r#"stadtpuls_feed_observations_rejected_total{format="ttn",reason="no_observation"} 2"#,
        // the four static parking tables, NDW's site table and its bare record; Stuttgart's
        // 9 `statusUnknown` records without counts
        r#"stadtpuls_feed_observations_rejected_total{format="datex2",reason="malformed"} 15"#,
        // Stuttgart's two records stamped 1970
        r#"stadtpuls_feed_observations_rejected_total{format="datex2",reason="timestamp_out_of_range"} 2"#,
        // NDW truck parking NL-12_8
        r#"stadtpuls_feed_observations_rejected_total{format="datex2",reason="occupancy_out_of_range"} 1"#,
    ] {
        assert!(
            outcome(&a).contains(explained),
            "{explained} in {:?}",
            outcome(&a)
        );
    }
    assert!(app.terminate().success());
}
