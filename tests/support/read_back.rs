//! A published parking document read back with Stadtpuls' own decoders, outside the
//! pipeline: the output tests check that what we publish decodes to the numbers we
//! published. Shared by `ingest/tests/datex2_output.rs`, `tests/e2e_outputs.rs` and
//! `tests/region_datex2.rs`.

#![allow(dead_code)] // not every test reads every field

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt8Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use stadtpuls_config::FeedFormat;
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::decode::feed::decode_document;
use stadtpuls_ingest::decode::native::Sinks;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;

/// One decoded parking reading.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkingRow {
    pub facility: String,
    pub free: u32,
    pub total: Option<u32>,
    pub ts: i64,
    /// The opening status it stated (`open`, `closed`, `unknown`), if any.
    pub opening: Option<String>,
}

/// What a document decoded to.
pub struct ReadBack {
    /// The accepted readings, in document order.
    pub rows: Vec<ParkingRow>,
    /// The details of the refused ones.
    pub refused: Vec<String>,
    /// The decoder's count of observations it accepted.
    pub accepted: usize,
}

/// Decodes `payload` as `format` for `city`, each `(id, capacity)` of `facilities`
/// registered and its id mapped to itself; time stamps are bounded by `now`.
pub fn read_back(
    format: FeedFormat,
    city: &str,
    facilities: &[(&str, Option<u32>)],
    now: i64,
    payload: &[u8],
) -> ReadBack {
    let mut catalog = Catalog::with_cities(&[city], UnknownSensors::Reject);
    let mut external = ExternalIds::default();
    for &(id, capacity) in facilities {
        catalog.add_facility(0, id, capacity);
        external.insert(0, id, id, None);
    }
    let decoded = decode(format, city, catalog, &external, now, payload);
    ReadBack {
        rows: rows(&decoded.parking),
        refused: decoded.refused,
        accepted: decoded.accepted,
    }
}

/// The batches a document decoded to.
pub struct Decoded {
    pub parking: RecordBatch,
    pub traffic: RecordBatch,
    /// The details of the refused observations.
    pub refused: Vec<String>,
    /// The decoder's count of observations it accepted.
    pub accepted: usize,
}

/// Decodes `payload` as `format` for `city` (key 0 of `catalog`), ids mapped by
/// `external`; time stamps are bounded by `now`.
pub fn decode(
    format: FeedFormat,
    city: &str,
    mut catalog: Catalog,
    external: &ExternalIds,
    now: i64,
    payload: &[u8],
) -> Decoded {
    let (mut traffic, mut parking, mut rejected) = (
        TrafficBatchBuilder::default(),
        ParkingBatchBuilder::default(),
        Vec::new(),
    );
    let mut sinks = Sinks {
        catalog: &mut catalog,
        traffic: &mut traffic,
        parking: &mut parking,
        rejected: &mut rejected,
    };
    let bounds = TimeBounds {
        now,
        max_future_ms: 300_000,
    };
    let accepted = decode_document(format, payload, 0, city, external, bounds, &mut sinks)
        .expect("a feed format");
    Decoded {
        parking: parking
            .finish(&catalog)
            .expect("parking batch")
            .record_batch()
            .clone(),
        traffic: traffic
            .finish(&catalog)
            .expect("traffic batch")
            .record_batch()
            .clone(),
        refused: rejected.into_iter().map(|r| r.rejection.detail).collect(),
        accepted,
    }
}

fn rows(batch: &RecordBatch) -> Vec<ParkingRow> {
    let column = |name: &str| batch.column_by_name(name).expect(name).clone();
    let (ids, free, total, ts, opening) = (
        column("facility_id"),
        column("free_spaces"),
        column("total_spaces"),
        column("ts"),
        column("opening_status"),
    );
    let opening = opening.as_dictionary::<UInt8Type>();
    let states = opening.values().as_string::<i32>();
    let ids = ids.as_dictionary::<UInt32Type>();
    let names = ids.values().as_string::<i32>();
    let free = free.as_primitive::<UInt32Type>();
    let total = total.as_primitive::<UInt32Type>();
    let ts = ts.as_primitive::<TimestampMillisecondType>();
    (0..batch.num_rows())
        .map(|i| ParkingRow {
            facility: names.value(ids.keys().value(i) as usize).to_owned(),
            free: free.value(i),
            total: (!total.is_null(i)).then(|| total.value(i)),
            ts: ts.value(i),
            opening: (!opening.is_null(i))
                .then(|| states.value(opening.keys().value(i) as usize).to_owned()),
        })
        .collect()
}
