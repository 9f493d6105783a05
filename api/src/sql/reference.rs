//! Reference tables from the config and the sensor registries: `cities`, `sensors`,
//! `facilities`, `regions`. Built once when the engine starts (registries are read at
//! start-up).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt8Array, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use stadtpuls_config::{CityRegistry, RegionConfig, SensorKind};
use stadtpuls_processing::region::FacilityKind;

use crate::error::SqlError;

/// The four reference tables as (name, one batch each).
pub fn tables(
    registries: &[CityRegistry],
    regions: &[RegionConfig],
) -> Result<Vec<(&'static str, RecordBatch)>, SqlError> {
    Ok(vec![
        ("cities", cities(registries)?),
        ("sensors", sensors(registries)?),
        ("facilities", facilities(registries)?),
        ("regions", regions_table(regions)?),
    ])
}

/// `regions`: region, region_name, city — one row per member city, so `JOIN regions
/// USING (city)` puts any table's rows into their regions (a city in two regions joins
/// twice). Scoped like `cities` (a member city's row is there when any kind of it is
/// visible), so a key never learns that a region covers a city it may not see.
fn regions_table(regions: &[RegionConfig]) -> Result<RecordBatch, SqlError> {
    let rows: Vec<(&RegionConfig, &str)> = regions
        .iter()
        .flat_map(|region| {
            region
                .cities
                .iter()
                .map(move |city| (region, city.as_str()))
        })
        .collect();
    batch(
        vec![
            Field::new("region", DataType::Utf8, false),
            Field::new("region_name", DataType::Utf8, false),
            Field::new("city", DataType::Utf8, false),
        ],
        vec![
            strings(rows.iter().map(|(r, _)| Some(r.id.as_str()))),
            strings(rows.iter().map(|(r, _)| Some(r.name.as_str()))),
            strings(rows.iter().map(|(_, city)| Some(*city))),
        ],
    )
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<RecordBatch, SqlError> {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| SqlError::Internal(format!("reference table: {e}")))
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// `cities`: city, name, timezone, lat, lon, share, open.
fn cities(registries: &[CityRegistry]) -> Result<RecordBatch, SqlError> {
    let configs: Vec<_> = registries.iter().map(|r| &r.city).collect();
    batch(
        vec![
            Field::new("city", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("timezone", DataType::Utf8, false),
            Field::new("lat", DataType::Float64, false),
            Field::new("lon", DataType::Float64, false),
            Field::new("open_data", DataType::Boolean, false),
        ],
        vec![
            strings(configs.iter().map(|c| Some(c.id.as_str()))),
            strings(configs.iter().map(|c| Some(c.name.as_str()))),
            strings(configs.iter().map(|c| Some(c.timezone.name()))),
            Arc::new(configs.iter().map(|c| c.lat).collect::<Float64Array>()),
            Arc::new(configs.iter().map(|c| c.lon).collect::<Float64Array>()),
            Arc::new(
                configs
                    .iter()
                    .map(|c| Some(c.share.all_open()))
                    .collect::<BooleanArray>(),
            ),
        ],
    )
}

/// `sensors`: every registry entry (traffic sensors, parking spots, facilities).
fn sensors(registries: &[CityRegistry]) -> Result<RecordBatch, SqlError> {
    let rows: Vec<_> = registries
        .iter()
        .flat_map(|r| r.sensors.iter().map(move |s| (r.city.id.as_str(), s)))
        .collect();
    batch(
        vec![
            Field::new("city", DataType::Utf8, false),
            Field::new("sensor_id", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("lat", DataType::Float64, false),
            Field::new("lon", DataType::Float64, false),
            Field::new("lanes", DataType::UInt8, false),
            Field::new("capacity", DataType::UInt32, true),
            Field::new("free_flow_kmh", DataType::Float64, true),
            Field::new("facility_id", DataType::Utf8, true),
            Field::new("site_class", DataType::Utf8, true),
        ],
        vec![
            strings(rows.iter().map(|(city, _)| Some(*city))),
            strings(rows.iter().map(|(_, s)| Some(s.id.as_str()))),
            strings(rows.iter().map(|(_, s)| Some(s.kind.as_str()))),
            strings(rows.iter().map(|(_, s)| s.name.as_deref())),
            Arc::new(rows.iter().map(|(_, s)| s.lat).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|(_, s)| s.lon).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|(_, s)| s.lanes).collect::<UInt8Array>()),
            Arc::new(
                rows.iter()
                    .map(|(_, s)| s.capacity)
                    .collect::<UInt32Array>(),
            ),
            Arc::new(
                rows.iter()
                    .map(|(_, s)| s.free_flow_kmh)
                    .collect::<Float64Array>(),
            ),
            strings(rows.iter().map(|(_, s)| s.facility_id.as_deref())),
            strings(rows.iter().map(|(_, s)| s.site_class.as_deref())),
        ],
    )
}

/// `facilities`: parking facilities with their capacity, number of spot sensors and kind
/// (`car_park`, `park_and_ride`, `on_street`: the regional views' rule,
/// [`FacilityKind::of_facility`]).
fn facilities(registries: &[CityRegistry]) -> Result<RecordBatch, SqlError> {
    let rows: Vec<_> = registries
        .iter()
        .flat_map(|r| {
            r.facilities().map(move |f| {
                let spots = r
                    .sensors
                    .iter()
                    .filter(|s| {
                        s.kind == SensorKind::ParkingSpot
                            && s.facility_id.as_deref() == Some(f.id.as_str())
                    })
                    .count();
                (
                    r.city.id.as_str(),
                    f,
                    u32::try_from(spots).unwrap_or(u32::MAX),
                )
            })
        })
        .collect();
    batch(
        vec![
            Field::new("city", DataType::Utf8, false),
            Field::new("facility_id", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("lat", DataType::Float64, false),
            Field::new("lon", DataType::Float64, false),
            Field::new("capacity", DataType::UInt32, true),
            Field::new("spots", DataType::UInt32, false),
            Field::new("kind", DataType::Utf8, false),
        ],
        vec![
            strings(rows.iter().map(|(city, _, _)| Some(*city))),
            strings(rows.iter().map(|(_, f, _)| Some(f.id.as_str()))),
            strings(rows.iter().map(|(_, f, _)| f.name.as_deref())),
            Arc::new(rows.iter().map(|(_, f, _)| f.lat).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|(_, f, _)| f.lon).collect::<Float64Array>()),
            Arc::new(
                rows.iter()
                    .map(|(_, f, _)| f.capacity)
                    .collect::<UInt32Array>(),
            ),
            Arc::new(rows.iter().map(|(_, _, n)| *n).collect::<UInt32Array>()),
            strings(rows.iter().map(|(_, f, n)| {
                Some(FacilityKind::of_facility(f.facility_type, f.name.as_deref(), *n > 0).as_str())
            })),
        ],
    )
}
