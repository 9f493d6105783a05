//! Dead letters through a real broker (Tansu) and `stadtpuls run` (issue #11, item 2).
//!
//! - A 1 000 000-byte message (an unclosed JSON array, under `kafka.max_message_bytes`) is
//!   refused as `malformed`; whole, its dead letter would be larger than librdkafka's
//!   `message.max.bytes` and the broker's default limit, refused on every retry, and the
//!   runner — which writes a batch's dead letters before it goes on — held every topic.
//!   Now the letter arrives cut to `kafka.deadletter_max_bytes` (256 KiB) with
//!   `stadtpuls.truncated` and `stadtpuls.original_bytes`, and the windows of the good
//!   messages around it close.
//! - A dead-letter topic that does not exist is created at start-up: without it every
//!   dead-letter write failed and ingest stalled at the first refused message.
//! - A `late` dead letter names the windows that dropped the observation
//!   (`stadtpuls.late_windows`, issue #12): before, an event too late for its 1-minute
//!   window but counted in the coarser ones was dead-lettered as plain `late`, and whoever
//!   re-processed it counted it twice there.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::{ensure_topics, header};

use common::{Stadtpuls, ensure_broker, eventually, free_port, get, run_id};

const MIN: i64 = 60_000;
/// The poison message's size: the issue's, under the default `kafka.max_message_bytes`
/// (1 MiB) and over librdkafka's default `message.max.bytes` (1 000 000) once headers
/// are added.
const POISON_BYTES: usize = 1_000_000;
/// The default `kafka.deadletter_max_bytes`.
const DEADLETTER_MAX_BYTES: usize = 256 * 1024;

/// The `[windows]` section of most tests here: 1-minute windows, no lateness allowed.
const ONE_MINUTE: &str = r#"sizes = ["1m"]
out_of_orderness = "30s"
idle_timeout = "1h"
allowed_lateness = "0s""#;

fn write_config(
    dir: &Path,
    run: &str,
    city: &str,
    deadletter: &str,
    port: u16,
    windows: &str,
) -> PathBuf {
    let csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
        s1,traffic,Ring,48.40,9.99,1,,50,\n";
    std::fs::write(dir.join("city.csv"), csv).expect("write registry");
    let toml = format!(
        r#"{kafka}[windows]
{windows}
[api]
bind = "127.0.0.1:{port}"
[history]
dir = "{history}"
[output]
enabled = false
[checkpoint]
dir = "{state}"
interval = "500ms"
[[cities]]
id = "{city}"
name = "Dead Letter City"
timezone = "Europe/Berlin"
lat = 48.40
lon = 9.99
registry = "city.csv"
share = "open"
"#,
        kafka = common::kafka_section(
            &common::brokers(),
            &format!("stadtpuls-dl-{run}"),
            &format!(r"^sensors\.{city}\.traffic$"),
            deadletter,
            "",
        ),
        history = dir.join("history").display(),
        state = dir.join("state").display(),
    );
    let path = dir.join("stadtpuls.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

/// A traffic observation of `s1`: `n` vehicles in the `interval` seconds ending at `ts`.
fn obs(city: &str, ts: i64, interval: i64, n: i64) -> String {
    json!({"city": city, "sensor_id": "s1", "lane": 0, "ts": ts, "interval_s": interval,
           "vehicle_count": n, "avg_speed_kmh": 40.0})
    .to_string()
}

/// `POISON_BYTES` of a JSON array of observations that never closes: `malformed`.
fn poison(city: &str, t0: i64) -> String {
    let element = obs(city, t0 + 30_000, 30, 1);
    let mut text = String::from("[");
    while text.len() < POISON_BYTES {
        text.push_str(&element);
        text.push(',');
    }
    text.truncate(POISON_BYTES);
    text
}

/// Two hours back on an hour boundary: windows align and nothing is in the future.
fn start_time() -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    (now - 2 * 3_600_000) / 3_600_000 * 3_600_000
}

/// A producer that may send the poison message (librdkafka refuses more than
/// `message.max.bytes`, 1 000 000 by default, payload and framing counted).
fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("message.max.bytes", "2000000")
        .create()
        .expect("producer")
}

