//! Parking observations: a car park's count, or one spot sensor's state.

use std::sync::Arc;

use arrow_array::builder::{PrimitiveBuilder, UInt32Builder};
use arrow_array::types::{TimestampMillisecondType, UInt8Type, UInt16Type, UInt32Type};
use arrow_array::{
    ArrayRef, DictionaryArray, RecordBatch, StringArray, UInt8Array, UInt16Array, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::catalog::{Catalog, CityKey, EntityKey};
use crate::model::TimeBounds;
use crate::{RejectReason, Rejection};

/// State of one parking spot as its sensor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum SpotStatus {
    /// Available to park.
    Free = 0,
    /// A vehicle is on the spot.
    Occupied = 1,
    /// Closed (works, event, reserved): neither free nor part of the usable total.
    Closed = 2,
    /// The sensor cannot tell (e.g. snow, fault).
    Unknown = 3,
}

impl SpotStatus {
    /// Wire names in code order; also the values of the `status` dictionary column.
    pub const NAMES: [&'static str; 4] = ["free", "occupied", "closed", "unknown"];

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "free" => Some(SpotStatus::Free),
            "occupied" => Some(SpotStatus::Occupied),
            "closed" => Some(SpotStatus::Closed),
            "unknown" => Some(SpotStatus::Unknown),
            _ => None,
        }
    }

    /// Decodes a dictionary key written by [`ParkingBatchBuilder`].
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => SpotStatus::Free,
            1 => SpotStatus::Occupied,
            2 => SpotStatus::Closed,
            _ => SpotStatus::Unknown,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// Whether a facility admits vehicles, as its operator states it (DATEX II
/// `OpeningStatusEnum`, ParkAPI `realtime_opening_status`, NGSI `status`), apart from how
/// full it is: a closed car park is not a full one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum OpeningStatus {
    /// Open (with or without service limitations).
    Open = 0,
    /// Closed (for the night, a holiday, maintenance, an event): admits nobody.
    Closed = 1,
    /// The operator does not know.
    Unknown = 2,
}

impl OpeningStatus {
    /// Wire names in code order; also the values of the `opening_status` dictionary column.
    pub const NAMES: [&'static str; 3] = ["open", "closed", "unknown"];

    /// Parses the wire name of the native format.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(OpeningStatus::Open),
            "closed" => Some(OpeningStatus::Closed),
            "unknown" => Some(OpeningStatus::Unknown),
            _ => None,
        }
    }

    /// Decodes a dictionary key written by [`ParkingBatchBuilder`].
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => OpeningStatus::Open,
            1 => OpeningStatus::Closed,
            _ => OpeningStatus::Unknown,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// One parking observation as decoded from the wire, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum ParkingObservation<'a> {
    /// A counted facility (car park, P+R) reports its free spaces.
    Facility {
        /// City id.
        city: &'a str,
        /// Facility id.
        id: &'a str,
        /// Time of the count, epoch ms UTC.
        ts: i64,
        /// Free spaces reported.
        free_spaces: i64,
        /// Real-time capacity, overriding the registry's when given.
        total_spaces: Option<i64>,
        /// Vehicles that entered since the facility's previous report, when counted.
        entries: Option<i64>,
        /// Vehicles that left since the facility's previous report, when counted.
        exits: Option<i64>,
        /// Opening status, when the feed states one; `None` is read as open.
        opening: Option<OpeningStatus>,
    },
    /// A spot sensor reports its state.
    Spot {
        /// City id.
        city: &'a str,
        /// Spot id.
        id: &'a str,
        /// Facility the sender believes the spot belongs to; the registry decides.
        facility_id: Option<&'a str>,
        /// Time of the state, epoch ms UTC.
        ts: i64,
        /// Reported state.
        status: SpotStatus,
    },
}

