//! The standard outputs: a city's parking facilities rendered in the formats partners and
//! national platforms take unchanged — DATEX II 2.3 ([`datex2`]), ParkAPI v3 ([`parkapi`])
//! and NGSI-LD ([`ngsi_ld`]).
//!
//! Rendering is formatting of values the caller hands in ([`PublishedFacility`], a registry
//! entry with its current level, and a [`Publication`] saying whose it is and when): no
//! I/O, no clock, no access decisions. Which cities a request may see is decided by the
//! caller (the API) before it collects the facilities.
//!
//! A region's publication ([`region`]) is the same documents over several member cities'
//! facilities, with region-wide record ids and a publisher of its own.

pub mod datex2;
pub mod ngsi_ld;
pub mod parkapi;
pub mod region;

use std::collections::BTreeMap;

use stadtpuls_config::{CityRegistry, FacilityType};

use crate::model::parking::OpeningStatus;
use crate::time::{EventTime, ProcessingTime};
use crate::window::parking::FacilityLive;

/// One registered facility with its current level, as every output renders it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedFacility<'a> {
    /// Registry id; the record id of every output.
    pub id: &'a str,
    /// Display name.
    pub name: Option<&'a str>,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Capacity from the registry (the static table's number of spaces).
    pub capacity: Option<u32>,
    /// An on-street zone of single-space sensors (spots in the registry), else a car park.
    pub on_street: bool,
    /// Current level; `None` if it never reported.
    pub level: Option<FacilityLive>,
}

/// A registered facility's static facts, owned: what the outputs take from the registry
/// (the HTTP routes and the Kafka topics of DATEX II and NGSI-LD alike).
#[derive(Debug, Clone, PartialEq)]
pub struct FacilityFacts {
    /// Registry id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Spaces, from the registry.
    pub capacity: Option<u32>,
    /// An on-street zone of spot sensors (spots in the registry), else a car park.
    pub on_street: bool,
    /// What the registry says it is (column `facility_type`), if it does: the regional
    /// views' breakdown (`region::FacilityKind::of_facility`).
    pub facility_type: Option<FacilityType>,
    /// The registry's `external_id`s: a region tells a facility two member cities list
    /// by them (`region::Listings`).
    pub external_ids: Vec<String>,
}

impl FacilityFacts {
    /// The parking facilities of `registry`, in registry order.
    pub fn of_registry(registry: &CityRegistry) -> Vec<Self> {
        registry
            .facilities()
            .map(|s| Self {
                id: s.id.clone(),
                name: s.name.clone(),
                lat: s.lat,
                lon: s.lon,
                capacity: s.capacity,
                on_street: registry.spots_of(&s.id).next().is_some(),
                facility_type: s.facility_type,
                external_ids: s.external_ids.iter().map(|e| e.id.clone()).collect(),
            })
            .collect()
    }

    /// These facts with the facility's current `level`, as the renderers take them.
    pub fn with_level(&self, level: Option<FacilityLive>) -> PublishedFacility<'_> {
        PublishedFacility {
            id: &self.id,
            name: self.name.as_deref(),
            lat: self.lat,
            lon: self.lon,
            capacity: self.capacity,
            on_street: self.on_street,
            level,
        }
    }
}

/// `facilities` with their current levels from `levels` (by id; `None` if never reported).
pub fn with_levels<'a>(
    facilities: &'a [FacilityFacts],
    levels: &BTreeMap<String, FacilityLive>,
) -> Vec<PublishedFacility<'a>> {
    facilities
        .iter()
        .map(|f| f.with_level(levels.get(&f.id).copied()))
        .collect()
}

/// Whose publication it is and when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Publication<'a> {
    /// The publisher: a city id, or a region's [`region::publisher`] id
    /// (`region.<id>`); names the supplier and the table (`stadtpuls-<city>`).
    pub city: &'a str,
    /// Wall-clock time of the rendering, epoch ms.
    pub published_at: ProcessingTime,
    /// When the static data (the registry) was loaded, epoch ms: the version time of the
    /// static records.
    pub static_since: EventTime,
    /// A level older than this (at `published_at`) is stale (`parking.stale_after`).
    pub stale_after_ms: i64,
}

impl Publication<'_> {
    /// The supplier / table identifier: `stadtpuls-<city>`.
    pub fn supplier(&self) -> String {
        format!("stadtpuls-{}", self.city)
    }
}

/// What a facility's level says at publication time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Freshness {
    /// Never reported: nothing to publish but the static record.
    Never,
    /// Reported longer ago than `stale_after`: the last count, marked as old.
    Stale(FacilityLive),
    /// Reported within `stale_after`.
    Fresh(FacilityLive),
}

