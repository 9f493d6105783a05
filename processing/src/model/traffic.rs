//! Traffic observations: one detector count over one interval.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, PrimitiveBuilder, UInt32Builder};
use arrow_array::types::{TimestampMillisecondType, UInt8Type, UInt16Type, UInt32Type};
use arrow_array::{ArrayRef, DictionaryArray, RecordBatch, UInt16Array, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::catalog::{Catalog, CityKey, EntityKey};
use crate::model::TimeBounds;
use crate::{RejectReason, Rejection};

/// One traffic observation as decoded from the wire, before validation.
///
/// `ts` is the *end* of the counting interval, so the observation covers
/// `(ts - interval_s, ts]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficObservation<'a> {
    /// City id.
    pub city: &'a str,
    /// Sensor id within the city.
    pub sensor_id: &'a str,
    /// Lane number, 0 = all lanes of the cross-section.
    pub lane: i64,
    /// End of the counting interval, epoch ms UTC.
    pub ts: i64,
    /// Length of the counting interval in seconds.
    pub interval_s: i64,
    /// Vehicles counted in the interval.
    pub vehicle_count: i64,
    /// Heavy vehicles (trucks, buses) among them, if classified.
    pub heavy_vehicle_count: Option<i64>,
    /// Time-mean speed of the interval in km/h.
    pub avg_speed_kmh: Option<f64>,
    /// Detector occupancy in percent of the interval.
    pub occupancy_pct: Option<f64>,
}

/// Default counting interval when the payload omits it, in seconds (TLS short-term data).
pub const DEFAULT_INTERVAL_S: i64 = 60;
/// Highest plausible speed in km/h.
pub const MAX_SPEED_KMH: f64 = 250.0;
/// Highest lane number accepted.
pub const MAX_LANE: i64 = 16;

/// Column names of a traffic observation batch.
pub mod col {
    /// `Dictionary(UInt16, Utf8)`: city id.
    pub const CITY: &str = "city";
    /// `Dictionary(UInt32, Utf8)`: sensor id; the key is the catalog's sensor key.
    pub const SENSOR_ID: &str = "sensor_id";
    /// `UInt8`: lane, 0 = all lanes.
    pub const LANE: &str = "lane";
    /// `Timestamp(ms, UTC)`: end of the counting interval.
    pub const TS: &str = "ts";
    /// `UInt32`: interval length in seconds.
    pub const INTERVAL_S: &str = "interval_s";
    /// `UInt32`: vehicles counted.
    pub const VEHICLE_COUNT: &str = "vehicle_count";
    /// `UInt32`, nullable: heavy vehicles counted.
    pub const HEAVY_VEHICLE_COUNT: &str = "heavy_vehicle_count";
    /// `Float64`, nullable: time-mean speed of the interval, km/h.
    pub const AVG_SPEED_KMH: &str = "avg_speed_kmh";
    /// `Float64`, nullable: detector occupancy, percent.
    pub const OCCUPANCY_PCT: &str = "occupancy_pct";
}

/// Returns the Arrow schema of a batch of traffic observations.
pub fn traffic_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let dict = |k: DataType| DataType::Dictionary(Box::new(k), Box::new(DataType::Utf8));
            Arc::new(Schema::new(vec![
                Field::new(col::CITY, dict(DataType::UInt16), false),
                Field::new(col::SENSOR_ID, dict(DataType::UInt32), false),
                Field::new(col::LANE, DataType::UInt8, false),
                Field::new(
                    col::TS,
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    false,
                ),
                Field::new(col::INTERVAL_S, DataType::UInt32, false),
                Field::new(col::VEHICLE_COUNT, DataType::UInt32, false),
                Field::new(col::HEAVY_VEHICLE_COUNT, DataType::UInt32, true),
                Field::new(col::AVG_SPEED_KMH, DataType::Float64, true),
                Field::new(col::OCCUPANCY_PCT, DataType::Float64, true),
            ]))
        })
        .clone()
}

