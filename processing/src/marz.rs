//! Traffic state Z1–Z4 after the German MARZ 2004 (Merkblatt für die Ausstattung von
//! Verkehrsrechnerzentralen, 2.3.2.1.4 "Verkehrssituationsübersicht"), as control centres
//! on federal roads compute it from space-mean speed and density.
//!
//! The thresholds come from the sensor's site class (`[traffic.site_classes.<name>]`);
//! the state of the previous window of the same sensor and window size feeds the
//! hysteresis that keeps a dissolving jam from flickering between Z4 and Z2/Z3.

use std::fmt;

use stadtpuls_config::SiteClass;

/// MARZ traffic state of one sensor in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TrafficState {
    /// Z1 *frei*: free flow.
    Free,
    /// Z2 *dicht*: dense, still at speed.
    Dense,
    /// Z3 *zähfließend*: slow-moving.
    Slow,
    /// Z4 *Stau*: jam.
    Jam,
}

impl TrafficState {
    /// Every state, Z1 first.
    pub const ALL: [TrafficState; 4] = [Self::Free, Self::Dense, Self::Slow, Self::Jam];

    /// Returns the MARZ code `Z1`…`Z4`, as served by the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::Free => "Z1",
            Self::Dense => "Z2",
            Self::Slow => "Z3",
            Self::Jam => "Z4",
        }
    }

    /// Parses a code written by [`Self::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.code() == code)
    }

    /// Returns whether the state counts as congestion (FIWARE `TrafficFlowObserved`
    /// `congested`): Z3 and Z4, the states in which drivers lose time against free flow.
    /// Z2 is dense but still at speed (v ≥ v2), so it is not congestion.
    pub fn is_congested(self) -> bool {
        matches!(self, Self::Slow | Self::Jam)
    }
}

impl fmt::Display for TrafficState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The four MARZ parameters of one sensor: `0 < v1 < v2` km/h, `0 < k1 < k2` veh/km.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarzThresholds {
    /// Lower speed threshold, km/h.
    pub v1_kmh: f64,
    /// Upper speed threshold, km/h.
    pub v2_kmh: f64,
    /// Lower density threshold, veh/km.
    pub k1_veh_km: f64,
    /// Upper density threshold, veh/km.
    pub k2_veh_km: f64,
}

impl MarzThresholds {
    /// Returns the thresholds of a cross-section of `lanes` lanes in `class`.
    pub fn of(class: &SiteClass, lanes: u8) -> Self {
        let (k1_veh_km, k2_veh_km) = class.density_thresholds(lanes);
        Self {
            v1_kmh: class.v1_kmh,
            v2_kmh: class.v2_kmh,
            k1_veh_km,
            k2_veh_km,
        }
    }
}

/// Returns the MARZ state for space-mean speed `v` (km/h) and density `k` (veh/km), given
/// the state of the previous window (`None`: no previous window, or it had no state).
///
/// MARZ defines four regions: Z1 v ≥ v2 ∧ k ≤ k1, Z2 v ≥ v2 ∧ k1 < k ≤ k2,
/// Z3 v1 ≤ v < v2 ∧ k ≤ k2 and Z4 v < v1 ∧ k > k2. Where exactly one of the jam
/// conditions `v < v1` and `k > k2` holds, the previous state decides: after Z3 or Z4
/// the window is Z4 (hysteresis: a jam ends only when both conditions are gone); after
/// anything else the speed band decides, Z2 at v ≥ v2 and Z3 below. That makes the table
/// complete:
///
/// | speed \ density | k ≤ k1 | k1 < k ≤ k2 | k > k2 |
/// |---|---|---|---|
/// | v ≥ v2 | Z1 | Z2 | Z4 after Z3/Z4, else Z2 |
/// | v1 ≤ v < v2 | Z3 | Z3 | Z4 after Z3/Z4, else Z3 |
/// | v < v1 | Z4 after Z3/Z4, else Z3 | Z4 after Z3/Z4, else Z3 | Z4 |
///
/// The corner v1 ≤ v < v2 ∧ k > k2 without a jam before is Z3, not Z2: the measured speed
/// is below v2, and Z2 would report traffic at speed that nobody measured. This is also
/// how the bsvrz implementation of MARZ (`MarzStoerfallIndikator`) resolves it. Values on
/// a threshold belong to the region that includes it (v = v2 is "v ≥ v2", k = k2 is
/// "k ≤ k2"). A NaN input compares false everywhere and lands in Z3 or Z4; callers pass
/// only finite values.
///
/// ```
/// use stadtpuls_processing::marz::{MarzThresholds, TrafficState, marz_state};
/// let t = MarzThresholds { v1_kmh: 30.0, v2_kmh: 80.0, k1_veh_km: 30.0, k2_veh_km: 60.0 };
/// assert_eq!(marz_state(95.0, 20.0, &t, None), TrafficState::Free);
/// // 25 km/h at 40 veh/km: a jam only if one was already there
/// assert_eq!(marz_state(25.0, 40.0, &t, None), TrafficState::Slow);
/// assert_eq!(marz_state(25.0, 40.0, &t, Some(TrafficState::Slow)), TrafficState::Jam);
/// ```
pub fn marz_state(
    v: f64,
    k: f64,
    t: &MarzThresholds,
    previous: Option<TrafficState>,
) -> TrafficState {
    let slow = v < t.v1_kmh;
    let packed = k > t.k2_veh_km;
    if slow && packed {
        return TrafficState::Jam;
    }
    if slow || packed {
        let was_jammed_or_slow = matches!(previous, Some(TrafficState::Slow | TrafficState::Jam));
        return if was_jammed_or_slow {
            TrafficState::Jam
        } else if v >= t.v2_kmh {
            TrafficState::Dense
        } else {
            TrafficState::Slow
        };
    }
    if v < t.v2_kmh {
        TrafficState::Slow
    } else if k <= t.k1_veh_km {
        TrafficState::Free
    } else {
        TrafficState::Dense
    }
}

