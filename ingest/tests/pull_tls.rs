//! `[[cities.pull]]` over TLS with a client certificate, as Mobilithek requires: a
//! throwaway CA, server and client certificate made with the `openssl` CLI at test time,
//! and an HTTPS server (OpenSSL, in the test) that requires a client certificate signed by
//! that CA. Without the client certificate the fetch fails and is counted; with it the
//! document is written to the city's topic; without the private CA (`ca`) the server is
//! not trusted. A key that is not PKCS#8 stops the set-up, naming its key.

#[path = "../../tests/support/broker.rs"]
mod broker;
#[path = "pull_support/setup.rs"]
mod setup;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use stadtpuls_ingest::health::BrokerHealth;
use stadtpuls_ingest::kafka::{KafkaPush, ensure_topics};
use stadtpuls_ingest::pull::{ErrorKind, Outcome, Poller, PullSetupError};

use setup::{config_in, fixture, records, run_id};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("the openssl CLI is needed for this test: {e}"));
    assert!(
        status.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// `ca.pem`; `server.pem`/`server.key` for 127.0.0.1; `client.pem`/`client.key` (PKCS#8).
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "1",
        "-subj",
        "/CN=stadtpuls test CA",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    for (name, subject) in [("server", "/CN=127.0.0.1"), ("client", "/CN=stadtpuls")] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let mut req = vec!["req", "-subj", subject, "-keyout", &key, "-out", &csr];
        req.extend(ec);
        openssl(dir, &req);
        let mut sign = vec![
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
        ];
        if name == "server" {
            sign.extend(["-extfile", "server.ext"]);
        }
        openssl(dir, &sign);
    }
}

/// An HTTPS server on a free port that serves `body` to clients with a certificate of
/// `dir/ca.pem` and refuses the handshake of others; counts the requests it answered.
fn serve_tls(dir: &Path, body: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
    acceptor
        .set_private_key_file(dir.join("server.key"), SslFiletype::PEM)
        .expect("server key");
    acceptor
        .set_certificate_chain_file(dir.join("server.pem"))
        .expect("server certificate");
    acceptor.set_ca_file(dir.join("ca.pem")).expect("CA");
    acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    let acceptor = acceptor.build();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let Ok(mut tls) = acceptor.accept(stream) else {
                continue; // no or an untrusted client certificate
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            if tls.write_all(head.as_bytes()).is_ok() && tls.write_all(&body).is_ok() {
                count.fetch_add(1, Ordering::SeqCst);
            }
            let _ = tls.shutdown();
        }
    });
    (addr, answered)
}

/// The config's one pull source, with a producer for its city.
fn one(config: &stadtpuls_config::Config) -> Poller {
    let writer =
        Arc::new(KafkaPush::with_health(config, BrokerHealth::default()).expect("producer"));
    let mut pollers = Poller::from_config(config, &writer).expect("pull source");
    assert_eq!(pollers.len(), 1);
    pollers.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_requiring_a_client_certificate_is_read_only_with_it() {
    let _broker = broker::ensure_broker();
    let dir = tempfile::tempdir().expect("tempdir");
    make_certificates(dir.path());
    let document = fixture("parkapi-sources_vrs_bondorf-realtime.xml");
    let (addr, answered) = serve_tls(dir.path(), document.clone());
    let url = format!("https://{addr}/status.xml");
    let run = run_id();
    let topic = format!("pull-tls-{run}");
    let setup = |city: &str, extra: &str| config_in(dir.path(), city, &topic, &url, 1 << 20, extra);
    let with_cert = "client_cert = \"client.pem\"\nclient_key = \"client.key\"\nca = \"ca.pem\"";

    let without = setup(&format!("nocert-{run}"), "ca = \"ca.pem\"");
    ensure_topics(&without.kafka, std::slice::from_ref(&topic), 1)
        .await
        .expect("create the topic");
    let mut poller = one(&without);
    let outcome = poller.poll_once().await;
    // TLS 1.3: the handshake completes on the client's side, the server's alert
    // (certificate required) arrives with the answer.
    assert_eq!(
        outcome,
        Outcome::Failed(ErrorKind::Request),
        "no client certificate"
    );
    assert_eq!(answered.load(Ordering::SeqCst), 0);

    let untrusted = setup(
        &format!("noca-{run}"),
        "client_cert = \"client.pem\"\nclient_key = \"client.key\"",
    );
    let mut poller = one(&untrusted);
    let outcome = poller.poll_once().await;
    assert_eq!(
        outcome,
        Outcome::Failed(ErrorKind::Connect),
        "server certificate of an unknown CA"
    );
    assert_eq!(answered.load(Ordering::SeqCst), 0);

    let with = setup(&format!("cert-{run}"), with_cert);
    let mut poller = one(&with);
    assert_eq!(poller.poll_once().await, Outcome::Changed);
    assert_eq!(answered.load(Ordering::SeqCst), 1);
    let written = records(&run, &topic, 1).await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].2, document);
}

#[test]
fn a_key_that_is_not_pkcs8_stops_the_set_up_naming_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_certificates(dir.path());
    // The traditional ("EC PRIVATE KEY") form, as some tools write it.
    openssl(
        dir.path(),
        &[
            "pkey",
            "-in",
            "client.key",
            "-out",
            "client.sec1",
            "-traditional",
        ],
    );
    std::fs::write(dir.path().join("garbage.pem"), "not a certificate").expect("write");
    let url = "https://127.0.0.1:1/status.xml";
    let writer = |config: &stadtpuls_config::Config| {
        Arc::new(KafkaPush::with_health(config, BrokerHealth::default()).expect("producer"))
    };
    for (extra, key) in [
        (
            "client_cert = \"client.pem\"\nclient_key = \"client.sec1\"",
            "cities[0].pull[0].client_key",
        ),
        (
            "client_cert = \"garbage.pem\"\nclient_key = \"client.key\"",
            "cities[0].pull[0].client_cert",
        ),
        ("ca = \"garbage.pem\"", "cities[0].pull[0].ca"),
    ] {
        let config = config_in(dir.path(), "ulm", "ulm.datex2", url, 1 << 20, extra);
        let error = Poller::from_config(&config, &writer(&config))
            .err()
            .unwrap_or_else(|| panic!("{extra} should be refused"));
        assert!(
            matches!(&error, PullSetupError::Invalid { key: k, .. } if k == key),
            "{extra}: {error}"
        );
    }
}
