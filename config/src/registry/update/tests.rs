use std::collections::HashSet;
use std::path::Path;

use super::*;

fn site(external_id: &str, name: &str, capacity: u32, lat: f64, lon: f64) -> ImportedSite {
    ImportedSite {
        external_id: external_id.to_owned(),
        id_stem: external_id.to_owned(),
        name: Some(name.to_owned()),
        capacity,
        lat: Some(lat),
        lon: Some(lon),
        traffic: None,
    }
}

const FILE: &str = "aachen.csv";

#[test]
fn a_new_registry_gets_a_header_and_one_facility_row_per_site() {
    let sites = [
        site("P1", "P01-Eurogress", 560, 50.780552, 6.0927987),
        site("P2", "P02-Couvenstrasse", 497, 50.77744, 6.0899806),
    ];
    let update = update_registry(Path::new(FILE), None, "aachen", &sites).expect("update");
    assert_eq!(
        update.text,
        "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
         aachen-p1,parking_facility,P01-Eurogress,50.780552,6.0927987,,560,,P1\n\
         aachen-p2,parking_facility,P02-Couvenstrasse,50.77744,6.0899806,,497,,P2\n"
    );
    assert_eq!(update.changes.len(), 2);
    assert_eq!(update.unchanged, 0);
}

#[test]
fn reimport_updates_the_matched_row_only_and_leaves_every_other_byte() {
    // A hand-kept registry: CRLF endings, a traffic sensor, a quoted name, a row with
    // two external ids, an extra column order.
    let existing = "id,kind,name,lat,lon,lanes,capacity,facility_id,site_class,external_id\r\n\
                    ac-t-1,traffic,\"Wilhelmstraße, Nord\",50.7701,6.0901,2,,,,\r\n\
                    garage-eurogress,parking_facility,Eurogress,50.780552,6.0927987,,560,,,legacy-7;P1\r\n\
                    aachen-p2,parking_facility,P02-Couvenstrasse,50.77744,6.0899806,,497,,,P2\r\n";
    let sites = [
        site("P1", "Eurogress", 600, 50.780552, 6.0927987),
        site("P2", "P02-Couvenstrasse", 497, 50.77744, 6.0899806),
        site("P3", "P03-Adalbertstrasse", 186, 50.775692, 6.090405),
    ];
    let update =
        update_registry(Path::new(FILE), Some(existing), "aachen", &sites).expect("update");
    assert_eq!(
        update.text,
        "id,kind,name,lat,lon,lanes,capacity,facility_id,site_class,external_id\r\n\
         ac-t-1,traffic,\"Wilhelmstraße, Nord\",50.7701,6.0901,2,,,,\r\n\
         garage-eurogress,parking_facility,Eurogress,50.780552,6.0927987,,600,,,legacy-7;P1\r\n\
         aachen-p2,parking_facility,P02-Couvenstrasse,50.77744,6.0899806,,497,,,P2\r\n\
         aachen-p3,parking_facility,P03-Adalbertstrasse,50.775692,6.090405,,186,,,P3\r\n"
    );
    assert_eq!(
        update.changes,
        [
            RegistryChange::Updated {
                id: "garage-eurogress".into(),
                external_id: "P1".into(),
                fields: vec!["capacity"],
            },
            RegistryChange::Added {
                id: "aachen-p3".into(),
                external_id: "P3".into(),
            },
        ]
    );
    assert_eq!(update.unchanged, 1);

    // The same import again changes nothing.
    let again =
        update_registry(Path::new(FILE), Some(&update.text), "aachen", &sites).expect("again");
    assert_eq!(again.text, update.text);
    assert!(again.changes.is_empty());
    assert_eq!(again.unchanged, 3);
}

#[test]
fn generated_ids_are_slugs_of_the_stem_and_avoid_taken_ones() {
    let mut taken = HashSet::new();
    assert_eq!(
        generated_id("vrs", "1035[P+R Bondorf]", &taken),
        "vrs-1035-p-r-bondorf"
    );
    assert_eq!(generated_id("x", "¿?", &taken), "x-site");
    taken.insert("aachen-p1".to_owned());
    taken.insert("aachen-p1-2".to_owned());
    assert_eq!(generated_id("aachen", "P1", &taken), "aachen-p1-3");
    let long = "a".repeat(300);
    assert!(generated_id("c", &long, &taken).len() <= 128);
}

