//! A facility listed by two member cities — a P+R on their border, in both registries —
//! is one facility: the region counts it once.
//!
//! Two listings are the same facility when they share an `external_id` (the id of the
//! partner record that feeds them, e.g. the operator's DATEX II record) **and** lie
//! within [`SAME_SITE_M`] of each other. The distance guards against partners whose
//! record ids are only unique per city (`P1` in Aachen and `P1` in Ulm are not one car
//! park). The first listing in the order given counts (member cities in config order,
//! each in registry order); later ones are left out of every total, the city's share
//! included. Listings without an external id are never merged.

use std::collections::HashMap;

use crate::geo::haversine_m;

/// How far apart two listings with a common external id may lie and still be one site.
pub const SAME_SITE_M: f64 = 250.0;

/// What tells a listing of a shared facility: its external ids and its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Shared {
    /// The registry's `external_id`s of the facility.
    pub ids: Vec<String>,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

/// The shared facilities seen so far in one region's listings.
#[derive(Debug, Default)]
pub struct Listings<'a> {
    seen: HashMap<&'a str, Vec<(f64, f64)>>,
}

impl<'a> Listings<'a> {
    /// Whether the listing of a facility with external ids `ids` at (`lat`, `lon`) is the
    /// first of its facility; records it. A facility without external ids always is.
    ///
    /// ```
    /// use stadtpuls_processing::region::Listings;
    /// let (kvv, p1) = (["kvv-pr-12".to_owned()], ["P1".to_owned()]);
    /// let mut listings = Listings::default();
    /// assert!(listings.first(&kvv, 48.964, 8.406)); // Karlsruhe's listing
    /// assert!(!listings.first(&kvv, 48.9641, 8.406)); // Ettlingen's, 11 m away: the same
    /// assert!(listings.first(&p1, 48.40, 9.99)); // Ulm
    /// assert!(listings.first(&p1, 50.77, 6.08)); // the same record id in Aachen: not
    /// assert!(listings.first(&[], 48.964, 8.406));
    /// ```
    pub fn first(&mut self, ids: &'a [String], lat: f64, lon: f64) -> bool {
        let repeat = ids.iter().any(|id| {
            self.seen.get(id.as_str()).is_some_and(|sites| {
                sites
                    .iter()
                    .any(|&(a, b)| haversine_m(a, b, lat, lon) <= SAME_SITE_M)
            })
        });
        if !repeat {
            for id in ids {
                self.seen.entry(id.as_str()).or_default().push((lat, lon));
            }
        }
        !repeat
    }

    /// [`Self::first`] for a member facility's `shared` (`None`: no external ids).
    pub fn first_of(&mut self, shared: Option<&'a Shared>) -> bool {
        shared.is_none_or(|s| self.first(&s.ids, s.lat, s.lon))
    }
}