/// A validated batch of traffic observations whose `sensor_id` dictionary keys are the
/// keys of the catalog it was built with.
///
/// Only [`TrafficBatchBuilder`] creates it, which is what lets operators index their state
/// by dictionary key without a lookup.
#[derive(Debug, Clone)]
pub struct TrafficBatch {
    batch: RecordBatch,
    city_keys: UInt16Array,
    sensor_keys: UInt32Array,
}

impl TrafficBatch {
    /// The batch as Arrow data.
    pub fn record_batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Number of observations.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// City key per row.
    pub fn city_keys(&self) -> &UInt16Array {
        &self.city_keys
    }

    /// Catalog sensor key per row.
    pub fn sensor_keys(&self) -> &UInt32Array {
        &self.sensor_keys
    }

    /// The batch without `rows` (ascending indices), e.g. rows refused after validation.
    ///
    /// # Errors
    /// Only if Arrow refuses the filtered columns, which would be a bug.
    pub fn without_rows(&self, rows: &[u32]) -> crate::Result<Self> {
        let filter = crate::model::RowFilter::dropping(self.num_rows(), rows);
        Ok(Self {
            batch: filter.batch(&self.batch)?,
            city_keys: filter.keys(&self.city_keys)?,
            sensor_keys: filter.keys(&self.sensor_keys)?,
        })
    }
}

/// Proof that an observation passed every rule against a catalog, with its resolved keys.
///
/// Only [`TrafficBatchBuilder::check`] makes one, so an unvalidated row cannot be appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validated {
    city: CityKey,
    sensor: EntityKey,
}

/// Validates traffic observations and appends them to column buffers.
#[derive(Debug)]
pub struct TrafficBatchBuilder {
    city: Vec<u16>,
    sensor: Vec<u32>,
    lane: PrimitiveBuilder<UInt8Type>,
    ts: PrimitiveBuilder<TimestampMillisecondType>,
    interval_s: UInt32Builder,
    vehicle_count: UInt32Builder,
    heavy: UInt32Builder,
    speed: Float64Builder,
    occupancy: Float64Builder,
}

impl Default for TrafficBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(1024)
    }
}

