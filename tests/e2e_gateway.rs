//! The HTTP push gateway through the `stadtpuls run` binary and a real broker: every
//! partner format pushed to `POST /v1/ingest/{city}` (and FIWARE to the NGSI-LD batch
//! upsert) with a push key comes out of the live API with the values a person reads in
//! the fixture (`ingest/tests/fixtures/feeds/`): the Porto car park's 132 free of 414,
//! Aachen's vacant spaces per DATEX II record, Stuttgart's in the legacy MDM profile, ParkAPI's Hofdiener 15 of 158, the Bosch
//! spot occupied (and, through the TTN webhook door `/v1/ingest/{city}/ttn` with plain
//! `application/json`, a second spot free), a native count. The 202 says where the record went, `/metrics` counts
//! the pushes per city, format and status, and every refusal class comes back from the
//! real server with its status (401, 403, 413, 415, 429 with `Retry-After`, 400).
//!
//! The formats are pushed in the time order of their fixtures (2018 … 2025, then now),
//! each after the one before is visible: every format has its own topic, hence its own
//! partition, and a partition falling idle must not leave the next one's rows late.

mod common;

use serde_json::Value;
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::datex2::STUTTGART_STATUS;
use common::feeds::{FeedCity, fixture};
use common::gateway::{hash, push, try_push, wait_levels, wait_metrics};
use common::{ensure_broker, free_port, get, run_id, run_ready};

/// The push key of every format.
const KEY: &str = "gateway-e2e-all-formats";
/// A key for native JSON only.
const NATIVE_KEY: &str = "gateway-e2e-native-only";
/// A key that floods (the 429).
const FLOOD_KEY: &str = "gateway-e2e-flood";

/// (registry id, Aachen record, vacant, capacity override): as `e2e_datex2` reads them.
const AACHEN: [(&str, &str, u64, u64); 4] = [
    ("aachen-p1", "P1", 412, 560),
    ("aachen-p9", "P9", 74, 500),
    ("aachen-p17", "P17", 429, 480),
    ("aachen-p18", "P18", 0, 569),
];

fn registry() -> String {
    let mut csv = String::from(
        "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
         trindade,parking_facility,Trindade,50.77,6.08,,400,,porto-ParkingLot-23889;urn:ngsi-ld:OffStreetParking:porto-ParkingLot-23889\n\
         hofdiener,parking_facility,Parkhaus Hofdiener,50.77,6.08,,158,,12717250\n\
         domshof,parking_facility,Domshof,50.77,6.08,,,,\n\
         d-1,parking_spot,Domshof 1,50.77,6.08,,,domshof,1000000000000001\n\
         d-2,parking_spot,Domshof 2,50.77,6.08,,,domshof,1000000000000002\n\
         native-p,parking_facility,Native,50.77,6.08,,300,,\n",
    );
    for (record, _) in STUTTGART_STATUS {
        csv.push_str(&format!(
            "stuttgart-{record},parking_facility,Stuttgart {record},50.77,6.08,,2000,,{record}\n"
        ));
    }
    for n in 1..=18 {
        csv.push_str(&format!(
            "aachen-p{n},parking_facility,Parkhaus {n},50.77,6.08,,1000,,P{n}\n"
        ));
    }
    csv
}

/// The feeds of every format, the push limits and the three keys.
fn tail(run: &str, city: &str) -> String {
    format!(
        r#"[[cities.feeds]]
topic = "fiware-{run}"
format = "fiware"
[[cities.feeds]]
topic = "parkapi-{run}"
format = "parkapi"
[[cities.feeds]]
topic = "datex2-{run}"
format = "datex2"
[[cities.feeds]]
topic = "ttn-{run}"
format = "ttn"
codec = "bosch-pls"
[push]
max_body_bytes = 65536
rate_per_s = 0.5
burst = 20
[[push_keys]]
principal = "partner"
key_sha256 = "{all}"
city = "{city}"
formats = ["native", "fiware", "parkapi", "datex2", "ttn"]
[[push_keys]]
principal = "native-only"
key_sha256 = "{native}"
city = "{city}"
formats = ["native"]
[[push_keys]]
principal = "flood"
key_sha256 = "{flood}"
city = "{city}"
formats = ["native"]
"#,
        all = hash(KEY),
        native = hash(NATIVE_KEY),
        flood = hash(FLOOD_KEY),
    )
}

