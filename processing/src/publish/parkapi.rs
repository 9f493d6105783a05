//! ParkAPI v3 parking sites (`GET /v1/cities/{city}/parkapi/parking-sites`), the JSON a
//! ParkAPI instance (e.g. MobiData BW) pulls: static fields and realtime fields in one
//! object per site, as parkapi-sources' `CombinedParkingSiteInput` validates them.
//!
//! Serialised by the caller (`serde`); here only the mapping:
//!
//! - `uid` = registry id, `name` = registry name (the id when it has none: ParkAPI
//!   requires a name), `lat`/`lon`, `purpose` `CAR`, `type` `ON_STREET` for a zone of
//!   spot sensors, else `CAR_PARK`; `capacity` = registry capacity, else the current one.
//!   A facility with neither has no site (ParkAPI requires a capacity).
//! - `static_data_updated_at` = when the registry was loaded.
//! - Reported: `has_realtime_data` true, `realtime_free_capacity` (clamped to the current
//!   capacity), `realtime_capacity` (when known), `realtime_data_updated_at` = time of
//!   the reading (its age), `realtime_opening_status` `OPEN`, `CLOSED` for a facility its
//!   operator reports closed (or a zone whose every spot is closed), `UNKNOWN` when the
//!   operator's newest count said so.
//! - Stale (silent longer than `parking.stale_after`): the last counts and their time,
//!   `realtime_opening_status` `UNKNOWN` — ParkAPI has no field for age but the time.
//! - Never reported: `has_realtime_data` false and no realtime field.

use serde::Serialize;

use super::{Freshness, Publication, PublishedFacility};
use crate::time::to_rfc3339;

/// One ParkAPI v3 parking site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParkingSite<'a> {
    /// Registry id.
    pub uid: &'a str,
    /// Display name (the id when the registry has none).
    pub name: &'a str,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// `CAR`.
    pub purpose: &'static str,
    /// `ON_STREET` or `CAR_PARK`.
    #[serde(rename = "type")]
    pub site_type: &'static str,
    /// Spaces (registry, else current).
    pub capacity: u32,
    /// Whether realtime fields follow.
    pub has_realtime_data: bool,
    /// Load time of the registry, RFC 3339.
    pub static_data_updated_at: String,
    /// Time of the newest reading, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime_data_updated_at: Option<String>,
    /// `OPEN`, `CLOSED` or `UNKNOWN` (stale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime_opening_status: Option<&'static str>,
    /// Current usable capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime_capacity: Option<u32>,
    /// Free spaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime_free_capacity: Option<u32>,
}

/// The list document: `{"items": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParkingSiteList<'a> {
    /// One site per facility with a known capacity.
    pub items: Vec<ParkingSite<'a>>,
}

/// The sites of `facilities`, in their order.
pub fn parking_sites<'a>(
    publication: &Publication<'_>,
    facilities: &'a [PublishedFacility<'a>],
) -> ParkingSiteList<'a> {
    ParkingSiteList {
        items: facilities
            .iter()
            .filter_map(|f| parking_site(publication, f))
            .collect(),
    }
}

