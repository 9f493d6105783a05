//! What changes in the live view, as it changes: the push stream's domain events.
//!
//! The live view hands every closed traffic window and every changed parking level to a
//! [`LiveEvents`] port as it stores them, so a subscriber (the API's `GET /v1/stream`)
//! sees exactly what the JSON endpoints serve, without polling. The port is a trait here
//! because this crate does no I/O and knows no channel: the binary plugs in the API's
//! bounded hub, whose `publish` must return at once whatever its readers do.

use crate::time::EventTime;
use crate::window::parking::FacilityLive;

use super::traffic::TrafficWindowRow;

/// One change of the live view.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// A traffic window closed (or was emitted again with a higher revision after late
    /// rows within the allowed lateness).
    Traffic(TrafficEvent),
    /// A facility's level changed (free spaces, status or trend).
    Parking(ParkingEvent),
    /// A city's feed of one kind went stale or recovered.
    Feed(FeedEvent),
}

impl LiveEvent {
    /// The city the event belongs to.
    pub fn city(&self) -> &str {
        match self {
            Self::Traffic(e) => &e.city,
            Self::Parking(e) => &e.city,
            Self::Feed(e) => &e.city,
        }
    }

    /// The entity the event is about: sensor or facility id; `None` for a feed.
    pub fn entity(&self) -> Option<&str> {
        match self {
            Self::Traffic(e) => Some(&e.sensor_id),
            Self::Parking(e) => Some(&e.facility_id),
            Self::Feed(_) => None,
        }
    }

    /// The event's kind as the stream names it: `traffic`, `parking` or `feed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Traffic(_) => "traffic",
            Self::Parking(_) => "parking",
            Self::Feed(_) => "feed",
        }
    }
}

/// A closed traffic window of one sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficEvent {
    /// City id.
    pub city: String,
    /// Sensor id.
    pub sensor_id: String,
    /// Window size, seconds.
    pub window_s: u32,
    /// Window slide, seconds (`== window_s` for tumbling windows).
    pub slide_s: u32,
    /// 0 for the first emission, +1 per re-emission after late rows.
    pub revision: u32,
    /// The window as the live view stores it.
    pub row: TrafficWindowRow,
}

/// A facility's changed level.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkingEvent {
    /// City id.
    pub city: String,
    /// Facility id.
    pub facility_id: String,
    /// The level as the live view stores it.
    pub level: FacilityLive,
}

/// Whether a feed delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// Nothing accepted for the stale period.
    Stale,
    /// Observations accepted again after being stale.
    Recovered,
}

impl FeedState {
    /// The name the stream writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stale => "stale",
            Self::Recovered => "recovered",
        }
    }
}

/// A city's feed of one kind (`traffic` or `parking`) went stale or recovered.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// City id.
    pub city: String,
    /// `traffic` or `parking`.
    pub kind: &'static str,
    /// The new state.
    pub state: FeedState,
    /// Processing time of the last accepted observation before the change, epoch ms UTC.
    pub last_accepted: EventTime,
    /// Processing time the change was noticed, epoch ms UTC.
    pub at: EventTime,
}

/// Where the live view publishes its changes.
///
/// `publish` is called on the pipeline's thread while it closes windows: it must not
/// block or wait for readers (a bounded queue that drops its oldest entries).
pub trait LiveEvents: Send + Sync {
    /// Takes the changes of one step, in the order they happened.
    fn publish(&self, events: Vec<LiveEvent>);
}
