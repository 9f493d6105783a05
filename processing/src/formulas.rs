//! Traffic and parking formulas, each with its definition (see `docs/metrics.md`).
//!
//! Inputs are the sums a window accumulates; every function returns `None` when the
//! quantity is undefined for the window (no vehicles, no speed reported, zero capacity)
//! rather than a misleading zero.

/// Returns the flow `q = N · 3600 / T` in vehicles per hour, for `N` vehicles counted over
/// `T` seconds.
///
/// ```
/// use stadtpuls_processing::formulas::flow_veh_h;
/// assert_eq!(flow_veh_h(25, 60.0), Some(1500.0));
/// assert_eq!(flow_veh_h(25, 0.0), None);
/// ```
pub fn flow_veh_h(vehicles: u64, seconds: f64) -> Option<f64> {
    (seconds > 0.0).then(|| vehicles as f64 * 3600.0 / seconds)
}

/// Returns the observed time of a window in seconds for flow: the sum of the counting
/// intervals received divided by the number of distinct lanes reporting, capped at the
/// window length: `T = min(W, Σ interval_s / lanes)`.
///
/// Dividing by lanes keeps per-lane reports of one cross-section from counting the same
/// minute several times; using received rather than nominal time keeps a window with a
/// missing interval from under-reporting flow (its completeness is reported separately).
///
/// ```
/// use stadtpuls_processing::formulas::observed_seconds;
/// // three lanes, one 60 s interval each, in a 60 s window
/// assert_eq!(observed_seconds(180, 3, 60), 60.0);
/// // one lane, 14 of 15 one-minute intervals in a 15-minute window
/// assert_eq!(observed_seconds(840, 1, 900), 840.0);
/// ```
pub fn observed_seconds(interval_s_sum: u64, lanes: u32, window_s: u32) -> f64 {
    let per_lane = interval_s_sum as f64 / f64::from(lanes.max(1));
    per_lane.min(f64::from(window_s))
}

/// Returns the time-mean speed, the vehicle-weighted arithmetic mean of the interval
/// speeds: `v_t = Σ nᵢ·vᵢ / Σ nᵢ` over intervals with a speed and `nᵢ > 0` vehicles.
///
/// ```
/// use stadtpuls_processing::formulas::time_mean_speed;
/// // 10 vehicles at 60 km/h and 30 at 20 km/h
/// assert_eq!(time_mean_speed(10.0 * 60.0 + 30.0 * 20.0, 40), Some(30.0));
/// ```
pub fn time_mean_speed(weighted_speed_sum: f64, vehicles_with_speed: u64) -> Option<f64> {
    (vehicles_with_speed > 0).then(|| weighted_speed_sum / vehicles_with_speed as f64)
}

/// Returns the space-mean speed, the vehicle-weighted harmonic mean of the interval
/// speeds: `v_s = Σ nᵢ / Σ (nᵢ / vᵢ)`.
///
/// A queue reported at 0 km/h makes `Σ nᵢ/vᵢ` infinite and the result 0, as it should:
/// stopped vehicles occupy the road for ever. `v_s ≤ v_t` always (Wardrop).
///
/// ```
/// use stadtpuls_processing::formulas::space_mean_speed;
/// // 10 vehicles at 60 km/h and 30 at 20 km/h: 40 / (10/60 + 30/20) = 24 km/h
/// let v = space_mean_speed(10.0 / 60.0 + 30.0 / 20.0, 40).unwrap();
/// assert!((v - 24.0).abs() < 1e-9);
/// ```
pub fn space_mean_speed(inverse_speed_sum: f64, vehicles_with_speed: u64) -> Option<f64> {
    if vehicles_with_speed == 0 {
        return None;
    }
    if inverse_speed_sum.is_infinite() {
        return Some(0.0);
    }
    (inverse_speed_sum > 0.0).then(|| vehicles_with_speed as f64 / inverse_speed_sum)
}

