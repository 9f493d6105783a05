//! The `regions` table through the SQL door (`POST /v1/sql`): history grouped by region
//! with `JOIN regions USING (city)`, each key summing only the cities it may see.

mod sql_common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sql_common::{ADMIN_KEY, Fixture, ULM_KEY};
use stadtpuls_api::{AppState, router};
use tower::ServiceExt;

/// `POST /v1/sql` through the router; the status and the JSON rows.
async fn sql(fixture: &Fixture, key: Option<&str>, query: &str) -> (StatusCode, Value) {
    let state = AppState::new(
        fixture.live.clone(),
        &fixture.registries,
        vec![60, 900],
        900_000,
        Arc::new(|| true),
    )
    .with_sql(fixture.engine.clone());
    let mut request = Request::post("/v1/sql").header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let body = json!({ "sql": query }).to_string();
    let response = router(state)
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn rows(answer: &Value) -> Vec<(String, f64, i64)> {
    answer
        .as_array()
        .or(answer["rows"].as_array())
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["region"].as_str().unwrap_or_default().to_owned(),
                row["vehicles"].as_f64().unwrap_or(f64::NAN),
                row["cities"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

const BY_REGION: &str = "SELECT region, sum(vehicles) AS vehicles, count(DISTINCT city) AS cities \
     FROM traffic_1m_latest JOIN regions USING (city) \
     WHERE date = '2026-11-25' GROUP BY region ORDER BY region";

#[tokio::test]
async fn history_groups_by_region_over_the_cities_a_key_sees() {
    let fixture = Fixture::new();
    // On 2026-11-25: ulm 10 + 25 vehicles (its 08:01 window re-emitted), karlsruhe,
    // heidelberg and ettlingen (open) 10 + 20 each. `network` holds all nine demo cities,
    // `karlsruhe-area` karlsruhe, ettlingen and pforzheim.
    let (status, answer) = sql(&fixture, Some(ADMIN_KEY), BY_REGION).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        rows(&answer),
        [
            ("karlsruhe-area".to_owned(), 60.0, 2),
            ("network".to_owned(), 125.0, 4),
        ]
    );
    // ulm's analyst sees ulm and the open ettlingen: karlsruhe adds nothing, anywhere.
    let (status, answer) = sql(&fixture, Some(ULM_KEY), BY_REGION).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        rows(&answer),
        [
            ("karlsruhe-area".to_owned(), 30.0, 1),
            ("network".to_owned(), 65.0, 2),
        ]
    );
    let (status, answer) = sql(&fixture, None, BY_REGION).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
}

#[tokio::test]
async fn the_regions_table_names_only_visible_member_cities() {
    let fixture = Fixture::new();
    let query = "SELECT region, region_name, city FROM regions \
                 WHERE region = 'karlsruhe-area' ORDER BY city";
    let (status, answer) = sql(&fixture, Some(ULM_KEY), query).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let cities: Vec<&str> = answer
        .as_array()
        .or(answer["rows"].as_array())
        .expect("rows")
        .iter()
        .filter_map(|row| row["city"].as_str())
        .collect();
    assert_eq!(cities, ["ettlingen"], "{answer}");
    let (_, answer) = sql(&fixture, Some(ADMIN_KEY), query).await;
    assert_eq!(answer["rows"].as_array().map(Vec::len), Some(3), "{answer}");
    assert_eq!(
        answer["rows"][0]["region_name"],
        "Karlsruhe, Ettlingen and Pforzheim"
    );
}

/// `facilities.kind` follows the regional views' rule: Karlsruhe's two P+R sites (named
/// so in the demo registry) are `park_and_ride`, so "free P+R spaces by region" needs no
/// `LIKE` on names.
#[tokio::test]
async fn facilities_carry_the_regional_kind() {
    let fixture = Fixture::new();
    let (status, answer) = sql(
        &fixture,
        Some(ADMIN_KEY),
        "SELECT facility_id FROM facilities WHERE city = 'karlsruhe' AND kind = 'park_and_ride' \
         ORDER BY facility_id",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let ids: Vec<&str> = answer
        .as_array()
        .or(answer["rows"].as_array())
        .expect("rows")
        .iter()
        .filter_map(|row| row["facility_id"].as_str())
        .collect();
    assert_eq!(ids, ["karlsruhe-p-06", "karlsruhe-p-07"], "{answer}");
    let (status, answer) = sql(
        &fixture,
        Some(ADMIN_KEY),
        "SELECT count(*) AS n FROM facilities WHERE kind NOT IN ('car_park', 'park_and_ride', 'on_street')",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.to_string().contains("\"n\":0"), "{answer}");
}
