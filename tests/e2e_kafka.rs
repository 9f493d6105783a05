//! End to end against a real Kafka-protocol broker (Tansu): topics of two cities, a known
//! set of events with out-of-order, late and malformed ones, the `stadtpuls run` binary,
//! exact window results over HTTP and exact dead-letter messages.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::{ensure_topics, header};

use common::{ensure_broker, eventually, free_port, get, run_id, run_ready};

const MIN: i64 = 60_000;
/// The SQL key of the run, and its SHA-256 as configured.
const SQL_KEY: &str = "e2e-kafka-sql-key";
const SQL_KEY_SHA256: &str = "73da54e4238c18d75be8b13fab47cca10fc40e92880315116dec1796fd6f1f68";

struct World {
    producer: FutureProducer,
}

impl World {
    fn topic(&self, city: &str, kind: &str) -> String {
        format!("sensors.{city}.{kind}")
    }

    /// Produces in order (awaiting each delivery) and returns the offset of each message.
    async fn send(&self, topic: &str, payloads: &[String]) -> Vec<i64> {
        let mut offsets = Vec::new();
        for p in payloads {
            let record: FutureRecord<'_, str, str> =
                FutureRecord::to(topic).payload(p.as_str()).key("k");
            let delivery = self
                .producer
                .send(record, Duration::from_secs(10))
                .await
                .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
            offsets.push(delivery.offset);
        }
        offsets
    }
}

/// A traffic observation in the native format.
struct Tr(Value);

impl Tr {
    fn new(city: &str, sensor: &str, lane: i64, ts: i64, interval: i64, n: i64) -> Self {
        Tr(
            json!({"city": city, "sensor_id": sensor, "lane": lane, "ts": ts, "interval_s": interval, "vehicle_count": n}),
        )
    }

    fn speed(mut self, kmh: f64) -> Self {
        self.0["avg_speed_kmh"] = json!(kmh);
        self
    }

    fn occ(mut self, pct: f64) -> Self {
        self.0["occupancy_pct"] = json!(pct);
        self
    }

    fn heavy(mut self, n: i64) -> Self {
        self.0["heavy_vehicle_count"] = json!(n);
        self
    }

    fn s(&self) -> String {
        self.0.to_string()
    }
}

