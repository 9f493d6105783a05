//! The push stream's events on the wire: SSE event name, `id:` and JSON `data:`, in the
//! same shapes and units as the JSON endpoints (`docs/api.md`, "Push stream").

use bytes::Bytes;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use stadtpuls_processing::live::{FeedEvent, LiveEvent, ParkingEvent, TrafficEvent};
use stadtpuls_processing::time::to_rfc3339;
use stadtpuls_processing::window::window_family_label;

use super::hub::{Entry, Missed};
use crate::routes::parking::round1;
use crate::routes::traffic::window_entries;

/// The SSE frame of a published entry, encoded once by its first reader and shared by
/// every subscriber (a clone of `Bytes` is a reference count).
pub fn frame(entry: &Entry) -> &Bytes {
    entry.data.get_or_init(|| {
        let text = format!(
            "id: {}\nevent: {}\ndata: {}\n\n",
            entry.id,
            entry.event.kind(),
            json(&entry.event)
        );
        Bytes::from(text)
    })
}

/// A comment line, sent after the heartbeat interval without an event.
pub const HEARTBEAT: &[u8] = b": heartbeat\n\n";

/// The JSON `data:` of an event.
pub fn json(event: &LiveEvent) -> String {
    let encoded = match event {
        LiveEvent::Traffic(e) => serde_json::to_string(&TrafficData(e)),
        LiveEvent::Parking(e) => serde_json::to_string(&ParkingData::new(e)),
        LiveEvent::Feed(e) => serde_json::to_string(&FeedData::new(e)),
    };
    // Serializing these plain structs into a String cannot fail; keep the stream going
    // with an empty object if it ever did.
    encoded.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot encode a stream event");
        "{}".to_owned()
    })
}

/// `event: missed`: the resume point is older than the ring (or unknown); events in
/// between are lost, what the ring holds follows.
pub fn missed(missed: Missed) -> Bytes {
    let data = serde_json::json!({
        "last_event_id": missed.last_event_id.to_string(),
        "oldest_id": missed.oldest_id.to_string(),
    });
    Bytes::from(format!("event: missed\ndata: {data}\n\n"))
}

/// `event: dropped`: the last event of a subscriber that was cut off.
pub fn dropped(reason: &str) -> Bytes {
    let data = serde_json::json!({ "reason": reason });
    Bytes::from(format!("event: dropped\ndata: {data}\n\n"))
}

/// A closed traffic window: city, sensor, window family label and revision, then the
/// window exactly as `GET /v1/cities/{city}/traffic/{sensor}` writes it.
struct TrafficData<'a>(&'a TrafficEvent);

impl Serialize for TrafficData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("city", &e.city)?;
        map.serialize_entry("sensor_id", &e.sensor_id)?;
        map.serialize_entry("window", &window_family_label(e.window_s, e.slide_s))?;
        map.serialize_entry("revision", &e.revision)?;
        window_entries(&mut map, &e.row)?;
        map.end()
    }
}

/// A facility's level, in the fields and rounding of `GET /v1/cities/{city}/parking`.
#[derive(Serialize)]
struct ParkingData<'a> {
    city: &'a str,
    facility_id: &'a str,
    free: u32,
    total: Option<u32>,
    occupied: Option<u32>,
    occupancy_pct: Option<f64>,
    status: Option<&'static str>,
    trend: Option<&'static str>,
    trend_pct_per_h: Option<f64>,
    updated_at: String,
    opening_status: Option<&'static str>,
}

impl<'a> ParkingData<'a> {
    fn new(e: &'a ParkingEvent) -> Self {
        let l = &e.level;
        Self {
            city: &e.city,
            facility_id: &e.facility_id,
            free: l.free,
            total: l.total,
            occupied: l.occupied,
            occupancy_pct: l.occupancy_pct.map(round1),
            status: l.status.map(|s| s.as_str()),
            trend: l.trend.map(|t| t.as_str()),
            trend_pct_per_h: l.trend_pct_per_h.map(round1),
            updated_at: to_rfc3339(l.updated_at),
            opening_status: l.opening.map(|o| o.as_str()),
        }
    }
}

/// A feed's new state.
#[derive(Serialize)]
struct FeedData<'a> {
    city: &'a str,
    kind: &'static str,
    state: &'static str,
    last_accepted: String,
    at: String,
}

impl<'a> FeedData<'a> {
    fn new(e: &'a FeedEvent) -> Self {
        Self {
            city: &e.city,
            kind: e.kind,
            state: e.state.as_str(),
            last_accepted: to_rfc3339(e.last_accepted),
            at: to_rfc3339(e.at),
        }
    }
}
