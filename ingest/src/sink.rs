//! Where closed windows go: history, output topics. See `docs/decisions/002-effectively-once.md`.
//!
//! State and output are owned per **task** — one input topic-partition, as in Kafka Streams —
//! so a partition that moves to another instance takes its open windows, its offset and its
//! sink epochs with it. A sink stages each task's closed windows in memory and makes them
//! durable only when the runner commits that task's epoch, just before it writes the task's
//! checkpoint. After a crash or a rebalance the new owner restores the task's last checkpoint
//! and calls [`WindowSink::recover`] with its epoch, so output of a checkpoint that never
//! completed is dropped and then produced again by the replay: each closed window is
//! published once.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use stadtpuls_processing::window::ClosedWindows;

use crate::Result;
use crate::message::RawMessage;

/// One input topic-partition: the unit of state, checkpoints and sink epochs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Task {
    /// Input topic, e.g. `traffic.ulm`.
    pub topic: Arc<str>,
    /// Partition of the topic.
    pub partition: i32,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Which result stream closed windows belong to (`Traffic`: per sensor, classified,
/// `StepOutput::traffic`; `TrafficLanes`: per sensor and lane; `Parking`: per facility) —
/// the contract's stream, whose columns `stadtpuls_processing::model::contract` defines.
pub use stadtpuls_processing::model::contract::HistoryStream as Stream;

/// A destination of closed windows with per-task epoch commits.
pub trait WindowSink {
    /// A label for metrics and logs.
    fn name(&self) -> &'static str;

    /// Stages closed windows owned by `task`; cheap and in memory.
    ///
    /// # Errors
    /// Only bugs (a closed-window batch of an unexpected schema).
    fn stage(&mut self, task: &Task, stream: Stream, closed: &ClosedWindows) -> Result<()>;

    /// Rows staged but not yet committed, over all tasks (the runner checkpoints early
    /// above a bound, which bounds memory when a sink is slow).
    fn staged_rows(&self) -> usize;

    /// Bytes of the staged rows' Arrow buffers, over all tasks (`stadtpuls_sink_staged_bytes`).
    fn staged_bytes(&self) -> usize {
        0
    }

    /// Whether the sink archives input messages ([`WindowSink::stage_input`]); the runner
    /// skips the call otherwise.
    fn wants_input(&self) -> bool {
        false
    }

    /// Stages `task`'s input messages as read (the history's raw archive), committed with
    /// the task's epoch like its closed windows.
    ///
    /// # Errors
    /// Only bugs.
    fn stage_input(&mut self, _task: &Task, _messages: &[RawMessage]) -> Result<()> {
        Ok(())
    }

    /// Makes everything staged for `task` durable as part of its `epoch`; on error nothing
    /// of that epoch may be visible to readers once [`WindowSink::recover`] has run, and the
    /// runner retries.
    fn commit(&mut self, task: &Task, epoch: u64) -> impl Future<Output = Result<()>>;

    /// Drops output of `task`'s epochs after `committed_epoch` (a checkpoint that never
    /// completed) and anything staged for it; called when the task is (re)assigned.
    ///
    /// # Errors
    /// When the orphans cannot be removed; the task must not start.
    fn recover(&mut self, task: &Task, committed_epoch: u64) -> Result<()>;

    /// Forgets what is staged for `task` without touching anything durable: the task
    /// belongs to another instance now (see `checkpoint/claim.rs`), whose output this one
    /// must not change.
    fn discard(&mut self, task: &Task);
}

/// No sink: closed windows go nowhere but the live view (demo, benchmarks, tests).
impl WindowSink for () {
    fn name(&self) -> &'static str {
        "none"
    }

    fn stage(&mut self, _task: &Task, _stream: Stream, _closed: &ClosedWindows) -> Result<()> {
        Ok(())
    }

    fn staged_rows(&self) -> usize {
        0
    }

    async fn commit(&mut self, _task: &Task, _epoch: u64) -> Result<()> {
        Ok(())
    }

    fn recover(&mut self, _task: &Task, _committed_epoch: u64) -> Result<()> {
        Ok(())
    }

    fn discard(&mut self, _task: &Task) {}
}

