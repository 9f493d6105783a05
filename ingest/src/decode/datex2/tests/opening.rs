//! The opening status of each parking record: `closed` kept as a state of its own (and no
//! free space), not only as 0 free.

use super::*;

#[test]
fn aachen_keeps_each_records_opening_status() {
    let mut h = Harness::new(&AACHEN, &[]);
    assert_eq!(
        h.decode(fixture!("parkapi-sources_aachen-realtime.xml")),
        17
    );
    let rows = h.opening_rows();
    let closed: Vec<&str> = rows
        .iter()
        .filter(|r| r.ends_with(" closed"))
        .map(String::as_str)
        .collect();
    // `parkingSiteOpeningStatus` `closed` (P14 and P18 counted 180 and 518 vacant).
    assert_eq!(
        closed,
        [
            "f-P5 0 closed",
            "f-P14 0 closed",
            "f-P13 0 closed",
            "f-P18 0 closed"
        ]
    );
    assert_eq!(rows.iter().filter(|r| r.ends_with(" open")).count(), 13);
    assert!(rows.contains(&"f-P1 412 open".to_owned()), "{rows:?}");
}

/// The MDM profile repeats `parkingFacilityStatus` for the site and the opening state
/// (`closed` + `spacesAvailable`, `spacesAvailable` + `open`, or a site state alone).
#[test]
fn stuttgart_mdm_profile_reads_the_opening_state_among_the_site_states() {
    let mut h = Harness::new(&STUTTGART, &[]);
    assert_eq!(
        h.decode(fixture!("parkapi-sources_stuttgart-realtime.xml")),
        38
    );
    let rows = h.opening_rows();
    let of = |state: &str| {
        rows.iter()
            .filter(|r| r.ends_with(&format!(" {state}")))
            .count()
    };
    assert_eq!(
        rows[..3],
        [
            "f-12717289 245 open",
            "f-12717312 229 open",
            "f-12717253 0 closed"
        ]
    );
    assert!(rows.contains(&"f-12717229 0 closed".to_owned()), "{rows:?}");
    assert!(rows.contains(&"f-12717226 0 closed".to_owned()), "{rows:?}");
    assert_eq!((of("closed"), of("open"), of("-")), (4, 33, 1), "{rows:?}");
}

/// The NDW v3 status (v2-style names in the v3 namespace) with the v3 `openingStatus`
/// and the 2.3 element added to two records, and an unknown state to a third.
#[test]
fn v3_records_read_opening_status_under_either_name() {
    let text = std::str::from_utf8(fixture!("datex4j_netherlands-truckparking-status.xml"))
        .expect("UTF-8");
    let mut records = text.split("</ns2:parkingStatusOriginTime>");
    let mut doc = records.next().unwrap_or_default().to_owned();
    let added = [
        "<ns2:openingStatus>temporarilyClosed</ns2:openingStatus>",
        "<ns2:parkingSiteOpeningStatus>openWithServiceLimitation</ns2:parkingSiteOpeningStatus>",
        "<ns2:openingStatus>statusUnknown</ns2:openingStatus>",
    ];
    for (i, rest) in records.enumerate() {
        doc.push_str("</ns2:parkingStatusOriginTime>");
        doc.push_str(added.get(i).copied().unwrap_or_default());
        doc.push_str(rest);
    }
    let ids = ["NL-12_413", "NL-12_408", "NL-12_421", "NL-12_411"];
    let mut h = Harness::new(&ids, &[]);
    h.decode(doc.as_bytes());
    assert_eq!(
        h.opening_rows()[..4],
        [
            "f-NL-12_413 0 closed",
            "f-NL-12_408 29 open",
            "f-NL-12_421 576 unknown",
            "f-NL-12_411 222 -",
        ]
    );
}
