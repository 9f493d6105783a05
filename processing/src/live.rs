//! The live view the API serves: recent closed traffic windows, current parking levels and
//! each facility's latest closed parking window.
//!
//! The pipeline writes, request handlers read; a `std` `RwLock` suffices because both sides
//! hold it for microseconds (a window close writes a few hundred rows a minute).

mod event;
mod feeds;
mod parking;
mod traffic;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, PoisonError, RwLock};

use arrow_array::{Array, UInt8Array};

use crate::Result;
use crate::catalog::AdmittedFacility;
use crate::error::column;
use crate::time::EventTime;
use crate::window::ClosedWindows;
use crate::window::parking::FacilityLive;
use crate::window::traffic::out;
pub use event::{FeedEvent, FeedState, LiveEvent, LiveEvents, ParkingEvent, TrafficEvent};
pub use feeds::{FEED_STALE_AFTER_MS, FeedWatch};
use parking::parking_rows;
pub use parking::{FacilityView, ParkingTotals, ParkingWindowRow, roll_up};
use traffic::traffic_rows;
pub use traffic::{TrafficWindowRow, Value, traffic_measure_index, traffic_measures};

#[derive(Debug, Default)]
struct CityLive {
    /// (window_s, slide_s) → sensor id → windows oldest first.
    traffic: HashMap<(u32, u32), BTreeMap<String, VecDeque<TrafficWindowRow>>>,
    /// (window_s, slide_s) → sensor id → lane → its newest closed window.
    lanes: HashMap<(u32, u32), BTreeMap<String, BTreeMap<u8, TrafficWindowRow>>>,
    parking: BTreeMap<String, FacilityLive>,
    /// window_s → facility id → its newest closed window.
    parking_windows: HashMap<u32, BTreeMap<String, ParkingWindowRow>>,
    /// Facilities not in the registry, admitted at run time, by id.
    admitted: BTreeMap<String, Arc<AdmittedFacility>>,
}

/// Recent results per city, shared between the pipeline and the API.
#[derive(Debug)]
pub struct LiveState {
    retention_ms: i64,
    cities: RwLock<HashMap<String, CityLive>>,
    events: EventPort,
}

/// Where changes are published, if anywhere (the push stream).
#[derive(Default)]
struct EventPort(Option<Arc<dyn LiveEvents>>);

impl std::fmt::Debug for EventPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "EventPort(on)"
        } else {
            "EventPort(off)"
        })
    }
}

impl LiveState {
    /// Creates an empty store keeping closed windows for `retention_ms` of event time.
    pub fn new(retention_ms: i64) -> Self {
        Self {
            retention_ms,
            cities: RwLock::new(HashMap::new()),
            events: EventPort::default(),
        }
    }

