//! Errors of the processing crate.

use arrow_schema::ArrowError;

/// Result type of the processing crate.
pub type Result<T, E = ProcessingError> = std::result::Result<T, E>;

/// What went wrong inside the engine. Bad sensor data is *not* an error here: it is a
/// [`crate::Rejection`] that the caller counts and dead-letters.
#[derive(Debug, thiserror::Error)]
pub enum ProcessingError {
    /// An Arrow kernel failed; a bug or an unexpected schema, not bad input.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// A batch did not have the schema the operator was built for.
    #[error("batch schema mismatch: {0}")]
    Schema(String),
    /// A task snapshot could not be encoded or decoded.
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// A broken invariant inside the engine; likely a bug.
    #[error("internal: {0}")]
    Internal(String),
}

/// Returns the column `name` of `batch` as array type `T`.
///
/// # Errors
/// [`ProcessingError::Schema`] naming the column when it is missing or of another type —
/// a batch handed to the wrong operator, i.e. a bug.
pub(crate) fn column<'a, T: 'static>(
    batch: &'a arrow_array::RecordBatch,
    name: &str,
) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| ProcessingError::Schema(format!("column `{name}` missing or mistyped")))
}