/// Produces in order, awaiting each delivery; returns the offsets.
async fn send(producer: &FutureProducer, topic: &str, payloads: &[String]) -> Vec<i64> {
    let mut offsets = Vec::new();
    for payload in payloads {
        let record: FutureRecord<'_, str, str> =
            FutureRecord::to(topic).payload(payload.as_str()).key("s1");
        let delivery = producer
            .send(record, Duration::from_secs(30))
            .await
            .unwrap_or_else(|(e, _)| panic!("produce {} bytes to {topic}: {e}", payload.len()));
        offsets.push(delivery.offset);
    }
    offsets
}

/// The 1-minute window of `s1` starting at `start`, once the API has it.
async fn window(client: &reqwest::Client, base: &str, city: &str, start: i64) -> Value {
    window_of(client, base, city, "1m", start).await
}

/// The window of family `family` (`15m`, `2m/1m`) of `s1` starting at `start`, once the
/// API has it.
async fn window_of(
    client: &reqwest::Client,
    base: &str,
    city: &str,
    family: &str,
    start: i64,
) -> Value {
    let url = format!("{base}/v1/cities/{city}/traffic/s1?window={family}");
    let start = stadtpuls_processing::time::to_rfc3339(start);
    eventually(
        Duration::from_secs(60),
        &format!("window {family} {start}"),
        || async {
            let (status, body) = get(client, &url).await;
            let body: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
            body["windows"]
                .as_array()?
                .iter()
                .find(|w| w["window_start"] == start)
                .cloned()
        },
    )
    .await
}

