//! Config fixtures: every `fixtures/valid/*.toml` loads with its registries and zone
//! files, and every `fixtures/invalid/*.toml` fails with the keys its `# expect: <key>`
//! lines name (the first line always is one).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use stadtpuls_config::{Config, ConfigErrors};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    paths
}

fn expected_keys(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).expect("fixture is readable");
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("# expect: "),
        "{}: first line must be `# expect: <key>`",
        path.display()
    );
    text.lines()
        .filter_map(|line| line.strip_prefix("# expect: "))
        .map(|key| key.trim().to_owned())
        .collect()
}

/// Checks the config with its registries and zones as `stadtpuls config check` does:
/// every problem of every file at once.
fn load_all(path: &Path) -> Result<(), ConfigErrors> {
    Config::check(path, &HashMap::new()).map(|_| ())
}

#[test]
fn valid_fixtures_load_with_their_registries() {
    for path in fixtures("valid") {
        if let Err(errors) = load_all(&path) {
            panic!("{} should load:\n{errors}", path.display());
        }
    }
}

#[test]
fn invalid_fixtures_report_the_expected_keys() {
    for path in fixtures("invalid") {
        let expected = expected_keys(&path);
        let errors = match load_all(&path) {
            Ok(()) => panic!("{} should fail with {expected:?}", path.display()),
            Err(errors) => errors,
        };
        for key in &expected {
            assert!(
                errors.has_key(key),
                "{}: no error at `{key}`, got:\n{errors}",
                path.display()
            );
        }
        for error in &errors {
            assert!(!error.message.is_empty(), "{error:?}");
            assert!(!error.message.ends_with('.'), "trailing period: {error}");
            assert!(
                !error.message.starts_with(char::is_uppercase),
                "capitalised: {error}"
            );
        }
    }
}

#[test]
fn invalid_config_errors_name_the_fixture_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/timezone.toml");
    let errors = Config::load(&path, &HashMap::new()).expect_err("timezone fixture is invalid");
    assert_eq!(errors.len(), 1, "{errors}");
    let error = &errors.0[0];
    assert_eq!(error.file, path);
    assert!(error.message.contains("Europe/Neu_Ulm"), "{error}");
}

#[test]
fn bad_registry_reports_every_row_at_once_and_names_the_csv() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/bad_registry.toml");
    let config = Config::load(&path, &HashMap::new()).expect("the config part is valid");
    let errors = config.load_registries().expect_err("bad.csv is invalid");
    assert_eq!(errors.len(), expected_keys(&path).len(), "{errors}");
    assert!(
        errors
            .iter()
            .all(|error| error.file.ends_with("registries/bad.csv")),
        "{errors}"
    );
    let swapped = errors
        .iter()
        .find(|error| error.key == "row 2: lat")
        .map(|error| error.message.as_str());
    assert!(
        swapped.is_some_and(|message| message.contains("swapped")),
        "{errors}"
    );
}

#[test]
fn bad_zones_report_every_feature_at_once_and_name_the_geojson() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/bad_zones.toml");
    let config = Config::load(&path, &HashMap::new()).expect("the config part is valid");
    let errors = config.load_zones().expect_err("bad.geojson is invalid");
    assert_eq!(errors.len(), expected_keys(&path).len(), "{errors}");
    assert!(
        errors
            .iter()
            .all(|error| error.file.ends_with("zones/bad.geojson")),
        "{errors}"
    );
    let message = |key: &str| {
        errors
            .iter()
            .find(|error| error.key == key)
            .map_or("", |error| error.message.as_str())
    };
    assert!(
        message("features[6].geometry.coordinates[0][0]").contains("swapped"),
        "{errors}"
    );
    assert!(
        message("features[6].geometry.coordinates[0][0]").contains("and 3 more positions"),
        "{errors}"
    );
    assert!(
        message("features[2].properties.id").contains("first used at features[0]"),
        "{errors}"
    );
    assert!(
        message("features[4].geometry.coordinates[0]").contains("not closed"),
        "{errors}"
    );
}

#[test]
fn full_fixture_zones_keep_holes_and_multipolygons() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid/full.toml");
    let config = Config::load(&path, &HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    let zones = config
        .load_zones()
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(zones.len(), 2);
    assert_eq!(zones[0].city, "ulm");
    let ids: Vec<&str> = zones[0].zones.iter().map(|zone| zone.id.as_str()).collect();
    assert_eq!(ids, ["ulm-mitte", "ulm-pz-pr"]);
    assert_eq!(zones[0].zones[0].polygons[0].holes.len(), 1);
    assert_eq!(zones[0].zones[1].polygons.len(), 2);
    assert!(zones[1].zones.is_empty(), "konstanz configures no zones");
}

#[test]
fn syntax_error_has_line_and_column() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/syntax.toml");
    let errors = Config::load(&path, &HashMap::new()).expect_err("syntax fixture is invalid");
    assert!(
        errors
            .iter()
            .any(|error| error.message.contains("(line 3, column")),
        "{errors}"
    );
}

/// Issue #12: one check reports the file's value errors and every problem of every
/// registry and zone file (before: the first file problem alone, 1 of all), and a CSV
/// header lacking a column once, not once per row.
#[test]
fn every_problem_of_every_file_is_reported_at_once() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/all_at_once.toml");
    let errors = match Config::check(&path, &HashMap::new()) {
        Ok(_) => panic!("all_at_once.toml must fail"),
        Err(errors) => errors,
    };
    let in_file = |name: &str| errors.iter().filter(|e| e.file.ends_with(name)).count();
    assert_eq!(in_file("all_at_once.toml"), 2, "{errors}");
    assert_eq!(in_file("bad.csv"), 11, "every row of bad.csv:\n{errors}");
    assert_eq!(
        in_file("bad.geojson"),
        10,
        "every feature of bad.geojson:\n{errors}"
    );
    assert_eq!(in_file("no_facility_column.csv"), 3, "{errors}");
    let header: Vec<&str> = errors
        .iter()
        .filter(|e| e.file.ends_with("no_facility_column.csv") && e.key == "header")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(
        header,
        [
            "missing column `facility_id`: rows 2–6 have 9 fields, the header names 8 \
          (add it to the header; the rows were checked as if it were there)"
        ]
    );
    assert!(
        !errors.to_string().contains("but the header has"),
        "no per-row repetition:\n{errors}"
    );
    // the run path still stops at the file's own problems
    let loaded = Config::load(&path, &HashMap::new())
        .map(|_| ())
        .unwrap_err();
    assert_eq!(loaded.len(), 2, "{loaded}");
}
