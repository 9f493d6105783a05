//! Emitted rows as plain values, read from the operator's `RecordBatch`es by column name, and
//! compared with a relative float tolerance (sums depend on the folding order).

use std::collections::BTreeMap;

use arrow_array::{
    Array, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt8Array,
    UInt32Array, UInt64Array,
};
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::traffic::out;

/// Relative tolerance for float columns.
const RELATIVE_TOLERANCE: f64 = 1e-9;

/// Identifies one emitted row: window family, window, revision, sensor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub size_s: u32,
    pub slide_s: u32,
    pub start: i64,
    pub revision: u32,
    pub sensor: String,
}

impl Key {
    pub fn new(size_ms: i64, slide_ms: i64, start: i64, revision: u32, sensor: &str) -> Self {
        Self {
            size_s: (size_ms / 1000) as u32,
            slide_s: (slide_ms / 1000) as u32,
            start,
            revision,
            sensor: sensor.to_owned(),
        }
    }

    /// The key without its revision: one (family, window, sensor).
    pub fn cell(&self) -> (u32, u32, i64, String) {
        (self.size_s, self.slide_s, self.start, self.sensor.clone())
    }
}

/// The values of one emitted row.
#[derive(Debug, Clone)]
pub struct Values {
    pub city: String,
    pub window_end: i64,
    pub observations: u32,
    pub lanes_reporting: u8,
    pub vehicles: u64,
    pub flow: Option<f64>,
    pub speed_time_mean: Option<f64>,
    pub speed_space_mean: Option<f64>,
    pub speed_reported_mean: Option<f64>,
    pub density: Option<f64>,
    pub occupancy_mean: Option<f64>,
    pub occupancy_max: Option<f64>,
    pub heavy: Option<u64>,
    pub heavy_share: Option<f64>,
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x == y || (x - y).abs() <= RELATIVE_TOLERANCE * x.abs().max(y.abs()),
        _ => false,
    }
}

impl Values {
    /// Equal, floats within the relative tolerance.
    pub fn approx_eq(&self, other: &Values) -> bool {
        self.city == other.city
            && self.window_end == other.window_end
            && self.observations == other.observations
            && self.lanes_reporting == other.lanes_reporting
            && self.vehicles == other.vehicles
            && self.heavy == other.heavy
            && close(self.flow, other.flow)
            && close(self.speed_time_mean, other.speed_time_mean)
            && close(self.speed_space_mean, other.speed_space_mean)
            && close(self.speed_reported_mean, other.speed_reported_mean)
            && close(self.density, other.density)
            && close(self.occupancy_mean, other.occupancy_mean)
            && close(self.occupancy_max, other.occupancy_max)
            && close(self.heavy_share, other.heavy_share)
    }
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| format!("column `{name}` missing or mistyped"))
}

fn f64_at(batch: &RecordBatch, name: &str, row: usize) -> Result<Option<f64>, String> {
    let a: &Float64Array = column(batch, name)?;
    Ok(a.is_valid(row).then(|| a.value(row)))
}

/// The rows of one emitted window.
pub fn rows_of(closed: &ClosedWindows) -> Result<Vec<(Key, Values)>, String> {
    let b = &closed.batch;
    if b.num_rows() == 0 {
        return Err(format!("empty window emitted: {closed:?}"));
    }
    let city: &StringArray = column(b, out::CITY)?;
    let sensor: &StringArray = column(b, out::SENSOR_ID)?;
    let start: &TimestampMillisecondArray = column(b, out::WINDOW_START)?;
    let end: &TimestampMillisecondArray = column(b, out::WINDOW_END)?;
    let observations: &UInt32Array = column(b, out::OBSERVATIONS)?;
    let lanes: &UInt8Array = column(b, out::LANES_REPORTING)?;
    let vehicles: &UInt64Array = column(b, out::VEHICLES)?;
    let heavy: &UInt64Array = column(b, out::HEAVY_VEHICLES)?;
    let mut rows = Vec::with_capacity(b.num_rows());
    for row in 0..b.num_rows() {
        if start.value(row) != closed.window_start {
            return Err(format!(
                "row {row} starts at {} in the window of {}",
                start.value(row),
                closed.window_start
            ));
        }
        let key = Key {
            size_s: closed.window_s,
            slide_s: closed.slide_s,
            start: closed.window_start,
            revision: closed.revision,
            sensor: sensor.value(row).to_owned(),
        };
        let values = Values {
            city: city.value(row).to_owned(),
            window_end: end.value(row),
            observations: observations.value(row),
            lanes_reporting: lanes.value(row),
            vehicles: vehicles.value(row),
            flow: f64_at(b, out::FLOW_VEH_H, row)?,
            speed_time_mean: f64_at(b, out::SPEED_TIME_MEAN_KMH, row)?,
            speed_space_mean: f64_at(b, out::SPEED_SPACE_MEAN_KMH, row)?,
            speed_reported_mean: f64_at(b, out::SPEED_REPORTED_MEAN_KMH, row)?,
            density: f64_at(b, out::DENSITY_VEH_KM, row)?,
            occupancy_mean: f64_at(b, out::OCCUPANCY_PCT, row)?,
            occupancy_max: f64_at(b, out::OCCUPANCY_MAX_PCT, row)?,
            heavy: heavy.is_valid(row).then(|| heavy.value(row)),
            heavy_share: f64_at(b, out::HEAVY_SHARE_PCT, row)?,
        };
        rows.push((key, values));
    }
    Ok(rows)
}

/// Compares two multisets of rows: keys are unique on each side, so sorting by key pairs
/// them up. Describes the first differences.
pub fn same_rows(got: &[(Key, Values)], want: &[(Key, Values)]) -> Result<(), String> {
    let got = unique(got, "engine")?;
    let want = unique(want, "reference")?;
    let mut problems = Vec::new();
    for (key, g) in &got {
        match want.get(key) {
            None => problems.push(format!("extra {key:?}: {g:?}")),
            Some(w) if !g.approx_eq(w) => problems.push(format!(
                "differs {key:?}:\n  engine    {g:?}\n  reference {w:?}"
            )),
            Some(_) => {}
        }
    }
    for (key, w) in &want {
        if !got.contains_key(key) {
            problems.push(format!("missing {key:?}: {w:?}"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.truncate(6);
    Err(problems.join("\n"))
}

fn unique<'a>(
    rows: &'a [(Key, Values)],
    side: &str,
) -> Result<BTreeMap<&'a Key, &'a Values>, String> {
    let mut map = BTreeMap::new();
    for (key, values) in rows {
        if map.insert(key, values).is_some() {
            return Err(format!("{side} emitted {key:?} twice"));
        }
    }
    Ok(map)
}

/// The highest revision of each (family, window, sensor), revision reset to 0.
pub fn finals(rows: &[(Key, Values)]) -> Vec<(Key, Values)> {
    let mut best: BTreeMap<(u32, u32, i64, String), &(Key, Values)> = BTreeMap::new();
    for entry in rows {
        let slot = best.entry(entry.0.cell()).or_insert(entry);
        if entry.0.revision > slot.0.revision {
            *slot = entry;
        }
    }
    best.into_values()
        .map(|(key, values)| {
            let key = Key {
                revision: 0,
                ..key.clone()
            };
            (key, values.clone())
        })
        .collect()
}
