//! `admit_unmapped_facilities`: a car park no `external_id` maps joins its city when its
//! reading states a capacity and would be accepted; everything else stays refused as
//! before, with the feed's id in the reason.

use stadtpuls_processing::catalog::AdmittedFacility;

use super::*;

/// A ParkAPI v3 site of uid `uid`: `free` of `capacity` (if any) at 00:00 of the day.
fn site(uid: &str, free: i64, capacity: Option<i64>) -> String {
    let capacity = capacity.map_or(String::new(), |c| format!(r#""realtime_capacity": {c},"#));
    format!(
        r#"{{"uid": "{uid}", "name": "Parkhaus {uid}", "lat": "41.15", "lon": -8.61, {capacity}
            "realtime_free_capacity": {free}, "realtime_data_updated_at": "2026-11-24T00:00:00Z"}}"#
    )
}

fn admitting() -> Harness {
    let mut h = Harness::new();
    h.catalog.set_admitting(0, true);
    h
}

#[test]
fn a_site_with_its_capacity_is_admitted_once_and_then_counted_like_a_registered_one() {
    let mut h = admitting();
    let before = h.catalog.facilities().len();
    let first = h.decode_counts(
        FeedFormat::ParkApi,
        site("PH Dom", 120, Some(300)).as_bytes(),
    );
    assert_eq!(
        first,
        Decoded {
            accepted: 1,
            admitted: 1
        },
        "{:?}",
        h.reasons()
    );
    let id = crate::decode::admit::admitted_id("PH Dom");
    let key = h.catalog.facility_key(0, &id).expect("admitted");
    assert_eq!(key as usize, before, "one facility more");
    let info = &h.catalog.facilities()[key as usize];
    assert_eq!(info.capacity, Some(300));
    assert_eq!(
        info.admitted.as_deref(),
        Some(&AdmittedFacility {
            city: "porto".to_owned(),
            id: id.clone(),
            external_id: "PH Dom".to_owned(),
            capacity: 300,
            name: Some("Parkhaus PH Dom".to_owned()),
            position: Some((41.15, -8.61)),
        })
    );
    // The next reading finds it, even without a capacity (the admitted one then counts).
    let next = h.decode_counts(FeedFormat::ParkApi, site("PH Dom", 110, None).as_bytes());
    assert_eq!(
        next,
        Decoded {
            accepted: 1,
            admitted: 0
        }
    );
    assert_eq!(h.catalog.facilities().len(), before + 1);
    assert_eq!(
        h.parking_rows(),
        [
            format!("{id} - 120 300 - - 1795478400000"),
            format!("{id} - 110 - - - 1795478400000"),
        ]
    );
}

#[test]
fn without_a_capacity_or_the_option_the_unmapped_id_stays_refused_with_its_id() {
    let mut h = admitting();
    let before = h.catalog.facilities().len();
    assert_eq!(
        h.decode(FeedFormat::ParkApi, site("PH Dom", 120, None).as_bytes()),
        0
    );
    let mut closed = Harness::new();
    assert_eq!(
        closed.decode(
            FeedFormat::ParkApi,
            site("PH Dom", 120, Some(300)).as_bytes()
        ),
        0
    );
    for (h, says) in [(&h, "states no capacity"), (&closed, "registry of `porto`")] {
        let reasons = h.reasons();
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert_eq!(reasons[0].1, RejectReason::UnknownSensor);
        assert!(reasons[0].2.contains("`PH Dom`"), "{reasons:?}");
        assert!(reasons[0].2.contains(says), "{reasons:?}");
    }
    assert_eq!(h.catalog.facilities().len(), before, "nothing admitted");
    assert!(!closed.reasons()[0].2.contains("capacity"));
}

/// A reading that would be refused admits nothing: the facility is not created by a count
/// the pipeline then throws away.
#[test]
fn a_reading_that_is_refused_admits_nothing() {
    let mut h = admitting();
    let before = h.catalog.facilities().len();
    assert_eq!(
        h.decode(
            FeedFormat::ParkApi,
            site("PH Dom", 301, Some(300)).as_bytes()
        ),
        0
    );
    let reasons = h.reasons();
    assert_eq!(reasons[0].1, RejectReason::InvalidParking, "{reasons:?}");
    assert_eq!(h.catalog.facilities().len(), before);
}

/// Spots and traffic sensors are never admitted, whatever the city allows.
#[test]
fn spots_and_traffic_sensors_are_never_admitted() {
    let mut h = admitting();
    let before = (h.catalog.facilities().len(), h.catalog.spots().len());
    let spot = r#"{"id": "urn:ngsi-ld:ParkingSpot:new", "type": "ParkingSpot",
        "status": "free", "dateModified": "2026-11-24T00:00:00Z"}"#;
    let traffic = r#"{"id": "urn:ngsi-ld:TrafficFlowObserved:new", "type": "TrafficFlowObserved",
        "intensity": 5, "dateObservedFrom": "2026-11-23T23:59:00Z", "dateObservedTo": "2026-11-24T00:00:00Z"}"#;
    assert_eq!(h.decode(FeedFormat::Fiware, spot.as_bytes()), 0);
    assert_eq!(h.decode(FeedFormat::Fiware, traffic.as_bytes()), 0);
    let reasons = h.reasons();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons.iter().all(|r| r.1 == RejectReason::UnknownSensor),
        "{reasons:?}"
    );
    assert_eq!(
        (h.catalog.facilities().len(), h.catalog.spots().len()),
        before
    );
}

/// DATEX II: Aachen's status records carry their capacity (`parkingNumberOfSpacesOverride`),
/// so a city without a registry entry for them admits each; Stuttgart's MDM profile carries
/// none, so its records stay refused.
#[test]
fn datex2_records_with_a_capacity_are_admitted_and_mdm_ones_without_are_not() {
    let mut h = admitting();
    let aachen = fixture!("datex2/parkapi-sources_aachen-realtime.xml");
    let counts = h.decode_counts(FeedFormat::Datex2, aachen);
    assert!(counts.admitted > 0, "{counts:?} {:?}", h.reasons());
    let p1 = crate::decode::admit::admitted_id("P1");
    let p1 = h.catalog.facility_key(0, &p1).expect("P1 admitted");
    let info = &h.catalog.facilities()[p1 as usize];
    assert_eq!(
        info.admitted.as_ref().map(|a| a.external_id.as_str()),
        Some("P1")
    );

    let mut h = admitting();
    let stuttgart = fixture!("datex2/parkapi-sources_stuttgart-realtime.xml");
    let counts = h.decode_counts(FeedFormat::Datex2, stuttgart);
    assert_eq!(counts.admitted, 0);
    let reasons = h.reasons();
    let unknown: Vec<_> = reasons
        .iter()
        .filter(|r| r.1 == RejectReason::UnknownSensor)
        .collect();
    assert!(!unknown.is_empty(), "{reasons:?}");
    assert!(
        unknown.iter().all(|r| r.2.contains("no capacity")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .all(|r| matches!(r.1, RejectReason::UnknownSensor | RejectReason::Malformed)),
        "records without counts stay malformed: {reasons:?}"
    );
}
