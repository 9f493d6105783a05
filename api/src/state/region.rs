//! The configured regions as the handlers read them: member cities resolved to the
//! state's city views, facility kinds worked out once at start-up (the registry's
//! `facility_type`, else the spots and the name: `FacilityKind::of_facility`).

use stadtpuls_config::RegionConfig;
use stadtpuls_processing::region::{FacilityKind, MemberFacilities, MemberFacility, Shared};

use super::CityView;

/// One region, static.
#[derive(Debug, Clone)]
pub struct RegionView {
    /// Region id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Member cities in config order, each with its facilities and their kinds.
    pub members: Vec<MemberFacilities>,
    /// Corridor sensors as (city, sensor id), in config order.
    pub corridors: Vec<(String, String)>,
}

impl RegionView {
    /// The view of `region` over `cities` (a member city without a view — not served by
    /// this state — is left out).
    pub fn new(region: &RegionConfig, cities: &[CityView]) -> Self {
        let members = region
            .cities
            .iter()
            .filter_map(|id| cities.iter().find(|c| &c.id == id))
            .map(|city| {
                MemberFacilities::new(
                    &city.id,
                    city.facilities.iter().map(|f| MemberFacility {
                        id: f.id.clone(),
                        kind: FacilityKind::of_facility(
                            f.facility_type,
                            f.name.as_deref(),
                            f.on_street,
                        ),
                        shared: (!f.external_ids.is_empty()).then(|| Shared {
                            ids: f.external_ids.clone(),
                            lat: f.lat,
                            lon: f.lon,
                        }),
                    }),
                )
            })
            .collect();
        Self {
            id: region.id.clone(),
            name: region.name.clone(),
            members,
            corridors: region
                .corridors
                .iter()
                .map(|c| (c.city.clone(), c.sensor.clone()))
                .collect(),
        }
    }

    /// The member city ids, in config order.
    pub fn city_ids(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| m.city.as_str())
    }
}