/// Returns the spread of the interval speeds, their sample standard deviation
/// `s = √( (Σvᵢ² − (Σvᵢ)²/n) / (n − 1) )` in km/h over the `n` intervals that reported a
/// speed, each interval counting once; `None` below two intervals, where a spread is
/// undefined (a single report is not "no spread").
///
/// Why: a window whose speeds swing between intervals (and lanes) is unstable — stop-and-go
/// waves and the first slow intervals of a collapse show as a growing spread while the
/// window's mean speed still looks fine, so it is an early sign of flow breakdown.
/// Unweighted, because each interval is one look at the stream's speed: weighting by
/// vehicles would let a busy fast minute hide a thin slow one, which is the signal. The
/// sample is the one of `speed_reported_mean_kmh` (Σvᵢ/n), the (n − 1) divisor because
/// the window's intervals are a sample of the stream. Feeds report interval means, not
/// single vehicles, so this is the spread *between* intervals, not the spread of vehicle
/// speeds (σ in Wardrop's `v_t = v_s + σ²/v_s`), which is larger.
///
/// From running sums, so the fold costs one multiply-add per row; rounding cannot make
/// the variance negative (clamped at 0), and its error is ~10⁻¹⁶·Σvᵢ², far below what a
/// detector measures.
///
/// ```
/// use stadtpuls_processing::formulas::speed_stddev_kmh;
/// // Intervals at 50, 40, 60 and 30 km/h: mean 45, squared deviations
/// // 25 + 25 + 225 + 225 = 500 = Σv² − (Σv)²/n = 8600 − 180²/4, s = √(500 / 3) ≈ 12.91
/// let s = speed_stddev_kmh(180.0, 8600.0, 4).unwrap();
/// assert!((s - 12.909_944).abs() < 1e-6);
/// // Equal speeds: no spread. One interval: undefined.
/// assert_eq!(speed_stddev_kmh(100.0, 5000.0, 2), Some(0.0));
/// assert_eq!(speed_stddev_kmh(50.0, 2500.0, 1), None);
/// ```
pub fn speed_stddev_kmh(speed_sum: f64, speed_sq_sum: f64, n: u64) -> Option<f64> {
    if n < 2 {
        return None;
    }
    let n = n as f64;
    let squared_deviations = (speed_sq_sum - speed_sum * speed_sum / n).max(0.0);
    Some((squared_deviations / (n - 1.0)).sqrt())
}

/// Returns the density `k = q / v_s` in vehicles per kilometre (fundamental relation), for
/// flow `q` in veh/h and space-mean speed `v_s` in km/h; `None` when the road is stopped
/// (`v_s = 0`), where the relation says nothing.
///
/// ```
/// use stadtpuls_processing::formulas::density_veh_km;
/// assert_eq!(density_veh_km(Some(1800.0), Some(60.0)), Some(30.0));
/// assert_eq!(density_veh_km(Some(1800.0), Some(0.0)), None);
/// ```
pub fn density_veh_km(flow_veh_h: Option<f64>, space_mean_kmh: Option<f64>) -> Option<f64> {
    match (flow_veh_h, space_mean_kmh) {
        (Some(q), Some(v)) if v > 0.0 => Some(q / v),
        _ => None,
    }
}

/// Returns the heavy-vehicle share `aLkw = 100 · N_heavy / N` in percent, over intervals
/// that reported a classification.
///
/// ```
/// use stadtpuls_processing::formulas::heavy_share_pct;
/// assert_eq!(heavy_share_pct(3, 40), Some(7.5));
/// assert_eq!(heavy_share_pct(0, 0), None);
/// ```
pub fn heavy_share_pct(heavy: u64, vehicles_classified: u64) -> Option<f64> {
    (vehicles_classified > 0).then(|| 100.0 * heavy as f64 / vehicles_classified as f64)
}

