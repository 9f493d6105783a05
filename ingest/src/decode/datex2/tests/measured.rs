//! Measured data (`MeasuredDataPublication`): flows and speeds per site and lane, read
//! through the measurement site table.

use super::*;

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
