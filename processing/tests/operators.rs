//! The window operators against hand-worked numbers.

use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::engine::{Operator, ParkingOperator, TrafficWindowOperator};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::{ParkingBatchBuilder, ParkingObservation, SpotStatus};
use stadtpuls_processing::model::traffic::{TrafficBatchBuilder, TrafficObservation};
use stadtpuls_processing::time::Watermark;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::traffic::out;
use stadtpuls_processing::window::{ClosedWindows, TimestampSemantics, WindowSpec};
use stadtpuls_processing::{RejectReason, Result};

use arrow_array::{Array, Float64Array, StringArray, UInt32Array, UInt64Array};

const T0: i64 = 1_795_478_400_000;
const MIN: i64 = 60_000;

fn spec() -> WindowSpec {
    WindowSpec::tumbling(
        &[MIN, 15 * MIN],
        30_000,
        10 * MIN,
        TimestampSemantics::IntervalEnd,
    )
}

fn bounds() -> TimeBounds {
    TimeBounds {
        now: T0 + 60 * MIN,
        max_future_ms: 5 * MIN,
    }
}

fn obs(
    sensor: &'static str,
    lane: i64,
    ts: i64,
    interval_s: i64,
    n: i64,
    speed: Option<f64>,
) -> TrafficObservation<'static> {
    TrafficObservation {
        city: "ulm",
        sensor_id: sensor,
        lane,
        ts,
        interval_s,
        vehicle_count: n,
        heavy_vehicle_count: None,
        avg_speed_kmh: speed,
        occupancy_pct: None,
    }
}

struct Traffic {
    catalog: Catalog,
    op: TrafficWindowOperator,
}

impl Traffic {
    fn new() -> Self {
        Self {
            catalog: Catalog::with_cities(&["ulm"], UnknownSensors::Admit),
            op: TrafficWindowOperator::new(&spec()),
        }
    }

