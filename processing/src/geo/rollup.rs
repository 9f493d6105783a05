//! Zone roll-ups: a zone's traffic and parking from its members' live values (see
//! `docs/metrics.md`, "Zones").
//!
//! Traffic uses the latest closed window of each sensor; like the per-sensor formulas,
//! its values are `None` when undefined (nobody reported, no speed) rather than a
//! misleading zero. Parking uses the current level of each facility with the same rule
//! as the city totals ([`roll_up`]), so a zone and its city never disagree on what
//! counts.
//!
//! Unlike the live view and the API's per-sensor JSON, the zone roll-up is not derived
//! from the history contract: each zone value needs its own rule over the sensors (a sum,
//! a flow-weighted harmonic mean, a mean), so it names the measures it reads, and a new
//! measure shows in zones only when a rule for it is added here.

use std::collections::{BTreeMap, HashMap};

use super::{CityZoneMap, ZoneMembers};
use crate::live::{ParkingTotals, TrafficWindowRow, roll_up};
use crate::model::contract::traffic::out;
use crate::time::{EventTime, ProcessingTime};
use crate::window::parking::FacilityLive;

/// Traffic of one zone over its newest closed window.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficRollup {
    /// Traffic sensors registered in the zone.
    pub sensors: usize,
    /// Sensors whose latest closed window is the zone's newest one (`window_end`); only
    /// these contribute, so that every value describes the same interval.
    pub sensors_reporting: usize,
    /// Σ qᵢ, veh/h.
    pub flow_veh_h: Option<f64>,
    /// Σ qᵢ / Σ (qᵢ / vᵢ), km/h.
    pub speed_space_mean_kmh: Option<f64>,
    /// Mean of the sensors' occupancies, percent.
    pub occupancy_pct: Option<f64>,
    /// End of the newest closed window of any sensor in the zone, epoch ms UTC.
    pub window_end: Option<EventTime>,
}

/// Parking of one zone now: the city totals' roll-up over the zone's facilities.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkingRollup {
    /// Facilities registered in the zone.
    pub facilities: usize,
    /// Sums over those whose level is not stale, see [`roll_up`].
    pub totals: ParkingTotals,
}

/// One zone with its roll-ups.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneRollup<'a> {
    /// The zone and its members.
    pub zone: &'a ZoneMembers,
    /// Its traffic.
    pub traffic: TrafficRollup,
    /// Its parking.
    pub parking: ParkingRollup,
}

