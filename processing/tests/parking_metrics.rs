//! The parking operator across windows: spot sessions, entries/exits, status, trend and the
//! time-weighted mean occupancy, against hand-worked numbers.

use stadtpuls_processing::catalog::{Catalog, EntityKey, UnknownSensors};
use stadtpuls_processing::engine::{Operator, ParkingOperator};
use stadtpuls_processing::formulas::occupancy_slope_pct_per_h;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::{ParkingBatchBuilder, ParkingObservation, SpotStatus};
use stadtpuls_processing::window::parking::{ParkingSpec, ParkingStatus, Trend, out};
use stadtpuls_processing::window::{ClosedWindows, TimestampSemantics, WindowSpec};
use stadtpuls_processing::{ProcessingError, Result};

mod support;
use support::{f64_at, row, str_at, u32_at, u64_at};

const T0: i64 = 1_795_478_400_000;
const S: i64 = 1_000;
const MIN: i64 = 60_000;

struct Scene {
    catalog: Catalog,
    op: ParkingOperator,
    zone: EntityKey,
    park: EntityKey,
}

impl Scene {
    /// A zone of four spot sensors and a car park of 100 spaces; 1- and 15-minute windows.
    fn new() -> Self {
        let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
        let zone = catalog.add_facility(0, "zone", None);
        let park = catalog.add_facility(0, "park", Some(100));
        for id in ["s1", "s2", "s3", "s4"] {
            catalog.add_spot(0, id, zone);
        }
        let windows = WindowSpec::tumbling(
            &[MIN, 15 * MIN],
            0,
            60 * MIN,
            TimestampSemantics::IntervalEnd,
        );
        let op = ParkingOperator::new(&windows, &ParkingSpec::default(), &catalog);
        Self {
            catalog,
            op,
            zone,
            park,
        }
    }

