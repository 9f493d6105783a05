//! Read-only and bounded: every kind of statement that is not a query is refused with
//! what it is, file- and URL-reading is refused, and queries past a limit stop with an
//! error naming the limit while the engine keeps answering.

mod sql_common;

use std::time::{Duration, Instant};

use serde_json::json;
use sql_common::Fixture;
use stadtpuls_api::SqlError;

async fn refused(fixture: &Fixture, sql: &str, needle: &str) {
    match fixture.query(sql).await {
        Err(SqlError::Refused(message)) => {
            assert!(
                message.contains(needle),
                "{sql}: `{message}` lacks `{needle}`"
            );
        }
        other => panic!("{sql}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn ddl_is_refused() {
    let fixture = Fixture::new();
    refused(&fixture, "CREATE TABLE t (a INT)", "DDL").await;
    refused(&fixture, "CREATE TABLE t AS SELECT * FROM cities", "DDL").await;
    refused(&fixture, "CREATE VIEW v AS SELECT * FROM cities", "DDL").await;
    refused(&fixture, "DROP TABLE cities", "DDL").await;
    refused(&fixture, "ALTER TABLE cities RENAME TO c", "DDL").await;
    refused(&fixture, "CREATE SCHEMA s", "DDL").await;
}

#[tokio::test]
async fn dml_is_refused() {
    let fixture = Fixture::new();
    refused(
        &fixture,
        "INSERT INTO cities VALUES ('x', 'X', 'UTC', 0, 0, false)",
        "DML",
    )
    .await;
    refused(&fixture, "UPDATE cities SET name = 'x'", "DML").await;
    refused(&fixture, "DELETE FROM traffic_1m", "DML").await;
    refused(&fixture, "TRUNCATE TABLE cities", "DML").await;
}

#[tokio::test]
async fn copy_is_refused() {
    let fixture = Fixture::new();
    refused(&fixture, "COPY cities TO '/tmp/cities.csv'", "COPY").await;
    refused(
        &fixture,
        "COPY (SELECT * FROM traffic_1m) TO '/tmp/out.parquet' STORED AS PARQUET",
        "COPY",
    )
    .await;
}

#[tokio::test]
async fn create_external_table_is_refused() {
    let fixture = Fixture::new();
    refused(
        &fixture,
        "CREATE EXTERNAL TABLE passwd (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
        "CREATE EXTERNAL TABLE",
    )
    .await;
}

#[tokio::test]
async fn set_is_refused() {
    let fixture = Fixture::new();
    refused(&fixture, "SET datafusion.execution.batch_size = 1", "SET").await;
    refused(&fixture, "SET TIME ZONE 'Europe/Berlin'", "SET").await;
    refused(&fixture, "RESET datafusion.execution.batch_size", "RESET").await;
}

#[tokio::test]
async fn file_and_url_reading_functions_are_refused() {
    let fixture = Fixture::new();
    refused(
        &fixture,
        "SELECT * FROM read_parquet('/tmp/x.parquet')",
        "read_parquet",
    )
    .await;
    refused(
        &fixture,
        "SELECT * FROM read_csv('/etc/passwd')",
        "read_csv",
    )
    .await;
    refused(
        &fixture,
        "SELECT * FROM read_json('https://example.org/x.json')",
        "read_json",
    )
    .await;
    refused(
        &fixture,
        "SELECT c.city FROM cities c WHERE c.city IN (SELECT city FROM parquet_scan('/tmp/x.parquet'))",
        "parquet_scan",
    )
    .await;
    refused(
        &fixture,
        "SELECT * FROM '/etc/passwd'",
        "reading files or URLs",
    )
    .await;
    refused(
        &fixture,
        "SELECT * FROM \"file:///etc/hosts\"",
        "reading files or URLs",
    )
    .await;
    refused(
        &fixture,
        "WITH x AS (SELECT * FROM 'data/traffic_1m/a.parquet') SELECT * FROM x",
        "reading files",
    )
    .await;
    // Generating functions read nothing and stay available.
    let series = fixture
        .rows("SELECT count(*) AS n FROM generate_series(1, 10)")
        .await;
    assert_eq!(series, [json!({"n": 10})]);
}

#[tokio::test]
async fn read_only_statements_run_and_bad_sql_is_invalid() {
    let fixture = Fixture::new();
    assert!(
        !fixture
            .rows("EXPLAIN SELECT count(*) FROM traffic_1m")
            .await
            .is_empty()
    );
    assert!(!fixture.rows("SHOW COLUMNS FROM cities").await.is_empty());
    refused(
        &fixture,
        "EXPLAIN INSERT INTO cities SELECT * FROM cities",
        "DML",
    )
    .await;
    for sql in [
        "SELEC 1",
        "SELECT 1; SELECT 2",
        "SELECT nope FROM cities",
        "SELECT * FROM no_such_table",
    ] {
        let result = fixture.query(sql).await;
        assert!(
            matches!(result, Err(SqlError::Invalid(_))),
            "{sql}: {result:?}"
        );
    }
    // Deep nesting is refused by the parser, not a stack overflow.
    let deep = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
    assert!(matches!(
        fixture.query(&deep).await,
        Err(SqlError::Invalid(_))
    ));
}

fn limit_of(result: &Result<stadtpuls_api::sql::QueryResult, SqlError>) -> Option<&'static str> {
    match result {
        Err(SqlError::Limit { limit, .. }) => Some(limit),
        _ => None,
    }
}

#[tokio::test]
async fn a_query_past_the_timeout_is_stopped() {
    let fixture = Fixture::with(|config| config.sql.timeout = Duration::from_millis(300));
    let started = Instant::now();
    let result = fixture
        .query("SELECT count(*) FROM generate_series(1, 100000000000) a")
        .await;
    assert_eq!(limit_of(&result), Some("sql.timeout"), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped late: {:?}",
        started.elapsed()
    );
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("sql.timeout"), "{message}");
    assert_eq!(fixture.rows("SELECT 1 AS one").await, [json!({"one": 1})]);
}

