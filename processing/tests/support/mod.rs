//! Reading the parking operator's closed windows back by facility and column, shared by
//! the parking tests.

#![allow(dead_code)] // not every test reads every type

use arrow_array::{Array, Float64Array, StringArray, UInt32Array, UInt64Array};
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::parking::out;

/// A row of a closed window: the window and the row's index in its batch.
pub type At<'a> = Option<(&'a ClosedWindows, usize)>;

/// Finds the window of `size_s` starting at `start` and the row of `facility` in it.
pub fn row<'a>(closed: &'a [ClosedWindows], size_s: u32, start: i64, facility: &str) -> At<'a> {
    let window = closed
        .iter()
        .find(|c| c.window_s == size_s && c.window_start == start)?;
    let ids = window
        .batch
        .column_by_name(out::FACILITY_ID)?
        .as_any()
        .downcast_ref::<StringArray>()?;
    let i = (0..ids.len()).find(|&i| ids.value(i) == facility)?;
    Some((window, i))
}

/// The value of column `name` at the row, read with `get`; `None` for a missing row or
/// column, a column of another type, or a null.
pub fn value<A: Array + 'static, T>(
    w: At<'_>,
    name: &str,
    get: impl Fn(&A, usize) -> T,
) -> Option<T> {
    let (window, i) = w?;
    let column = window
        .batch
        .column_by_name(name)?
        .as_any()
        .downcast_ref::<A>()?;
    column.is_valid(i).then(|| get(column, i))
}

pub fn u32_at(w: At<'_>, name: &str) -> Option<u32> {
    value(w, name, UInt32Array::value)
}

pub fn u64_at(w: At<'_>, name: &str) -> Option<u64> {
    value(w, name, UInt64Array::value)
}

pub fn f64_at(w: At<'_>, name: &str) -> Option<f64> {
    value(w, name, Float64Array::value)
}

pub fn str_at(w: At<'_>, name: &str) -> Option<String> {
    value(w, name, |a: &StringArray, i| a.value(i).to_owned())
}
