//! Which registry sensors and facilities lie in which zone, worked out once at start-up.

use stadtpuls_config::{CityRegistry, SensorKind, ZoneKind, ZoneSpec};

use super::ZoneIndex;

/// One zone with the traffic sensors and parking facilities inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneMembers {
    /// Zone id, unique within the city.
    pub id: String,
    /// Display name.
    pub name: String,
    /// District or parking zone.
    pub kind: ZoneKind,
    /// Ids of the traffic sensors inside, in registry order.
    pub traffic_sensors: Vec<String>,
    /// Ids of the parking facilities inside, in registry order. Single-space sensors are
    /// not listed: they count through their facility.
    pub facilities: Vec<String>,
}

/// The zones of one city with their members, and the index to place new positions.
#[derive(Debug, Clone)]
pub struct CityZoneMap {
    /// The city id.
    pub city: String,
    /// Its zones, in zone-file order.
    pub zones: Vec<ZoneMembers>,
    index: ZoneIndex,
}

impl CityZoneMap {
    /// Assigns every traffic sensor and facility of `registry` to the `zones` containing
    /// it. A sensor may be in several zones (a district and a parking zone, or two
    /// districts when it sits on their common boundary) or in none.
    pub fn build(registry: &CityRegistry, zones: &[ZoneSpec]) -> Self {
        let index = ZoneIndex::new(zones);
        let mut members: Vec<ZoneMembers> = zones
            .iter()
            .map(|zone| ZoneMembers {
                id: zone.id.clone(),
                name: zone.name.clone(),
                kind: zone.kind,
                traffic_sensors: Vec::new(),
                facilities: Vec::new(),
            })
            .collect();
        for sensor in &registry.sensors {
            if sensor.kind == SensorKind::ParkingSpot {
                continue;
            }
            for zone in index.zones_of(sensor.lat, sensor.lon) {
                let Some(zone) = members.get_mut(zone) else {
                    continue;
                };
                match sensor.kind {
                    SensorKind::Traffic => zone.traffic_sensors.push(sensor.id.clone()),
                    SensorKind::ParkingFacility => zone.facilities.push(sensor.id.clone()),
                    SensorKind::ParkingSpot => {}
                }
            }
        }
        Self {
            city: registry.city.id.clone(),
            zones: members,
            index,
        }
    }

    /// Returns the map of a city without zones.
    pub fn empty(city: &str) -> Self {
        Self {
            city: city.to_owned(),
            zones: Vec::new(),
            index: ZoneIndex::new(&[]),
        }
    }

    /// Returns the zones containing (`lat`, `lon`), in zone-file order.
    pub fn zones_of(&self, lat: f64, lon: f64) -> Vec<&ZoneMembers> {
        self.index
            .zones_of(lat, lon)
            .into_iter()
            .filter_map(|index| self.zones.get(index))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use stadtpuls_config::{Config, parse_registry};

    use super::*;
    use crate::geo::index::tests::{rect, solid, zone};

    fn registry() -> CityRegistry {
        // The demo's Ulm (embedded, no file is read) with a registry of its own.
        let config = Config::demo(&HashMap::new()).expect("demo config");
        let city = config.city("ulm").expect("ulm is in the demo").clone();
        let csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
                   ulm-t-1,traffic,West,48.398,9.985,2,,50,\n\
                   ulm-t-2,traffic,East,48.398,9.995,2,,50,\n\
                   ulm-t-3,traffic,Outside,48.420,9.990,2,,50,\n\
                   ulm-p-1,parking_facility,Parkhaus,48.398,9.986,,300,,\n\
                   ulm-z-1,parking_facility,Zone,48.398,9.996,,,,\n\
                   ulm-s-1,parking_spot,Spot,48.398,9.996,,,,ulm-z-1\n";
        parse_registry(&city, Path::new("ulm.csv"), csv).expect("valid registry")
    }

    #[test]
    fn sensors_and_facilities_land_in_every_zone_containing_them() {
        let zones = [
            zone(
                "ulm-west",
                ZoneKind::District,
                vec![solid(rect(9.98, 48.39, 9.99, 48.41))],
            ),
            zone(
                "ulm-ost",
                ZoneKind::District,
                vec![solid(rect(9.99, 48.39, 10.0, 48.41))],
            ),
            zone(
                "ulm-pz",
                ZoneKind::ParkingZone,
                vec![solid(rect(9.984, 48.396, 9.997, 48.40))],
            ),
        ];
        let map = CityZoneMap::build(&registry(), &zones);
        assert_eq!(map.city, "ulm");
        assert_eq!(map.zones[0].traffic_sensors, ["ulm-t-1"]);
        assert_eq!(map.zones[0].facilities, ["ulm-p-1"]);
        assert_eq!(map.zones[1].traffic_sensors, ["ulm-t-2"]);
        assert_eq!(
            map.zones[1].facilities,
            ["ulm-z-1"],
            "spots count via their facility"
        );
        assert_eq!(map.zones[2].traffic_sensors, ["ulm-t-1", "ulm-t-2"]);
        assert_eq!(map.zones[2].facilities, ["ulm-p-1", "ulm-z-1"]);
        let ids: Vec<&str> = map
            .zones_of(48.398, 9.985)
            .iter()
            .map(|z| z.id.as_str())
            .collect();
        assert_eq!(ids, ["ulm-west", "ulm-pz"]);
        assert!(
            map.zones_of(48.42, 9.99).is_empty(),
            "ulm-t-3 lies in no zone"
        );
    }

    #[test]
    fn a_city_without_zones_has_an_empty_map() {
        let map = CityZoneMap::empty("ulm");
        assert!(map.zones.is_empty());
        assert!(map.zones_of(48.398, 9.985).is_empty());
        assert!(CityZoneMap::build(&registry(), &[]).zones.is_empty());
    }
}
