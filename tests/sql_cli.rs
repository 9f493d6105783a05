//! `stadtpuls sql` and `stadtpuls key hash` as a user runs them: output formats, files,
//! refusals with a non-zero exit, and key hashes that match `sha256sum`.

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