/// Column names of a parking observation batch.
pub mod col {
    /// `Dictionary(UInt16, Utf8)`: city id.
    pub const CITY: &str = "city";
    /// `Dictionary(UInt32, Utf8)`: facility id (for a spot: its facility); key = catalog key.
    pub const FACILITY_ID: &str = "facility_id";
    /// `Dictionary(UInt32, Utf8)`, nullable: spot id, null for facility counts.
    pub const SPOT_ID: &str = "spot_id";
    /// `Timestamp(ms, UTC)`: time of the observation.
    pub const TS: &str = "ts";
    /// `Dictionary(UInt8, Utf8)`, nullable: spot status.
    pub const STATUS: &str = "status";
    /// `UInt32`, nullable: free spaces of a facility count.
    pub const FREE_SPACES: &str = "free_spaces";
    /// `UInt32`, nullable: real-time capacity of a facility count.
    pub const TOTAL_SPACES: &str = "total_spaces";
    /// `UInt32`, nullable: vehicles in since the facility's previous report.
    pub const ENTRIES: &str = "entries";
    /// `UInt32`, nullable: vehicles out since the facility's previous report.
    pub const EXITS: &str = "exits";
    /// `Dictionary(UInt8, Utf8)`, nullable: a facility count's opening status
    /// ([`OpeningStatus`](super::OpeningStatus)), null when the feed states none.
    pub const OPENING_STATUS: &str = "opening_status";
}

/// Returns the Arrow schema of a batch of parking observations.
pub fn parking_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let dict = |k: DataType| DataType::Dictionary(Box::new(k), Box::new(DataType::Utf8));
            Arc::new(Schema::new(vec![
                Field::new(col::CITY, dict(DataType::UInt16), false),
                Field::new(col::FACILITY_ID, dict(DataType::UInt32), false),
                Field::new(col::SPOT_ID, dict(DataType::UInt32), true),
                Field::new(
                    col::TS,
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    false,
                ),
                Field::new(col::STATUS, dict(DataType::UInt8), true),
                Field::new(col::FREE_SPACES, DataType::UInt32, true),
                Field::new(col::TOTAL_SPACES, DataType::UInt32, true),
                Field::new(col::ENTRIES, DataType::UInt32, true),
                Field::new(col::EXITS, DataType::UInt32, true),
                Field::new(col::OPENING_STATUS, dict(DataType::UInt8), true),
            ]))
        })
        .clone()
}

/// A validated batch of parking observations keyed by the catalog it was built with.
#[derive(Debug, Clone)]
pub struct ParkingBatch {
    batch: RecordBatch,
    facility_keys: UInt32Array,
    spot_keys: UInt32Array,
    status: UInt8Array,
    opening: UInt8Array,
}

impl ParkingBatch {
    /// The batch as Arrow data.
    pub fn record_batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Number of observations.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Catalog facility key per row.
    pub fn facility_keys(&self) -> &UInt32Array {
        &self.facility_keys
    }

    /// Catalog spot key per row, null for facility counts.
    pub fn spot_keys(&self) -> &UInt32Array {
        &self.spot_keys
    }

    /// Spot status code per row ([`SpotStatus::from_code`]), null for facility counts.
    pub fn status_codes(&self) -> &UInt8Array {
        &self.status
    }

    /// Opening status code per row ([`OpeningStatus::from_code`]), null for spots and for
    /// counts that state none.
    pub fn opening_codes(&self) -> &UInt8Array {
        &self.opening
    }

    /// The batch without `rows` (ascending indices), e.g. rows refused after validation.
    ///
    /// # Errors
    /// Only if Arrow refuses the filtered columns, which would be a bug.
    pub fn without_rows(&self, rows: &[u32]) -> crate::Result<Self> {
        let filter = crate::model::RowFilter::dropping(self.num_rows(), rows);
        Ok(Self {
            batch: filter.batch(&self.batch)?,
            facility_keys: filter.keys(&self.facility_keys)?,
            spot_keys: filter.keys(&self.spot_keys)?,
            status: filter.keys(&self.status)?,
            opening: filter.keys(&self.opening)?,
        })
    }
}

/// Validates parking observations and appends them to column buffers.
#[derive(Debug, Default)]
pub struct ParkingBatchBuilder {
    city: Vec<u16>,
    facility: Vec<u32>,
    spot: UInt32Builder,
    ts: PrimitiveBuilder<TimestampMillisecondType>,
    status: PrimitiveBuilder<UInt8Type>,
    free: UInt32Builder,
    total: UInt32Builder,
    entries: UInt32Builder,
    exits: UInt32Builder,
    opening: PrimitiveBuilder<UInt8Type>,
}

