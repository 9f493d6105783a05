//! The live map in the browser: `GET /map` (and `/`, which redirects there), its assets,
//! its settings and the city geometry it draws (`GET /v1/cities/{city}/geometry`,
//! [`geometry`]).
//!
//! Everything the page needs is compiled into the binary (`include_str!` of `api/web/`):
//! Leaflet, vendored from npm (`api/web/package-lock.json`, checked byte for byte by
//! `scripts/check_web_vendor.sh`), and our own small `map.js` (the page), `stream.js` (the
//! push stream read with `fetch`, so a key's `Authorization` header goes along) and
//! `map.css`. No CDN and no network at run time: without `api.map_tile_url` the page
//! draws the zones, sensors and facilities on a plain background; with it, the viewer's
//! browser adds the operator's tile layer underneath. The numbers come from the same JSON endpoints and push stream as for
//! any other client (`/v1/cities/{city}/parking`, `…/traffic`, `/v1/stream`), so the map
//! shows exactly what the API says.

pub mod geometry;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use stadtpuls_config::{CityZones, MapTiles, ZoneSpec};

use crate::error::ApiError;
use crate::state::AppState;

/// What the map serves besides the live data: the base map and the zone polygons.
#[derive(Debug, Clone, Default)]
pub struct MapDoor {
    /// The tile layer under the geometry (`api.map_tile_url`); none: a plain background.
    pub tiles: Option<MapTiles>,
    /// Each city's zone polygons (districts, parking zones), by city id.
    pub zones: Arc<HashMap<String, Vec<ZoneSpec>>>,
}

impl MapDoor {
    /// The map of the configured tiles and zone files.
    pub fn new(tiles: Option<MapTiles>, zones: &[CityZones]) -> Self {
        let zones = zones
            .iter()
            .map(|z| (z.city.clone(), z.zones.clone()))
            .collect();
        Self {
            tiles,
            zones: Arc::new(zones),
        }
    }
}

/// One embedded file: name under `/map/assets/`, media type, contents.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    body: &'static str,
}

const PAGE: &str = include_str!("../web/map.html");

const ASSETS: [Asset; 6] = [
    Asset {
        name: "map.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/map.js"),
    },
    Asset {
        name: "stream.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/stream.js"),
    },
    Asset {
        name: "map.css",
        media_type: "text/css; charset=utf-8",
        body: include_str!("../web/map.css"),
    },
    Asset {
        name: "leaflet.js",
        media_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/vendor/leaflet/leaflet.js"),
    },
    Asset {
        name: "leaflet.css",
        media_type: "text/css; charset=utf-8",
        body: include_str!("../web/vendor/leaflet/leaflet.css"),
    },
    Asset {
        name: "LICENSE-leaflet.txt",
        media_type: "text/plain; charset=utf-8",
        body: include_str!("../web/vendor/leaflet/LICENSE"),
    },
];

/// `GET /`: the map is the front page of a person's browser.
pub async fn root() -> Redirect {
    Redirect::to("/map")
}

/// `GET /map`: the page.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /map/assets/{file}`: an embedded script, style sheet or licence. Revalidated on
/// each load (`no-cache`): they are small, and a new binary must not meet an old script.
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == file)
        .ok_or_else(|| ApiError::NotFound(format!("no map asset `{file}`")))?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, asset.media_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response())
}

/// The page's settings.
#[derive(Debug, Serialize)]
pub struct MapSettings {
    /// Leaflet tile template, or null for the plain background.
    tile_url: Option<String>,
    /// Shown with the tiles.
    tile_attribution: Option<String>,
}

/// `GET /map/settings.json`: the base map the operator configured.
pub async fn settings(State(state): State<AppState>) -> axum::Json<MapSettings> {
    let tiles = state.map.tiles.as_ref();
    axum::Json(MapSettings {
        tile_url: tiles.map(|t| t.url.clone()),
        tile_attribution: tiles.and_then(|t| t.attribution.clone()),
    })
}
