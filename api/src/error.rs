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
    /// An `Accept` header asking for no media type the endpoint produces.
    #[error("{0}")]
    NotAcceptable(String),
    /// No valid API key.
    #[error("{0}")]
    Unauthorized(String),
    /// A statement the SQL door does not run (not a read-only query).
    #[error("{0}")]
    Forbidden(String),
    /// A query stopped by one of the `[sql]` limits, named in `limit`.
    #[error("{message}")]
    Limit {
        /// The config key of the limit, e.g. `sql.timeout`.
        limit: &'static str,
        /// What happened.
        message: String,
    },
    /// A pushed body larger than `push.max_body_bytes` (or than the broker takes).
    #[error("{0}")]
    TooLarge(String),
    /// A pushed body whose `Content-Type` names no format the city takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A push key over its rate (`push.rate_per_s`, `push.burst`); `Retry-After` says when.
    #[error("{message}")]
    RateLimited {
        /// What happened.
        message: String,
        /// Whole seconds until the next request is taken.
        retry_after_s: u64,
    },
    /// The broker did not take a push (down, or no acknowledgement in time); retry.
    #[error("{message}")]
    BrokerUnavailable {
        /// What happened.
        message: String,
        /// Seconds a client should wait.
        retry_after_s: u64,
    },
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
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Limit { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BrokerUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `Retry-After` of a refusal a client should retry, in seconds.
    fn retry_after_s(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_s, .. }
            | ApiError::BrokerUnavailable { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let body = match &self {
            ApiError::Limit { limit, message } => {
                serde_json::json!({ "error": message, "limit": limit })
            }
            _ => serde_json::json!({ "error": self.to_string() }),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(seconds) = self.retry_after_s() {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds.max(1)),
            );
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"stadtpuls\""),
            );
        }
        response
    }
}

impl ApiError {
    /// The status this error is answered with (the push gateway counts it).
    pub fn status_code(&self) -> StatusCode {
        self.status()
    }
}

impl From<crate::push::PushError> for ApiError {
    fn from(error: crate::push::PushError) -> Self {
        use crate::push::PushError;
        match error {
            PushError::Unparseable(message) => ApiError::BadRequest(message),
            PushError::NoTopic(message) => ApiError::UnsupportedMediaType(message),
            PushError::TooLarge(message) => ApiError::TooLarge(message),
            PushError::Unavailable(message) => ApiError::BrokerUnavailable {
                message,
                retry_after_s: 5,
            },
        }
    }
}

/// What a SQL query can fail with, in every door (HTTP, Flight SQL, CLI).
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// No API key, or one that is not configured.
    #[error("missing or unknown API key")]
    Unauthorized,
    /// Not a read-only query: DDL, DML, `COPY`, `SET`, file- or URL-reading functions.
    #[error("{0}")]
    Refused(String),
    /// SQL that does not parse or plan: a syntax error, an unknown table or column.
    #[error("{0}")]
    Invalid(String),
    /// Stopped by a `[sql]` limit; `limit` is its config key.
    #[error("{message}")]
    Limit {
        /// `sql.timeout`, `sql.memory_limit_mib` or `sql.max_rows`.
        limit: &'static str,
        /// What happened, naming the limit.
        message: String,
    },
    /// `sql.enabled = false`.
    #[error("SQL is switched off (`sql.enabled = false`)")]
    Disabled,
    /// Reading the history failed (an unreadable or corrupt file), or a bug.
    #[error("{0}")]
    Internal(String),
}

impl From<SqlError> for ApiError {
    fn from(error: SqlError) -> Self {
        match error {
            SqlError::Unauthorized => ApiError::Unauthorized(error.to_string()),
            SqlError::Refused(message) => ApiError::Forbidden(message),
            SqlError::Invalid(message) => ApiError::BadRequest(message),
            SqlError::Limit { limit, message } => ApiError::Limit { limit, message },
            SqlError::Disabled => ApiError::NotFound(error.to_string()),
            SqlError::Internal(message) => ApiError::Internal(message),
        }
    }
}

impl From<crate::history::HistoryError> for ApiError {
    fn from(error: crate::history::HistoryError) -> Self {
        use crate::history::HistoryError;
        match error {
            HistoryError::NoTable(_) => ApiError::NotFound(error.to_string()),
            HistoryError::BucketTooFine { .. } => ApiError::BadRequest(error.to_string()),
            HistoryError::Sql(sql) => sql.into(),
        }
    }
}
