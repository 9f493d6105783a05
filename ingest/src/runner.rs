//! The loop that moves batches from a source through the pipeline to the sinks.
//!
//! Order per batch gives at-least-once reading with nothing silently dropped: process →
//! write dead letters (retrying until the sink takes them) → stage closed windows per
//! owning task in the window sinks. With a checkpoint store, offsets become durable only
//! with a task's checkpoint (`tasks.rs`, decision 002), so a crash replays from the last
//! snapshot with its state; without one, offsets are stored after every batch.

mod resume;
mod retry;
mod tasks;

pub use crate::clock::now_ms;
pub use crate::health::Readiness;
pub use tasks::{Assignment, Checkpointing};

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stadtpuls_processing::window::watermark::SourceId;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::Result;
use crate::message::{DeadLetter, RawMessage};
use crate::metrics;
use crate::pipeline::{Pipeline, Prepared, StepOutput};
use crate::sink::WindowSink;
use tasks::{Round, Tasks};

mod worker;

use worker::{CheckWorker, Job};

/// Where messages come from: Kafka in production, the simulated feed in the demo.
pub trait Source {
    /// Returns the next batch (possibly empty after a quiet wait), or `None` at end of input.
    fn next_batch(&mut self) -> impl Future<Output = Result<Option<Vec<RawMessage>>>>;
    /// Marks a processed batch done so it is not read again after a restart (only
    /// without a checkpoint store: with one, see [`Source::commit_offsets`]).
    ///
    /// # Errors
    /// When the offsets cannot be stored; the batch will be re-read.
    fn commit(&mut self, batch: &[RawMessage]) -> Result<()>;
    /// Stores the next offsets of checkpointed tasks (Kafka: for lag monitoring; the
    /// checkpoint is the truth).
    ///
    /// # Errors
    /// When the offsets cannot be stored; only monitoring suffers.
    fn commit_offsets(&mut self, _offsets: &[(SourceId, i64)]) -> Result<()> {
        Ok(())
    }
    /// Partitions assigned since the last call, each with the checkpoint the source is
    /// positioned at (a source that cannot seek reports none).
    fn assigned(&mut self) -> Vec<Assignment> {
        Vec::new()
    }
    /// Re-reads `source` from `offset`: a restored task's first message came after its
    /// checkpoint (see `runner/resume.rs`). Messages of it already read are discarded.
    ///
    /// # Errors
    /// When the source cannot seek now; the runner asks again on the next message.
    fn rewind(&mut self, _source: SourceId, _offset: i64) -> Result<()> {
        Ok(())
    }
    /// Sources (partitions) taken away since the last call. The source keeps reading
    /// nothing new from them but must not give them up before [`Source::release`].
    fn revoked(&mut self) -> Vec<SourceId> {
        Vec::new()
    }
    /// Gives up the sources last reported by [`Source::revoked`], once their tasks are
    /// checkpointed and dropped (Kafka: unassigns them, so only now can the group hand them
    /// to another instance, which then loads the checkpoint just written). Called after
    /// every `revoked`, also when it returned nothing (an eager revoke of no partitions
    /// still waits for the unassign).
    ///
    /// # Errors
    /// When the source cannot give the partitions up.
    fn release(&mut self, _revoked: &[SourceId]) -> Result<()> {
        Ok(())
    }
    /// Whether a rebalance happened since the last call: the partitions kept through it
    /// may be fetched again from the application's position (the runner then verifies
    /// their next gap, see `runner/resume.rs`).
    fn rebalanced(&mut self) -> bool {
        false
    }
    /// Flushes committed offsets before shutdown.
    ///
    /// # Errors
    /// When the final commit fails; the tail of the input will be re-read.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Where refused observations go.
pub trait DeadLetterSink {
    /// Writes every dead letter or fails as a whole (the caller retries). A letter that the
    /// sink can never write, whatever the retries (the Kafka sink: one the broker refuses
    /// for the record itself), is given up, logged and counted instead of failing the
    /// call: it must not hold the pipeline.
    fn send(&mut self, letters: &[DeadLetter]) -> impl Future<Output = Result<()>>;
    /// A label for metrics and logs.
    fn name(&self) -> &'static str;
}

/// Totals of a run, for logs and the demo banner.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Messages read.
    pub messages: u64,
    /// Observations accepted.
    pub accepted: u64,
    /// Observations dead-lettered.
    pub rejected: u64,
    /// Observations late for the smallest window.
    pub late: u64,
}

