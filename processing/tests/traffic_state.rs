//! Observations → `TrafficWindowOperator` → `TrafficStateClassifier`, minute by minute:
//! MARZ states across consecutive windows, hysteresis included, against hand-worked values.

use arrow_array::{Array, BooleanArray, Float64Array, StringArray};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::engine::{Operator, TrafficWindowOperator};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::traffic::{TrafficBatchBuilder, TrafficObservation};
use stadtpuls_processing::window::traffic::{out, traffic_window_schema};
use stadtpuls_processing::window::traffic_state::TrafficStateClassifier;
use stadtpuls_processing::window::{ClosedWindows, TimestampSemantics, WindowSpec};
use stadtpuls_processing::{ProcessingError, Result};

const T0: i64 = 1_795_478_400_000;
const MIN: i64 = 60_000;

/// (sensor, lane, interval_s, vehicles, km/h) of one interval report.
type Report = (&'static str, i64, i64, i64, f64);

/// One sensor's classified window, as read back from the batch.
#[derive(Debug, PartialEq)]
struct Classified {
    state: Option<String>,
    congested: Option<bool>,
    completeness_pct: f64,
    speed_ratio: Option<f64>,
}

struct Stage {
    catalog: Catalog,
    spec: WindowSpec,
    classifier: TrafficStateClassifier,
}

impl Stage {
    /// A two-lane motorway sensor `a8` (free flow 120 km/h → motorway: v1 30, v2 80,
    /// k1 30, k2 60) and a two-lane city street `ring` (50 km/h → urban: v1 15, v2 35,
    /// k1 30, k2 60), one-minute windows, no allowed disorder.
    fn new() -> Self {
        let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
        catalog.add_traffic(0, "a8", 2, 120.0);
        catalog.add_traffic(0, "ring", 2, 50.0);
        let spec = WindowSpec::tumbling(&[MIN], 0, 60 * MIN, TimestampSemantics::IntervalEnd);
        Self {
            catalog,
            spec,
            classifier: TrafficStateClassifier::new(),
        }
    }

    /// Feeds the minute ending at `end` and returns the classified window it closes, by
    /// sensor.
    fn minute(&mut self, end: i64, reports: &[Report]) -> Result<Vec<(String, Classified)>> {
        let bounds = TimeBounds {
            now: end,
            max_future_ms: 0,
        };
        let mut builder = TrafficBatchBuilder::default();
        for &(sensor, lane, interval_s, n, kmh) in reports {
            let obs = TrafficObservation {
                city: "ulm",
                sensor_id: sensor,
                lane,
                ts: end,
                interval_s,
                vehicle_count: n,
                heavy_vehicle_count: None,
                avg_speed_kmh: Some(kmh),
                occupancy_pct: None,
            };
            builder
                .push(&mut self.catalog, None, &obs, bounds)
                .map_err(|r| ProcessingError::Internal(r.to_string()))?;
        }
        let batch = builder.finish(&self.catalog)?;
        // Only the classifier carries state from minute to minute: each minute is closed by
        // an operator of its own, at the end of its input (with no disorder allowed, a
        // running one would close it only when the next minute's reports arrive).
        let mut op = TrafficWindowOperator::new(&self.spec);
        op.fold(0, end, &batch, &self.catalog)?;
        let closed = op.finish(&self.catalog)?;
        assert_eq!(closed.len(), 1, "the minute ending at {end} closes");
        let classified = self.classifier.classify(&closed[0], &self.catalog)?;
        assert_eq!(classified.batch.schema(), traffic_window_schema());
        read(&classified)
    }
}

fn read(closed: &ClosedWindows) -> Result<Vec<(String, Classified)>> {
    let batch = &closed.batch;
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| ProcessingError::Schema(name.to_owned()))
    };
    let sensor = col(out::SENSOR_ID)?.as_any().downcast_ref::<StringArray>();
    let state = col(out::TRAFFIC_STATE)?
        .as_any()
        .downcast_ref::<StringArray>();
    let congested = col(out::CONGESTED)?.as_any().downcast_ref::<BooleanArray>();
    let complete = col(out::COMPLETENESS_PCT)?
        .as_any()
        .downcast_ref::<Float64Array>();
    let ratio = col(out::SPEED_RATIO)?
        .as_any()
        .downcast_ref::<Float64Array>();
    let (Some(sensor), Some(state), Some(congested), Some(complete), Some(ratio)) =
        (sensor, state, congested, complete, ratio)
    else {
        return Err(ProcessingError::Schema("mistyped column".to_owned()));
    };
    Ok((0..batch.num_rows())
        .map(|i| {
            let row = Classified {
                state: state.is_valid(i).then(|| state.value(i).to_owned()),
                congested: congested.is_valid(i).then(|| congested.value(i)),
                completeness_pct: complete.value(i),
                speed_ratio: ratio
                    .is_valid(i)
                    .then(|| (ratio.value(i) * 1000.0).round() / 1000.0),
            };
            (sensor.value(i).to_owned(), row)
        })
        .collect())
}

