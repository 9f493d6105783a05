//! Parking publications (`ParkingStatusPublication`, `ParkingRecordStatus`) of the cities'
//! real feeds: Aachen, Bondorf, Stuttgart's MDM profile and NDW's truck parking.

use super::*;

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