/// Returns the arithmetic mean `Σ x / n`, e.g. of interval occupancies in percent.
///
/// ```
/// use stadtpuls_processing::formulas::mean;
/// assert_eq!(mean(30.0, 4), Some(7.5));
/// assert_eq!(mean(0.0, 0), None);
/// ```
pub fn mean(sum: f64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

/// Returns the speed ratio `v_s / v_free`: the space-mean speed over the free-flow speed
/// of the site (1 = free flow, 0.5 = half the free-flow speed); above 1 when traffic is
/// faster than the registry expects. `None` without a speed or without a positive
/// free-flow speed.
///
/// ```
/// use stadtpuls_processing::formulas::speed_ratio;
/// assert_eq!(speed_ratio(Some(40.0), 50.0), Some(0.8));
/// assert_eq!(speed_ratio(None, 50.0), None);
/// ```
pub fn speed_ratio(space_mean_kmh: Option<f64>, free_flow_kmh: f64) -> Option<f64> {
    space_mean_kmh
        .filter(|_| free_flow_kmh > 0.0)
        .map(|v| v / free_flow_kmh)
}

/// Returns the level of service `"A"`…`"F"` by travel speed as a share of the free-flow
/// speed (HCM 2010, urban street facilities, Exhibit 16-4):
///
/// ```text
/// r = 100 · speed_kmh / free_flow_kmh
/// A: r > 85   B: 67 < r ≤ 85   C: 50 < r ≤ 67   D: 40 < r ≤ 50   E: 30 < r ≤ 40   F: r ≤ 30
/// ```
///
/// A speed-based scale because it needs only what a window and the registry hold: the
/// German HBS (FGSV 2015) grades by the saturation x = q/C, and the registry has no
/// capacities. A boundary belongs to the lower grade; a speed
/// above free flow is still `A`. `None` when either argument is not finite, the speed is
/// negative or the free-flow speed is not positive (SQL's `los` gives null then).
///
/// Worked case: 40 km/h on a 60 km/h road is r = 100 · 40 / 60 = 66.7, and 50 < 66.7 ≤ 67,
/// so `C`; 51 km/h on it is r = 85 exactly, so `B`, not `A`.
///
/// ```
/// use stadtpuls_processing::formulas::level_of_service;
/// assert_eq!(level_of_service(40.0, 60.0), Some("C"));
/// assert_eq!(level_of_service(51.0, 60.0), Some("B"));
/// assert_eq!(level_of_service(40.0, 0.0), None);
/// ```
pub fn level_of_service(speed_kmh: f64, free_flow_kmh: f64) -> Option<&'static str> {
    if !speed_kmh.is_finite()
        || !free_flow_kmh.is_finite()
        || speed_kmh < 0.0
        || free_flow_kmh <= 0.0
    {
        return None;
    }
    let ratio_pct = 100.0 * speed_kmh / free_flow_kmh;
    Some(match ratio_pct {
        r if r > 85.0 => "A",
        r if r > 67.0 => "B",
        r if r > 50.0 => "C",
        r if r > 40.0 => "D",
        r if r > 30.0 => "E",
        _ => "F",
    })
}

/// Returns the completeness of a window in percent: the share of the expected counting
/// time that was received,
/// `100 · min(1, (Σ T_lane + L · Σ T_section) / (W · L))`,
/// for `L` registered lanes, a window of `W` seconds, `Σ T_lane` the interval seconds of
/// per-lane reports and `Σ T_section` those of cross-section reports (lane 0), which
/// cover every lane at once.
///
/// Capped at 100: a duplicate delivery (Kafka is at-least-once) or a lane the registry
/// does not know adds seconds that were not expected, so a full window is 100 % but
/// such extra reports can hide a gap elsewhere in the same window. `lanes` and
/// `window_s` of 0 count as 1 (neither occurs after validation).
///
/// ```
/// use stadtpuls_processing::formulas::completeness_pct;
/// // two lanes, one 60 s window: lane 1 sent two 30 s intervals, lane 2 one
/// assert_eq!(completeness_pct(90, 0, 2, 60), 75.0);
/// // a cross-section report of 60 s covers both lanes
/// assert_eq!(completeness_pct(0, 60, 2, 60), 100.0);
/// ```
pub fn completeness_pct(
    lane_seconds: u64,
    cross_section_seconds: u64,
    lanes: u8,
    window_s: u32,
) -> f64 {
    let lanes = u64::from(lanes.max(1));
    let received = lane_seconds + lanes * cross_section_seconds;
    let expected = u64::from(window_s.max(1)) * lanes;
    100.0 * (received as f64 / expected as f64).min(1.0)
}

/// Returns parking occupancy `100 · (total − free) / total` in percent; free spaces above
/// the total are clamped so the result stays within 0–100.
///
/// ```
/// use stadtpuls_processing::formulas::parking_occupancy_pct;
/// assert_eq!(parking_occupancy_pct(100, 400), Some(75.0));
/// assert_eq!(parking_occupancy_pct(5, 0), None);
/// ```
pub fn parking_occupancy_pct(free: u32, total: u32) -> Option<f64> {
    (total > 0).then(|| 100.0 * f64::from(total - free.min(total)) / f64::from(total))
}

