//! NDW's measurement site table (`datex2/verkeersdrukte_MeasurementSiteTable.xml`, one
//! site PZH01_MST_0629_00) and the same site's full record
//! (`verkeersdrukte_MeasurementSiteRecord.xml`, with all 8 indices and a position)
//! through the importer and into a registry.

use std::path::Path;

use stadtpuls_config::{RegistryChange, TrafficSite, update_registry};

use super::super::{SourceFormat, read};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/feeds/datex2/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The bare `measurementSiteRecord` fragment (no root, no namespace) inside the smallest
/// table publication that declares the DATEX II and xsi namespaces.
fn wrapped_record() -> Vec<u8> {
    let record =
        String::from_utf8(fixture("verkeersdrukte_MeasurementSiteRecord.xml")).expect("utf-8");
    format!(
        r#"<d2LogicalModel xmlns="http://datex2.eu/schema/2/2_0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" modelBaseVersion="2"><payloadPublication xsi:type="MeasurementSiteTablePublication" lang="nl"><measurementSiteTable id="NDW01_MT" version="1647">{record}</measurementSiteTable></payloadPublication></d2LogicalModel>"#
    )
    .into_bytes()
}

#[test]
fn the_ndw_table_maps_the_three_length_classes_of_lane_1_and_leaves_out_its_total() {
    let imported = read(&fixture("verkeersdrukte_MeasurementSiteTable.xml"), None).expect("table");
    assert_eq!(imported.format, SourceFormat::Datex2);
    assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
    assert_eq!(imported.sites.len(), 1);
    let site = &imported.sites[0];
    assert_eq!(site.external_id, "PZH01_MST_0629_00");
    assert_eq!(site.name.as_deref(), Some("N457 hmp 4.75 Re"));
    // Indices 1–3: flows < 5.6 m, 5.6–12.2 m, > 12.2 m on lane1; index 4 is the lane's
    // anyVehicle flow, their sum: left out. The trimmed table has no speed index.
    assert_eq!(
        site.traffic,
        Some(TrafficSite {
            lanes: 1,
            external_ids: vec![
                "PZH01_MST_0629_00#1=1".to_owned(),
                "PZH01_MST_0629_00#2=1".to_owned(),
                "PZH01_MST_0629_00#3=1".to_owned(),
            ],
        })
    );
    // No measurementSiteLocation in this table.
    assert_eq!(site.position(), None);
}

#[test]
fn a_site_without_position_updates_the_row_that_names_it_and_is_skipped_otherwise() {
    let imported = read(&fixture("verkeersdrukte_MeasurementSiteTable.xml"), None).expect("table");
    let file = Path::new("nl.csv");
    // A new registry: nothing to write (a registry of no sensors is refused), and why.
    let fresh = update_registry(file, None, "nl", &imported.sites)
        .expect_err("no row")
        .to_string();
    assert!(
        fresh.contains("lists no sensors")
            && fresh.contains("site `PZH01_MST_0629_00`")
            && fresh.contains("no position"),
        "{fresh}"
    );

    // The row a city keeps by hand, its position from the full record.
    let existing = "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
                    nl-n457,traffic,N457,52.0263,4.634289,2,,,PZH01_MST_0629_00;other-feed-id\n";
    let update = update_registry(file, Some(existing), "nl", &imported.sites).expect("update");
    assert_eq!(
        update.changes,
        [RegistryChange::Updated {
            id: "nl-n457".to_owned(),
            external_id: "PZH01_MST_0629_00".to_owned(),
            fields: vec!["name", "lanes", "external_id"],
        }]
    );
    assert_eq!(
        update.text,
        "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
         nl-n457,traffic,N457 hmp 4.75 Re,52.0263,4.634289,1,,,\
         other-feed-id;PZH01_MST_0629_00#1=1;PZH01_MST_0629_00#2=1;PZH01_MST_0629_00#3=1\n"
    );
    // Importing again finds the row by its `#index=lane` ids and changes nothing.
    let again = update_registry(file, Some(&update.text), "nl", &imported.sites).expect("again");
    assert_eq!((again.changes.len(), again.unchanged), (0, 1));
}

