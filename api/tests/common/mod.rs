//! Helpers shared by the API tests.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use stadtpuls_api::{AppState, router};
use tower::ServiceExt;

/// GETs `uri` from the router in-process; returns the status and the JSON body (`Null` if
/// the body is not JSON).
pub async fn call(state: AppState, uri: &str) -> (StatusCode, Value) {
    let response = router(state)
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
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
