//! API errors and the one place that maps them to HTTP status codes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Result type of handlers.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// What a request can fail with; the body is always `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An unknown city, sensor or route.
    #[error("{0}")]
    NotFound(String),
    /// A query parameter that does not parse or is out of range.
    #[error("{0}")]
    BadRequest(String),
    /// The pipeline is not ready yet.
    #[error("{0}")]
    Unavailable(String),
    /// A bug; details are logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        (self.status(), body).into_response()
    }
}
