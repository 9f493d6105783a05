//! Each format against the fixtures (`ingest/tests/fixtures/feeds/`), with values a person
//! reads in the file.

use super::*;

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/feeds/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn site<'a>(imported: &'a Imported, external_id: &str) -> &'a ImportedSite {
    imported
        .sites
        .iter()
        .find(|s| s.external_id == external_id)
        .unwrap_or_else(|| panic!("{external_id} in {:?}", imported.sites))
}

/// The record ids a status document references, as written.
fn status_ids(document: &[u8], attribute_of: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(document);
    let needle = format!("{attribute_of} id=\"");
    let mut ids: Vec<String> = text
        .match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &text[at + needle.len()..];
            rest.split('"').next().map(str::to_owned)
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn aachen_table_publication_gives_every_record_its_name_capacity_and_position() {
    let imported =
        read(&fixture("datex2/parkapi-sources_aachen-static.xml"), None).expect("aachen");
    assert_eq!(imported.format, SourceFormat::Datex2);
    // 17 records; P13 (Stiftstrasse) and P17 (EBV Carre) carry no parkingNumberOfSpaces.
    assert_eq!(imported.sites.len(), 15, "skipped: {:?}", imported.skipped);
    let skipped: Vec<String> = imported.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        [
            "record `P13`: no capacity (`parkingNumberOfSpaces`)",
            "record `P17`: no capacity (`parkingNumberOfSpaces`)"
        ]
    );
    let first = &imported.sites[0];
    assert_eq!(
        (
            first.external_id.as_str(),
            first.name.as_deref(),
            first.capacity,
            first.lat,
            first.lon
        ),
        (
            "P1",
            Some("P01-Eurogress"),
            560,
            Some(50.780552),
            Some(6.0927987)
        )
    );
    assert_eq!(site(&imported, "P2").capacity, 497);
    // Every other record of the realtime document maps to an imported site.
    let realtime = fixture("datex2/parkapi-sources_aachen-realtime.xml");
    let ids = status_ids(&realtime, "parkingRecordReference");
    assert_eq!(ids.len(), 17);
    for id in ids
        .iter()
        .filter(|id| !["P13", "P17"].contains(&id.as_str()))
    {
        site(&imported, id);
    }
}

#[test]
fn friedrichshafen_sensor_table_gives_one_space_per_record() {
    let imported = read(
        &fixture("datex2/parkapi-sources_friedrichshafen-sensors-static.xml"),
        Some(SourceFormat::Datex2),
    )
    .expect("friedrichshafen");
    assert_eq!(imported.sites.len(), 55);
    let first = &imported.sites[0];
    assert_eq!(first.external_id, "PH19");
    assert_eq!(first.name.as_deref(), Some("A1225b_Metzstraße_Hsnr.1"));
    assert_eq!(
        (first.capacity, first.lat, first.lon),
        (1, Some(47.652096), Some(9.478454))
    );
    let realtime = fixture("datex2/parkapi-sources_friedrichshafen-sensors-realtime.xml");
    for id in status_ids(&realtime, "parkingRecordReference") {
        site(&imported, &id);
    }
}

#[test]
fn mdm_facility_tables_read_and_projected_coordinates_are_skipped_with_the_reason() {
    let bondorf = read(
        &fixture("datex2/parkapi-sources_vrs_bondorf-static.xml"),
        None,
    )
    .expect("bondorf");
    let p = site(&bondorf, "1035");
    assert_eq!(
        (p.name.as_deref(), p.capacity, p.lat, p.lon),
        (
            Some("P+R Bondorf"),
            314,
            Some(48.52436858335742),
            Some(8.82821456169721)
        )
    );

    // Stuttgart's table gives 48 of its 49 facilities in UTM metres (latitude 5402496
    // …), one in degrees: Neue Brücke, 150 spaces.
    let stuttgart = read(
        &fixture("datex2/parkapi-sources_stuttgart-static.xml"),
        None,
    )
    .expect("stuttgart");
    assert_eq!(stuttgart.sites.len(), 1);
    let neue_bruecke = site(&stuttgart, "78241093");
    assert_eq!(
        (neue_bruecke.name.as_deref(), neue_bruecke.capacity),
        (Some("Neue Brücke"), 150)
    );
    assert_eq!(stuttgart.skipped.len(), 48);
    let kronprinz = &stuttgart.skipped[0];
    assert_eq!(kronprinz.record, "record `12717375`");
    assert!(
        kronprinz
            .reason
            .contains("latitude 5402496.0 / longitude 512788.0 is not WGS84 degrees"),
        "{kronprinz}"
    );

    // Named as ETRS89 / UTM 32N, all are in Stuttgart (within 10 km of the Schlossplatz,
    // 48.7784 9.1800); 10 give `totalParkingCapacity` 0 (Tübinger Carre, Am Schloßplatz,
    // Stadtmitte, …) and are skipped; every other facility of the status document maps.
    let utm = read_with(
        &fixture("datex2/parkapi-sources_stuttgart-static.xml"),
        Options {
            format: None,
            utm_zone: Some(32),
        },
    )
    .expect("stuttgart in UTM 32");
    assert_eq!(utm.sites.len(), 39, "{:?}", utm.skipped);
    assert_eq!(utm.skipped.len(), 10);
    let tuebinger = &utm.skipped[0];
    assert_eq!(
        tuebinger.to_string(),
        "record `12717450`: capacity 0: a registry facility has at least one space"
    );
    for site in &utm.sites {
        let (dlat, dlon) = (
            (site.lat.unwrap_or_default() - 48.7784) * 111.2,
            (site.lon.unwrap_or_default() - 9.18) * 73.3,
        );
        assert!(dlat.hypot(dlon) < 10.0, "{site:?}");
    }
    assert_eq!(
        site(&utm, "78241093").lat,
        Some(48.775013),
        "degrees stay as they are"
    );
    let kronprinz = site(&utm, "12717375");
    assert_eq!(kronprinz.name.as_deref(), Some("Kronprinzstraße"));
    let realtime = fixture("datex2/parkapi-sources_stuttgart-realtime.xml");
    let ids = status_ids(&realtime, "parkingFacilityReference");
    assert_eq!(ids.len(), 49);
    let skipped: Vec<String> = utm
        .skipped
        .iter()
        .map(|s| {
            s.record
                .trim_start_matches("record `")
                .trim_end_matches('`')
                .to_owned()
        })
        .collect();
    for id in ids.iter().filter(|id| !skipped.contains(id)) {
        site(&utm, id);
    }
}