/// Returns the occupied spaces `total − min(free, total)`: a counter reporting more free
/// spaces than the capacity means an empty car park, not a negative number of cars.
///
/// ```
/// use stadtpuls_processing::formulas::parking_occupied;
/// assert_eq!(parking_occupied(40, 100), 60);
/// assert_eq!(parking_occupied(120, 100), 0);
/// ```
pub fn parking_occupied(free: u32, total: u32) -> u32 {
    total - free.min(total)
}

/// Returns the least-squares slope of occupancy over time in percentage points per hour:
/// `b = Σ (tᵢ − t̄)(yᵢ − ȳ) / Σ (tᵢ − t̄)²` for samples `(tᵢ` in epoch ms, `yᵢ` in %);
/// `None` for fewer than two distinct times.
///
/// Times are taken relative to the first sample before squaring, so epoch
/// milliseconds (~1.8·10¹²) do not eat the precision of the sums.
///
/// ```
/// use stadtpuls_processing::formulas::occupancy_slope_pct_per_h;
/// // +3 points in 30 minutes
/// let slope = occupancy_slope_pct_per_h(&[(0, 50.0), (1_800_000, 53.0)]);
/// assert_eq!(slope, Some(6.0));
/// assert_eq!(occupancy_slope_pct_per_h(&[(0, 50.0), (0, 60.0)]), None);
/// ```
pub fn occupancy_slope_pct_per_h(samples: &[(i64, f64)]) -> Option<f64> {
    let (first, _) = *samples.first()?;
    let n = samples.len() as f64;
    let hours = |t: i64| (t - first) as f64 / 3_600_000.0;
    let t_mean = samples.iter().map(|&(t, _)| hours(t)).sum::<f64>() / n;
    let y_mean = samples.iter().map(|&(_, y)| y).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for &(t, y) in samples {
        let dt = hours(t) - t_mean;
        sxy += dt * (y - y_mean);
        sxx += dt * dt;
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Returns the time-weighted mean `Σ oᵢ·Δtᵢ / Σ Δtᵢ` of a level that holds each value
/// `oᵢ` for `Δtᵢ` ms, from the sums `area = Σ oᵢ·Δtᵢ` and `covered_ms = Σ Δtᵢ`.
///
/// ```
/// use stadtpuls_processing::formulas::time_weighted_mean;
/// // 50 % for 15 s, 60 % for 30 s, 80 % for 15 s
/// let area = 50.0 * 15_000.0 + 60.0 * 30_000.0 + 80.0 * 15_000.0;
/// assert_eq!(time_weighted_mean(area, 60_000), Some(62.5));
/// assert_eq!(time_weighted_mean(0.0, 0), None);
/// ```
pub fn time_weighted_mean(area: f64, covered_ms: i64) -> Option<f64> {
    (covered_ms > 0).then(|| area / covered_ms as f64)
}

/// Returns the mean dwell time in seconds, `Σ dᵢ / n` over `n` parking sessions of
/// `dᵢ` ms each (parking-study "average duration").
///
/// ```
/// use stadtpuls_processing::formulas::mean_dwell_s;
/// assert_eq!(mean_dwell_s(3_600_000 + 1_800_000, 2), Some(2700.0));
/// assert_eq!(mean_dwell_s(0, 0), None);
/// ```
pub fn mean_dwell_s(dwell_sum_ms: i64, sessions: u32) -> Option<f64> {
    (sessions > 0).then(|| dwell_sum_ms as f64 / 1000.0 / f64::from(sessions))
}

/// Returns the turnover `sessions ended / usable spaces`: how many vehicles each space
/// served in the period (parking-study "turnover = volume / spaces").
///
/// ```
/// use stadtpuls_processing::formulas::turnover;
/// assert_eq!(turnover(6, 4), Some(1.5));
/// assert_eq!(turnover(3, 0), None);
/// ```
pub fn turnover(sessions_ended: u32, spaces: u32) -> Option<f64> {
    (spaces > 0).then(|| f64::from(sessions_ended) / f64::from(spaces))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-worked 15-minute window on one lane: five 3-minute intervals with
    /// (vehicles, time-mean speed): (30, 60), (45, 50), (60, 30), (30, 20), (15, 60).
    ///
    /// N = 180 vehicles in 900 s → q = 180·3600/900 = 720 veh/h.
    /// v_t = (1800 + 2250 + 1800 + 600 + 900) / 180 = 7350/180 = 40.8333 km/h.
    /// Σ n/v = 0.5 + 0.9 + 2.0 + 1.5 + 0.25 = 5.15 → v_s = 180/5.15 = 34.9515 km/h.
    /// k = 720 / 34.9515 = 20.6 veh/km.
    #[test]
    fn hand_worked_window() {
        let intervals = [
            (30u64, 60.0f64),
            (45, 50.0),
            (60, 30.0),
            (30, 20.0),
            (15, 60.0),
        ];
        let n: u64 = intervals.iter().map(|i| i.0).sum();
        let weighted: f64 = intervals.iter().map(|&(c, v)| c as f64 * v).sum();
        let inverse: f64 = intervals.iter().map(|&(c, v)| c as f64 / v).sum();
        let t = observed_seconds(5 * 180, 1, 900);
        let q = flow_veh_h(n, t);
        assert_eq!(q, Some(720.0));
        let vt = time_mean_speed(weighted, n).unwrap_or_default();
        assert!((vt - 40.833_333).abs() < 1e-5, "{vt}");
        let vs = space_mean_speed(inverse, n);
        assert!((vs.unwrap_or_default() - 34.951_456).abs() < 1e-5, "{vs:?}");
        assert!(vs.unwrap_or_default() <= vt);
        let k = density_veh_km(q, vs).unwrap_or_default();
        assert!((k - 20.6).abs() < 1e-9, "{k}");
    }

    /// The same five intervals' speeds 60, 50, 30, 20, 60 km/h, each counting once:
    /// mean 220/5 = 44; deviations 16, 6, −14, −24, 16; squares 256 + 36 + 196 + 576 + 256
    /// = 1320 → s = √(1320/4) = √330 = 18.1659 km/h — the running sums give the two-pass
    /// value. Speeds near 100 km/h differing by 0.1: the sums lose no visible precision.
    #[test]
    fn hand_worked_speed_spread() {
        let speeds = [60.0f64, 50.0, 30.0, 20.0, 60.0];
        let sum: f64 = speeds.iter().sum();
        let sq: f64 = speeds.iter().map(|v| v * v).sum();
        let s = speed_stddev_kmh(sum, sq, 5).unwrap_or_default();
        assert!((s - 330f64.sqrt()).abs() < 1e-12, "{s}");
        assert!((s - 18.165_902).abs() < 1e-6, "{s}");
        let close: Vec<f64> = (0..1000).map(|i| 99.95 + f64::from(i % 2) * 0.1).collect();
        let sum: f64 = close.iter().sum();
        let sq: f64 = close.iter().map(|v| v * v).sum();
        let s = speed_stddev_kmh(sum, sq, 1000).unwrap_or_default();
        // two values ±0.05 around 100, 500 each: s = 0.05·√(1000/999)
        assert!((s - 0.05 * (1000f64 / 999.0).sqrt()).abs() < 1e-6, "{s}");
        assert_eq!(speed_stddev_kmh(0.0, 0.0, 0), None);
    }

    /// A 15-minute window (900 s) of a two-lane sensor sending one-minute intervals per
    /// lane: lane 1 sent all 15, lane 2 lost two (13 received).
    ///
    /// received = 15·60 + 13·60 = 1680 lane-seconds of 2·900 = 1800 expected
    /// → 100 · 1680/1800 = 93.33 %.
    /// A three-lane cross-section reporting lane 0 for 14 of 15 minutes:
    /// 3·840 = 2520 of 3·900 = 2700 → 93.33 % as well.
    /// Every interval of a one-lane sensor delivered twice: 1800 of 900 → capped at 100 %.
    #[test]
    fn hand_worked_completeness() {
        let c = completeness_pct(15 * 60 + 13 * 60, 0, 2, 900);
        assert!((c - 93.333_333).abs() < 1e-5, "{c}");
        let c = completeness_pct(0, 14 * 60, 3, 900);
        assert!((c - 93.333_333).abs() < 1e-5, "{c}");
        assert_eq!(completeness_pct(1800, 0, 1, 900), 100.0);
        assert_eq!(completeness_pct(0, 0, 2, 60), 0.0);
        // a per-lane and a cross-section report mixed: 30 + 2·15 = 60 of 120
        assert_eq!(completeness_pct(30, 15, 2, 60), 50.0);
    }

    /// 40 km/h on a 50 km/h street is 0.8 of free flow; 60 on it is 1.2.
    #[test]
    fn hand_worked_speed_ratio() {
        assert_eq!(speed_ratio(Some(40.0), 50.0), Some(0.8));
        assert_eq!(speed_ratio(Some(60.0), 50.0), Some(1.2));
        assert_eq!(speed_ratio(Some(0.0), 50.0), Some(0.0));
        assert_eq!(speed_ratio(Some(40.0), 0.0), None);
    }

    /// The grade boundaries by hand on a 100 km/h road, where r is the speed itself.
    #[test]
    fn los_thresholds_by_hand() {
        // 40 / 60 = 66.7 % → C (50 < r ≤ 67)
        assert_eq!(level_of_service(40.0, 60.0), Some("C"));
        // boundaries belong to the lower grade: exactly 85 % is B, exactly 30 % is F
        assert_eq!(level_of_service(85.0, 100.0), Some("B"));
        assert_eq!(level_of_service(85.1, 100.0), Some("A"));
        assert_eq!(level_of_service(50.0, 100.0), Some("D"));
        assert_eq!(level_of_service(45.0, 100.0), Some("D"));
        assert_eq!(level_of_service(35.0, 100.0), Some("E"));
        assert_eq!(level_of_service(30.0, 100.0), Some("F"));
        assert_eq!(level_of_service(0.0, 50.0), Some("F"));
        // faster than free flow is still A
        assert_eq!(level_of_service(70.0, 50.0), Some("A"));
        assert_eq!(level_of_service(40.0, 0.0), None);
        assert_eq!(level_of_service(-1.0, 50.0), None);
        assert_eq!(level_of_service(f64::NAN, 50.0), None);
        assert_eq!(level_of_service(40.0, f64::INFINITY), None);
    }

    #[test]
    fn stopped_traffic_has_zero_space_mean_speed() {
        let inverse = 10.0 / 0.0 + 5.0 / 20.0;
        assert_eq!(space_mean_speed(inverse, 15), Some(0.0));
        assert_eq!(density_veh_km(Some(900.0), Some(0.0)), None);
    }

    /// Occupancy reported every 5 minutes over the default 15-minute trend window:
    /// (0 min, 60 %), (5, 62), (10, 65), (15, 66).
    ///
    /// t̄ = 7.5 min, ȳ = 63.25 %; deviations t: −7.5, −2.5, 2.5, 7.5 and
    /// y: −3.25, −1.25, 1.75, 2.75.
    /// Σ dt·dy = 24.375 + 3.125 + 4.375 + 20.625 = 52.5; Σ dt² = 125.
    /// b = 52.5 / 125 = 0.42 %/min = 25.2 %/h.
    #[test]
    fn hand_worked_occupancy_slope() {
        let min = 60_000;
        let t0 = 1_795_478_400_000;
        let samples = [
            (t0, 60.0),
            (t0 + 5 * min, 62.0),
            (t0 + 10 * min, 65.0),
            (t0 + 15 * min, 66.0),
        ];
        let slope = occupancy_slope_pct_per_h(&samples).unwrap_or_default();
        assert!((slope - 25.2).abs() < 1e-9, "{slope}");
        let falling: Vec<_> = samples.iter().map(|&(t, y)| (t, 100.0 - y)).collect();
        let slope = occupancy_slope_pct_per_h(&falling).unwrap_or_default();
        assert!((slope + 25.2).abs() < 1e-9, "{slope}");
        assert_eq!(occupancy_slope_pct_per_h(&samples[..1]), None);
    }

    #[test]
    fn overcrowded_facility_is_full_not_over_full() {
        assert_eq!(parking_occupancy_pct(0, 200), Some(100.0));
        assert_eq!(parking_occupancy_pct(250, 200), Some(0.0));
    }
}
