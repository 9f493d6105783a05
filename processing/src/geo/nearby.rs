//! Parking facilities near a position, across all cities: a P+R just over a city border
//! is as good as one inside it.
//!
//! The search is a bounded linear scan: one haversine per facility. The network has well
//! under a thousand facilities, so a request costs tens of microseconds; an R-tree would
//! need a metres-to-degrees envelope (which depends on latitude) to save that, and one
//! more structure to keep in step with the registries.

use super::haversine_m;
use crate::time::ProcessingTime;
use crate::window::parking::FacilityLive;

/// A facility and where it is, from a registry.
#[derive(Debug, Clone, PartialEq)]
pub struct FacilityPlace {
    /// The city whose registry lists it.
    pub city: String,
    /// Facility id, unique within the city.
    pub facility_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearbyQuery {
    /// Latitude of the searcher, degrees.
    pub lat: f64,
    /// Longitude of the searcher, degrees.
    pub lon: f64,
    /// Facilities farther than this (great-circle) are left out, metres.
    pub radius_m: f64,
    /// Facilities with fewer free spaces are left out. At 0 every facility in the radius
    /// is listed, including those that never reported or are stale.
    pub min_free: u32,
}

/// One facility found.
#[derive(Debug, Clone, PartialEq)]
pub struct NearbyFacility<'a> {
    /// The facility.
    pub place: &'a FacilityPlace,
    /// Great-circle distance from the query position, metres.
    pub distance_m: f64,
    /// Its current level, if it ever reported.
    pub level: Option<FacilityLive>,
    /// True when it never reported or its level is older than the stale limit.
    pub stale: bool,
}

