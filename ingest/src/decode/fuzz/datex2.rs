//! Fuzz-style properties of the DATEX II decoder: arbitrary bytes (and XML-looking
//! garbage) never panic, and a document of N records or flow values, each possibly broken,
//! ends as exactly N accepted or refused observations — or as one refusal of the whole
//! message when the document itself is unreadable.

use proptest::prelude::*;
use stadtpuls_config::FeedFormat;

use super::super::Rejected;

fn run(payload: &[u8]) -> (usize, Vec<Rejected>) {
    // Half the documents (by length) go to a city that admits unmapped car parks.
    super::feeds::run_in(FeedFormat::Datex2, payload, payload.len().is_multiple_of(2))
}

/// A text value, good or weird.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("12".to_owned()),
        Just("12.0".to_owned()),
        Just("600".to_owned()),
        Just("-1".to_owned()),
        Just("1e308".to_owned()),
        Just("NaN".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("".to_owned()),
        Just("closed".to_owned()),
        Just("2026-11-24T00:50:00.1234567+01:00".to_owned()),
        Just("2026-11-23T23:50:00Z".to_owned()),
        Just("2026-02-30T00:50:00Z".to_owned()),
        Just("&amp;".to_owned()),
        Just("<![CDATA[7]]>".to_owned()),
    ]
}

/// One parking record with some of its fields.
fn record() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("parkingStatusOriginTime"),
        Just("parkingOccupancy/parkingNumberOfVacantSpaces"),
        Just("parkingOccupancy/parkingNumberOfOccupiedSpaces"),
        Just("parkingOccupancy/parkingNumberOfSpacesOverride"),
        Just("parkingOccupancy/parkingOccupancy"),
        Just("parkingSiteOpeningStatus"),
        Just("unknownElement"),
    ];
    let kind = prop_oneof![
        Just("ParkingSiteStatus"),
        Just("d2:GroupOfParkingSitesStatus"),
        Just("ParkingVehiclesStatus"),
    ];
    let id = prop_oneof![Just("P1"), Just("P2"), Just("")];
    (kind, id, proptest::collection::vec((name, value()), 0..7)).prop_map(|(kind, id, fields)| {
        let mut body = String::new();
        for (name, value) in fields {
            match name.split_once('/') {
                Some((outer, inner)) => body.push_str(&format!(
                    "<d2:{outer}><d2:{inner}>{value}</d2:{inner}></d2:{outer}>"
                )),
                None => body.push_str(&format!("<d2:{name}>{value}</d2:{name}>")),
            }
        }
        format!(
            r#"<d2:parkingRecordStatus xsi:type="{kind}"><d2:parkingRecordReference id="{id}"/>{body}</d2:parkingRecordStatus>"#
        )
    })
}

/// One `siteMeasurements` with one flow value (and maybe a speed).
fn site() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("S1"), Just("S2")],
        prop_oneof![Just("1"), Just("0"), Just("40"), Just("x")],
        value(),
        proptest::option::of(value()),
        proptest::option::of(value()),
    )
        .prop_map(|(id, index, flow, speed, time)| {
            let time = time.map_or(String::new(), |t| {
                format!("<d2:measurementTimeDefault>{t}</d2:measurementTimeDefault>")
            });
            let speed = speed.map_or(String::new(), |s| {
                format!(r#"<d2:measuredValue index="{index}"><d2:measuredValue><d2:basicData xsi:type="TrafficSpeed"><d2:averageVehicleSpeed><d2:speed>{s}</d2:speed></d2:averageVehicleSpeed></d2:basicData></d2:measuredValue></d2:measuredValue>"#)
            });
            format!(
                r#"<d2:siteMeasurements><d2:measurementSiteReference id="{id}"/>{time}<d2:measuredValue index="{index}"><d2:measuredValue><d2:basicData xsi:type="TrafficFlow"><d2:vehicleFlow><d2:vehicleFlowRate>{flow}</d2:vehicleFlowRate></d2:vehicleFlow></d2:basicData></d2:measuredValue></d2:measuredValue>{speed}</d2:siteMeasurements>"#
            )
        })
}

fn document(elements: &[String]) -> String {
    format!(
        r#"<d2:d2LogicalModel xmlns:d2="http://datex2.eu/schema/2/2_0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><d2:payloadPublication>{}</d2:payloadPublication></d2:d2LogicalModel>"#,
        elements.concat()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: super::cases(256), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (accepted, rejected) = run(&payload);
        prop_assert!(accepted + rejected.len() >= 1);
    }

    #[test]
    fn xml_looking_garbage_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("<d2:parkingRecordStatus>"), Just("</d2:parkingRecordStatus>"),
        Just("<d2:siteMeasurements>"), Just("</d2:siteMeasurements>"), Just("<x/>"),
        Just("<!DOCTYPE x>"), Just("&e;"), Just("<?xml version=\"1.0\"?>"), Just("]]>"),
        Just("<d2:d2LogicalModel xmlns:d2=\"http://datex2.eu/schema/2/2_0\">"),
        Just("</d2:d2LogicalModel>"), Just("<a xmlns=\"http://datex2.eu/schema/3/x\">"),
    ], 0..12)) {
        let (accepted, rejected) = run(parts.concat().as_bytes());
        prop_assert!(accepted + rejected.len() >= 1);
    }

    #[test]
    fn every_record_is_accepted_or_refused(
        records in proptest::collection::vec(prop_oneof![record(), site()], 1..6),
        cut in proptest::option::of(0usize..2000),
    ) {
        let mut doc = document(&records);
        if let Some(cut) = cut.filter(|c| *c < doc.len() && doc.is_char_boundary(*c)) {
            doc.truncate(cut);
        }
        let (accepted, rejected) = run(doc.as_bytes());
        if rejected.iter().any(|r| r.index.is_none()) {
            prop_assert_eq!((accepted, rejected.len()), (0, 1), "{}", doc);
        } else {
            // A site's lane without data (a negative rate) is refused as no_observation.
            prop_assert_eq!(accepted + rejected.len(), records.len(), "{}", doc);
        }
    }
}
