//! The listeners' edge over real sockets on 127.0.0.1: half-sent requests are closed after
//! the header-read timeout while good requests are answered, connections over the budget
//! are refused and counted, a shutdown is not held by slow clients, and the Flight SQL
//! listener gets the same bounds.
//!
//! The metrics are process-wide, so the tests take turns ([`SERIAL`]) and compare counts
//! before and after.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stadtpuls_api::edge::{ConnectionLimit, Edge};
use stadtpuls_api::metrics::{HTTP_CONNECTIONS_REFUSED, HTTP_CONNECTIONS_TIMED_OUT};
use stadtpuls_api::{AppState, SqlEngine, router};
use stadtpuls_config::Config;
use stadtpuls_processing::live::LiveState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A request whose head never ends: the blank line is missing.
const HALF_SENT: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";

/// A server of the real accept loop on an ephemeral loopback port.
struct Running {
    addr: SocketAddr,
    limit: ConnectionLimit,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
}

fn edge(header_read_timeout: Duration, max_connections: usize, drain: Duration) -> Edge {
    Edge {
        header_read_timeout,
        connections: ConnectionLimit::new(max_connections),
        drain,
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn start(edge: Edge) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let state = AppState::new(
        Arc::new(LiveState::new(60_000)),
        &[],
        vec![60],
        900_000,
        Arc::new(|| true),
    );
    let (stop, stop_rx) = watch::channel(false);
    let limit = edge.connections.clone();
    let server = tokio::spawn(stadtpuls_api::edge::http::serve(
        listener,
        router(state),
        edge,
        stopped(stop_rx),
    ));
    Running {
        addr,
        limit,
        stop,
        server,
    }
}

/// One complete request over a fresh connection (`Connection: close`): the response as
/// text, read to the end within 5 s.
async fn request(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("response within 5 s")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

/// Reads until the server closes the connection (end of stream or reset); what it sent
/// and when it closed, or `None` if it was still open at `deadline`.
async fn closed_by(stream: &mut TcpStream, deadline: Instant) -> Option<(String, Instant)> {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let read = tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await;
        match read {
            Err(_elapsed) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((
                    String::from_utf8_lossy(&received).into_owned(),
                    Instant::now(),
                ));
            }
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Waits up to 3 s until `limit` counts `open` connections (the server accepts them
/// asynchronously); returns the count then. The callers check it after the behaviour, so
/// a server without the bounds fails on what a client sees.
async fn settle(limit: &ConnectionLimit, open: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(3);
    while limit.open() != open && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    limit.open()
}

/// The value of a sample in a Prometheus text exposition, e.g. `name{server="api"}`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

fn timed_out(server: &str) -> u64 {
    HTTP_CONNECTIONS_TIMED_OUT
        .with_label_values(&[server])
        .get()
}

fn refused(server: &str) -> u64 {
    HTTP_CONNECTIONS_REFUSED.with_label_values(&[server]).get()
}

/// 200 clients each send half a request head and wait: the server closes every one about
/// `header_read_timeout` (1 s) after accepting it, counts each, and answers a complete
/// request at once meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_after_the_header_timeout() {
    let _turn = SERIAL.lock().await;
    let timeout = Duration::from_secs(1);
    let running = start(edge(timeout, 1024, Duration::from_secs(5))).await;
    let before = timed_out("api");
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(running.addr).await.expect("connect");
        stream.write_all(HALF_SENT).await.expect("write");
        slow.push((stream, Instant::now()));
    }
    let asked = Instant::now();
    let response = request(running.addr, "/healthz").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "a complete request waited {:?} beside 200 half-sent ones",
        asked.elapsed()
    );
    let deadline = Instant::now() + timeout + Duration::from_secs(3);
    for (i, (stream, sent)) in slow.iter_mut().enumerate() {
        let (_, at) = closed_by(stream, deadline)
            .await
            .unwrap_or_else(|| panic!("half-sent request {i} still open 4 s after the last"));
        let held = at - *sent;
        assert!(
            held >= timeout - Duration::from_millis(100),
            "half-sent request {i} closed after {held:?}, before the header timeout"
        );
    }
    assert_eq!(settle(&running.limit, 0).await, 0);
    assert_eq!(timed_out("api") - before, 200, "each timeout counted");
    let _ = running.stop.send(true);
    running.server.await.expect("join").expect("serve");
}

/// With a budget of 8, eight idle connections fill it: five more are answered 503 and
/// closed at once, a good request too, every refusal is counted; once the idle ones are
/// gone good requests are served again and `/metrics` shows the counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused_and_counted() {
    let _turn = SERIAL.lock().await;
    let running = start(edge(Duration::from_secs(30), 8, Duration::from_secs(1))).await;
    let before = refused("api");
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(running.addr).await.expect("connect"));
    }
    let filled = settle(&running.limit, 8).await;
    for i in 0..5 {
        let mut extra = TcpStream::connect(running.addr).await.expect("connect");
        let deadline = Instant::now() + Duration::from_secs(2);
        let (answer, _) = closed_by(&mut extra, deadline)
            .await
            .unwrap_or_else(|| panic!("connection {} over the limit still open after 2 s", 9 + i));
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("too many connections"), "{answer}");
    }
    let full = request(running.addr, "/healthz").await;
    assert!(full.starts_with("HTTP/1.1 503"), "{full}");
    assert_eq!(refused("api") - before, 6, "each refusal counted");
    assert_eq!(filled, 8, "the idle connections took the budget");
    assert_eq!(
        running.limit.open(),
        8,
        "the idle connections keep their slots"
    );

    drop(idle);
    assert_eq!(settle(&running.limit, 0).await, 0);
    let ok = request(running.addr, "/healthz").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let metrics = request(running.addr, "/metrics").await;
    let count = sample(
        &metrics,
        "stadtpuls_http_connections_refused_total{server=\"api\"}",
    )
    .unwrap_or_else(|| panic!("no refusal count in /metrics: {metrics}"));
    assert_eq!(count as u64, refused("api"));
    assert_eq!(
        sample(&metrics, "stadtpuls_http_connections{server=\"api\"}"),
        Some(1.0),
        "the scrape's own connection is the only one open"
    );
    let _ = running.stop.send(true);
    running.server.await.expect("join").expect("serve");
}