fn write_config(
    dir: &std::path::Path,
    run: &str,
    alpha: &str,
    beta: &str,
    port: u16,
) -> std::path::PathBuf {
    let csv_alpha = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
        a-t-1,traffic,Ring Nord,48.40,9.99,2,,50,\n\
        a-t-2,traffic,Ring Süd,48.39,9.98,1,,70,\n\
        a-p-1,parking_facility,Parkhaus Mitte,48.398,9.991,,100,,\n\
        a-z-1,parking_facility,Parkzone Altstadt,48.397,9.992,,,,\n\
        a-s-1,parking_spot,,48.3971,9.9921,,,,a-z-1\n\
        a-s-2,parking_spot,,48.3972,9.9922,,,,a-z-1\n";
    let csv_beta = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
        b-t-1,traffic,B10,49.00,8.40,1,,100,\n\
        b-p-1,parking_facility,P+R Nord,49.01,8.41,,50,,\n";
    std::fs::write(dir.join("alpha.csv"), csv_alpha).expect("write registry");
    std::fs::write(dir.join("beta.csv"), csv_beta).expect("write registry");
    let toml = format!(
        r#"{kafka}[windows]
sizes = ["1m", "15m"]
out_of_orderness = "30s"
idle_timeout = "1h"
# no lateness allowance: the late event below is dropped and dead-lettered
allowed_lateness = "0s"
[api]
bind = "127.0.0.1:{port}"
[history]
dir = "{hist}"
[output]
traffic_topic = "metrics-{run}.traffic"
traffic_lanes_topic = "metrics-{run}.traffic_lanes"
parking_topic = "metrics-{run}.parking"
[checkpoint]
dir = "{state}"
interval = "1s"
[[api_keys]]
principal = "e2e"
key_sha256 = "{SQL_KEY_SHA256}"
cities = ["*"]
[[cities]]
id = "{alpha}"
name = "Alpha"
timezone = "Europe/Berlin"
lat = 48.3984
lon = 9.9916
registry = "alpha.csv"
share = "open"
[[cities]]
id = "{beta}"
name = "Beta"
timezone = "Europe/Berlin"
lat = 49.0069
lon = 8.4037
registry = "beta.csv"
share = "open"
"#,
        kafka = common::kafka_section(
            &common::brokers(),
            &format!("stadtpuls-{run}"),
            &format!(r"^sensors\.(alpha|beta)-{run}\.(traffic|parking)$"),
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

async fn json_get(client: &reqwest::Client, url: &str) -> Option<Value> {
    let (status, body) = get(client, url).await;
    (status == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

fn window<'a>(body: &'a Value, start: &str) -> Option<&'a Value> {
    body["windows"]
        .as_array()?
        .iter()
        .find(|w| w["window_start"] == start)
}

fn iso(ts: i64) -> String {
    stadtpuls_processing::time::to_rfc3339(ts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_to_http_with_dead_letters() {
    let _broker = ensure_broker();
    let run = run_id();
    let alpha = format!("alpha-{run}");
    let beta = format!("beta-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &alpha, &beta, port);

    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    let mut topics: Vec<String> = [&alpha, &beta]
        .iter()
        .flat_map(|c| {
            [
                format!("sensors.{c}.traffic"),
                format!("sensors.{c}.parking"),
            ]
        })
        .collect();
    topics.push(format!("deadletter-{run}"));
    ensure_topics(&kafka, &topics, 1)
        .await
        .expect("create topics");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .create()
        .expect("producer");
    // Two hours ago, on an hour boundary: in the past (no future rejections) and aligned
    // so that no 15-minute window closes during the test.
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = (now - 2 * 3_600_000) / 3_600_000 * 3_600_000;
    let w = World { producer };

    let (app, client) = run_ready(&config, port, &dir.path().join("stadtpuls.log")).await;

    // Phase 1: window W1 = (t0, t0+1m] of both cities, bad input around good input, then
    // events at t0+2m on both traffic partitions so the watermark (t0+90s) closes W1.
    let at = w.topic(&alpha, "traffic");
    let bt = w.topic(&beta, "traffic");
    let a = &alpha;
    let good_in_array = Tr::new(a, "a-t-2", 0, t0 + MIN, 60, 6).speed(45.0).s();
    let bad_in_array = Tr::new(a, "a-t-2", 0, t0 + MIN, 60, 6).speed(999.0).s();
    let malformed = format!(r#"{{"city":"{a}","sensor_id":"a-t-1","ts":"#);
    let unknown = Tr::new(a, "a-t-9", 1, t0 + MIN, 60, 3).s();
    let future = Tr::new(a, "a-t-1", 1, now + 3_600_000, 60, 3).s();
    let phase1 = vec![
        Tr::new(a, "a-t-1", 1, t0 + 30_000, 30, 10)
            .speed(50.0)
            .occ(10.0)
            .heavy(1)
            .s(),
        Tr::new(a, "a-t-1", 2, t0 + 30_000, 30, 20)
            .speed(40.0)
            .occ(20.0)
            .heavy(0)
            .s(),
        malformed.clone(),
        Tr::new(a, "a-t-1", 1, t0 + MIN, 30, 12)
            .speed(60.0)
            .occ(8.0)
            .s(),
        Tr::new(a, "a-t-1", 2, t0 + MIN, 30, 18)
            .speed(30.0)
            .occ(25.0)
            .heavy(3)
            .s(),
        format!("[{good_in_array},{bad_in_array}]"),
        unknown.clone(),
        future.clone(),
        Tr::new(a, "a-t-2", 0, t0 + 2 * MIN, 60, 4).speed(50.0).s(),
    ];
    let alpha_offsets = w.send(&at, &phase1).await;
    w.send(
        &bt,
        &[
            Tr::new(&beta, "b-t-1", 0, t0 + 30_000, 30, 5)
                .speed(80.0)
                .s(),
            Tr::new(&beta, "b-t-1", 0, t0 + 2 * MIN, 60, 2)
                .speed(90.0)
                .s(),
        ],
    )
    .await;
    let ap = w.topic(&alpha, "parking");
    let over_capacity = json!({"city": a, "kind": "facility", "id": "a-p-1", "ts": t0 + 30_000, "free_spaces": 120, "total_spaces": 100}).to_string();
    let bad_status =
        json!({"city": a, "kind": "spot", "id": "a-s-1", "ts": t0 + 30_000, "status": "parked"})
            .to_string();
    let parking_offsets = w.send(&ap, &[
        json!({"city": a, "kind": "facility", "id": "a-p-1", "ts": t0 + 10_000, "free_spaces": 40, "total_spaces": 100}).to_string(),
        json!({"city": a, "kind": "spot", "id": "a-s-1", "facility_id": "a-z-1", "ts": iso(t0 + 20_000), "status": "free"}).to_string(),
        json!({"city": a, "kind": "spot", "id": "a-s-2", "ts": t0 + 25_000, "status": "occupied"}).to_string(),
        over_capacity.clone(),
        bad_status.clone(),
        // entries/exits ride along with a count: accepted, same level as offset 0
        json!({"city": a, "kind": "facility", "id": "a-p-1", "ts": t0 + 10_000, "free_spaces": 40, "total_spaces": 100, "entries": 3, "exits": 1}).to_string(),
    ]).await;
    w.send(&w.topic(&beta, "parking"), &[json!({"city": beta, "kind": "facility", "id": "b-p-1", "ts": t0 + 5_000, "free_spaces": 7}).to_string()]).await;

    let w1 = iso(t0);
    let sensor_url = |s: &str| format!("{}/v1/cities/{alpha}/traffic/{s}?window=1m", app.base);
    let a1 = eventually(Duration::from_secs(60), "W1 of a-t-1", || async {
        let body = json_get(&client, &sensor_url("a-t-1")).await?;
        window(&body, &w1).cloned()
    })
    .await;
    // Hand-worked: 4 observations on 2 lanes, 60 vehicles in 2×30 s per lane.
    assert_eq!(a1["window_end"], iso(t0 + MIN));
    assert_eq!(a1["observations"], 4);
    assert_eq!(a1["lanes_reporting"], 2);
    assert_eq!(a1["vehicles"], 60);
    assert_eq!(a1["flow_veh_h"], 3600.0);
    assert_eq!(a1["speed_time_mean_kmh"], 42.67); // (10·50+20·40+12·60+18·30)/60
    assert_eq!(a1["speed_space_mean_kmh"], 40.0); // 60/(10/50+20/40+12/60+18/30)
    assert_eq!(a1["density_veh_km"], 90.0);
    assert_eq!(a1["occupancy_pct"], 15.75);
    assert_eq!(a1["heavy_share_pct"], 8.33); // 4 heavy of 48 classified
    // Traffic state: 2 lanes at 50 km/h free flow → site class urban (v1 15, v2 35 km/h;
    // k1 30, k2 60 veh/km for 2 lanes). v 40 ≥ v2 with k 90 > k2 alone and no earlier
    // window → Z2, not congested. Every lane sent 2 × 30 s of the 60 s window.
    assert_eq!(a1["traffic_state"], "Z2");
    assert_eq!(a1["congested"], false);
    assert_eq!(a1["speed_ratio"], 0.8); // 40 / 50
    assert_eq!(a1["completeness_pct"], 100.0); // (4 × 30) / (60 × 2)
    // Per lane: lane 1 had 10 @ 50 + 12 @ 60 km/h, lane 2 had 20 @ 40 + 18 @ 30 km/h.
    let lanes = json_get(
        &client,
        &format!(
            "{}/v1/cities/{alpha}/traffic/a-t-1/lanes?window=1m",
            app.base
        ),
    )
    .await
    .expect("lanes");
    let lane = |n: u64| {
        lanes["lanes"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["lane"] == n))
            .cloned()
            .unwrap_or_else(|| panic!("lane {n} in {lanes}"))
    };
    assert_eq!(lane(1)["window_start"], w1);
    assert_eq!(lane(1)["vehicles"], 22);
    assert_eq!(lane(1)["flow_veh_h"], 1320.0);
    assert_eq!(lane(1)["speed_time_mean_kmh"], 55.45); // (500 + 720) / 22
    assert_eq!(lane(2)["vehicles"], 38);
    assert_eq!(lane(2)["speed_space_mean_kmh"], 34.55); // 38 / (20/40 + 18/30) = 38 / 1.1
    assert_eq!(lane(2)["completeness_pct"], 100.0);
    let b1 = json_get(
        &client,
        &format!("{}/v1/cities/{beta}/traffic/b-t-1?window=1m", app.base),
    )
    .await
    .expect("beta sensor");
    let b1 = window(&b1, &w1).expect("W1 of b-t-1");
    assert_eq!(b1["vehicles"], 5);
    assert_eq!(b1["flow_veh_h"], 600.0);
    // 1 lane at 100 km/h → motorway (v1 30, v2 80; k1 20, k2 50): v 80, k 7.5 → Z1; one
    // 30 s cross-section interval of a 60 s window.
    assert_eq!(b1["traffic_state"], "Z1");
    assert_eq!(b1["completeness_pct"], 50.0);

    // Speed spread (docs/metrics.md): a-t-1's interval speeds 50, 40, 60, 30 →
    // √((8600 − 180²/4) / 3) = √(500/3) = 12.91 km/h; per lane √(2·5²/1) = 7.07; b-t-1 has
    // one interval with a speed → null. The same in the API, `live_traffic`, the history
    // (`traffic_1m_latest`) and the output topics.
    let spread = (500.0f64 / 3.0).sqrt();
    assert_eq!(a1["speed_stddev_kmh"], 12.91);
    assert_eq!(lane(1)["speed_stddev_kmh"], 7.07);
    assert_eq!(lane(2)["speed_stddev_kmh"], 7.07);
    assert_eq!(b1.get("speed_stddev_kmh"), Some(&Value::Null));
    let close = |v: &Value, want: f64| v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9);
    let is_spread = |v: &Value| close(v, spread);
    for table in ["live_traffic", "traffic_1m_latest"] {
        let query = format!(
            "SELECT sensor_id, speed_stddev_kmh FROM {table} WHERE city = '{alpha}' \
             AND window_start = '{w1}' ORDER BY sensor_id"
        );
        let rows = eventually(Duration::from_secs(60), table, || async {
            let rows = common::sql_rows(&client, &app.base, SQL_KEY, &query).await?;
            (rows.len() == 2).then_some(rows)
        })
        .await;
        assert_eq!(rows[0]["sensor_id"], "a-t-1", "{table}");
        assert!(is_spread(&rows[0]["speed_stddev_kmh"]), "{table}: {rows:?}");
        assert!(rows[1]["speed_stddev_kmh"].is_null(), "{table}: {rows:?}");
    }
    let topics = ["traffic", "traffic_lanes"].map(|s| format!("metrics-{run}.{s}"));
    let start = stadtpuls_processing::time::to_rfc3339_seconds(t0);
    let keys = [
        format!("{alpha}/a-t-1/{start}/1m"),
        format!("{alpha}/a-t-2/{start}/1m"),
        format!("{alpha}/a-t-1/{start}/1m/1"),
    ];
    let records = common::topics::wait_for_keys(&topics, &keys).await;
    assert!(
        is_spread(&records[&keys[0]]["speed_stddev_kmh"]),
        "{records:?}"
    );
    // a-t-2: one interval with a speed (the array's other element was refused)
    assert_eq!(
        records[&keys[1]].get("speed_stddev_kmh"),
        Some(&Value::Null)
    );
    assert!(close(&records[&keys[2]]["speed_stddev_kmh"], 50f64.sqrt()));

    // Parking is a level, served as soon as it is processed; the parking partition is read
    // independently of the traffic one, so wait until both facilities have reported.
    let parking_url = format!("{}/v1/cities/{alpha}/parking", app.base);
    let parking = eventually(Duration::from_secs(60), "parking levels", || async {
        let body = json_get(&client, &parking_url).await?;
        let reported = body["facilities"]
            .as_array()?
            .iter()
            .filter(|f| {
                (f["facility_id"] == "a-p-1" || f["facility_id"] == "a-z-1") && !f["free"].is_null()
            })
            .count();
        (reported == 2).then_some(body)
    })
    .await;
    let facilities = parking["facilities"].as_array().expect("facilities");
    let find = |id: &str| {
        facilities
            .iter()
            .find(|f| f["facility_id"] == id)
            .cloned()
            .expect(id)
    };
    assert_eq!(find("a-p-1")["free"], 40);
    assert_eq!(find("a-p-1")["total"], 100);
    assert_eq!(find("a-p-1")["occupancy_pct"], 60.0);
    assert_eq!(find("a-p-1")["updated_at"], iso(t0 + 10_000));
    assert_eq!(find("a-z-1")["free"], 1);
    assert_eq!(find("a-z-1")["total"], 2);
    assert_eq!(find("a-p-1")["occupied"], 60);
    assert_eq!(find("a-p-1")["status"], "spacesAvailable");
    assert_eq!(find("a-z-1")["occupied"], 1);
    assert_eq!(find("a-z-1")["status"], "spacesAvailable");
    // Two hours old: stale, so left out of the city totals.
    assert_eq!(find("a-p-1")["stale"], true);
    assert_eq!(parking["totals"]["facilities_stale"], 2);
    assert_eq!(parking["totals"]["facilities_reporting"], 0);
    assert_eq!(parking["totals"]["total"], 0);
    let beta_parking = json_get(&client, &format!("{}/v1/cities/{beta}/parking", app.base))
        .await
        .expect("beta parking");
    assert_eq!(
        beta_parking["facilities"][0]["total"], 50,
        "registry capacity when none reported"
    );

    // Phase 2: a late event for closed W1, an out-of-order one for open W2, then closers.
    let late = Tr::new(a, "a-t-1", 1, t0 + 45_000, 30, 15).speed(10.0).s();
    let phase2_offsets = w
        .send(
            &at,
            &[
                late.clone(),
                Tr::new(a, "a-t-2", 0, t0 + 100_000, 20, 3).speed(30.0).s(),
                Tr::new(a, "a-t-1", 1, t0 + 4 * MIN, 60, 1).speed(50.0).s(),
            ],
        )
        .await;
    w.send(
        &bt,
        &[Tr::new(&beta, "b-t-1", 0, t0 + 4 * MIN, 60, 1)
            .speed(90.0)
            .s()],
    )
    .await;
    let w2 = iso(t0 + MIN);
    let a2 = eventually(Duration::from_secs(60), "W2 of a-t-2", || async {
        let body = json_get(&client, &sensor_url("a-t-2")).await?;
        window(&body, &w2).cloned()
    })
    .await;
    assert_eq!(a2["observations"], 2);
    assert_eq!(a2["vehicles"], 7);
    assert_eq!(a2["flow_veh_h"], 420.0); // 7·3600/min(60, 60+20): overlapping intervals capped at the window
    assert_eq!(a2["speed_space_mean_kmh"], 38.89); // 7/(4/50+3/30)
    // 1 lane at 70 km/h → arterial (v1 20, v2 50; k1 20, k2 50): v 38.89, k 10.8 → Z3;
    // 60 + 20 s received for a 60 s window, capped at 100 %.
    assert_eq!(a2["traffic_state"], "Z3");
    assert_eq!(a2["congested"], true);
    assert_eq!(a2["completeness_pct"], 100.0);
    let a2w1 = json_get(&client, &sensor_url("a-t-2"))
        .await
        .expect("a-t-2");
    assert_eq!(
        window(&a2w1, &w1).expect("W1 of a-t-2")["vehicles"],
        6,
        "good array element kept"
    );
    let again = json_get(&client, &sensor_url("a-t-1"))
        .await
        .expect("a-t-1");
    assert_eq!(
        window(&again, &w1).expect("W1")["vehicles"],
        60,
        "late event must not change a closed window"
    );

    // Latest window per sensor, query errors.
    let latest = json_get(
        &client,
        &format!("{}/v1/cities/{alpha}/traffic?window=1m", app.base),
    )
    .await
    .expect("latest");
    assert_eq!(latest["sensors"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        get(&client, &format!("{}/v1/cities/nowhere/traffic", app.base))
            .await
            .0,
        404
    );
    assert_eq!(get(&client, &sensor_url("a-t-404")).await.0, 404);
    assert_eq!(
        get(
            &client,
            &format!("{}/v1/cities/{alpha}/traffic?window=7m", app.base)
        )
        .await
        .0,
        400
    );

    // Metrics: rejections by reason, the late event.
    let metrics = eventually(Duration::from_secs(10), "late metric", || async {
        let (_, body) = get(&client, &format!("{}/metrics", app.base)).await;
        body.contains(r#"stadtpuls_events_late_total{kind="traffic",window="1m"} 1"#)
            .then_some(body)
    })
    .await;
    for reason in [
        "malformed",
        "speed_out_of_range",
        "unknown_sensor",
        "future_timestamp",
    ] {
        let line = format!(
            r#"stadtpuls_events_rejected_total{{city="{alpha}",kind="traffic",reason="{reason}"}} 1"#
        );
        assert!(metrics.contains(&line), "missing {line}");
    }

    // Dead letters: exactly the seven refused observations, with reason and origin.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("group.id", format!("dlq-reader-{run}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer
        .subscribe(&[&format!("deadletter-{run}")])
        .expect("subscribe");
    let mut got = BTreeSet::new();
    while got.len() < 7 {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("dead letters within 30 s")
            .expect("receive");
        let headers = m.headers().expect("headers");
        let h = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
        got.insert((
            h(header::REASON),
            h(header::TOPIC),
            h(header::OFFSET),
            h(header::INDEX),
            payload,
        ));
    }
    let ap_topic = w.topic(&alpha, "parking");
    let expected: BTreeSet<_> = [
        ("malformed", &at, alpha_offsets[2], "", malformed),
        (
            "speed_out_of_range",
            &at,
            alpha_offsets[5],
            "1",
            bad_in_array,
        ),
        ("unknown_sensor", &at, alpha_offsets[6], "", unknown),
        ("future_timestamp", &at, alpha_offsets[7], "", future),
        (
            "invalid_parking",
            &ap_topic,
            parking_offsets[3],
            "",
            over_capacity,
        ),
        ("malformed", &ap_topic, parking_offsets[4], "", bad_status),
        ("late", &at, phase2_offsets[0], "", late),
    ]
    .into_iter()
    .map(|(r, t, o, i, p)| (r.to_owned(), t.clone(), o.to_string(), i.to_owned(), p))
    .collect();
    assert_eq!(got, expected);

    let status = app.terminate();
    assert!(status.success(), "clean exit on SIGTERM, got {status:?}");
}
