//! Shared helpers of the end-to-end tests: a real broker, the binary, HTTP.

#![allow(dead_code)]

#[path = "../support/broker.rs"]
mod broker;
pub mod compare;
pub mod datex2;
pub mod demo;
pub mod feeds;
pub mod gateway;
pub mod group;
pub mod history;
pub mod lives;
#[path = "../support/pyvenv.rs"]
pub mod pyvenv;
pub mod replay;
pub mod tansu;
pub mod topics;

#[allow(unused_imports)] // not every test binary talks to the broker
pub use broker::{Broker, brokers, ensure_broker};

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free local TCP port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A unique suffix for topic, group and city names of one test run.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}{}", std::process::id(), nanos % 1_000_000)
}

/// The head of a test config: `version` and the `[kafka]` section for `brokers`, consumer
/// group `group_id` on the topics matching `topic_pattern` (a regex), dead letters to
/// `deadletter_topic`, short batch waits and a metadata refresh of a second (topics a
/// test creates after start-up are found quickly). Further `[kafka]` keys go in `extra`.
pub fn kafka_section(
    brokers: &str,
    group_id: &str,
    topic_pattern: &str,
    deadletter_topic: &str,
    extra: &str,
) -> String {
    format!(
        r#"version = 1
[kafka]
brokers = "{brokers}"
group_id = "{group_id}"
topic_pattern = '{topic_pattern}'
deadletter_topic = "{deadletter_topic}"
batch_max_wait = "50ms"
{extra}
[kafka.librdkafka]
"topic.metadata.refresh.interval.ms" = "1000"
"#
    )
}

/// The `stadtpuls` binary as a child process, killed on drop.
pub struct Stadtpuls {
    pub child: Child,
    pub base: String,
    log: std::path::PathBuf,
}

impl Stadtpuls {
    /// Starts `stadtpuls <args>` with its logs in `log`.
    pub fn start(args: &[&str], port: u16, log: &Path) -> Self {
        Self::start_with_env(args, &[], port, log)
    }

    /// Starts `stadtpuls <args>` with `env` set (e.g. `STADTPULS_API__BIND` for the
    /// built-in demo config) and its logs in `log`.
    pub fn start_with_env(args: &[&str], env: &[(&str, String)], port: u16, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).unwrap_or_else(|e| panic!("log file: {e}"));
        let child = Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
            .args(args)
            .envs(env.iter().map(|(name, value)| (*name, value)))
            .env("RUST_LOG", "info,stadtpuls_ingest=debug")
            // Colours must stay off because stderr is a file, not because of NO_COLOR.
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start stadtpuls: {e}"));
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
        }
    }

    /// Sends SIGTERM and returns the exit status, after checking that the log (a file,
    /// not a terminal) carries no ANSI escape codes (issue #12: it did).
    pub fn terminate(self) -> std::process::ExitStatus {
        let log = self.log.clone();
        let status = match self.terminate_within(Duration::from_secs(30)) {
            (Some(status), _) => status,
            (None, _) => panic!("stadtpuls did not exit within 30 s of SIGTERM"),
        };
        let text = std::fs::read(&log).unwrap_or_default();
        let escape = text.iter().position(|&byte| byte == 0x1b);
        if let Some(at) = escape {
            let line =
                String::from_utf8_lossy(&text[at.saturating_sub(80)..text.len().min(at + 80)])
                    .into_owned();
            panic!(
                "an ANSI escape code in {} (stderr is a file): {line:?}",
                log.display()
            );
        }
        status
    }

    /// Sends SIGTERM and waits up to `wait` for the exit: the status (`None` if still
    /// running, then it is killed) and the time from the signal to the exit.
    pub fn terminate_within(
        mut self,
        wait: Duration,
    ) -> (Option<std::process::ExitStatus>, Duration) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let asked = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (Some(status), asked.elapsed());
            }
            if asked.elapsed() >= wait {
                return (None, asked.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Stadtpuls {
    fn drop(&mut self) {
        // A failed test shows what the binary logged.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- stadtpuls log ----\n{log}---- end of log ----");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GETs a URL, returning status and body (status 0 when the connection failed).
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    match client.get(url).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(_) => (0, String::new()),
    }
}

/// Runs `sql` through `POST /v1/sql` with bearer `key`; the result's rows, or `None` when
/// the call failed or did not answer 200.
pub async fn sql_rows(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    sql: &str,
) -> Option<Vec<serde_json::Value>> {
    let response = client
        .post(format!("{base}/v1/sql"))
        .bearer_auth(key)
        .json(&serde_json::json!({ "sql": sql }))
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    let body: serde_json::Value = response.json().await.ok()?;
    body["rows"].as_array().cloned()
}

/// Polls `check` every 200 ms until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts `stadtpuls run --config <config>` logging to `log` and waits (up to 60 s) until
/// `/readyz` answers 200; returns the instance and an HTTP client for it.
pub async fn run_ready(config: &Path, port: u16, log: &Path) -> (Stadtpuls, reqwest::Client) {
    run_ready_with_env(config, &[], port, log).await
}

/// [`run_ready`] with `env` set, e.g. `STADTPULS_KAFKA__MAX_MESSAGE_BYTES` where a test
/// config writer has no field for it.
pub async fn run_ready_with_env(
    config: &Path,
    env: &[(&str, String)],
    port: u16,
    log: &Path,
) -> (Stadtpuls, reqwest::Client) {
    let config = config.display().to_string();
    let app = Stadtpuls::start_with_env(&["run", "--config", &config], env, port, log);
    let client = ready(&app).await;
    (app, client)
}

/// Waits (up to 60 s) until `app`'s `/readyz` answers 200; returns an HTTP client for it.
pub async fn ready(app: &Stadtpuls) -> reqwest::Client {
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(60), "readyz", || async {
        (get(&client, &format!("{}/readyz", app.base)).await.0 == 200).then_some(())
    })
    .await;
    client
}
