//! Checking a batch's messages ahead of applying it, on any thread: the [`Preparer`]
//! handle a pipeline gives out and the [`Prepared`] checks it returns.

use std::sync::Arc;

use stadtpuls_processing::catalog::Catalog;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::time::ProcessingTime;

use crate::decode::precheck;
use crate::message::RawMessage;

/// The checks of a batch's messages, aligned with them (see
/// [`Pipeline::preparer`](super::Pipeline::preparer)).
#[derive(Debug, Default)]
pub struct Prepared(pub(super) Vec<precheck::Checked>);

impl Prepared {
    /// Appends the checks of the messages that follow.
    pub fn extend(&mut self, next: Prepared) {
        self.0.extend(next.0);
    }

    /// Number of messages checked.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no message was checked.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks messages against a snapshot of the pipeline's catalog, on any thread.
#[derive(Debug, Clone)]
pub struct Preparer {
    catalog: Arc<Catalog>,
    max_future_ms: i64,
    max_message_bytes: usize,
}

impl Preparer {
    /// Checks against `catalog` with the pipeline's limits.
    pub(super) fn new(catalog: Arc<Catalog>, max_future_ms: i64, max_message_bytes: usize) -> Self {
        Self {
            catalog,
            max_future_ms,
            max_message_bytes,
        }
    }

    fn bounds(&self, now: ProcessingTime) -> TimeBounds {
        TimeBounds {
            now,
            max_future_ms: self.max_future_ms,
        }
    }

    /// Checks `messages` on this thread.
    pub fn prepare(&self, messages: &[RawMessage], now: ProcessingTime) -> Prepared {
        self.prepare_with_room(messages, now, messages.len())
    }

    /// [`Self::prepare`] into room for `capacity` checks, so the checks of the rest of the
    /// batch can be appended without moving these.
    pub fn prepare_with_room(
        &self,
        messages: &[RawMessage],
        now: ProcessingTime,
        capacity: usize,
    ) -> Prepared {
        let mut checked = Vec::with_capacity(capacity.max(messages.len()));
        precheck::check_into(
            &self.catalog,
            messages,
            self.bounds(now),
            self.max_message_bytes,
            &mut checked,
        );
        Prepared(checked)
    }

    /// Checks `messages` on every core.
    pub fn prepare_parallel(&self, messages: &[RawMessage], now: ProcessingTime) -> Prepared {
        Prepared(precheck::check_all(
            &self.catalog,
            messages,
            self.bounds(now),
            self.max_message_bytes,
        ))
    }
}
