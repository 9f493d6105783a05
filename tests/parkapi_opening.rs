//! The ParkAPI v3 output's `realtime_opening_status` for each opening state, fresh, as
//! parkapi-sources' own validators take it (the end-to-end output test, `e2e_outputs.rs`,
//! sees only stale readings): a car park its operator closed is `CLOSED` with no free
//! space, one whose operator does not know is `UNKNOWN`, an open one `OPEN`.

#[path = "support/pyvenv.rs"]
mod pyvenv;

use std::path::Path;
use std::process::Command;

use stadtpuls_processing::model::parking::OpeningStatus;
use stadtpuls_processing::publish::parkapi::{parking_site, parking_sites};
use stadtpuls_processing::publish::{Publication, PublishedFacility};
use stadtpuls_processing::window::parking::FacilityLive;

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;

#[test]
fn parkapi_sources_accepts_each_opening_status() {
    let python = pyvenv::python_with(
        "parkapi_sources.models, validataclass",
        &["parkapi-sources==0.24.0", "validataclass==0.11.0"],
    );
    let publication = Publication {
        city: "ulm",
        published_at: NOW,
        static_since: NOW - 86_400_000,
        stale_after_ms: 900_000,
    };
    let level = |opening| FacilityLive::new(30, Some(200), NOW - 60_000).with_opening(opening);
    let facility = |id, level| PublishedFacility {
        id,
        name: Some("Parkhaus"),
        lat: 48.3968,
        lon: 9.9925,
        capacity: Some(200),
        on_street: false,
        level: Some(level),
    };
    let facilities = [
        facility("open", level(Some(OpeningStatus::Open))),
        facility("closed", level(Some(OpeningStatus::Closed))),
        facility("unknown", level(Some(OpeningStatus::Unknown))),
        facility("unstated", level(None)),
    ];
    let list = serde_json::to_vec(&parking_sites(&publication, &facilities)).expect("JSON");
    let item = serde_json::to_vec(&parking_site(&publication, &facilities[1])).expect("JSON");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("list.json"), &list).expect("write list");
    std::fs::write(dir.path().join("item.json"), &item).expect("write item");
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parkapi_validate.py"))
        .arg(dir.path().join("list.json"))
        .arg(dir.path().join("item.json"))
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "parkapi-sources refused: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&list)
    );
    // uid, free, capacity, opening status, time: as parkapi-sources parsed them.
    let at = "2026-11-24T00:59:00+00:00";
    for line in [
        format!("open 30 200 OPEN {at}"),
        format!("closed 0 200 CLOSED {at}"),
        format!("unknown 30 200 UNKNOWN {at}"),
        format!("unstated 30 200 OPEN {at}"),
    ] {
        assert!(stdout.contains(&line), "{line} in {stdout}");
    }
}