impl TrafficBatchBuilder {
    /// Creates a builder sized for `capacity` rows.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            city: Vec::with_capacity(capacity),
            sensor: Vec::with_capacity(capacity),
            lane: PrimitiveBuilder::with_capacity(capacity),
            ts: PrimitiveBuilder::with_capacity(capacity),
            interval_s: UInt32Builder::with_capacity(capacity),
            vehicle_count: UInt32Builder::with_capacity(capacity),
            heavy: UInt32Builder::with_capacity(capacity),
            speed: Float64Builder::with_capacity(capacity),
            occupancy: Float64Builder::with_capacity(capacity),
        }
    }

    /// Number of rows appended so far.
    pub fn len(&self) -> usize {
        self.city.len()
    }

    /// Whether no row was appended yet.
    pub fn is_empty(&self) -> bool {
        self.city.is_empty()
    }

    /// Validates one observation and appends it.
    ///
    /// `topic_city` is the city of the topic the event arrived on, when known; a payload for
    /// another city is refused rather than silently re-routed.
    ///
    /// # Errors
    /// A [`Rejection`] naming the first rule the observation breaks; nothing is appended then.
    pub fn push(
        &mut self,
        catalog: &mut Catalog,
        topic_city: Option<CityKey>,
        obs: &TrafficObservation<'_>,
        bounds: TimeBounds,
    ) -> Result<(), Rejection> {
        let (city, sensor) = validate(catalog, topic_city, obs, bounds)?;
        self.push_validated(Validated { city, sensor }, obs);
        Ok(())
    }

    /// Validates one observation against `catalog` without changing it, so any number of
    /// threads can check observations at once; [`Self::push_validated`] then appends.
    ///
    /// Returns `None` when the observation is refused *or* names a sensor the catalog would
    /// first have to admit: [`Self::push`] then decides, with its usual rejection.
    pub fn check(
        catalog: &Catalog,
        topic_city: Option<CityKey>,
        obs: &TrafficObservation<'_>,
        bounds: TimeBounds,
    ) -> Option<Validated> {
        let city = catalog.city(obs.city)?;
        Self::check_in_city(catalog, topic_city, city, obs, bounds)
    }

    /// [`Self::check`] for a caller that already resolved `obs.city` to `city`.
    pub fn check_in_city(
        catalog: &Catalog,
        topic_city: Option<CityKey>,
        city: CityKey,
        obs: &TrafficObservation<'_>,
        bounds: TimeBounds,
    ) -> Option<Validated> {
        check_fields(catalog, topic_city, city, obs, bounds).ok()?;
        let sensor = catalog.traffic_key(city, obs.sensor_id)?;
        check_count(catalog, sensor, obs).ok()?;
        Some(Validated { city, sensor })
    }

    /// Appends an observation [`Self::check`] accepted; only its values are read from `obs`
    /// (the ids are in `validated`).
    pub fn push_validated(&mut self, validated: Validated, obs: &TrafficObservation<'_>) {
        let Validated { city, sensor } = validated;
        self.city.push(city);
        self.sensor.push(sensor);
        // Ranges were checked in `validate`, so the narrowing casts below cannot truncate.
        self.lane.append_value(obs.lane as u8);
        self.ts.append_value(obs.ts);
        self.interval_s.append_value(obs.interval_s as u32);
        self.vehicle_count.append_value(obs.vehicle_count as u32);
        self.heavy
            .append_option(obs.heavy_vehicle_count.map(|h| h as u32));
        self.speed.append_option(obs.avg_speed_kmh);
        self.occupancy.append_option(obs.occupancy_pct);
    }

    /// Finishes the batch and resets the builder.
    ///
    /// # Errors
    /// Only if Arrow refuses the columns, which would be a bug.
    pub fn finish(&mut self, catalog: &Catalog) -> crate::Result<TrafficBatch> {
        let city_keys = UInt16Array::from(std::mem::take(&mut self.city));
        let sensor_keys = UInt32Array::from(std::mem::take(&mut self.sensor));
        let city: DictionaryArray<UInt16Type> =
            DictionaryArray::try_new(city_keys.clone(), catalog.city_values())?;
        let sensor: DictionaryArray<UInt32Type> =
            DictionaryArray::try_new(sensor_keys.clone(), catalog.traffic_values())?;
        let ts = self.ts.finish().with_timezone("UTC");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(city),
            Arc::new(sensor),
            Arc::new(self.lane.finish()),
            Arc::new(ts),
            Arc::new(self.interval_s.finish()),
            Arc::new(self.vehicle_count.finish()),
            Arc::new(self.heavy.finish()),
            Arc::new(self.speed.finish()),
            Arc::new(self.occupancy.finish()),
        ];
        let batch = RecordBatch::try_new(traffic_schema(), columns)?;
        Ok(TrafficBatch {
            batch,
            city_keys,
            sensor_keys,
        })
    }
}

fn validate(
    catalog: &mut Catalog,
    topic_city: Option<CityKey>,
    obs: &TrafficObservation<'_>,
    bounds: TimeBounds,
) -> Result<(CityKey, EntityKey), Rejection> {
    let city = validate_fields(catalog, topic_city, obs, bounds)?;
    let Some(sensor) = catalog.resolve_traffic(city, obs.sensor_id) else {
        return Err(Rejection::new(
            RejectReason::UnknownSensor,
            format!(
                "sensor `{}` is not in the registry of `{}`",
                obs.sensor_id, obs.city
            ),
        ));
    };
    check_count(catalog, sensor, obs)?;
    Ok((city, sensor))
}

