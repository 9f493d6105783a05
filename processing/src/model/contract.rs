//! The history contract: what a closed window is, column by column, for every window
//! stream — and what a history file of it holds.
//!
//! Everything downstream derives from here instead of listing columns again: the
//! operators' emitters build their batches in [`traffic::AGGREGATE`] /
//! [`parking::COLUMNS`] order, the Parquet writer (`ingest/src/history/rows.rs`) writes
//! [`history_file_schema`], the SQL catalog (`api/src/sql/schema.rs`) converts the same
//! schema to DataFusion's arrow, and the output-topic encoder
//! (`ingest/src/kafka/output/encode.rs`) writes every column of the batch under its name.
//! The table names are [`HistoryStream::prefix`] plus the window family
//! (`stadtpuls_config::HistoryTable::name`); the raw archive's schema is
//! [`super::raw`]. "How to add a metric" in ARCHITECTURE.md walks through a change.

mod column;
pub mod parking;
pub mod traffic;

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
pub use column::{CITY, Column, Kind, WINDOW_END, WINDOW_START, fields};
pub use stadtpuls_config::HistoryStream;

/// History column: window length in seconds (`UInt32`).
pub const WINDOW_S: &str = "window_s";
/// History column: 0 for a window's first emission, +1 for each re-emission after late
/// data (`UInt32`); readers keep the highest per entity and window.
pub const REVISION: &str = "revision";
/// The schema the pipeline emits closed windows of `stream` in.
pub fn window_schema(stream: HistoryStream) -> SchemaRef {
    match stream {
        HistoryStream::Traffic => traffic::traffic_window_schema(),
        // Lanes are not classified: MARZ thresholds are for cross-sections.
        HistoryStream::TrafficLanes => traffic::traffic_aggregate_schema(),
        HistoryStream::Parking => parking::parking_window_schema(),
    }
}

/// The history file schema rule: the columns of a file holding closed windows of
/// `window` — its columns without [`CITY`] (the Hive partition, and a column of the same
/// name inside the files would clash with it in DuckDB's and pyarrow's hive
/// partitioning), plus [`WINDOW_S`] and [`REVISION`] after [`WINDOW_END`], so a row says
/// which window and which emission it is without its path.
pub fn history_fields(window: &Schema) -> Vec<Field> {
    let mut fields = Vec::with_capacity(window.fields().len() + 1);
    for field in window.fields() {
        if field.name() == CITY {
            continue;
        }
        fields.push(field.as_ref().clone());
        if field.name() == WINDOW_END {
            fields.push(Field::new(WINDOW_S, DataType::UInt32, false));
            fields.push(Field::new(REVISION, DataType::UInt32, false));
        }
    }
    fields
}

/// The schema of `stream`'s history files: [`history_fields`] of [`window_schema`].
pub fn history_file_schema(stream: HistoryStream) -> SchemaRef {
    static SCHEMAS: std::sync::OnceLock<[SchemaRef; 3]> = std::sync::OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        [
            HistoryStream::Traffic,
            HistoryStream::TrafficLanes,
            HistoryStream::Parking,
        ]
        .map(|s| Arc::new(Schema::new(history_fields(&window_schema(s)))))
    });
    let index = match stream {
        HistoryStream::Traffic => 0,
        HistoryStream::TrafficLanes => 1,
        HistoryStream::Parking => 2,
    };
    schemas[index].clone()
}

/// The column naming the entity of `stream`'s rows (a sensor or a facility).
pub fn entity_column(stream: HistoryStream) -> &'static str {
    match stream {
        HistoryStream::Traffic | HistoryStream::TrafficLanes => traffic::out::SENSOR_ID,
        HistoryStream::Parking => parking::out::FACILITY_ID,
    }
}

/// The columns that name one window of one entity in `stream`'s rows (its upsert key,
/// besides `city` and `window_start`).
pub fn entity_columns(stream: HistoryStream) -> &'static [&'static str] {
    match stream {
        HistoryStream::Traffic => &[traffic::out::SENSOR_ID],
        HistoryStream::TrafficLanes => &[traffic::out::SENSOR_ID, traffic::out::LANE],
        HistoryStream::Parking => &[parking::out::FACILITY_ID],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(schema: &Schema) -> Vec<&str> {
        schema.fields().iter().map(|f| f.name().as_str()).collect()
    }

    #[test]
    fn history_files_lack_city_and_carry_window_and_revision_after_the_end() {
        for stream in HistoryStream::ALL {
            let window = window_schema(stream);
            let file = history_file_schema(stream);
            let file_names = names(&file);
            assert!(!file_names.contains(&CITY), "{stream:?}");
            let end = file_names
                .iter()
                .position(|n| *n == WINDOW_END)
                .expect("end");
            assert_eq!(&file_names[end + 1..end + 3], [WINDOW_S, REVISION]);
            // every other column, in the window's order
            let mut rest: Vec<&str> = file_names.clone();
            rest.retain(|n| *n != WINDOW_S && *n != REVISION);
            assert_eq!(rest, names(&window)[1..], "{stream:?}");
        }
    }

    #[test]
    fn the_first_column_is_the_city_and_every_stream_has_its_entity() {
        for stream in HistoryStream::ALL {
            let window = window_schema(stream);
            assert_eq!(window.field(0).name(), CITY);
            for entity in entity_columns(stream) {
                assert!(
                    window.field_with_name(entity).is_ok(),
                    "{stream:?} {entity}"
                );
            }
        }
    }
}
