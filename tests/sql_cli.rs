//! `stadtpuls sql`, `stadtpuls key hash` and `stadtpuls config check` as a user runs
//! them: output formats, files, refusals with a non-zero exit, key hashes that match
//! `sha256sum`, and every config problem in one run.

use std::io::Write;
use std::process::{Command, Stdio};

fn stadtpuls() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stadtpuls"));
    // The demo's registries; no history directory: the history tables are empty.
    command.env("STADTPULS_HISTORY__DIR", "/nonexistent/stadtpuls-history");
    command
}

const QUERY: &str = "SELECT city, count(*) AS facilities FROM facilities WHERE city IN ('ulm', 'konstanz') GROUP BY city ORDER BY city";

#[test]
fn the_cli_prints_a_table_csv_or_json_and_writes_parquet() {
    let table = stadtpuls().args(["sql", QUERY]).output().expect("run");
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let text = String::from_utf8(table.stdout).expect("utf-8");
    assert!(text.contains("| city     | facilities |"), "{text}");
    assert!(text.trim_end().ends_with("2 rows"), "{text}");

    let csv = stadtpuls()
        .args(["sql", "--format", "csv", QUERY])
        .output()
        .expect("run");
    let csv = String::from_utf8(csv.stdout).expect("utf-8");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "city,facilities");
    assert!(
        lines[1].starts_with("konstanz,") && lines[2].starts_with("ulm,"),
        "{csv}"
    );

    let json = stadtpuls()
        .args(["sql", "-f", "json", QUERY])
        .output()
        .expect("run");
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(2));
    assert_eq!(rows[1]["city"], "ulm");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("out.parquet");
    let parquet = stadtpuls()
        .args(["sql", "--format", "parquet", "--output"])
        .arg(&file)
        .arg(QUERY)
        .output()
        .expect("run");
    assert!(
        parquet.status.success(),
        "{}",
        String::from_utf8_lossy(&parquet.stderr)
    );
    let bytes = std::fs::read(&file).expect("written");
    assert!(
        bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
        "not a Parquet file"
    );
    let no_file = stadtpuls()
        .args(["sql", "--format", "parquet", QUERY])
        .output()
        .expect("run");
    assert!(!no_file.status.success());
}

#[test]
fn refused_and_invalid_queries_fail_with_the_reason() {
    for (sql, needle) in [
        ("DELETE FROM cities", "DML"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT nope FROM cities", "nope"),
    ] {
        let output = stadtpuls().args(["sql", sql]).output().expect("run");
        assert!(!output.status.success(), "{sql}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{sql}: {stderr}");
    }
    // The history tables exist, empty, without a history directory.
    let empty = stadtpuls()
        .args(["sql", "-f", "csv", "SELECT count(*) AS n FROM traffic_1m"])
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&empty.stdout), "n\n0\n");
}

#[test]
fn with_a_key_the_cli_sees_what_the_policy_shows_that_key() {
    let cities = |extra: &[&str]| {
        let output = stadtpuls()
            .args(["sql", "-f", "csv"])
            .args(extra)
            .arg("SELECT DISTINCT city FROM cities ORDER BY city")
            .output()
            .expect("run");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).lines().count() - 1
    };
    assert_eq!(cities(&[]), 9, "the local user sees every demo city");
    // the demo's ulm key: every kind of data of ulm and of the open ettlingen (the other
    // demo cities share only their parking, and `sensors` holds both kinds)
    let output = stadtpuls()
        .args([
            "sql",
            "-f",
            "csv",
            "--key",
            stadtpuls_config::DEMO_SQL_ULM_KEY,
        ])
        .arg("SELECT DISTINCT city FROM sensors ORDER BY city")
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "city\nettlingen\nulm\n"
    );
    let output = stadtpuls()
        .args(["sql", "--key", "not-a-key", "SELECT 1"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--key is not a configured API key"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn key_hash_prints_the_sha256_of_the_key() {
    let argument = stadtpuls()
        .args(["key", "hash", "test"])
        .output()
        .expect("run");
    assert_eq!(
        String::from_utf8_lossy(&argument.stdout),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
    );
    let mut child = stadtpuls()
        .args(["key", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"stadtpuls-demo-key\n")
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "3bbcc1e0b21c3024c53c7797c765781baba5db91aa6946c6b0e733aa43c7a02f\n"
    );
}

/// Issue #12: `config check` on a file with value errors and broken registries and zone
/// files prints every problem, one per line naming file and key, then the count (before:
/// the file's two, and a CSV header lacking a column repeated on every row).
#[test]
fn config_check_prints_every_problem_of_every_file() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/tests/fixtures/invalid/all_at_once.toml"
    );
    let out = stadtpuls()
        .args(["config", "check", fixture])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    let problems: Vec<&str> = stderr.lines().filter(|l| l.contains(": `")).collect();
    assert_eq!(problems.len(), 26, "{stderr}");
    for (file, key) in [
        ("all_at_once.toml", "cities[0].timezone"),
        ("bad.csv", "row 12: lat"),
        ("bad.geojson", "features[9].properties.id"),
        ("no_facility_column.csv", "row 6: facility_id"),
    ] {
        let wanted = format!("{file}: `{key}`: ");
        assert!(stderr.contains(&wanted), "no {wanted} in:\n{stderr}");
    }
    let header: Vec<&&str> = problems
        .iter()
        .filter(|l| l.contains("no_facility_column.csv: `header`: missing column `facility_id`"))
        .collect();
    assert_eq!(header.len(), 1, "{stderr}");
    assert!(stderr.contains("26 problem(s) in"), "{stderr}");
}
