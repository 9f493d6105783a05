//! Per-sensor traffic state of closed traffic windows: speed ratio, MARZ state Z1–Z4 and
//! the congestion flag, appended to the batches [`TrafficWindowOperator`] emits.
//!
//! [`TrafficWindowOperator`]: crate::engine::TrafficWindowOperator

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};

use crate::catalog::{Catalog, EntityKey};
use crate::error::column;
use crate::formulas;
use crate::marz::{self, MarzThresholds, TrafficState};
use crate::time::EventTime;
use crate::window::ClosedWindows;
use crate::window::restore::{EntityId, IdTable, RestoreStats, resolve_traffic};
use crate::window::traffic::{out, traffic_aggregate_schema, traffic_window_schema};
use crate::{ProcessingError, Result};

/// The state a sensor's window ended in, for the hysteresis of the next one.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Previous {
    window_start: EventTime,
    state: Option<TrafficState>,
    /// The predecessor's state this window was classified with: a revision of the same
    /// window (late data, or a re-emission after a restore) is classified with it again,
    /// so it gets the state it had, not one without hysteresis.
    before: Option<TrafficState>,
}

/// Classifies closed traffic windows, keeping each sensor's last state per window size.
///
/// The hysteresis of [`marz::marz_state`] needs the state of the window right before:
/// a previous state counts only when that window started one slide before this one (for
/// tumbling windows: ended where this one starts; for hopping windows: the overlapping one
/// just before), so a sensor that was silent for a window (no row) starts afresh. Memory is one slot per (window
/// size, catalog sensor): it grows with the catalog, never with time.
///
/// ```
/// use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
/// use stadtpuls_processing::model::TimeBounds;
/// use stadtpuls_processing::model::traffic::{TrafficBatchBuilder, TrafficObservation};
/// use stadtpuls_processing::engine::{Operator, TrafficWindowOperator};
/// use stadtpuls_processing::window::traffic::traffic_window_schema;
/// use stadtpuls_processing::window::traffic_state::TrafficStateClassifier;
/// use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};
///
/// let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Admit);
/// let spec = WindowSpec::tumbling(&[60_000], 0, 60_000, TimestampSemantics::IntervalEnd);
/// let mut op = TrafficWindowOperator::new(&spec);
/// let mut classifier = TrafficStateClassifier::new();
/// let now = 1_795_478_580_000;
/// let bounds = TimeBounds { now, max_future_ms: 300_000 };
/// let mut builder = TrafficBatchBuilder::default();
/// let minutes = [(1_795_478_460_000, 10, 45.0), (1_795_478_520_000, 30, 20.0), (now, 0, 50.0)];
/// for (ts, n, v) in minutes {
///     let obs = TrafficObservation { city: "ulm", sensor_id: "ulm-t-1", lane: 0, ts, interval_s: 60,
///         vehicle_count: n, heavy_vehicle_count: None, avg_speed_kmh: Some(v), occupancy_pct: None };
///     builder.push(&mut catalog, None, &obs, bounds).unwrap();
/// }
/// let batch = builder.finish(&catalog).unwrap();
/// op.fold(0, now, &batch, &catalog).unwrap();
/// let mut states = Vec::new();
/// // the end of the input closes every window, the last minute too
/// for closed in op.finish(&catalog).unwrap() {
///     let classified = classifier.classify(&closed, &catalog).unwrap();
///     assert_eq!(classified.batch.schema(), traffic_window_schema());
///     let column = classified.batch.column_by_name("traffic_state").unwrap();
///     let codes = column.as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
///     states.push(codes.value(0).to_owned());
/// }
/// // An urban street, one lane (v1 15, v2 35 km/h; k1 20, k2 50 veh/km):
/// // 600 veh/h at 45 km/h (k = 13.3) is free; 1800 veh/h at 20 km/h (k = 90 > k2) is slow;
/// // no vehicles at all is an empty, free road.
/// assert_eq!(states, ["Z1", "Z3", "Z1"]);
/// ```
#[derive(Debug, Default)]
pub struct TrafficStateClassifier {
    /// Window length in seconds → the last window of each sensor, indexed by sensor key.
    /// Per window family (size, slide): the last state of each sensor.
    previous: HashMap<(u32, u32), Vec<Option<Previous>>>,
}