#[test]
fn the_full_record_adds_a_traffic_row_with_its_speeds_and_position() {
    let imported = read(&wrapped_record(), None).expect("record");
    let site = &imported.sites[0];
    assert_eq!(
        site.position(),
        Some((52.0263, 4.634289)),
        "locationForDisplay"
    );
    let ids = &site.traffic.as_ref().expect("traffic").external_ids;
    // Flows 1–3 and speeds 5–7 by length class; 4 and 8 (anyVehicle) left out.
    let indices: Vec<&str> = ids
        .iter()
        .filter_map(|id| id.split_once('#'))
        .map(|p| p.1)
        .collect();
    assert_eq!(indices, ["1=1", "2=1", "3=1", "5=1", "6=1", "7=1"]);

    let update =
        update_registry(Path::new("nl.geojson"), None, "nl", &imported.sites).expect("geojson");
    assert_eq!(
        update.changes,
        [RegistryChange::Added {
            id: "nl-pzh01-mst-0629-00".to_owned(),
            external_id: "PZH01_MST_0629_00".to_owned(),
        }]
    );
    assert!(
        update.text.contains(r#""kind":"traffic""#),
        "{}",
        update.text
    );
    assert!(
        update.text.contains(r#""coordinates":[4.634289,52.0263]"#),
        "{}",
        update.text
    );
    let csv = update_registry(Path::new("nl.csv"), None, "nl", &imported.sites).expect("csv");
    assert!(
        csv.text.ends_with(
            "nl-pzh01-mst-0629-00,traffic,N457 hmp 4.75 Re,52.0263,4.634289,1,,,\
         PZH01_MST_0629_00#1=1;PZH01_MST_0629_00#2=1;PZH01_MST_0629_00#3=1;\
         PZH01_MST_0629_00#5=1;PZH01_MST_0629_00#6=1;PZH01_MST_0629_00#7=1\n"
        ),
        "{}",
        csv.text
    );
}

#[test]
fn speeds_that_do_not_pair_with_the_flows_by_class_are_left_out() {
    // Lane 1: flows of two classes; speeds of the same classes in the other order.
    let characteristic = |index: u8, kind: &str, length: &str| {
        format!(
            "<measurementSpecificCharacteristics index=\"{index}\"><measurementSpecificCharacteristics><specificLane>lane1</specificLane><specificMeasurementValueType>{kind}</specificMeasurementValueType><specificVehicleCharacteristics><lengthCharacteristic><comparisonOperator>lessThan</comparisonOperator><vehicleLength>{length}</vehicleLength></lengthCharacteristic></specificVehicleCharacteristics></measurementSpecificCharacteristics></measurementSpecificCharacteristics>"
        )
    };
    let body = [
        characteristic(1, "trafficFlow", "5.6"),
        characteristic(2, "trafficFlow", "12.2"),
        characteristic(3, "trafficSpeed", "12.2"),
        characteristic(4, "trafficSpeed", "5.6"),
        characteristic(5, "trafficConcentration", "5.6"),
    ]
    .concat();
    let doc = format!(
        r#"<d2LogicalModel xmlns="http://datex2.eu/schema/2/2_0"><payloadPublication><measurementSiteTable><measurementSiteRecord id="S"><measurementSiteNumberOfLanes>1</measurementSiteNumberOfLanes>{body}</measurementSiteRecord><measurementSiteRecord id="T"/></measurementSiteTable></payloadPublication></d2LogicalModel>"#
    );
    let imported = read(doc.as_bytes(), None).expect("table");
    let ids = &imported.sites[0]
        .traffic
        .as_ref()
        .expect("traffic")
        .external_ids;
    assert_eq!(ids, &["S#1=1", "S#2=1"]);
    assert_eq!(imported.skipped.len(), 1);
    assert_eq!(
        imported.skipped[0].to_string(),
        "site `T`: no trafficFlow value index on a numbered lane (`specificLane` lane1, lane2, …)"
    );
}