/// Two sinks as one (history and output topics); nest pairs for more.
///
/// A commit of a task's epoch commits `first`, then `second`. When `second` fails, the
/// runner retries the pair's commit; `first` is not committed a second time for the
/// same task and epoch (its staged rows are already durable).
#[derive(Debug)]
pub struct SinkPair<A, B> {
    /// Committed first.
    pub first: A,
    /// Committed second.
    pub second: B,
    /// The (task, epoch) `first` has committed while `second` has not yet.
    first_done: Option<(Task, u64)>,
}

impl<A, B> SinkPair<A, B> {
    /// Pairs two sinks.
    pub fn new(first: A, second: B) -> Self {
        Self {
            first,
            second,
            first_done: None,
        }
    }
}

impl<A: WindowSink, B: WindowSink> WindowSink for SinkPair<A, B> {
    fn name(&self) -> &'static str {
        self.first.name()
    }

    fn stage(&mut self, task: &Task, stream: Stream, closed: &ClosedWindows) -> Result<()> {
        self.first.stage(task, stream, closed)?;
        self.second.stage(task, stream, closed)
    }

    fn staged_rows(&self) -> usize {
        self.first.staged_rows().max(self.second.staged_rows())
    }

    fn staged_bytes(&self) -> usize {
        self.first.staged_bytes() + self.second.staged_bytes()
    }

    fn wants_input(&self) -> bool {
        self.first.wants_input() || self.second.wants_input()
    }

    fn stage_input(&mut self, task: &Task, messages: &[RawMessage]) -> Result<()> {
        self.first.stage_input(task, messages)?;
        self.second.stage_input(task, messages)
    }

    async fn commit(&mut self, task: &Task, epoch: u64) -> Result<()> {
        let key = (task.clone(), epoch);
        if self.first_done.as_ref() != Some(&key) {
            self.first
                .commit(task, epoch)
                .await
                .map_err(|e| named(self.first.name(), e))?;
            self.first_done = Some(key);
        }
        self.second
            .commit(task, epoch)
            .await
            .map_err(|e| named(self.second.name(), e))?;
        self.first_done = None;
        Ok(())
    }

    fn recover(&mut self, task: &Task, committed_epoch: u64) -> Result<()> {
        self.first_done = None;
        self.first.recover(task, committed_epoch)?;
        self.second.recover(task, committed_epoch)
    }

    fn discard(&mut self, task: &Task) {
        if self.first_done.as_ref().is_some_and(|(t, _)| t == task) {
            self.first_done = None;
        }
        self.first.discard(task);
        self.second.discard(task);
    }
}

/// Labels an error with the sink it came from, for `stadtpuls_sink_commit_failures_total`.
fn named(sink: &'static str, error: crate::IngestError) -> crate::IngestError {
    match error {
        crate::IngestError::Sink { .. } => error,
        other => crate::IngestError::Sink {
            sink,
            detail: other.to_string(),
        },
    }
}

/// An optional sink (disabled in the config): `None` takes nothing and commits at once.
impl<S: WindowSink> WindowSink for Option<S> {
    fn name(&self) -> &'static str {
        self.as_ref().map_or("none", WindowSink::name)
    }

    fn stage(&mut self, task: &Task, stream: Stream, closed: &ClosedWindows) -> Result<()> {
        match self {
            Some(sink) => sink.stage(task, stream, closed),
            None => Ok(()),
        }
    }

    fn staged_rows(&self) -> usize {
        self.as_ref().map_or(0, WindowSink::staged_rows)
    }

    fn staged_bytes(&self) -> usize {
        self.as_ref().map_or(0, WindowSink::staged_bytes)
    }

    fn wants_input(&self) -> bool {
        self.as_ref().is_some_and(WindowSink::wants_input)
    }

    fn stage_input(&mut self, task: &Task, messages: &[RawMessage]) -> Result<()> {
        match self {
            Some(sink) => sink.stage_input(task, messages),
            None => Ok(()),
        }
    }

    async fn commit(&mut self, task: &Task, epoch: u64) -> Result<()> {
        match self {
            Some(sink) => sink.commit(task, epoch).await,
            None => Ok(()),
        }
    }

    fn recover(&mut self, task: &Task, committed_epoch: u64) -> Result<()> {
        match self {
            Some(sink) => sink.recover(task, committed_epoch),
            None => Ok(()),
        }
    }

    fn discard(&mut self, task: &Task) {
        if let Some(sink) = self {
            sink.discard(task);
        }
    }
}