    fn feed(
        &mut self,
        source: u32,
        rows: &[TrafficObservation<'_>],
    ) -> Result<(u64, Vec<ClosedWindows>)> {
        let mut b = TrafficBatchBuilder::default();
        for o in rows {
            b.push(&mut self.catalog, None, o, bounds())
                .map_err(|r| stadtpuls_processing::ProcessingError::Internal(r.to_string()))?;
        }
        let batch = b.finish(&self.catalog)?;
        let stats = self.op.fold(source, T0, &batch, &self.catalog)?;
        let closed = self.op.advance(T0, &self.catalog)?;
        Ok((stats.late(), closed))
    }
}

fn f64_at(c: &ClosedWindows, name: &str, row: usize) -> Option<f64> {
    let a = c
        .batch
        .column_by_name(name)?
        .as_any()
        .downcast_ref::<Float64Array>()?;
    a.is_valid(row).then(|| a.value(row))
}

fn u64_at(c: &ClosedWindows, name: &str, row: usize) -> Option<u64> {
    let a = c
        .batch
        .column_by_name(name)?
        .as_any()
        .downcast_ref::<UInt64Array>()?;
    Some(a.value(row))
}

#[test]
fn two_lanes_one_minute_hand_worked() -> Result<()> {
    let mut t = Traffic::new();
    // Lane 1: 10 veh @ 50, 12 @ 60; lane 2: 20 @ 40, 18 @ 30; 30-s intervals.
    let rows = [
        obs("s1", 1, T0 + 30_000, 30, 10, Some(50.0)),
        obs("s1", 2, T0 + 30_000, 30, 20, Some(40.0)),
        obs("s1", 1, T0 + MIN, 30, 12, Some(60.0)),
        obs("s1", 2, T0 + MIN, 30, 18, Some(30.0)),
    ];
    let (late, closed) = t.feed(0, &rows)?;
    assert_eq!(
        (late, closed.len()),
        (0, 0),
        "watermark T0+30s−1ms closes nothing"
    );
    let (_, closed) = t.feed(0, &[obs("s1", 1, T0 + 2 * MIN, 60, 1, None)])?;
    // newest event − 30 s out-of-orderness − 1 ms
    assert_eq!(t.op.watermark(), Watermark::EventTime(T0 + 90_000 - 1));
    assert_eq!(closed.len(), 1);
    let w = &closed[0];
    assert_eq!((w.window_s, w.window_start), (60, T0));
    assert_eq!(u64_at(w, out::VEHICLES, 0), Some(60));
    assert_eq!(f64_at(w, out::FLOW_VEH_H, 0), Some(3600.0));
    let vt = f64_at(w, out::SPEED_TIME_MEAN_KMH, 0).unwrap_or_default();
    assert!((vt - 2560.0 / 60.0).abs() < 1e-9);
    assert_eq!(f64_at(w, out::SPEED_SPACE_MEAN_KMH, 0), Some(40.0));
    assert_eq!(f64_at(w, out::DENSITY_VEH_KM, 0), Some(90.0));
    Ok(())
}

#[test]
fn late_rows_are_counted_and_do_not_change_closed_windows() -> Result<()> {
    let mut t = Traffic::new();
    t.feed(0, &[obs("s1", 0, T0 + MIN, 60, 5, None)])?;
    let (_, closed) = t.feed(0, &[obs("s1", 0, T0 + 3 * MIN, 60, 7, None)])?;
    assert_eq!(closed.len(), 1, "first minute closed at watermark T0+2m30s");
    let (late, closed) = t.feed(0, &[obs("s1", 0, T0 + 40_000, 40, 30, None)])?;
    assert_eq!(late, 1);
    assert!(closed.is_empty());
    // out of order but within the allowed 30 s: still counted
    let (late, _) = t.feed(0, &[obs("s2", 0, T0 + 2 * MIN + 50_000, 10, 2, None)])?;
    assert_eq!(late, 0);
    Ok(())
}

#[test]
fn slowest_source_holds_windows_open() -> Result<()> {
    let mut t = Traffic::new();
    t.feed(0, &[obs("a", 0, T0 + MIN, 60, 1, None)])?;
    t.feed(1, &[obs("b", 0, T0 + MIN, 60, 1, None)])?;
    let (_, closed) = t.feed(0, &[obs("a", 0, T0 + 5 * MIN, 60, 1, None)])?;
    assert!(closed.is_empty(), "source 1 is still at T0+1m");
    let (_, closed) = t.feed(1, &[obs("b", 0, T0 + 5 * MIN, 60, 1, None)])?;
    // one window, emitted as one batch per owning task (source)
    let rows: Vec<(u32, i64, Vec<String>)> = closed
        .iter()
        .map(|w| {
            let ids = w
                .batch
                .column_by_name(out::SENSOR_ID)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
            let ids = ids.map(|a| a.iter().flatten().map(str::to_owned).collect::<Vec<_>>());
            (w.owner, w.window_start, ids.unwrap_or_default())
        })
        .collect();
    assert_eq!(
        rows,
        vec![(0, T0, vec!["a".to_owned()]), (1, T0, vec!["b".to_owned()])]
    );
    Ok(())
}

#[test]
fn finish_flushes_every_size() -> Result<()> {
    let mut t = Traffic::new();
    t.feed(0, &[obs("a", 0, T0 + MIN, 60, 3, None)])?;
    let closed = t.op.finish(&t.catalog)?;
    let sizes: Vec<u32> = closed.iter().map(|c| c.window_s).collect();
    assert_eq!(sizes, vec![60, 900]);
    Ok(())
}

#[test]
fn spots_roll_up_into_their_zone() -> Result<()> {
    let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
    let zone = catalog.add_facility(0, "zone", None);
    let park = catalog.add_facility(0, "park", Some(100));
    for id in ["s1", "s2", "s3"] {
        catalog.add_spot(0, id, zone);
    }
    let mut op = ParkingOperator::new(&spec(), &ParkingSpec::default(), &catalog);
    let mut b = ParkingBatchBuilder::default();
    let spot = |id: &'static str, ts: i64, status| ParkingObservation::Spot {
        city: "ulm",
        id,
        facility_id: None,
        ts,
        status,
    };
    let rows = [
        spot("s1", T0 + 1_000, SpotStatus::Free),
        spot("s2", T0 + 2_000, SpotStatus::Free),
        spot("s3", T0 + 3_000, SpotStatus::Closed),
        spot("s2", T0 + 4_000, SpotStatus::Occupied),
        // older than the state held: ignored for the level
        spot("s2", T0 + 1_500, SpotStatus::Free),
        ParkingObservation::Facility {
            city: "ulm",
            id: "park",
            ts: T0 + 5_000,
            free_spaces: 30,
            total_spaces: None,
            entries: None,
            exits: None,
            opening: None,
        },
        ParkingObservation::Facility {
            city: "ulm",
            id: "park",
            ts: T0 + 50_000,
            free_spaces: 20,
            total_spaces: Some(90),
            entries: None,
            exits: None,
            opening: None,
        },
    ];
    for r in &rows {
        assert!(b.push(&catalog, None, r, bounds()).is_ok());
    }
    let over = ParkingObservation::Facility {
        city: "ulm",
        id: "park",
        ts: T0,
        free_spaces: 101,
        total_spaces: None,
        entries: None,
        exits: None,
        opening: None,
    };
    assert_eq!(
        b.push(&catalog, None, &over, bounds())
            .err()
            .map(|r| r.reason),
        Some(RejectReason::InvalidParking)
    );
    let batch = b.finish(&catalog)?;
    op.fold(0, T0, &batch, &catalog)?;
    let z = op.facility(zone).map(|l| (l.free, l.total));
    assert_eq!(z, Some((1, Some(2))), "one free of two usable (one closed)");
    let p = op.facility(park).map(|l| (l.free, l.total, l.updated_at));
    assert_eq!(p, Some((20, Some(90), T0 + 50_000)));
    assert_eq!(op.take_changed(), vec![zone, park]);
    let closed = op.finish(&catalog)?;
    let minute = closed
        .iter()
        .find(|c| c.window_s == 60)
        .expect("1-min window");
    let free_min = minute
        .batch
        .column_by_name("free_min")
        .and_then(|c| c.as_any().downcast_ref::<UInt32Array>().cloned());
    // zone: levels 1,2,2,1,1 → min 1; park: 30 then 20 → min 20
    assert_eq!(free_min.map(|a| a.values().to_vec()), Some(vec![1, 20]));
    Ok(())
}

