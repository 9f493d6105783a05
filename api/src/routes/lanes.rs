//! `GET /v1/cities/{city}/traffic/{sensor}/lanes`: the newest closed window of each lane.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;

use super::traffic::{TrafficQuery, WindowItem, window};
use crate::access::viewer::Viewer;
use crate::error::Result;
use crate::state::AppState;

/// The newest closed window of one lane.
#[derive(Debug, Serialize)]
pub struct LaneItem {
    lane: u8,
    #[serde(flatten)]
    window: WindowItem,
}

/// A sensor's lanes.
#[derive(Debug, Serialize)]
pub struct SensorLanes {
    city: String,
    sensor_id: String,
    window: String,
    lanes: Vec<LaneItem>,
}

/// `GET /v1/cities/{city}/traffic/{sensor}/lanes?window=1m`: per lane (1, 2, …) the newest
/// closed window, with the same metrics as the cross-section (MARZ states are per
/// cross-section only; `completeness_pct` counts one lane).
pub async fn sensor_lanes(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((city, sensor)): Path<(String, String)>,
    Query(query): Query<TrafficQuery>,
) -> Result<Json<SensorLanes>> {
    let city = super::traffic_sensor(&state, &viewer, &city, &sensor)?;
    let (family, window) = window(&state, query.window.as_deref())?;
    let lanes = state
        .live
        .sensor_lanes(&city.id, &sensor, family)
        .into_iter()
        .map(|(lane, row)| LaneItem {
            lane,
            window: WindowItem::new(None, row),
        })
        .collect();
    Ok(Json(SensorLanes {
        city: city.id.clone(),
        sensor_id: sensor,
        window,
        lanes,
    }))
}