    fn feed(&mut self, rows: &[ParkingObservation<'_>]) -> Result<Vec<ClosedWindows>> {
        let bounds = TimeBounds {
            now: T0 + 60 * MIN,
            max_future_ms: 0,
        };
        let mut b = ParkingBatchBuilder::default();
        for row in rows {
            b.push(&self.catalog, None, row, bounds)
                .map_err(|r| ProcessingError::Internal(r.to_string()))?;
        }
        let batch = b.finish(&self.catalog)?;
        self.op.fold(0, T0, &batch, &self.catalog)?;
        self.op.advance(T0, &self.catalog)
    }
}

fn spot(id: &'static str, ts: i64, status: SpotStatus) -> ParkingObservation<'static> {
    ParkingObservation::Spot {
        city: "ulm",
        id,
        facility_id: None,
        ts,
        status,
    }
}

fn count(
    ts: i64,
    free: i64,
    entries: Option<i64>,
    exits: Option<i64>,
) -> ParkingObservation<'static> {
    ParkingObservation::Facility {
        city: "ulm",
        id: "park",
        ts,
        free_spaces: free,
        total_spaces: None,
        entries,
        exits,
        opening: None,
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

/// Minute 1: s1–s3 free, s4 already occupied at its first report; s1 occupied at 0:10.
/// Minute 2: s4 leaves (start unseen), s1 repeats occupied, s2 occupied at 1:30.
/// Minute 3: s1 leaves at 2:10 (dwell 2:00), s2 closes at 2:30 (dwell 1:00), s3 occupied,
/// and a delayed s1 report from 2:05 arrives after the 2:10 one and is ignored.
/// The car park counts 50, 45, 40 free with entries/exits 4/1, 6/1, —.
#[test]
fn sessions_counts_and_levels_across_windows() -> Result<()> {
    use SpotStatus::{Closed, Free, Occupied};
    let mut scene = Scene::new();
    let mut closed = scene.feed(&[
        spot("s1", T0, Free),
        spot("s2", T0, Free),
        spot("s3", T0, Free),
        spot("s4", T0, Occupied),
        spot("s1", T0 + 10 * S, Occupied),
        count(T0 + 20 * S, 50, Some(4), Some(1)),
    ])?;
    closed.extend(scene.feed(&[
        spot("s4", T0 + 70 * S, Free),
        spot("s1", T0 + 80 * S, Occupied),
        spot("s2", T0 + 90 * S, Occupied),
        count(T0 + 100 * S, 45, Some(6), Some(1)),
    ])?);
    closed.extend(scene.feed(&[
        spot("s1", T0 + 130 * S, Free),
        spot("s2", T0 + 150 * S, Closed),
        spot("s3", T0 + 155 * S, Occupied),
        spot("s1", T0 + 125 * S, Occupied),
        count(T0 + 170 * S, 40, None, None),
    ])?);
    closed.extend(scene.op.finish(&scene.catalog)?);

    let zone = |size, start| row(&closed, size, start, "zone");
    // Minute 1: nothing ended yet; turnover 0 of 4 usable spots.
    assert_eq!(u32_at(zone(60, T0), out::SESSIONS_ENDED), Some(0));
    assert_eq!(f64_at(zone(60, T0), out::TURNOVER), Some(0.0));
    assert_eq!(f64_at(zone(60, T0), out::MEAN_DWELL_S), None);
    // Minute 2: s4's session ended but its start was never seen: no mean dwell.
    assert_eq!(u32_at(zone(60, T0 + MIN), out::SESSIONS_ENDED), Some(1));
    assert_eq!(f64_at(zone(60, T0 + MIN), out::TURNOVER), Some(0.25));
    assert_eq!(f64_at(zone(60, T0 + MIN), out::MEAN_DWELL_S), None);
    // Minute 3: (120 s + 60 s) / 2 = 90 s; s2 closed leaves 3 usable: 2 / 3.
    let m3 = zone(60, T0 + 2 * MIN);
    assert_eq!(u32_at(m3, out::SESSIONS_ENDED), Some(2));
    assert_eq!(f64_at(m3, out::MEAN_DWELL_S), Some(90.0));
    assert!(close(f64_at(m3, out::TURNOVER), 2.0 / 3.0));
    // s1 free, s2 closed, s3 occupied, s4 free: 2 free of 3, 1 occupied.
    assert_eq!(u32_at(m3, out::FREE), Some(2));
    assert_eq!(u32_at(m3, out::TOTAL), Some(3));
    assert_eq!(u32_at(m3, out::OCCUPIED), Some(1));
    // The quarter hour: 3 sessions over 3 usable spots, mean dwell of the two seen.
    let quarter = zone(900, T0);
    assert_eq!(u32_at(quarter, out::SESSIONS_ENDED), Some(3));
    assert_eq!(f64_at(quarter, out::TURNOVER), Some(1.0));
    assert_eq!(f64_at(quarter, out::MEAN_DWELL_S), Some(90.0));
    assert_eq!(
        u64_at(quarter, out::ENTRIES),
        None,
        "spot zones count no entries"
    );

    let park = |size, start| row(&closed, size, start, "park");
    assert_eq!(u64_at(park(60, T0), out::ENTRIES), Some(4));
    assert_eq!(u64_at(park(60, T0 + MIN), out::EXITS), Some(1));
    assert_eq!(
        u64_at(park(60, T0 + 2 * MIN), out::ENTRIES),
        None,
        "not reported"
    );
    assert_eq!(u64_at(park(900, T0), out::ENTRIES), Some(10));
    assert_eq!(u64_at(park(900, T0), out::EXITS), Some(2));
    assert_eq!(
        u32_at(park(900, T0), out::SESSIONS_ENDED),
        None,
        "no spot sensors"
    );
    assert_eq!(u32_at(park(900, T0), out::OCCUPIED), Some(60));
    assert_eq!(
        str_at(park(900, T0), out::STATUS).as_deref(),
        Some("spacesAvailable")
    );
    // Minute 2 time-weighted: 50 % carried in for 40 s, 55 % for 20 s → 51.67 %.
    assert!(close(
        f64_at(park(60, T0 + MIN), out::OCCUPANCY_MEAN_PCT),
        3100.0 / 60.0
    ));
    // Quarter hour: 50 % for 80 s, 55 % for 70 s, 60 % for 730 s (to the window end),
    // known from 0:20 on: (4,000 + 3,850 + 43,800) / 880 = 58.69 %.
    assert!(close(
        f64_at(park(900, T0), out::OCCUPANCY_MEAN_PCT),
        51_650.0 / 880.0
    ));

    let zone_now = scene
        .op
        .facility(scene.zone)
        .map(|l| (l.free, l.total, l.occupied));
    assert_eq!(zone_now, Some((2, Some(3), Some(1))));
    Ok(())
}

/// A zone filling to full and emptying shows the status hysteresis, then closes; a car
/// park's rising count over ten minutes gives an increasing trend.
#[test]
fn status_and_trend_follow_the_level() -> Result<()> {
    use SpotStatus::{Closed, Free, Occupied};
    let mut scene = Scene::new();
    let status = |scene: &Scene| scene.op.facility(scene.zone).and_then(|l| l.status);
    let ids = ["s1", "s2", "s3", "s4"];
    let all: Vec<_> = ids.iter().map(|id| spot(id, T0, Occupied)).collect();
    scene.feed(&all)?;
    assert_eq!(status(&scene), Some(ParkingStatus::Full), "4 of 4: 100 %");
    scene.feed(&[spot("s1", T0 + MIN, Free)])?;
    assert_eq!(
        status(&scene),
        Some(ParkingStatus::SpacesAvailable),
        "75 % < 85 %"
    );
    scene.feed(&[spot("s1", T0 + 2 * MIN, Occupied)])?;
    assert_eq!(status(&scene), Some(ParkingStatus::Full));
    let closing: Vec<_> = ids
        .iter()
        .map(|id| spot(id, T0 + 3 * MIN, Closed))
        .collect();
    scene.feed(&closing)?;
    let zone = scene.op.facility(scene.zone);
    assert_eq!(
        zone.map(|l| (l.total, l.occupancy_pct)),
        Some((Some(0), None))
    );
    assert_eq!(status(&scene), Some(ParkingStatus::Closed));
    assert_eq!(zone.and_then(|l| l.trend), None, "no occupancy, no trend");

    let readings = [
        (20 * S, 50),
        (100 * S, 45),
        (170 * S, 40),
        (5 * MIN, 35),
        (10 * MIN, 30),
    ];
    for (offset, free) in readings {
        scene.feed(&[count(T0 + offset, free, None, None)])?;
    }
    let park = scene.op.facility(scene.park);
    let samples: Vec<(i64, f64)> = readings
        .iter()
        .map(|&(offset, free)| (T0 + offset, 100.0 - free as f64))
        .collect();
    // 50 → 70 % in under ten minutes: far above +5 %/h
    let expected = occupancy_slope_pct_per_h(&samples).unwrap_or_default();
    assert!(expected > 100.0, "{expected}");
    assert_eq!(park.and_then(|l| l.trend), Some(Trend::Increasing));
    assert!(close(park.and_then(|l| l.trend_pct_per_h), expected));
    assert_eq!(park.and_then(|l| l.occupied), Some(70));
    Ok(())
}