/// Rolls up the latest closed windows `latest` of a zone's `sensors` registered sensors
/// (those without a window are simply absent).
///
/// With t* the newest `window_end` among them and R the sensors whose window ends at t*:
///
/// ```text
/// flow_veh_h            Q  = Σ_{i∈R} qᵢ
/// speed_space_mean_kmh  v̄ = Σ qᵢ / Σ (qᵢ / vᵢ)   over i ∈ R with qᵢ > 0 and a speed vᵢ
/// occupancy_pct         b̄ = Σ bᵢ / n             over the n sensors of R with an occupancy
/// ```
///
/// v̄ is the flow-weighted harmonic mean of the sensors' space-mean speeds: with
/// densities kᵢ = qᵢ / vᵢ it is Σq / Σk, the fundamental relation q = k·v for the zone
/// as a whole, so a slow, busy road weighs as much as it slows traffic. A sensor at
/// vᵢ = 0 with flow makes Σk infinite and v̄ = 0, as stopped traffic should (the same
/// convention as [`crate::formulas::space_mean_speed`]). Windows closed before t* are
/// left out rather than mixed in: a sensor silent for an hour would otherwise lend its
/// old flow to the current sum; `sensors_reporting` shows how complete the sum is.
///
/// ```
/// use stadtpuls_processing::geo::rollup::rollup_traffic;
/// use stadtpuls_processing::live::TrafficWindowRow;
/// use stadtpuls_processing::model::contract::traffic::out;
///
/// let row = |q: f64, v: f64| TrafficWindowRow::new(0, 60_000)
///     .with(out::FLOW_VEH_H, q)
///     .with(out::SPEED_SPACE_MEAN_KMH, v);
/// // 1200 veh/h at 60 km/h (20 veh/km) and 600 veh/h at 15 km/h (40 veh/km)
/// let zone = rollup_traffic(2, &[row(1200.0, 60.0), row(600.0, 15.0)]);
/// assert_eq!(zone.flow_veh_h, Some(1800.0));
/// assert_eq!(zone.speed_space_mean_kmh, Some(30.0)); // 1800 / 60
/// ```
pub fn rollup_traffic<'a>(
    sensors: usize,
    latest: impl IntoIterator<Item = &'a TrafficWindowRow>,
) -> TrafficRollup {
    let latest: Vec<&TrafficWindowRow> = latest.into_iter().collect();
    let window_end = latest.iter().map(|row| row.window_end).max();
    let reporting: Vec<&TrafficWindowRow> = latest
        .into_iter()
        .filter(|row| Some(row.window_end) == window_end)
        .collect();
    let flows: Vec<f64> = reporting
        .iter()
        .filter_map(|row| row.f64(out::FLOW_VEH_H))
        .collect();
    let flow_veh_h = (!flows.is_empty()).then(|| flows.iter().sum());
    let mut weighted_flow = 0.0;
    let mut density = 0.0;
    for row in &reporting {
        if let (Some(q), Some(v)) = (row.f64(out::FLOW_VEH_H), row.f64(out::SPEED_SPACE_MEAN_KMH))
            && q > 0.0
        {
            weighted_flow += q;
            density += if v > 0.0 { q / v } else { f64::INFINITY };
        }
    }
    let speed_space_mean_kmh = if density.is_infinite() {
        Some(0.0)
    } else {
        (density > 0.0).then(|| weighted_flow / density)
    };
    let occupancies: Vec<f64> = reporting
        .iter()
        .filter_map(|row| row.f64(out::OCCUPANCY_PCT))
        .collect();
    let occupancy_pct = (!occupancies.is_empty())
        .then(|| occupancies.iter().sum::<f64>() / occupancies.len() as f64);
    TrafficRollup {
        sensors,
        sensors_reporting: reporting.len(),
        flow_veh_h,
        speed_space_mean_kmh,
        occupancy_pct,
        window_end,
    }
}

/// Rolls up the current levels of a zone's `facilities` (ids; `levels` by id, as
/// [`crate::live::LiveState::facilities`] returns them) with the rule of the city
/// totals: over the facilities F whose level is not stale at `now`, with fᵢ free of cᵢ,
///
/// ```text
/// free           Σ_{i∈F} min(fᵢ, cᵢ)
/// total          Σ_{i∈F} cᵢ
/// occupancy_pct  100 · (total − free) / total
/// ```
///
/// the capacity-weighted occupancy: the zone is as full as the share of its reporting
/// spaces that are taken, so a 1 000-space car park counts ten times a 100-space one.
/// Free counts above the total are clamped per facility; a facility that never reported
/// counts as stale.
///
/// ```
/// use std::collections::BTreeMap;
/// use stadtpuls_processing::geo::rollup::rollup_parking;
/// use stadtpuls_processing::window::parking::FacilityLive;
///
/// let now = 1_000_000;
/// let levels = BTreeMap::from([
///     ("big".to_owned(), FacilityLive::new(100, Some(1000), now - 10_000)),
///     ("small".to_owned(), FacilityLive::new(50, Some(100), now - 10_000)),
/// ]);
/// let ids = ["big", "small", "silent"].map(str::to_owned);
/// let zone = rollup_parking(&ids, &levels, now, 900_000);
/// assert_eq!((zone.totals.free, zone.totals.total), (150, 1100));
/// assert_eq!(zone.totals.occupancy_pct, Some(100.0 * 950.0 / 1100.0));
/// assert_eq!((zone.facilities, zone.totals.facilities_stale), (3, 1));
/// ```
pub fn rollup_parking(
    facilities: &[String],
    levels: &BTreeMap<String, FacilityLive>,
    now: ProcessingTime,
    stale_after_ms: i64,
) -> ParkingRollup {
    let zone_levels = facilities.iter().map(|id| levels.get(id));
    ParkingRollup {
        facilities: facilities.len(),
        totals: roll_up(zone_levels, now, stale_after_ms),
    }
}

