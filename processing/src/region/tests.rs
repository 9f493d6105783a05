//! Hand-worked cases of the regional roll-ups.

use super::*;
use crate::live::TrafficWindowRow;
use crate::model::contract::traffic::out;

const NOW: i64 = 1_795_478_400_000;

fn window(end: i64, vehicles: u64, speed: Option<f64>) -> TrafficWindowRow {
    let row = TrafficWindowRow::new(end - 300_000, end)
        .with(out::VEHICLES, vehicles)
        .with(out::FLOW_VEH_H, vehicles as f64 * 12.0);
    match speed {
        Some(v) => row.with(out::SPEED_SPACE_MEAN_KMH, v),
        None => row,
    }
}

#[test]
fn corridor_speed_is_the_vehicle_weighted_harmonic_mean() {
    // Three corridors over the same 5-minute window:
    //   A: 100 vehicles at 80 km/h   → 100/80 = 1.25 h·veh/km
    //   B:  50 vehicles at 40 km/h   →  50/40 = 1.25
    //   C:  50 vehicles at 20 km/h   →  50/20 = 2.5
    // v̄ = (100 + 50 + 50) / (1.25 + 1.25 + 2.5) = 200 / 5 = 40 km/h.
    // The plain mean of the speeds (46.7) and the vehicle-weighted arithmetic mean
    // (55) are both wrong: they are time-mean speeds.
    let end = NOW - 60_000;
    let rows = [
        window(end, 100, Some(80.0)),
        window(end, 50, Some(40.0)),
        window(end, 50, Some(20.0)),
    ];
    let region = corridors(rows.iter().map(|row| CorridorWindow { row: Some(row) }));
    assert_eq!(region.speed_space_mean_kmh, Some(40.0));
    assert_eq!(region.vehicles, Some(200));
    assert_eq!(region.flow_veh_h, Some(2400.0));
    assert_eq!((region.sensors, region.sensors_reporting), (3, 3));
    assert_eq!(region.window_end, Some(end));
}

#[test]
fn only_the_newest_window_counts_and_a_stop_is_zero() {
    let end = NOW - 60_000;
    let old = window(end - 300_000, 500, Some(10.0));
    let moving = window(end, 30, Some(50.0));
    let no_speed = window(end, 20, None);
    let region = corridors([
        CorridorWindow { row: Some(&old) },
        CorridorWindow { row: Some(&moving) },
        CorridorWindow {
            row: Some(&no_speed),
        },
        CorridorWindow { row: None },
    ]);
    assert_eq!((region.sensors, region.sensors_reporting), (4, 2));
    // The old window's 500 vehicles are not in the sum; the sensor without a speed
    // counts in the flow but not in the speed.
    assert_eq!(region.vehicles, Some(50));
    assert_eq!(region.speed_space_mean_kmh, Some(50.0));
    let stopped = window(end, 5, Some(0.0));
    let jam = corridors([
        CorridorWindow { row: Some(&moving) },
        CorridorWindow {
            row: Some(&stopped),
        },
    ]);
    assert_eq!(jam.speed_space_mean_kmh, Some(0.0));
    let nothing = corridors([CorridorWindow { row: None }]);
    assert_eq!(nothing.flow_veh_h, None);
    assert_eq!(nothing.speed_space_mean_kmh, None);
}

#[test]
fn parking_kinds_and_cities_add_up_to_the_region() {
    let fresh = |free, total| FacilityLive::new(free, Some(total), NOW - 60_000);
    let levels = [
        fresh(40, 100),                                  // city 0 car park
        fresh(300, 650),                                 // city 0 P+R
        fresh(5, 20),                                    // city 1 on-street
        fresh(120, 100),                                 // city 1 car park, over-reporting
        FacilityLive::new(7, Some(50), NOW - 3_600_000), // city 1 car park, stale
    ];
    let kinds = [
        (0, FacilityKind::CarPark),
        (0, FacilityKind::ParkAndRide),
        (1, FacilityKind::OnStreet),
        (1, FacilityKind::CarPark),
        (1, FacilityKind::CarPark),
    ];
    let facilities = kinds
        .iter()
        .zip(&levels)
        .map(|(&(city, kind), level)| RegionFacility {
            city,
            kind,
            level: Some(level),
        });
    let region = parking(2, facilities, NOW, 900_000);
    // free: 40 + 300 + 5 + min(120, 100) = 445 of 870; the stale one is out.
    assert_eq!((region.totals.free, region.totals.total), (445, 870));
    assert_eq!(region.totals.facilities_stale, 1);
    let kind_free: u64 = region.by_kind.iter().map(|(_, t)| t.free).sum();
    let city_total: u64 = region.by_city.iter().map(|t| t.total).sum();
    assert_eq!(kind_free, region.totals.free);
    assert_eq!(city_total, region.totals.total);
    assert_eq!(
        region.by_kind[1],
        (
            FacilityKind::ParkAndRide,
            roll_up([Some(&levels[1])], NOW, 900_000)
        )
    );
    assert_eq!(
        (region.by_city[1].free, region.by_city[1].total),
        (105, 120)
    );
}

#[test]
fn park_and_ride_is_read_from_the_name() {
    for name in [
        "P+R Donautal",
        "P & R Nord",
        "Park+Ride Messe",
        "park-and-ride Süd",
        "VRS 1035[P+R Bondorf]",
    ] {
        assert_eq!(
            FacilityKind::of(Some(name), false),
            FacilityKind::ParkAndRide,
            "{name}"
        );
    }
    for name in [
        "Parkhaus am Bahnhof",
        "PR-Agentur Parkplatz",
        "Parkplatz Rheinstraße",
    ] {
        assert_eq!(
            FacilityKind::of(Some(name), false),
            FacilityKind::CarPark,
            "{name}"
        );
    }
}