#[test]
fn per_lane_windows_split_lanes_and_leave_out_cross_section_totals() -> Result<()> {
    let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Admit);
    let mut op = TrafficWindowOperator::per_lane(&spec());
    let mut b = TrafficBatchBuilder::default();
    for o in [
        obs("s1", 1, T0 + 30_000, 30, 10, Some(50.0)),
        obs("s1", 2, T0 + 30_000, 30, 20, Some(40.0)),
        obs("s1", 1, T0 + MIN, 30, 12, Some(60.0)),
        obs("s1", 0, T0 + MIN, 60, 50, Some(45.0)),
        obs("s1", 1, T0 + 3 * MIN, 60, 1, None),
    ] {
        b.push(&mut catalog, None, &o, bounds())
            .map_err(|r| stadtpuls_processing::ProcessingError::Internal(r.to_string()))?;
    }
    let batch = b.finish(&catalog)?;
    op.fold(0, T0, &batch, &catalog)?;
    let closed = op.advance(T0, &catalog)?;
    let minute = closed
        .iter()
        .find(|c| c.window_s == 60 && c.window_start == T0)
        .expect("first minute");
    let lanes = minute.batch.column_by_name(out::LANE).and_then(|c| {
        c.as_any()
            .downcast_ref::<arrow_array::UInt8Array>()
            .cloned()
    });
    assert_eq!(
        lanes.map(|l| l.iter().collect::<Vec<_>>()),
        Some(vec![Some(1), Some(2)])
    );
    // lane 1: 10 + 12 vehicles in 2 × 30 s; lane 2: 20 vehicles in 30 s; the lane-0 total is not a lane
    assert_eq!(u64_at(minute, out::VEHICLES, 0), Some(22));
    assert_eq!(u64_at(minute, out::VEHICLES, 1), Some(20));
    assert_eq!(f64_at(minute, out::FLOW_VEH_H, 0), Some(1320.0));
    assert_eq!(f64_at(minute, out::FLOW_VEH_H, 1), Some(2400.0));
    assert_eq!(f64_at(minute, out::COMPLETENESS_PCT, 0), Some(100.0));
    assert_eq!(f64_at(minute, out::COMPLETENESS_PCT, 1), Some(50.0));
    Ok(())
}