fn dead_letter_reader(run: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("group.id", format!("dl-reader-{run}"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.message.max.bytes", "2000000")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

fn header_text(m: &BorrowedMessage<'_>, name: &str) -> Option<String> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_byte_poison_message_is_cut_and_ingest_goes_on() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("dl-{run}");
    let topic = format!("sensors.{city}.traffic");
    let deadletter = format!("deadletter-dl-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, &deadletter, port, ONE_MINUTE);
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &[topic.clone(), deadletter.clone()], 1)
        .await
        .expect("create topics");
    let producer = producer();
    let t0 = start_time();
    let poison = poison(&city, t0);
    assert_eq!(poison.len(), POISON_BYTES);

    let config_arg = config.display().to_string();
    let app = Stadtpuls::start(
        &["run", "--config", &config_arg],
        port,
        &dir.path().join("stadtpuls.log"),
    );
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(60), "readyz", || async {
        (get(&client, &format!("{}/readyz", app.base)).await.0 == 200).then_some(())
    })
    .await;

    // Window (t0, t0+1m]: 10 + 20 vehicles, the poison between them, then an event at
    // t0+2m whose watermark (t0+90s) closes it — all in one partition, behind the poison.
    let offsets = send(
        &producer,
        &topic,
        &[
            obs(&city, t0 + 30_000, 30, 10),
            poison.clone(),
            obs(&city, t0 + MIN, 30, 20),
            obs(&city, t0 + 2 * MIN, 60, 5),
        ],
    )
    .await;
    let first = window(&client, &app.base, &city, t0).await;
    assert_eq!(first["vehicles"], 30, "both good events around the poison");
    assert_eq!(first["observations"], 2);

    // Nothing stalls: a later batch closes the next window too. (The first window alone
    // proves little: the live view is updated by the pipeline step, before the runner
    // writes the batch's dead letters; a runner stuck there reads no further batch.)
    send(&producer, &topic, &[obs(&city, t0 + 4 * MIN, 60, 7)]).await;
    let second = window(&client, &app.base, &city, t0 + MIN).await;
    assert_eq!(second["vehicles"], 5);

    // The dead letter: cut to the limit, marked, pointing at the poison.
    let reader = dead_letter_reader(&run, &deadletter);
    let letter = tokio::time::timeout(Duration::from_secs(30), reader.recv())
        .await
        .expect("the dead letter within 30 s")
        .expect("receive");
    let payload = letter.payload().unwrap_or_default();
    let h = |name: &str| header_text(&letter, name);
    assert_eq!(h(header::REASON).as_deref(), Some("malformed"));
    assert_eq!(h(header::TOPIC).as_deref(), Some(topic.as_str()));
    assert_eq!(h(header::OFFSET), Some(offsets[1].to_string()));
    assert_eq!(h(header::TRUNCATED).as_deref(), Some("true"));
    assert_eq!(h(header::ORIGINAL_BYTES), Some(POISON_BYTES.to_string()));
    assert!(
        payload.len() < DEADLETTER_MAX_BYTES && payload.len() > DEADLETTER_MAX_BYTES - 4096,
        "payload cut to nearly 256 KiB: {} bytes",
        payload.len()
    );
    assert_eq!(payload, &poison.as_bytes()[..payload.len()], "its start");

    // Written at the first attempt: no failed write, nothing given up.
    let (_, metrics) = get(&client, &format!("{}/metrics", app.base)).await;
    assert!(
        !metrics.contains("stadtpuls_deadletter_failures_total{"),
        "no dead-letter write failed"
    );
    assert!(!metrics.contains("stadtpuls_deadletters_dropped_total{"));
    // One refusal counted (under city `unknown`: an unparseable array names no city).
    let rejected: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("stadtpuls_events_rejected_total{"))
        .collect();
    assert!(
        rejected.len() == 1 && rejected[0].ends_with(r#"reason="malformed"} 1"#),
        "{rejected:?}"
    );

    let status = app.terminate();
    assert!(status.success(), "clean exit on SIGTERM, got {status:?}");
}

/// Whether the broker lists `topic` (without creating it: metadata requests of this client
/// do not auto-create topics).
fn topic_exists(topic: &str) -> bool {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("consumer");
    consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .is_ok_and(|m| {
            m.topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dead_letter_topic_is_created_at_start() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("dlm-{run}");
    let topic = format!("sensors.{city}.traffic");
    let deadletter = format!("deadletter-missing-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = write_config(dir.path(), &run, &city, &deadletter, port, ONE_MINUTE);
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, std::slice::from_ref(&topic), 1)
        .await
        .expect("create the input topic");
    assert!(!topic_exists(&deadletter), "the test starts without it");

    let config_arg = config.display().to_string();
    let app = Stadtpuls::start(
        &["run", "--config", &config_arg],
        port,
        &dir.path().join("stadtpuls.log"),
    );
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(60), "readyz", || async {
        (get(&client, &format!("{}/readyz", app.base)).await.0 == 200).then_some(())
    })
    .await;
    assert!(topic_exists(&deadletter), "created at start-up");

    // A refused message between good ones: its dead letter is written, the window closes.
    let t0 = start_time();
    let producer = producer();
    let malformed = format!(r#"{{"city":"{city}","sensor_id":"s1","ts":"#);
    let offsets = send(
        &producer,
        &topic,
        &[
            obs(&city, t0 + 30_000, 30, 4),
            malformed.clone(),
            obs(&city, t0 + 2 * MIN, 60, 5),
        ],
    )
    .await;
    let first = window(&client, &app.base, &city, t0).await;
    assert_eq!(first["vehicles"], 4);
    // The runner got past the batch's dead letter: a later batch closes the next window.
    send(&producer, &topic, &[obs(&city, t0 + 4 * MIN, 60, 6)]).await;
    let second = window(&client, &app.base, &city, t0 + MIN).await;
    assert_eq!(second["vehicles"], 5);
    let reader = dead_letter_reader(&run, &deadletter);
    let letter = tokio::time::timeout(Duration::from_secs(30), reader.recv())
        .await
        .expect("the dead letter within 30 s")
        .expect("receive");
    assert_eq!(letter.payload(), Some(malformed.as_bytes()));
    assert_eq!(
        header_text(&letter, header::OFFSET),
        Some(offsets[1].to_string())
    );
    assert_eq!(header_text(&letter, header::TRUNCATED), None);

    let status = app.terminate();
    assert!(status.success(), "clean exit on SIGTERM, got {status:?}");
}

/// Issue #12: an event too late for its 1-minute window and for the older of its two
/// hopping 2m/1m windows, but counted in the newer one and in its 15-minute window, is
/// dead-lettered with exactly the two windows that dropped it; the API shows it in the
/// others and not in these, and the counters agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_letter_names_the_windows_that_dropped_it() {
    let _broker = ensure_broker();
    let run = run_id();
    let city = format!("dll-{run}");
    let topic = format!("sensors.{city}.traffic");
    let deadletter = format!("deadletter-late-{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let windows = r#"sizes = ["1m", "15m"]
hopping = ["2m/1m"]
out_of_orderness = "30s"
idle_timeout = "1h"
allowed_lateness = "0s""#;
    let config = write_config(dir.path(), &run, &city, &deadletter, port, windows);
    let kafka = KafkaConfig {
        brokers: common::brokers(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &[topic.clone(), deadletter.clone()], 1)
        .await
        .expect("create topics");
    let producer = producer();
    let t0 = start_time();
    let config_arg = config.display().to_string();
    let app = Stadtpuls::start(
        &["run", "--config", &config_arg],
        port,
        &dir.path().join("stadtpuls.log"),
    );
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(60), "readyz", || async {
        (get(&client, &format!("{}/readyz", app.base)).await.0 == 200).then_some(())
    })
    .await;

    // After t0+2m the partition's watermark is t0+90s: the late event (t0+45s, 10
    // vehicles) is past (t0, t0+1m] and the hopping (t0−1m, t0+1m], not past the hopping
    // (t0, t0+2m] nor (t0, t0+15m]. Then steps (within max_clock_jump) close them all.
    let late = obs(&city, t0 + 45_000, 30, 10);
    let offsets = send(
        &producer,
        &topic,
        &[
            obs(&city, t0 + 30_000, 30, 1),
            obs(&city, t0 + 2 * MIN, 60, 2),
            late.clone(),
            obs(&city, t0 + 8 * MIN, 60, 4),
            obs(&city, t0 + 16 * MIN, 60, 8),
        ],
    )
    .await;

    let reader = dead_letter_reader(&run, &deadletter);
    let letter = tokio::time::timeout(Duration::from_secs(30), reader.recv())
        .await
        .expect("the dead letter within 30 s")
        .expect("receive");
    let h = |name: &str| header_text(&letter, name);
    assert_eq!(h(header::REASON).as_deref(), Some("late"));
    assert_eq!(h(header::OFFSET), Some(offsets[2].to_string()));
    let iso = stadtpuls_processing::time::to_rfc3339_seconds;
    assert_eq!(
        h(header::LATE_WINDOWS),
        Some(format!("{}/1m,{}/2m/1m", iso(t0), iso(t0 - MIN))),
        "the windows that dropped it, and only those"
    );
    assert_eq!(letter.payload(), Some(late.as_bytes()));

    // What counted it and what did not, as the API serves it.
    let base = &app.base;
    let vehicles = |w: Value| w["vehicles"].as_u64();
    let fifteen = window_of(&client, base, &city, "15m", t0).await;
    assert_eq!(vehicles(fifteen), Some(1 + 2 + 10 + 4), "15m counted it");
    let newer_hop = window_of(&client, base, &city, "2m/1m", t0).await;
    assert_eq!(
        vehicles(newer_hop),
        Some(1 + 2 + 10),
        "(t0, t0+2m] counted it"
    );
    let older_hop = window_of(&client, base, &city, "2m/1m", t0 - MIN).await;
    assert_eq!(vehicles(older_hop), Some(1), "(t0−1m, t0+1m] dropped it");
    let minute = window_of(&client, base, &city, "1m", t0).await;
    assert_eq!(vehicles(minute), Some(1), "(t0, t0+1m] dropped it");

    // Counted once as refused, and per family it missed.
    let (_, metrics) = get(&client, &format!("{base}/metrics")).await;
    for line in [
        format!(
            r#"stadtpuls_events_rejected_total{{city="{city}",kind="traffic",reason="late"}} 1"#
        ),
        r#"stadtpuls_events_late_total{kind="traffic",window="1m"} 1"#.to_owned(),
        r#"stadtpuls_events_late_total{kind="traffic",window="2m/1m"} 1"#.to_owned(),
    ] {
        assert!(metrics.contains(&line), "missing {line}");
    }
    assert!(!metrics.contains(r#"stadtpuls_events_late_total{kind="traffic",window="15m"}"#));

    let status = app.terminate();
    assert!(status.success(), "clean exit on SIGTERM, got {status:?}");
}
