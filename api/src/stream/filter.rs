//! Which events a subscriber of `GET /v1/stream` gets: cities (within the cities the
//! request may see), kinds, traffic window family and entity ids.

use std::collections::HashSet;

use stadtpuls_processing::live::LiveEvent;

/// An event kind of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Closed traffic windows.
    Traffic,
    /// Parking level changes.
    Parking,
    /// Feeds going stale or recovering.
    Feed,
}

impl Kind {
    /// Parses a `kinds` list item.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "traffic" => Some(Self::Traffic),
            "parking" => Some(Self::Parking),
            "feed" => Some(Self::Feed),
            _ => None,
        }
    }

    fn of(event: &LiveEvent) -> Self {
        match event {
            LiveEvent::Traffic(_) => Self::Traffic,
            LiveEvent::Parking(_) => Self::Parking,
            LiveEvent::Feed(_) => Self::Feed,
        }
    }
}

/// A subscriber's filter; every part must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Cities whose events pass: those requested, or every city the request may see.
    pub cities: HashSet<String>,
    /// Kinds that pass; empty: every kind.
    pub kinds: HashSet<Kind>,
    /// The traffic window family (size, slide in seconds) that passes; `None`: every
    /// family. Parking and feed events are not windowed and pass.
    pub window: Option<(u32, u32)>,
    /// Sensor and facility ids that pass; empty: every entity. Feed events, which are
    /// about a whole city, pass.
    pub entities: HashSet<String>,
    /// (city, `traffic` / `parking`) data of a city in [`Filter::cities`] that the request
    /// may not see (the sharing policy per kind): its events and its feed's changes do not
    /// pass.
    pub hidden: HashSet<(String, &'static str)>,
}

impl Filter {
    /// Whether `event` goes to this subscriber.
    pub fn matches(&self, event: &LiveEvent) -> bool {
        if !self.cities.contains(event.city()) {
            return false;
        }
        let data_kind = match event {
            LiveEvent::Feed(feed) => feed.kind,
            other => other.kind(),
        };
        if self.hidden.contains(&(event.city().to_owned(), data_kind)) {
            return false;
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&Kind::of(event)) {
            return false;
        }
        if let (Some(family), LiveEvent::Traffic(t)) = (self.window, event)
            && (t.window_s, t.slide_s) != family
        {
            return false;
        }
        match event.entity() {
            Some(id) if !self.entities.is_empty() => self.entities.contains(id),
            _ => true,
        }
    }
}