/// Returns the facilities of `places` within the radius of `query` that have at least
/// `min_free` free spaces, nearest first (ties by city, then facility id).
///
/// A facility that never reported, or whose level is older than `stale_after_ms` at
/// `now` (the `stale` of the parking endpoint), cannot show that it has a free space, so
/// it is only listed when `min_free` is 0; `level_of` gives a facility's current level.
///
/// ```
/// use stadtpuls_processing::geo::nearby::{FacilityPlace, NearbyQuery, nearby};
/// use stadtpuls_processing::window::parking::FacilityLive;
///
/// let place = |id: &str, lat| FacilityPlace { city: "ulm".into(), facility_id: id.into(),
///     name: None, lat, lon: 10.0 };
/// let places = [place("far", 48.02), place("near", 48.005)];
/// let query = NearbyQuery { lat: 48.0, lon: 10.0, radius_m: 5_000.0, min_free: 1 };
/// let level = |_: &FacilityPlace| Some(FacilityLive::new(3, Some(9), 0));
/// let found = nearby(&places, &query, level, 0, 900_000);
/// assert_eq!(found[0].place.facility_id, "near"); // 556 m
/// assert_eq!(found[1].place.facility_id, "far"); // 2 224 m
/// ```
pub fn nearby<'a>(
    places: &'a [FacilityPlace],
    query: &NearbyQuery,
    level_of: impl Fn(&FacilityPlace) -> Option<FacilityLive>,
    now: ProcessingTime,
    stale_after_ms: i64,
) -> Vec<NearbyFacility<'a>> {
    let mut found = Vec::new();
    for place in places {
        let distance_m = haversine_m(query.lat, query.lon, place.lat, place.lon);
        if distance_m > query.radius_m {
            continue;
        }
        let level = level_of(place);
        let stale = level.is_none_or(|level| level.is_stale(now, stale_after_ms));
        let enough = query.min_free == 0
            || (!stale && level.is_some_and(|level| level.free >= query.min_free));
        if enough {
            found.push(NearbyFacility {
                place,
                distance_m,
                level,
                stale,
            });
        }
    }
    found.sort_by(|a, b| {
        a.distance_m
            .total_cmp(&b.distance_m)
            .then_with(|| a.place.city.cmp(&b.place.city))
            .then_with(|| a.place.facility_id.cmp(&b.place.facility_id))
    });
    found
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const NOW: i64 = 1_795_478_400_000;

    fn place(city: &str, id: &str, lat: f64, lon: f64) -> FacilityPlace {
        FacilityPlace {
            city: city.to_owned(),
            facility_id: id.to_owned(),
            name: None,
            lat,
            lon,
        }
    }

    /// Along the meridian 8.406 E near the Karlsruhe/Ettlingen border, 0.001° of latitude
    /// is R·π/180 · 0.001 = 111.195 m.
    fn border() -> (Vec<FacilityPlace>, HashMap<String, FacilityLive>) {
        let places = vec![
            place("karlsruhe", "ka-far", 48.974, 8.406),    // 1 112 m
            place("ettlingen", "et-pr", 48.966, 8.406),     // 222 m
            place("karlsruhe", "ka-pr", 48.966, 8.406),     // 222 m, same site
            place("ettlingen", "et-full", 48.965, 8.406),   // 111 m, no space
            place("karlsruhe", "ka-stale", 48.9625, 8.406), // 167 m, stale
            place("ettlingen", "et-silent", 48.9645, 8.406), // 56 m, never reported
            place("ettlingen", "et-out", 48.990, 8.406),    // 2 891 m
        ];
        let level = |free, age_ms| FacilityLive::new(free, Some(300), NOW - age_ms);
        let levels = HashMap::from([
            ("ka-far".to_owned(), level(40, 0)),
            ("et-pr".to_owned(), level(12, 60_000)),
            ("ka-pr".to_owned(), level(12, 60_000)),
            ("et-full".to_owned(), level(0, 0)),
            ("ka-stale".to_owned(), level(99, 3_600_000)),
            ("et-out".to_owned(), level(99, 0)),
        ]);
        (places, levels)
    }

    fn search(min_free: u32, radius_m: f64) -> Vec<(String, f64)> {
        let (places, levels) = border();
        let query = NearbyQuery {
            lat: 48.964,
            lon: 8.406,
            radius_m,
            min_free,
        };
        nearby(
            &places,
            &query,
            |p| levels.get(&p.facility_id).copied(),
            NOW,
            900_000,
        )
        .into_iter()
        .map(|found| (found.place.facility_id.clone(), found.distance_m))
        .collect()
    }

    #[test]
    fn nearest_first_across_cities_with_free_spaces() {
        let found = search(1, 2_000.0);
        let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        // equal distance: ettlingen before karlsruhe
        assert_eq!(ids, ["et-pr", "ka-pr", "ka-far"]);
        assert!((found[0].1 - 222.39).abs() < 0.01, "{}", found[0].1);
        assert!((found[2].1 - 1_111.95).abs() < 0.01, "{}", found[2].1);
    }

    #[test]
    fn min_free_filters_and_zero_lists_everything_in_range() {
        let ids = |found: Vec<(String, f64)>| -> Vec<String> {
            found.into_iter().map(|(id, _)| id).collect()
        };
        assert_eq!(ids(search(13, 2_000.0)), ["ka-far"]);
        assert_eq!(
            ids(search(0, 2_000.0)),
            [
                "et-silent",
                "et-full",
                "ka-stale",
                "et-pr",
                "ka-pr",
                "ka-far"
            ]
        );
        assert!(search(1, 100.0).is_empty());
        assert_eq!(
            ids(search(1, 5_000.0)).last().map(String::as_str),
            Some("et-out")
        );
    }

    #[test]
    fn stale_and_silent_facilities_are_flagged() {
        let (places, levels) = border();
        let query = NearbyQuery {
            lat: 48.964,
            lon: 8.406,
            radius_m: 200.0,
            min_free: 0,
        };
        let found = nearby(
            &places,
            &query,
            |p| levels.get(&p.facility_id).copied(),
            NOW,
            900_000,
        );
        let flags: Vec<(&str, bool, bool)> = found
            .iter()
            .map(|f| (f.place.facility_id.as_str(), f.stale, f.level.is_some()))
            .collect();
        assert_eq!(
            flags,
            [
                ("et-silent", true, false),
                ("et-full", false, true),
                ("ka-stale", true, true)
            ]
        );
    }
}
