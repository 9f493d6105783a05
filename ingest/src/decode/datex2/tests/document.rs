//! The document as XML: namespace prefixes, `xsi:type`, character references, and the
//! refusal of bad records one by one and of unreadable documents whole.

use super::*;

/// A one-record Aachen-style document: `body` inside `parkingRecordStatus`.
fn status(prefix: &str, xsi_type: &str, body: &str) -> String {
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
