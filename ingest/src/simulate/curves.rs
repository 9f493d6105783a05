//! Daily curves in local time: traffic demand, heavy-vehicle share, the speed–flow
//! relation and parking occupancy targets.
//!
//! Every curve is a piecewise-linear table of `(local hour, value)` knots per day type,
//! so the shapes are easy to read and tune; consecutive day types agree at midnight so
//! the curves are continuous across days.

/// The kind of day, which selects a curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayType {
    /// Monday to Thursday.
    Weekday,
    Friday,
    Saturday,
    /// Sundays (public holidays are not modelled).
    Sunday,
}

/// A point in a city's local time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LocalTime {
    pub(crate) day: DayType,
    /// Hour of the local day, `0.0..24.0`.
    pub(crate) hour: f64,
}

impl LocalTime {
    /// The local time of the UTC instant `utc_ms` in a zone `offset_s` seconds ahead of UTC.
    pub(crate) fn new(utc_ms: i64, offset_s: i32) -> Self {
        let local_s = utc_ms.div_euclid(1000) + i64::from(offset_s);
        let days = local_s.div_euclid(86_400);
        // 1970-01-01 was a Thursday; 0 = Monday.
        let day = match (days + 3).rem_euclid(7) {
            4 => DayType::Friday,
            5 => DayType::Saturday,
            6 => DayType::Sunday,
            _ => DayType::Weekday,
        };
        let hour = local_s.rem_euclid(86_400) as f64 / 3600.0;
        Self { day, hour }
    }
}

type Knots = &'static [(f64, f64)];

/// Linear interpolation in `knots` (sorted by hour, from 0 to 24).
fn interp(knots: Knots, hour: f64) -> f64 {
    let mut prev = (0.0, 0.0);
    for (i, &(h, v)) in knots.iter().enumerate() {
        if hour <= h {
            if i == 0 || h <= prev.0 {
                return v;
            }
            return prev.1 + (v - prev.1) * (hour - prev.0) / (h - prev.0);
        }
        prev = (h, v);
    }
    prev.1
}

// Traffic demand relative to the weekday morning peak (07:30 = 1.0).
#[rustfmt::skip]
const TRAFFIC_WEEKDAY: Knots = &[
    (0.0, 0.07), (1.0, 0.045), (2.0, 0.035), (3.0, 0.035), (4.0, 0.05), (5.0, 0.15),
    (6.0, 0.45), (6.5, 0.70), (7.0, 0.90), (7.5, 1.00), (8.0, 0.93), (8.5, 0.78),
    (9.0, 0.64), (10.0, 0.55), (11.0, 0.56), (12.0, 0.62), (13.0, 0.63), (14.0, 0.64),
    (15.0, 0.74), (16.0, 0.88), (16.5, 0.94), (17.0, 0.97), (17.5, 0.93), (18.0, 0.82),
    (19.0, 0.60), (20.0, 0.42), (21.0, 0.30), (22.0, 0.22), (23.0, 0.13), (24.0, 0.07),
];
#[rustfmt::skip]
const TRAFFIC_FRIDAY: Knots = &[
    (0.0, 0.07), (1.0, 0.045), (2.0, 0.035), (3.0, 0.035), (4.0, 0.05), (5.0, 0.14),
    (6.0, 0.42), (6.5, 0.66), (7.0, 0.85), (7.5, 0.93), (8.0, 0.88), (8.5, 0.75),
    (9.0, 0.63), (10.0, 0.57), (11.0, 0.60), (12.0, 0.67), (13.0, 0.70), (14.0, 0.76),
    (15.0, 0.88), (15.5, 0.94), (16.0, 0.96), (17.0, 0.90), (18.0, 0.80), (19.0, 0.62),
    (20.0, 0.47), (21.0, 0.36), (22.0, 0.28), (23.0, 0.19), (24.0, 0.12),
];
#[rustfmt::skip]
const TRAFFIC_SATURDAY: Knots = &[
    (0.0, 0.12), (1.0, 0.09), (2.0, 0.07), (3.0, 0.05), (4.0, 0.045), (5.0, 0.06),
    (6.0, 0.10), (7.0, 0.17), (8.0, 0.27), (9.0, 0.42), (10.0, 0.58), (11.0, 0.68),
    (12.0, 0.72), (13.0, 0.72), (14.0, 0.68), (15.0, 0.64), (16.0, 0.62), (17.0, 0.60),
    (18.0, 0.55), (19.0, 0.45), (20.0, 0.36), (21.0, 0.30), (22.0, 0.26), (23.0, 0.20),
    (24.0, 0.14),
];
#[rustfmt::skip]
const TRAFFIC_SUNDAY: Knots = &[
    (0.0, 0.14), (1.0, 0.10), (2.0, 0.08), (3.0, 0.06), (4.0, 0.045), (5.0, 0.04),
    (6.0, 0.05), (7.0, 0.07), (8.0, 0.11), (9.0, 0.20), (10.0, 0.32), (11.0, 0.42),
    (12.0, 0.46), (13.0, 0.47), (14.0, 0.50), (15.0, 0.54), (16.0, 0.56), (17.0, 0.55),
    (18.0, 0.50), (19.0, 0.42), (20.0, 0.33), (21.0, 0.24), (22.0, 0.16), (23.0, 0.10),
    (24.0, 0.07),
];