/// Runs until the source ends or `shutdown` turns true; finishes the batch in hand first,
/// then checkpoints every task.
///
/// Closed windows are staged in `sinks` per owning task and committed with each task's
/// checkpoint (every `checkpointing.interval`, when the sinks hold more than
/// `checkpointing.max_staged_rows`, before a partition is given up, and at the end).
/// `on_output` sees every step's output as well (the benchmark's checksum).
///
/// # Errors
/// Engine bugs, a source that cannot commit, or a task whose checkpoint cannot be read;
/// dead-letter, sink and checkpoint write failures are retried instead.
pub async fn run<S, D, K, F>(
    pipeline: &mut Pipeline,
    source: &mut S,
    dead_letters: &mut D,
    sinks: &mut K,
    checkpointing: &Checkpointing,
    mut shutdown: watch::Receiver<bool>,
    mut on_output: F,
) -> Result<RunSummary>
where
    S: Source,
    D: DeadLetterSink,
    K: WindowSink,
    F: FnMut(&StepOutput),
{
    let mut tasks = Tasks::new(checkpointing.clone());
    let mut abandoned = false;
    let mut summary = RunSummary::default();
    // A batch read ahead (and, when large, already checked) while the previous one was
    // applied; `Some(None)` is a read-ahead end of input.
    let mut ahead: Option<(Option<Vec<RawMessage>>, Option<Prepared>)> = None;
    let mut balance = Balance::default();
    let worker = if pipeline.parallel_decode() {
        CheckWorker::start()
    } else {
        None
    };
    loop {
        if *shutdown.borrow() {
            info!("shutdown requested, stopping after the batch in hand");
            break;
        }
        let (mut batch, mut prepared) = match ahead.take() {
            Some(read_ahead) => read_ahead,
            None => {
                let batch = tokio::select! {
                    batch = source.next_batch() => batch?,
                    _ = shutdown.changed() => continue,
                };
                (batch, None)
            }
        };
        let now = now_ms();
        let revoked = source.revoked();
        if !revoked.is_empty() {
            // Checkpoint before giving the partitions up; their unprocessed messages are
            // the new owner's.
            if tasks
                .checkpoint(pipeline, sinks, source, Some(&revoked), &shutdown)
                .await?
                == Round::Abandoned
            {
                abandoned = true;
                break;
            }
            for &id in &revoked {
                tasks.revoke(pipeline, id);
            }
            if let Some(messages) = &mut batch
                && messages.iter().any(|m| revoked.contains(&m.source))
            {
                messages.retain(|m| !revoked.contains(&m.source));
                prepared = None;
            }
        }
        // Only now may another instance take the partitions over (and read the fresh
        // checkpoints): a member stuck before this is evicted after max.poll.interval.ms.
        source.release(&revoked)?;
        // After revocations: a partition revoked and assigned again in one rebalance
        // restarts from its checkpoint.
        for assignment in source.assigned() {
            if tasks
                .assign(pipeline, sinks, assignment, now, &shutdown)
                .await?
                == Round::Abandoned
            {
                abandoned = true;
                break;
            }
        }
        if abandoned {
            break;
        }
        if source.rebalanced() {
            tasks.rebalanced();
        }
        if let Some(messages) = &mut batch {
            let screened = tasks.screen(messages);
            if screened.dropped {
                prepared = None;
            }
            for (id, offset) in screened.seeks.into_iter().chain(tasks.stalled()) {
                if let Err(error) = source.rewind(id, offset) {
                    warn!(%error, source = id, offset, "seeking back to the checkpoint failed; retried with the next message");
                }
            }
        }
        let Some(messages) = batch else {
            let out = pipeline.finish()?;
            tasks.stage(sinks, &out)?;
            on_output(&out);
            info!(messages = summary.messages, "end of input");
            break;
        };
        let out = if messages.is_empty() {
            pipeline.tick(now)?
        } else if let Some(worker) = worker.as_ref().filter(|_| messages.len() >= READ_AHEAD_MIN) {
            // Under load, overlap: check the next batch on another core while this one is
            // applied. Light traffic skips this, so a quiet feed gets no extra latency.
            let next = tokio::select! {
                next = source.next_batch() => Some(next?),
                _ = shutdown.changed() => None,
            };
            match next {
                Some(Some(next)) if !next.is_empty() => {
                    let (out, next, next_prepared) = overlapped(
                        worker,
                        pipeline,
                        &messages,
                        prepared,
                        next,
                        now,
                        &mut balance,
                    );
                    ahead = Some((Some(next), Some(next_prepared)));
                    out?
                }
                other => {
                    ahead = other.map(|batch| (batch, None));
                    process(pipeline, &messages, prepared, now)?
                }
            }
        } else {
            process(pipeline, &messages, prepared, now)?
        };
        if !messages.is_empty() || !out.traffic.is_empty() {
            debug!(
                messages = messages.len(),
                accepted = out.accepted,
                rejected = out.dead_letters.len(),
                late = out.late,
                closed_traffic = out.traffic.len(),
                closed_parking = out.parking.len(),
                "batch processed"
            );
        }
        summary.messages += messages.len() as u64;
        summary.accepted += out.accepted as u64;
        summary.rejected += out.dead_letters.len() as u64;
        summary.late += out.late;
        if !send_with_retry(dead_letters, &out.dead_letters, &shutdown)
            .instrument(info_span!("deadletter", count = out.dead_letters.len()))
            .await
        {
            // The batch is not observed, so no checkpoint covers it: it is read again.
            abandoned = true;
            break;
        }
        tasks.observe(&messages, &out.runs);
        if sinks.wants_input() {
            tasks.stage_input(sinks, &messages, &out.runs)?;
        }
        tasks.stage(sinks, &out)?;
        on_output(&out);
        if !tasks.snapshots() && !messages.is_empty() {
            source.commit(&messages)?;
        }
        if tasks.due(sinks)
            && tasks
                .checkpoint(pipeline, sinks, source, None, &shutdown)
                .await?
                == Round::Abandoned
        {
            abandoned = true;
            break;
        }
    }
    // A round abandoned for shutdown leaves the previous checkpoints: the tail is replayed.
    if !abandoned {
        tasks
            .checkpoint(pipeline, sinks, source, None, &shutdown)
            .await?;
    }
    source.close()?;
    Ok(summary)
}

