//! The Stadtpuls HTTP API: live traffic and parking metrics as JSON, health and Prometheus,
//! and SQL for analysts ([`sql`]: `POST /v1/sql` and Arrow Flight SQL).
//!
//! [`router`] builds the whole API from an [`AppState`]; it is tested with in-process
//! requests, and [`serve`] binds it to a socket, within the bounds of [`edge`] (header
//! read timeout, connection budget, bounded drain at shutdown). Status codes are chosen only in
//! [`error`]. The routes and their fields are described in `docs/openapi.json`, served at
//! `/openapi.json`.

pub mod access;
pub mod edge;
pub mod error;
pub mod history;
pub mod map;
pub mod metrics;
pub mod push;
pub mod routes;
pub mod sql;
pub mod state;
pub mod stream;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

pub use edge::Edge;
pub use error::{ApiError, SqlError};
pub use push::{PushAck, PushError, PushGateway, PushRequest, PushSink};
pub use sql::SqlEngine;
pub use state::AppState;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// Builds the router of every endpoint.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/cities", get(routes::cities::list))
        .route("/v1/cities/{city}/traffic", get(routes::traffic::city))
        .route(
            "/v1/cities/{city}/traffic/{sensor}",
            get(routes::traffic::sensor),
        )
        .route(
            "/v1/cities/{city}/traffic/{sensor}/lanes",
            get(routes::lanes::sensor_lanes),
        )
        .route("/v1/cities/{city}/parking", get(routes::parking::city))
        .route(
            "/v1/cities/{city}/traffic/{sensor}/history",
            get(routes::history::traffic),
        )
        .route(
            "/v1/cities/{city}/parking/{facility}/history",
            get(routes::history::parking),
        )
        .route("/v1/cities/{city}/zones", get(routes::zones::city))
        .route("/v1/cities/{city}/geometry", get(map::geometry::city))
        .route(
            "/v1/cities/{city}/datex2/parking-table",
            get(routes::datex2::table),
        )
        .route(
            "/v1/cities/{city}/datex2/parking-status",
            get(routes::datex2::status),
        )
        .route(
            "/v1/cities/{city}/parkapi/parking-sites",
            get(routes::parkapi::list),
        )
        .route(
            "/v1/cities/{city}/parkapi/parking-sites/{id}",
            get(routes::parkapi::item),
        )
        .route("/v1/parking/nearby", get(routes::nearby::nearby))
        .route("/v1/regions", get(routes::regions::list))
        .route(
            "/v1/regions/{region}/parking",
            get(routes::regions::parking),
        )
        .route(
            "/v1/regions/{region}/traffic",
            get(routes::regions::traffic),
        )
        .route(
            "/v1/regions/{region}/datex2/parking-table",
            get(routes::datex2::region_table),
        )
        .route(
            "/v1/regions/{region}/datex2/parking-status",
            get(routes::datex2::region_status),
        )
        .route("/v1/stream", get(stream::stream))
        .route("/v1/sql", post(sql::route::query))
        .route("/v1/ingest/{city}", post(routes::ingest::city))
        .route("/ngsi-ld/v1/entities", get(routes::ngsi_ld::entities))
        .route("/ngsi-ld/v1/entities/{id}", get(routes::ngsi_ld::entity))
        .route(
            "/v1/ingest/{city}/{format}",
            post(routes::ingest::city_format),
        )
        .route(
            "/ngsi-ld/v1/entityOperations/upsert",
            post(routes::ingest::ngsi_ld_upsert),
        )
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/openapi.json", get(openapi))
        .route("/", get(map::root))
        .route("/map", get(map::page))
        .route("/map/settings.json", get(map::settings))
        .route("/map/assets/{file}", get(map::asset))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(metrics::track))
        // Failures are counted in the request metrics and internal errors logged in
        // `error.rs`; a 503 from a readiness probe is not worth an ERROR line each time.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state);
    // Scrapes are not API traffic: keep them out of the request metrics.
    Router::new()
        .route("/metrics", get(metrics::metrics))
        .merge(v1)
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Serves the API on `bind` until `shutdown` completes, then lets busy connections finish
/// for at most `edge.drain`.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(
    bind: SocketAddr,
    state: AppState,
    edge: Edge,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(
        address = %listener.local_addr()?,
        max_connections = edge.connections.max(),
        header_read_timeout_s = edge.header_read_timeout.as_secs_f64(),
        "api listening"
    );
    edge::http::serve(listener, router(state), edge, shutdown).await
}
