//! What a partner-feed decoder hands over: [`Reading`]s in the feed's own ids, which
//! [`Emit`] maps to registry entities (`external.rs`) and pushes through the same
//! validating builders as the native format, or refusals of one element each.
//!
//! A decoder never touches the builders or the catalog itself, so every format gets the
//! same validation, the same reasons and the same dead letters.

use std::borrow::Cow;

use stadtpuls_processing::catalog::{AdmittedFacility, CityKey};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::{
    OpeningStatus, ParkingObservation, SpotStatus, admissible_capacity,
};
use stadtpuls_processing::model::traffic::TrafficObservation;
use stadtpuls_processing::{RejectReason, Rejection};
use tracing::info;

use super::Rejected;
use super::admit::admitted_id;
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
        /// Its name, if the feed gives one (kept for a facility admitted at run time).
        name: Option<Cow<'a, str>>,
        /// Its position (latitude, longitude), if the feed gives one (likewise).
        position: Option<(f64, f64)>,
        /// Opening status, when the feed states one.
        opening: Option<OpeningStatus>,
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
    /// Facilities admitted at run time so far (`admit_unmapped_facilities`).
    pub(crate) admitted: usize,
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
        let external: &ExternalIds = self.external;
        let mapped = external.resolve(self.city, external_id, lane);
        // An id the registry does not map is tried as a registry id itself, then (a
        // facility of a city that admits them) as one admitted at run time.
        let admitted;
        let id = match mapped {
            Some(m) => m.id.as_str(),
            None => match reading {
                Reading::Facility { .. } if self.admits(external_id) => {
                    admitted = self.admit(external_id, reading)?;
                    admitted.as_str()
                }
                _ => external_id,
            },
        };
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
                opening,
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
                    opening,
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

impl Emit<'_, '_> {
    /// Whether `external_id`, which no `external_id` maps, is a facility to look up or
    /// admit among those admitted at run time: its city admits them and it is not a
    /// registry id itself.
    fn admits(&self, external_id: &str) -> bool {
        let catalog = &*self.sinks.catalog;
        catalog.admits_facilities(self.city)
            && catalog.facility_key(self.city, external_id).is_none()
    }

    /// The id of the admitted facility `external_id` names, admitting it first if this is
    /// its first reading: only a reading that states a capacity and would be accepted
    /// admits (never one refused right after), else it is refused as the unmapped id it is.
    fn admit(&mut self, external_id: &str, reading: &Reading<'_>) -> Result<String, Rejection> {
        let id = admitted_id(external_id);
        if self.sinks.catalog.facility_key(self.city, &id).is_some() {
            return Ok(id);
        }
        let Reading::Facility {
            ts,
            free_spaces,
            total_spaces,
            entries,
            exits,
            name,
            position,
            opening,
            ..
        } = reading
        else {
            return Ok(id);
        };
        let obs = ParkingObservation::Facility {
            city: self.city_id,
            id: &id,
            ts: *ts,
            free_spaces: *free_spaces,
            total_spaces: *total_spaces,
            entries: *entries,
            exits: *exits,
            opening: *opening,
        };
        let capacity = admissible_capacity(&obs, self.bounds).map_err(|rejection| {
            if rejection.reason == RejectReason::UnknownSensor {
                let mut refusal = unknown_id(external_id, self.city_id);
                refusal
                    .detail
                    .push_str(", and states no capacity to admit it with");
                refusal
            } else {
                rejection
            }
        })?;
        let site = AdmittedFacility {
            city: self.city_id.to_owned(),
            id: id.clone(),
            external_id: external_id.to_owned(),
            capacity,
            name: name.as_deref().map(str::to_owned),
            position: *position,
        };
        if self.sinks.catalog.admit_facility(site).is_some() {
            self.admitted += 1;
            info!(
                city = self.city_id,
                external_id,
                facility_id = %id,
                capacity,
                "facility `{external_id}` of `{}` admitted at run time as `{id}` (not in the registry; admit_unmapped_facilities)",
                self.city_id
            );
        }
        Ok(id)
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