/// The site of one facility; `None` when no capacity is known (see the module docs).
pub fn parking_site<'a>(
    publication: &Publication<'_>,
    facility: &PublishedFacility<'a>,
) -> Option<ParkingSite<'a>> {
    let capacity = facility
        .capacity
        .or_else(|| facility.level.and_then(|l| l.total))?;
    let mut site = ParkingSite {
        uid: facility.id,
        name: facility.name.unwrap_or(facility.id),
        lat: facility.lat,
        lon: facility.lon,
        purpose: "CAR",
        site_type: if facility.on_street {
            "ON_STREET"
        } else {
            "CAR_PARK"
        },
        capacity,
        has_realtime_data: false,
        static_data_updated_at: to_rfc3339(publication.static_since),
        realtime_data_updated_at: None,
        realtime_opening_status: None,
        realtime_capacity: None,
        realtime_free_capacity: None,
    };
    let (level, stale) = match facility.freshness(publication) {
        Freshness::Never => return Some(site),
        Freshness::Stale(level) => (level, true),
        Freshness::Fresh(level) => (level, false),
    };
    site.has_realtime_data = true;
    site.realtime_data_updated_at = Some(to_rfc3339(level.updated_at));
    site.realtime_opening_status = Some(match () {
        () if stale => "UNKNOWN",
        () if PublishedFacility::closed(&level) => "CLOSED",
        () if PublishedFacility::opening_unknown(&level) => "UNKNOWN",
        () => "OPEN",
    });
    site.realtime_capacity = level.total;
    site.realtime_free_capacity = Some(PublishedFacility::vacant(&level));
    Some(site)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::parking::{FacilityLive, ParkingStatus};

    /// 2026-11-24T01:00:00Z.
    const NOW: i64 = 1_795_482_000_000;

    fn publication() -> Publication<'static> {
        Publication {
            city: "ulm",
            published_at: NOW,
            static_since: NOW - 86_400_000,
            stale_after_ms: 900_000,
        }
    }

    fn facility(level: Option<FacilityLive>, capacity: Option<u32>) -> PublishedFacility<'static> {
        PublishedFacility {
            id: "ulm-p-1",
            name: None,
            lat: 48.398,
            lon: 9.991,
            capacity,
            on_street: false,
            level,
        }
    }

    #[test]
    fn fresh_stale_closed_never_and_no_capacity() {
        let p = publication();
        let fresh = parking_site(
            &p,
            &facility(
                Some(FacilityLive::new(25, Some(90), NOW - 60_000)),
                Some(100),
            ),
        );
        let fresh = fresh.expect("site");
        assert_eq!(
            (fresh.name, fresh.capacity, fresh.site_type),
            ("ulm-p-1", 100, "CAR_PARK")
        );
        assert_eq!(fresh.realtime_free_capacity, Some(25));
        assert_eq!(fresh.realtime_capacity, Some(90));
        assert_eq!(fresh.realtime_opening_status, Some("OPEN"));
        assert_eq!(
            fresh.realtime_data_updated_at.as_deref(),
            Some("2026-11-24T00:59:00.000Z")
        );
        assert_eq!(fresh.static_data_updated_at, "2026-11-23T01:00:00.000Z");

        let stale = parking_site(
            &p,
            &facility(
                Some(FacilityLive::new(5, Some(50), NOW - 3_600_000)),
                Some(50),
            ),
        );
        let stale = stale.expect("site");
        assert_eq!(stale.realtime_opening_status, Some("UNKNOWN"));
        assert_eq!(stale.realtime_free_capacity, Some(5));
        assert_eq!(
            stale.realtime_data_updated_at.as_deref(),
            Some("2026-11-24T00:00:00.000Z")
        );

        let mut closed = FacilityLive::new(0, Some(0), NOW);
        closed.status = Some(ParkingStatus::Closed);
        let closed = parking_site(&p, &facility(Some(closed), Some(12))).expect("site");
        assert_eq!(closed.realtime_opening_status, Some("CLOSED"));

        let never = parking_site(&p, &facility(None, Some(300))).expect("site");
        assert!(!never.has_realtime_data);
        assert_eq!(never.realtime_free_capacity, None);

        // Capacity from the level when the registry has none; no site without either.
        let level_only = facility(Some(FacilityLive::new(3, Some(40), NOW)), None);
        assert_eq!(parking_site(&p, &level_only).map(|s| s.capacity), Some(40));
        assert_eq!(parking_site(&p, &facility(None, None)), None);
    }

    /// A car park its operator closed: `CLOSED` with none free and its capacity; one
    /// whose operator does not know: `UNKNOWN` with its counts; stale wins over both.
    #[test]
    fn the_operators_opening_status() {
        use crate::model::parking::OpeningStatus;
        let p = publication();
        let at = |opening, age| {
            let level = FacilityLive::new(30, Some(90), NOW - age).with_opening(Some(opening));
            parking_site(&p, &facility(Some(level), Some(100))).expect("site")
        };
        let closed = at(OpeningStatus::Closed, 60_000);
        assert_eq!(closed.realtime_opening_status, Some("CLOSED"));
        assert_eq!(
            (closed.realtime_free_capacity, closed.realtime_capacity),
            (Some(0), Some(90))
        );
        let unknown = at(OpeningStatus::Unknown, 60_000);
        assert_eq!(unknown.realtime_opening_status, Some("UNKNOWN"));
        assert_eq!(unknown.realtime_free_capacity, Some(30));
        assert_eq!(
            at(OpeningStatus::Open, 60_000).realtime_opening_status,
            Some("OPEN")
        );
        let stale_closed = at(OpeningStatus::Closed, 3_600_000);
        assert_eq!(stale_closed.realtime_opening_status, Some("UNKNOWN"));
    }
}
