//! `stadtpuls bench --sse --kafka BROKERS`: a parking message's way from the broker to a
//! push-stream subscriber, through the whole product.
//!
//! The harness runs `stadtpuls run` in-process (the demo's cities, its own topics and
//! consumer group on the given broker, no output topics), subscribes to `GET /v1/stream`
//! for Ulm's parking over loopback, then produces facility counts to Ulm's parking topic,
//! each a new free count, and notes when each one's `parking` event arrives on the socket.
//! The latency is that instant minus the instant the message was handed to the producer:
//! it includes the producer's linger and the broker's write as well as the consumer's fetch
//! (`kafka.batch_max_wait`), so it bounds "read from Kafka → SSE event" from above.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use stadtpuls_config::{Config, InstanceId, env_from_process};
use stadtpuls_ingest::kafka::{FeedProducer, ensure_topics};
use stadtpuls_ingest::runner::now_ms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::bench::{BUILD_PROFILE, BenchArgs};

const CITY: &str = "ulm";

/// Send instants by (facility, free count): what a `parking` event is matched against.
type Sent = Arc<Mutex<HashMap<(String, u64), Instant>>>;

/// Runs the benchmark and prints p50/p99/max and a `RESULT {…}` line.
pub async fn run(args: &BenchArgs, brokers: &str) -> anyhow::Result<()> {
    let mut config = Config::demo(&env_from_process()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let prefix = format!("ssebench-{stamp}");
    let topic = format!("{prefix}.{CITY}.parking");
    let dir = std::env::temp_dir().join(format!("stadtpuls-sse-kafka-bench-{stamp}"));
    config.kafka.brokers = brokers.to_owned();
    config.kafka.topic_pattern = format!(r"^{}\.[a-z0-9-]+\.parking$", regex_escape(&prefix));
    config.kafka.group_id = prefix.clone();
    config.kafka.instance_id = InstanceId::Dynamic;
    config.kafka.deadletter_topic = format!("{prefix}.deadletter");
    config.output.enabled = false;
    config.checkpoint.dir = dir.join("state");
    config.history.dir = dir.join("history");
    for city in &mut config.cities {
        city.feeds.clear();
        city.pull.clear();
    }
    config.push_keys.clear();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    config.api.bind = addr;
    let registries = config
        .load_registries()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let city = registries
        .iter()
        .find(|r| r.city.id == CITY)
        .context("the demo has Ulm")?;
    // Counted facilities only: a zone of spot sensors takes its level from its spots.
    let facilities: Vec<(String, u64)> = city
        .facilities()
        .filter(|f| city.spots_of(&f.id).next().is_none())
        .filter_map(|f| Some((f.id.clone(), u64::from(f.capacity?))))
        .filter(|(_, capacity)| *capacity >= 60)
        .collect();
    anyhow::ensure!(
        !facilities.is_empty(),
        "no counted facility in Ulm's registry"
    );
    ensure_topics(&config.kafka, std::slice::from_ref(&topic), 1).await?;
    let batch_wait = config.kafka.batch_max_wait;
    let producer = FeedProducer::new(&config.kafka)?;
    tokio::spawn(super::run::run_config(
        config,
        "stadtpuls bench --sse --kafka",
    ));
    wait_ready(addr).await?;

    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    stream
        .write_all(
            format!("GET /v1/stream?cities={CITY}&kinds=parking HTTP/1.1\r\nHost: bench\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let sent: Sent = Arc::default();
    let messages = args.sse_kafka_messages;
    let reader = tokio::spawn(subscriber(stream, sent.clone(), messages));
    // The pipeline reads from the end of a fresh group's topic only once it is assigned:
    // give the first fetch a moment, so the first messages are not waiting on the join.
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "stream bench through Kafka: {messages} facility counts to `{topic}` every {} ms, {} facilities, kafka.batch_max_wait {} ms",
        args.sse_interval_ms,
        facilities.len(),
        batch_wait.as_millis()
    );
    for i in 0..messages {
        let (facility, capacity) = &facilities[i % facilities.len()];
        // A new count for the facility each time (its level changes, so an event follows).
        let free = (i / facilities.len()) as u64 % (capacity - 1) + 1;
        let payload = format!(
            r#"{{"city":"{CITY}","kind":"facility","id":"{facility}","ts":{},"free_spaces":{free}}}"#,
            now_ms()
        );
        sent.lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert((facility.clone(), free), Instant::now());
        producer.send(&topic, facility, payload.as_bytes()).await?;
        tokio::time::sleep(Duration::from_millis(args.sse_interval_ms)).await;
    }
    producer.flush(Duration::from_secs(30))?;
    let mut latencies = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .context("the subscriber did not finish within 30 s")???;
    anyhow::ensure!(!latencies.is_empty(), "no parking event arrived");
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[i]) / 1000.0
    };
    println!(
        "  {} of {messages} counts arrived as events; latency produce → socket: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (profile {BUILD_PROFILE})",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    println!(
        "RESULT {{\"sse_kafka_messages\":{messages},\"events\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"batch_max_wait_ms\":{},\"profile\":\"{BUILD_PROFILE}\"}}",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0),
        batch_wait.as_millis()
    );
    let _ = std::fs::remove_dir_all(&dir);
    // The in-process pipeline runs until the process ends: end it here.
    std::process::exit(0);
}

/// Waits until the in-process instance answers `/readyz` with 200 (it joined its group).
async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            s.write_all(b"GET /readyz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                .await?;
            let mut head = [0u8; 16];
            let n = s.read(&mut head).await.unwrap_or(0);
            if head[..n].starts_with(b"HTTP/1.1 200") {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("the pipeline was not ready within 60 s (is the broker at the given address?)")
}

/// Reads the stream until `expected` events were matched or 10 s pass without one: each
/// matched event's latency in microseconds.
async fn subscriber(
    mut stream: TcpStream,
    sent: Sent,
    expected: usize,
) -> anyhow::Result<Vec<u32>> {
    let mut latencies = Vec::with_capacity(expected);
    let mut text = String::new();
    let mut buf = vec![0u8; 64 * 1024];
    while latencies.len() < expected {
        let n = match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(read) => read?,
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        let arrived = Instant::now();
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<serde_json::Value>(data) else {
                continue;
            };
            let (Some(facility), Some(free)) =
                (value["facility_id"].as_str(), value["free"].as_u64())
            else {
                continue;
            };
            let at = sent
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .remove(&(facility.to_owned(), free));
            if let Some(at) = at {
                let micros = arrived.saturating_duration_since(at).as_micros();
                latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
        }
    }
    Ok(latencies)
}

/// `prefix` with the regex metacharacters it can hold (`.` and `-` are the only ones a
/// stamp-made prefix has) escaped.
fn regex_escape(prefix: &str) -> String {
    prefix.replace('.', r"\.")
}
