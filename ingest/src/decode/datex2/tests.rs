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

#[test]
fn aachen_reads_every_records_vacant_spaces_and_its_closed_sites_as_full() {
    let mut h = Harness::new(&AACHEN, &[]);
    assert_eq!(
        h.decode(fixture!("parkapi-sources_aachen-realtime.xml")),
        17,
        "{:?}",
        h.reasons()
    );
    let rows = h.parking_rows();
    // parkingNumberOfVacantSpaces / parkingNumberOfSpacesOverride per record, in file
    // order; P5, P13 (override 0), P14 and P18 are `closed`: no free space.
    assert_eq!(
        rows,
        [
            "f-P1 412 560 2025-02-07T19:05:34.176Z",
            "f-P2 291 497 2025-02-07T19:07:26.404Z",
            "f-P3 143 186 2025-02-07T19:08:24.263Z",
            "f-P5 0 - 2025-02-03T07:53:35.533Z",
            "f-P6 624 999 2025-02-07T19:08:28.862Z",
            "f-P7 554 717 2025-02-07T19:07:35.481Z",
            "f-P8 443 600 2025-02-07T19:05:47.468Z",
            "f-P9 74 500 2025-02-07T19:08:18.672Z",
            "f-P10 42 319 2025-02-07T19:08:18.670Z",
            "f-P12 130 176 2025-02-07T18:49:09.608Z",
            "f-P11 271 348 2025-02-07T19:08:18.673Z",
            "f-P14 0 180 2025-02-04T00:11:19.546Z",
            "f-P13 0 - 2025-02-03T08:00:03.077Z",
            "f-P16 80 305 2025-02-07T02:15:11.668Z",
            "f-P15 118 160 2025-02-07T18:51:25.122Z",
            "f-P18 0 569 2025-02-07T19:09:47.210Z",
            "f-P17 429 480 2025-02-07T18:56:15.338Z",
        ]
    );
}

#[test]
fn bondorf_group_of_parking_sites_with_seven_fractional_digits() {
    let mut h = Harness::new(&["1035[P+R Bondorf]"], &[]);
    assert_eq!(
        h.decode(fixture!("parkapi-sources_vrs_bondorf-realtime.xml")),
        1,
        "{:?}",
        h.reasons()
    );
    // 2025-05-09T21:41:58.5461534+02:00, to the millisecond in UTC.
    assert_eq!(
        h.parking_rows(),
        ["f-1035[P+R Bondorf] 215 313 2025-05-09T19:41:58.546Z"]
    );
}

#[test]
fn bondorf_record_maps_to_the_facility_id_of_its_table() {
    // `stadtpuls registry import` of vrs_bondorf-static.xml maps facility `1035`; the
    // status names its record `1035[P+R Bondorf]`.
    let mut h = Harness::new(&["1035"], &[]);
    assert_eq!(
        h.decode(fixture!("parkapi-sources_vrs_bondorf-realtime.xml")),
        1,
        "{:?}",
        h.reasons()
    );
    assert_eq!(
        h.parking_rows(),
        ["f-1035 215 313 2025-05-09T19:41:58.546Z"]
    );
}

const STUTTGART: [&str; 49] = [
    "12717289", "12717312", "12717253", "12717315", "12717375", "12717384", "12717229", "12717447",
    "12717250", "12717432", "12717226", "12717411", "12717223", "12717414", "12717408", "12717429",
    "12717363", "12718752", "12717426", "12717450", "12717366", "12717262", "12717372", "12717256",
    "12718764", "78319431", "78280073", "78319371", "78357200", "12718779", "78241073", "12717435",
    "12717244", "12717441", "78319401", "12717345", "78357190", "78278879", "78319463", "78278431",
    "78278545", "78278577", "78257172", "78319492", "78318611", "12717417", "78357206", "78241093",
    "78279135",
];

#[test]
fn stuttgart_mdm_profile_reads_total_vacant_spaces() {
    let mut h = Harness::new(&STUTTGART, &[]);
    // 49 records: 9 `statusUnknown` carry no counts, 2 are stamped 1970.
    assert_eq!(
        h.decode(fixture!("parkapi-sources_stuttgart-realtime.xml")),
        38,
        "{:?}",
        h.reasons()
    );
    let reasons = h.reasons();
    let malformed = reasons
        .iter()
        .filter(|r| r.1 == RejectReason::Malformed)
        .count();
    let old = reasons
        .iter()
        .filter(|r| r.1 == RejectReason::TimestampOutOfRange)
        .count();
    assert_eq!((malformed, old, reasons.len()), (9, 2, 11), "{reasons:?}");
    assert_eq!(
        (reasons[0].0, reasons[0].1),
        (Some(19), RejectReason::TimestampOutOfRange)
    );
    assert_eq!(reasons[1].0, Some(25));
    assert!(
        reasons[1]
            .2
            .contains("`78319431` has no `totalNumberOfVacantParkingSpaces`"),
        "{reasons:?}"
    );
    let rows = h.parking_rows();
    assert_eq!(
        rows[..3],
        [
            "f-12717289 245 - 2022-02-11T13:16:01.000Z",
            "f-12717312 229 - 2023-01-07T01:39:00.000Z",
            // `closed` (457 counted vacant): none free.
            "f-12717253 0 - 2023-10-07T01:45:08.000Z",
        ]
    );
}