impl ParkingBatchBuilder {
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
    /// # Errors
    /// A [`Rejection`] naming the first rule the observation breaks; nothing is appended then.
    pub fn push(
        &mut self,
        catalog: &Catalog,
        topic_city: Option<CityKey>,
        obs: &ParkingObservation<'_>,
        bounds: TimeBounds,
    ) -> Result<(), Rejection> {
        match *obs {
            ParkingObservation::Facility {
                city,
                id,
                ts,
                free_spaces,
                total_spaces,
                entries,
                exits,
                opening,
            } => {
                let city = resolve_city(catalog, topic_city, city)?;
                bounds.check(ts)?;
                let facility = catalog.facility_key(city, id).ok_or_else(|| {
                    unknown(format!(
                        "facility `{id}` is not in the registry of `{}`",
                        catalog.city_id(city)
                    ))
                })?;
                let total = check_spaces(catalog, facility, free_spaces, total_spaces)?;
                let entries = check_vehicle_count("entries", entries)?;
                let exits = check_vehicle_count("exits", exits)?;
                self.city.push(city);
                self.facility.push(facility);
                self.spot.append_null();
                self.ts.append_value(ts);
                self.status.append_null();
                // A closed facility admits nobody, whatever its counter last said.
                let free = if opening == Some(OpeningStatus::Closed) {
                    0
                } else {
                    free_spaces as u32
                };
                self.free.append_value(free);
                self.total.append_option(total);
                self.entries.append_option(entries);
                self.exits.append_option(exits);
                self.opening.append_option(opening.map(|o| o as u8));
            }
            ParkingObservation::Spot {
                city,
                id,
                facility_id,
                ts,
                status,
            } => {
                let city = resolve_city(catalog, topic_city, city)?;
                bounds.check(ts)?;
                let spot = catalog.spot_key(city, id).ok_or_else(|| {
                    unknown(format!(
                        "spot `{id}` is not in the registry of `{}`",
                        catalog.city_id(city)
                    ))
                })?;
                let facility = catalog.spots()[spot as usize].facility;
                if let Some(claimed) = facility_id
                    && catalog.facility_key(city, claimed) != Some(facility)
                {
                    return Err(unknown(format!(
                        "spot `{id}` belongs to `{}`, not `{claimed}`",
                        catalog.facilities()[facility as usize].id
                    )));
                }
                self.city.push(city);
                self.facility.push(facility);
                self.spot.append_value(spot);
                self.ts.append_value(ts);
                self.status.append_value(status as u8);
                self.free.append_null();
                self.total.append_null();
                self.entries.append_null();
                self.exits.append_null();
                self.opening.append_null();
            }
        }
        Ok(())
    }

    /// Finishes the batch and resets the builder.
    ///
    /// # Errors
    /// Only if Arrow refuses the columns, which would be a bug.
    pub fn finish(&mut self, catalog: &Catalog) -> crate::Result<ParkingBatch> {
        let city_keys = UInt16Array::from(std::mem::take(&mut self.city));
        let facility_keys = UInt32Array::from(std::mem::take(&mut self.facility));
        let spot_keys = self.spot.finish();
        let status = self.status.finish();
        let city: DictionaryArray<UInt16Type> =
            DictionaryArray::try_new(city_keys, catalog.city_values())?;
        let facility: DictionaryArray<UInt32Type> =
            DictionaryArray::try_new(facility_keys.clone(), catalog.facility_values())?;
        let spot: DictionaryArray<UInt32Type> =
            DictionaryArray::try_new(spot_keys.clone(), catalog.spot_values())?;
        let status_values = Arc::new(StringArray::from_iter_values(SpotStatus::NAMES));
        let status_dict: DictionaryArray<UInt8Type> =
            DictionaryArray::try_new(status.clone(), status_values)?;
        let opening = self.opening.finish();
        let opening_values = Arc::new(StringArray::from_iter_values(OpeningStatus::NAMES));
        let opening_dict: DictionaryArray<UInt8Type> =
            DictionaryArray::try_new(opening.clone(), opening_values)?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(city),
            Arc::new(facility),
            Arc::new(spot),
            Arc::new(self.ts.finish().with_timezone("UTC")),
            Arc::new(status_dict),
            Arc::new(self.free.finish()),
            Arc::new(self.total.finish()),
            Arc::new(self.entries.finish()),
            Arc::new(self.exits.finish()),
            Arc::new(opening_dict),
        ];
        let batch = RecordBatch::try_new(parking_schema(), columns)?;
        Ok(ParkingBatch {
            batch,
            facility_keys,
            spot_keys,
            status,
            opening,
        })
    }
}

