//! Rows of closed windows in few, compact batches.
//!
//! The engine emits one small batch per window, revision and owning task: live, a task's
//! share of a minute's windows is a few rows, and a replay closes thousands of windows in
//! one step. Every batch costs its fixed Arrow overhead — per column a 64-byte-aligned
//! value buffer, a validity bitmap, string offsets, the array and `Arc` headers, ~4 KB for
//! a batch of 18 columns — for a few rows of values: replaying six hours of the nine demo
//! cities held ~2 KB per closed row that way (~400 MB at the peak; `docs/operating.md`,
//! "Memory"). So the pipeline merges a step's closed windows as they are emitted
//! (`pipeline/windows.rs`), and the sinks merge what they stage until a checkpoint
//! (`history.rs`, `kafka/output.rs`): the memory of a row stays close to its values.
//!
//! The batches form a stack in which each batch has at least twice the rows of the one
//! above it; a push merges the top two until that holds again (a binary counter). A row
//! is thus copied O(log n) times, and n rows lie in O(log n) batches. Batches of
//! [`SEALED_ROWS`] rows or more are not merged further: larger batches would only make
//! the merge's transient copy larger.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use arrow_select::concat::concat_batches;
use stadtpuls_processing::ProcessingError;

/// A batch with this many rows takes no part in further merges.
pub const SEALED_ROWS: usize = 8192;

/// Rows of one schema in arrival order, merged into few batches.
#[derive(Debug, Clone)]
pub struct MergedBatches {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl MergedBatches {
    /// No rows yet; every pushed batch must have `schema`.
    pub fn new(schema: SchemaRef) -> Self {
        Self {
            schema,
            batches: Vec::new(),
            rows: 0,
        }
    }

    /// Appends `batch`'s rows after those held, merging batches as described above.
    ///
    /// # Errors
    /// [`ProcessingError::Schema`] when `batch` has another schema (a bug); nothing is
    /// added then.
    pub fn push(&mut self, batch: RecordBatch) -> Result<(), ProcessingError> {
        if batch.schema_ref().fields() != self.schema.fields() {
            return Err(ProcessingError::Schema(format!(
                "a batch of {} columns of another schema cannot join {} columns",
                batch.num_columns(),
                self.schema.fields().len()
            )));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows();
        self.batches.push(batch);
        while let [.., below, top] = self.batches.as_slice() {
            if below.num_rows() >= 2 * top.num_rows() || below.num_rows() >= SEALED_ROWS {
                break;
            }
            let merged =
                concat_batches(&self.schema, [below, top]).map_err(ProcessingError::from)?;
            self.batches.truncate(self.batches.len() - 2);
            self.batches.push(merged);
        }
        Ok(())
    }

    /// The rows in order, in as few batches as described above.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// The rows in order, as few batches.
    pub fn into_batches(self) -> Vec<RecordBatch> {
        self.batches
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of the Arrow buffers held (their capacity, as
    /// [`RecordBatch::get_array_memory_size`] counts it).
    pub fn bytes(&self) -> usize {
        self.batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float64Array, Int32Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    /// A closed-window-like batch: ids, values and a nullable measure, `n` rows from `first`.
    fn window(schema: &SchemaRef, first: i32, n: i32) -> RecordBatch {
        let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
            (first..first + n).map(|i| format!("ka-t-{i:03}")),
        ));
        let values: ArrayRef = Arc::new(Int32Array::from_iter_values(first..first + n));
        let measure: ArrayRef = Arc::new(Float64Array::from_iter(
            (first..first + n).map(|i| (i % 3 != 0).then_some(f64::from(i) / 2.0)),
        ));
        RecordBatch::try_new(schema.clone(), vec![ids, values, measure]).expect("batch")
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("sensor_id", DataType::Utf8, false),
            Field::new("v", DataType::Int32, false),
            Field::new("flow", DataType::Float64, true),
        ]))
    }

    fn values(staged: &MergedBatches) -> Vec<i32> {
        staged
            .batches()
            .iter()
            .flat_map(|b| {
                b.column(1)
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .expect("ints")
                    .values()
                    .to_vec()
            })
            .collect()
    }

    /// 12,000 windows of 3 rows (a replay's worth for a few partitions): the rows stay in
    /// order, lie in a handful of batches, and take about what one batch of all of them
    /// takes — as they arrived (12,000 batches) they took over four times as much.
    #[test]
    fn many_small_windows_stage_compactly_in_order() {
        let schema = schema();
        let mut staged = MergedBatches::new(schema.clone());
        let mut unmerged = 0;
        for w in 0..12_000 {
            let batch = window(&schema, w * 3, 3);
            unmerged += batch.get_array_memory_size();
            staged.push(batch).expect("same schema");
        }
        assert_eq!(staged.rows(), 36_000);
        assert_eq!(values(&staged), (0..36_000).collect::<Vec<_>>());
        assert!(
            staged.batches().len() <= 16,
            "{} batches",
            staged.batches().len()
        );
        let one = window(&schema, 0, 36_000).get_array_memory_size();
        let bytes = staged.bytes();
        assert!(
            bytes < one * 3 / 2,
            "{bytes} bytes staged, {one} in one batch"
        );
        assert!(
            unmerged > 4 * one,
            "{unmerged} bytes unmerged, {one} in one batch"
        );
    }

    #[test]
    fn large_batches_are_not_merged_again_and_empty_ones_are_skipped() {
        let schema = schema();
        let mut staged = MergedBatches::new(schema.clone());
        staged
            .push(window(&schema, 0, SEALED_ROWS as i32))
            .expect("push");
        staged
            .push(window(&schema, SEALED_ROWS as i32, SEALED_ROWS as i32))
            .expect("push");
        staged.push(window(&schema, 0, 0)).expect("push");
        let rows: Vec<usize> = staged.batches().iter().map(RecordBatch::num_rows).collect();
        assert_eq!(rows, [SEALED_ROWS, SEALED_ROWS]);
        let other = Arc::new(Schema::new(vec![Field::new("v", DataType::Int32, false)]));
        let wrong =
            RecordBatch::try_new(other, vec![Arc::new(Int32Array::from(vec![1])) as ArrayRef])
                .expect("batch");
        assert!(staged.push(wrong).is_err());
        assert_eq!(staged.rows(), 2 * SEALED_ROWS);
    }
}