impl TrafficStateClassifier {
    /// Creates a classifier that has seen no window yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns `closed` with the columns `speed_ratio`, `traffic_state` and `congested`
    /// appended (schema [`traffic_window_schema`]), and remembers each row's state for the
    /// sensor's next window of the same size.
    ///
    /// A row whose sensor or site class the catalog does not know gets nulls (cannot
    /// happen when the batch came from an operator fed by the same catalog).
    ///
    /// # Errors
    /// [`ProcessingError::Schema`] if the batch is not one the traffic window operator
    /// emitted (already classified, or not traffic); a bug.
    pub fn classify(&mut self, closed: &ClosedWindows, catalog: &Catalog) -> Result<ClosedWindows> {
        let batch = &closed.batch;
        if batch.schema() != traffic_aggregate_schema() {
            return Err(ProcessingError::Schema(
                "traffic state: expected a batch of the traffic window operator".to_owned(),
            ));
        }
        let input = Input::of(batch)?;
        let sensors = catalog.traffic_sensors();
        let slots = self
            .previous
            .entry((closed.window_s, closed.slide_s))
            .or_default();
        slots.resize(sensors.len(), None);
        let n = batch.num_rows();
        let mut ratio = Float64Builder::with_capacity(n);
        let mut state = StringBuilder::with_capacity(n, 2 * n);
        let mut congested = BooleanBuilder::with_capacity(n);
        for row in 0..n {
            let key = sensor_key(catalog, input.city.value(row), input.sensor.value(row));
            let info = key.and_then(|k| sensors.get(k as usize));
            let class = info.and_then(|i| catalog.site_classes().get(usize::from(i.site_class)));
            let slot = key.and_then(|k| slots.get_mut(k as usize));
            let (Some(info), Some(class), Some(slot)) = (info, class, slot) else {
                ratio.append_null();
                state.append_null();
                congested.append_null();
                continue;
            };
            let v_s = input.f64(input.speed, row);
            let window_start = input.start.value(row);
            let slide_ms = i64::from(closed.slide_s) * 1000;
            let previous = match *slot {
                Some(p) if p.window_start == window_start - slide_ms => p.state,
                Some(p) if p.window_start == window_start => p.before,
                _ => None,
            };
            let current = marz::window_state(
                input.vehicles.value(row),
                v_s,
                input.f64(input.density, row),
                &MarzThresholds::of(class, info.lanes),
                previous,
            );
            *slot = Some(Previous {
                window_start,
                state: current,
                before: previous,
            });
            ratio.append_option(formulas::speed_ratio(v_s, info.free_flow_kmh));
            state.append_option(current.map(TrafficState::code));
            congested.append_option(current.map(TrafficState::is_congested));
        }
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns.push(Arc::new(ratio.finish()));
        columns.push(Arc::new(state.finish()));
        columns.push(Arc::new(congested.finish()));
        Ok(ClosedWindows {
            window_s: closed.window_s,
            slide_s: closed.slide_s,
            window_start: closed.window_start,
            revision: closed.revision,
            owner: closed.owner,
            batch: RecordBatch::try_new(traffic_window_schema(), columns)?,
        })
    }

    /// The hysteresis states of the sensors `owned` accepts (a task's, see
    /// [`crate::engine::TaskState`]).
    pub fn snapshot(
        &self,
        owned: impl Fn(EntityKey) -> bool,
        catalog: &Catalog,
    ) -> ClassifierSnapshot {
        let mut ids = IdTable::default();
        let mut states = Vec::new();
        let mut families: Vec<_> = self.previous.iter().collect();
        families.sort_by_key(|(family, _)| **family);
        for (&(window_s, slide_s), slots) in families {
            for (key, slot) in slots.iter().enumerate() {
                let key = key as EntityKey;
                let Some(previous) = slot.filter(|_| owned(key)) else {
                    continue;
                };
                let Some(sensor) = ids.traffic(catalog, key) else {
                    continue;
                };
                states.push(SavedState {
                    window_s,
                    slide_s,
                    sensor,
                    window_start: previous.window_start,
                    state: previous.state,
                    before: previous.before,
                });
            }
        }
        ClassifierSnapshot {
            sensors: ids.into_ids(),
            states,
        }
    }

    /// Merges a task's hysteresis states back, resolving sensors in `catalog`.
    pub fn restore(
        &mut self,
        snapshot: &ClassifierSnapshot,
        catalog: &mut Catalog,
    ) -> RestoreStats {
        let keys = resolve_traffic(catalog, &snapshot.sensors);
        let count = catalog.traffic_sensors().len();
        let mut stats = RestoreStats::default();
        for saved in &snapshot.states {
            let Some(key) = keys.get(saved.sensor as usize).copied().flatten() else {
                stats.dropped += 1;
                continue;
            };
            let slots = self
                .previous
                .entry((saved.window_s, saved.slide_s))
                .or_default();
            if slots.len() < count {
                slots.resize(count, None);
            }
            if let Some(slot) = slots.get_mut(key as usize) {
                *slot = Some(Previous {
                    window_start: saved.window_start,
                    state: saved.state,
                    before: saved.before,
                });
                stats.restored += 1;
            }
        }
        stats
    }