    /// Publishes every closed traffic window and changed parking level to `events` as it
    /// is stored (the push stream `GET /v1/stream`).
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn LiveEvents>) -> Self {
        self.events = EventPort(Some(events));
        self
    }

    /// Publishes changes noticed outside the view (a feed going stale), in order with
    /// the view's own.
    pub fn publish(&self, events: Vec<LiveEvent>) {
        if let Some(port) = &self.events.0
            && !events.is_empty()
        {
            port.publish(events);
        }
    }

    /// Stores closed traffic windows and drops windows older than the retention.
    ///
    /// # Errors
    /// [`crate::ProcessingError::Schema`] if the batch is not a classified closed-traffic-window
    /// batch ([`crate::window::traffic::traffic_window_schema`]).
    pub fn apply_traffic(&self, closed: &ClosedWindows) -> Result<()> {
        let rows = traffic_rows(&closed.batch)?;
        let publishing = self.events.0.is_some();
        let mut events = Vec::new();
        let mut cities = self.cities.write().unwrap_or_else(PoisonError::into_inner);
        for (city, sensor, row) in rows {
            if publishing {
                events.push(LiveEvent::Traffic(TrafficEvent {
                    city: city.clone(),
                    sensor_id: sensor.clone(),
                    window_s: closed.window_s,
                    slide_s: closed.slide_s,
                    revision: closed.revision,
                    row: row.clone(),
                }));
            }
            let horizon = row.window_end - self.retention_ms;
            let windows = cities
                .entry(city)
                .or_default()
                .traffic
                .entry((closed.window_s, closed.slide_s))
                .or_default()
                .entry(sensor)
                .or_default();
            // Keep order by window start even if an older window closes late.
            let pos = windows.partition_point(|w| w.window_start < row.window_start);
            if windows
                .get(pos)
                .is_some_and(|w| w.window_start == row.window_start)
            {
                windows[pos] = row;
            } else {
                windows.insert(pos, row);
            }
            while windows.front().is_some_and(|w| w.window_end <= horizon) {
                windows.pop_front();
            }
        }
        drop(cities);
        self.publish(events);
        Ok(())
    }

    /// Stores closed per-lane windows (newest per sensor and lane).
    ///
    /// # Errors
    /// [`crate::ProcessingError::Schema`] if the batch has no `lane` column.
    pub fn apply_lanes(&self, closed: &ClosedWindows) -> Result<()> {
        let rows = traffic_rows(&closed.batch)?;
        let lanes: &UInt8Array = column(&closed.batch, out::LANE)?;
        let mut cities = self.cities.write().unwrap_or_else(PoisonError::into_inner);
        for (i, (city, sensor, row)) in rows.into_iter().enumerate() {
            let Some(lane) = lanes.is_valid(i).then(|| lanes.value(i)) else {
                continue;
            };
            let slot = cities
                .entry(city)
                .or_default()
                .lanes
                .entry((closed.window_s, closed.slide_s))
                .or_default()
                .entry(sensor)
                .or_default()
                .entry(lane)
                .or_insert_with(|| row.clone());
            if row.window_start >= slot.window_start {
                *slot = row;
            }
        }
        Ok(())
    }

    /// Returns the newest closed window of every lane of a sensor, by lane.
    pub fn sensor_lanes(
        &self,
        city: &str,
        sensor: &str,
        (window_s, slide_s): (u32, u32),
    ) -> Vec<(u8, TrafficWindowRow)> {
        let cities = self.cities.read().unwrap_or_else(PoisonError::into_inner);
        cities
            .get(city)
            .and_then(|c| c.lanes.get(&(window_s, slide_s)))
            .and_then(|s| s.get(sensor))
            .map(|lanes| lanes.iter().map(|(l, r)| (*l, r.clone())).collect())
            .unwrap_or_default()
    }

    /// Sets the current level of a facility.
    pub fn set_facility(&self, city: &str, facility_id: &str, live: FacilityLive) {
        let mut cities = self.cities.write().unwrap_or_else(PoisonError::into_inner);
        cities
            .entry(city.to_owned())
            .or_default()
            .parking
            .insert(facility_id.to_owned(), live);
        drop(cities);
        if self.events.0.is_some() {
            self.publish(vec![LiveEvent::Parking(ParkingEvent {
                city: city.to_owned(),
                facility_id: facility_id.to_owned(),
                level: live,
            })]);
        }
    }

    /// Returns the latest closed window of every sensor of a city for a window family
    /// (`slide_s == window_s` for tumbling windows).
    pub fn latest_traffic(
        &self,
        city: &str,
        window_s: u32,
        slide_s: u32,
    ) -> Vec<(String, TrafficWindowRow)> {
        let cities = self.cities.read().unwrap_or_else(PoisonError::into_inner);
        let Some(sensors) = cities
            .get(city)
            .and_then(|c| c.traffic.get(&(window_s, slide_s)))
        else {
            return Vec::new();
        };
        sensors
            .iter()
            .filter_map(|(id, w)| w.back().map(|row| (id.clone(), row.clone())))
            .collect()
    }

    /// Returns a sensor's closed windows that start at or after `from` and end at or before `to`.
    pub fn sensor_windows(
        &self,
        city: &str,
        sensor: &str,
        (window_s, slide_s): (u32, u32),
        from: Option<EventTime>,
        to: Option<EventTime>,
    ) -> Vec<TrafficWindowRow> {
        let cities = self.cities.read().unwrap_or_else(PoisonError::into_inner);
        let Some(windows) = cities
            .get(city)
            .and_then(|c| c.traffic.get(&(window_s, slide_s)))
            .and_then(|s| s.get(sensor))
        else {
            return Vec::new();
        };
        windows
            .iter()
            .filter(|w| {
                from.is_none_or(|f| w.window_start >= f) && to.is_none_or(|t| w.window_end <= t)
            })
            .cloned()
            .collect()
    }

    /// Returns the ids of the cities with any live results, sorted (the SQL tables
    /// `live_traffic` and `live_parking` snapshot every city, including ones admitted at
    /// run time).
    pub fn city_ids(&self) -> Vec<String> {
        let cities = self.cities.read().unwrap_or_else(PoisonError::into_inner);
        let mut ids: Vec<String> = cities.keys().cloned().collect();
        ids.sort_unstable();
        ids
    }

    /// Returns every retained closed traffic window of a city as ((window_s, slide_s),
    /// sensor id, window), by window family, then sensor, then window start.
    pub fn traffic_windows(&self, city: &str) -> Vec<((u32, u32), String, TrafficWindowRow)> {
        let cities = self.cities.read().unwrap_or_else(PoisonError::into_inner);
        let Some(city) = cities.get(city) else {
            return Vec::new();
        };
        let mut families: Vec<&(u32, u32)> = city.traffic.keys().collect();
        families.sort_unstable();
        let mut rows = Vec::new();
        for family in families {
            for (sensor, windows) in &city.traffic[family] {
                rows.extend(
                    windows
                        .iter()
                        .map(|row| (*family, sensor.clone(), row.clone())),
                );
            }
        }
        rows
    }

    /// Lists a facility admitted at run time (not in the registry) with its city, so
    /// that the API serves it beside the registry's.
    pub fn admit_facility(&self, site: Arc<AdmittedFacility>) {
        let mut cities = self.cities.write().unwrap_or_else(PoisonError::into_inner);
        cities
            .entry(site.city.clone())
            .or_default()
            .admitted
            .insert(site.id.clone(), site);
    }

    /// The facilities of a city admitted at run time, by id.
    pub fn admitted_facilities(&self, city: &str) -> Vec<Arc<AdmittedFacility>> {
        let cities = self.cities.read().unwrap_or_else(PoisonError::into_inner);
        cities
            .get(city)
            .map(|c| c.admitted.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Returns the current level of every facility of a city that has reported (for
    /// roll-ups over any set of facilities, see [`roll_up`]).
    pub fn facilities(&self, city: &str) -> BTreeMap<String, FacilityLive> {
        let cities = self.cities.read().unwrap_or_else(PoisonError::into_inner);
        cities
            .get(city)
            .map(|c| c.parking.clone())
            .unwrap_or_default()
    }
}
/// The parking half of the view: written here, beside the state it writes, so that
/// `live/parking.rs` (its row types) needs nothing of this file.
impl LiveState {
    /// Keeps the newest closed window per facility and window size.
    ///
    /// # Errors
    /// [`crate::ProcessingError::Schema`] if the batch is not a closed-parking-window batch.
    pub fn apply_parking(&self, closed: &ClosedWindows) -> Result<()> {
        let rows = parking_rows(&closed.batch)?;
        let mut cities = self.cities.write().unwrap_or_else(PoisonError::into_inner);
        for (city, facility, row) in rows {
            let latest = cities
                .entry(city)
                .or_default()
                .parking_windows
                .entry(closed.window_s)
                .or_default();
            // A window closing late must not replace a newer one.
            match latest.get(&facility) {
                Some(held) if held.window_start > row.window_start => {}
                _ => {
                    latest.insert(facility, row);
                }
            }
        }
        Ok(())
    }

    /// Returns every facility of a city that reported or had a window of `window_s`
    /// closed, with its current level and that latest window.
    pub fn facility_views(&self, city: &str, window_s: u32) -> BTreeMap<String, FacilityView> {
        let cities = self.cities.read().unwrap_or_else(PoisonError::into_inner);
        let Some(city) = cities.get(city) else {
            return BTreeMap::new();
        };
        let mut views: BTreeMap<String, FacilityView> = city
            .parking
            .iter()
            .map(|(id, level)| {
                let view = FacilityView {
                    level: Some(*level),
                    last_window: None,
                };
                (id.clone(), view)
            })
            .collect();
        for (id, row) in city.parking_windows.get(&window_s).into_iter().flatten() {
            views.entry(id.clone()).or_default().last_window = Some(row.clone());
        }
        views
    }
}