#[test]
fn ndw_truck_parking_v3_reads_v2_style_names_and_refuses_a_negative_occupancy() {
    let ids = [
        "NL-12_413",
        "NL-12_408",
        "NL-12_421",
        "NL-12_411",
        "NL-12_418",
        "NL-12_414",
        "NL-12_409",
        "NL-12_8",
    ];
    let mut h = Harness::new(&ids, &[]);
    assert_eq!(
        h.decode(fixture!("datex4j_netherlands-truckparking-status.xml")),
        7
    );
    // The site's own counts, not those of its groupOfParkingSpacesStatus.
    let free: Vec<String> = h
        .parking_rows()
        .iter()
        .map(|r| r.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        free,
        [
            "f-NL-12_413 0",
            "f-NL-12_408 29",
            "f-NL-12_421 576",
            "f-NL-12_411 222",
            "f-NL-12_418 8",
            "f-NL-12_414 0",
            "f-NL-12_409 46"
        ]
    );
    let reasons = h.reasons();
    assert_eq!(reasons.len(), 1);
    assert_eq!(
        (reasons[0].0, reasons[0].1),
        (Some(7), RejectReason::OccupancyOutOfRange)
    );
    assert!(reasons[0].2.contains("-30"), "{reasons:?}");
}

#[test]
fn france_flows_become_counts_over_a_minute_with_their_speeds() {
    let mut h = Harness::new(&[], &["MUM76.h1", "A0001011200"]);
    assert_eq!(
        h.decode(fixture!("datex4j_france-speeds.xml")),
        2,
        "{:?}",
        h.reasons()
    );
    // 1010 veh/h × 60 s = 16.8 → 17; 1420 veh/h → 23.7 → 24; index 0 = lane 0.
    assert_eq!(
        h.traffic_rows(),
        [
            "s-MUM76.h1 0 2026-07-25T06:30:00.000Z 60 17 112.0",
            "s-A0001011200 0 2026-07-25T06:30:00.000Z 60 24 85.0",
        ]
    );
}

