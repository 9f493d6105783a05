//! A region's corridor traffic: the roads crossing its city borders, from each corridor
//! sensor's latest closed window.

use crate::live::TrafficWindowRow;
use crate::model::contract::traffic::out;
use crate::time::EventTime;

/// One corridor sensor with its latest closed window (`None`: none retained).
#[derive(Debug, Clone, Copy)]
pub struct CorridorWindow<'a> {
    /// Its latest closed window of the family asked for.
    pub row: Option<&'a TrafficWindowRow>,
}

/// The corridors of a region as one.
#[derive(Debug, Clone, PartialEq)]
pub struct CorridorRollup {
    /// Corridor sensors given.
    pub sensors: usize,
    /// Those whose latest window is the newest one (`window_end`); only these count, so
    /// that every value describes the same interval.
    pub sensors_reporting: usize,
    /// Σ nᵢ, vehicles counted in that window.
    pub vehicles: Option<u64>,
    /// Σ qᵢ, veh/h: the traffic crossing the region's borders at these sensors.
    pub flow_veh_h: Option<f64>,
    /// Σ nᵢ / Σ (nᵢ / vᵢ), km/h: the space-mean speed of all those vehicles.
    pub speed_space_mean_kmh: Option<f64>,
    /// End of the newest closed window of any corridor sensor, epoch ms UTC.
    pub window_end: Option<EventTime>,
}

/// Rolls up a region's corridor sensors' latest windows.
///
/// With t* the newest `window_end` among them and R the sensors whose window ends at t*
/// (older windows are left out rather than mixed in: a sensor silent for an hour would
/// otherwise lend its old flow to the current sum; `sensors_reporting` says how complete
/// the sum is), nᵢ a sensor's `vehicles`, qᵢ its `flow_veh_h` and vᵢ its
/// `speed_space_mean_kmh`:
///
/// ```text
/// vehicles              N  = Σ_{i∈R} nᵢ
/// flow_veh_h            Q  = Σ_{i∈R} qᵢ
/// speed_space_mean_kmh  v̄ = Σ nᵢ / Σ (nᵢ / vᵢ)   over i ∈ R with nᵢ > 0 and a speed vᵢ
/// ```
///
/// The space-mean speed of several sensors is the harmonic mean of their space-mean
/// speeds weighted by vehicles, never their plain average (`docs/metrics.md`; the
/// team's domain notes §9: "averaging across lanes or classes must be flow-weighted and
/// harmonic for space-mean speed"). Each vᵢ is itself nᵢ / Σⱼ 1/vᵢⱼ over the sensor's
/// vehicles, so Σ nᵢ / vᵢ = Σᵢⱼ 1/vᵢⱼ and v̄ is exactly the harmonic mean of every
/// vehicle's speed at every corridor: the speed of the region's border traffic as a
/// whole (for windows of one length the vehicle weights equal the flow weights of the
/// zone roll-up, `geo/rollup.rs`). A sensor at vᵢ = 0 with vehicles makes the sum of
/// inverse speeds infinite and v̄ = 0, as stopped traffic should.
///
/// ```
/// use stadtpuls_processing::live::TrafficWindowRow;
/// use stadtpuls_processing::model::contract::traffic::out;
/// use stadtpuls_processing::region::{CorridorWindow, corridors};
///
/// let row = |n: u64, v: f64| TrafficWindowRow::new(0, 60_000)
///     .with(out::VEHICLES, n)
///     .with(out::FLOW_VEH_H, n as f64 * 60.0)
///     .with(out::SPEED_SPACE_MEAN_KMH, v);
/// // 20 vehicles at 60 km/h and 10 at 20 km/h: 30 / (20/60 + 10/20) = 36 km/h,
/// // where the plain average would say 40
/// let (a, b) = (row(20, 60.0), row(10, 20.0));
/// let region = corridors([CorridorWindow { row: Some(&a) }, CorridorWindow { row: Some(&b) }]);
/// assert_eq!(region.flow_veh_h, Some(1800.0));
/// assert!((region.speed_space_mean_kmh.unwrap() - 36.0).abs() < 1e-9);
/// ```
pub fn corridors<'a>(sensors: impl IntoIterator<Item = CorridorWindow<'a>>) -> CorridorRollup {
    let sensors: Vec<CorridorWindow<'a>> = sensors.into_iter().collect();
    let window_end = sensors
        .iter()
        .filter_map(|s| s.row.map(|row| row.window_end))
        .max();
    let reporting: Vec<&TrafficWindowRow> = sensors
        .iter()
        .filter_map(|s| s.row)
        .filter(|row| Some(row.window_end) == window_end)
        .collect();
    let counts: Vec<u64> = reporting
        .iter()
        .filter_map(|row| row.get(out::VEHICLES).as_u64())
        .collect();
    let flows: Vec<f64> = reporting
        .iter()
        .filter_map(|row| row.f64(out::FLOW_VEH_H))
        .collect();
    let mut weight = 0.0;
    let mut inverse = 0.0;
    for row in &reporting {
        let n = row.get(out::VEHICLES).as_u64().unwrap_or(0);
        if let Some(v) = row.f64(out::SPEED_SPACE_MEAN_KMH)
            && n > 0
        {
            let n = n as f64;
            weight += n;
            inverse += if v > 0.0 { n / v } else { f64::INFINITY };
        }
    }
    let speed_space_mean_kmh = if inverse.is_infinite() {
        Some(0.0)
    } else {
        (inverse > 0.0).then(|| weight / inverse)
    };
    CorridorRollup {
        sensors: sensors.len(),
        sensors_reporting: reporting.len(),
        vehicles: (!counts.is_empty()).then(|| counts.iter().sum()),
        flow_veh_h: (!flows.is_empty()).then(|| flows.iter().sum()),
        speed_space_mean_kmh,
        window_end,
    }
}