/// Batches at least this large are applied while the next one is checked.
const READ_AHEAD_MIN: usize = 2048;

fn process(
    pipeline: &mut Pipeline,
    messages: &[RawMessage],
    prepared: Option<Prepared>,
    now: i64,
) -> stadtpuls_processing::Result<StepOutput> {
    match prepared {
        Some(prepared) => pipeline.process_prepared(messages, prepared, now),
        None => pipeline.process(messages, now),
    }
}

/// How a batch's checks are split between the other core and this one, learnt from the
/// last batches so both finish together.
#[derive(Debug, Clone, Copy)]
struct Balance {
    /// Share of the next batch checked on the other core.
    worker_share: f64,
}

impl Default for Balance {
    fn default() -> Self {
        // Applying costs about half as much as checking: start with two thirds.
        Self {
            worker_share: 2.0 / 3.0,
        }
    }
}

/// Time spent checking a number of messages on one thread.
#[derive(Debug, Clone, Copy)]
struct Checks {
    messages: usize,
    time: Duration,
}

impl Checks {
    fn per_message(self) -> Option<f64> {
        (self.messages > 0 && !self.time.is_zero())
            .then(|| self.time.as_secs_f64() / self.messages as f64)
    }
}

impl Balance {
    /// Updates the share from one batch. With `c_w` and `c_m` the time to check one
    /// message on the worker and on this thread (their caches differ) and `a` the time to
    /// apply the batch, both finish together when the worker checks `s·n` messages and this
    /// thread applies and checks `(1 − s)·n`: `s·n·c_w = a + (1 − s)·n·c_m`, so
    /// `s = (a + n·c_m) / (n·(c_w + c_m))`. Smoothed (new = ¾ old + ¼ measured) and kept
    /// within [½, 0.95].
    fn learn(&mut self, worker: Checks, here: Checks, apply_time: Duration, next_len: usize) {
        let Some(c_w) = worker.per_message() else {
            return;
        };
        if next_len == 0 {
            return;
        }
        let c_m = here.per_message().unwrap_or(c_w);
        let n = next_len as f64;
        let ideal = (apply_time.as_secs_f64() + n * c_m) / (n * (c_w + c_m));
        self.worker_share = (0.75 * self.worker_share + 0.25 * ideal).clamp(0.5, 0.95);
    }
}