/// Traffic demand at `t`, relative to the weekday morning peak.
pub(crate) fn traffic_demand(t: LocalTime) -> f64 {
    let knots = match t.day {
        DayType::Weekday => TRAFFIC_WEEKDAY,
        DayType::Friday => TRAFFIC_FRIDAY,
        DayType::Saturday => TRAFFIC_SATURDAY,
        DayType::Sunday => TRAFFIC_SUNDAY,
    };
    interp(knots, t.hour)
}

/// Heavy-vehicle share before the per-sensor and per-lane factors: more on faster roads,
/// more on weekdays (and relatively more at night), little on Sundays (truck ban).
pub(crate) fn heavy_share(t: LocalTime, free_flow_kmh: f64) -> f64 {
    #[rustfmt::skip]
    const BY_SPEED: Knots = &[(0.0, 0.035), (30.0, 0.035), (50.0, 0.06), (70.0, 0.10), (100.0, 0.13)];
    let base = interp(BY_SPEED, free_flow_kmh.min(100.0));
    let day = match t.day {
        DayType::Weekday | DayType::Friday => {
            if !(5.0..22.0).contains(&t.hour) {
                1.25
            } else {
                1.0
            }
        }
        DayType::Saturday => 0.55,
        DayType::Sunday => 0.35,
    };
    base * day
}

/// Capacity of one lane in vehicles per hour: residential streets carry far less than
/// multi-lane arterials and expressways.
pub(crate) fn lane_capacity_vph(free_flow_kmh: f64) -> f64 {
    #[rustfmt::skip]
    const BY_SPEED: Knots = &[(0.0, 400.0), (30.0, 500.0), (50.0, 800.0), (70.0, 1300.0), (100.0, 1700.0)];
    interp(BY_SPEED, free_flow_kmh.min(100.0))
}

/// Served flow (fraction of lane capacity) and speed (fraction of free-flow speed) at the
/// demand/capacity ratio `x`: a gentle quadratic drop up to 0.9, then flow breakdown — speed
/// collapses exponentially and the served flow falls once demand exceeds capacity.
pub(crate) fn speed_flow(x: f64) -> (f64, f64) {
    let x = x.max(0.0);
    if x <= 0.9 {
        // Light traffic drives a little above the free-flow speed.
        let speed = 1.0 - 0.25 * x * x + (0.2 - x).max(0.0) * 0.25;
        (x, speed)
    } else {
        let speed = 0.7975 * (-(x - 0.9) * 5.0).exp();
        let flow = if x <= 1.0 {
            x
        } else {
            (1.0 - 0.6 * (x - 1.0)).max(0.6)
        };
        (flow, speed)
    }
}

/// What a car park or zone is used for, which selects its occupancy curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParkingProfile {
    /// Inner-city multi-storey car park: shoppers and commuters, full on Saturdays.
    InnerCity,
    /// Park and ride: commuters on weekday mornings, empty in the evening.
    ParkAndRide,
    /// Outside the centre (hospital, retail park, offices).
    Peripheral,
    /// On-street spots: residents at night, visitors by day.
    OnStreet,
}

