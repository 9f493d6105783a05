//! Durable steps, retried until they pass: a batch's dead letters; of a checkpoint, sink
//! commits and recoveries, snapshot writes, each first checking that this instance still owns the task
//! (`checkpoint/claim.rs`). Reading pauses meanwhile, so memory stays bounded; a shutdown
//! request gives them a grace period, then the round is given up and its tail replayed
//! after the restart.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

use super::ports::DeadLetterSink;
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::message::DeadLetter;
use crate::sink::{Task, WindowSink};
use crate::{IngestError, Result, metrics};

/// Whether a checkpoint round completed or was abandoned for shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    Done,
    Abandoned,
    /// (A task's commit or snapshot) another instance has claimed the task.
    Fenced,
}

/// Retries before a shutdown gives up on a failing sink or store (the tail is replayed
/// after the restart instead).
const SHUTDOWN_ATTEMPTS: u32 = 3;

/// How long a sink commit or a dead-letter write still waits once shutdown was requested
/// (a broker that is down would hold it for `message.timeout.ms`, longer than a container
/// runtime waits before SIGKILL). What it gives up is replayed after the restart.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Resolves [`SHUTDOWN_GRACE`] after shutdown was requested; never before.
pub(crate) async fn shutdown_grace(shutdown: &watch::Receiver<bool>) {
    let mut watch = shutdown.clone();
    while !*watch.borrow_and_update() {
        if watch.changed().await.is_err() {
            // the sender is gone without a request: no shutdown to wait for
            std::future::pending::<()>().await;
        }
    }
    tokio::time::sleep(SHUTDOWN_GRACE).await;
}

/// Delivers a batch's dead letters, retrying until the sink accepts: committing past an unwritten dead letter would lose it.
/// (A letter that can never be written is given up by the sink itself, see
/// [`DeadLetterSink::send`].)
/// False when shutdown was requested and the grace ([`SHUTDOWN_GRACE`]) ran out
/// first: the batch must then not be checkpointed, so that it is read again.
pub(super) async fn send_with_retry<D: DeadLetterSink>(
    sink: &mut D,
    letters: &[DeadLetter],
    shutdown: &watch::Receiver<bool>,
) -> bool {
    if letters.is_empty() {
        return true;
    }
    let grace = shutdown_grace(shutdown);
    tokio::pin!(grace);
    let mut backoff = Duration::from_millis(100);
    let given_up = |sink: &D| {
        warn!(
            sink = sink.name(),
            letters = letters.len(),
            "dead letters not acknowledged within the shutdown grace; given up, the batch is read again after the restart"
        );
        false
    };
    loop {
        let sent = tokio::select! {
            sent = sink.send(letters) => Some(sent),
            () = &mut grace => None,
        };
        let Some(sent) = sent else {
            return given_up(sink);
        };
        if let Err(error) = sent {
            metrics::DEADLETTER_FAILURES
                .with_label_values(&[sink.name()])
                .inc();
            warn!(%error, sink = sink.name(), retry_in_ms = backoff.as_millis() as u64, "dead-letter write failed");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = &mut grace => return given_up(sink),
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
            continue;
        }
        return true;
    }
}

/// First retry delay; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Commits `task`'s epoch on every sink, retrying with backoff; the wait, retries
/// included, is `stadtpuls_sink_commit_duration_seconds` (reading pauses meanwhile).
pub(super) async fn commit<K: WindowSink>(
    sinks: &mut K,
    task: &Task,
    epoch: u64,
    store: Option<&CheckpointStore>,
    shutdown: &watch::Receiver<bool>,
) -> Round {
    let started = Instant::now();
    let round = commit_with_retry(sinks, task, epoch, store, shutdown).await;
    metrics::SINK_COMMIT_DURATION.observe(started.elapsed().as_secs_f64());
    round
}

async fn commit_with_retry<K: WindowSink>(
    sinks: &mut K,
    task: &Task,
    epoch: u64,
    store: Option<&CheckpointStore>,
    shutdown: &watch::Receiver<bool>,
) -> Round {
    let mut backoff = Backoff::default();
    let mut attempts = 0;
    loop {
        match owned(store, task) {
            Ok(true) => {}
            Ok(false) => return Round::Fenced,
            Err(error) => {
                warn!(%error, task = %task, epoch, retry_in_ms = backoff.ms(), "cannot read the task's claim before committing; consumption paused");
                if backoff.wait(shutdown).await || *shutdown.borrow() {
                    return Round::Abandoned;
                }
                continue;
            }
        }
        // A commit waits for the broker (output deliveries, up to `message.timeout.ms`):
        // after a shutdown request it gets a grace period, then the round is given up.
        let attempt = tokio::select! {
            result = sinks.commit(task, epoch) => Some(result),
            () = shutdown_grace(shutdown) => None,
        };
        let error = match attempt {
            Some(Ok(())) => return Round::Done,
            Some(Err(error)) => error,
            None => {
                warn!(task = %task, epoch, grace_s = SHUTDOWN_GRACE.as_secs(), "the commit did not finish within the shutdown grace; given up, the tail is replayed after the restart");
                return Round::Abandoned;
            }
        };
        let sink = failing_sink(&error, sinks);
        metrics::SINK_COMMIT_FAILURES
            .with_label_values(&[sink])
            .inc();
        attempts += 1;
        if *shutdown.borrow() && attempts >= SHUTDOWN_ATTEMPTS {
            warn!(%error, sink, task = %task, epoch, "giving up on the commit for shutdown; the tail is replayed after the restart");
            return Round::Abandoned;
        }
        warn!(%error, sink, task = %task, epoch, retry_in_ms = backoff.ms(), "sink commit failed; consumption paused");
        if backoff.wait(shutdown).await {
            return Round::Abandoned;
        }
    }
}

