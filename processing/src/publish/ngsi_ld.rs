//! NGSI-LD entities of the Smart Data Models (`GET /ngsi-ld/v1/entities`): a facility as
//! `OffStreetParking` (an on-street zone of spot sensors as `OnStreetParking`), a traffic
//! sensor's latest closed window as `TrafficFlowObserved`; normalized (`Property` /
//! `GeoProperty` objects, times as `{"@type": "DateTime", "@value": …}`) or keyValues.
//!
//! Ids are `urn:ngsi-ld:<type>:<city>:<registry id>`. Attribute units are the models':
//! `occupancy` is a fraction 0..1, `intensity` the vehicles of the observation period
//! (`dateObservedFrom`..`dateObservedTo`, the window), speeds km/h.
//!
//! The age of every count is explicit: `observedAt` on `availableSpotNumber` and
//! `occupiedSpotNumber` (normalized) and `occupancyModified` (both forms) are the time of
//! the reading. A stale facility keeps its last counts and times but has no `status` (the
//! model has no value for "unknown"); one that never reported has only its static
//! attributes.

use serde_json::{Map, Value, json};

use super::{Freshness, Publication, PublishedFacility, round2};
use crate::live::TrafficWindowRow;
use crate::model::contract::traffic::out;
use crate::time::to_rfc3339;

/// `@context` of parking entities: the Smart Data Models Parking context, then the core.
pub const PARKING_CONTEXT: [&str; 2] = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld",
    CORE_CONTEXT,
];
/// `@context` of traffic entities: the Transportation context, then the core.
pub const TRANSPORTATION_CONTEXT: [&str; 2] = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld",
    CORE_CONTEXT,
];
const CORE_CONTEXT: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";
/// The media type of entities with an `@context` in the body.
pub const CONTENT_TYPE: &str = "application/ld+json";

/// The entity types served.
pub const OFF_STREET: &str = "OffStreetParking";
/// An on-street zone of spot sensors.
pub const ON_STREET: &str = "OnStreetParking";
/// A traffic sensor's latest closed window.
pub const TRAFFIC: &str = "TrafficFlowObserved";

/// Normalized (NGSI-LD's default) or keyValues (`options=keyValues`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Every attribute a `Property`/`GeoProperty` object.
    Normalized,
    /// Bare values.
    KeyValues,
}

/// A traffic sensor with its latest closed window, as [`traffic_entity`] renders it.
#[derive(Debug, Clone, Copy)]
pub struct PublishedSensor<'a> {
    /// Registry id.
    pub id: &'a str,
    /// Display name.
    pub name: Option<&'a str>,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Its latest closed window (of the smallest tumbling size).
    pub window: &'a TrafficWindowRow,
}

/// `urn:ngsi-ld:<kind>:<city>:<id>`.
pub fn entity_id(kind: &str, city: &str, id: &str) -> String {
    format!("urn:ngsi-ld:{kind}:{city}:{id}")
}

