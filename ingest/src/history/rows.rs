//! Closed-window batches → the rows of a history table, and back to their keys.
//!
//! Which columns a file holds is the contract's history file schema rule
//! ([`stadtpuls_processing::model::contract::history_fields`]): the closed-window columns
//! minus `city` (the Hive partition), plus `window_s` and `revision` after `window_end`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt8Type, UInt32Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{Schema, SchemaRef};
use arrow_select::take::take_record_batch;
use stadtpuls_processing::ProcessingError;
use stadtpuls_processing::model::contract::{self, traffic::out};
use stadtpuls_processing::window::ClosedWindows;

use super::layout;
use crate::Result;
use crate::sink::Stream;

pub use stadtpuls_processing::model::contract::{REVISION, WINDOW_S};

/// The schema the pipeline emits closed windows of `stream` in.
pub(crate) fn input_schema(stream: Stream) -> SchemaRef {
    contract::window_schema(stream)
}

/// The schema of `stream`'s history files: the contract's history file schema rule
/// ([`contract::history_fields`]).
pub(crate) fn file_schema(stream: Stream) -> SchemaRef {
    contract::history_file_schema(stream)
}

/// Splits a closed-window batch by city and UTC date of `window_start` (the Hive
/// partitions) into rows of the file schema. A batch may hold several windows of its
/// family (the pipeline merges a step's windows, `pipeline/windows.rs`), so the date is
/// each row's.
///
/// # Errors
/// [`ProcessingError::Schema`] when the batch is not of `stream`'s schema (a bug), or a
/// window start outside the calendar.
pub(crate) fn rows_by_partition(
    closed: &ClosedWindows,
    stream: Stream,
    file_schema: &SchemaRef,
) -> Result<Vec<(String, NaiveDate, RecordBatch)>> {
    let batch = &closed.batch;
    let expected = input_schema(stream);
    if batch.schema().fields() != expected.fields() {
        return Err(ProcessingError::Schema(format!(
            "closed {stream:?} windows for history have columns {:?}, expected {:?}",
            field_names(&batch.schema()),
            field_names(&expected)
        ))
        .into());
    }
    let cities: &StringArray = batch
        .column_by_name(contract::CITY)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| ProcessingError::Schema("column `city` missing or mistyped".into()))?;
    let starts = batch
        .column_by_name(contract::WINDOW_START)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or_else(|| {
            ProcessingError::Schema("column `window_start` missing or mistyped".into())
        })?;
    let mut rows_of: BTreeMap<(&str, NaiveDate), Vec<u32>> = BTreeMap::new();
    // Rows of one window lie together: look each start's date up once.
    let mut last: Option<(i64, NaiveDate)> = None;
    for (row, city) in cities.iter().enumerate() {
        let start = starts.value(row);
        let date = match last {
            Some((held, date)) if held == start => date,
            _ => {
                let date = layout::date_of(start).ok_or_else(|| {
                    ProcessingError::Internal(format!(
                        "window start {start} is outside the calendar"
                    ))
                })?;
                last = Some((start, date));
                date
            }
        };
        rows_of
            .entry((city.unwrap_or_default(), date))
            .or_default()
            .push(row as u32);
    }
    let mut out = Vec::with_capacity(rows_of.len());
    let whole = rows_of.len() == 1;
    for ((city, date), rows) in rows_of {
        let subset = if whole {
            batch.clone()
        } else {
            take_record_batch(batch, &UInt32Array::from(rows)).map_err(ProcessingError::from)?
        };
        out.push((
            city.to_owned(),
            date,
            to_file_rows(&subset, closed, file_schema)?,
        ));
    }
    Ok(out)
}