/// A measured-data document of site `S` at 2026-11-24T00:50Z: `(index, xsi type, body)`.
fn site_values(values: &[(u16, &str, &str)]) -> String {
    let values: String = values
        .iter()
        .map(|(index, kind, body)| {
            format!(r#"<measuredValue index="{index}"><measuredValue><basicData xsi:type="{kind}">{body}</basicData></measuredValue></measuredValue>"#)
        })
        .collect();
    format!(
        r#"<d2LogicalModel xmlns="http://datex2.eu/schema/2/2_0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><payloadPublication xsi:type="MeasuredDataPublication"><siteMeasurements><measurementSiteReference id="S"/><measurementTimeDefault>2026-11-24T00:50:00Z</measurementTimeDefault>{values}</siteMeasurements></payloadPublication></d2LogicalModel>"#
    )
}

fn flow(rate: &str) -> String {
    format!("<vehicleFlow><vehicleFlowRate>{rate}</vehicleFlowRate></vehicleFlow>")
}

fn speed(kmh: &str, inputs: &str) -> String {
    format!(
        r#"<averageVehicleSpeed numberOfInputValuesUsed="{inputs}"><speed>{kmh}</speed></averageVehicleSpeed>"#
    )
}

#[test]
fn mapped_indices_sum_per_lane_and_weigh_speeds_by_flow() {
    // Two lanes of two length classes each, NDW-style: lane 1 flows at 1–2, its speeds
    // at 3–4; lane 2 flows at 5–6, speeds at 7–8; all-vehicle totals at 9 (unmapped).
    let mut h = Harness::new(&[], &[]);
    h.catalog.add_traffic(0, "s-S", 2, 100.0);
    for (index, lane) in [
        (1, 1),
        (2, 1),
        (3, 1),
        (4, 1),
        (5, 2),
        (6, 2),
        (7, 2),
        (8, 2),
    ] {
        h.external
            .insert_index(0, "S", Some(index), "s-S", Some(lane));
    }
    let doc = site_values(&[
        (1, "TrafficFlow", &flow("600")),
        (2, "TrafficFlow", &flow("120")),
        (3, "TrafficSpeed", &speed("100", "10")),
        (4, "TrafficSpeed", &speed("80", "2")),
        (5, "TrafficFlow", &flow("-1")),
        (6, "TrafficFlow", &flow("60")),
        (7, "TrafficSpeed", &speed("-1", "0")),
        (8, "TrafficSpeed", &speed("90", "1")),
        (9, "TrafficFlow", &flow("780")),
    ]);
    assert_eq!(h.decode(doc.as_bytes()), 1, "{:?}", h.reasons());
    // Lane 1: 600 + 120 = 720 veh/h → 12 vehicles a minute;
    // speed (600·100 + 120·80) / 720 = 69600 / 720 = 96.67.
    assert_eq!(
        h.traffic_rows(),
        ["s-S 1 2026-11-24T00:50:00.000Z 60 12 96.7"]
    );
    // Lane 2: index 5 has no data, so 60 veh/h of index 6 alone would undercount it.
    let reasons = h.reasons();
    assert_eq!(reasons.len(), 1);
    assert_eq!(
        (reasons[0].0, reasons[0].1),
        (Some(1), RejectReason::NoObservation)
    );
    assert!(reasons[0].2.contains("indices [5]"), "{reasons:?}");
}

/// A one-record Aachen-style document: `body` inside `parkingRecordStatus`.
pub(crate) fn status(prefix: &str, xsi_type: &str, body: &str) -> String {
    let p = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}:")
    };
    let decl = if prefix.is_empty() {
        "xmlns".to_owned()
    } else {
        format!("xmlns:{prefix}")
    };
    format!(
        r#"<{p}d2LogicalModel {decl}="http://datex2.eu/schema/2/2_0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><{p}payloadPublication xsi:type="GenericPublication"><{p}genericPublicationExtension><{p}parkingStatusPublication><{p}parkingRecordStatus xsi:type="{xsi_type}"><{p}parkingRecordReference id="P1" version="1"/><{p}parkingStatusOriginTime>2026-11-24T01:55:00.1234567+01:00</{p}parkingStatusOriginTime>{body}</{p}parkingRecordStatus></{p}parkingStatusPublication></{p}genericPublicationExtension></{p}payloadPublication></{p}d2LogicalModel>"#,
    )
    .replace("<P:", &format!("<{p}"))
    .replace("</P:", &format!("</{p}"))
}

const COUNTS: &str = "<P:parkingOccupancy><P:parkingNumberOfSpacesOverride>100</P:parkingNumberOfSpacesOverride><P:parkingNumberOfVacantSpaces>40</P:parkingNumberOfVacantSpaces><P:parkingOccupancy>60</P:parkingOccupancy></P:parkingOccupancy>";

#[test]
fn any_prefix_or_none_and_xsi_type_with_or_without_prefix() {
    for (prefix, xsi_type) in [
        ("", "ParkingSiteStatus"),
        ("d2", "d2:ParkingSiteStatus"),
        ("x", "ParkingFacilityStatus"),
    ] {
        let mut h = Harness::new(&["P1"], &[]);
        assert_eq!(
            h.decode(status(prefix, xsi_type, COUNTS).as_bytes()),
            1,
            "{prefix}: {:?}",
            h.reasons()
        );
        assert_eq!(h.parking_rows(), ["f-P1 40 100 2026-11-24T00:55:00.123Z"]);
    }
}

#[test]
fn bad_records_are_refused_one_by_one_with_their_reason() {
    let cases = [
        (
            "<P:parkingOccupancy><P:parkingOccupancy>120</P:parkingOccupancy><P:parkingNumberOfVacantSpaces>1</P:parkingNumberOfVacantSpaces></P:parkingOccupancy>",
            RejectReason::OccupancyOutOfRange,
        ),
        (
            "<P:parkingOccupancy><P:parkingNumberOfSpacesOverride>10</P:parkingNumberOfSpacesOverride><P:parkingNumberOfVacantSpaces>11</P:parkingNumberOfVacantSpaces></P:parkingOccupancy>",
            RejectReason::InvalidParking,
        ),
        (
            "<P:parkingOccupancy><P:parkingOccupancy>50</P:parkingOccupancy></P:parkingOccupancy>",
            RejectReason::Malformed,
        ),
        (
            "<P:parkingOccupancy><P:parkingNumberOfVacantSpaces>lots</P:parkingNumberOfVacantSpaces></P:parkingOccupancy>",
            RejectReason::Malformed,
        ),
    ];
    for (body, reason) in cases {
        let mut h = Harness::new(&["P1"], &[]);
        assert_eq!(
            h.decode(status("ns2", "ns2:ParkingSiteStatus", body).as_bytes()),
            0
        );
        let reasons = h.reasons();
        assert_eq!(reasons.len(), 1, "{body}");
        assert_eq!(
            (reasons[0].0, reasons[0].1),
            (Some(0), reason),
            "{body}: {reasons:?}"
        );
    }
    let mut h = Harness::new(&["P1"], &[]);
    let doc = status("", "ParkingSiteStatus", COUNTS)
        .replace("2026-11-24T01:55:00.1234567+01:00", "2026-02-30T01:55:00Z");
    assert_eq!(h.decode(doc.as_bytes()), 0);
    assert_eq!(h.reasons()[0].1, RejectReason::Malformed);
    assert!(h.reasons()[0].2.contains("2026-02-30"), "{:?}", h.reasons());
}

