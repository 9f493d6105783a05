//! Closing the Kafka source at exit, bounded: the final offset commit waits at most
//! [`CLOSE_COMMIT_TIMEOUT`], and a consumer whose broker is down or did not answer is left
//! open instead of leaving its group (which would wait for the broker).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use stadtpuls_processing::window::watermark::SourceId;
use tracing::{info, warn};

use super::KafkaSource;
use crate::runner::Source;
use crate::{IngestError, Result};

/// How long the final offset commit at exit may wait for the group coordinator. A broker
/// that accepts connections but does not answer (hung, frozen) is no outage to librdkafka,
/// and a synchronous commit would wait for it as long as it is hung.
const CLOSE_COMMIT_TIMEOUT: Duration = Duration::from_secs(2);

impl KafkaSource {
    /// [`Source::close`]: the final offset commit, bounded, then revokes are answered at
    /// once.
    pub(super) fn close_bounded(&mut self) -> Result<()> {
        // A synchronous commit waits for the group coordinator: with no broker reachable it
        // would hold the exit past any container's grace period. The offsets stored are
        // for lag monitoring when checkpoints are on; without them the next start reads
        // again from the last stored ones (at least once).
        if self.consumer.context().ready.broker().is_down() {
            warn!("no kafka broker reachable at exit: the final offset commit is skipped");
            self.begin_close();
            return Ok(());
        }
        let committed = match self.commit_within(CLOSE_COMMIT_TIMEOUT) {
            Some(Ok(())) => Ok(()),
            Some(Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset))) => {
                info!("no offsets left to commit at exit: the final offset commit is skipped");
                Ok(())
            }
            Some(Err(e)) => Err(IngestError::kafka("final offset commit", e)),
            None => {
                warn!(
                    timeout_s = CLOSE_COMMIT_TIMEOUT.as_secs_f64(),
                    "the kafka broker did not answer the final offset commit in time: given up (the checkpoints hold the positions; without them the tail is read again)"
                );
                self.unanswered = true;
                Ok(())
            }
        };
        self.begin_close();
        committed
    }

    /// Commits the stored offsets synchronously on a thread of its own, waiting at most
    /// `timeout`; `None` when no answer came in time (the thread is left to finish or to end
    /// with the process: librdkafka's commit takes no timeout).
    fn commit_within(&self, timeout: Duration) -> Option<std::result::Result<(), KafkaError>> {
        let consumer = Arc::clone(&self.consumer);
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("kafka-final-commit".into())
            .spawn(move || {
                let _ = tx.send(consumer.commit_consumer_state(CommitMode::Sync));
            });
        if let Err(error) = spawned {
            warn!(%error, "cannot start the final offset commit");
            return Some(Ok(()));
        }
        rx.recv_timeout(timeout).ok()
    }

    /// From now on revokes are answered at once; one still pending is answered now (the
    /// runner checkpointed every task before closing, or failed and replays from the last
    /// checkpoints), so leaving the group cannot hang.
    fn begin_close(&mut self) {
        self.consumer
            .context()
            .closing
            .store(true, Ordering::Release);
        let pending: Vec<SourceId> = self.revoked();
        if let Err(error) = self.release(&pending) {
            warn!(%error, "releasing revoked partitions on close failed");
        }
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        // The consumer leaves its group when dropped, which calls `rebalance` once more.
        self.begin_close();
        if self.unanswered || self.consumer.context().ready.broker().is_down() {
            // Closing waits for the group coordinator to answer, which no broker does (or
            // the one there did not answer the final commit): the exit would hang past any
            // container's grace period. The consumer is left open for the process to end
            // with; the group drops the member after `session.timeout.ms`, as it would have
            // to anyway. (A broker that stops answering only now is bounded by the caller,
            // `src/app.rs`, which drops the clients on a thread it does not wait for long.)
            warn!(
                "the kafka broker is unreachable or does not answer at exit: the consumer does not leave its group"
            );
            std::mem::forget(Arc::clone(&self.consumer));
        }
    }
}
