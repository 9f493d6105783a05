//! The one shape every windowed operator has.
//!
//! After Arroyo's `ArrowOperator`: an operator folds batches, closes what the watermark
//! passed, and hands a task's state over — nothing else. It is synchronous and does no
//! I/O: what it did comes back as values ([`ProcessStats`], [`ClosedWindows`], snapshots),
//! for the caller to count, dead-letter and deliver. The sources' clocks are the shared
//! bookkeeping (`windowed.rs`); the provided methods reach them through [`Operator::clocks`].

use crate::Result;
use crate::catalog::Catalog;
use crate::time::{ProcessingTime, Watermark};
use crate::window::restore::RestoreStats;
use crate::window::watermark::{SourceId, WatermarkTracker};
use crate::window::{ClosedWindows, ProcessStats};

/// How far an operator closes its windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Every window the watermark, recomputed at this processing time, has passed.
    Due(ProcessingTime),
    /// Every open window (end of input).
    All,
}

/// A windowed operator: fold a source's batch, close windows, snapshot and restore a task.
pub trait Operator {
    /// The batch it folds (one stream's rows of one source).
    type Batch;
    /// The state of one task, as its checkpoint keeps it.
    type Snapshot;

    /// Folds a batch from `source`, read at processing time `now`, into the open windows.
    ///
    /// Lateness is judged against the watermark before the batch; the batch then moves
    /// its source's clock. Late rows come back in [`ProcessStats::late_rows`], each with
    /// the windows that dropped it.
    ///
    /// # Errors
    /// [`ProcessingError::Schema`](crate::ProcessingError::Schema) if the batch is not
    /// of this operator's stream (a bug).
    fn fold(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        batch: &Self::Batch,
        catalog: &Catalog,
    ) -> Result<ProcessStats>;

    /// Moves the watermark and hands each window it passed to `sink` as soon as it is
    /// built: a replay closes thousands of small windows in one step, which the caller
    /// can merge as they come instead of holding them all.
    ///
    /// # Errors
    /// Only if Arrow refuses the output columns (a bug), or `sink`'s error; the windows
    /// closed after it are dropped.
    fn close(
        &mut self,
        until: Close,
        catalog: &Catalog,
        sink: &mut dyn FnMut(ClosedWindows) -> Result<()>,
    ) -> Result<()>;

    /// The open state task `source` owns, with its source's clock.
    fn snapshot(&self, source: SourceId, catalog: &Catalog) -> Self::Snapshot;

    /// Merges a snapshot of task `source` back at processing time `now`, resolving its
    /// entities by id in `catalog` (re-admitting sensors admitted at run time).
    fn restore(
        &mut self,
        source: SourceId,
        snapshot: &Self::Snapshot,
        catalog: &mut Catalog,
        now: ProcessingTime,
    ) -> RestoreStats;

    /// Drops everything `source` owns and forgets the source (partition revoked, after
    /// its checkpoint).
    fn revoke(&mut self, source: SourceId, catalog: &Catalog);

    /// The sources' clocks.
    fn clocks(&self) -> &WatermarkTracker;

    /// The sources' clocks, to register or forget one.
    fn clocks_mut(&mut self) -> &mut WatermarkTracker;

    /// Registers a source (partition) as soon as it is assigned, so it holds the
    /// watermark until it delivers or turns idle.
    fn add_source(&mut self, source: SourceId, now: ProcessingTime) {
        self.clocks_mut().register(source, now);
    }

    /// Marks a source alive without data (empty fetch).
    fn heartbeat(&mut self, source: SourceId, now: ProcessingTime) {
        self.clocks_mut().heartbeat(source, now);
    }

    /// Forgets a source (partition revoked) so it no longer holds the watermark.
    fn remove_source(&mut self, source: SourceId) {
        self.clocks_mut().remove(source);
    }

    /// The operator watermark.
    fn watermark(&self) -> Watermark {
        self.clocks().current()
    }

    /// [`Self::close`] up to the watermark at `now`, collected.
    ///
    /// # Errors
    /// As [`Self::close`].
    fn advance(&mut self, now: ProcessingTime, catalog: &Catalog) -> Result<Vec<ClosedWindows>> {
        let mut closed = Vec::new();
        self.close(Close::Due(now), catalog, &mut |c| {
            closed.push(c);
            Ok(())
        })?;
        Ok(closed)
    }

    /// Closes every open window (end of input), collected.
    ///
    /// # Errors
    /// As [`Self::close`].
    fn finish(&mut self, catalog: &Catalog) -> Result<Vec<ClosedWindows>> {
        let mut closed = Vec::new();
        self.close(Close::All, catalog, &mut |c| {
            closed.push(c);
            Ok(())
        })?;
        Ok(closed)
    }
}
