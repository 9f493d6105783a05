//! The Parquet history read back as an analyst would: DuckDB from the PyPI venv of
//! `tests/support/pyvenv.rs` (`~/.cache/stadtpuls-pytest/venv` or
//! `$STADTPULS_PYTEST_VENV`, created on first use), through `tests/demo_history_read.py`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Latest rows per (entity, window start ms) of one table.
pub type Latest = BTreeMap<(String, i64), Value>;

/// The history's latest revision per window of `city`, keyed by (entity, window start ms).
pub fn read_history(root: &Path, city: &str) -> BTreeMap<String, Latest> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/demo_history_read.py");
    let output = Command::new(super::pyvenv::python_duckdb())
        .arg(script)
        .arg(root)
        .arg(city)
        .output()
        .expect("run demo_history_read.py");
    assert!(
        output.status.success(),
        "demo_history_read.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).expect("reader JSON");
    let mut tables = BTreeMap::new();
    for (table, key) in [("traffic_1m", "sensor_id"), ("parking_1m", "facility_id")] {
        let mut rows = BTreeMap::new();
        for row in json[table].as_array().expect("rows") {
            let id = row[key].as_str().expect("entity id").to_owned();
            let start = row["window_start_ms"].as_i64().expect("window start");
            let previous = rows.insert((id.clone(), start), row.clone());
            assert!(previous.is_none(), "two latest rows for {id} at {start}");
        }
        tables.insert(table.to_owned(), rows);
    }
    tables
}

/// Every row of `city` in `table`, revisions included.
pub fn all_rows(root: &Path, city: &str, table: &str) -> u64 {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/demo_history_read.py");
    let output = Command::new(super::pyvenv::python_duckdb())
        .arg(script)
        .arg(root)
        .arg(city)
        .output()
        .expect("run demo_history_read.py");
    assert!(output.status.success(), "demo_history_read.py failed");
    let json: Value = serde_json::from_slice(&output.stdout).expect("reader JSON");
    json["rows"][table].as_u64().expect("row count")
}