/// Rolls up every zone of `map` from the latest closed traffic windows by sensor id and
/// the current facility levels by facility id (as [`crate::live::LiveState`] serves
/// them), in zone-file order; facility levels older than `stale_after_ms` at `now` do
/// not count.
pub fn rollup_zones<'a>(
    map: &'a CityZoneMap,
    latest: &HashMap<String, TrafficWindowRow>,
    levels: &BTreeMap<String, FacilityLive>,
    now: ProcessingTime,
    stale_after_ms: i64,
) -> Vec<ZoneRollup<'a>> {
    map.zones
        .iter()
        .map(|zone| {
            let rows = zone.traffic_sensors.iter().filter_map(|id| latest.get(id));
            ZoneRollup {
                zone,
                traffic: rollup_traffic(zone.traffic_sensors.len(), rows),
                parking: rollup_parking(&zone.facilities, levels, now, stale_after_ms),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use stadtpuls_config::ZoneKind;

    use super::*;

    const T: EventTime = 1_795_478_460_000;

    fn row(end: EventTime, q: Option<f64>, v: Option<f64>, b: Option<f64>) -> TrafficWindowRow {
        TrafficWindowRow::new(end - 60_000, end)
            .with(out::OBSERVATIONS, 2u64)
            .with(out::VEHICLES, 10u64)
            .with(out::FLOW_VEH_H, q)
            .with(out::SPEED_TIME_MEAN_KMH, v)
            .with(out::SPEED_SPACE_MEAN_KMH, v)
            .with(out::OCCUPANCY_PCT, b)
    }

    /// Four sensors, three of which closed the newest window T:
    /// A q = 1200 veh/h, v = 50 km/h, b = 10 %; B q = 600, v = 20, b = 30;
    /// C q = 300, no speed, no occupancy; D closed only the window before (q = 900, v = 60).
    ///
    /// Q = 1200 + 600 + 300 = 2100 veh/h (D left out).
    /// v̄ = (1200 + 600) / (1200/50 + 600/20) = 1800 / (24 + 30) = 33.33 km/h (C has no speed).
    /// b̄ = (10 + 30) / 2 = 20 %.
    #[test]
    fn hand_worked_traffic_rollup() {
        let rows = [
            row(T, Some(1200.0), Some(50.0), Some(10.0)),
            row(T, Some(600.0), Some(20.0), Some(30.0)),
            row(T, Some(300.0), None, None),
            row(T - 60_000, Some(900.0), Some(60.0), Some(5.0)),
        ];
        let zone = rollup_traffic(5, &rows);
        assert_eq!(zone.sensors, 5);
        assert_eq!(zone.sensors_reporting, 3);
        assert_eq!(zone.window_end, Some(T));
        assert_eq!(zone.flow_veh_h, Some(2100.0));
        let v = zone.speed_space_mean_kmh.unwrap_or_default();
        assert!((v - 100.0 / 3.0).abs() < 1e-9, "{v}");
        assert_eq!(zone.occupancy_pct, Some(20.0));
    }

    #[test]
    fn harmonic_mean_is_below_the_arithmetic_one() {
        let rows = [
            row(T, Some(1000.0), Some(80.0), None),
            row(T, Some(1000.0), Some(20.0), None),
        ];
        // 2000 / (12.5 + 50) = 32 km/h, not (80 + 20) / 2 = 50
        assert_eq!(rollup_traffic(2, &rows).speed_space_mean_kmh, Some(32.0));
    }

    #[test]
    fn stopped_sensor_stops_the_zone_and_empty_flow_has_no_speed() {
        let stopped = [
            row(T, Some(400.0), Some(0.0), None),
            row(T, Some(800.0), Some(40.0), None),
        ];
        assert_eq!(rollup_traffic(2, &stopped).speed_space_mean_kmh, Some(0.0));
        let quiet = [row(T, Some(0.0), None, Some(0.0))];
        let zone = rollup_traffic(1, &quiet);
        assert_eq!(zone.flow_veh_h, Some(0.0));
        assert_eq!(zone.speed_space_mean_kmh, None);
        assert_eq!(zone.occupancy_pct, Some(0.0));
    }

    #[test]
    fn nobody_reporting_is_none_or_zero() {
        let zone = rollup_traffic(3, &[]);
        assert_eq!(
            zone,
            TrafficRollup {
                sensors: 3,
                sensors_reporting: 0,
                flow_veh_h: None,
                speed_space_mean_kmh: None,
                occupancy_pct: None,
                window_end: None,
            }
        );
        let ids = ["p1", "p2"].map(str::to_owned);
        let parking = rollup_parking(&ids, &BTreeMap::new(), T, 900_000);
        assert_eq!(parking.facilities, 2);
        assert_eq!(parking.totals.facilities_stale, 2, "never reported");
        assert_eq!(
            (parking.totals.total, parking.totals.occupancy_pct),
            (0, None)
        );
    }

    /// P1 50 free of 200; P2 reports 120 free of 100 (clamped to 100); P3 is stale (an
    /// hour old); P4 never reported.
    /// free = 50 + 100 = 150, total = 200 + 100 = 300, occupancy = 100 · 150 / 300 = 50 %.
    #[test]
    fn hand_worked_parking_rollup() {
        let levels = BTreeMap::from([
            (
                "p1".to_owned(),
                FacilityLive::new(50, Some(200), T - 60_000),
            ),
            ("p2".to_owned(), FacilityLive::new(120, Some(100), T)),
            (
                "p3".to_owned(),
                FacilityLive::new(10, Some(300), T - 3_600_000),
            ),
        ]);
        let ids = ["p1", "p2", "p3", "p4"].map(str::to_owned);
        let zone = rollup_parking(&ids, &levels, T, 900_000);
        assert_eq!(zone.facilities, 4);
        let totals = zone.totals;
        assert_eq!(
            (totals.facilities_reporting, totals.facilities_stale),
            (2, 2)
        );
        assert_eq!(
            (totals.free, totals.total, totals.occupied),
            (150, 300, 150)
        );
        assert_eq!(totals.occupancy_pct, Some(50.0));
    }

    #[test]
    fn zones_roll_up_their_own_members() {
        let member = |id: &str, sensors: &[&str], facilities: &[&str]| ZoneMembers {
            id: id.to_owned(),
            name: id.to_owned(),
            kind: ZoneKind::District,
            traffic_sensors: sensors.iter().map(|s| (*s).to_owned()).collect(),
            facilities: facilities.iter().map(|f| (*f).to_owned()).collect(),
        };
        let mut map = CityZoneMap::empty("ulm");
        map.zones = vec![
            member("a", &["t1", "t2"], &["p1"]),
            member("b", &["t2", "t3"], &[]),
        ];
        let latest = HashMap::from([
            ("t1".to_owned(), row(T, Some(100.0), Some(50.0), None)),
            ("t2".to_owned(), row(T, Some(200.0), Some(50.0), None)),
        ]);
        let levels = BTreeMap::from([("p1".to_owned(), FacilityLive::new(10, Some(40), T))]);
        let zones = rollup_zones(&map, &latest, &levels, T, 900_000);
        assert_eq!(zones[0].zone.id, "a");
        assert_eq!(zones[0].traffic.flow_veh_h, Some(300.0));
        assert_eq!(zones[0].parking.totals.occupancy_pct, Some(75.0));
        assert_eq!(zones[1].traffic.sensors, 2);
        assert_eq!(zones[1].traffic.sensors_reporting, 1, "t3 never reported");
        assert_eq!(zones[1].traffic.flow_veh_h, Some(200.0));
        assert_eq!(zones[1].parking.facilities, 0);
    }
}