/// Applies `messages` on this thread while most of `next` is checked by the worker; this
/// thread checks the rest of `next` when done, so both cores stay busy. Gives `next` back.
fn overlapped(
    worker: &CheckWorker,
    pipeline: &mut Pipeline,
    messages: &[RawMessage],
    prepared: Option<Prepared>,
    next: Vec<RawMessage>,
    now: i64,
    balance: &mut Balance,
) -> (
    stadtpuls_processing::Result<StepOutput>,
    Vec<RawMessage>,
    Prepared,
) {
    let preparer = pipeline.preparer();
    let prepared = prepared.unwrap_or_else(|| preparer.prepare_parallel(messages, now));
    let split = ((next.len() as f64 * balance.worker_share) as usize).min(next.len());
    let next = Arc::new(next);
    worker.submit(Job {
        preparer: preparer.clone(),
        messages: next.clone(),
        end: split,
        now,
    });
    let started = Instant::now();
    let out = pipeline.process_prepared(messages, prepared, now);
    let apply_time = started.elapsed();
    let tail_started = Instant::now();
    let tail = preparer.prepare(&next[split..], now);
    let here = Checks {
        messages: next.len() - split,
        time: tail_started.elapsed(),
    };
    let (mut checked, check_time) = worker.finish();
    // A batch that closed windows pays for emitting them once a window length; learning
    // from it would skew the split of the many ordinary batches.
    let emitted = out
        .as_ref()
        .is_ok_and(|o| !o.traffic.is_empty() || !o.parking.is_empty());
    if !emitted {
        let worker = Checks {
            messages: split,
            time: check_time,
        };
        balance.learn(worker, here, apply_time, next.len());
    }
    if checked.len() == split {
        checked.extend(tail);
    } else {
        // The worker's checks were lost (a bug): the whole batch takes the serial path.
        checked = Prepared::default();
    }
    // The worker released its handle before reporting; a copy is a fallback only.
    let next = Arc::try_unwrap(next).unwrap_or_else(|shared| shared.as_ref().clone());
    (out, next, checked)
}

/// Retries until the sink accepts: committing past an unwritten dead letter would lose it.
/// (A letter that can never be written is given up by the sink itself, see
/// [`DeadLetterSink::send`].)
/// False when shutdown was requested and the grace ([`retry::SHUTDOWN_GRACE`]) ran out
/// first: the batch must then not be checkpointed, so that it is read again.
async fn send_with_retry<D: DeadLetterSink>(
    sink: &mut D,
    letters: &[DeadLetter],
    shutdown: &watch::Receiver<bool>,
) -> bool {
    if letters.is_empty() {
        return true;
    }
    let grace = retry::shutdown_grace(shutdown);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(messages: usize, ms: u64) -> Checks {
        Checks {
            messages,
            time: Duration::from_millis(ms),
        }
    }

    /// Worker: 600 checks in 60 ms (0.1 ms each); here: 300 in 15 ms (0.05 ms each);
    /// applying took 20 ms; the next batch has 900: ideal share = (20 + 900·0.05) /
    /// (900·(0.1 + 0.05)) = 65 / 135 = 0.48148; smoothed from ⅔: ¾·0.66667 + ¼·0.48148 =
    /// 0.62037.
    #[test]
    fn balance_moves_towards_equal_finish_times() {
        let mut b = Balance::default();
        b.learn(
            checks(600, 60),
            checks(300, 15),
            Duration::from_millis(20),
            900,
        );
        assert!(
            (b.worker_share - 0.620_370).abs() < 1e-5,
            "{}",
            b.worker_share
        );
        // an apply far more expensive than checking saturates at 0.95
        for _ in 0..50 {
            b.learn(checks(600, 1), checks(300, 1), Duration::from_secs(1), 900);
        }
        assert!((b.worker_share - 0.95).abs() < 1e-9);
        // nothing measured: unchanged
        b.learn(checks(0, 0), checks(0, 0), Duration::ZERO, 0);
        assert!((b.worker_share - 0.95).abs() < 1e-9);
    }
}