#[test]
fn an_unmapped_record_is_an_unknown_sensor_naming_its_id() {
    let mut h = Harness::new(&["P2"], &[]);
    assert_eq!(
        h.decode(status("", "ParkingSiteStatus", COUNTS).as_bytes()),
        0
    );
    let reasons = h.reasons();
    assert_eq!(reasons[0].1, RejectReason::UnknownSensor);
    assert!(reasons[0].2.contains("`P1`"), "{reasons:?}");
}

#[test]
fn unreadable_documents_are_refused_whole_with_nothing_accepted() {
    let good = status("", "ParkingSiteStatus", COUNTS);
    let cases = [
        (good[..good.len() - 40].to_owned(), "invalid XML"),
        (
            good[..good.len() - "</d2LogicalModel>".len()].to_owned(),
            "ends inside",
        ),
        (
            good.replace(
                "http://datex2.eu/schema/2/2_0",
                "http://example.org/parking",
            ),
            "not DATEX II",
        ),
        (
            format!(
                "<!DOCTYPE d [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>{}",
                good.replace(">40<", ">&b;<")
            ),
            "DOCTYPE",
        ),
        (good.replace(">40<", ">&b;<"), "entity reference `&b;`"),
        (
            good.replace("</parkingRecordStatus>", "</parkingRecord>"),
            "invalid XML",
        ),
        ("{\"json\": true}".to_owned(), "not DATEX II"),
    ];
    for (doc, why) in cases {
        let mut h = Harness::new(&["P1"], &[]);
        assert_eq!(h.decode(doc.as_bytes()), 0, "{why}");
        let reasons = h.reasons();
        assert_eq!(reasons.len(), 1, "{why}: {reasons:?}");
        assert_eq!(
            (reasons[0].0, reasons[0].1),
            (None, RejectReason::Malformed),
            "{why}"
        );
        assert!(reasons[0].2.contains(why), "{why}: {reasons:?}");
    }
}

#[test]
fn predefined_and_character_references_are_read() {
    let mut h = Harness::new(&["P&1"], &[]);
    let doc = status("", "ParkingSiteStatus", COUNTS)
        .replace("id=\"P1\"", "id=\"P&amp;1\"")
        .replace(">40<", ">&#52;0<");
    assert_eq!(h.decode(doc.as_bytes()), 1, "{:?}", h.reasons());
    assert_eq!(h.parking_rows(), ["f-P&1 40 100 2026-11-24T00:55:00.123Z"]);
}

#[test]
fn an_unmapped_site_is_refused_once_as_unknown_sensor_before_its_values() {
    // Site `S` unmapped: a lane index above 16 (was `invalid_lane`), a lane without flow
    // data (was `no_observation`) and a good lane, all refused as one `unknown_sensor`.
    let doc = site_values(&[
        (1, "TrafficFlow", &flow("600")),
        (17, "TrafficFlow", &flow("60")),
        (2, "TrafficFlow", &flow("-1")),
    ]);
    let mut h = Harness::new(&[], &["OTHER"]);
    assert_eq!(h.decode(doc.as_bytes()), 0);
    let reasons = h.reasons();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(
        (reasons[0].0, reasons[0].1),
        (Some(0), RejectReason::UnknownSensor)
    );
    assert!(reasons[0].2.contains("`S`"), "{reasons:?}");
    let element = String::from_utf8_lossy(&h.rejected[0].payload).into_owned();
    assert!(element.starts_with("<siteMeasurements>") && element.ends_with("</siteMeasurements>"));
    // The site's id as a registry id itself: its lanes are read, and checked.
    let mut h = Harness::new(&[], &[]);
    h.catalog.add_traffic(0, "S", 4, 100.0);
    assert_eq!(h.decode(doc.as_bytes()), 1);
    let reasons: Vec<_> = h.reasons().into_iter().map(|r| r.1).collect();
    assert_eq!(
        reasons,
        [RejectReason::InvalidLane, RejectReason::NoObservation]
    );
    // A catalog that admits unknown sensors reads an unmapped site as before.
    let mut h = Harness::new(&[], &[]);
    h.catalog = Catalog::with_cities(&["aachen"], UnknownSensors::Admit);
    assert_eq!(h.decode(doc.as_bytes()), 1, "{:?}", h.reasons());
}

mod opening;
