//! Closed windows → output records: a `city/entity/window_start/window[/lane]` key and one
//! JSON object per row (format: `docs/formats.md`, "Output topics").
//!
//! The value carries every column of the closed-window batch under its column name (the
//! columns of `stadtpuls_processing::model::contract`, none named here but the key's) — the
//! names of the Parquet history and of the API's JSON (`api/src/routes/traffic.rs`,
//! `parking.rs`) — plus the window family label and the revision. Numbers keep full
//! precision (the API rounds for display); times are RFC 3339 UTC with milliseconds, as
//! the API writes them. Encoding is deterministic: the same row gives the same bytes, which
//! is what makes a replayed window an identical record (`docs/decisions/002-effectively-once.md`).

use std::io::Write;
use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, TimestampMillisecondType, UInt8Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, BooleanArray, Float64Array, PrimitiveArray, RecordBatch, StringArray,
    TimestampMillisecondArray, UInt8Array, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, TimeUnit};
use stadtpuls_processing::ProcessingError;
use stadtpuls_processing::model::contract;
use stadtpuls_processing::model::contract::traffic::out as traffic_out;
use stadtpuls_processing::time::{EventTime, to_rfc3339};

use crate::Result;
use crate::sink::Stream;

/// Field of the value naming the window family (`1m`, `1h/15m`), as the API's `window`.
pub const WINDOW: &str = "window";
/// Field of the value carrying the revision (0 first, +1 per re-emission after late data).
pub const REVISION: &str = "revision";

/// Where one encoded record lies in its task's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    /// The stream, which decides the topic.
    pub stream: Stream,
    /// Bytes of the key.
    pub key: Range<usize>,
    /// Bytes of the value.
    pub value: Range<usize>,
}

/// Appends one record per row of `closed` to `buf`, their spans to `spans`.
///
/// # Errors
/// [`ProcessingError::Schema`] when the batch is not a closed-window batch of `stream` (a
/// bug); `buf` and `spans` may then hold a partial row, which the caller discards.
#[cfg(test)]
pub(crate) fn encode(
    stream: Stream,
    closed: &stadtpuls_processing::window::ClosedWindows,
    buf: &mut Vec<u8>,
    spans: &mut Vec<Span>,
) -> Result<()> {
    encode_rows(
        stream,
        &closed.label(),
        closed.revision,
        &closed.batch,
        buf,
        spans,
    )
}

/// Refuses a batch [`encode_rows`] could not encode whole (a bug: another stream's
/// schema, a row without city, entity or lane). The sink checks when staging, so the bug
/// shows there and not in a commit, which the runner would retry.
///
/// # Errors
/// [`ProcessingError::Schema`] naming what is missing.
pub(crate) fn check(stream: Stream, batch: &RecordBatch) -> Result<()> {
    let entity_name = contract::entity_column(stream);
    let cities: &StringArray = typed(batch, contract::CITY)?;
    let entities: &StringArray = typed(batch, entity_name)?;
    if cities.null_count() > 0 || entities.null_count() > 0 {
        return Err(schema(format!("a row has no city or {entity_name}")));
    }
    if stream == Stream::TrafficLanes {
        let lanes: &UInt8Array = typed(batch, traffic_out::LANE)?;
        if lanes.null_count() > 0 {
            return Err(schema("a lane window row has no lane".to_owned()));
        }
    }
    let _: &TimestampMillisecondArray = typed(batch, contract::WINDOW_START)?;
    value_columns(stream, batch).map(drop)
}

/// Appends one record per row of `batch` — closed windows of `stream`, of the family
/// labelled `label` (`1m`, `1h/15m`), emitted as `revision` — to `buf`, their spans to
/// `spans`. Rows may belong to different windows (the key's start is each row's
/// `window_start`).
///
/// # Errors
/// [`ProcessingError::Schema`] when the batch is not a closed-window batch of `stream` (a
/// bug); `buf` and `spans` may then hold a partial row, which the caller discards.
pub(crate) fn encode_rows(
    stream: Stream,
    label: &str,
    revision: u32,
    batch: &RecordBatch,
    buf: &mut Vec<u8>,
    spans: &mut Vec<Span>,
) -> Result<()> {
    let entity_name = contract::entity_column(stream);
    let cities: &StringArray = typed(batch, contract::CITY)?;
    let entities: &StringArray = typed(batch, entity_name)?;
    let starts: &TimestampMillisecondArray = typed(batch, contract::WINDOW_START)?;
    let lanes: Option<&UInt8Array> = match stream {
        Stream::TrafficLanes => Some(typed(batch, traffic_out::LANE)?),
        Stream::Traffic | Stream::Parking => None,
    };
    let columns = value_columns(stream, batch)?;
    // Rows of one window lie together: format each start once.
    let mut start: Option<(EventTime, String)> = None;
    let mut field_names = Vec::with_capacity(columns.len());
    for (name, _) in &columns {
        field_names.push(json_string(name)?);
    }
    spans.reserve(batch.num_rows());
    for row in 0..batch.num_rows() {
        let (Some(city), Some(id)) = (value(cities, row), value(entities, row)) else {
            return Err(schema(format!("row {row} has no city or {entity_name}")));
        };
        let Some(ts) = starts.is_valid(row).then(|| starts.value(row)) else {
            return Err(schema(format!("row {row} has no window_start")));
        };
        if start.as_ref().is_none_or(|(held, _)| *held != ts) {
            start = Some((ts, key_time(ts)));
        }
        let start_text = start.as_ref().map_or("", |(_, text)| text.as_str());
        let key_start = buf.len();
        escape_key_part(city, buf);
        buf.push(b'/');
        escape_key_part(id, buf);
        write!(buf, "/{start_text}/{label}")?;
        if let Some(lane_column) = lanes {
            let Some(number) = lane_column.is_valid(row).then(|| lane_column.value(row)) else {
                return Err(schema(format!("lane window row {row} has no lane")));
            };
            write!(buf, "/{number}")?;
        }
        let value_start = buf.len();
        buf.push(b'{');
        for (index, ((name, column), quoted)) in columns.iter().zip(&field_names).enumerate() {
            if index > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(quoted);
            buf.push(b':');
            column.write(row, buf)?;
            if *name == entity_name {
                write!(buf, ",\"{WINDOW}\":")?;
                serde_json::to_writer(&mut *buf, label).map_err(std::io::Error::from)?;
                write!(buf, ",\"{REVISION}\":{revision}")?;
            }
        }
        buf.push(b'}');
        spans.push(Span {
            stream,
            key: key_start..value_start,
            value: value_start..buf.len(),
        });
    }
    Ok(())
}

