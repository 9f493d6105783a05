//! Fuzz-style properties of the partner-feed decoders (FIWARE, ParkAPI, TTN): arbitrary bytes
//! never panic, and a document of N entities or sites, each possibly broken, ends as
//! exactly N accepted or refused observations — or as one refusal of the whole message
//! when the document itself is unreadable.

use proptest::prelude::*;
use stadtpuls_config::{FeedFormat, LoraCodec};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;

use super::super::external::ExternalIds;
use super::super::feed::{self, FeedCity};
use super::super::native::Sinks;
use super::super::ttn::{RecentUplinks, TtnInput};
use super::super::{Rejected, StreamKind};
use super::messages::NOW;

pub(super) fn run(format: FeedFormat, payload: &[u8]) -> (usize, Vec<Rejected>) {
    run_in(format, payload, false)
}

/// [`run`] in a city that admits unmapped facilities (`admit`) or not. Admitting never
/// changes how many elements end accepted or refused; each admitted facility has the
/// capacity of an accepted reading.
pub(super) fn run_in(format: FeedFormat, payload: &[u8], admit: bool) -> (usize, Vec<Rejected>) {
    let (accepted, rejected, _) = run_counts(format, payload, admit);
    (accepted, rejected)
}

/// [`run_in`], with the number of facilities admitted.
fn run_counts(format: FeedFormat, payload: &[u8], admit: bool) -> (usize, Vec<Rejected>, usize) {
    let mut catalog = Catalog::with_cities(&["porto"], UnknownSensors::Reject);
    catalog.set_admitting(0, admit);
    catalog.add_traffic(0, "t1", 2, 50.0);
    catalog.add_facility(0, "p1", Some(414));
    let zone = catalog.add_facility(0, "z1", None);
    catalog.add_spot(0, "s1", zone);
    let mut external = ExternalIds::default();
    external.insert(0, "urn:ngsi-ld:OffStreetParking:p1", "p1", None);
    external.insert(0, "urn:ngsi-ld:TrafficFlowObserved:t1", "t1", None);
    external.insert(0, "urn:ngsi-ld:ParkingSpot:s1", "s1", None);
    // DATEX II ids: a parking record and a measurement site.
    external.insert(0, "P1", "p1", None);
    external.insert(0, "S1", "t1", None);
    let (mut traffic, mut parking) = (
        TrafficBatchBuilder::default(),
        ParkingBatchBuilder::default(),
    );
    let mut rejected = Vec::new();
    let mut sinks = Sinks {
        catalog: &mut catalog,
        traffic: &mut traffic,
        parking: &mut parking,
        rejected: &mut rejected,
    };
    let bounds = TimeBounds {
        now: NOW,
        max_future_ms: 300_000,
    };
    let city = FeedCity {
        key: 0,
        id: "porto",
    };
    let registered = sinks.catalog.facilities().len();
    let decoded = feed::decode(
        format,
        || StreamKind::Parking,
        payload,
        city,
        &external,
        bounds,
        &mut TtnInput {
            codec: Some(LoraCodec::BoschPls),
            recent: &mut RecentUplinks::default(),
        },
        &mut sinks,
    );
    let accepted = decoded.accepted;
    let admitted = &catalog.facilities()[registered..];
    assert_eq!(admitted.len(), decoded.admitted, "every admission counted");
    assert!(
        admit || admitted.is_empty(),
        "nothing admitted unless the city admits"
    );
    assert!(
        decoded.admitted <= accepted,
        "only an accepted reading admits"
    );
    assert!(
        admitted
            .iter()
            .all(|f| f.capacity.is_some_and(|c| c > 0) && f.admitted.is_some()),
        "admitted with a capacity"
    );
    assert_eq!(
        accepted,
        traffic.len() + parking.len(),
        "accepted rows are in the builders"
    );
    (accepted, rejected, decoded.admitted)
}