/// The city's binary, ready, with every topic created; `(app, client, city, run)`.
async fn start(dir: &std::path::Path) -> (common::Stadtpuls, reqwest::Client, String, String) {
    let run = run_id();
    let city = format!("gw-{run}");
    let port = free_port();
    let registry = registry();
    let tail = tail(&run, &city);
    let config = FeedCity {
        brokers: common::brokers(),
        run: &run,
        city: &city,
        port,
        registry_csv: &registry,
        tail: &tail,
    }
    .write(dir);
    let topics: Vec<String> = ["fiware", "parkapi", "datex2", "ttn", "deadletter"]
        .iter()
        .map(|t| format!("{t}-{run}"))
        .chain(["traffic", "parking"].map(|k| format!("sensors.{city}.{k}")))
        .collect();
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &topics, 1)
        .await
        .expect("create topics");
    let (app, client) = run_ready(&config, port, &dir.join("log")).await;
    (app, client, city, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_partner_format_pushed_reaches_the_live_api() {
    let _broker = ensure_broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, client, city, run) = start(dir.path()).await;
    let ingest = format!("{}/v1/ingest/{city}", app.base);
    let upsert = format!("{}/ngsi-ld/v1/entityOperations/upsert", app.base);
    let mut bytes = std::collections::HashMap::<&str, usize>::new();

    // FIWARE (2018): the NGSI-LD door, as an IoT agent sends it (a batch of one entity,
    // no city in the path), then the same car park in keyValues to the city door.
    let entity: Value = serde_json::from_slice(&fixture(
        "fiware/OffStreetParking/example-normalized.jsonld",
    ))
    .expect("fixture is JSON");
    let batch = serde_json::to_vec(&Value::Array(vec![entity])).expect("batch");
    let batch_len = batch.len();
    let (status, _, answer) = push(
        &client,
        &upsert,
        Some(KEY),
        Some("application/ld+json"),
        batch,
    )
    .await;
    assert_eq!(status, 204, "NGSI-LD upsert: {answer}");
    wait_levels(&client, &app.base, &city, &[("trindade", 132, 414)]).await;
    let porto = fixture("fiware/OffStreetParking/example.json");
    *bytes.entry("fiware").or_default() += batch_len + porto.len();
    let (status, _, answer) = push(
        &client,
        &ingest,
        Some(KEY),
        Some("application/ld+json"),
        porto,
    )
    .await;
    assert_eq!(status, 202, "FIWARE: {answer}");
    assert_eq!(answer["topic"], format!("fiware-{run}"), "{answer}");
    assert_eq!(answer["partition"], 0, "{answer}");
    assert_eq!(
        answer["offset"], 1,
        "the upsert's record is offset 0: {answer}"
    );
    assert_eq!(answer["format"], "fiware", "{answer}");
    wait_metrics(
        &client,
        &app.base,
        &[format!(
            r#"stadtpuls_feed_observations_accepted_total{{city="{city}",format="fiware"}} 2"#
        )],
    )
    .await;

    // TTN (2023): the Bosch status uplink `AQ==` of device …01 → spot d-1 occupied (the
    // zone's total counts its registered spots, d-2 has not reported).
    let uplink = fixture("ttn/thingsboard_bosch-pls_tts-community_payload_1.json");
    *bytes.entry("ttn").or_default() += uplink.len();
    let (status, _, answer) = push(
        &client,
        &ingest,
        Some(KEY),
        Some("application/vnd.ttn.uplink+json"),
        uplink,
    )
    .await;
    assert_eq!(status, 202, "TTN: {answer}");
    assert_eq!(answer["topic"], format!("ttn-{run}"), "{answer}");
    wait_levels(&client, &app.base, &city, &[("domshof", 0, 2)]).await;
    // TTN as a webhook target: The Things Stack posts `application/json`, the path names
    // the format. The Bosch startup uplink of device …02 → spot d-2 free.
    let uplink = String::from_utf8(fixture(
        "ttn/thingsboard_bosch-pls_tts-community_payload_2.json",
    ))
    .expect("UTF-8 fixture")
    .replace("1000000000000001", "1000000000000002")
    .into_bytes();
    *bytes.entry("ttn").or_default() += uplink.len();
    let (status, _, answer) = push(
        &client,
        &format!("{ingest}/ttn"),
        Some(KEY),
        Some("application/json"),
        uplink,
    )
    .await;
    assert_eq!(status, 202, "TTN webhook: {answer}");
    assert_eq!(answer["topic"], format!("ttn-{run}"), "{answer}");
    assert_eq!(answer["format"], "ttn", "{answer}");
    wait_levels(&client, &app.base, &city, &[("domshof", 1, 2)]).await;

    // DATEX II, the legacy MDM profile (2023-10): Stuttgart's facility status table.
    let document = fixture("datex2/parkapi-sources_stuttgart-realtime.xml");
    *bytes.entry("datex2").or_default() += document.len();
    let (status, _, answer) = push(&client, &ingest, Some(KEY), Some("text/xml"), document).await;
    assert_eq!(status, 202, "DATEX II MDM: {answer}");
    assert_eq!(answer["topic"], format!("datex2-{run}"), "{answer}");
    let stuttgart: Vec<(String, u64)> = STUTTGART_STATUS
        .iter()
        .map(|(record, free)| (format!("stuttgart-{record}"), *free))
        .collect();
    let stuttgart: Vec<(&str, u64, u64)> = stuttgart
        .iter()
        .map(|(id, free)| (id.as_str(), *free, 2000))
        .collect();
    wait_levels(&client, &app.base, &city, &stuttgart).await;

    // DATEX II (2025-02): MDM Aachen's realtime status, as XML.
    let document = fixture("datex2/parkapi-sources_aachen-realtime.xml");
    *bytes.entry("datex2").or_default() += document.len();
    let (status, _, answer) = push(
        &client,
        &ingest,
        Some(KEY),
        Some("application/xml"),
        document,
    )
    .await;
    assert_eq!(status, 202, "DATEX II: {answer}");
    assert_eq!(answer["topic"], format!("datex2-{run}"), "{answer}");
    let aachen: Vec<(&str, u64, u64)> = AACHEN.iter().map(|(id, _, f, t)| (*id, *f, *t)).collect();
    wait_levels(&client, &app.base, &city, &aachen).await;

    // ParkAPI v3 (2025-06): the item, then the list (its second site has no uid).
    for file in [
        "park-api-v3_parking-site-item.json",
        "park-api-v3_parking-site-list.json",
    ] {
        let body = fixture(&format!("parkapi/{file}"));
        *bytes.entry("parkapi").or_default() += body.len();
        let (status, _, answer) = push(
            &client,
            &ingest,
            Some(KEY),
            Some("application/vnd.stadtpuls.parkapi+json"),
            body,
        )
        .await;
        assert_eq!(status, 202, "ParkAPI {file}: {answer}");
        assert_eq!(answer["topic"], format!("parkapi-{run}"), "{answer}");
    }
    wait_levels(&client, &app.base, &city, &[("hofdiener", 15, 158)]).await;

    // Native JSON (now), generic `application/json`: the key has several formats, so native.
    let ts = chrono::Utc::now().timestamp_millis() - 60_000;
    let native = format!(
        r#"{{"city":"{city}","kind":"facility","id":"native-p","ts":{ts},"free_spaces":120,"total_spaces":300}}"#
    )
    .into_bytes();
    *bytes.entry("native").or_default() += native.len();
    let (status, _, answer) = push(
        &client,
        &ingest,
        Some(KEY),
        Some("application/json"),
        native,
    )
    .await;
    assert_eq!(status, 202, "native: {answer}");
    assert_eq!(
        answer["topic"],
        format!("sensors.{city}.parking"),
        "{answer}"
    );
    assert_eq!(answer["format"], "native", "{answer}");
    wait_levels(&client, &app.base, &city, &[("native-p", 120, 300)]).await;

    // Everything at once: the earlier levels are still there.
    let mut all: Vec<(&str, u64, u64)> = vec![
        ("trindade", 132, 414),
        ("domshof", 1, 2),
        ("hofdiener", 15, 158),
        ("native-p", 120, 300),
    ];
    all.extend(aachen);
    all.extend(stuttgart);
    wait_levels(&client, &app.base, &city, &all).await;

    let mut lines = vec![
        format!(r#"stadtpuls_push_requests_total{{city="{city}",format="fiware",status="204"}} 1"#),
        format!(r#"stadtpuls_push_requests_total{{city="{city}",format="fiware",status="202"}} 1"#),
        format!(r#"stadtpuls_push_requests_total{{city="{city}",format="ttn",status="202"}} 2"#),
        format!(r#"stadtpuls_push_requests_total{{city="{city}",format="datex2",status="202"}} 2"#),
        format!(
            r#"stadtpuls_push_requests_total{{city="{city}",format="parkapi",status="202"}} 2"#
        ),
        format!(r#"stadtpuls_push_requests_total{{city="{city}",format="native",status="202"}} 1"#),
        format!(r#"stadtpuls_feed_messages_received_total{{city="{city}",format="datex2"}} 2"#),
        format!(r#"stadtpuls_feed_observations_accepted_total{{city="{city}",format="ttn"}} 2"#),
        format!(
            r#"stadtpuls_feed_observations_accepted_total{{city="{city}",format="parkapi"}} 2"#
        ),
    ];
    for (format, sum) in &bytes {
        lines.push(format!(
            r#"stadtpuls_push_body_bytes_total{{city="{city}",format="{format}"}} {sum}"#
        ));
    }
    wait_metrics(&client, &app.base, &lines).await;
    assert!(app.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_comes_back_from_the_real_server_with_its_status() {
    let _broker = ensure_broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, client, city, _run) = start(dir.path()).await;
    let ingest = format!("{}/v1/ingest/{city}", app.base);
    let json = Some("application/json");
    let body = || br#"{"kind":"facility","id":"native-p"}"#.to_vec();

    // (what, URL, key, Content-Type, body, status)
    type Case<'a> = (
        &'a str,
        String,
        Option<&'a str>,
        Option<&'a str>,
        Vec<u8>,
        u16,
    );
    let cases: [Case<'_>; 7] = [
        ("no key", ingest.clone(), None, json, body(), 401),
        (
            "unknown key",
            ingest.clone(),
            Some("nope"),
            json,
            body(),
            401,
        ),
        (
            "another city",
            format!("{}/v1/ingest/elsewhere", app.base),
            Some(KEY),
            json,
            body(),
            403,
        ),
        (
            "a format the key may not push",
            ingest.clone(),
            Some(NATIVE_KEY),
            Some("application/xml"),
            b"<d2LogicalModel/>".to_vec(),
            403,
        ),
        (
            "over push.max_body_bytes",
            ingest.clone(),
            Some(KEY),
            json,
            vec![b' '; 70_000],
            413,
        ),
        (
            "an unknown Content-Type",
            ingest.clone(),
            Some(KEY),
            Some("text/plain"),
            body(),
            415,
        ),
        (
            "broken JSON",
            ingest.clone(),
            Some(KEY),
            Some("application/ld+json"),
            b"{\"id\": ".to_vec(),
            400,
        ),
    ];
    for (what, url, key, content_type, body, want) in cases {
        // A reset connection would fail here: the refusals before the body is read say
        // `Connection: close`, so the client does not reuse a connection the server drops.
        let (status, headers, answer) = try_push(&client, &url, key, content_type, body)
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e:?}"));
        assert_eq!(status, want, "{what}: {answer}");
        if status != 400 {
            assert_eq!(
                headers.get("connection").and_then(|v| v.to_str().ok()),
                Some("close"),
                "{what}: refused unread"
            );
        }
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: a reason in the body: {answer}"
        );
    }

    // The flood key's bucket holds 20 (push.burst): refused bodies take tokens too, so
    // the 21st request is over the rate, told when to come back, and the other keys are not.
    for n in 0..20 {
        let (status, _, answer) =
            push(&client, &ingest, Some(FLOOD_KEY), json, b"[".to_vec()).await;
        assert_eq!(status, 400, "flood #{n}: {answer}");
    }
    let (status, headers, answer) =
        push(&client, &ingest, Some(FLOOD_KEY), json, b"[".to_vec()).await;
    assert_eq!(status, 429, "{answer}");
    let retry_after = headers.get("retry-after");
    let wait: u64 = retry_after
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without a Retry-After in seconds: {retry_after:?}"));
    assert!((1..=2).contains(&wait), "one token at 0.5/s: {wait} s");
    let (status, _, answer) = push(&client, &ingest, Some(NATIVE_KEY), json, b"[".to_vec()).await;
    assert_eq!(status, 400, "another key is not limited: {answer}");

    wait_metrics(
        &client,
        &app.base,
        &[
            r#"stadtpuls_push_requests_total{city="unknown",format="unknown",status="401"} 2"#
                .to_owned(),
            r#"stadtpuls_push_requests_total{city="unknown",format="unknown",status="403"} 1"#
                .to_owned(),
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="datex2",status="403"}} 1"#
            ),
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="native",status="413"}} 1"#
            ),
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="unknown",status="415"}} 1"#
            ),
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="fiware",status="400"}} 1"#
            ),
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="native",status="400"}} 21"#
            ),
            format!(
                r#"stadtpuls_push_requests_total{{city="{city}",format="native",status="429"}} 1"#
            ),
        ],
    )
    .await;
    let (_, metrics) = get(&client, &format!("{}/metrics", app.base)).await;
    assert!(
        !metrics.contains("stadtpuls_push_body_bytes_total{"),
        "nothing was accepted"
    );
    assert!(app.terminate().success());
}
