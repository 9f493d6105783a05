//! Every FIWARE and ParkAPI fixture (`ingest/tests/fixtures/feeds/`) through the feed
//! decoders, with the values a person reads in the files.

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use stadtpuls_config::FeedFormat;
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;

use super::super::external::ExternalIds;
use super::super::native::Sinks;
use super::super::ttn::{RecentUplinks, TtnInput};
use super::super::{Rejected, StreamKind};
use super::{Decoded, FeedCity, decode};

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/feeds/",
            $path
        ))
        .as_slice()
    };
}

struct Harness {
    catalog: Catalog,
    external: ExternalIds,
    traffic: TrafficBatchBuilder,
    parking: ParkingBatchBuilder,
    rejected: Vec<Rejected>,
}

impl Harness {
    fn new() -> Self {
        let mut catalog = Catalog::with_cities(&["porto"], UnknownSensors::Reject);
        catalog.add_traffic(0, "va-1", 2, 50.0);
        catalog.add_facility(0, "trindade", Some(400));
        let street = catalog.add_facility(0, "velarde", Some(6));
        catalog.add_facility(0, "velarde-disabled", Some(2));
        catalog.add_spot(0, "velarde-3", street);
        catalog.add_facility(0, "hofdiener", Some(158));
        let mut external = ExternalIds::default();
        for (id, entity) in [
            ("TrafficFlowObserved-Valladolid-osm-60821110", "va-1"),
            ("porto-ParkingLot-23889", "trindade"),
            (
                "urn:ngsi-ld:OffStreetParking:porto-ParkingLot-23889",
                "trindade",
            ),
            ("santander:daoiz_velarde_1_5", "velarde"),
            (
                "urn:ngsi-ld:OnStreetParking:santander:daoiz_velarde_1_5",
                "velarde",
            ),
            ("daoiz-velarde-1-5-disabled", "velarde-disabled"),
            (
                "urn:ngsi-ld:ParkingGroup:daoiz-velarde-1-5-disabled",
                "velarde-disabled",
            ),
            ("santander:daoiz_velarde_1_5:3", "velarde-3"),
            (
                "urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5:3",
                "velarde-3",
            ),
            ("12717250", "hofdiener"),
        ] {
            external.insert(0, id, entity, None);
        }
        external.insert(
            0,
            "urn:ngsi-ld:TrafficFlowObserved:TrafficFlowObserved-Valladolid-osm-60821110",
            "va-1",
            None,
        );
        Self {
            catalog,
            external,
            traffic: TrafficBatchBuilder::default(),
            parking: ParkingBatchBuilder::default(),
            rejected: Vec::new(),
        }
    }

    fn decode(&mut self, format: FeedFormat, payload: &[u8]) -> usize {
        self.decode_counts(format, payload).accepted
    }

    /// Observations accepted and facilities admitted.
    fn decode_counts(&mut self, format: FeedFormat, payload: &[u8]) -> Decoded {
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
        let city = FeedCity {
            key: 0,
            id: "porto",
        };
        decode(
            format,
            || StreamKind::Parking,
            payload,
            city,
            &self.external,
            bounds,
            &mut TtnInput {
                codec: None,
                recent: &mut RecentUplinks::default(),
            },
            &mut sinks,
        )
    }

    fn reasons(&self) -> Vec<(Option<usize>, RejectReason, String)> {
        self.rejected
            .iter()
            .map(|r| (r.index, r.rejection.reason, r.rejection.detail.clone()))
            .collect()
    }

    /// Parking rows as `facility spot free total status opening_status ts`.
    fn parking_rows(&mut self) -> Vec<String> {
        let batch = self.parking.finish(&self.catalog).expect("batch");
        rows(
            batch.record_batch(),
            &[
                "facility_id",
                "spot_id",
                "free_spaces",
                "total_spaces",
                "status",
                "opening_status",
                "ts",
            ],
        )
    }

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
                "occupancy_pct",
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
    if let Some(dict) = column.as_dictionary_opt::<arrow_array::types::UInt8Type>() {
        let key = dict.keys().value(row) as usize;
        return dict.values().as_string::<i32>().value(key).to_owned();
    }
    arrow_cast_display(column, row)
}

