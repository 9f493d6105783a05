//! `[[cities.pull]]` against a real HTTP server (axum, in the test) and a real broker
//! (Tansu): the first fetch writes the document to the city's DATEX II topic with its
//! `content-type`; a 304 (the server honours `If-None-Match`) and a 200 of the same bytes
//! write nothing; a changed document is written again; a 500 is counted and the next
//! fetch recovers; a body over `kafka.max_message_bytes` is refused before it is read
//! whole, and counted; a refused connection and a server that never answers are counted
//! by their kind.

#[path = "../../tests/support/broker.rs"]
mod broker;
#[path = "../../tests/support/pull_server.rs"]
mod server;
#[path = "pull_support/setup.rs"]
mod setup;

use std::sync::Arc;

use stadtpuls_ingest::health::BrokerHealth;
use stadtpuls_ingest::kafka::{KafkaPush, ensure_topics};
use stadtpuls_ingest::metrics::{PULL_BYTES, PULL_LAST_SUCCESS, PULL_REQUESTS};
use stadtpuls_ingest::pull::{ErrorKind, Outcome, Poller};

use server::{Served, lock};
use setup::{config, fixture, records, run_id};

fn requests(city: &str, outcome: &str) -> u64 {
    PULL_REQUESTS
        .with_label_values(&[city, "datex2", outcome])
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_documents_are_written_once_and_failures_recover() {
    let _broker = broker::ensure_broker();
    let run = run_id();
    let city = format!("aachen-{run}");
    let topic = format!("pull-datex2-{run}");
    let aachen = fixture("parkapi-sources_aachen-realtime.xml");
    let stuttgart = fixture("parkapi-sources_stuttgart-realtime.xml");
    let bondorf = fixture("parkapi-sources_vrs_bondorf-realtime.xml");
    let shared = Arc::new(std::sync::Mutex::new(Served {
        body: aachen.clone(),
        etag: "\"a1\"".into(),
        ..Served::default()
    }));
    let addr = server::start(shared.clone()).await;
    let url = format!("http://{addr}/status.xml");
    let config = config(&city, &topic, &url, 1024 * 1024, "");
    ensure_topics(&config.kafka, std::slice::from_ref(&topic), 1)
        .await
        .expect("create the topic");
    let writer =
        Arc::new(KafkaPush::with_health(&config, BrokerHealth::default()).expect("producer"));
    let mut pollers = Poller::from_config(&config, &writer).expect("pull sources");
    assert_eq!(pollers.len(), 1);
    let poller = &mut pollers[0];

    assert_eq!(poller.poll_once().await, Outcome::Changed, "first fetch");
    assert_eq!(poller.poll_once().await, Outcome::NotModified, "same ETag");
    // The server lost its ETags (a restart): 200 with the same bytes.
    lock(&shared).etag = "\"a2\"".into();
    assert_eq!(poller.poll_once().await, Outcome::Unchanged, "same body");
    assert_eq!(
        poller.poll_once().await,
        Outcome::NotModified,
        "new ETag kept"
    );
    {
        let mut served = lock(&shared);
        served.body = stuttgart.clone();
        served.etag = "\"s1\"".into();
    }
    assert_eq!(poller.poll_once().await, Outcome::Changed, "new document");
    lock(&shared).fail = true;
    assert_eq!(
        poller.poll_once().await,
        Outcome::Failed(ErrorKind::Http5xx),
        "500"
    );
    {
        let mut served = lock(&shared);
        served.fail = false;
        served.body = bondorf.clone();
        served.etag = "\"b1\"".into();
    }
    assert_eq!(poller.poll_once().await, Outcome::Changed, "recovered");

    let asked = lock(&shared).asked.clone();
    assert_eq!(asked[0], (None, None), "nothing to compare with at first");
    let since = Some("Mon, 07 Dec 2026 06:00:00 GMT".to_owned());
    assert_eq!(asked[1], (Some("\"a1\"".into()), since.clone()));
    assert_eq!(asked[3], (Some("\"a2\"".into()), since.clone()));
    assert_eq!(
        asked[6],
        (Some("\"s1\"".into()), since),
        "a failure keeps the validators of the last document"
    );

    let written = records(&run, &topic, 3).await;
    let payloads: Vec<&[u8]> = written.iter().map(|(_, _, p)| p.as_slice()).collect();
    assert_eq!(
        payloads,
        [aachen.as_slice(), stuttgart.as_slice(), bondorf.as_slice()],
        "each new document once, unchanged"
    );
    for (key, content_type, _) in &written {
        assert_eq!(content_type, "application/vnd.datex2+xml");
        assert_eq!(key, "pull:cities[0].pull[0]");
    }
    assert_eq!(requests(&city, "changed"), 3);
    assert_eq!(requests(&city, "not_modified"), 2);
    assert_eq!(requests(&city, "unchanged"), 1);
    assert_eq!(requests(&city, "http_5xx"), 1);
    let bytes = PULL_BYTES.with_label_values(&[&city, "datex2"]).get();
    assert_eq!(
        bytes as usize,
        2 * aachen.len() + stuttgart.len() + bondorf.len()
    );
    let last = PULL_LAST_SUCCESS
        .with_label_values(&[&city, "datex2"])
        .get();
    assert!(last > 1_700_000_000, "last success at {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_message_limit_is_refused_and_counted() {
    let _broker = broker::ensure_broker();
    let run = run_id();
    let city = format!("large-{run}");
    let topic = format!("pull-large-{run}");
    let shared = Arc::new(std::sync::Mutex::new(Served {
        body: fixture("parkapi-sources_friedrichshafen-sensors-realtime.xml"),
        etag: "\"f1\"".into(),
        ..Served::default()
    }));
    let addr = server::start(shared.clone()).await;
    // 100 KiB: the 104 KB Friedrichshafen document does not fit.
    let config = config(
        &city,
        &topic,
        &format!("http://{addr}/status.xml"),
        100 * 1024,
        "",
    );
    ensure_topics(&config.kafka, std::slice::from_ref(&topic), 1)
        .await
        .expect("create the topic");
    let writer =
        Arc::new(KafkaPush::with_health(&config, BrokerHealth::default()).expect("producer"));
    let mut pollers = Poller::from_config(&config, &writer).expect("pull sources");
    assert_eq!(
        pollers[0].poll_once().await,
        Outcome::Failed(ErrorKind::TooLarge)
    );
    assert_eq!(requests(&city, "too_large"), 1);
    lock(&shared).body = fixture("parkapi-sources_vrs_bondorf-realtime.xml");
    assert_eq!(pollers[0].poll_once().await, Outcome::Changed);
    let written = records(&run, &topic, 1).await;
    assert_eq!(written.len(), 1, "only the document within the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_and_a_silent_server_are_counted_by_kind() {
    let _broker = broker::ensure_broker();
    let run = run_id();
    // A port nothing listens on any more: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    // A listener that never accepts: the kernel completes the connection, no answer comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("address");
    for (name, addr, kind) in [
        ("refused", closed, ErrorKind::Connect),
        ("silent", silent_addr, ErrorKind::Timeout),
    ] {
        let city = format!("{name}-{run}");
        let topic = format!("pull-{name}-{run}");
        let url = format!("http://{addr}/status.xml");
        let config = config(&city, &topic, &url, 1 << 20, "timeout = \"1s\"");
        let writer =
            Arc::new(KafkaPush::with_health(&config, BrokerHealth::default()).expect("producer"));
        let mut pollers = Poller::from_config(&config, &writer).expect("pull sources");
        let started = std::time::Instant::now();
        assert_eq!(
            pollers[0].poll_once().await,
            Outcome::Failed(kind),
            "{name}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{name}: within the timeout"
        );
        assert_eq!(requests(&city, kind.as_str()), 1, "{name}");
    }
    drop(silent);
}

/// A server that announces no length (chunked) and sends more than the limit: the body is
/// refused once the limit is passed, not read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_cut_off_while_read() {
    use std::io::{Read, Write};
    let _broker = broker::ensure_broker();
    let run = run_id();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = sent.clone();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut head = [0u8; 4096];
        let _ = stream.read(&mut head);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        // 64 MiB at most; the client hangs up long before.
        for _ in 0..1024 {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if stream.write_all(&framed).is_err() {
                return;
            }
            counted.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
        }
    });
    let city = format!("chunked-{run}");
    let config = config(
        &city,
        &format!("pull-chunked-{run}"),
        &format!("http://{addr}/status.xml"),
        1 << 20,
        "",
    );
    let writer =
        Arc::new(KafkaPush::with_health(&config, BrokerHealth::default()).expect("producer"));
    let mut pollers = Poller::from_config(&config, &writer).expect("pull sources");
    assert_eq!(
        pollers[0].poll_once().await,
        Outcome::Failed(ErrorKind::TooLarge)
    );
    assert_eq!(requests(&city, "too_large"), 1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let sent = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        sent < 16 << 20,
        "the client stopped reading: {sent} bytes sent"
    );
}
