//! Partner feeds through a real broker and the `stadtpuls run` binary: every FIWARE
//! fixture and the ParkAPI (v3 and ParkAPI2) fixtures (`ingest/tests/fixtures/feeds/`) produced unchanged
//! to topics configured with their formats in `[[cities.feeds]]`, one record on a native
//! topic carrying only `content-type: application/ld+json`; the values a person reads in
//! the files come out of the live API (the Porto car park: 132 free of 414), the history
//! (SQL over `traffic_1m_latest`: four files of 197 vehicles each) and `/metrics`.

mod common;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::ensure_topics;

use common::feeds::{fixture, json_get};
use common::{ensure_broker, eventually, free_port, get, run_id, run_ready};

const SQL_KEY: &str = "e2e-kafka-sql-key";
const SQL_KEY_SHA256: &str = "73da54e4238c18d75be8b13fab47cca10fc40e92880315116dec1796fd6f1f68";

fn write_config(dir: &std::path::Path, run: &str, city: &str, port: u16) -> std::path::PathBuf {
    let csv = "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
        va-1,traffic,Avenida de Salamanca,41.151,-8.61,2,,,TrafficFlowObserved-Valladolid-osm-60821110;urn:ngsi-ld:TrafficFlowObserved:TrafficFlowObserved-Valladolid-osm-60821110\n\
        va-2,traffic,Closer,41.152,-8.61,1,,,urn:ngsi-ld:TrafficFlowObserved:closer\n\
        trindade,parking_facility,Trindade,41.1507,-8.6096,,400,,porto-ParkingLot-23889;urn:ngsi-ld:OffStreetParking:porto-ParkingLot-23889\n\
        velarde,parking_facility,Daoiz y Velarde,41.15,-8.61,,6,,santander:daoiz_velarde_1_5;urn:ngsi-ld:OnStreetParking:santander:daoiz_velarde_1_5\n\
        velarde-disabled,parking_facility,Daoiz y Velarde (disabled),41.15,-8.61,,2,,daoiz-velarde-1-5-disabled;urn:ngsi-ld:ParkingGroup:daoiz-velarde-1-5-disabled\n\
        velarde-zone,parking_facility,Daoiz y Velarde spots,41.15,-8.61,,,,\n\
        velarde-3,parking_spot,A-13,41.15,-8.61,,,velarde-zone,santander:daoiz_velarde_1_5:3;urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5:3\n\
        hofdiener,parking_facility,Parkhaus Hofdiener,41.15,-8.61,,158,,12717250\n\
        datteln-deck,parking_facility,Parkdeck StadtGalerie,41.15,-8.61,,207,,datteln-parkdeck-stadtgalerie\n\
        datteln-haus,parking_facility,Parkhaus StadtGalerie,41.15,-8.61,,76,,datteln-parkhaus-stadtgalerie\n\
        luisenhospital,parking_facility,Luisenhospital,41.15,-8.61,,70,,aachen-parkplatz-luisenhospital\n\
        altmarkt,parking_facility,Altmarkt,41.15,-8.61,,400,,dresdenaltmarkt\n\
        frauenkirche,parking_facility,An der Frauenkirche,41.15,-8.61,,120,,dresdenanderfrauenkirche\n";
    std::fs::write(dir.join("porto.csv"), csv).expect("write registry");
    let feeds: String = ["traffic", "offstreet", "onstreet", "groups", "spots"]
        .iter()
        .map(|t| format!("[[cities.feeds]]\ntopic = \"fiware-{run}.{t}\"\nformat = \"fiware\"\n"))
        .chain(std::iter::once(format!(
            "[[cities.feeds]]\ntopic = \"parkapi-{run}\"\nformat = \"parkapi\"\n"
        )))
        .collect();
    let toml = format!(
        r#"{kafka}[windows]
sizes = ["1m"]
out_of_orderness = "30s"
# every other partition is silent for the traffic windows: idle after 3 s, so the
# traffic topic alone moves their watermark
idle_timeout = "3s"
# the fixtures span 2016 to 2025, each topic in time order
max_clock_jump = "100000h"
[api]
bind = "127.0.0.1:{port}"
[history]
dir = "{hist}"
# the fixtures span 2016 to 2025: a retention counted back from the newest window
# (400 days by default) would expire the 2016 traffic window in the commit that closes
# the 2025 parking windows
retention = "5000d"
[output]
enabled = false
[checkpoint]
dir = "{state}"
interval = "1s"
[[api_keys]]
principal = "e2e"
key_sha256 = "{SQL_KEY_SHA256}"
cities = ["*"]
[[cities]]
id = "{city}"
name = "Porto"
timezone = "Europe/Lisbon"
lat = 41.15
lon = -8.61
registry = "porto.csv"
share = "open"
{feeds}"#,
        kafka = common::kafka_section(
            &common::brokers(),
            &format!("stadtpuls-{run}"),
            &format!(r"^sensors\.{city}\.(traffic|parking)$"),
            &format!("deadletter-{run}"),
            "",
        ),
        hist = dir.join("history").display(),
        state = dir.join("state").display(),
    );
    let path = dir.join("stadtpuls.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

async fn send(producer: &FutureProducer, topic: &str, payload: &[u8], content_type: Option<&str>) {
    let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).payload(payload).key("k");
    if let Some(value) = content_type {
        record = record.headers(OwnedHeaders::new().insert(Header {
            key: "content-type",
            value: Some(value),
        }));
    }
    producer
        .send(record, Duration::from_secs(10))
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fiware_and_parkapi_fixture_reaches_the_api_and_the_history() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("porto-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, port);
    let fiware = |t: &str| format!("fiware-{run}.{t}");
    let mut topics: Vec<String> = ["traffic", "offstreet", "onstreet", "groups", "spots"]
        .iter()
        .map(|t| fiware(t))
        .collect();
    let parkapi = format!("parkapi-{run}");
    let native = format!("sensors.{city}.parking");
    topics.extend([parkapi.clone(), native.clone(), format!("deadletter-{run}")]);
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &topics, 1)
        .await
        .expect("create topics");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .create()
        .expect("producer");

    let (app, client) = run_ready(&config, port, &dir.path().join("log")).await;

    let forms = [
        "example.json",
        "example-normalized.json",
        "example.jsonld",
        "example-normalized.jsonld",
    ];
    for form in forms {
        send(
            &producer,
            &fiware("traffic"),
            &fixture(&format!("fiware/TrafficFlowObserved/{form}")),
            None,
        )
        .await;
        send(
            &producer,
            &fiware("offstreet"),
            &fixture(&format!("fiware/OffStreetParking/{form}")),
            None,
        )
        .await;
        send(
            &producer,
            &fiware("groups"),
            &fixture(&format!("fiware/ParkingGroup/{form}")),
            None,
        )
        .await;
        send(
            &producer,
            &fiware("spots"),
            &fixture(&format!("fiware/ParkingSpot/{form}")),
            None,
        )
        .await;
    }
    // On-street: the normalized forms (2018-09-12) before the keyValues ones (2021-03-11).
    for form in [
        "example-normalized.json",
        "example-normalized.jsonld",
        "example.json",
        "example.jsonld",
    ] {
        send(
            &producer,
            &fiware("onstreet"),
            &fixture(&format!("fiware/OnStreetParking/{form}")),
            None,
        )
        .await;
    }
    // Five minutes later on the traffic topic: closes the 1-minute window of the four.
    let closer = r#"{"id":"urn:ngsi-ld:TrafficFlowObserved:closer","type":"TrafficFlowObserved","intensity":1,"dateObservedFrom":"2016-12-07T11:19:00Z","dateObservedTo":"2016-12-07T11:20:00Z"}"#;
    send(&producer, &fiware("traffic"), closer.as_bytes(), None).await;
    // ParkAPI2 pool documents (2021, 2022) before the v3 sites (2025): the topic in time order.
    for file in [
        "ParkAPI2_datteln-01.json",
        "ParkAPI2_datteln-02.json",
        "ParkAPI2_dresden-01.json",
        "park-api-v3_parking-site-item.json",
        "park-api-v3_parking-site-list.json",
    ] {
        send(
            &producer,
            &parkapi,
            &fixture(&format!("parkapi/{file}")),
            None,
        )
        .await;
    }
    // The header alone makes NGSI-LD of a record on the city's native topic.
    let ld = fixture("fiware/OffStreetParking/example.jsonld");
    send(&producer, &native, &ld, Some("application/ld+json")).await;

    // Live parking levels.
    let parking_url = format!("{}/v1/cities/{city}/parking", app.base);
    let wanted = [
        "trindade",
        "velarde",
        "velarde-disabled",
        "velarde-zone",
        "hofdiener",
        "datteln-deck",
        "datteln-haus",
        "altmarkt",
        "frauenkirche",
    ];
    let parking = eventually(Duration::from_secs(60), "parking levels", || async {
        let body = json_get(&client, &parking_url).await?;
        let facilities = body["facilities"].as_array()?;
        let reported = facilities
            .iter()
            .filter(|f| !f["free"].is_null() && wanted.iter().any(|w| f["facility_id"] == *w))
            .count();
        let onstreet_done = facilities.iter().any(|f| {
            f["facility_id"] == "velarde" && f["updated_at"] == "2021-03-11T15:51:02.000Z"
        });
        (reported == wanted.len() && onstreet_done).then_some(body)
    })
    .await;
    let find = |id: &str| -> Value {
        parking["facilities"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["facility_id"] == id).cloned())
            .unwrap_or_else(|| panic!("{id} in {parking}"))
    };
    let level = |id: &str| (find(id)["free"].clone(), find(id)["total"].clone());
    assert_eq!(
        level("trindade"),
        (132.into(), 414.into()),
        "Porto: 132 free of 414"
    );
    assert_eq!(find("trindade")["updated_at"], "2018-09-21T12:00:00.000Z");
    assert_eq!(level("velarde"), (3.into(), 6.into()));
    assert_eq!(level("velarde-disabled"), (1.into(), 2.into()));
    assert_eq!(
        level("velarde-zone"),
        (1.into(), 1.into()),
        "spot A-13 free"
    );
    assert_eq!(
        level("hofdiener"),
        (15.into(), 158.into()),
        "ParkAPI: 15 of 158"
    );
    assert_eq!(level("datteln-deck"), (197.into(), 207.into()), "ParkAPI2");
    assert_eq!(level("datteln-haus"), (63.into(), 76.into()), "ParkAPI2");
    assert_eq!(level("altmarkt"), (154.into(), 400.into()), "ParkAPI2");
    assert_eq!(
        level("frauenkirche"),
        (0.into(), 120.into()),
        "ParkAPI2: closed"
    );
    assert_eq!(find("altmarkt")["updated_at"], "2022-03-01T17:23:36.000Z");

    // History: the window (11:14, 11:15] holds the four traffic files, 197 vehicles each.
    let query = format!(
        "SELECT vehicles, observations, window_start FROM traffic_1m_latest \
         WHERE city = '{city}' AND sensor_id = 'va-1'"
    );
    let rows = eventually(Duration::from_secs(60), "traffic history", || async {
        let rows = common::sql_rows(&client, &app.base, SQL_KEY, &query).await?;
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["vehicles"], 4 * 197, "{rows:?}");
    assert_eq!(rows[0]["observations"], 4, "{rows:?}");

    // Counters per city and format: the keyValues group and spot carry no time (4), the
    // ParkAPI list's second site has no `uid` (1), Luisenhospital has no data (1).
    let metrics = eventually(Duration::from_secs(20), "feed metrics", || async {
        let (_, body) = get(&client, &format!("{}/metrics", app.base)).await;
        body.contains(&format!(
            r#"stadtpuls_feed_messages_received_total{{city="{city}",format="parkapi"}} 5"#
        ))
        .then_some(body)
    })
    .await;
    for line in [
        format!(r#"stadtpuls_feed_messages_received_total{{city="{city}",format="fiware"}} 22"#),
        format!(
            r#"stadtpuls_feed_observations_rejected_total{{city="{city}",format="fiware",reason="malformed"}} 4"#
        ),
        format!(
            r#"stadtpuls_feed_observations_rejected_total{{city="{city}",format="parkapi",reason="malformed"}} 1"#
        ),
        format!(
            r#"stadtpuls_feed_observations_rejected_total{{city="{city}",format="parkapi",reason="no_observation"}} 1"#
        ),
        format!(
            r#"stadtpuls_feed_observations_accepted_total{{city="{city}",format="parkapi"}} 6"#
        ),
        format!(
            r#"stadtpuls_feed_observations_accepted_total{{city="{city}",format="fiware"}} 18"#
        ),
    ] {
        assert!(metrics.contains(&line), "missing {line}");
    }
    assert!(app.terminate().success());
}
