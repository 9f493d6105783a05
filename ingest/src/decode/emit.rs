//! What a partner-feed decoder hands over: [`Reading`]s in the feed's own ids, which
//! [`Emit`] maps to registry entities (`external.rs`) and pushes through the same
//! validating builders as the native format, or refusals of one element each.
//!
//! A decoder never touches the builders or the catalog itself, so every format gets the
//! same validation, the same reasons and the same dead letters.

use stadtpuls_processing::catalog::CityKey;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::{ParkingObservation, SpotStatus};
use stadtpuls_processing::model::traffic::TrafficObservation;
use stadtpuls_processing::{RejectReason, Rejection};

use super::Rejected;
use super::external::ExternalIds;
use super::native::Sinks;

/// One observation as a feed states it, in the feed's ids and the model's units.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reading<'a> {
    /// A traffic count over `interval_s` ending at `ts`.
    Traffic {
        /// The feed's id of the detector (an NGSI entity id, a DATEX site id).
        external_id: &'a str,
        /// The lane the feed names, if any (1-based), or its value index (a DATEX II
        /// index), which the registry's `id#index=lane` entry turns into a lane.
        lane: Option<i64>,
        /// End of the counting interval, epoch ms.
        ts: i64,
        /// Length of the counting interval, s.
        interval_s: i64,
        /// Vehicles counted in the interval.
        vehicle_count: i64,
        /// Mean speed, km/h.
        avg_speed_kmh: Option<f64>,
        /// Occupancy, percent.
        occupancy_pct: Option<f64>,
    },
    /// A facility's free spaces.
    Facility {
        /// The feed's id of the facility.
        external_id: &'a str,
        /// Time of the count, epoch ms.
        ts: i64,
        /// Free spaces.
        free_spaces: i64,
        /// Real-time capacity.
        total_spaces: Option<i64>,
        /// Vehicles in since the previous report.
        entries: Option<i64>,
        /// Vehicles out since the previous report.
        exits: Option<i64>,
    },
    /// A spot's state.
    Spot {
        /// The feed's id of the spot.
        external_id: &'a str,
        /// Time of the state, epoch ms.
        ts: i64,
        /// Its state.
        status: SpotStatus,
    },
}

/// Where a feed decoder's readings and refusals go, for one message of one city.
pub(crate) struct Emit<'s, 'a> {
    pub(crate) sinks: &'s mut Sinks<'a>,
    pub(crate) city: CityKey,
    pub(crate) city_id: &'s str,
    pub(crate) external: &'s ExternalIds,
    pub(crate) bounds: TimeBounds,
    /// Observations accepted so far.
    pub(crate) accepted: usize,
}

impl Emit<'_, '_> {
    /// Refuses one element (`index` within the message, `None` for a whole message).
    pub(crate) fn refuse(&mut self, index: Option<usize>, element: &[u8], rejection: Rejection) {
        self.sinks.rejected.push(Rejected {
            index,
            city: Some(self.city),
            rejection,
            payload: element.to_vec(),
        });
    }

    /// Validates and appends `reading`, or refuses its element.
    pub(crate) fn reading(&mut self, index: Option<usize>, element: &[u8], reading: &Reading<'_>) {
        match self.push(reading) {
            Ok(()) => self.accepted += 1,
            Err(rejection) => self.refuse(index, element, rejection),
        }
    }

    fn push(&mut self, reading: &Reading<'_>) -> Result<(), Rejection> {
        let (external_id, lane) = match *reading {
            Reading::Traffic {
                external_id, lane, ..
            } => (external_id, lane),
            Reading::Facility { external_id, .. } | Reading::Spot { external_id, .. } => {
                (external_id, None)
            }
        };
        let mapped = self.external.resolve(self.city, external_id, lane);
        // An id the registry does not map is tried as a registry id itself.
        let id = mapped.map_or(external_id, |m| m.id.as_str());
        let result = match *reading {
            Reading::Traffic {
                lane,
                ts,
                interval_s,
                vehicle_count,
                avg_speed_kmh,
                occupancy_pct,
                ..
            } => {
                // The registry's lane for the feed's index (`id#i=l`: index `i` is lane
                // `l`; `id#n`: lane `n`), else the feed's own lane number.
                let lane = mapped
                    .and_then(|m| m.lane)
                    .map(i64::from)
                    .or(lane)
                    .unwrap_or(0);
                let obs = TrafficObservation {
                    city: self.city_id,
                    sensor_id: id,
                    lane,
                    ts,
                    interval_s,
                    vehicle_count,
                    heavy_vehicle_count: None,
                    avg_speed_kmh,
                    occupancy_pct,
                };
                self.sinks
                    .traffic
                    .push(self.sinks.catalog, Some(self.city), &obs, self.bounds)
            }
            Reading::Facility {
                ts,
                free_spaces,
                total_spaces,
                entries,
                exits,
                ..
            } => {
                let obs = ParkingObservation::Facility {
                    city: self.city_id,
                    id,
                    ts,
                    free_spaces,
                    total_spaces,
                    entries,
                    exits,
                };
                self.sinks
                    .parking
                    .push(self.sinks.catalog, Some(self.city), &obs, self.bounds)
            }
            Reading::Spot { ts, status, .. } => {
                let obs = ParkingObservation::Spot {
                    city: self.city_id,
                    id,
                    facility_id: None,
                    ts,
                    status,
                };
                self.sinks
                    .parking
                    .push(self.sinks.catalog, Some(self.city), &obs, self.bounds)
            }
        };
        result.map_err(|rejection| match (rejection.reason, mapped) {
            (RejectReason::UnknownSensor, None) => unknown_id(external_id, self.city_id),
            _ => rejection,
        })
    }
}

/// The refusal of a feed id the registry of `city_id` does not know.
pub(crate) fn unknown_id(external_id: &str, city_id: &str) -> Rejection {
    Rejection::new(
        RejectReason::UnknownSensor,
        format!(
            "`{external_id}` is neither an external_id nor an id in the registry of `{city_id}`"
        ),
    )
}

/// A refusal as `malformed` with `detail`.
pub(crate) fn malformed(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::Malformed, detail.into())
}