impl PublishedFacility<'_> {
    /// Classifies the level at `publication` time.
    pub fn freshness(&self, publication: &Publication<'_>) -> Freshness {
        match self.level {
            None => Freshness::Never,
            Some(level) if level.is_stale(publication.published_at, publication.stale_after_ms) => {
                Freshness::Stale(level)
            }
            Some(level) => Freshness::Fresh(level),
        }
    }

    /// Free spaces as published: clamped to the current capacity when it is known (a
    /// counter reporting more free than total spaces is overcrowding, not extra room).
    pub fn vacant(level: &FacilityLive) -> u32 {
        match level.total {
            Some(total) => level.free.min(total),
            None => level.free,
        }
    }

    /// Whether the level says the facility admits nobody (its operator reports it
    /// closed, or every spot of the zone is closed).
    pub fn closed(level: &FacilityLive) -> bool {
        level.is_closed()
    }

    /// Whether the operator's newest count said it does not know whether the facility is
    /// open: published as such rather than as open.
    pub fn opening_unknown(level: &FacilityLive) -> bool {
        level.opening == Some(OpeningStatus::Unknown)
    }

    /// A version of the static record: changes when its name, position or capacity does
    /// (FNV-1a over them), so a consumer holding the table sees which records changed.
    pub fn static_version(&self) -> u64 {
        let mut hash = Fnv::default();
        hash.write(self.id.as_bytes());
        hash.write(&[0xff]);
        hash.write(self.name.unwrap_or_default().as_bytes());
        hash.write(&[0xff]);
        hash.write(&self.lat.to_bits().to_le_bytes());
        hash.write(&self.lon.to_bits().to_le_bytes());
        hash.write(&self.capacity.map_or(u64::MAX, u64::from).to_le_bytes());
        hash.write(&[u8::from(self.on_street)]);
        hash.finish()
    }
}

/// The version of a whole table: FNV-1a over its records' versions.
pub fn table_version(facilities: &[PublishedFacility<'_>]) -> u64 {
    let mut hash = Fnv::default();
    for facility in facilities {
        hash.write(&facility.static_version().to_le_bytes());
    }
    hash.finish()
}

/// Rounds to two decimals (percentages: sensors count whole cars).
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// 64-bit FNV-1a: stable across builds and releases (unlike `std`'s hasher), so versions
/// do not change when the binary does.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What a client's cache needs of a live publication: a validator that changes exactly
/// when the published content does (`ETag`), and when it last did (`Last-Modified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision {
    /// FNV-1a over the static versions and every published level (counts, status, trend,
    /// opening status, reading time, staleness); the publication time is not part of it.
    pub tag: u64,
    /// The latest of: the static data's load time, each level's reading time, and the
    /// moment each stale level became stale (the document changed then, too), epoch ms.
    pub last_modified: EventTime,
}

/// The revision of the live state of `facilities` at `publication` time.
///
/// ```
/// use stadtpuls_processing::publish::{Publication, PublishedFacility, live_revision};
/// use stadtpuls_processing::window::parking::FacilityLive;
/// let now = 1_795_482_000_000;
/// let publication = Publication { city: "ulm", published_at: now, static_since: now - 86_400_000, stale_after_ms: 900_000 };
/// let facility = PublishedFacility { id: "p1", name: None, lat: 48.4, lon: 9.99, capacity: Some(100), on_street: false, level: Some(FacilityLive::new(25, Some(100), now - 60_000)) };
/// let before = live_revision(&publication, std::slice::from_ref(&facility));
/// assert_eq!(before.last_modified, now - 60_000);
/// // Only the clock moves, nothing is stale yet: the same revision.
/// let later = Publication { published_at: now + 60_000, ..publication };
/// assert_eq!(live_revision(&later, std::slice::from_ref(&facility)), before);
/// // Twenty minutes on, the level is stale: a new revision, modified when it went stale.
/// let stale = Publication { published_at: now + 1_200_000, ..publication };
/// let after = live_revision(&stale, std::slice::from_ref(&facility));
/// assert_ne!(after.tag, before.tag);
/// assert_eq!(after.last_modified, now - 60_000 + 900_000);
/// ```
pub fn live_revision(
    publication: &Publication<'_>,
    facilities: &[PublishedFacility<'_>],
) -> Revision {
    let mut hash = Fnv::default();
    let mut last_modified = publication.static_since;
    for facility in facilities {
        hash.write(&facility.static_version().to_le_bytes());
        let (level, stale) = match facility.freshness(publication) {
            Freshness::Never => continue,
            Freshness::Stale(level) => (level, true),
            Freshness::Fresh(level) => (level, false),
        };
        hash.write(&level.free.to_le_bytes());
        hash.write(&level.total.map_or(u64::MAX, u64::from).to_le_bytes());
        hash.write(&[
            level.status.map_or(0xff, |s| s as u8),
            level.trend.map_or(0xff, |t| t as u8),
            u8::from(stale),
            level.opening.map_or(0xff, |o| o as u8),
        ]);
        hash.write(&level.updated_at.to_le_bytes());
        let changed = if stale {
            level.updated_at.saturating_add(publication.stale_after_ms)
        } else {
            level.updated_at
        };
        last_modified = last_modified.max(changed);
    }
    Revision {
        tag: hash.finish(),
        last_modified,
    }
}

/// The revision of the static data of `facilities` (the table publications).
pub fn static_revision(
    publication: &Publication<'_>,
    facilities: &[PublishedFacility<'_>],
) -> Revision {
    Revision {
        tag: table_version(facilities),
        last_modified: publication.static_since,
    }
}