/// The sink an error came from (a pair labels its errors), for logs and metrics.
fn failing_sink<K: WindowSink>(error: &IngestError, sinks: &K) -> &'static str {
    match error {
        IngestError::Sink { sink, .. } => sink,
        _ => sinks.name(),
    }
}

/// Recovers `task` to `epoch` on every sink, retrying with backoff; abandoned only for
/// shutdown (nothing was read for the task yet, so nothing is lost).
pub(super) async fn recover<K: WindowSink>(
    sinks: &mut K,
    task: &Task,
    epoch: u64,
    shutdown: &watch::Receiver<bool>,
) -> Round {
    let mut backoff = Backoff::default();
    loop {
        let error = match sinks.recover(task, epoch) {
            Ok(()) => return Round::Done,
            Err(error) => error,
        };
        let sink = failing_sink(&error, sinks);
        if *shutdown.borrow() {
            warn!(%error, sink, task = %task, epoch, "giving up on the recovery for shutdown");
            return Round::Abandoned;
        }
        warn!(%error, sink, task = %task, epoch, retry_in_ms = backoff.ms(), "sink recovery failed; consumption paused");
        if backoff.wait(shutdown).await {
            return Round::Abandoned;
        }
    }
}

/// Whether this instance still owns `task` (always, without a store).
fn owned(store: Option<&CheckpointStore>, task: &Task) -> Result<bool> {
    store.map_or(Ok(true), |store| store.holds(task))
}

/// Claims an assigned task before its state is read, and reads its checkpoint again: the
/// source positioned the partition at the checkpoint it found before the claim, and the
/// previous owner may have written a newer one until it saw the claim (the messages
/// between the two are then dropped by the resume screen).
pub(super) fn claim(
    store: &CheckpointStore,
    task: &Task,
    positioned: Option<Checkpoint>,
) -> Result<Option<Checkpoint>> {
    let generation = store.claim(task)?;
    let current = store.load(task)?;
    let before = positioned.as_ref().map(|c| c.epoch);
    let now = current.as_ref().map(|c| c.epoch);
    if now != before {
        info!(task = %task, generation, positioned_epoch = before, epoch = now, "the previous owner checkpointed task {task} after it was positioned; restoring the newer checkpoint");
    }
    Ok(current)
}

/// What a snapshot write came to.
pub(super) enum Written {
    Bytes(u64),
    /// Shutdown was requested.
    Abandoned,
    /// Another instance claimed the task.
    Fenced,
}

/// Writes a snapshot if this instance still owns the task, retrying with backoff.
pub(super) async fn write(
    store: &CheckpointStore,
    task: &Task,
    epoch: u64,
    offset: i64,
    body: &[u8],
    shutdown: &watch::Receiver<bool>,
) -> Written {
    let mut backoff = Backoff::default();
    let mut attempts = 0;
    loop {
        let written = store.holds(task).and_then(|owned| {
            owned
                .then(|| store.write(task, epoch, offset, body))
                .transpose()
        });
        let error = match written {
            Ok(Some(bytes)) => return Written::Bytes(bytes),
            Ok(None) => return Written::Fenced,
            Err(error) => error,
        };
        attempts += 1;
        if *shutdown.borrow() && attempts >= SHUTDOWN_ATTEMPTS {
            warn!(%error, task = %task, epoch, "giving up on the checkpoint for shutdown; the tail is replayed after the restart");
            return Written::Abandoned;
        }
        warn!(%error, task = %task, epoch, retry_in_ms = backoff.ms(), "checkpoint write failed; consumption paused");
        if backoff.wait(shutdown).await {
            return Written::Abandoned;
        }
    }
}

/// The wait before the next attempt: [`FIRST_BACKOFF`], doubling up to [`MAX_BACKOFF`].
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(FIRST_BACKOFF)
    }
}

impl Backoff {
    /// The coming wait in milliseconds, for logs.
    fn ms(&self) -> u64 {
        self.0.as_millis() as u64
    }

    /// Waits, then doubles the next wait; true when shutdown was requested meanwhile.
    async fn wait(&mut self, shutdown: &watch::Receiver<bool>) -> bool {
        let stopped = pause(self.0, shutdown).await;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        stopped
    }
}

/// Sleeps `backoff`; true when shutdown was requested meanwhile (while running normally).
async fn pause(backoff: Duration, shutdown: &watch::Receiver<bool>) -> bool {
    let stopping = *shutdown.borrow();
    let mut watch = shutdown.clone();
    tokio::select! {
        () = tokio::time::sleep(backoff) => false,
        changed = watch.changed(), if !stopping => changed.is_ok() && *watch.borrow(),
    }
}