/// The capacity a count of a facility no registry lists states, if the count would be
/// accepted once the facility were admitted with that capacity: a city that admits such
/// facilities (`admit_unmapped_facilities`) adds one only for a reading it keeps, never
/// for one refused right after.
///
/// # Errors
/// `unknown_sensor` for a spot or a count without a capacity (nothing to admit it with),
/// else the rejection the count would get.
pub fn admissible_capacity(
    obs: &ParkingObservation<'_>,
    bounds: TimeBounds,
) -> Result<u32, Rejection> {
    let ParkingObservation::Facility {
        id,
        ts,
        free_spaces,
        total_spaces,
        entries,
        exits,
        ..
    } = *obs
    else {
        return Err(unknown("a spot is never admitted at run time".to_owned()));
    };
    let total = total_spaces.ok_or_else(|| {
        unknown(format!(
            "facility `{id}` states no capacity to admit it with"
        ))
    })?;
    bounds.check(ts)?;
    let capacity = check_counts(None, free_spaces, Some(total))?;
    check_vehicle_count("entries", entries)?;
    check_vehicle_count("exits", exits)?;
    capacity.ok_or_else(|| unknown(format!("facility `{id}` states no capacity")))
}

fn unknown(detail: String) -> Rejection {
    Rejection::new(RejectReason::UnknownSensor, detail)
}

fn resolve_city(
    catalog: &Catalog,
    topic_city: Option<CityKey>,
    city: &str,
) -> Result<CityKey, Rejection> {
    let key = catalog.city(city).ok_or_else(|| {
        Rejection::new(
            RejectReason::UnknownCity,
            format!("city `{city}` is not configured"),
        )
    })?;
    match topic_city {
        Some(expected) if expected != key => Err(Rejection::new(
            RejectReason::CityMismatch,
            format!(
                "city `{city}` sent on the topic of city `{}`",
                catalog.city_id(expected)
            ),
        )),
        _ => Ok(key),
    }
}

/// Checks a facility count and returns the total to record (`None`: use the registry's).
fn check_spaces(
    catalog: &Catalog,
    facility: EntityKey,
    free: i64,
    total: Option<i64>,
) -> Result<Option<u32>, Rejection> {
    let registered = catalog.facilities()[facility as usize]
        .capacity
        .map(i64::from);
    check_counts(registered, free, total)
}

/// [`check_spaces`] against a `registered` capacity (`None`: unknown). One function for
/// registered and admitted facilities, so an admission can never accept what the push
/// after it refuses.
fn check_counts(
    registered: Option<i64>,
    free: i64,
    total: Option<i64>,
) -> Result<Option<u32>, Rejection> {
    if free < 0 {
        return Err(Rejection::new(
            RejectReason::NegativeCount,
            format!("free_spaces {free} is negative"),
        ));
    }
    let effective = match total {
        Some(t) if t <= 0 => {
            return Err(Rejection::new(
                RejectReason::InvalidParking,
                format!("total_spaces {t} is not positive"),
            ));
        }
        Some(t) if t > i64::from(u32::MAX) => {
            return Err(Rejection::new(
                RejectReason::InvalidParking,
                format!("total_spaces {t} is too large"),
            ));
        }
        Some(t) => Some(t),
        None => registered,
    };
    if free > i64::from(u32::MAX) {
        return Err(Rejection::new(
            RejectReason::InvalidParking,
            format!("free_spaces {free} is too large"),
        ));
    }
    if let Some(t) = effective
        && free > t
    {
        return Err(Rejection::new(
            RejectReason::InvalidParking,
            format!("free_spaces {free} exceeds total_spaces {t}"),
        ));
    }
    Ok(total.map(|t| t as u32))
}

/// Checks an optional entries/exits count: a negative count is a broken counter, and one
/// beyond `u32` cannot come from a single car park between two reports.
fn check_vehicle_count(field: &str, count: Option<i64>) -> Result<Option<u32>, Rejection> {
    match count {
        None => Ok(None),
        Some(n) if n < 0 => Err(Rejection::new(
            RejectReason::NegativeCount,
            format!("{field} {n} is negative"),
        )),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| {
            Rejection::new(
                RejectReason::InvalidParking,
                format!("{field} {n} is too large"),
            )
        }),
    }
}

#[cfg(test)]
mod tests;
