//! Lives of one `stadtpuls run` instance that is killed and restarted with the same config
//! (so the same consumer group and the same derived `kafka.instance_id`): when a life
//! starts consuming, when its tasks are restored, when it has checkpointed.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use stadtpuls_ingest::checkpoint::CheckpointStore;

use super::Stadtpuls;
use super::replay::{Ends, checkpointed};

/// How soon a restarted instance must consume again (issue #11: it read nothing for
/// 108–112 s with a dynamic member id against Tansu 0.6.0).
pub const RESTART_BOUND: Duration = Duration::from_secs(15);

/// Starts `stadtpuls run --config <config>` with JSON logs in `log`.
pub fn start(config: &Path, port: u16, log: &Path) -> Stadtpuls {
    let config = config.display().to_string();
    Stadtpuls::start(
        &["--log-format", "json", "run", "--config", &config],
        port,
        log,
    )
}

/// The `fields` of every JSON line of `log` whose message satisfies `wanted`.
fn events(log: &Path, wanted: impl Fn(&str) -> bool) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|entry| entry["fields"].clone())
        .filter(|fields| fields["message"].as_str().is_some_and(&wanted))
        .collect()
}

/// Whether the life logging to `log` has processed a batch of at least one message.
pub fn consumed(log: &Path) -> bool {
    events(log, |m| m == "batch processed")
        .iter()
        .any(|f| f["messages"].as_u64().is_some_and(|n| n > 0))
}

/// How many tasks the life logging to `log` has taken up (restored from a checkpoint or
/// started empty).
pub fn tasks_taken(log: &Path) -> usize {
    events(log, |m| {
        m.starts_with("restored task") || m.ends_with("has no checkpoint, starting empty")
    })
    .len()
}

/// Polls `done` every 50 ms; returns the time since `started` at which it held.
///
/// # Panics
/// After `timeout` since `started`, naming `what`.
pub fn time_until(
    started: Instant,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> Duration {
    loop {
        if done() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "{what}: not within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the checkpoints in `store` cover more than `beyond` messages in all;
/// returns how many they cover.
///
/// # Panics
/// After `timeout`, naming `what`.
pub fn wait_progress(
    store: &CheckpointStore,
    ends: &Ends,
    beyond: i64,
    timeout: Duration,
    what: &str,
) -> i64 {
    let started = Instant::now();
    let mut progress = 0;
    time_until(started, timeout, what, || {
        progress = checkpointed(store, ends).values().sum();
        progress > beyond
    });
    progress
}
