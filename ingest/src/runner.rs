//! The loop that moves batches from a source through the pipeline to the sinks.
//!
//! Order per batch gives at-least-once reading with nothing silently dropped: process →
//! write dead letters (retrying until the sink takes them) → stage closed windows per
//! owning task in the window sinks. With a checkpoint store, offsets become durable only
//! with a task's checkpoint (`tasks.rs`, decision 002), so a crash replays from the last
//! snapshot with its state; without one, offsets are stored after every batch.

mod ports;
mod read_ahead;
mod resume;
mod retry;
mod tasks;
mod worker;

pub use crate::clock::now_ms;
pub use crate::health::Readiness;
pub use ports::{Assignment, DeadLetterSink, Source};
pub use tasks::Checkpointing;

use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::watermark::SourceId;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::Result;
use crate::message::RawMessage;
use crate::pipeline::{Pipeline, Prepared, StepOutput};
use crate::sink::WindowSink;
use read_ahead::{Balance, READ_AHEAD_MIN, overlapped, process};
use retry::{Round, send_with_retry};
use tasks::Tasks;
use worker::CheckWorker;

/// Catalogs up to this many entities are copied when a batch admits while the next one is
/// checked. By estimate (~20 ns an entity, not measured apart) that is at most ~1.3 ms,
/// less than a batch of 8,192 messages loses without read-ahead (~40 % of its ~4 ms).
/// Above it, read-ahead pauses after admitting steps, so a new network of millions of
/// sensors is not copied once per batch.
const ADMITTING_COPY_MAX: usize = 1 << 16;

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
/// Each batch goes through the phases in this order: read → rebalance (checkpoint and
/// release revoked tasks, restore assigned ones) → screen (where restored tasks resume) →
/// process → deliver dead letters → stage (and note offsets) → checkpoint when due. A
/// phase that gives up for shutdown ends the loop without the final checkpoint, so the
/// tail is read again after the restart.
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
    shutdown: watch::Receiver<bool>,
    on_output: F,
) -> Result<RunSummary>
where
    S: Source,
    D: DeadLetterSink,
    K: WindowSink,
    F: FnMut(&StepOutput),
{
    let mut runner = Runner {
        tasks: Tasks::new(checkpointing.clone()),
        summary: RunSummary::default(),
        ahead: None,
        balance: Balance::default(),
        worker: if pipeline.parallel_decode() {
            CheckWorker::start()
        } else {
            None
        },
        pipeline,
        source,
        dead_letters,
        sinks,
        shutdown,
        on_output,
    };
    let end = loop {
        if *runner.shutdown.borrow() {
            info!("shutdown requested, stopping after the batch in hand");
            break End::Finished;
        }
        let Some(mut batch) = runner.read().await? else {
            continue;
        };
        let now = now_ms();
        if runner.rebalance(&mut batch, now).await? == End::Abandoned {
            break End::Abandoned;
        }
        runner.screen(&mut batch);
        let Some(messages) = batch.messages else {
            runner.end_of_input()?;
            break End::Finished;
        };
        let out = runner.process(&messages, batch.prepared, now).await?;
        if runner.deliver_dead_letters(&out).await == End::Abandoned {
            break End::Abandoned;
        }
        runner.stage(&messages, &out)?;
        if runner.checkpoint_if_due().await? == End::Abandoned {
            break End::Abandoned;
        }
    };
    runner.close(end).await
}

/// How a phase leaves the loop: a finished run checkpoints every task at the end; one
/// abandoned for shutdown does not (`Continue` goes on with the next phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Continue,
    Finished,
    Abandoned,
}

impl From<Round> for End {
    fn from(round: Round) -> Self {
        match round {
            Round::Abandoned => End::Abandoned,
            Round::Done | Round::Fenced => End::Continue,
        }
    }
}

/// A batch in hand: its messages (`None` at the end of input) and, when it was read ahead
/// under load, its checks.
struct Batch {
    messages: Option<Vec<RawMessage>>,
    prepared: Option<Prepared>,
}

