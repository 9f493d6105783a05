//! The traffic side of the live view: one closed window of one sensor as the API serves
//! it, holding every measure of the history contract by the contract's order.
//!
//! Nothing here names a measure: the row keeps the values of [`traffic_measures`] — the
//! contract's traffic columns (`AGGREGATE`, then `CLASSIFIER`) without the columns that
//! say which window of which entity a row is — read from a classified batch column by
//! column, so a new line in the contract is in the live view, the API's JSON and
//! `live_traffic` with no edit here.

use std::sync::{Arc, OnceLock};

use arrow_array::{
    Array, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt8Array, UInt32Array, UInt64Array,
};

use crate::error::column;
use crate::model::contract::traffic::{AGGREGATE, CLASSIFIER, out};
use crate::model::contract::{Column, Kind};
use crate::time::EventTime;
use crate::{ProcessingError, Result};

/// The contract's columns a [`TrafficWindowRow`] carries, in the contract's order: every
/// traffic window column but the row's identity (city, sensor, window start and end, and
/// the lane, which is the key of a per-lane window).
pub fn traffic_measures() -> &'static [Column] {
    static MEASURES: OnceLock<Vec<Column>> = OnceLock::new();
    MEASURES.get_or_init(|| {
        AGGREGATE
            .iter()
            .chain(CLASSIFIER)
            .filter(|c| {
                ![
                    out::CITY,
                    out::SENSOR_ID,
                    out::WINDOW_START,
                    out::WINDOW_END,
                    out::LANE,
                ]
                .contains(&c.name)
            })
            .copied()
            .collect()
    })
}

/// The position of measure `name` in [`traffic_measures`].
pub fn traffic_measure_index(name: &str) -> Option<usize> {
    traffic_measures().iter().position(|c| c.name == name)
}

/// One value of a measure; the variant follows the column's [`Kind`] (`U8`, `U32` and
/// `U64` are all [`Value::UInt`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (the window's reports did not carry what the measure needs).
    Null,
    /// An unsigned count.
    UInt(u64),
    /// A real number.
    Float(f64),
    /// A flag.
    Bool(bool),
    /// A time, epoch ms UTC.
    Time(EventTime),
    /// Text; shared, so that copying a row for a request does not copy it.
    Text(Arc<String>),
}

impl Value {
    /// The number, if this is a [`Value::Float`] or a [`Value::UInt`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Float(x) => Some(*x),
            Self::UInt(n) => Some(*n as f64),
            _ => None,
        }
    }

    /// The count, if this is a [`Value::UInt`].
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::UInt(n) => Some(*n),
            _ => None,
        }
    }

    /// The flag, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The time, if this is a [`Value::Time`].
    pub fn as_time(&self) -> Option<EventTime> {
        match self {
            Self::Time(t) => Some(*t),
            _ => None,
        }
    }

    /// The text, if this is a [`Value::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s.as_str()),
            _ => None,
        }
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Self::Float(x)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Self::UInt(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Text(Arc::new(s.to_owned()))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// One closed traffic window of one sensor, as served by the API: its interval and the
/// value of every [`traffic_measures`] column.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficWindowRow {
    /// Window start, epoch ms UTC.
    pub window_start: EventTime,
    /// Window end, epoch ms UTC.
    pub window_end: EventTime,
    /// One value per [`traffic_measures`] column, in its order.
    values: Box<[Value]>,
}

impl TrafficWindowRow {
    /// A window of `window_start`..`window_end` with every measure null (fill it with
    /// [`Self::with`]; the live view reads rows from batches instead).
    pub fn new(window_start: EventTime, window_end: EventTime) -> Self {
        Self {
            window_start,
            window_end,
            values: vec![Value::Null; traffic_measures().len()].into_boxed_slice(),
        }
    }

    /// This row with measure `name` set to `value`.
    ///
    /// # Panics
    /// If `name` is not one of [`traffic_measures`] (a misspelt constant: a bug).
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        let Some(index) = traffic_measure_index(name) else {
            panic!("`{name}` is not a live traffic measure");
        };
        self.values[index] = value.into();
        self
    }

    /// The value of measure `name`; [`Value::Null`] for a name that is not a measure.
    pub fn get(&self, name: &str) -> &Value {
        traffic_measure_index(name)
            .and_then(|i| self.values.get(i))
            .unwrap_or(&Value::Null)
    }

    /// The number of measure `name`, if it has one.
    pub fn f64(&self, name: &str) -> Option<f64> {
        self.get(name).as_f64()
    }

    /// Every measure with its value, in the contract's order.
    pub fn measures(&self) -> impl Iterator<Item = (&'static Column, &Value)> {
        traffic_measures().iter().zip(self.values.iter())
    }

    /// The values, in the order of [`traffic_measures`].
    pub fn values(&self) -> &[Value] {
        &self.values
    }
}