/// A shutdown with ten half-sent requests (header timeout 60 s) and an idle keep-alive
/// connection: the server returns within its 1 s drain plus margin, every connection
/// closed, instead of waiting for the clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_not_held_by_slow_clients() {
    let _turn = SERIAL.lock().await;
    let drain = Duration::from_secs(1);
    let running = start(edge(Duration::from_secs(60), 64, drain)).await;
    let mut open = Vec::new();
    for _ in 0..10 {
        let mut stream = TcpStream::connect(running.addr).await.expect("connect");
        stream.write_all(HALF_SENT).await.expect("write");
        open.push(stream);
    }
    let mut keep_alive = TcpStream::connect(running.addr).await.expect("connect");
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), keep_alive.read(&mut buf))
        .await
        .expect("answer within 5 s")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    open.push(keep_alive);
    let accepted = settle(&running.limit, 11).await;

    let asked = Instant::now();
    let _ = running.stop.send(true);
    tokio::time::timeout(drain + Duration::from_secs(2), running.server)
        .await
        .expect("the server returned within its drain plus 2 s")
        .expect("join")
        .expect("serve");
    let deadline = Instant::now() + Duration::from_secs(1);
    for (i, stream) in open.iter_mut().enumerate() {
        assert!(
            closed_by(stream, deadline).await.is_some(),
            "connection {i} still open after the shutdown"
        );
    }
    eprintln!("shutdown took {:?}", asked.elapsed());
    assert_eq!(accepted, 11);
    assert_eq!(running.limit.open(), 0);
}

/// The Flight SQL listener: a connection that sends no HTTP/2 preface is closed after the
/// header timeout and counted; over the budget a connection is closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_connections_get_the_preface_timeout_and_the_budget() {
    let _turn = SERIAL.lock().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::demo(&Default::default()).expect("demo config");
    config.history.dir = dir.path().to_path_buf();
    let registries = config.load_registries().expect("registries");
    let engine = SqlEngine::new(&config, &registries, None).expect("engine");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let timeout = Duration::from_secs(1);
    let edge = edge(timeout, 4, Duration::from_secs(1));
    let limit = edge.connections.clone();
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(stadtpuls_api::sql::flight::serve(
        listener,
        engine,
        edge,
        stopped(stop_rx),
    ));
    let (timed_out_before, refused_before) = (timed_out("flight"), refused("flight"));

    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push((
            TcpStream::connect(addr).await.expect("connect"),
            Instant::now(),
        ));
    }
    let filled = settle(&limit, 4).await;
    let mut extra = TcpStream::connect(addr).await.expect("connect");
    let refused_at = Instant::now();
    closed_by(&mut extra, refused_at + Duration::from_millis(500))
        .await
        .expect("a connection over the budget is closed at once");
    let deadline = Instant::now() + timeout + Duration::from_secs(3);
    for (i, (stream, connected)) in silent.iter_mut().enumerate() {
        let (_, at) = closed_by(stream, deadline)
            .await
            .unwrap_or_else(|| panic!("silent flight connection {i} still open"));
        assert!(
            at - *connected >= timeout - Duration::from_millis(100),
            "silent flight connection {i} closed after {:?}, before the timeout",
            at - *connected
        );
    }
    assert_eq!(filled, 4);
    assert_eq!(settle(&limit, 0).await, 0);
    assert_eq!(timed_out("flight") - timed_out_before, 4);
    assert_eq!(refused("flight") - refused_before, 1);
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("flight server stopped")
        .expect("join")
        .expect("serve");
}
