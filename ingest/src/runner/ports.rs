//! The runner's ports: what it reads from ([`Source`]) and where refused observations go
//! ([`DeadLetterSink`]). Defined here, where they are used, and implemented by the Kafka
//! clients (`kafka/`), the demo feed and test sources; the window sinks' port is
//! [`WindowSink`](crate::sink::WindowSink).

use std::future::Future;

use stadtpuls_processing::window::watermark::SourceId;

use crate::Result;
use crate::checkpoint::Checkpoint;
use crate::message::{DeadLetter, RawMessage};
use crate::sink::Task;

/// A partition given to this instance, with the checkpoint its consumer was positioned at.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The pipeline's id of the partition.
    pub source: SourceId,
    /// The partition.
    pub task: Task,
    /// Its newest valid checkpoint, if any: the source already reads from its offset.
    /// `Err` when the checkpoint directory could not be read: the task must not start.
    pub checkpoint: std::result::Result<Option<Checkpoint>, String>,
}

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
