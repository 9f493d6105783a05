//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::error::{ApiError, Result};
use crate::state::AppState;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 once the pipeline consumes (Kafka assignment received), else 503.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>> {
    if (state.ready)() {
        Ok(Json(json!({ "status": "ready" })))
    } else {
        Err(ApiError::Unavailable(
            "pipeline has no partition assignment yet".into(),
        ))
    }
}
