//! The columns of every SQL table, in DataFusion's arrow.
//!
//! DataFusion 55 (the newest release) is built on arrow 59 while the pipeline writes
//! with arrow 60, so the contract's schemas (`stadtpuls_processing::model::contract`) are
//! converted here, field by field and type by type — no column is named here. The history
//! file schema is the contract's, the one the history writer writes; the end-to-end test
//! `tests/sql_doors.rs` writes with the real writer and reads with this schema. When
//! DataFusion moves to arrow 60 the conversion goes away.

use std::sync::Arc;

use arrow_schema as pipeline;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use stadtpuls_config::HistoryStream;
use stadtpuls_processing::model::contract;
use stadtpuls_processing::model::raw::raw_message_schema;

use crate::error::SqlError;

/// Partition column: city id (`city=<id>/`).
pub const CITY: &str = contract::CITY;
/// Partition column: UTC date of `window_start` (`date=YYYY-MM-DD/`).
pub const DATE: &str = "date";
pub use contract::{REVISION, WINDOW_S};

/// Converts one pipeline (arrow 60) type; only the types the pipeline's schemas use.
fn data_type(from: &pipeline::DataType) -> Result<DataType, SqlError> {
    use pipeline::DataType as P;
    Ok(match from {
        P::Boolean => DataType::Boolean,
        P::UInt8 => DataType::UInt8,
        P::UInt16 => DataType::UInt16,
        P::UInt32 => DataType::UInt32,
        P::UInt64 => DataType::UInt64,
        P::Int32 => DataType::Int32,
        P::Int64 => DataType::Int64,
        P::Float64 => DataType::Float64,
        P::Utf8 => DataType::Utf8,
        P::Binary => DataType::Binary,
        P::Date32 => DataType::Date32,
        P::Timestamp(pipeline::TimeUnit::Millisecond, tz) => {
            DataType::Timestamp(TimeUnit::Millisecond, tz.as_deref().map(Arc::from))
        }
        other => {
            return Err(SqlError::Internal(format!(
                "pipeline column type {other} has no SQL mapping"
            )));
        }
    })
}

/// The SQL type of a contract column type.
pub(crate) fn kind_type(kind: contract::Kind) -> DataType {
    use contract::Kind as K;
    match kind {
        K::Text => DataType::Utf8,
        K::U8 => DataType::UInt8,
        K::U32 => DataType::UInt32,
        K::U64 => DataType::UInt64,
        K::F64 => DataType::Float64,
        K::Bool => DataType::Boolean,
        K::Time => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    }
}

fn field(from: &pipeline::Field) -> Result<Field, SqlError> {
    Ok(Field::new(
        from.name(),
        data_type(from.data_type())?,
        from.is_nullable(),
    ))
}

/// Converts a pipeline schema.
fn convert(from: &pipeline::Schema) -> Result<SchemaRef, SqlError> {
    let fields: Result<Vec<Field>, SqlError> = from.fields().iter().map(|f| field(f)).collect();
    Ok(Arc::new(Schema::new(fields?)))
}

/// The columns inside a history file of `stream`: the contract's
/// [`history_file_schema`](contract::history_file_schema), converted.
pub fn history_file_schema(stream: HistoryStream) -> Result<SchemaRef, SqlError> {
    convert(&contract::history_file_schema(stream))
}

/// The columns inside a `raw_messages` file (the raw archive), converted.
pub fn raw_file_schema() -> Result<SchemaRef, SqlError> {
    convert(&raw_message_schema())
}

/// `schema` with every `Utf8` column read as `Utf8View`: the history tables' text
/// columns (`sensor_id`, `facility_id`, `traffic_state`) are then views into the decoded
/// Parquet pages instead of copies (the top-10 query of the SQL benchmark: docs/performance.md,
/// "SQL benchmark"). DataFusion's setting
/// `datafusion.execution.parquet.schema_force_view_types` (on, in DataFusion and in the
/// engine, `tuning.rs`) does the same only for schemas it infers; the catalog gives
/// the file schema itself and applies it here when the setting is on. Results are handed
/// out as `Utf8` either way ([`utf8_result`]).
pub fn with_string_views(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `schema` with `Utf8View` columns as `Utf8`: what every door (JSON, CSV, Arrow IPC,
/// Parquet, Flight SQL, the REST history) hands out, so clients see the same types as
/// before the history was read as views.
pub fn without_string_views(schema: &SchemaRef) -> SchemaRef {
    if !schema
        .fields()
        .iter()
        .any(|f| f.data_type() == &DataType::Utf8View)
    {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` in `schema` (the result of [`without_string_views`] for its own schema):
/// `Utf8View` columns copied into `Utf8`.
///
/// # Errors
/// [`SqlError::Internal`] if a column does not convert (a bug).
pub fn utf8_result(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, SqlError> {
    if Arc::ptr_eq(&batch.schema(), schema) || batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|columns| RecordBatch::try_new(schema.clone(), columns))
        .map_err(|e| SqlError::Internal(format!("result as Utf8: {e}")))?;
    Ok(columns)
}

/// The partition columns every history table ends with.
pub fn partition_columns() -> Vec<(String, DataType)> {
    vec![
        (CITY.to_owned(), DataType::Utf8),
        (DATE.to_owned(), DataType::Date32),
    ]
}

pub use contract::entity_columns;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_files_lack_city_and_carry_window_and_revision_after_the_end() {
        let schema = history_file_schema(HistoryStream::Parking).expect("converts");
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            &names[..5],
            [
                "facility_id",
                "window_start",
                "window_end",
                "window_s",
                "revision"
            ]
        );
        assert!(!names.contains(&"city"));
        let traffic = history_file_schema(HistoryStream::Traffic).expect("converts");
        assert_eq!(
            traffic
                .field_with_name("window_start")
                .map(|f| f.data_type().clone())
                .ok(),
            Some(DataType::Timestamp(
                TimeUnit::Millisecond,
                Some("UTC".into())
            ))
        );
        assert!(traffic.field_with_name("traffic_state").is_ok());
        let lanes = history_file_schema(HistoryStream::TrafficLanes).expect("converts");
        assert!(lanes.field_with_name("traffic_state").is_err());
        assert!(lanes.field_with_name("lane").is_ok());
    }
}
