//! Regional views: several cities seen as one (`[[regions]]`), computed from the live
//! view's values; no I/O, no clock (`now` is passed in).
//!
//! Which member cities count is the caller's business (the API asks its sharing policy
//! and passes only the cities a request may see): everything here sums what it is given,
//! so a city left out contributes nothing to any total.
//!
//! - [`parking`]: free, total and occupancy over the member cities' facilities, overall,
//!   by [`FacilityKind`] (P+R separately) and per city, each with the rule of the city
//!   totals ([`roll_up`]), so a region and its cities never disagree on what counts; a
//!   facility listed by two member cities counts once ([`Listings`]).
//! - [`corridors`]: flow and space-mean speed over the region's corridor sensors (the
//!   roads crossing its city borders), per sensor and as one aggregate.

mod shared;
mod traffic;

use std::collections::BTreeMap;

use stadtpuls_config::FacilityType;

use crate::live::{LiveState, ParkingTotals, roll_up};
use crate::time::ProcessingTime;
use crate::window::parking::FacilityLive;

pub use shared::{Listings, SAME_SITE_M, Shared};
pub use traffic::{CorridorRollup, CorridorWindow, corridors};

/// What kind of facility a registry entry is, for the regional breakdown.
///
/// A registry row may say what a facility is (column `facility_type`,
/// [`FacilityKind::of_facility`]). Without it, the registry still knows a car park from
/// an on-street zone (a facility with spot sensors), and a P+R is told by its name, where
/// partner publications write it (VRS `1035[P+R Bondorf]`, MobiData BW's "P+R …" sites):
/// a car park whose name says P+R ([`FacilityKind::of`]) is one. The kinds do not
/// overlap: their totals add up to the region's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FacilityKind {
    /// A counted car park or garage that is not a P+R site.
    CarPark,
    /// A park-and-ride site.
    ParkAndRide,
    /// An on-street zone of spot sensors.
    OnStreet,
}

impl FacilityKind {
    /// Every kind, in the order the API lists them.
    pub const ALL: [FacilityKind; 3] = [Self::CarPark, Self::ParkAndRide, Self::OnStreet];

    /// The name in JSON and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CarPark => "car_park",
            Self::ParkAndRide => "park_and_ride",
            Self::OnStreet => "on_street",
        }
    }

    /// The kind of a registry facility named `name`: on-street when it has spot sensors,
    /// else P+R when the name says so (`P+R`, `P&R`, `Park+Ride`, `Park & Ride`,
    /// `Park-and-Ride`, any case, anywhere in the name), else a car park.
    ///
    /// ```
    /// use stadtpuls_processing::region::FacilityKind;
    /// assert_eq!(FacilityKind::of(Some("P+R Donautal"), false), FacilityKind::ParkAndRide);
    /// assert_eq!(FacilityKind::of(Some("Bondorf (Park & Ride)"), false), FacilityKind::ParkAndRide);
    /// assert_eq!(FacilityKind::of(Some("Parkhaus Deutschhaus"), false), FacilityKind::CarPark);
    /// assert_eq!(FacilityKind::of(Some("P+R Zone"), true), FacilityKind::OnStreet);
    /// assert_eq!(FacilityKind::of(None, false), FacilityKind::CarPark);
    /// ```
    pub fn of(name: Option<&str>, on_street: bool) -> Self {
        if on_street {
            return Self::OnStreet;
        }
        match name {
            Some(name) if names_park_and_ride(name) => Self::ParkAndRide,
            _ => Self::CarPark,
        }
    }
}

impl FacilityKind {
    /// The kind of a registry facility: its `facility_type` when the row has one (the
    /// registry's word wins over the name and the spots), else [`FacilityKind::of`].
    ///
    /// ```
    /// use stadtpuls_config::FacilityType;
    /// use stadtpuls_processing::region::FacilityKind;
    /// // A P+R whose name does not say so, and a garage whose name seems to.
    /// assert_eq!(FacilityKind::of_facility(Some(FacilityType::ParkAndRide), Some("Messe Nord"), false), FacilityKind::ParkAndRide);
    /// assert_eq!(FacilityKind::of_facility(Some(FacilityType::CarPark), Some("Parkhaus P+R-Platz"), false), FacilityKind::CarPark);
    /// assert_eq!(FacilityKind::of_facility(None, Some("P+R Süd"), false), FacilityKind::ParkAndRide);
    /// ```
    pub fn of_facility(
        declared: Option<FacilityType>,
        name: Option<&str>,
        on_street: bool,
    ) -> Self {
        match declared {
            Some(FacilityType::CarPark) => Self::CarPark,
            Some(FacilityType::ParkAndRide) => Self::ParkAndRide,
            Some(FacilityType::OnStreet) => Self::OnStreet,
            None => Self::of(name, on_street),
        }
    }
}

/// Whether a facility name says park-and-ride; spaces, `-`, `_` and `.` are ignored and
/// `&`/`and` count as `+`, so the spellings partners use all match.
fn names_park_and_ride(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    let folded = folded.replace('&', "+").replace("parkandride", "park+ride");
    folded.contains("p+r") || folded.contains("park+ride")
}

