//! A region's publication: the facilities of several member cities as one document
//! (`GET /v1/regions/{region}/datex2/…`), rendered by the same renderers as a city's.
//!
//! Three things differ from a city's publication, all so that the document stays
//! unambiguous when it mixes cities:
//! - the publisher is `region.<id>` ([`publisher`]), so the supplier and table id read
//!   `stadtpuls-region.<id>`: a dot is in no city id, so no region's table can be taken
//!   for a city's;
//! - every record id is `<city>/<facility id>` ([`record_id`]): facility ids are unique
//!   within a city's registry only, and the city id before the first `/` says whose a
//!   record is (city ids hold no `/`);
//! - a facility two member cities list (a border P+R: a common external id, close
//!   together; `region::Listings`) has one record, under the first of them, as the
//!   region's parking view counts it once.

use std::collections::BTreeMap;

use super::{FacilityFacts, PublishedFacility};
use crate::region::Listings;
use crate::window::parking::FacilityLive;

/// The publisher id of region `region`'s publications (see the module documentation).
///
/// ```
/// use stadtpuls_processing::publish::region::publisher;
/// assert_eq!(publisher("network"), "region.network");
/// ```
pub fn publisher(region: &str) -> String {
    format!("region.{region}")
}

/// The id of `facility` of `city` in a region's publication: `<city>/<facility>`.
pub fn record_id(city: &str, facility: &str) -> String {
    format!("{city}/{facility}")
}

/// One member city as a region's publication takes it: its id, its registered
/// facilities and their current levels (by facility id).
#[derive(Debug, Clone)]
pub struct Member<'a> {
    /// City id.
    pub city: &'a str,
    /// Its facilities, in registry order.
    pub facilities: &'a [FacilityFacts],
    /// Their current levels.
    pub levels: BTreeMap<String, FacilityLive>,
}

/// The member cities' facilities with their region-wide record ids, owned here so the
/// [`PublishedFacility`] the renderers take can borrow them.
#[derive(Debug, Clone)]
pub struct RegionFacilities<'a> {
    members: Vec<Member<'a>>,
    /// (member index, facility index, [`record_id`]) of every facility published:
    /// members in order, each in registry order.
    published: Vec<(usize, usize, String)>,
}

impl<'a> RegionFacilities<'a> {
    /// The facilities of `members` (the member cities the caller may see, in config
    /// order).
    ///
    /// A facility listed by two of them (a common external id, close together:
    /// [`Listings`]) is published once, under the first; so the publication counts what
    /// the region's parking view counts.
    pub fn new(members: Vec<Member<'a>>) -> Self {
        let mut listings = Listings::default();
        let mut published = Vec::new();
        for (m, member) in members.iter().enumerate() {
            for (i, f) in member.facilities.iter().enumerate() {
                if listings.first(&f.external_ids, f.lat, f.lon) {
                    published.push((m, i, record_id(member.city, &f.id)));
                }
            }
        }
        Self { members, published }
    }

    /// Every facility with its current level and its region-wide id: members in order,
    /// each city's in registry order.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use stadtpuls_processing::publish::FacilityFacts;
    /// use stadtpuls_processing::publish::region::{Member, RegionFacilities};
    /// use stadtpuls_processing::window::parking::FacilityLive;
    /// let facts = |id: &str| vec![FacilityFacts { id: id.into(), name: None, lat: 48.4, lon: 9.99, capacity: Some(100), on_street: false, facility_type: None, external_ids: vec![] }];
    /// let (ulm, neu_ulm) = (facts("p1"), facts("p1"));
    /// let levels = BTreeMap::from([("p1".to_owned(), FacilityLive::new(25, Some(100), 0))]);
    /// let region = RegionFacilities::new(vec![
    ///     Member { city: "ulm", facilities: &ulm, levels },
    ///     Member { city: "neu-ulm", facilities: &neu_ulm, levels: BTreeMap::new() },
    /// ]);
    /// let published = region.published();
    /// // The same registry id in two cities: two records, told apart by their city.
    /// assert_eq!(published.iter().map(|f| f.id).collect::<Vec<_>>(), ["ulm/p1", "neu-ulm/p1"]);
    /// assert_eq!(published[0].level.map(|l| l.free), Some(25));
    /// assert!(published[1].level.is_none());
    /// ```
    pub fn published(&self) -> Vec<PublishedFacility<'_>> {
        self.published
            .iter()
            .filter_map(|(m, i, id)| {
                let member = self.members.get(*m)?;
                let facility = member.facilities.get(*i)?;
                Some(PublishedFacility {
                    id: id.as_str(),
                    ..facility.with_level(member.levels.get(&facility.id).copied())
                })
            })
            .collect()
    }
}