fn one(rows: Vec<(String, Classified)>, sensor: &str) -> Classified {
    rows.into_iter()
        .find(|(id, _)| id == sensor)
        .map(|(_, row)| row)
        .unwrap_or_else(|| panic!("no window of {sensor}"))
}

/// Both lanes of `a8` report the same count and speed over 60 s, so
/// N = 2n, T = 120 s / 2 lanes = 60 s, q = 2n·60 veh/h, v_s = v, k = q / v.
fn a8(n: i64, kmh: f64) -> [Report; 2] {
    [("a8", 1, 60, n, kmh), ("a8", 2, 60, n, kmh)]
}

/// A jam building up and dissolving on the motorway, one minute at a time.
///
/// | minute | per lane | q veh/h | v km/h | k veh/km | regions (v1 30, v2 80, k1 30, k2 60) | state |
/// |---|---|---|---|---|---|---|
/// | 1 | 20 @ 100 | 2400 | 100 | 24 | v ≥ v2, k ≤ k1 | Z1 |
/// | 2 | 27 @ 85 | 3240 | 85 | 38.1 | v ≥ v2, k1 < k ≤ k2 | Z2 |
/// | 3 | 30 @ 60 | 3600 | 60 | 60 | v1 ≤ v < v2, k ≤ k2 | Z3 |
/// | 4 | 25 @ 25 | 3000 | 25 | 120 | v < v1, k > k2 | Z4 |
/// | 5 | 35 @ 45 | 4200 | 45 | 93.3 | k > k2 alone, after Z4 | Z4 (hysteresis) |
/// | 6 | 25 @ 70 | 3000 | 70 | 42.9 | v1 ≤ v < v2, k ≤ k2 | Z3 |
/// | 7 | 20 @ 100 | 2400 | 100 | 24 | v ≥ v2, k ≤ k1 | Z1 |
/// | 8 | lane 1 only: 10 @ 25 | 600 | 25 | 24 | v < v1 alone, after Z1 | Z3 |
/// | 9 | 35 @ 90 | 4200 | 90 | 46.7 | v ≥ v2, k1 < k ≤ k2 | Z2 |
/// | 10 | 40 @ 85 | 4800 | 85 | 56.5 | v ≥ v2, k ≤ k2 | Z2 |
/// | 11 | 45 @ 80 | 5400 | 80 | 67.5 | k > k2 alone, after Z2 | Z2 |
///
/// Completeness is 100 % except in minute 8: 60 of 2·60 lane-seconds = 50 %.
#[test]
fn motorway_jam_builds_up_and_dissolves() -> Result<()> {
    let mut stage = Stage::new();
    let minutes: [&[Report]; 11] = [
        &a8(20, 100.0),
        &a8(27, 85.0),
        &a8(30, 60.0),
        &a8(25, 25.0),
        &a8(35, 45.0),
        &a8(25, 70.0),
        &a8(20, 100.0),
        &[("a8", 1, 60, 10, 25.0)],
        &a8(35, 90.0),
        &a8(40, 85.0),
        &a8(45, 80.0),
    ];
    let mut got = Vec::new();
    for (index, reports) in minutes.iter().enumerate() {
        let end = T0 + (index as i64 + 1) * MIN;
        got.push(one(stage.minute(end, reports)?, "a8"));
    }
    let states: Vec<&str> = got.iter().filter_map(|w| w.state.as_deref()).collect();
    assert_eq!(
        states,
        [
            "Z1", "Z2", "Z3", "Z4", "Z4", "Z3", "Z1", "Z3", "Z2", "Z2", "Z2"
        ]
    );
    let congested: Vec<Option<bool>> = got.iter().map(|w| w.congested).collect();
    let expected: Vec<Option<bool>> = [
        false, false, true, true, true, true, false, true, false, false, false,
    ]
    .map(Some)
    .to_vec();
    assert_eq!(congested, expected);
    let completeness: Vec<f64> = got.iter().map(|w| w.completeness_pct).collect();
    assert_eq!(
        completeness,
        [
            100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 50.0, 100.0, 100.0, 100.0
        ]
    );
    // v_s / 120 km/h
    assert_eq!(got[0].speed_ratio, Some(0.833));
    assert_eq!(got[3].speed_ratio, Some(0.208));
    Ok(())
}

