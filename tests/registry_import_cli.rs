//! `stadtpuls registry import` through the real binary (no broker): a first import
//! writes the registry, a re-import of a table where one capacity changed updates that
//! row only, `--dry-run` writes nothing, skipped records are listed with their reason, a
//! document that is no table fails without touching the registry.

use std::path::Path;
use std::process::{Command, Output};

fn fixture(path: &str) -> String {
    format!(
        "{}/ingest/tests/fixtures/feeds/{path}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn import(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
        .args(["registry", "import"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run stadtpuls")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn reimport_with_one_changed_capacity_updates_that_row_and_keeps_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let aachen = fixture("datex2/parkapi-sources_aachen-static.xml");
    let args = [
        "--registry",
        "aachen.csv",
        "--city",
        "aachen",
        aachen.as_str(),
    ];
    let first = stdout(&import(dir.path(), &args));
    assert!(
        first.contains("aachen.csv: 15 added, 0 updated, 0 unchanged, 2 skipped"),
        "{first}"
    );
    let registry = dir.path().join("aachen.csv");
    let before = std::fs::read_to_string(&registry).expect("written");
    assert!(
        before.contains(
            "\naachen-p2,parking_facility,P02-Couvenstrasse,50.77744,6.0899806,,497,,P2\n"
        ),
        "{before}"
    );

    // The city republishes its table: P02-Couvenstrasse now has 510 spaces.
    let table = std::fs::read_to_string(&aachen).expect("fixture");
    let p2 = table.find("P02-Couvenstrasse").expect("P2 in the table");
    let (head, tail) = table.split_at(p2);
    let changed = format!(
        "{head}{}",
        tail.replacen(
            "parkingNumberOfSpaces>497<",
            "parkingNumberOfSpaces>510<",
            1
        )
    );
    assert_ne!(changed, table);
    std::fs::write(dir.path().join("aachen-new.xml"), changed).expect("write");
    let new_args = [
        "--registry",
        "aachen.csv",
        "--city",
        "aachen",
        "aachen-new.xml",
    ];

    let dry = stdout(&import(
        dir.path(),
        &[&new_args[..], &["--dry-run"]].concat(),
    ));
    assert!(
        dry.starts_with("dry run, nothing written: aachen.csv: 0 added, 1 updated, 14 unchanged"),
        "{dry}"
    );
    assert!(dry.contains("  ~ aachen-p2 (P2): capacity\n"), "{dry}");
    assert_eq!(std::fs::read_to_string(&registry).expect("kept"), before);

    let second = stdout(&import(dir.path(), &new_args));
    assert!(
        second.contains("0 added, 1 updated, 14 unchanged, 2 skipped"),
        "{second}"
    );
    let after = std::fs::read_to_string(&registry).expect("updated");
    assert_eq!(
        after,
        before.replace(
            "P02-Couvenstrasse,50.77744,6.0899806,,497,,P2",
            "P02-Couvenstrasse,50.77744,6.0899806,,510,,P2"
        )
    );
}

#[test]
fn parkapi_and_ngsi_imports_list_what_they_skip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parkapi = fixture("parkapi/park-api-v3_parking-site-list.json");
    let out = stdout(&import(
        dir.path(),
        &["--registry", "sites.csv", "--city", "bw", parkapi.as_str()],
    ));
    assert!(
        out.contains("1 added, 0 updated, 0 unchanged, 1 skipped (parkapi"),
        "{out}"
    );
    assert!(
        out.contains("  + bw-12717250 (12717250): Parkhaus Hofdiener, 158 spaces"),
        "{out}"
    );
    assert!(out.contains("  skipped items[1]: no id (`uid`)"), "{out}");

    // The same into a GeoJSON registry: a Point feature.
    let out = stdout(&import(
        dir.path(),
        &[
            "--registry",
            "sites.geojson",
            "--city",
            "bw",
            parkapi.as_str(),
        ],
    ));
    assert!(out.contains("1 added"), "{out}");
    let geojson = std::fs::read_to_string(dir.path().join("sites.geojson")).expect("written");
    assert!(
        geojson.contains(r#"{"geometry":{"coordinates":[5.12696,54.03005],"type":"Point"}"#),
        "{geojson}"
    );

    let ngsi = fixture("fiware/OffStreetParking/example-normalized.jsonld");
    let out = stdout(&import(
        dir.path(),
        &["--registry", "porto.csv", "--city", "porto", ngsi.as_str()],
    ));
    assert!(out.contains("1 added"), "{out}");
    let registry = std::fs::read_to_string(dir.path().join("porto.csv")).expect("written");
    assert!(
        registry.contains(
            "porto-porto-parkinglot-23889,parking_facility,Parque de estacionamento Trindade,41.150691773,-8.60961198807,,414,,urn:ngsi-ld:OffStreetParking:porto-ParkingLot-23889"
        ),
        "{registry}"
    );
}

#[test]
fn stuttgart_mdm_table_in_utm_metres_needs_its_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stuttgart = fixture("datex2/parkapi-sources_stuttgart-static.xml");
    let args = [
        "--registry",
        "s.csv",
        "--city",
        "stuttgart",
        stuttgart.as_str(),
    ];
    let out = stdout(&import(dir.path(), &[&args[..], &["--dry-run"]].concat()));
    assert!(
        out.contains("1 added, 0 updated, 0 unchanged, 48 skipped"),
        "{out}"
    );
    assert!(
        out.contains(
            "  skipped record `12717375`: latitude 5402496.0 / longitude 512788.0 is not WGS84 degrees"
        ),
        "{out}"
    );
    let out = stdout(&import(
        dir.path(),
        &[&args[..], &["--utm-zone", "32"]].concat(),
    ));
    assert!(
        out.contains("39 added, 0 updated, 0 unchanged, 10 skipped"),
        "{out}"
    );
    assert!(
        out.contains("  + stuttgart-12717375 (12717375): Kronprinzstraße, 564 spaces, 48.775"),
        "{out}"
    );
}

#[test]
fn a_status_document_is_no_table_and_leaves_the_registry_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let realtime = fixture("datex2/parkapi-sources_aachen-realtime.xml");
    let output = import(
        dir.path(),
        &[
            "--registry",
            "aachen.csv",
            "--city",
            "aachen",
            realtime.as_str(),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("without parkingRecord or parkingFacility"),
        "{stderr}"
    );
    assert!(!dir.path().join("aachen.csv").exists());
}

#[test]
fn ndw_site_table_maps_the_value_indices_of_an_existing_traffic_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = fixture("datex2/verkeersdrukte_MeasurementSiteTable.xml");
    let args = ["--registry", "nl.csv", "--city", "nl", table.as_str()];
    // A new registry: the table's only site has no position, so nothing can be written.
    let refused = import(dir.path(), &args);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("site `PZH01_MST_0629_00`") && message.contains("no position"),
        "{message}"
    );
    assert!(!dir.path().join("nl.csv").exists());

    // The row the city keeps by hand, under the site's bare id.
    let registry = dir.path().join("nl.csv");
    std::fs::write(
        &registry,
        "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
         nl-n457,traffic,N457,52.0263,4.634289,1,,,PZH01_MST_0629_00\n",
    )
    .expect("write");
    let out = stdout(&import(dir.path(), &args));
    assert!(
        out.contains("nl.csv: 0 added, 1 updated, 0 unchanged, 0 skipped (datex2 from")
            && out.contains("~ nl-n457 (PZH01_MST_0629_00): name, external_id"),
        "{out}"
    );
    let after = std::fs::read_to_string(&registry).expect("registry");
    assert!(
        after.ends_with(
            "nl-n457,traffic,N457 hmp 4.75 Re,52.0263,4.634289,1,,,\
             PZH01_MST_0629_00#1=1;PZH01_MST_0629_00#2=1;PZH01_MST_0629_00#3=1\n"
        ),
        "{after}"
    );
}