/// The rows of `batch` as `file_schema` lays them out: each file column taken from the batch
/// by name, `window_s` and `revision` from `closed` — where they go is the contract's rule.
fn to_file_rows(
    batch: &RecordBatch,
    closed: &ClosedWindows,
    file_schema: &SchemaRef,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let columns = file_schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef> {
            Ok(match field.name().as_str() {
                WINDOW_S => Arc::new(UInt32Array::from(vec![closed.window_s; n])),
                REVISION => Arc::new(UInt32Array::from(vec![closed.revision; n])),
                name => batch.column_by_name(name).cloned().ok_or_else(|| {
                    ProcessingError::Schema(format!("closed windows lack column `{name}`"))
                })?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(file_schema.clone(), columns).map_err(ProcessingError::from)?)
}

fn field_names(schema: &Schema) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name().as_str()).collect()
}

/// Keeps, per (entity, lane, window start), the row with the highest revision — the last
/// emission of each window, as readers upsert — ordered by entity, window start and lane:
/// the order of a compacted file ([`layout::SORTED_ROW_GROUP_ROWS`] says why).
///
/// Returns the row indices of `batch` to keep.
///
/// # Errors
/// [`ProcessingError::Schema`] when a key column is missing (a file of another table).
pub(crate) fn latest_revisions(batch: &RecordBatch, stream: Stream) -> Result<Vec<u32>> {
    let missing =
        |name: &str| ProcessingError::Schema(format!("history rows lack column `{name}`"));
    let entity = batch
        .column_by_name(contract::entity_column(stream))
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| missing(contract::entity_column(stream)))?;
    let starts = batch
        .column_by_name(contract::WINDOW_START)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or_else(|| missing(contract::WINDOW_START))?;
    let revisions = batch
        .column_by_name(REVISION)
        .and_then(|c| c.as_primitive_opt::<UInt32Type>())
        .ok_or_else(|| missing(REVISION))?;
    let lanes = match stream {
        Stream::TrafficLanes => Some(
            batch
                .column_by_name(out::LANE)
                .and_then(|c| c.as_primitive_opt::<UInt8Type>())
                .ok_or_else(|| missing(out::LANE))?,
        ),
        Stream::Traffic | Stream::Parking => None,
    };
    let lane_of = |row: usize| lanes.and_then(|l| l.is_valid(row).then(|| l.value(row)));
    let key_of = |row: usize| (entity.value(row), starts.value(row), lane_of(row));
    let mut best: HashMap<(&str, i64, Option<u8>), usize> =
        HashMap::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        best.entry(key_of(row))
            .and_modify(|kept| {
                if revisions.value(row) > revisions.value(*kept) {
                    *kept = row;
                }
            })
            .or_insert(row);
    }
    let mut kept: Vec<usize> = best.into_values().collect();
    kept.sort_unstable_by_key(|&row| key_of(row));
    Ok(kept.into_iter().map(|row| row as u32).collect())
}

#[cfg(test)]
mod tests {
    use arrow_array::{
        Float64Array, TimestampMillisecondArray, UInt8Array, UInt64Array, new_null_array,
    };
    use arrow_schema::DataType;

    use super::*;