fn arrow_cast_display(column: &ArrayRef, row: usize) -> String {
    use arrow_array::types::{
        Float64Type, Int64Type, TimestampMillisecondType, UInt8Type as U8, UInt32Type as U32,
    };
    if let Some(a) = column.as_primitive_opt::<TimestampMillisecondType>() {
        return a.value(row).to_string();
    }
    if let Some(a) = column.as_primitive_opt::<U32>() {
        return a.value(row).to_string();
    }
    if let Some(a) = column.as_primitive_opt::<U8>() {
        return a.value(row).to_string();
    }
    if let Some(a) = column.as_primitive_opt::<Float64Type>() {
        return format!("{:.2}", a.value(row));
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
                .map(|name| match batch.column_by_name(name) {
                    Some(column) => cell(column, row),
                    None => format!("no column {name}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// 2018-09-21T12:00:00Z, epoch ms.
const T_2018_09_21: i64 = 1_537_531_200_000;
/// 2018-09-12T12:00:00Z.
const T_2018_09_12: i64 = 1_536_753_600_000;
/// 2016-12-07T11:15:00Z.
const T_2016_12_07: i64 = 1_481_109_300_000;

#[test]
fn the_porto_car_park_is_132_free_of_414_in_all_four_forms() {
    let mut h = Harness::new();
    for payload in [
        fixture!("fiware/OffStreetParking/example.json"),
        fixture!("fiware/OffStreetParking/example-normalized.json"),
        fixture!("fiware/OffStreetParking/example.jsonld"),
        fixture!("fiware/OffStreetParking/example-normalized.jsonld"),
    ] {
        assert_eq!(
            h.decode(FeedFormat::Fiware, payload),
            1,
            "{:?}",
            h.reasons()
        );
    }
    let row = format!("trindade - 132 414 - - {T_2018_09_21}");
    assert_eq!(h.parking_rows(), vec![row; 4]);
}

/// The Porto car park as its operator closes it (a copy of the keyValues example with
/// `status` `["closed"]`, its counter unchanged) and as it reports a DATEX II site status
/// (`["spacesAvailable"]`, which only an open car park has): `closed` with no free
/// space, then `open`.
#[test]
fn an_off_street_status_closed_is_a_closed_car_park() {
    let mut h = Harness::new();
    let example: serde_json::Value =
        serde_json::from_slice(fixture!("fiware/OffStreetParking/example.json"))
            .expect("the fixture is JSON");
    for status in ["closed", "spacesAvailable"] {
        let mut entity = example.clone();
        entity["status"] = serde_json::json!([status]);
        let payload = serde_json::to_vec(&entity).expect("JSON");
        assert_eq!(
            h.decode(FeedFormat::Fiware, &payload),
            1,
            "{:?}",
            h.reasons()
        );
    }
    assert_eq!(
        h.parking_rows(),
        [
            format!("trindade - 0 414 - closed {T_2018_09_21}"),
            format!("trindade - 132 414 - open {T_2018_09_21}"),
        ]
    );
}

#[test]
fn on_street_groups_and_spots_read_their_counts_and_states() {
    let mut h = Harness::new();
    for payload in [
        fixture!("fiware/OnStreetParking/example-normalized.json"),
        fixture!("fiware/OnStreetParking/example-normalized.jsonld"),
        fixture!("fiware/ParkingGroup/example-normalized.json"),
        fixture!("fiware/ParkingGroup/example-normalized.jsonld"),
        fixture!("fiware/ParkingSpot/example-normalized.json"),
        fixture!("fiware/ParkingSpot/example-normalized.jsonld"),
    ] {
        assert_eq!(
            h.decode(FeedFormat::Fiware, payload),
            1,
            "{:?}",
            h.reasons()
        );
    }
    assert_eq!(
        h.parking_rows(),
        [
            format!("velarde - 3 6 - - {T_2018_09_12}"),
            format!("velarde - 3 6 - - {T_2018_09_12}"),
            format!("velarde-disabled - 1 2 - - {T_2018_09_12}"),
            format!("velarde-disabled - 1 2 - - {T_2018_09_12}"),
            format!("velarde velarde-3 - - free - {T_2018_09_21}"),
            format!("velarde velarde-3 - - free - {T_2018_09_21}"),
        ]
    );
}

#[test]
fn key_values_without_any_time_are_refused_as_such() {
    let mut h = Harness::new();
    for payload in [
        fixture!("fiware/ParkingGroup/example.json"),
        fixture!("fiware/ParkingGroup/example.jsonld"),
        fixture!("fiware/ParkingSpot/example.json"),
        fixture!("fiware/ParkingSpot/example.jsonld"),
    ] {
        assert_eq!(h.decode(FeedFormat::Fiware, payload), 0);
    }
    let reasons = h.reasons();
    assert_eq!(reasons.len(), 4);
    for (index, reason, detail) in reasons {
        assert_eq!((index, reason), (None, RejectReason::Malformed));
        assert!(detail.contains("no observation time"), "{detail}");
    }
    // The keyValues street section has `observationDateTime` (2021-03-11T15:51:02Z).
    assert_eq!(
        h.decode(
            FeedFormat::Fiware,
            fixture!("fiware/OnStreetParking/example.json")
        ),
        1
    );
    assert_eq!(h.parking_rows(), ["velarde - 3 6 - - 1615477862000"]);
}

#[test]
fn traffic_flow_is_197_vehicles_in_five_minutes_on_lane_1() {
    let mut h = Harness::new();
    for payload in [
        fixture!("fiware/TrafficFlowObserved/example.json"),
        fixture!("fiware/TrafficFlowObserved/example-normalized.json"),
        fixture!("fiware/TrafficFlowObserved/example.jsonld"),
        fixture!("fiware/TrafficFlowObserved/example-normalized.jsonld"),
    ] {
        assert_eq!(
            h.decode(FeedFormat::Fiware, payload),
            1,
            "{:?}",
            h.reasons()
        );
    }
    let row = format!("va-1 1 {T_2016_12_07} 300 197 52.60 76.00");
    assert_eq!(h.traffic_rows(), vec![row; 4]);
}

#[test]
fn notifications_and_batches_refuse_only_their_bad_entities() {
    let mut h = Harness::new();
    let spot = std::str::from_utf8(fixture!("fiware/ParkingSpot/example-normalized.jsonld"))
        .expect("utf-8");
    let car_park =
        std::str::from_utf8(fixture!("fiware/OffStreetParking/example.jsonld")).expect("utf-8");
    let weather = r#"{"id":"urn:ngsi-ld:WeatherObserved:1","type":"WeatherObserved"}"#;
    let ld = format!(
        r#"{{"id":"urn:ngsi-ld:Notification:1","type":"Notification","subscriptionId":"urn:s","notifiedAt":"2026-11-24T00:00:00Z","data":[{spot},{weather},{car_park}]}}"#
    );
    assert_eq!(h.decode(FeedFormat::Fiware, ld.as_bytes()), 2);
    let v2 =
        format!(r#"{{"subscriptionId":"57458eb60962ef754e7c0998","data":[{weather},{car_park}]}}"#);
    assert_eq!(h.decode(FeedFormat::Fiware, v2.as_bytes()), 1);
    let batch = format!("[{car_park},{weather}]");
    assert_eq!(h.decode(FeedFormat::Fiware, batch.as_bytes()), 1);
    let reasons: Vec<_> = h.reasons().into_iter().map(|(i, r, _)| (i, r)).collect();
    assert_eq!(
        reasons,
        [
            (Some(1), RejectReason::Malformed),
            (Some(0), RejectReason::Malformed),
            (Some(1), RejectReason::Malformed)
        ]
    );
    assert!(h.rejected[0].rejection.detail.contains("WeatherObserved"));
    assert_eq!(h.rejected[0].payload, weather.as_bytes());
}

#[test]
fn parkapi_sites_are_facility_counts_and_a_site_without_uid_is_refused_alone() {
    let mut h = Harness::new();
    assert_eq!(
        h.decode(
            FeedFormat::ParkApi,
            fixture!("parkapi/park-api-v3_parking-site-item.json")
        ),
        1
    );
    assert_eq!(
        h.decode(
            FeedFormat::ParkApi,
            fixture!("parkapi/park-api-v3_parking-site-list.json")
        ),
        1
    );
    let reasons = h.reasons();
    assert_eq!(
        (reasons[0].0, reasons[0].1),
        (Some(1), RejectReason::Malformed)
    );
    assert!(reasons[0].2.contains("`uid`"), "{reasons:?}");
    // 2025-06-24T13:54:45+02:00.
    let row = "hofdiener - 15 158 - open 1750766085000";
    assert_eq!(h.parking_rows(), [row, row]);
}

#[test]
fn parkapi2_and_v1_city_documents_are_facility_counts_per_lot() {
    let mut h = Harness::new();
    for (id, capacity) in [
        ("datteln-parkdeck-stadtgalerie", 207),
        ("datteln-parkhaus-stadtgalerie", 76),
        ("aachen-parkplatz-luisenhospital", 70),
        ("dresdenaltmarkt", 400),
        ("dresdenanderfrauenkirche", 120),
    ] {
        h.catalog.add_facility(0, id, Some(capacity));
        h.external.insert(0, id, id, None);
    }
    assert_eq!(
        h.decode(
            FeedFormat::ParkApi,
            fixture!("parkapi/ParkAPI2_datteln-01.json")
        ),
        2
    );
    // Luisenhospital: `nodata`, `num_free` null.
    assert_eq!(
        h.decode(
            FeedFormat::ParkApi,
            fixture!("parkapi/ParkAPI2_datteln-02.json")
        ),
        0
    );
    assert_eq!(
        h.decode(
            FeedFormat::ParkApi,
            fixture!("parkapi/ParkAPI2_dresden-01.json")
        ),
        2
    );
    // A v1 document: no per-lot time, the document's `last_updated`.
    let v1 = r#"{"last_downloaded":"2026-11-24T00:41:00","last_updated":"2026-11-24T00:40:00",
        "lots":[{"id":"dresdenaltmarkt","name":"Altmarkt","state":"open","free":17,"total":400,"forecast":false},
                {"id":"dresdenanderfrauenkirche","name":"Frauenkirche","state":"unknown","total":120,"forecast":false}]}"#;
    assert_eq!(h.decode(FeedFormat::ParkApi, v1.as_bytes()), 1);
    let reasons = h.reasons();
    assert_eq!(
        reasons.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [
            (Some(0), RejectReason::NoObservation),
            (Some(1), RejectReason::NoObservation)
        ],
        "{reasons:?}"
    );
    assert_eq!(
        h.parking_rows(),
        [
            // 2021-11-24T22:54:45 (UTC): the scrape time, no lot time.
            "datteln-parkdeck-stadtgalerie - 197 207 - open 1637794485000",
            "datteln-parkhaus-stadtgalerie - 63 76 - open 1637794485000",
            // 2022-03-01T17:23:36: the lot's own time.
            "dresdenaltmarkt - 154 400 - open 1646155416000",
            // closed: no free space, whatever it counted, and the closure kept.
            "dresdenanderfrauenkirche - 0 120 - closed 1646155416000",
            // 2026-11-24T00:40:00.
            "dresdenaltmarkt - 17 400 - open 1795480800000",
        ]
    );
}

#[test]
fn an_unmapped_id_is_an_unknown_sensor_named_in_the_reason() {
    let mut h = Harness::new();
    let site = r#"{"uid":"999","realtime_free_capacity":1,"realtime_capacity":5,"realtime_data_updated_at":"2026-11-24T00:50:00Z"}"#;
    assert_eq!(h.decode(FeedFormat::ParkApi, site.as_bytes()), 0);
    let (_, reason, detail) = &h.reasons()[0];
    assert_eq!(*reason, RejectReason::UnknownSensor);
    assert!(
        detail.contains("`999`") && detail.contains("external_id"),
        "{detail}"
    );
}

mod admitted;