#[rustfmt::skip]
const INNER_WEEKDAY: Knots = &[
    (0.0, 0.12), (6.0, 0.12), (7.0, 0.18), (8.0, 0.30), (9.0, 0.52), (10.0, 0.68),
    (11.0, 0.76), (12.0, 0.80), (13.0, 0.80), (14.0, 0.78), (15.0, 0.78), (16.0, 0.76),
    (17.0, 0.72), (18.0, 0.62), (19.0, 0.48), (20.0, 0.38), (21.0, 0.30), (22.0, 0.22),
    (23.0, 0.15), (24.0, 0.12),
];
#[rustfmt::skip]
const INNER_SATURDAY: Knots = &[
    (0.0, 0.12), (7.0, 0.12), (8.0, 0.20), (9.0, 0.40), (10.0, 0.66), (11.0, 0.85),
    (12.0, 0.95), (13.0, 0.98), (14.0, 0.98), (15.0, 0.97), (16.0, 0.93), (17.0, 0.82),
    (18.0, 0.62), (19.0, 0.45), (20.0, 0.38), (21.0, 0.32), (22.0, 0.25), (23.0, 0.18),
    (24.0, 0.14),
];
#[rustfmt::skip]
const INNER_SUNDAY: Knots = &[
    (0.0, 0.14), (6.0, 0.08), (9.0, 0.10), (11.0, 0.18), (13.0, 0.26), (15.0, 0.30),
    (17.0, 0.27), (19.0, 0.20), (21.0, 0.15), (24.0, 0.12),
];
#[rustfmt::skip]
const PR_WEEKDAY: Knots = &[
    (0.0, 0.04), (5.0, 0.04), (6.0, 0.15), (6.5, 0.35), (7.0, 0.58), (7.5, 0.75),
    (8.0, 0.85), (9.0, 0.90), (12.0, 0.88), (14.0, 0.85), (15.0, 0.78), (16.0, 0.62),
    (17.0, 0.42), (18.0, 0.24), (19.0, 0.13), (20.0, 0.08), (22.0, 0.05), (24.0, 0.04),
];
#[rustfmt::skip]
const PR_SATURDAY: Knots = &[
    (0.0, 0.04), (8.0, 0.05), (10.0, 0.15), (12.0, 0.25), (14.0, 0.25), (16.0, 0.18),
    (18.0, 0.08), (20.0, 0.05), (24.0, 0.04),
];
#[rustfmt::skip]
const PR_SUNDAY: Knots = &[
    (0.0, 0.04), (10.0, 0.06), (13.0, 0.10), (16.0, 0.08), (19.0, 0.05), (24.0, 0.04),
];
#[rustfmt::skip]
const PERIPHERAL_WEEKDAY: Knots = &[
    (0.0, 0.08), (6.0, 0.08), (7.0, 0.15), (8.0, 0.28), (9.0, 0.42), (10.0, 0.52),
    (11.0, 0.58), (12.0, 0.60), (14.0, 0.60), (16.0, 0.62), (17.0, 0.64), (18.0, 0.58),
    (19.0, 0.45), (20.0, 0.30), (21.0, 0.18), (22.0, 0.12), (24.0, 0.08),
];
#[rustfmt::skip]
const PERIPHERAL_SATURDAY: Knots = &[
    (0.0, 0.08), (8.0, 0.12), (9.0, 0.30), (10.0, 0.55), (11.0, 0.70), (12.0, 0.78),
    (14.0, 0.80), (16.0, 0.75), (18.0, 0.55), (19.0, 0.35), (20.0, 0.18), (22.0, 0.10),
    (24.0, 0.08),
];
#[rustfmt::skip]
const PERIPHERAL_SUNDAY: Knots = &[
    (0.0, 0.08), (10.0, 0.10), (13.0, 0.16), (16.0, 0.16), (19.0, 0.12), (24.0, 0.08),
];
#[rustfmt::skip]
const STREET_WEEKDAY: Knots = &[
    (0.0, 0.70), (6.0, 0.68), (7.0, 0.60), (8.0, 0.65), (9.0, 0.80), (10.0, 0.88),
    (12.0, 0.90), (15.0, 0.90), (17.0, 0.86), (18.0, 0.82), (19.0, 0.78), (21.0, 0.74),
    (24.0, 0.70),
];
#[rustfmt::skip]
const STREET_SATURDAY: Knots = &[
    (0.0, 0.70), (8.0, 0.70), (10.0, 0.85), (12.0, 0.93), (15.0, 0.93), (17.0, 0.88),
    (19.0, 0.80), (24.0, 0.74),
];
#[rustfmt::skip]
const STREET_SUNDAY: Knots = &[
    (0.0, 0.74), (9.0, 0.72), (12.0, 0.78), (15.0, 0.80), (18.0, 0.76), (24.0, 0.70),
];

/// Target occupancy (fraction of capacity) of a facility of `profile` at `t`.
pub(crate) fn parking_target(profile: ParkingProfile, t: LocalTime) -> f64 {
    let knots = match (profile, t.day) {
        (ParkingProfile::InnerCity, DayType::Saturday) => INNER_SATURDAY,
        (ParkingProfile::InnerCity, DayType::Sunday) => INNER_SUNDAY,
        (ParkingProfile::InnerCity, _) => INNER_WEEKDAY,
        (ParkingProfile::ParkAndRide, DayType::Saturday) => PR_SATURDAY,
        (ParkingProfile::ParkAndRide, DayType::Sunday) => PR_SUNDAY,
        (ParkingProfile::ParkAndRide, _) => PR_WEEKDAY,
        (ParkingProfile::Peripheral, DayType::Saturday) => PERIPHERAL_SATURDAY,
        (ParkingProfile::Peripheral, DayType::Sunday) => PERIPHERAL_SUNDAY,
        (ParkingProfile::Peripheral, _) => PERIPHERAL_WEEKDAY,
        (ParkingProfile::OnStreet, DayType::Saturday) => STREET_SATURDAY,
        (ParkingProfile::OnStreet, DayType::Sunday) => STREET_SUNDAY,
        (ParkingProfile::OnStreet, _) => STREET_WEEKDAY,
    };
    interp(knots, t.hour)
}

/// Mean time a car stays on an on-street spot, in minutes: short by day, long overnight.
pub(crate) fn spot_dwell_min(t: LocalTime) -> f64 {
    #[rustfmt::skip]
    const DWELL: Knots = &[
        (0.0, 300.0), (5.0, 300.0), (7.0, 60.0), (8.0, 45.0), (18.0, 45.0), (20.0, 90.0),
        (22.0, 240.0), (24.0, 300.0),
    ];
    interp(DWELL, t.hour)
}
