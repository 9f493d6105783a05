//! The Kafka-protocol broker the tests talk to: reused when one listens, else Tansu is
//! started (shared by every test crate, included by `#[path]`).

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Address of the Kafka-protocol broker the tests use.
pub fn brokers() -> String {
    std::env::var("STADTPULS_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A broker this test started (killed on drop); `None` inside when one was already running.
pub struct Broker(Option<Child>);

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reuses the broker on [`brokers`] or starts Tansu there (memory storage).
///
/// # Panics
/// When no broker answers and `tansu` is not installed: run `scripts/test.sh`, which
/// installs it. These tests need a real broker; they do not skip.
pub fn ensure_broker() -> Broker {
    let addr = brokers();
    let first = addr.split(',').next().unwrap_or_default().to_owned();
    if TcpStream::connect(&first).is_ok() {
        return Broker(None);
    }
    let url = format!("tcp://{first}");
    let child = Command::new("tansu")
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("no broker on {first} and cannot start `tansu` ({e}); run scripts/test.sh")
        });
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&first).is_err() {
        assert!(
            Instant::now() < deadline,
            "tansu did not listen on {first} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Broker(Some(child))
}
