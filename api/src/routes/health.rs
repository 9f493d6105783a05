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

/// `GET /readyz`: 200 while the pipeline consumes (Kafka assignment received, broker
/// reachable), else 503 with the reason.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>> {
    match (state.ready)() {
        Ok(()) => Ok(Json(json!({ "status": "ready" }))),
        Err(reason) => Err(ApiError::Unavailable(reason)),
    }
}