/// A value, good or weird, for any attribute.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("12".to_owned()),
        Just("0.5".to_owned()),
        Just("-3".to_owned()),
        Just("1e308".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("null".to_owned()),
        Just("\"free\"".to_owned()),
        Just("\"CLOSED\"".to_owned()),
        Just("\"open\"".to_owned()),
        Just("\"p1\"".to_owned()),
        Just("\"PH Nord\"".to_owned()),
        Just("\"2026-11-24T00:50:00Z\"".to_owned()),
        Just("\"2026-02-30T00:50:00\"".to_owned()),
        Just("\"2026-11-24T00:49:00Z/2026-11-24T00:50:00Z\"".to_owned()),
        Just("[\"closed\"]".to_owned()),
        Just(
            "{\"type\":\"Property\",\"value\":7,\"observedAt\":\"2026-11-24T00:50:00Z\"}"
                .to_owned()
        ),
        Just("{\"@type\":\"DateTime\",\"@value\":\"x\"}".to_owned()),
        Just("{}".to_owned()),
    ]
}

/// One NGSI entity of a known or unknown type, with attributes from `value`.
fn entity() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just(("OffStreetParking", "urn:ngsi-ld:OffStreetParking:p1")),
        Just(("TrafficFlowObserved", "urn:ngsi-ld:TrafficFlowObserved:t1")),
        Just(("ParkingSpot", "urn:ngsi-ld:ParkingSpot:s1")),
        Just(("ParkingGroup", "urn:ngsi-ld:ParkingGroup:unmapped")),
        Just(("OffStreetParking", "urn:ngsi-ld:OffStreetParking:unmapped")),
        Just(("WeatherObserved", "urn:ngsi-ld:WeatherObserved:1")),
    ];
    let name = prop_oneof![
        Just("availableSpotNumber"),
        Just("totalSpotNumber"),
        Just("occupiedSpotNumber"),
        Just("occupancyModified"),
        Just("status"),
        Just("intensity"),
        Just("occupancy"),
        Just("laneId"),
        Just("averageVehicleSpeed"),
        Just("dateObserved"),
        Just("dateObservedFrom"),
        Just("dateObservedTo"),
        Just("vehicleEntranceCount"),
        Just("id"),
        Just("type"),
    ];
    (kind, proptest::collection::vec((name, value()), 0..8)).prop_map(|((kind, id), attrs)| {
        let mut text = format!(r#"{{"id":"{id}","type":"{kind}""#);
        for (name, value) in attrs {
            text.push_str(&format!(r#","{name}":{value}"#));
        }
        text.push('}');
        text
    })
}

/// One ParkAPI site.
fn site() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("uid"),
        Just("realtime_free_capacity"),
        Just("realtime_capacity"),
        Just("capacity"),
        Just("realtime_opening_status"),
        Just("realtime_data_updated_at"),
    ];
    proptest::collection::vec((name, value()), 0..7).prop_map(|fields| {
        let body: Vec<String> = fields
            .iter()
            .map(|(n, v)| format!(r#""{n}":{v}"#))
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

/// One lot of a ParkenDD v1 / ParkAPI2 city document.
fn lot() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("id"),
        Just("num_free"),
        Just("free"),
        Just("capacity"),
        Just("total"),
        Just("status"),
        Just("state"),
        Just("timestamp"),
        Just("lot_timestamp"),
    ];
    proptest::collection::vec((name, value()), 0..8).prop_map(|fields| {
        let body: Vec<String> = fields
            .iter()
            .map(|(n, v)| format!(r#""{n}":{v}"#))
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

/// How the elements are wrapped: 0 array, 1 NGSI-LD notification, 2 NGSI v2 notification
/// (ParkAPI: 1 and 2 are `{"items": [...]}`).
fn wrap(format: FeedFormat, how: u8, elements: &[String]) -> String {
    let list = elements.join(",");
    match (format, how) {
        (_, 0) => format!("[{list}]"),
        (FeedFormat::Fiware, 1) => format!(r#"{{"type":"Notification","data":[{list}]}}"#),
        (FeedFormat::Fiware, _) => format!(r#"{{"subscriptionId":"s","data":[{list}]}}"#),
        _ => format!(r#"{{"items":[{list}]}}"#),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: super::cases(256), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
        for format in [FeedFormat::Fiware, FeedFormat::ParkApi, FeedFormat::Ttn] {
            let (accepted, rejected) = run(format, &payload);
            prop_assert!(accepted + rejected.len() >= 1 || payload.contains(&b'['));
        }
    }

    #[test]
    fn every_entity_is_accepted_or_refused(
        entities in proptest::collection::vec(entity(), 1..6),
        how in 0u8..3,
        cut in proptest::option::of(0usize..400),
        admit in any::<bool>(),
    ) {
        let mut doc = wrap(FeedFormat::Fiware, how, &entities);
        if let Some(cut) = cut.filter(|c| *c < doc.len()) {
            doc.truncate(cut);
        }
        let (accepted, rejected) = run_in(FeedFormat::Fiware, doc.as_bytes(), admit);
        if rejected.iter().any(|r| r.index.is_none()) {
            prop_assert_eq!((accepted, rejected.len()), (0, 1), "{}", doc);
        } else {
            prop_assert_eq!(accepted + rejected.len(), entities.len(), "{}", doc);
        }
    }

    #[test]
    fn every_site_is_accepted_or_refused(
        sites in proptest::collection::vec(site(), 1..6),
        how in 0u8..2,
        admit in any::<bool>(),
    ) {
        let doc = wrap(FeedFormat::ParkApi, how, &sites);
        let (accepted, rejected) = run_in(FeedFormat::ParkApi, doc.as_bytes(), admit);
        if rejected.iter().any(|r| r.index.is_none()) {
            prop_assert_eq!((accepted, rejected.len()), (0, 1), "{}", doc);
        } else {
            prop_assert_eq!(accepted + rejected.len(), sites.len(), "{}", doc);
        }
    }

    #[test]
    fn every_lot_is_accepted_or_refused(
        lots in proptest::collection::vec(lot(), 1..6),
        updated in proptest::option::of(value()),
        admit in any::<bool>(),
    ) {
        let updated = updated.map_or(String::new(), |u| format!(r#""last_updated":{u},"#));
        let doc = format!(r#"{{{updated}"lots":[{}]}}"#, lots.join(","));
        let (accepted, rejected) = run_in(FeedFormat::ParkApi, doc.as_bytes(), admit);
        if rejected.iter().any(|r| r.index.is_none()) {
            prop_assert_eq!((accepted, rejected.len()), (0, 1), "{}", doc);
        } else {
            prop_assert_eq!(accepted + rejected.len(), lots.len(), "{}", doc);
        }
    }

    /// A site no `external_id` maps, in a city that admits: admitted exactly when its
    /// reading is accepted (a capacity, and counts the rules accept), else refused.
    #[test]
    fn an_unmapped_site_is_admitted_exactly_when_it_is_accepted(
        free in prop_oneof![value(), (-2i64..600).prop_map(|n| n.to_string())],
        capacity in proptest::option::of(prop_oneof![value(), (-2i64..600).prop_map(|n| n.to_string())]),
        how in 0u8..2,
    ) {
        let capacity = capacity.map_or(String::new(), |c| format!(r#","realtime_capacity":{c}"#));
        let site = format!(
            r#"{{"uid":"PH Nord","realtime_data_updated_at":"2026-11-23T23:50:00Z","realtime_free_capacity":{free}{capacity}}}"#
        );
        let doc = wrap(FeedFormat::ParkApi, how, &[site]);
        let (accepted, rejected, admitted) = run_counts(FeedFormat::ParkApi, doc.as_bytes(), true);
        prop_assert_eq!(accepted + rejected.len(), 1, "{}", doc);
        prop_assert_eq!(admitted, accepted, "{}", doc);
    }
}