/// A measure's column of a batch, downcast once per batch.
enum Reader<'a> {
    /// Not in the batch: a classifier column of a per-lane window, which is not classified.
    Absent,
    Text(&'a StringArray, Option<Arc<String>>),
    U8(&'a UInt8Array),
    U32(&'a UInt32Array),
    U64(&'a UInt64Array),
    F64(&'a Float64Array),
    Bool(&'a BooleanArray),
    Time(&'a TimestampMillisecondArray),
}

impl<'a> Reader<'a> {
    fn of(batch: &'a RecordBatch, measure: &Column) -> Result<Self> {
        let name = measure.name;
        if batch.column_by_name(name).is_none() && CLASSIFIER.contains(measure) {
            return Ok(Self::Absent);
        }
        Ok(match measure.kind {
            Kind::Text => Self::Text(column(batch, name)?, None),
            Kind::U8 => Self::U8(column(batch, name)?),
            Kind::U32 => Self::U32(column(batch, name)?),
            Kind::U64 => Self::U64(column(batch, name)?),
            Kind::F64 => Self::F64(column(batch, name)?),
            Kind::Bool => Self::Bool(column(batch, name)?),
            Kind::Time => Self::Time(column(batch, name)?),
        })
    }

    fn read(&mut self, row: usize) -> Value {
        match self {
            Self::Absent => Value::Null,
            Self::Text(a, last) => {
                if a.is_null(row) {
                    return Value::Null;
                }
                let text = a.value(row);
                // Texts repeat (a state code): share the previous row's when equal.
                match last {
                    Some(held) if held.as_str() == text => Value::Text(held.clone()),
                    _ => {
                        let shared = Arc::new(text.to_owned());
                        *last = Some(shared.clone());
                        Value::Text(shared)
                    }
                }
            }
            Self::U8(a) => or_null(a.is_valid(row), || u64::from(a.value(row))),
            Self::U32(a) => or_null(a.is_valid(row), || u64::from(a.value(row))),
            Self::U64(a) => or_null(a.is_valid(row), || a.value(row)),
            Self::F64(a) => or_null(a.is_valid(row), || a.value(row)),
            Self::Bool(a) => or_null(a.is_valid(row), || a.value(row)),
            Self::Time(a) => {
                if a.is_valid(row) {
                    Value::Time(a.value(row))
                } else {
                    Value::Null
                }
            }
        }
    }
}

/// The value `get` reads when `valid`, else null.
fn or_null<T: Into<Value>>(valid: bool, get: impl FnOnce() -> T) -> Value {
    if valid { get().into() } else { Value::Null }
}

/// The rows of a closed-traffic-window batch (classified or per-lane) as (city, sensor
/// id, window).
///
/// # Errors
/// [`ProcessingError::Schema`] if a key column or an aggregate column is missing or of
/// another type than the contract's (a batch of another stream: a bug).
pub(super) fn traffic_rows(batch: &RecordBatch) -> Result<Vec<(String, String, TrafficWindowRow)>> {
    let city: &StringArray = column(batch, out::CITY)?;
    let sensor: &StringArray = column(batch, out::SENSOR_ID)?;
    let start: &TimestampMillisecondArray = column(batch, out::WINDOW_START)?;
    let end: &TimestampMillisecondArray = column(batch, out::WINDOW_END)?;
    let mut readers = traffic_measures()
        .iter()
        .map(|m| Reader::of(batch, m))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        if city.is_null(i) || sensor.is_null(i) {
            return Err(ProcessingError::Schema(format!(
                "traffic window row {i} has no city or sensor"
            )));
        }
        let values: Box<[Value]> = readers.iter_mut().map(|r| r.read(i)).collect();
        let row = TrafficWindowRow {
            window_start: start.value(i),
            window_end: end.value(i),
            values,
        };
        rows.push((city.value(i).to_owned(), sensor.value(i).to_owned(), row));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_are_the_contract_columns_without_the_row_identity() {
        let names: Vec<&str> = traffic_measures().iter().map(|c| c.name).collect();
        let all: Vec<&str> = AGGREGATE.iter().chain(CLASSIFIER).map(|c| c.name).collect();
        assert_eq!(names.len() + 5, all.len());
        for key in [
            out::CITY,
            out::SENSOR_ID,
            out::WINDOW_START,
            out::WINDOW_END,
            out::LANE,
        ] {
            assert!(!names.contains(&key), "{key}");
        }
        assert!(names.contains(&out::FLOW_VEH_H));
        assert!(names.contains(&out::TRAFFIC_STATE));
    }

    #[test]
    fn a_row_is_null_until_set_and_names_outside_the_measures_read_null() {
        let row = TrafficWindowRow::new(0, 60_000).with(out::FLOW_VEH_H, 1200.0);
        assert_eq!(row.f64(out::FLOW_VEH_H), Some(1200.0));
        assert_eq!(row.get(out::SPEED_SPACE_MEAN_KMH), &Value::Null);
        assert_eq!(row.get("no_such_measure"), &Value::Null);
        assert_eq!(row.measures().count(), traffic_measures().len());
    }
}