    /// A classified traffic window: ids, window bounds and vehicles set, other nullable
    /// columns null and non-nullable ones 1.
    fn traffic_closed(cities: &[&str], revision: u32) -> ClosedWindows {
        let schema = contract::traffic::traffic_window_schema();
        let n = cities.len();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for field in schema.fields() {
            let column: ArrayRef = match (field.name().as_str(), field.data_type()) {
                ("city", _) => Arc::new(StringArray::from(cities.to_vec())),
                ("sensor_id", _) => Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("s{i}")),
                )),
                ("window_start", _) => {
                    Arc::new(TimestampMillisecondArray::from(vec![60_000; n]).with_timezone("UTC"))
                }
                ("window_end", _) => {
                    Arc::new(TimestampMillisecondArray::from(vec![120_000; n]).with_timezone("UTC"))
                }
                ("vehicles", _) => Arc::new(UInt64Array::from_iter_values(0..n as u64)),
                _ if field.is_nullable() => new_null_array(field.data_type(), n),
                (_, DataType::UInt32) => Arc::new(UInt32Array::from(vec![1; n])),
                (_, DataType::UInt8) => Arc::new(UInt8Array::from(vec![1; n])),
                (_, DataType::Float64) => Arc::new(Float64Array::from(vec![1.0; n])),
                (name, other) => panic!("no test value for {name}: {other}"),
            };
            columns.push(column);
        }
        ClosedWindows {
            window_s: 60,
            slide_s: 60,
            window_start: 60_000,
            revision,
            owner: 0,
            batch: RecordBatch::try_new(schema, columns).expect("batch"),
        }
    }

    #[test]
    fn file_rows_drop_city_and_add_window_and_revision() {
        let schema = file_schema(Stream::Traffic);
        let names = field_names(&schema);
        assert!(!names.contains(&"city"));
        let end = names.iter().position(|n| *n == "window_end").expect("end");
        assert_eq!(&names[end + 1..end + 3], [WINDOW_S, REVISION]);
        let closed = traffic_closed(&["ulm", "ka", "ulm"], 2);
        let split = rows_by_partition(&closed, Stream::Traffic, &schema).expect("split");
        let cities: Vec<&str> = split.iter().map(|(c, _, _)| c.as_str()).collect();
        assert_eq!(cities, ["ka", "ulm"]);
        let ulm = &split[1].2;
        assert_eq!(ulm.num_rows(), 2);
        let sensors = ulm
            .column_by_name("sensor_id")
            .expect("ids")
            .as_string::<i32>();
        assert_eq!(sensors.value(1), "s2");
        let revision = ulm
            .column_by_name(REVISION)
            .expect("rev")
            .as_primitive::<UInt32Type>();
        assert_eq!(revision.value(0), 2);
    }

    #[test]
    fn a_batch_of_another_schema_is_refused() {
        let closed = traffic_closed(&["ulm"], 0);
        let error = rows_by_partition(&closed, Stream::Parking, &file_schema(Stream::Parking))
            .expect_err("traffic is not parking");
        assert!(error.to_string().contains("expected"), "{error}");
    }

    /// Each closed batch split by partition as the writer does, then all parts as one batch.
    fn split_and_concat(
        closed: impl IntoIterator<Item = ClosedWindows>,
        schema: &SchemaRef,
    ) -> RecordBatch {
        let mut batches = Vec::new();
        for closed in closed {
            batches.extend(
                rows_by_partition(&closed, Stream::Traffic, schema)
                    .expect("split")
                    .into_iter()
                    .map(|(_, _, b)| b),
            );
        }
        arrow_select::concat::concat_batches(schema, &batches).expect("concat")
    }

    #[test]
    fn the_highest_revision_of_each_window_is_kept() {
        let schema = file_schema(Stream::Traffic);
        let all = split_and_concat(
            [0, 2, 1].map(|revision| traffic_closed(&["ulm", "ulm"], revision)),
            &schema,
        );
        let kept = latest_revisions(&all, Stream::Traffic).expect("dedup");
        // s0 and s1 of the second batch (revision 2), rows 2 and 3
        assert_eq!(kept, [2, 3]);
    }

    #[test]
    fn kept_rows_are_ordered_by_entity_then_window_start() {
        let schema = file_schema(Stream::Traffic);
        let mut later = traffic_closed(&["ulm", "ulm"], 0);
        let starts: ArrayRef =
            Arc::new(TimestampMillisecondArray::from(vec![120_000; 2]).with_timezone("UTC"));
        let columns: Vec<ArrayRef> = later
            .batch
            .schema()
            .fields()
            .iter()
            .zip(later.batch.columns())
            .map(|(field, column)| {
                if field.name() == "window_start" {
                    starts.clone()
                } else {
                    column.clone()
                }
            })
            .collect();
        later.batch = RecordBatch::try_new(later.batch.schema(), columns).expect("batch");
        // minute 1 (rows 0: s0, 1: s1), then minute 2 (rows 2: s0, 3: s1)
        let all = split_and_concat([traffic_closed(&["ulm", "ulm"], 0), later], &schema);
        let kept = latest_revisions(&all, Stream::Traffic).expect("dedup");
        // s0's two windows, then s1's
        assert_eq!(kept, [0, 2, 1, 3]);
    }
}