    /// Drops the states of the sensors `owned` accepts (a revoked task's).
    pub fn revoke(&mut self, owned: impl Fn(EntityKey) -> bool) {
        for slots in self.previous.values_mut() {
            for (key, slot) in slots.iter_mut().enumerate() {
                if owned(key as EntityKey) {
                    *slot = None;
                }
            }
        }
    }

    /// Number of (window size, sensor) states kept, at most sizes × catalog sensors.
    pub fn states(&self) -> usize {
        self.previous
            .values()
            .map(|slots| slots.iter().filter(|slot| slot.is_some()).count())
            .sum()
    }
}

/// One sensor's last state of one window family in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct SavedState {
    window_s: u32,
    slide_s: u32,
    /// Index into [`ClassifierSnapshot::sensors`].
    sensor: u32,
    window_start: EventTime,
    state: Option<TrafficState>,
    /// The predecessor state the window was classified with.
    before: Option<TrafficState>,
}

/// The hysteresis states one task owns in a [`TrafficStateClassifier`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassifierSnapshot {
    sensors: Vec<EntityId>,
    states: Vec<SavedState>,
}

fn sensor_key(catalog: &Catalog, city: &str, sensor: &str) -> Option<EntityKey> {
    catalog
        .city(city)
        .and_then(|city| catalog.traffic_key(city, sensor))
}

/// The columns the classification reads, borrowed once per batch.
struct Input<'a> {
    city: &'a StringArray,
    sensor: &'a StringArray,
    start: &'a TimestampMillisecondArray,
    vehicles: &'a UInt64Array,
    speed: &'a Float64Array,
    density: &'a Float64Array,
}