/// What the loop carries from one batch to the next.
struct Runner<'a, S, D, K, F> {
    pipeline: &'a mut Pipeline,
    source: &'a mut S,
    dead_letters: &'a mut D,
    sinks: &'a mut K,
    shutdown: watch::Receiver<bool>,
    on_output: F,
    tasks: Tasks,
    summary: RunSummary,
    /// A batch read ahead (and, when large, already checked) while the previous one was
    /// applied.
    ahead: Option<Batch>,
    balance: Balance,
    worker: Option<CheckWorker>,
}

impl<S, D, K, F> Runner<'_, S, D, K, F>
where
    S: Source,
    D: DeadLetterSink,
    K: WindowSink,
    F: FnMut(&StepOutput),
{
    /// Read: the batch read ahead, else the source's next one; `None` when a shutdown
    /// request interrupted the wait.
    async fn read(&mut self) -> Result<Option<Batch>> {
        if let Some(ahead) = self.ahead.take() {
            return Ok(Some(ahead));
        }
        let messages = tokio::select! {
            batch = self.source.next_batch() => batch?,
            _ = self.shutdown.changed() => return Ok(None),
        };
        Ok(Some(Batch {
            messages,
            prepared: None,
        }))
    }

    /// Rebalance: revoked tasks first (checkpointed, dropped, their partitions released),
    /// then assigned ones are restored — a partition revoked and assigned again in one
    /// rebalance restarts from its checkpoint.
    async fn rebalance(&mut self, batch: &mut Batch, now: ProcessingTime) -> Result<End> {
        let revoked = self.source.revoked();
        if !revoked.is_empty() && self.revoke(&revoked, batch).await? == End::Abandoned {
            return Ok(End::Abandoned);
        }
        // Only now may another instance take the partitions over (and read the fresh
        // checkpoints): a member stuck before this is evicted after max.poll.interval.ms.
        self.source.release(&revoked)?;
        for assignment in self.source.assigned() {
            let round = self
                .tasks
                .assign(self.pipeline, self.sinks, assignment, now, &self.shutdown)
                .await?;
            if round == Round::Abandoned {
                return Ok(End::Abandoned);
            }
        }
        if self.source.rebalanced() {
            self.tasks.rebalanced();
        }
        Ok(End::Continue)
    }

    /// Checkpoints revoked tasks before their partitions are given up, then drops them
    /// with their messages in the batch: those are the new owner's.
    async fn revoke(&mut self, revoked: &[SourceId], batch: &mut Batch) -> Result<End> {
        let round = self
            .tasks
            .checkpoint(
                self.pipeline,
                self.sinks,
                self.source,
                Some(revoked),
                &self.shutdown,
            )
            .await?;
        if round == Round::Abandoned {
            return Ok(End::Abandoned);
        }
        for &id in revoked {
            self.tasks.revoke(self.pipeline, id);
        }
        if let Some(messages) = &mut batch.messages
            && messages.iter().any(|m| revoked.contains(&m.source))
        {
            messages.retain(|m| !revoked.contains(&m.source));
            batch.prepared = None;
        }
        Ok(End::Continue)
    }

    /// Screen: drops messages restored tasks have already applied and seeks back the
    /// partitions whose first message lies beyond their checkpoint, or that have been
    /// silent since their restore (`resume.rs`).
    fn screen(&mut self, batch: &mut Batch) {
        let Some(messages) = &mut batch.messages else {
            return;
        };
        let screened = self.tasks.screen(messages);
        if screened.dropped {
            batch.prepared = None;
        }
        for (id, offset) in screened.seeks.into_iter().chain(self.tasks.stalled()) {
            if let Err(error) = self.source.rewind(id, offset) {
                warn!(%error, source = id, offset, "seeking back to the checkpoint failed; retried with the next message");
            }
        }
    }

    /// End of input: the pipeline's last windows are staged.
    fn end_of_input(&mut self) -> Result<()> {
        let out = self.pipeline.finish()?;
        self.tasks.stage(self.sinks, &out)?;
        (self.on_output)(&out);
        info!(messages = self.summary.messages, "end of input");
        Ok(())
    }

    /// Process: one pipeline step (a tick for an empty batch). Under load the next batch
    /// is read and checked on the other core meanwhile; light traffic skips this, so a
    /// quiet feed gets no extra latency, and so does a large catalog admitting new
    /// sensors ([`Self::copies_catalog`]), which then checks each batch on both cores
    /// before applying it.
    async fn process(
        &mut self,
        messages: &[RawMessage],
        prepared: Option<Prepared>,
        now: ProcessingTime,
    ) -> Result<StepOutput> {
        let out = if messages.is_empty() {
            self.pipeline.tick(now)?
        } else if let Some(worker) = self
            .worker
            .as_ref()
            .filter(|_| messages.len() >= READ_AHEAD_MIN && !self.copies_catalog())
        {
            let next = tokio::select! {
                next = self.source.next_batch() => Some(next?),
                _ = self.shutdown.changed() => None,
            };
            match next {
                Some(Some(next)) if !next.is_empty() => {
                    let (out, next, next_prepared) = overlapped(
                        worker,
                        self.pipeline,
                        messages,
                        prepared,
                        next,
                        now,
                        &mut self.balance,
                    );
                    self.ahead = Some(Batch {
                        messages: Some(next),
                        prepared: Some(next_prepared),
                    });
                    out?
                }
                other => {
                    self.ahead = other.map(|messages| Batch {
                        messages,
                        prepared: None,
                    });
                    process(self.pipeline, messages, prepared, now)?
                }
            }
        } else {
            process(self.pipeline, messages, prepared, now)?
        };
        self.count(messages, &out);
        Ok(out)
    }

    /// Whether checking the next batch beside this one would copy a large catalog: the
    /// last step admitted entities, so this one likely does too, while the checker holds
    /// the catalog. Up to [`ADMITTING_COPY_MAX`] entities the copy is cheaper than
    /// applying without read-ahead.
    fn copies_catalog(&self) -> bool {
        self.pipeline.admitting() && self.pipeline.entity_count() > ADMITTING_COPY_MAX
    }

    fn count(&mut self, messages: &[RawMessage], out: &StepOutput) {
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
        self.summary.messages += messages.len() as u64;
        self.summary.accepted += out.accepted as u64;
        self.summary.rejected += out.dead_letters.len() as u64;
        self.summary.late += out.late;
    }

    /// Deliver dead letters, before anything else of the batch: retried until the sink
    /// acknowledges them. Given up for shutdown, the batch is not observed, so no
    /// checkpoint covers it: it is read again.
    async fn deliver_dead_letters(&mut self, out: &StepOutput) -> End {
        let letters = &out.dead_letters;
        let delivered = send_with_retry(self.dead_letters, letters, &self.shutdown)
            .instrument(info_span!("deadletter", count = letters.len()))
            .await;
        if delivered {
            End::Continue
        } else {
            End::Abandoned
        }
    }

    /// Stage: the batch's offsets noted per task, its input (for sinks archiving it) and
    /// closed windows staged per owning task; without checkpoints its offsets are stored
    /// now (at-least-once).
    fn stage(&mut self, messages: &[RawMessage], out: &StepOutput) -> Result<()> {
        self.tasks.observe(messages, &out.runs);
        if self.sinks.wants_input() {
            self.tasks.stage_input(self.sinks, messages, &out.runs)?;
        }
        self.tasks.stage(self.sinks, out)?;
        (self.on_output)(out);
        if !self.tasks.snapshots() && !messages.is_empty() {
            self.source.commit(messages)?;
        }
        Ok(())
    }

    /// Checkpoint every changed task when due (interval passed, or too many rows staged).
    async fn checkpoint_if_due(&mut self) -> Result<End> {
        if !self.tasks.due(self.sinks) {
            return Ok(End::Continue);
        }
        let round = self
            .tasks
            .checkpoint(self.pipeline, self.sinks, self.source, None, &self.shutdown)
            .await?;
        Ok(round.into())
    }

    /// After the loop: a final checkpoint unless a phase was abandoned for shutdown (that
    /// leaves the previous checkpoints: the tail is replayed), then the source is closed.
    async fn close(mut self, end: End) -> Result<RunSummary> {
        if end != End::Abandoned {
            self.tasks
                .checkpoint(self.pipeline, self.sinks, self.source, None, &self.shutdown)
                .await?;
        }
        self.source.close()?;
        Ok(self.summary)
    }
}
