//! `stadtpuls bench --sse`: the push stream's latency from publication to a subscriber's
//! socket, with many subscribers connected over loopback.
//!
//! The harness serves the real API (accept loop, router, `GET /v1/stream`, the hub and
//! its dispatcher) on an ephemeral port, connects `--sse-clients` raw TCP subscribers,
//! and publishes rounds of closed traffic windows through the live view's port — the call
//! the pipeline makes in the step in which the watermark passes the windows' end. Each
//! subscriber notes when each event's bytes arrive on its socket; the latency is that
//! instant minus the instant the round was published.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use stadtpuls_api::stream::{Hub, HubLimits, StreamDoor};
use stadtpuls_api::{AppState, Edge, router};
use stadtpuls_config::{ApiConfig, Config, env_from_process};
use stadtpuls_processing::live::{LiveEvent, LiveState, TrafficEvent, TrafficWindowRow};
use stadtpuls_processing::model::contract::traffic::out;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

use super::bench::BenchArgs;

const T0: i64 = 1_795_478_400_000;

/// Runs the stream benchmark and prints p50/p99/max.
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let config = Config::demo(&env_from_process()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let registries = config
        .load_registries()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let clients = args.sse_clients;
    let per_round = args.sse_events;
    let rounds = args.sse_rounds;
    let hub = Arc::new(Hub::new(
        HubLimits {
            ring: config.api.stream_ring,
            client_queue: config.api.stream_client_queue,
        },
        1,
    ));
    let live = Arc::new(LiveState::new(3_600_000).with_events(hub.clone()));
    let state = AppState::new(
        live.clone(),
        &registries,
        vec![60],
        900_000,
        Arc::new(|| true),
    )
    .with_stream(StreamDoor::new(hub.clone(), Duration::from_secs(15)));
    tokio::spawn(hub.clone().dispatch());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let edge = Edge::from_config(&ApiConfig {
        max_connections: clients + 16,
        ..ApiConfig::default()
    });
    tokio::spawn(stadtpuls_api::edge::http::serve(
        listener,
        router(state),
        edge,
        std::future::pending(),
    ));

    // Publication instants by round; a subscriber reads the round from `window_start`.
    let published: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; rounds]));
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut stream = TcpStream::connect(addr).await.context("connect")?;
        stream
            .write_all(b"GET /v1/stream?cities=ulm&kinds=traffic HTTP/1.1\r\nHost: bench\r\n\r\n")
            .await?;
        let published = published.clone();
        let expected = rounds * per_round;
        tasks.push(tokio::spawn(async move {
            subscriber(stream, published, expected).await
        }));
    }
    while hub.subscribers() < clients {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("stream bench: {clients} subscribers, {rounds} rounds of {per_round} closed windows");
    for round in 0..rounds {
        let start = T0 + round as i64 * 60_000;
        let events = (0..per_round)
            .map(|sensor| {
                LiveEvent::Traffic(TrafficEvent {
                    city: "ulm".into(),
                    sensor_id: format!("ulm-t-{sensor:04}"),
                    window_s: 60,
                    slide_s: 60,
                    revision: 0,
                    row: TrafficWindowRow::new(start, start + 60_000)
                        .with(out::VEHICLES, 17u64)
                        .with(out::FLOW_VEH_H, 1020.0),
                })
            })
            .collect();
        published.lock().await[round] = Some(Instant::now());
        live.publish(events);
        tokio::time::sleep(Duration::from_millis(args.sse_interval_ms)).await;
    }
    let mut latencies: Vec<u32> = Vec::with_capacity(clients * rounds * per_round);
    let mut short = 0usize;
    for task in tasks {
        let (mut got, complete) = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .context("a subscriber did not finish within 30 s")???;
        short += usize::from(!complete);
        latencies.append(&mut got);
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[i]) / 1000.0
    };
    anyhow::ensure!(!latencies.is_empty(), "no event arrived");
    println!(
        "  {} deliveries, {} subscribers short; latency publish → socket: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        short,
        at(0.5),
        at(0.99),
        at(1.0)
    );
    println!(
        "RESULT {{\"sse_clients\":{clients},\"deliveries\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

/// Reads one subscriber's socket until `expected` events arrived: each event's latency in
/// microseconds, and whether all arrived.
async fn subscriber(
    mut stream: TcpStream,
    published: Arc<Mutex<Vec<Option<Instant>>>>,
    expected: usize,
) -> anyhow::Result<(Vec<u32>, bool)> {
    let mut latencies = Vec::with_capacity(expected);
    let mut text = String::new();
    let mut buf = vec![0u8; 64 * 1024];
    while latencies.len() < expected {
        let n = match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(read) => read?,
            Err(_) => return Ok((latencies, false)),
        };
        if n == 0 {
            return Ok((latencies, false));
        }
        let arrived = Instant::now();
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        let mut consumed = 0;
        while let Some(at) = text[consumed..].find("\"window_start\":\"") {
            let from = consumed + at + "\"window_start\":\"".len();
            let Some(end) = text[from..].find('"') else {
                break;
            };
            let start = stadtpuls_processing::time::parse_rfc3339(&text[from..from + end]);
            consumed = from + end;
            let Some(round) = start.map(|s| ((s - T0) / 60_000) as usize) else {
                continue;
            };
            if let Some(Some(sent)) = published.lock().await.get(round).copied() {
                let micros = arrived.saturating_duration_since(sent).as_micros();
                latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
        }
        text.drain(..consumed);
    }
    Ok((latencies, true))
}