/// One member facility, as the API hands it over: its city, its kind and its current
/// level (`None`: registered, never reported).
#[derive(Debug, Clone, Copy)]
pub struct RegionFacility<'a> {
    /// Index of its city in the `cities` given to [`parking`].
    pub city: usize,
    /// Its kind.
    pub kind: FacilityKind,
    /// Its current level.
    pub level: Option<&'a FacilityLive>,
}

/// A region's parking now.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionParking {
    /// Over every facility given.
    pub totals: ParkingTotals,
    /// Per kind, in [`FacilityKind::ALL`] order; they add up to `totals`.
    pub by_kind: [(FacilityKind, ParkingTotals); 3],
    /// Per city, in the order of the `cities` given (each equal to that city's own
    /// totals, `GET /v1/cities/{city}/parking`).
    pub by_city: Vec<ParkingTotals>,
}

/// Rolls a region's facilities up: with [`roll_up`]'s rule (over the facilities whose
/// level is not stale at `now`, free = Σ min(fᵢ, cᵢ), total = Σ cᵢ, occupancy =
/// 100 · (total − free) / total — capacity-weighted, so a 1 000-space P+R weighs ten
/// times a 100-space garage), once over all of them, once per kind and once per city
/// (`cities` is the number of cities the facilities' `city` indexes).
///
/// ```
/// use stadtpuls_processing::region::{FacilityKind, RegionFacility, parking};
/// use stadtpuls_processing::window::parking::FacilityLive;
///
/// let now = 1_000_000;
/// let garage = FacilityLive::new(40, Some(100), now - 60_000);
/// let park_and_ride = FacilityLive::new(150, Some(300), now - 60_000);
/// let region = parking(2, [
///     RegionFacility { city: 0, kind: FacilityKind::CarPark, level: Some(&garage) },
///     RegionFacility { city: 1, kind: FacilityKind::ParkAndRide, level: Some(&park_and_ride) },
///     RegionFacility { city: 1, kind: FacilityKind::CarPark, level: None },
/// ], now, 900_000);
/// // 190 free of 400: 210 occupied, 52.5 %
/// assert_eq!((region.totals.free, region.totals.total), (190, 400));
/// assert_eq!(region.totals.occupancy_pct, Some(52.5));
/// assert_eq!(region.by_kind[1].1.free, 150); // P+R
/// assert_eq!(region.by_city[1].facilities_stale, 1);
/// ```
pub fn parking<'a>(
    cities: usize,
    facilities: impl IntoIterator<Item = RegionFacility<'a>>,
    now: ProcessingTime,
    stale_after_ms: i64,
) -> RegionParking {
    let facilities: Vec<RegionFacility<'a>> = facilities.into_iter().collect();
    let sum = |keep: &dyn Fn(&RegionFacility<'a>) -> bool| {
        roll_up(
            facilities.iter().filter(|f| keep(f)).map(|f| f.level),
            now,
            stale_after_ms,
        )
    };
    RegionParking {
        totals: sum(&|_| true),
        by_kind: FacilityKind::ALL.map(|kind| (kind, sum(&|f| f.kind == kind))),
        by_city: (0..cities).map(|city| sum(&|f| f.city == city)).collect(),
    }
}

/// A member city's registered facilities with their kinds: static, built once from the
/// registry so a request only looks levels up.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberFacilities {
    /// The city id.
    pub city: String,
    /// Its facilities in registry order.
    pub facilities: Vec<MemberFacility>,
}

/// One facility of a member city.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberFacility {
    /// Registry id.
    pub id: String,
    /// Its kind ([`FacilityKind::of_facility`]).
    pub kind: FacilityKind,
    /// Its external ids and position, when it has external ids: what tells it when
    /// another member city lists it too ([`Listings`]).
    pub shared: Option<Shared>,
}

impl MemberFacilities {
    /// The `facilities` of `city`, in registry order.
    pub fn new(city: &str, facilities: impl IntoIterator<Item = MemberFacility>) -> Self {
        Self {
            city: city.to_owned(),
            facilities: facilities.into_iter().collect(),
        }
    }
}

/// The regional parking view of `members` now, from the live view's current levels: what
/// `GET /v1/regions/{region}/parking` computes per request (the members are the ones the
/// caller may see; `by_city` follows their order). A facility listed by two of them counts
/// under the first only ([`Listings`]), so `by_city` of the later one leaves it out.
pub fn parking_now(
    live: &LiveState,
    members: &[&MemberFacilities],
    now: ProcessingTime,
    stale_after_ms: i64,
) -> RegionParking {
    let levels: Vec<BTreeMap<String, FacilityLive>> =
        members.iter().map(|m| live.facilities(&m.city)).collect();
    let mut listings = Listings::default();
    let mut facilities = Vec::new();
    for (city, (member, levels)) in members.iter().zip(&levels).enumerate() {
        for facility in &member.facilities {
            if listings.first_of(facility.shared.as_ref()) {
                facilities.push(RegionFacility {
                    city,
                    kind: facility.kind,
                    level: levels.get(&facility.id),
                });
            }
        }
    }
    parking(members.len(), facilities, now, stale_after_ms)
}

#[cfg(test)]
mod tests;