/// Every rule that needs no sensor entry, in the order rejections are reported.
fn validate_fields(
    catalog: &Catalog,
    topic_city: Option<CityKey>,
    obs: &TrafficObservation<'_>,
    bounds: TimeBounds,
) -> Result<CityKey, Rejection> {
    let Some(city) = catalog.city(obs.city) else {
        return Err(Rejection::new(
            RejectReason::UnknownCity,
            format!("city `{}` is not configured", obs.city),
        ));
    };
    check_fields(catalog, topic_city, city, obs, bounds)?;
    Ok(city)
}

/// The checks of [`validate_fields`] once the observation's city is resolved to `city`.
fn check_fields(
    catalog: &Catalog,
    topic_city: Option<CityKey>,
    city: CityKey,
    obs: &TrafficObservation<'_>,
    bounds: TimeBounds,
) -> Result<(), Rejection> {
    if let Some(expected) = topic_city
        && expected != city
    {
        return Err(Rejection::new(
            RejectReason::CityMismatch,
            format!(
                "city `{}` sent on the topic of city `{}`",
                obs.city,
                catalog.city_id(expected)
            ),
        ));
    }
    bounds.check(obs.ts)?;
    if !(1..=3600).contains(&obs.interval_s) {
        return Err(Rejection::new(
            RejectReason::InvalidInterval,
            format!("interval_s {} outside 1–3600", obs.interval_s),
        ));
    }
    if obs.vehicle_count < 0 {
        return Err(Rejection::new(
            RejectReason::NegativeCount,
            format!("vehicle_count {} is negative", obs.vehicle_count),
        ));
    }
    if let Some(heavy) = obs.heavy_vehicle_count {
        if heavy < 0 {
            return Err(Rejection::new(
                RejectReason::NegativeCount,
                format!("heavy_vehicle_count {heavy} is negative"),
            ));
        }
        if heavy > obs.vehicle_count {
            return Err(Rejection::new(
                RejectReason::ImplausibleCount,
                format!(
                    "heavy_vehicle_count {heavy} exceeds vehicle_count {}",
                    obs.vehicle_count
                ),
            ));
        }
    }
    if let Some(speed) = obs.avg_speed_kmh
        && !(0.0..=MAX_SPEED_KMH).contains(&speed)
    {
        return Err(Rejection::new(
            RejectReason::SpeedOutOfRange,
            format!("avg_speed_kmh {speed} outside 0–250"),
        ));
    }
    if let Some(occ) = obs.occupancy_pct
        && !(0.0..=100.0).contains(&occ)
    {
        return Err(Rejection::new(
            RejectReason::OccupancyOutOfRange,
            format!("occupancy_pct {occ} outside 0–100"),
        ));
    }
    if !(0..=MAX_LANE).contains(&obs.lane) {
        return Err(Rejection::new(
            RejectReason::InvalidLane,
            format!("lane {} outside 0–{MAX_LANE}", obs.lane),
        ));
    }
    Ok(())
}

