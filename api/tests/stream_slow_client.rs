//! A push-stream subscriber that never reads, over real sockets and the real accept
//! loop: the events published for it pile up in the kernel's buffers, then in its
//! bounded queue, and it is cut off and counted while another subscriber keeps getting
//! every event in order; when it finally reads, its last event is `event: dropped`, and
//! the server closes its connection after the grace — as it does, without a single read,
//! for a subscriber that never reads again.
//! Publishing goes through the live view, the port the pipeline publishes through.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stadtpuls_api::stream::{Hub, HubLimits, StreamDoor};
use stadtpuls_api::{AppState, Edge, router};
use stadtpuls_config::{ApiConfig, Config, parse_registry};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::FacilityLive;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const T0: i64 = 1_795_478_400_000;
const QUEUE: usize = 16;
/// How long a cut-off subscriber's connection stays open (the product's is 10 s).
const CUT_GRACE: Duration = Duration::from_secs(2);
/// Events per round: a burst the reader's queue absorbs.
const ROUND: usize = 4;

/// Reads SSE frames off a raw HTTP/1.1 response, keeping what is not a whole frame yet.
struct Frames {
    stream: TcpStream,
    text: String,
}

impl Frames {
    /// The next `id:` and `event:` of a data frame, skipping heartbeats.
    async fn next(&mut self) -> (u64, String) {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let id = block
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .and_then(|v| v.parse().ok());
                let event = block
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .map(str::to_owned);
                if let (Some(id), Some(event)) = (id, event) {
                    return (id, event);
                }
                continue;
            }
            let mut buf = [0u8; 16 * 1024];
            let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut buf))
                .await
                .expect("the reader gets data within 5 s")
                .expect("read");
            assert!(n > 0, "the reader's stream ended: {}", self.text);
            // Chunked transfer: chunk sizes sit on lines of their own between frames;
            // they never contain a blank line, so frames still split on "\n\n".
            self.text.push_str(&String::from_utf8_lossy(&buf[..n]));
            self.text = self.text.replace("\r\n", "\n");
        }
    }
}

async fn request(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /v1/stream?cities=ulm HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("request");
}

fn dropped(reason: &str) -> u64 {
    let metric = stadtpuls_api::metrics::SSE_DROPPED.with_label_values(&[reason]);
    metric.get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_cut_off_and_counted_while_another_keeps_receiving() {
    let config = Config::demo(&Default::default()).expect("demo config");
    let city = config.city("ulm").expect("ulm").clone();
    let csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
               ulm-p-1,parking_facility,Parkhaus,48.398,9.991,,1000,,\n";
    let registry = parse_registry(&city, std::path::Path::new("ulm.csv"), csv).expect("registry");
    let hub = Arc::new(Hub::new(
        HubLimits {
            ring: 1024,
            client_queue: QUEUE,
        },
        1,
    ));
    let live = Arc::new(LiveState::new(3_600_000).with_events(hub.clone()));
    let state = AppState::new(
        live.clone(),
        &[registry],
        vec![60],
        900_000,
        Arc::new(|| true),
    )
    .with_stream(StreamDoor {
        hub: hub.clone(),
        heartbeat: Duration::from_secs(15),
        cut_grace: CUT_GRACE,
    });
    tokio::spawn(hub.clone().dispatch());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let edge = Edge::from_config(&ApiConfig::default());
    let connections = edge.connections.clone();
    tokio::spawn(stadtpuls_api::edge::http::serve(
        listener,
        router(state),
        edge,
        std::future::pending(),
    ));

    // The slow client: a small receive buffer, a request, then no read.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut slow = socket.connect(addr).await.expect("connect");
    request(&mut slow).await;
    // Another that will never read at all.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut silent = socket.connect(addr).await.expect("connect");
    request(&mut silent).await;
    let mut reader = TcpStream::connect(addr).await.expect("connect");
    request(&mut reader).await;
    let mut reader = Frames {
        stream: reader,
        text: String::new(),
    };
    let started = Instant::now();
    while hub.subscribers() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "all three subscribe"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stadtpuls_api::metrics::SSE_CLIENTS.get(), 3);
    let before = dropped("slow_client");

    // Publish in rounds the reader drains; the slow client falls behind until cut off.
    let mut next_free = 0u32;
    let mut last_id = 0u64;
    let mut received = 0usize;
    while hub.subscribers() > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not cut off after {received} events"
        );
        for _ in 0..ROUND {
            next_free = (next_free + 1) % 1000;
            let level = FacilityLive::new(next_free, Some(1000), T0 + i64::from(next_free));
            live.set_facility("ulm", "ulm-p-1", level);
        }
        for _ in 0..ROUND {
            let (id, event) = reader.next().await;
            assert_eq!(event, "parking");
            assert!(
                last_id == 0 || id == last_id + 1,
                "gap: {last_id} then {id}"
            );
            last_id = id;
            received += 1;
        }
    }
    assert_eq!(dropped("slow_client") - before, 2, "each counted once");
    assert_eq!(
        stadtpuls_api::metrics::SSE_CLIENTS.get(),
        1,
        "only the reader is counted"
    );

    // The reader still gets every event.
    for _ in 0..3 {
        live.set_facility("ulm", "ulm-p-1", FacilityLive::new(7, Some(1000), T0));
    }
    for _ in 0..3 {
        let (id, _) = reader.next().await;
        assert_eq!(id, last_id + 1);
        last_id = id;
    }

    // The slow client reads at last: what its buffers held, then the final event.
    let mut text = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&text).contains("event: dropped") {
        assert!(Instant::now() < deadline, "no final event");
        let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf))
            .await
            .expect("data within 5 s")
            .expect("read");
        assert!(n > 0, "ended without a final event");
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text).replace("\r\n", "\n");
    assert!(
        text.contains("event: dropped\ndata: {\"reason\":\"slow_client\"}\n\n"),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
    // After the grace the server closes the slow client's connection: end of stream, not
    // a keep-alive connection waiting for its next request.
    let closed = tokio::time::timeout(CUT_GRACE + Duration::from_secs(10), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the cut-off client's connection is closed after the grace"
    );

    // The silent client never read: its connection is closed all the same, so only the
    // reader's is still open.
    let started = Instant::now();
    while connections.open() > 1 {
        assert!(
            started.elapsed() < CUT_GRACE + Duration::from_secs(10),
            "{} connections open: the silent client's was not closed",
            connections.open()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seen = 0usize;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
            .await
            .expect("the silent client's buffers, then the end, within 5 s")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        seen += n;
    }
    assert!(seen > 0, "the silent client's buffers held events");
    eprintln!("slow clients cut off after {received} events to the reader");
}
