//! HTTP metrics and the Prometheus `/metrics` endpoint.

use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramVec, IntCounterVec, IntGaugeVec, TextEncoder, register_histogram_vec,
    register_int_counter_vec, register_int_gauge_vec,
};

/// Request latency by method, matched route (not raw path: bounded cardinality) and status.
pub static REQUEST_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "stadtpuls_api_request_duration_seconds",
        "HTTP request latency",
        &["method", "route", "status"],
        vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0
        ]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_api_request_duration_seconds: {e}"))
});

/// Middleware recording [`REQUEST_DURATION`].
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    REQUEST_DURATION
        .with_label_values(&[&method, &route, response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Push gateway requests by city (configured ids, else `unknown`), format (or `unknown`)
/// and status code: what a partner sent and how it was answered.
pub static PUSH_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "stadtpuls_push_requests_total",
        "Push gateway requests by city, format and status",
        &["city", "format", "status"]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_push_requests_total: {e}"))
});

/// Body bytes the push gateway handed to the broker (answered 202), by city and format.
pub static PUSH_BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "stadtpuls_push_body_bytes_total",
        "Body bytes accepted by the push gateway, by city and format",
        &["city", "format"]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_push_body_bytes_total: {e}"))
});

/// Client connections open, by listener (`server`: `api`, `flight`); the two share the
/// `api.max_connections` budget (`edge.rs`).
pub static HTTP_CONNECTIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "stadtpuls_http_connections",
        "Client connections open, by listener",
        &["server"]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_http_connections: {e}"))
});

/// Connections accepted and closed at once because `api.max_connections` were open.
pub static HTTP_CONNECTIONS_REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "stadtpuls_http_connections_refused_total",
        "Connections closed at once because api.max_connections were open",
        &["server"]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_http_connections_refused_total: {e}"))
});

/// Connections closed because no complete request head (API) or HTTP/2 preface (Flight
/// SQL) arrived within `api.header_read_timeout`: a half-sent request, or (API) a
/// keep-alive connection idle that long.
pub static HTTP_CONNECTIONS_TIMED_OUT: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "stadtpuls_http_connections_timed_out_total",
        "Connections closed because no request head arrived within api.header_read_timeout",
        &["server"]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_http_connections_timed_out_total: {e}"))
});

/// Makes the connection metrics of `server` visible at `/metrics` before the first event.
pub fn register_server(server: &str) {
    HTTP_CONNECTIONS.with_label_values(&[server]);
    HTTP_CONNECTIONS_REFUSED.with_label_values(&[server]);
    HTTP_CONNECTIONS_TIMED_OUT.with_label_values(&[server]);
}

/// `GET /metrics`: every metric of the process in the Prometheus text format.
pub async fn metrics() -> Response {
    LazyLock::force(&REQUEST_DURATION);
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(e) = encoder.encode(&prometheus::gather(), &mut body) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    (
        [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
        body,
    )
        .into_response()
}

/// SQL queries by outcome: `ok`, `refused`, `invalid`, `unauthorized`, `timeout`,
/// `memory`, `max_rows`, `disabled`, `error`.
pub static SQL_QUERIES: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "stadtpuls_sql_queries_total",
        "SQL queries by outcome",
        &["outcome"]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_sql_queries_total: {e}"))
});

/// SQL query duration (parse to last row), by outcome.
pub static SQL_QUERY_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "stadtpuls_sql_query_duration_seconds",
        "SQL query duration from parsing to the last row",
        &["outcome"],
        vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_sql_query_duration_seconds: {e}"))
});

/// Makes the SQL metrics visible at `/metrics` before the first query.
pub fn register() {
    LazyLock::force(&SQL_QUERIES);
    LazyLock::force(&SQL_QUERY_DURATION);
}

/// Records one finished query.
pub fn record_sql<T>(result: &Result<T, crate::error::SqlError>, elapsed: std::time::Duration) {
    use crate::error::SqlError;
    let outcome = match result {
        Ok(_) => "ok",
        Err(SqlError::Refused(_)) => "refused",
        Err(SqlError::Invalid(_)) => "invalid",
        Err(SqlError::Unauthorized) => "unauthorized",
        Err(SqlError::Limit { limit, .. }) => match *limit {
            crate::sql::limits::TIMEOUT_KEY => "timeout",
            crate::sql::limits::MEMORY_KEY => "memory",
            _ => "max_rows",
        },
        Err(SqlError::Disabled) => "disabled",
        Err(SqlError::Internal(_)) => "error",
    };
    SQL_QUERIES.with_label_values(&[outcome]).inc();
    SQL_QUERY_DURATION
        .with_label_values(&[outcome])
        .observe(elapsed.as_secs_f64());
}

/// Subscribers of `GET /v1/stream` connected and not cut off.
pub static SSE_CLIENTS: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "stadtpuls_sse_clients",
        "Subscribers of the push stream connected and not cut off"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_sse_clients: {e}"))
});

/// Subscribers cut off, by reason: `slow_client` (its queue overflowed), `server_lagged`
/// (the dispatcher fell behind the ring), `shutdown`.
pub static SSE_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "stadtpuls_sse_dropped_total",
        "Push stream subscribers cut off, by reason",
        &["reason"]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_sse_dropped_total: {e}"))
});

/// Events handed to subscribers' connections, by kind (`traffic`, `parking`, `feed`).
pub static SSE_EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "stadtpuls_sse_events_total",
        "Push stream events written to subscribers, by kind",
        &["kind"]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_sse_events_total: {e}"))
});

/// Events dropped from the stream's ring before the dispatcher read them (it fell
/// behind the pipeline; every subscriber is then cut off with `server_lagged`).
pub static SSE_RING_OVERWRITTEN: LazyLock<prometheus::IntCounter> = LazyLock::new(|| {
    prometheus::register_int_counter!(
        "stadtpuls_sse_ring_overwritten_total",
        "Push stream events dropped from the ring before dispatch"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_sse_ring_overwritten_total: {e}"))
});

/// Makes the push stream's metrics visible at `/metrics` before the first subscriber.
pub fn register_stream() {
    LazyLock::force(&SSE_CLIENTS);
    LazyLock::force(&SSE_RING_OVERWRITTEN);
    for reason in ["slow_client", "server_lagged", "shutdown"] {
        SSE_DROPPED.with_label_values(&[reason]);
    }
    for kind in ["traffic", "parking", "feed"] {
        SSE_EVENTS.with_label_values(&[kind]);
    }
}