fn check_count(
    catalog: &Catalog,
    sensor: EntityKey,
    obs: &TrafficObservation<'_>,
) -> Result<(), Rejection> {
    // One vehicle per second per lane is beyond any real saturation flow (~2,000 veh/h/lane).
    let lanes = if obs.lane == 0 {
        i64::from(catalog.traffic_sensors()[sensor as usize].lanes.max(1))
    } else {
        1
    };
    if obs.vehicle_count > obs.interval_s * lanes {
        return Err(Rejection::new(
            RejectReason::ImplausibleCount,
            format!(
                "vehicle_count {} in {} s on {lanes} lane(s) exceeds one vehicle per second per lane",
                obs.vehicle_count, obs.interval_s
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::UnknownSensors;

    const NOW: i64 = 1_795_478_400_000;

    fn bounds() -> TimeBounds {
        TimeBounds {
            now: NOW,
            max_future_ms: 300_000,
        }
    }

    fn obs() -> TrafficObservation<'static> {
        TrafficObservation {
            city: "ulm",
            sensor_id: "ulm-t-1",
            lane: 1,
            ts: NOW,
            interval_s: 60,
            vehicle_count: 12,
            heavy_vehicle_count: Some(2),
            avg_speed_kmh: Some(48.0),
            occupancy_pct: Some(9.5),
        }
    }

    fn reason(o: TrafficObservation<'_>) -> Option<RejectReason> {
        let mut catalog = Catalog::with_cities(&["ulm", "ka"], UnknownSensors::Admit);
        let mut b = TrafficBatchBuilder::default();
        b.push(&mut catalog, Some(0), &o, bounds())
            .err()
            .map(|r| r.reason)
    }

    #[test]
    fn each_rule_names_its_reason() {
        assert_eq!(reason(obs()), None);
        let cases = [
            (
                TrafficObservation {
                    city: "atlantis",
                    ..obs()
                },
                RejectReason::UnknownCity,
            ),
            (
                TrafficObservation {
                    city: "ka",
                    ..obs()
                },
                RejectReason::CityMismatch,
            ),
            (
                TrafficObservation {
                    avg_speed_kmh: Some(250.1),
                    ..obs()
                },
                RejectReason::SpeedOutOfRange,
            ),
            (
                TrafficObservation {
                    avg_speed_kmh: Some(-1.0),
                    ..obs()
                },
                RejectReason::SpeedOutOfRange,
            ),
            (
                TrafficObservation {
                    avg_speed_kmh: Some(f64::NAN),
                    ..obs()
                },
                RejectReason::SpeedOutOfRange,
            ),
            (
                TrafficObservation {
                    occupancy_pct: Some(100.5),
                    ..obs()
                },
                RejectReason::OccupancyOutOfRange,
            ),
            (
                TrafficObservation {
                    vehicle_count: -1,
                    heavy_vehicle_count: None,
                    ..obs()
                },
                RejectReason::NegativeCount,
            ),
            (
                TrafficObservation {
                    heavy_vehicle_count: Some(-2),
                    ..obs()
                },
                RejectReason::NegativeCount,
            ),
            (
                TrafficObservation {
                    heavy_vehicle_count: Some(13),
                    ..obs()
                },
                RejectReason::ImplausibleCount,
            ),
            (
                TrafficObservation {
                    vehicle_count: 61,
                    heavy_vehicle_count: None,
                    ..obs()
                },
                RejectReason::ImplausibleCount,
            ),
            (
                TrafficObservation {
                    ts: NOW + 300_001,
                    ..obs()
                },
                RejectReason::FutureTimestamp,
            ),
            (
                TrafficObservation { ts: 0, ..obs() },
                RejectReason::TimestampOutOfRange,
            ),
            (
                TrafficObservation {
                    interval_s: 0,
                    ..obs()
                },
                RejectReason::InvalidInterval,
            ),
            (
                TrafficObservation { lane: 17, ..obs() },
                RejectReason::InvalidLane,
            ),
        ];
        for (o, expected) in cases {
            assert_eq!(reason(o.clone()), Some(expected), "{o:?}");
        }
    }

    #[test]
    fn unknown_sensor_is_refused_by_a_strict_catalog() {
        let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
        let mut b = TrafficBatchBuilder::default();
        let err = b.push(&mut catalog, None, &obs(), bounds()).err();
        assert_eq!(err.map(|r| r.reason), Some(RejectReason::UnknownSensor));
        assert!(b.is_empty());
    }

    #[test]
    fn builds_dictionary_columns_keyed_by_catalog() -> crate::Result<()> {
        let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Admit);
        let mut b = TrafficBatchBuilder::default();
        for id in ["a", "b", "a"] {
            let o = TrafficObservation {
                sensor_id: id,
                heavy_vehicle_count: None,
                ..obs()
            };
            assert!(b.push(&mut catalog, None, &o, bounds()).is_ok());
        }
        let batch = b.finish(&catalog)?;
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(batch.sensor_keys().values().as_ref(), &[0, 1, 0]);
        assert_eq!(batch.record_batch().schema(), traffic_schema());
        assert_eq!(batch.record_batch().column(6).null_count(), 3);
        Ok(())
    }
}