/// The entity type of a facility.
pub fn parking_type(facility: &PublishedFacility<'_>) -> &'static str {
    if facility.on_street {
        ON_STREET
    } else {
        OFF_STREET
    }
}

/// Builds one entity attribute by attribute in the chosen form.
struct Entity {
    form: Form,
    map: Map<String, Value>,
}

impl Entity {
    fn new(form: Form, id: String, kind: &str) -> Self {
        let mut map = Map::new();
        map.insert("id".into(), Value::String(id));
        map.insert("type".into(), Value::String(kind.to_owned()));
        Self { form, map }
    }

    fn property(&mut self, name: &str, value: Value, observed_at: Option<&str>) {
        let attribute = match self.form {
            Form::KeyValues => value,
            Form::Normalized => {
                let mut attribute = json!({"type": "Property", "value": value});
                if let (Some(at), Value::Object(map)) = (observed_at, &mut attribute) {
                    map.insert("observedAt".into(), Value::String(at.to_owned()));
                }
                attribute
            }
        };
        self.map.insert(name.to_owned(), attribute);
    }

    fn time(&mut self, name: &str, time: &str) {
        let value = match self.form {
            Form::KeyValues => Value::String(time.to_owned()),
            Form::Normalized => json!({"@type": "DateTime", "@value": time}),
        };
        self.property(name, value, None);
    }

    fn location(&mut self, lat: f64, lon: f64) {
        let point = json!({"type": "Point", "coordinates": [lon, lat]});
        let attribute = match self.form {
            Form::KeyValues => point,
            Form::Normalized => json!({"type": "GeoProperty", "value": point}),
        };
        self.map.insert("location".into(), attribute);
    }

    fn finish(mut self, context: [&str; 2]) -> Value {
        self.map.insert("@context".into(), json!(context));
        Value::Object(self.map)
    }
}

/// The `OffStreetParking` / `OnStreetParking` entity of a facility.
pub fn parking_entity(
    publication: &Publication<'_>,
    facility: &PublishedFacility<'_>,
    form: Form,
) -> Value {
    let kind = parking_type(facility);
    let mut entity = Entity::new(form, entity_id(kind, publication.city, facility.id), kind);
    if let Some(name) = facility.name {
        entity.property("name", json!(name), None);
    }
    entity.location(facility.lat, facility.lon);
    let (level, stale) = match facility.freshness(publication) {
        Freshness::Never => {
            if let Some(capacity) = facility.capacity {
                entity.property("totalSpotNumber", json!(capacity), None);
            }
            return entity.finish(PARKING_CONTEXT);
        }
        Freshness::Stale(level) => (level, true),
        Freshness::Fresh(level) => (level, false),
    };
    let observed = to_rfc3339(level.updated_at);
    let at = Some(observed.as_str());
    // A zone with every spot closed has no usable space now (total 0); the model wants
    // at least 1 and readers take 0 for a broken counter: its registry size, marked
    // `closed`, with no occupied count.
    let usable = level.total.filter(|t| *t > 0);
    if let Some(total) = usable.or(facility.capacity) {
        entity.property("totalSpotNumber", json!(total), None);
    }
    let vacant = PublishedFacility::vacant(&level);
    entity.property("availableSpotNumber", json!(vacant), at);
    if let Some(occupied) = level.occupied.filter(|_| usable.is_some()) {
        entity.property("occupiedSpotNumber", json!(occupied), at);
    }
    if let Some(pct) = level.occupancy_pct {
        entity.property("occupancy", json!(round2(pct / 100.0)), at);
    }
    // A plain text, as in the model's examples (traffic times are `DateTime` objects there).
    entity.property("occupancyModified", json!(observed), None);
    let status = match level.status {
        _ if stale => None,
        Some(status) => Some(status.as_str()),
        None => None,
    };
    if let Some(status) = status {
        entity.property("status", json!([status]), at);
    }
    entity.finish(PARKING_CONTEXT)
}

/// The `TrafficFlowObserved` entity of a sensor's latest closed window: `intensity` =
/// vehicles in the window, `averageVehicleSpeed` = time-mean speed (else the mean of the
/// speeds reported), `occupancy` as a fraction.
pub fn traffic_entity(
    publication: &Publication<'_>,
    sensor: &PublishedSensor<'_>,
    form: Form,
) -> Value {
    let window = sensor.window;
    let mut entity = Entity::new(
        form,
        entity_id(TRAFFIC, publication.city, sensor.id),
        TRAFFIC,
    );
    if let Some(name) = sensor.name {
        entity.property("name", json!(name), None);
    }
    entity.location(sensor.lat, sensor.lon);
    let (from, to) = (
        to_rfc3339(window.window_start),
        to_rfc3339(window.window_end),
    );
    entity.time("dateObserved", &to);
    entity.time("dateObservedFrom", &from);
    entity.time("dateObservedTo", &to);
    let at = Some(to.as_str());
    if let Some(vehicles) = window.get(out::VEHICLES).as_u64() {
        entity.property("intensity", json!(vehicles), at);
    }
    let speed = window
        .f64(out::SPEED_TIME_MEAN_KMH)
        .or_else(|| window.f64(out::SPEED_REPORTED_MEAN_KMH));
    if let Some(speed) = speed {
        entity.property("averageVehicleSpeed", json!(round2(speed)), at);
    }
    if let Some(pct) = window.f64(out::OCCUPANCY_PCT) {
        entity.property("occupancy", json!(round2(pct / 100.0)), at);
    }
    entity.finish(TRANSPORTATION_CONTEXT)
}

#[cfg(test)]
mod tests;
