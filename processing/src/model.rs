//! The canonical event model: Rust types for one observation, Arrow schemas for batches.
//!
//! Decoders (in `ingest`) turn any wire format into these observations; the batch builders
//! validate each one and append it to columnar buffers, so everything after decoding works
//! on Arrow `RecordBatch`es.

pub mod contract;
pub mod parking;
pub mod raw;
pub mod traffic;

/// Bounds an event time must lie within to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct TimeBounds {
    /// The caller's wall clock when the batch was received.
    pub now: crate::time::ProcessingTime,
    /// Events later than `now + max_future_ms` are refused.
    pub max_future_ms: i64,
}

/// A filter keeping every row of `len` but `rows` (ascending), and the same filter applied
/// to a key column, for the batches' `without_rows`.
pub(crate) struct RowFilter(arrow_select::filter::FilterPredicate);

impl RowFilter {
    pub(crate) fn dropping(len: usize, rows: &[u32]) -> Self {
        let mut keep = vec![true; len];
        for &row in rows {
            if let Some(k) = keep.get_mut(row as usize) {
                *k = false;
            }
        }
        let mask = arrow_array::BooleanArray::from(keep);
        Self(
            arrow_select::filter::FilterBuilder::new(&mask)
                .optimize()
                .build(),
        )
    }

    pub(crate) fn batch(
        &self,
        batch: &arrow_array::RecordBatch,
    ) -> crate::Result<arrow_array::RecordBatch> {
        let columns = batch
            .columns()
            .iter()
            .map(|c| self.0.filter(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(arrow_array::RecordBatch::try_new(batch.schema(), columns)?)
    }

    pub(crate) fn keys<T: arrow_array::types::ArrowPrimitiveType>(
        &self,
        keys: &arrow_array::PrimitiveArray<T>,
    ) -> crate::Result<arrow_array::PrimitiveArray<T>> {
        use arrow_array::Array;
        let filtered = self.0.filter(keys)?;
        filtered
            .as_any()
            .downcast_ref::<arrow_array::PrimitiveArray<T>>()
            .cloned()
            .ok_or_else(|| crate::ProcessingError::Internal("filtered keys changed type".into()))
    }
}

/// 2000-01-01T00:00:00Z: anything older is a broken clock, not a late measurement.
pub const MIN_EVENT_TIME: i64 = 946_684_800_000;

impl TimeBounds {
    /// Checks an event time against the bounds.
    pub(crate) fn check(&self, ts: i64) -> Result<(), crate::Rejection> {
        use crate::{RejectReason, Rejection};
        if ts < MIN_EVENT_TIME {
            return Err(Rejection::new(
                RejectReason::TimestampOutOfRange,
                format!("ts {ts} is before 2000-01-01"),
            ));
        }
        if ts > self.now.saturating_add(self.max_future_ms) {
            return Err(Rejection::new(
                RejectReason::FutureTimestamp,
                format!(
                    "ts {} is {} s ahead of the receiver's clock (limit {} s)",
                    crate::time::to_rfc3339(ts),
                    (ts - self.now) / 1000,
                    self.max_future_ms / 1000
                ),
            ));
        }
        Ok(())
    }
}
