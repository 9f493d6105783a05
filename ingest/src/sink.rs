//! Where closed windows go: history, output topics. See `docs/decisions/002-effectively-once.md`.
//!
//! A sink stages each step's closed windows in memory and makes them durable only when the
//! runner commits an epoch, just before it writes the checkpoint of that epoch. After a crash
//! the runner restores the last checkpoint and calls [`WindowSink::recover`] with its epoch,
//! so output of a checkpoint that never completed is dropped and then produced again by the
//! replay: each closed window is published once.

use std::future::Future;

use crate::Result;
use crate::pipeline::StepOutput;

/// A destination of closed windows with epoch commits.
pub trait WindowSink {
    /// A label for metrics and logs.
    fn name(&self) -> &'static str;

    /// Stages the closed windows of one step; cheap and in memory.
    ///
    /// # Errors
    /// Only bugs (a closed-window batch of an unexpected schema).
    fn stage(&mut self, out: &StepOutput) -> Result<()>;

    /// Rows staged but not yet committed (the runner checkpoints early above a bound).
    fn staged_rows(&self) -> usize;

    /// Makes everything staged durable as part of `epoch`; on error nothing of the epoch
    /// may be visible to readers once [`WindowSink::recover`] has run, and the runner retries.
    fn commit(&mut self, epoch: u64) -> impl Future<Output = Result<()>>;

    /// Drops output of epochs after `committed_epoch` (a checkpoint that never completed).
    ///
    /// # Errors
    /// When the orphans cannot be removed; the runner must not start.
    fn recover(&mut self, committed_epoch: u64) -> Result<()>;
}