/// A city street reporting cross-section totals (lane 0) for both its lanes.
///
/// 1. no vehicles in 60 s: an empty road, Z1; completeness 100 % (lane 0 covers both lanes)
/// 2. 12 vehicles standing at 0 km/h: v_s = 0, density undefined, a stopped queue → Z4
/// 3. 10 vehicles at 10 km/h in a 30 s interval: q = 1200, k = 120, both jam conditions → Z4;
///    completeness 2·30 / (2·60) = 50 %
/// 4. 10 at 20 km/h over 60 s: q = 600, v = 20, k = 30: v1 ≤ v < v2, k ≤ k2 → Z3
/// 5. 5 at 12 km/h: q = 300, v = 12, k = 25: v < v1 alone, right after Z3 → Z4 (hysteresis)
/// 6. 5 at 45 km/h: q = 300, k = 6.7 → Z1, speed ratio 45/50 = 0.9
#[test]
fn city_street_from_cross_section_reports() -> Result<()> {
    let mut stage = Stage::new();
    let minutes: [(i64, i64, f64); 6] = [
        (60, 0, 50.0),
        (60, 12, 0.0),
        (30, 10, 10.0),
        (60, 10, 20.0),
        (60, 5, 12.0),
        (60, 5, 45.0),
    ];
    let mut got = Vec::new();
    for (index, &(interval_s, n, kmh)) in minutes.iter().enumerate() {
        let end = T0 + (index as i64 + 1) * MIN;
        got.push(one(
            stage.minute(end, &[("ring", 0, interval_s, n, kmh)])?,
            "ring",
        ));
    }
    let states: Vec<Option<&str>> = got.iter().map(|w| w.state.as_deref()).collect();
    assert_eq!(
        states,
        [
            Some("Z1"),
            Some("Z4"),
            Some("Z4"),
            Some("Z3"),
            Some("Z4"),
            Some("Z1")
        ]
    );
    assert_eq!(got[0].speed_ratio, None, "no vehicles, no speed");
    assert_eq!(got[1].speed_ratio, Some(0.0));
    assert_eq!(got[5].speed_ratio, Some(0.9));
    let completeness: Vec<f64> = got.iter().map(|w| w.completeness_pct).collect();
    assert_eq!(completeness, [100.0, 100.0, 50.0, 100.0, 100.0, 100.0]);
    Ok(())
}

/// The hand-worked example with hysteresis in `docs/metrics.md`, window by window.
#[test]
fn metrics_md_hand_worked_example() -> Result<()> {
    let mut stage = Stage::new();
    let minutes: [&[Report]; 5] = [
        &a8(30, 60.0),
        &a8(25, 25.0),
        &a8(35, 45.0),
        &a8(25, 70.0),
        &[("a8", 1, 60, 10, 25.0)],
    ];
    let mut got = Vec::new();
    for (index, reports) in minutes.iter().enumerate() {
        let end = T0 + (index as i64 + 1) * MIN;
        got.push(one(stage.minute(end, reports)?, "a8"));
    }
    let states: Vec<&str> = got.iter().filter_map(|w| w.state.as_deref()).collect();
    assert_eq!(states, ["Z3", "Z4", "Z4", "Z3", "Z4"]);
    assert!(got.iter().all(|w| w.congested == Some(true)));
    let ratios: Vec<Option<f64>> = got.iter().map(|w| w.speed_ratio).collect();
    assert_eq!(
        ratios,
        [
            Some(0.5),
            Some(0.208),
            Some(0.375),
            Some(0.583),
            Some(0.208)
        ]
    );
    let completeness: Vec<f64> = got.iter().map(|w| w.completeness_pct).collect();
    assert_eq!(completeness, [100.0, 100.0, 100.0, 100.0, 50.0]);
    Ok(())
}