#[test]
fn a_registry_without_the_columns_the_import_writes_is_refused() {
    let existing = "id,kind,lat,lon,capacity\nx,parking_facility,50.7,6.0,10\n";
    let error = update_registry(Path::new(FILE), Some(existing), "aachen", &[])
        .expect_err("no name column");
    assert!(error.to_string().contains("lacks column `name`"), "{error}");
    let error = update_registry(Path::new("a.txt"), None, "aachen", &[]).expect_err("txt");
    assert!(matches!(error, RegistryUpdateError::UnknownFormat(_)));
}

#[test]
fn an_import_that_would_break_the_registry_writes_nothing() {
    // The site's external id is already another row's registry id: the duplicate
    // is reported by the same validation as `stadtpuls config check`.
    let existing = "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
                    aachen-p1,parking_facility,Old,50.78,6.09,,10,,\n";
    let sites = [site("P-1", "New", 20, 50.78, 6.09)];
    // `P-1` slugs to `p-1`, not taken: fine.
    assert!(update_registry(Path::new(FILE), Some(existing), "aachen", &sites).is_ok());
    let spot = "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
                s1,parking_spot,Bay,50.78,6.09,,,nowhere,\n";
    let error = update_registry(Path::new(FILE), Some(spot), "aachen", &sites)
        .expect_err("the existing spot names an unknown facility");
    assert!(error.to_string().contains("unknown facility"), "{error}");
}

#[test]
fn a_new_geojson_registry_gets_one_point_feature_per_site() {
    let sites = [site("P1", "P01-Eurogress", 560, 50.780552, 6.0927987)];
    let update =
        update_registry(Path::new("aachen.geojson"), None, "aachen", &sites).expect("update");
    assert_eq!(
        update.text,
        "{\"type\": \"FeatureCollection\", \"features\": [\n\
         {\"geometry\":{\"coordinates\":[6.0927987,50.780552],\"type\":\"Point\"},\
         \"properties\":{\"capacity\":560,\"external_id\":\"P1\",\"id\":\"aachen-p1\",\
         \"kind\":\"parking_facility\",\"name\":\"P01-Eurogress\"},\"type\":\"Feature\"}\n]}\n"
    );
}

#[test]
fn geojson_reimport_replaces_the_matched_feature_only() {
    let existing = r#"{
  "type": "FeatureCollection",
  "name": "Aachen, hand-kept",
  "features": [
    { "type": "Feature", "geometry": { "type": "Point", "coordinates": [6.0901, 50.7701] },
      "properties": { "id": "ac-t-1", "kind": "traffic", "lanes": 2 } },
    { "type": "Feature", "geometry": { "type": "Point", "coordinates": [6.0927987, 50.780552] },
      "properties": { "id": "garage", "kind": "parking_facility", "name": "Eurogress",
                      "capacity": 560, "external_id": "P1" } }
  ]
}
"#;
    let sites = [
        site("P1", "Eurogress", 600, 50.780552, 6.0927987),
        site("P3", "P03-Adalbertstrasse", 186, 50.775692, 6.090405),
    ];
    let update = update_registry(
        Path::new("aachen.geojson"),
        Some(existing),
        "aachen",
        &sites,
    )
    .expect("update");
    let garage = existing
        .find(r#"{ "type": "Feature", "geometry": { "type": "Point", "coordinates": [6.0927987"#)
        .expect("garage feature");
    // Everything before the changed feature is the same bytes.
    assert_eq!(update.text[..garage], existing[..garage]);
    assert!(
        update
            .text
            .contains(r#""capacity":600,"external_id":"P1","id":"garage""#),
        "{}",
        update.text
    );
    assert!(update.text.ends_with("\n  ]\n}\n"), "{}", update.text);
    assert!(
        update.text.contains(r#""id":"aachen-p3""#),
        "{}",
        update.text
    );
    assert_eq!(
        update.changes[0],
        RegistryChange::Updated {
            id: "garage".into(),
            external_id: "P1".into(),
            fields: vec!["capacity"],
        }
    );
    let again = update_registry(
        Path::new("aachen.geojson"),
        Some(&update.text),
        "aachen",
        &sites,
    )
    .expect("again");
    assert_eq!(again.text, update.text);
    assert_eq!(again.unchanged, 2);
}