#[test]
fn parkapi_list_imports_the_site_with_a_uid_and_skips_the_one_without() {
    let imported =
        read(&fixture("parkapi/park-api-v3_parking-site-list.json"), None).expect("list");
    assert_eq!(imported.format, SourceFormat::ParkApi);
    assert_eq!(imported.sites.len(), 1);
    let hofdiener = &imported.sites[0];
    assert_eq!(
        (
            hofdiener.external_id.as_str(),
            hofdiener.name.as_deref(),
            hofdiener.capacity,
            hofdiener.lat,
            hofdiener.lon
        ),
        (
            "12717250",
            Some("Parkhaus Hofdiener"),
            158,
            Some(54.03005),
            Some(5.12696)
        )
    );
    assert_eq!(
        imported.skipped,
        [Skipped {
            record: "items[1]".into(),
            reason: "no id (`uid`)".into()
        }]
    );
    let item = read(&fixture("parkapi/park-api-v3_parking-site-item.json"), None).expect("item");
    assert_eq!(item.sites, imported.sites);
}

#[test]
fn ngsi_parking_entities_in_every_form_give_id_name_total_and_location() {
    for file in [
        "example.json",
        "example-normalized.json",
        "example.jsonld",
        "example-normalized.jsonld",
    ] {
        let imported = read(&fixture(&format!("fiware/OffStreetParking/{file}")), None)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(imported.format, SourceFormat::Ngsi, "{file}");
        assert_eq!(imported.sites.len(), 1, "{file}: {:?}", imported.skipped);
        let porto = &imported.sites[0];
        assert!(
            porto.external_id.ends_with("porto-ParkingLot-23889"),
            "{file}"
        );
        assert_eq!(porto.id_stem, "porto-ParkingLot-23889", "{file}");
        assert_eq!(
            (porto.capacity, porto.lat, porto.lon),
            (414, Some(41.150691773), Some(-8.60961198807)),
            "{file}"
        );
    }
    let keyvalues = read(&fixture("fiware/OffStreetParking/example.json"), None).expect("kv");
    assert_eq!(
        keyvalues.sites[0].name.as_deref(),
        Some("Parque de estacionamento Trindade")
    );

    // An on-street zone is a polygon: its position is the mean of its 4 corners.
    let zone = read(&fixture("fiware/OnStreetParking/example.json"), None).expect("zone");
    let santander = &zone.sites[0];
    assert_eq!(santander.capacity, 6);
    assert!(
        (santander.lat.unwrap_or_default() - 43.462925).abs() < 1e-5,
        "{santander:?}"
    );

    let spot = read(&fixture("fiware/ParkingSpot/example.json"), None).expect("spot");
    assert!(spot.sites.is_empty());
    assert!(spot.skipped[0].reason.contains("ParkingSpot is one space"));
}

#[test]
fn records_without_id_coordinates_or_a_whole_capacity_are_skipped_not_fatal() {
    let list = br#"[
        {"uid": "a", "name": "A", "capacity": 10, "lat": 50.1, "lon": 6.1},
        {"name": "no id", "capacity": 10, "lat": 50.1, "lon": 6.1},
        {"uid": "b", "capacity": 10},
        {"uid": "c", "capacity": "viele", "lat": 50.1, "lon": 6.1},
        {"uid": "d", "capacity": 12.5, "lat": 50.1, "lon": 6.1},
        {"uid": "a", "capacity": 3, "lat": 50.1, "lon": 6.1}
    ]"#;
    let imported = read(list, Some(SourceFormat::ParkApi)).expect("list");
    assert_eq!(imported.sites.len(), 1);
    let reasons: Vec<String> = imported.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            "items[1]: no id (`uid`)",
            "site `b`: no coordinates (latitude and longitude)",
            "site `c`: capacity `viele` (`capacity`) is not a whole number of spaces",
            "site `d`: capacity `12.5` (`capacity`) is not a whole number of spaces",
            "site `a`: id `a` again (first: site `a`)",
        ]
    );
}

#[test]
fn a_document_that_is_not_a_table_is_an_error() {
    let status = fixture("datex2/parkapi-sources_aachen-realtime.xml");
    let error = read(&status, None).expect_err("a status publication");
    assert!(
        error.to_string().contains("without parkingRecord"),
        "{error}"
    );
    assert!(read(b"id;name\n", None).is_err());
    assert!(read(b"<a><b></a>", None).is_err());
}