/// The window start as it appears in keys: RFC 3339 UTC, no fraction for whole seconds
/// (windows are whole seconds long, so always).
pub(crate) fn key_time(ts: EventTime) -> String {
    stadtpuls_processing::time::to_rfc3339_seconds(ts)
}

/// Ids are free text: `/` (the key separator) and `%` (the escape) are percent-encoded, so
/// keys split back into their parts and two entities never share a key.
fn escape_key_part(part: &str, buf: &mut Vec<u8>) {
    for byte in part.bytes() {
        match byte {
            b'/' => buf.extend_from_slice(b"%2F"),
            b'%' => buf.extend_from_slice(b"%25"),
            other => buf.push(other),
        }
    }
}

/// The columns that go into the value, in schema order: all of them, except `lane` of
/// per-sensor traffic windows (always null: a cross-section has no lane, and the API's
/// per-sensor JSON has no `lane` field either).
fn value_columns<'a>(stream: Stream, batch: &'a RecordBatch) -> Result<Vec<(&'a str, Column<'a>)>> {
    let schema = batch.schema_ref();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        let name = field.name().as_str();
        if stream == Stream::Traffic && name == traffic_out::LANE {
            continue;
        }
        columns.push((name, Column::of(name, array.as_ref())?));
    }
    Ok(columns)
}

/// A column of a closed-window batch, downcast once per batch.
enum Column<'a> {
    Text(&'a StringArray),
    U8(&'a UInt8Array),
    U32(&'a UInt32Array),
    U64(&'a UInt64Array),
    F64(&'a Float64Array),
    Bool(&'a BooleanArray),
    Time(&'a TimestampMillisecondArray),
}

impl<'a> Column<'a> {
    fn of(name: &str, array: &'a dyn Array) -> Result<Self> {
        let column = match array.data_type() {
            DataType::Utf8 => array.as_string_opt::<i32>().map(Column::Text),
            DataType::UInt8 => array.as_primitive_opt::<UInt8Type>().map(Column::U8),
            DataType::UInt32 => array.as_primitive_opt::<UInt32Type>().map(Column::U32),
            DataType::UInt64 => array.as_primitive_opt::<UInt64Type>().map(Column::U64),
            DataType::Float64 => array.as_primitive_opt::<Float64Type>().map(Column::F64),
            DataType::Boolean => array.as_boolean_opt().map(Column::Bool),
            DataType::Timestamp(TimeUnit::Millisecond, _) => array
                .as_primitive_opt::<TimestampMillisecondType>()
                .map(Column::Time),
            _ => None,
        };
        column.ok_or_else(|| {
            schema(format!(
                "column `{name}` of type {} cannot be encoded",
                array.data_type()
            ))
        })
    }

    /// Writes the JSON value of `row`; `null` for a null, and for a non-finite number,
    /// which JSON cannot express.
    fn write(&self, row: usize, buf: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Column::Text(a) => match value(a, row) {
                Some(text) => serde_json::to_writer(&mut *buf, text).map_err(Into::into),
                None => null(buf),
            },
            Column::U8(a) => number(a, row, buf),
            Column::U32(a) => number(a, row, buf),
            Column::U64(a) => number(a, row, buf),
            Column::F64(a) => match a.is_valid(row).then(|| a.value(row)) {
                Some(x) if x.is_finite() => {
                    serde_json::to_writer(&mut *buf, &x).map_err(Into::into)
                }
                _ => null(buf),
            },
            Column::Bool(a) => match a.is_valid(row).then(|| a.value(row)) {
                Some(flag) => write!(buf, "{flag}"),
                None => null(buf),
            },
            Column::Time(a) => match a.is_valid(row).then(|| a.value(row)) {
                Some(ts) => write!(buf, "\"{}\"", to_rfc3339(ts)),
                None => null(buf),
            },
        }
    }
}

fn number<T>(array: &PrimitiveArray<T>, row: usize, buf: &mut Vec<u8>) -> std::io::Result<()>
where
    T: arrow_array::ArrowPrimitiveType,
    T::Native: std::fmt::Display,
{
    if array.is_valid(row) {
        write!(buf, "{}", array.value(row))
    } else {
        null(buf)
    }
}

fn null(buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.extend_from_slice(b"null");
    Ok(())
}

fn value(array: &StringArray, row: usize) -> Option<&str> {
    array.is_valid(row).then(|| array.value(row))
}

fn json_string(text: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(text).map_err(|e| std::io::Error::from(e).into())
}

fn typed<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| schema(format!("column `{name}` missing or mistyped")))
}

fn schema(message: String) -> crate::IngestError {
    ProcessingError::Schema(format!("output record: {message}")).into()
}

#[cfg(test)]
mod tests;
