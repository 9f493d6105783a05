//! The DATEX II fixtures (`ingest/tests/fixtures/feeds/datex2/`, copied unchanged from
//! `shared/data/datex2`) through the decoder, with the values a person reads in the files.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType, UInt8Type, UInt32Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;

use super::super::Rejected;
use super::super::external::ExternalIds;
use super::super::native::Sinks;
use super::decode_document;

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/feeds/datex2/",
            $path
        ))
        .as_slice()
    };
}

pub(crate) struct Harness {
    pub(crate) catalog: Catalog,
    pub(crate) external: ExternalIds,
    traffic: TrafficBatchBuilder,
    parking: ParkingBatchBuilder,
    pub(crate) rejected: Vec<Rejected>,
}

impl Harness {
    /// Facilities `ids` (registry id = `f-<feed id>`, mapped by `external_id`), traffic
    /// sensors `sensors` likewise (`s-<site id>`, 4 lanes).
    pub(crate) fn new(facilities: &[&str], sensors: &[&str]) -> Self {
        let mut catalog = Catalog::with_cities(&["aachen"], UnknownSensors::Reject);
        let mut external = ExternalIds::default();
        for id in facilities {
            catalog.add_facility(0, &format!("f-{id}"), None);
            external.insert(0, id, &format!("f-{id}"), None);
        }
        for id in sensors {
            catalog.add_traffic(0, &format!("s-{id}"), 4, 100.0);
            external.insert(0, id, &format!("s-{id}"), None);
        }
        Self {
            catalog,
            external,
            traffic: TrafficBatchBuilder::default(),
            parking: ParkingBatchBuilder::default(),
            rejected: Vec::new(),
        }
    }

    pub(crate) fn decode(&mut self, payload: &[u8]) -> usize {
        let mut sinks = Sinks {
            catalog: &mut self.catalog,
            traffic: &mut self.traffic,
            parking: &mut self.parking,
            rejected: &mut self.rejected,
        };
        let bounds = TimeBounds {
            now: NOW,
            max_future_ms: 300_000,
        };
        let accepted = decode_document(payload, 0, "aachen", &self.external, bounds, &mut sinks);
        assert_eq!(accepted, self.traffic.len() + self.parking.len());
        accepted
    }

    pub(crate) fn reasons(&self) -> Vec<(Option<usize>, RejectReason, String)> {
        self.rejected
            .iter()
            .map(|r| (r.index, r.rejection.reason, r.rejection.detail.clone()))
            .collect()
    }

    /// Parking rows as `facility free total ts`.
    fn parking_rows(&mut self) -> Vec<String> {
        let batch = self.parking.finish(&self.catalog).expect("batch");
        rows(
            batch.record_batch(),
            &["facility_id", "free_spaces", "total_spaces", "ts"],
        )
    }

    /// Parking rows as `facility free opening_status`.
    fn opening_rows(&mut self) -> Vec<String> {
        let batch = self.parking.finish(&self.catalog).expect("batch");
        rows(
            batch.record_batch(),
            &["facility_id", "free_spaces", "opening_status"],
        )
    }

    /// Traffic rows as `sensor lane ts interval count speed`.
    fn traffic_rows(&mut self) -> Vec<String> {
        let batch = self.traffic.finish(&self.catalog).expect("batch");
        rows(
            batch.record_batch(),
            &[
                "sensor_id",
                "lane",
                "ts",
                "interval_s",
                "vehicle_count",
                "avg_speed_kmh",
            ],
        )
    }
}

fn cell(column: &ArrayRef, row: usize) -> String {
    if column.is_null(row) {
        return "-".into();
    }
    if let Some(dict) = column.as_dictionary_opt::<UInt32Type>() {
        let key = dict.keys().value(row) as usize;
        return dict.values().as_string::<i32>().value(key).to_owned();
    }
    if let Some(dict) = column.as_dictionary_opt::<UInt8Type>() {
        let key = dict.keys().value(row) as usize;
        return dict.values().as_string::<i32>().value(key).to_owned();
    }
    if let Some(a) = column.as_primitive_opt::<TimestampMillisecondType>() {
        return stadtpuls_processing::time::to_rfc3339(a.value(row));
    }
    if let Some(a) = column.as_primitive_opt::<UInt32Type>() {
        return a.value(row).to_string();
    }
    if let Some(a) = column.as_primitive_opt::<UInt8Type>() {
        return a.value(row).to_string();
    }
    if let Some(a) = column.as_primitive_opt::<Float64Type>() {
        return format!("{:.1}", a.value(row));
    }
    if let Some(a) = column.as_primitive_opt::<Int64Type>() {
        return a.value(row).to_string();
    }
    format!("{:?}", column.data_type())
}

fn rows(batch: &RecordBatch, names: &[&str]) -> Vec<String> {
    (0..batch.num_rows())
        .map(|row| {
            names
                .iter()
                .map(|name| {
                    batch
                        .column_by_name(name)
                        .map_or("?".into(), |c| cell(c, row))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

const AACHEN: [&str; 17] = [
    "P1", "P2", "P3", "P5", "P6", "P7", "P8", "P9", "P10", "P12", "P11", "P14", "P13", "P16",
    "P15", "P18", "P17",
];

const STUTTGART: [&str; 49] = [
    "12717289", "12717312", "12717253", "12717315", "12717375", "12717384", "12717229", "12717447",
    "12717250", "12717432", "12717226", "12717411", "12717223", "12717414", "12717408", "12717429",
    "12717363", "12718752", "12717426", "12717450", "12717366", "12717262", "12717372", "12717256",
    "12718764", "78319431", "78280073", "78319371", "78357200", "12718779", "78241073", "12717435",
    "12717244", "12717441", "78319401", "12717345", "78357190", "78278879", "78319463", "78278431",
    "78278545", "78278577", "78257172", "78319492", "78318611", "12717417", "78357206", "78241093",
    "78279135",
];

mod document;
mod measured;
mod opening;
mod parking;
