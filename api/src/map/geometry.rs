//! `GET /v1/cities/{city}/geometry`: what the map draws of a city as one GeoJSON
//! FeatureCollection — its zone polygons, traffic sensors and parking facilities with
//! their ids and names (the live numbers come from the data endpoints). Under the sharing
//! policy like the data: sensors only with the city's traffic, facilities only with its
//! parking, zones with either.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::{Value, json};
use stadtpuls_config::{DataKind, LonLat, ZonePolygon};

use crate::access::viewer::Viewer;
use crate::error::Result;
use crate::state::AppState;

/// A city's geometry.
#[derive(Debug, Serialize)]
pub struct CityGeometry {
    /// Always `FeatureCollection`.
    #[serde(rename = "type")]
    kind: &'static str,
    city: String,
    name: String,
    features: Vec<Value>,
}

/// `GET /v1/cities/{city}/geometry`: zones (`layer` `zone`, with `kind` `district` or
/// `parking_zone`), then traffic sensors (`traffic_sensor`), then facilities
/// (`parking_facility`, with `capacity`), each in file order.
pub async fn city(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(city): Path<String>,
) -> Result<Json<CityGeometry>> {
    let city = viewer.any_city(&state, &city)?;
    let mut features = Vec::new();
    for zone in state.map.zones.get(&city.id).into_iter().flatten() {
        features.push(json!({
            "type": "Feature",
            "geometry": {
                "type": "MultiPolygon",
                "coordinates": zone.polygons.iter().map(polygon).collect::<Vec<_>>(),
            },
            "properties": {
                "layer": "zone",
                "id": zone.id,
                "name": zone.name,
                "kind": zone.kind.as_str(),
            },
        }));
    }
    if viewer.sees(&city.id, DataKind::Traffic) {
        for sensor in &city.traffic_places {
            features.push(point(
                sensor.lon,
                sensor.lat,
                json!({
                    "layer": "traffic_sensor",
                    "id": sensor.id,
                    "name": sensor.name,
                }),
            ));
        }
    }
    if viewer.sees(&city.id, DataKind::Parking) {
        for facility in &city.facilities {
            features.push(point(
                facility.lon,
                facility.lat,
                json!({
                    "layer": "parking_facility",
                    "id": facility.id,
                    "name": facility.name,
                    "capacity": facility.capacity,
                }),
            ));
        }
    }
    Ok(Json(CityGeometry {
        kind: "FeatureCollection",
        city: city.id.clone(),
        name: city.name.clone(),
        features,
    }))
}

fn point(lon: f64, lat: f64, properties: Value) -> Value {
    json!({
        "type": "Feature",
        "geometry": { "type": "Point", "coordinates": [lon, lat] },
        "properties": properties,
    })
}

/// A polygon's rings, exterior first, as GeoJSON `[lon, lat]` positions.
fn polygon(p: &ZonePolygon) -> Vec<Vec<[f64; 2]>> {
    std::iter::once(&p.exterior)
        .chain(&p.holes)
        .map(|ring| ring.iter().map(|&LonLat { lon, lat }| [lon, lat]).collect())
        .collect()
}