/// Returns the state of a closed window with `vehicles` counted, space-mean speed `v_s` and
/// density `k` (the window's columns), or `None` when the window says nothing about it.
///
/// - No vehicles while the sensor reported: Z1, an empty road. (A queue standing still
///   over the detector also counts no vehicles; its occupancy would tell, but MARZ
///   classifies from v and k only.)
/// - Vehicles but no speed (a counting-only detector, or speed not reported): `None`.
/// - `v_s = 0` (vehicles reported at 0 km/h): Z4. Density is undefined there (k = q/0),
///   but a stopped queue is as dense as traffic gets, so k > k2 and v < v1 both hold.
/// - Otherwise [`marz_state`] of `v_s` and `k`; `None` if the density is missing.
///
/// ```
/// use stadtpuls_processing::marz::{MarzThresholds, TrafficState, window_state};
/// let t = MarzThresholds { v1_kmh: 15.0, v2_kmh: 35.0, k1_veh_km: 30.0, k2_veh_km: 60.0 };
/// assert_eq!(window_state(0, None, None, &t, None), Some(TrafficState::Free));
/// assert_eq!(window_state(12, None, None, &t, None), None);
/// assert_eq!(window_state(12, Some(0.0), None, &t, None), Some(TrafficState::Jam));
/// assert_eq!(window_state(60, Some(40.0), Some(90.0), &t, None), Some(TrafficState::Dense));
/// ```
pub fn window_state(
    vehicles: u64,
    space_mean_kmh: Option<f64>,
    density_veh_km: Option<f64>,
    t: &MarzThresholds,
    previous: Option<TrafficState>,
) -> Option<TrafficState> {
    if vehicles == 0 {
        return Some(TrafficState::Free);
    }
    match (space_mean_kmh, density_veh_km) {
        (Some(v), _) if v <= 0.0 => Some(TrafficState::Jam),
        (Some(v), Some(k)) => Some(marz_state(v, k, t, previous)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::TrafficState::{Dense, Free, Jam, Slow};
    use super::*;

    /// Motorway, two lanes (MARZ defaults): v1 30, v2 80 km/h; k1 30, k2 60 veh/km.
    const T: MarzThresholds = MarzThresholds {
        v1_kmh: 30.0,
        v2_kmh: 80.0,
        k1_veh_km: 30.0,
        k2_veh_km: 60.0,
    };

    const PREVIOUS: [Option<TrafficState>; 5] =
        [None, Some(Free), Some(Dense), Some(Slow), Some(Jam)];

    /// The four MARZ regions do not depend on the previous state.
    #[test]
    fn unambiguous_regions_ignore_the_previous_state() {
        for previous in PREVIOUS {
            assert_eq!(marz_state(100.0, 20.0, &T, previous), Free, "{previous:?}");
            assert_eq!(marz_state(100.0, 45.0, &T, previous), Dense, "{previous:?}");
            assert_eq!(marz_state(50.0, 20.0, &T, previous), Slow, "{previous:?}");
            assert_eq!(marz_state(50.0, 45.0, &T, previous), Slow, "{previous:?}");
            assert_eq!(marz_state(10.0, 90.0, &T, previous), Jam, "{previous:?}");
        }
    }

    /// One jam condition alone: Z4 after Z3/Z4, else the speed band (Z2 at v ≥ v2, Z3 below).
    #[test]
    fn single_jam_condition_depends_on_the_previous_state() {
        // (v, k, state without a jam before)
        let cases = [
            (10.0, 20.0, Slow),   // v < v1, k ≤ k1
            (10.0, 45.0, Slow),   // v < v1, k1 < k ≤ k2
            (50.0, 90.0, Slow),   // v1 ≤ v < v2, k > k2
            (100.0, 90.0, Dense), // v ≥ v2, k > k2
        ];
        for (v, k, fresh) in cases {
            for previous in [None, Some(Free), Some(Dense)] {
                assert_eq!(
                    marz_state(v, k, &T, previous),
                    fresh,
                    "{v} {k} {previous:?}"
                );
            }
            for previous in [Some(Slow), Some(Jam)] {
                assert_eq!(marz_state(v, k, &T, previous), Jam, "{v} {k} {previous:?}");
            }
        }
    }

    /// Thresholds belong to the region written with ≥ / ≤.
    #[test]
    fn values_on_a_threshold() {
        assert_eq!(marz_state(80.0, 30.0, &T, None), Free); // v = v2, k = k1
        assert_eq!(marz_state(80.0, 60.0, &T, None), Dense); // k = k2 is not "k > k2"
        assert_eq!(marz_state(30.0, 60.0, &T, Some(Jam)), Slow); // v = v1, k = k2: jam over
        assert_eq!(marz_state(29.9, 60.1, &T, None), Jam);
    }

    /// A jam building up and dissolving, window by window (previous state fed back):
    /// Z1 → Z2 → Z3 → Z4 (v < v1 alone, after Z3) → Z4 (k > k2 alone) → Z3 once both
    /// conditions are gone → Z2 with high density but no jam before.
    #[test]
    fn hysteresis_sequence() {
        let windows = [
            (100.0, 20.0, Free),
            (90.0, 50.0, Dense),
            (60.0, 55.0, Slow),
            (25.0, 50.0, Jam),  // v < v1 alone, previous Z3
            (50.0, 70.0, Jam),  // k > k2 alone, previous Z4
            (35.0, 58.0, Slow), // neither: the jam is over
            (85.0, 65.0, Jam),  // k > k2 alone right after Z3 (hysteresis)
            (85.0, 50.0, Dense),
            (85.0, 65.0, Dense), // k > k2 alone after Z2: no jam
        ];
        let mut previous = None;
        for (index, (v, k, expected)) in windows.into_iter().enumerate() {
            let state = marz_state(v, k, &T, previous);
            assert_eq!(
                state, expected,
                "window {index}: v {v}, k {k}, after {previous:?}"
            );
            previous = Some(state);
        }
    }

    #[test]
    fn window_without_speed_or_vehicles() {
        for previous in PREVIOUS {
            assert_eq!(window_state(0, None, None, &T, previous), Some(Free));
            assert_eq!(
                window_state(0, Some(50.0), Some(0.0), &T, previous),
                Some(Free)
            );
            assert_eq!(window_state(7, None, Some(10.0), &T, previous), None);
            assert_eq!(window_state(7, Some(50.0), None, &T, previous), None);
            assert_eq!(window_state(7, Some(0.0), None, &T, previous), Some(Jam));
        }
        assert_eq!(
            window_state(7, Some(25.0), Some(40.0), &T, None),
            Some(Slow)
        );
        assert_eq!(
            window_state(7, Some(25.0), Some(40.0), &T, Some(Slow)),
            Some(Jam)
        );
    }

    #[test]
    fn codes_round_trip_and_congestion() {
        let codes = TrafficState::ALL.map(TrafficState::code);
        assert_eq!(codes, ["Z1", "Z2", "Z3", "Z4"]);
        for state in TrafficState::ALL {
            assert_eq!(TrafficState::from_code(state.code()), Some(state));
        }
        assert_eq!(TrafficState::from_code("Z5"), None);
        let congested = TrafficState::ALL.map(TrafficState::is_congested);
        assert_eq!(congested, [false, false, true, true]);
    }

    #[test]
    fn thresholds_follow_the_lane_count() {
        let motorway = &SiteClass::built_in()[1];
        assert_eq!(motorway.name, "motorway");
        assert_eq!(MarzThresholds::of(motorway, 2), T);
        let three = MarzThresholds::of(motorway, 3);
        assert_eq!((three.k1_veh_km, three.k2_veh_km), (40.0, 70.0));
    }
}
