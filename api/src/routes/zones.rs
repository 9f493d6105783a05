//! `GET /v1/cities/{city}/zones`: traffic and parking rolled up per district and
//! parking zone. The roll-up math is in `stadtpuls_processing::geo::rollup`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use stadtpuls_config::DataKind;
use stadtpuls_processing::geo::rollup::{ParkingRollup, TrafficRollup, ZoneRollup, rollup_zones};
use stadtpuls_processing::time::to_rfc3339;

use super::traffic::{round2, window};
use crate::access::viewer::Viewer;
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// Query of the zones endpoint.
#[derive(Debug, Deserialize)]
pub struct ZonesQuery {
    window: Option<String>,
}

/// A zone's traffic over its newest closed window.
///
/// Kept as its own object so that derived fields (a traffic state, a trend) can be added
/// next to the sums without touching the parking side.
#[derive(Debug, Serialize)]
pub struct ZoneTraffic {
    sensors: usize,
    sensors_reporting: usize,
    flow_veh_h: Option<f64>,
    speed_space_mean_kmh: Option<f64>,
    occupancy_pct: Option<f64>,
    window_end: Option<String>,
}

impl ZoneTraffic {
    /// Nothing: the zone's traffic is not visible to the request.
    fn hide(&mut self) {
        *self = Self {
            sensors: 0,
            sensors_reporting: 0,
            flow_veh_h: None,
            speed_space_mean_kmh: None,
            occupancy_pct: None,
            window_end: None,
        };
    }
}

impl From<&TrafficRollup> for ZoneTraffic {
    fn from(rollup: &TrafficRollup) -> Self {
        Self {
            sensors: rollup.sensors,
            sensors_reporting: rollup.sensors_reporting,
            flow_veh_h: rollup.flow_veh_h.map(round2),
            speed_space_mean_kmh: rollup.speed_space_mean_kmh.map(round2),
            occupancy_pct: rollup.occupancy_pct.map(round2),
            window_end: rollup.window_end.map(to_rfc3339),
        }
    }
}

/// A zone's parking now, shaped like the city `totals` of the parking endpoint (the same
/// roll-up); room for a status or trend next to the sums.
#[derive(Debug, Serialize)]
pub struct ZoneParking {
    facilities: usize,
    facilities_reporting: u32,
    facilities_stale: u32,
    free: u64,
    total: u64,
    occupied: u64,
    occupancy_pct: Option<f64>,
}

impl ZoneParking {
    /// Nothing: the zone's parking is not visible to the request.
    fn hide(&mut self) {
        *self = Self {
            facilities: 0,
            facilities_reporting: 0,
            facilities_stale: 0,
            free: 0,
            total: 0,
            occupied: 0,
            occupancy_pct: None,
        };
    }
}

impl From<&ParkingRollup> for ZoneParking {
    fn from(rollup: &ParkingRollup) -> Self {
        let totals = &rollup.totals;
        Self {
            facilities: rollup.facilities,
            facilities_reporting: totals.facilities_reporting,
            facilities_stale: totals.facilities_stale,
            free: totals.free,
            total: totals.total,
            occupied: totals.occupied,
            // One decimal, as for single facilities and city totals.
            occupancy_pct: totals.occupancy_pct.map(|p| (p * 10.0).round() / 10.0),
        }
    }
}

/// One zone with its roll-ups.
#[derive(Debug, Serialize)]
pub struct ZoneItem {
    id: String,
    name: String,
    kind: &'static str,
    traffic: ZoneTraffic,
    parking: ZoneParking,
}

impl From<&ZoneRollup<'_>> for ZoneItem {
    fn from(rollup: &ZoneRollup<'_>) -> Self {
        Self {
            id: rollup.zone.id.clone(),
            name: rollup.zone.name.clone(),
            kind: rollup.zone.kind.as_str(),
            traffic: ZoneTraffic::from(&rollup.traffic),
            parking: ZoneParking::from(&rollup.parking),
        }
    }
}

/// Every zone of a city.
#[derive(Debug, Serialize)]
pub struct CityZones {
    city: String,
    window: String,
    zones: Vec<ZoneItem>,
}

/// `GET /v1/cities/{city}/zones?window=1m`: each zone's traffic (latest closed windows of
/// its sensors, for any configured window family such as `15m` or `1h/5m`) and parking
/// (current levels of its facilities); `zones` is empty for a city without a zone file.
/// A kind the request does not see is rolled up over nothing (counts 0, values null).
pub async fn city(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(city): Path<String>,
    Query(query): Query<ZonesQuery>,
) -> Result<Json<CityZones>> {
    let city = viewer.any_city(&state, &city)?;
    let ((window_s, slide_s), window) = window(&state, query.window.as_deref())?;
    let map = state
        .zone_map(&city.id)
        .ok_or_else(|| ApiError::Internal(format!("no zone map for city `{}`", city.id)))?;
    let traffic = viewer.sees(&city.id, DataKind::Traffic);
    let parking = viewer.sees(&city.id, DataKind::Parking);
    let latest: HashMap<_, _> = if traffic {
        state
            .live
            .latest_traffic(&city.id, window_s, slide_s)
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    let levels = if parking {
        state.live.facilities(&city.id)
    } else {
        Default::default()
    };
    let now = (state.now_ms)();
    let zones = rollup_zones(map, &latest, &levels, now, state.stale_after_ms)
        .iter()
        .map(ZoneItem::from)
        .map(|mut item| {
            if !traffic {
                item.traffic.hide();
            }
            if !parking {
                item.parking.hide();
            }
            item
        })
        .collect();
    Ok(Json(CityZones {
        city: city.id.clone(),
        window,
        zones,
    }))
}
