//! The columns of every SQL table, in DataFusion's arrow.
//!
//! DataFusion 55 (the newest release) is built on arrow 59 while the pipeline writes
//! with arrow 60, so the pipeline's schemas (`stadtpuls_processing::window::*`) are
//! converted here, type by type. The history files' columns are derived exactly as the
//! history writer derives them (`ingest/src/history/rows.rs`: the closed-window columns
//! without `city`, plus `window_s` and `revision` after `window_end`); the end-to-end
//! test `tests/sql_doors.rs` writes with the real writer and reads with this schema.
//! When DataFusion moves to arrow 60 the conversion goes away.

use std::sync::Arc;

use arrow_schema as pipeline;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use stadtpuls_config::HistoryStream;
use stadtpuls_processing::model::raw::raw_message_schema;
use stadtpuls_processing::window::parking::parking_window_schema;
use stadtpuls_processing::window::traffic::{out, traffic_aggregate_schema, traffic_window_schema};

use crate::error::SqlError;

/// Partition column: city id (`city=<id>/`).
pub const CITY: &str = "city";
/// Partition column: UTC date of `window_start` (`date=YYYY-MM-DD/`).
pub const DATE: &str = "date";
/// History column: window length, seconds.
pub const WINDOW_S: &str = "window_s";
/// History column: emission number of a window (latest wins).
pub const REVISION: &str = "revision";

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

fn field(from: &pipeline::Field) -> Result<Field, SqlError> {
    Ok(Field::new(
        from.name(),
        data_type(from.data_type())?,
        from.is_nullable(),
    ))
}

/// The closed-window schema the pipeline emits for `stream` (what the history writer
/// takes), converted.
fn window_fields(stream: HistoryStream) -> Result<Vec<Field>, SqlError> {
    let schema = match stream {
        HistoryStream::Traffic => traffic_window_schema(),
        HistoryStream::TrafficLanes => traffic_aggregate_schema(),
        HistoryStream::Parking => parking_window_schema(),
    };
    schema.fields().iter().map(|f| field(f)).collect()
}

/// The columns inside a history file of `stream`: the window columns without `city`,
/// with `window_s` and `revision` after `window_end`.
pub fn history_file_schema(stream: HistoryStream) -> Result<SchemaRef, SqlError> {
    let mut fields = Vec::new();
    for field in window_fields(stream)? {
        if field.name() == out::CITY {
            continue;
        }
        let is_end = field.name() == out::WINDOW_END;
        fields.push(field);
        if is_end {
            fields.push(Field::new(WINDOW_S, DataType::UInt32, false));
            fields.push(Field::new(REVISION, DataType::UInt32, false));
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The columns inside a `raw_messages` file (the raw archive), converted.
pub fn raw_file_schema() -> Result<SchemaRef, SqlError> {
    let fields: Result<Vec<Field>, SqlError> = raw_message_schema()
        .fields()
        .iter()
        .map(|f| field(f))
        .collect();
    Ok(Arc::new(Schema::new(fields?)))
}

/// The partition columns every history table ends with.
pub fn partition_columns() -> Vec<(String, DataType)> {
    vec![
        (CITY.to_owned(), DataType::Utf8),
        (DATE.to_owned(), DataType::Date32),
    ]
}

/// The columns that name one window of one entity in `stream`'s history (its upsert
/// key, besides `city`, `date` and `window_start`).
pub fn entity_columns(stream: HistoryStream) -> &'static [&'static str] {
    match stream {
        HistoryStream::Traffic => &["sensor_id"],
        HistoryStream::TrafficLanes => &["sensor_id", "lane"],
        HistoryStream::Parking => &["facility_id"],
    }
}

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