#[tokio::test]
async fn a_query_past_the_memory_limit_is_stopped() {
    let fixture = Fixture::with(|config| config.sql.memory_limit_bytes = 16 * 1024 * 1024);
    let result = fixture
        .query("SELECT value % 5000000 AS k, count(*) FROM generate_series(1, 20000000) GROUP BY k")
        .await;
    assert_eq!(
        limit_of(&result),
        Some("sql.memory_limit_mib"),
        "{result:?}"
    );
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("sql.memory_limit_mib"), "{message}");
    assert_eq!(fixture.rows("SELECT 1 AS one").await, [json!({"one": 1})]);
}

#[tokio::test]
async fn a_result_past_the_row_cap_is_an_error() {
    let fixture = Fixture::with(|config| config.sql.max_rows = 10);
    let result = fixture.query("SELECT * FROM generate_series(1, 11)").await;
    assert_eq!(limit_of(&result), Some("sql.max_rows"), "{result:?}");
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("more than 10 rows"), "{message}");
    assert_eq!(
        fixture
            .rows("SELECT * FROM generate_series(1, 10)")
            .await
            .len(),
        10
    );
}

#[tokio::test]
async fn queries_run_on_their_own_runtime_and_wait_for_a_slot() {
    let fixture = Fixture::with(|config| {
        config.sql.max_concurrent = 1;
        config.sql.timeout = Duration::from_millis(1500);
    });
    let engine = fixture
        .engine
        .clone()
        .with_dedicated_runtime(2)
        .expect("runtime");
    let principal = stadtpuls_api::sql::Principal::local();
    let slow = {
        let engine = engine.clone();
        let principal = principal.clone();
        tokio::spawn(async move {
            engine
                .query(
                    &principal,
                    "SELECT count(*) FROM generate_series(1, 100000000000)",
                )
                .await
        })
    };
    // Planning takes a while in a debug build: let the slow query take its slot.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    // The only slot is taken: this one waits until the slow query's timeout frees it.
    let waiting = engine.query(&principal, "SELECT 1").await;
    assert!(waiting.is_ok(), "{waiting:?}");
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "ran alongside the slow query after {:?}",
        asked.elapsed()
    );
    let slow = slow.await.expect("join");
    assert_eq!(limit_of(&slow), Some("sql.timeout"), "{slow:?}");
    let after = engine
        .query(&principal, "SELECT 1 AS one")
        .await
        .expect("slot free again");
    assert_eq!(after.num_rows(), 1);
}
