//! `POST /v1/sql`: JSON, CSV and Arrow IPC answers of the same rows, and JSON error bodies
//! with 401, 403, 400, 406 and 422.

mod sql_common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use datafusion::arrow::ipc::reader::StreamReader;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sql_common::{Fixture, ULM_KEY, json_rows};
use stadtpuls_api::sql::QueryResult;
use stadtpuls_api::{AppState, router};
use tower::ServiceExt;

fn state(fixture: &Fixture) -> AppState {
    AppState::new(
        fixture.live.clone(),
        &fixture.registries,
        vec![60, 900],
        900_000,
        Arc::new(|| true),
    )
    .with_sql(fixture.engine.clone())
}

struct Answer {
    status: StatusCode,
    content_type: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn post(state: AppState, key: Option<&str>, accept: Option<&str>, body: &str) -> Answer {
    let mut request = Request::post("/v1/sql").header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = router(state)
        .oneshot(request.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        content_type,
        headers,
        body,
    }
}

fn sql_body(sql: &str) -> String {
    json!({ "sql": sql }).to_string()
}

const QUERY: &str = "SELECT city, sensor_id, window_start, vehicles, speed_space_mean_kmh FROM traffic_1m_latest ORDER BY city, window_start";

#[tokio::test]
async fn json_csv_and_arrow_carry_the_same_rows() {
    let fixture = Fixture::new();
    let state = state(&fixture);

    let json_answer = post(state.clone(), Some(ULM_KEY), None, &sql_body(QUERY)).await;
    assert_eq!(json_answer.status, StatusCode::OK);
    assert_eq!(json_answer.content_type, "application/json");
    let body = json_answer.json();
    let columns: Vec<&str> = body["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "city",
            "sensor_id",
            "window_start",
            "vehicles",
            "speed_space_mean_kmh"
        ]
    );
    assert_eq!(body["columns"][2]["type"], "Timestamp(ms, \"UTC\")");
    let rows = body["rows"].as_array().expect("rows").clone();
    assert_eq!(body["row_count"], rows.len());
    // ulm: 2 + 2 latest windows, ettlingen (open): 2.
    assert_eq!(rows.len(), 6);

    let arrow = post(
        state.clone(),
        Some(ULM_KEY),
        Some("application/vnd.apache.arrow.stream"),
        &sql_body(QUERY),
    )
    .await;
    assert_eq!(arrow.status, StatusCode::OK);
    assert_eq!(arrow.content_type, "application/vnd.apache.arrow.stream");
    let reader =
        StreamReader::try_new(std::io::Cursor::new(arrow.body), None).expect("arrow stream");
    let schema = reader.schema();
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    let decoded = QueryResult { schema, batches };
    assert_eq!(json_rows(&decoded), rows);

    let csv = post(state, Some(ULM_KEY), Some("text/csv"), &sql_body(QUERY)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.content_type.starts_with("text/csv"),
        "{}",
        csv.content_type
    );
    let text = String::from_utf8(csv.body).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "city,sensor_id,window_start,vehicles,speed_space_mean_kmh"
    );
    assert_eq!(lines.len(), rows.len() + 1);
    for (line, row) in lines[1..].iter().zip(&rows) {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[0], row["city"]);
        assert_eq!(fields[1], row["sensor_id"]);
        assert_eq!(fields[3], row["vehicles"].to_string());
    }
}

#[tokio::test]
async fn requests_without_a_valid_key_get_401() {
    let fixture = Fixture::new();
    for key in [None, Some("wrong")] {
        let answer = post(state(&fixture), key, None, &sql_body("SELECT 1")).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            answer.json(),
            json!({"error": "missing or unknown API key"})
        );
        assert!(answer.headers.get(header::WWW_AUTHENTICATE).is_some());
    }
}

#[tokio::test]
async fn refused_invalid_and_limited_queries_get_json_errors() {
    let fixture = Fixture::with(|config| {
        config.sql.max_rows = 5;
        config.sql.timeout = Duration::from_secs(10);
    });
    let cases = [
        ("DROP TABLE cities", StatusCode::FORBIDDEN, "DDL"),
        (
            "SELECT * FROM read_parquet('/etc/passwd')",
            StatusCode::FORBIDDEN,
            "read_parquet",
        ),
        ("SELECT nope FROM cities", StatusCode::BAD_REQUEST, "nope"),
        (
            "SELECT * FROM generate_series(1, 100)",
            StatusCode::UNPROCESSABLE_ENTITY,
            "sql.max_rows",
        ),
    ];
    for (sql, status, needle) in cases {
        let answer = post(state(&fixture), Some(ULM_KEY), None, &sql_body(sql)).await;
        assert_eq!(answer.status, status, "{sql}");
        assert_eq!(answer.content_type, "application/json", "{sql}");
        let message = answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(needle), "{sql}: {message}");
    }
    let limited = post(
        state(&fixture),
        Some(ULM_KEY),
        None,
        &sql_body("SELECT * FROM generate_series(1, 100)"),
    )
    .await;
    assert_eq!(limited.json()["limit"], "sql.max_rows");
    let bad_body = post(state(&fixture), Some(ULM_KEY), None, "SELECT 1").await;
    assert_eq!(bad_body.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_body.json()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("{\"sql\"")
    );
    let unacceptable = post(
        state(&fixture),
        Some(ULM_KEY),
        Some("application/xml"),
        &sql_body("SELECT 1"),
    )
    .await;
    assert_eq!(unacceptable.status, StatusCode::NOT_ACCEPTABLE);
    // Still answering.
    let ok = post(
        state(&fixture),
        Some(ULM_KEY),
        None,
        &sql_body("SELECT 1 AS one"),
    )
    .await;
    assert_eq!(ok.json()["rows"], json!([{"one": 1}]));
}

#[tokio::test]
async fn without_an_engine_the_endpoint_is_absent() {
    let fixture = Fixture::new();
    let state = AppState::new(
        fixture.live.clone(),
        &fixture.registries,
        vec![60],
        900_000,
        Arc::new(|| true),
    );
    let answer = post(state, Some(ULM_KEY), None, &sql_body("SELECT 1")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_openapi_description_has_the_sql_endpoint() {
    let spec: Value = serde_json::from_str(stadtpuls_api::OPENAPI).expect("openapi");
    let post = &spec["paths"]["/v1/sql"]["post"];
    assert!(post["requestBody"]["content"]["application/json"].is_object());
    for status in ["200", "400", "401", "403", "406", "422"] {
        assert!(post["responses"][status].is_object(), "{status}");
    }
    assert!(spec["components"]["schemas"]["SqlResult"].is_object());
}