impl<'a> Input<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self> {
        Ok(Self {
            city: column(batch, out::CITY)?,
            sensor: column(batch, out::SENSOR_ID)?,
            start: column(batch, out::WINDOW_START)?,
            vehicles: column(batch, out::VEHICLES)?,
            speed: column(batch, out::SPEED_SPACE_MEAN_KMH)?,
            density: column(batch, out::DENSITY_VEH_KM)?,
        })
    }

    fn f64(&self, array: &Float64Array, row: usize) -> Option<f64> {
        array.is_valid(row).then(|| array.value(row))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{
        BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
        UInt8Array, UInt32Array, UInt64Array,
    };

    use super::*;
    use crate::catalog::UnknownSensors;

    const T0: i64 = 1_795_478_400_000;
    const MIN: i64 = 60_000;

    /// A motorway sensor with two lanes (v1 30, v2 80 km/h; k1 30, k2 60 veh/km) and an
    /// urban one with one lane (v1 15, v2 35; k1 20, k2 50).
    fn catalog() -> Catalog {
        let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
        catalog.add_traffic(0, "m", 2, 120.0);
        catalog.add_traffic(0, "u", 1, 50.0);
        catalog
    }

    /// (sensor, vehicles, space-mean speed, density) of one window.
    type Row<'a> = (&'a str, u64, Option<f64>, Option<f64>);

    /// An operator-shaped batch of windows starting at `start`; only the columns the
    /// classifier reads carry meaning.
    fn closed(window_s: u32, start: i64, rows: &[Row<'_>]) -> ClosedWindows {
        let n = rows.len();
        let end = start + i64::from(window_s) * 1000;
        let times = |t: i64| {
            Arc::new(TimestampMillisecondArray::from(vec![t; n]).with_timezone("UTC")) as ArrayRef
        };
        let f64s = |get: fn(&Row<'_>) -> Option<f64>| {
            Arc::new(rows.iter().map(get).collect::<Float64Array>()) as ArrayRef
        };
        // Built from the contract's columns: a new nullable measure needs no edit here.
        let schema = traffic_aggregate_schema();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|field| match field.name().as_str() {
                out::CITY => Arc::new(StringArray::from(vec!["ulm"; n])) as ArrayRef,
                out::SENSOR_ID => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                out::WINDOW_START => times(start),
                out::WINDOW_END => times(end),
                out::VEHICLES => Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.1))),
                out::SPEED_SPACE_MEAN_KMH => f64s(|r| r.2),
                out::DENSITY_VEH_KM => f64s(|r| r.3),
                out::COMPLETENESS_PCT => Arc::new(Float64Array::from(vec![100.0; n])),
                out::OBSERVATIONS => Arc::new(UInt32Array::from(vec![1; n])),
                out::LANES_REPORTING => Arc::new(UInt8Array::from(vec![1; n])),
                name => {
                    assert!(field.is_nullable(), "no test value for {name}");
                    arrow_array::new_null_array(field.data_type(), n)
                }
            })
            .collect();
        let batch = RecordBatch::try_new(traffic_aggregate_schema(), columns);
        ClosedWindows {
            window_s,
            slide_s: window_s,
            window_start: start,
            revision: 0,
            owner: 0,
            batch: batch.unwrap_or_else(|e| panic!("test batch: {e}")),
        }
    }

    fn states(classified: &ClosedWindows) -> Vec<Option<String>> {
        let column = classified.batch.column_by_name(out::TRAFFIC_STATE);
        let codes = column.and_then(|c| c.as_any().downcast_ref::<StringArray>());
        let Some(codes) = codes else {
            panic!("no traffic_state column");
        };
        (0..codes.len())
            .map(|i| codes.is_valid(i).then(|| codes.value(i).to_owned()))
            .collect()
    }

    fn z(codes: &[&str]) -> Vec<Option<String>> {
        codes
            .iter()
            .map(|c| (!c.is_empty()).then(|| (*c).to_owned()))
            .collect()
    }

    #[test]
    fn appends_ratio_state_and_congestion() -> Result<()> {
        let catalog = catalog();
        let mut classifier = TrafficStateClassifier::new();
        let rows = [
            ("m", 40, Some(96.0), Some(25.0)), // Z1, 96/120 = 0.8
            ("u", 30, Some(20.0), Some(40.0)), // Z3, 20/50 = 0.4
            ("u", 0, None, None),              // empty road: Z1, no ratio
            ("m", 12, None, None),             // no speed: nothing
        ];
        let out = classifier.classify(&closed(60, T0, &rows), &catalog)?;
        assert_eq!(out.batch.schema(), traffic_window_schema());
        assert_eq!(states(&out), z(&["Z1", "Z3", "Z1", ""]));
        let ratio = column::<Float64Array>(&out.batch, out::SPEED_RATIO)?;
        let ratios: Vec<Option<f64>> = (0..4)
            .map(|i| ratio.is_valid(i).then(|| ratio.value(i)))
            .collect();
        assert_eq!(ratios, [Some(0.8), Some(0.4), None, None]);
        let congested = column::<BooleanArray>(&out.batch, out::CONGESTED)?;
        let flags: Vec<Option<bool>> = (0..4)
            .map(|i| congested.is_valid(i).then(|| congested.value(i)))
            .collect();
        assert_eq!(flags, [Some(false), Some(true), Some(false), None]);
        assert_eq!(out.window_start, T0);
        Ok(())
    }

    /// v < v1 alone (25 km/h, 40 veh/km on the motorway) is Z4 only right after Z3/Z4.
    #[test]
    fn hysteresis_needs_the_directly_preceding_window() -> Result<()> {
        let catalog = catalog();
        let mut classifier = TrafficStateClassifier::new();
        let slow = [("m", 50, Some(60.0), Some(40.0))];
        let crawl = [("m", 30, Some(25.0), Some(40.0))];
        let mut run = |start: i64, rows: &[Row<'_>]| {
            classifier
                .classify(&closed(60, start, rows), &catalog)
                .map(|out| states(&out))
        };
        assert_eq!(run(T0, &slow)?, z(&["Z3"]));
        assert_eq!(run(T0 + MIN, &crawl)?, z(&["Z4"]), "after Z3");
        assert_eq!(run(T0 + 2 * MIN, &crawl)?, z(&["Z4"]), "after Z4");
        // The sensor sent nothing for (T0+3m, T0+4m]: no row, so no previous state.
        assert_eq!(run(T0 + 4 * MIN, &crawl)?, z(&["Z3"]), "after a gap");
        // A window without a state (no speed) breaks the chain as well.
        assert_eq!(run(T0 + 5 * MIN, &crawl)?, z(&["Z4"]));
        assert_eq!(run(T0 + 6 * MIN, &[("m", 9, None, None)])?, z(&[""]));
        assert_eq!(run(T0 + 7 * MIN, &crawl)?, z(&["Z3"]));
        Ok(())
    }

    /// A revision of a window (late data, a re-emission after a restore) keeps the
    /// hysteresis of its first classification: Z4 after Z3, not Z3 afresh.
    #[test]
    fn a_revision_is_classified_with_the_predecessor_of_its_first_time() -> Result<()> {
        let catalog = catalog();
        let mut classifier = TrafficStateClassifier::new();
        let slow = [("m", 50, Some(60.0), Some(40.0))];
        let crawl = [("m", 30, Some(25.0), Some(40.0))];
        let mut run = |start: i64, rows: &[Row<'_>]| {
            classifier
                .classify(&closed(60, start, rows), &catalog)
                .map(|out| states(&out))
        };
        assert_eq!(run(T0, &slow)?, z(&["Z3"]));
        assert_eq!(run(T0 + MIN, &crawl)?, z(&["Z4"]));
        assert_eq!(run(T0 + MIN, &crawl)?, z(&["Z4"]), "the same window again");
        assert_eq!(run(T0 + 2 * MIN, &crawl)?, z(&["Z4"]), "the chain goes on");
        Ok(())
    }

    #[test]
    fn hopping_windows_chain_to_the_window_one_slide_before() -> Result<()> {
        let catalog = catalog();
        let mut classifier = TrafficStateClassifier::new();
        let slow = [("m", 50, Some(60.0), Some(40.0))];
        let crawl = [("m", 30, Some(25.0), Some(40.0))];
        // A 2-minute window every minute: the previous window started one minute earlier.
        let mut run = |start: i64, rows: &[Row<'_>]| {
            let mut hopping = closed(120, start, rows);
            hopping.slide_s = 60;
            classifier
                .classify(&hopping, &catalog)
                .map(|out| states(&out))
        };
        assert_eq!(run(T0, &slow)?, z(&["Z3"]));
        assert_eq!(
            run(T0 + MIN, &crawl)?,
            z(&["Z4"]),
            "after Z3, one slide before"
        );
        assert_eq!(run(T0 + 2 * MIN, &crawl)?, z(&["Z4"]), "after Z4");
        assert_eq!(
            run(T0 + 4 * MIN, &crawl)?,
            z(&["Z3"]),
            "a slide missing: afresh"
        );
        Ok(())
    }

    #[test]
    fn window_sizes_keep_separate_states() -> Result<()> {
        let catalog = catalog();
        let mut classifier = TrafficStateClassifier::new();
        let slow = [("m", 50, Some(60.0), Some(40.0))];
        let crawl = [("m", 30, Some(25.0), Some(40.0))];
        classifier.classify(&closed(60, T0, &slow), &catalog)?;
        // The 15-minute window starting at T0 has no predecessor, whatever the 1-minute one says.
        let quarter = classifier.classify(&closed(900, T0, &crawl), &catalog)?;
        assert_eq!(states(&quarter), z(&["Z3"]));
        let minute = classifier.classify(&closed(60, T0 + MIN, &crawl), &catalog)?;
        assert_eq!(states(&minute), z(&["Z4"]));
        assert_eq!(classifier.states(), 2);
        Ok(())
    }

    #[test]
    fn state_is_bounded_by_sizes_times_sensors() -> Result<()> {
        let catalog = catalog();
        let mut classifier = TrafficStateClassifier::new();
        let rows = [
            ("m", 50, Some(60.0), Some(40.0)),
            ("u", 5, Some(40.0), Some(5.0)),
        ];
        for minute in 0..500 {
            classifier.classify(&closed(60, T0 + minute * MIN, &rows), &catalog)?;
            classifier.classify(&closed(900, T0 + minute * 15 * MIN, &rows), &catalog)?;
        }
        assert_eq!(classifier.states(), 4);
        let slots: usize = classifier.previous.values().map(Vec::len).sum();
        assert_eq!(slots, 2 * catalog.traffic_sensors().len());
        Ok(())
    }

    #[test]
    fn unknown_sensor_gets_nulls() -> Result<()> {
        let mut classifier = TrafficStateClassifier::new();
        let rows = [
            ("ghost", 10, Some(50.0), Some(10.0)),
            ("u", 10, Some(50.0), Some(10.0)),
        ];
        let out = classifier.classify(&closed(60, T0, &rows), &catalog())?;
        assert_eq!(states(&out), z(&["", "Z1"]));
        Ok(())
    }

    #[test]
    fn refuses_batches_it_did_not_expect() -> Result<()> {
        let catalog = catalog();
        let mut classifier = TrafficStateClassifier::new();
        let once = classifier.classify(&closed(60, T0, &[("m", 1, None, None)]), &catalog)?;
        let twice = classifier.classify(&once, &catalog);
        assert!(
            matches!(twice, Err(ProcessingError::Schema(_))),
            "{twice:?}"
        );
        let parking = ClosedWindows {
            window_s: 60,
            slide_s: 60,
            window_start: T0,
            revision: 0,
            owner: 0,
            batch: RecordBatch::new_empty(crate::window::parking::parking_window_schema()),
        };
        assert!(classifier.classify(&parking, &catalog).is_err());
        Ok(())
    }
}
