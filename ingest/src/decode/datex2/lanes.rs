//! One lane out of a DATEX II measurement site's class values: the registry maps each
//! value index to a lane (`id#index=lane`, written by `stadtpuls registry import` from
//! the site table), so a lane can hold several `TrafficFlow` values (one per vehicle
//! class) and as many `TrafficSpeed` values. This file combines them; `measured.rs`
//! groups them.
//!
//! - **Flow**: the classes partition the lane's vehicles, so the lane's flow is the sum
//!   q = Σₖ qₖ (veh/h). The importer leaves a lane's `anyVehicle` index out when the lane
//!   has length classes: it is their sum (NDW: index 4 = 1 + 2 + 3 at every one of the
//!   2,768 sites of the fixture with traffic), and counting both would double the lane.
//! - **Speed**: the flow-weighted arithmetic mean v = Σₖ qₖ·vₖ / Σₖ qₖ over the classes
//!   with a flow above 0 and a speed. DATEX 2.3 class speeds are `averageVehicleSpeed`s
//!   over the period; NDW computes them as `arithmeticAverageOfSamplesInATimePeriod`
//!   (its site table's `computationMethod`), i.e. *time-mean* speeds: vₖ = (1/nₖ) Σ vᵢ
//!   over the nₖ vehicles of class k. The time-mean speed of all the lane's vehicles is
//!   then Σ vᵢ / Σ nₖ = Σₖ nₖ·vₖ / Σₖ nₖ, and nₖ = qₖ·T/3600 over the common period T,
//!   so weights qₖ give it exactly. The harmonic form Σₖ qₖ / Σₖ (qₖ/vₖ) (domain.md
//!   §"speeds") is the right combination of *space-mean* (harmonic) class speeds only;
//!   applied to time-mean ones it is neither mean. NDW's own `anyVehicle` speed agrees:
//!   RWS01_MONICA_00D0100B1032D0050005 publishes 780 veh/h at 110 km/h and 60 veh/h at
//!   93 km/h, and 108.79 km/h for all vehicles = (780·110 + 60·93) / 840 = 108.786
//!   (the harmonic mean would be 108.58).
//! - **No data**: a flow with `numberOfInputValuesUsed="0"` or a negative rate, a speed
//!   with `numberOfInputValuesUsed="0"` or a negative value (NDW's `-1`) is *missing*,
//!   never zero. A lane whose flows are all missing, or some of them (a sum of the rest
//!   would undercount the lane), gives no observation: [`Missing`].

use std::borrow::Cow;

/// Why a lane gives no observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Missing {
    /// The lane has speed values but no `TrafficFlow` value.
    NoFlow,
    /// Every class flow is missing.
    AllFlows,
    /// These indices' flows are missing while others have data.
    SomeFlows(Vec<i64>),
}

/// A lane's combined values.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LaneValues {
    /// Σ of the class flows, veh/h.
    pub(super) flow: f64,
    /// The flow-weighted mean of the class speeds, km/h; `None` without a class that
    /// has both vehicles and a speed.
    pub(super) speed: Option<f64>,
}

/// Combines one lane's class values, each `(index, value)` with `None` = no data.
///
/// Flows and speeds are paired by rank: the k-th flow index (ascending) with the k-th
/// speed index, as NDW lays them out (flows of the classes at 1–3, their speeds at 5–7;
/// the importer checks that paired indices name the same vehicle class). A lane with
/// one speed value and several flows takes that speed as the lane's; any other count
/// mismatch gives no speed (the flow still counts).
pub(super) fn combine(
    flows: &[(i64, Option<f64>)],
    speeds: &[(i64, Option<f64>)],
) -> Result<LaneValues, Missing> {
    if flows.is_empty() {
        return Err(Missing::NoFlow);
    }
    let missing = flows.iter().filter(|(_, rate)| rate.is_none()).count();
    if missing == flows.len() {
        return Err(Missing::AllFlows);
    }
    if missing > 0 {
        let indices = flows
            .iter()
            .filter(|(_, rate)| rate.is_none())
            .map(|(index, _)| *index)
            .collect();
        return Err(Missing::SomeFlows(indices));
    }
    // Every flow has a rate from here on.
    let flows = by_index(flows);
    let speeds = by_index(speeds);
    let rates = || flows.iter().filter_map(|(_, rate)| *rate);
    let flow: f64 = rates().sum();
    let speed = match &*speeds {
        [(_, single)] if flows.len() > 1 => *single,
        _ if speeds.len() == flows.len() => {
            let (weighted, weight) = rates()
                .zip(speeds.iter())
                .filter_map(|(rate, (_, speed))| Some((rate, (*speed)?)))
                .filter(|(rate, _)| *rate > 0.0)
                .fold((0.0, 0.0), |(sum, weights), (rate, speed)| {
                    (sum + rate * speed, weights + rate)
                });
            (weight > 0.0).then(|| weighted / weight)
        }
        _ => None,
    };
    Ok(LaneValues { flow, speed })
}

/// `classes` in ascending index order; a copy only when they are not (the decoder
/// hands them over sorted).
fn by_index(classes: &[(i64, Option<f64>)]) -> Cow<'_, [(i64, Option<f64>)]> {
    if classes.is_sorted_by_key(|(index, _)| *index) {
        return Cow::Borrowed(classes);
    }
    let mut sorted = classes.to_vec();
    sorted.sort_by_key(|(index, _)| *index);
    Cow::Owned(sorted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(flows: &[(i64, Option<f64>)], speeds: &[(i64, Option<f64>)]) -> LaneValues {
        combine(flows, speeds).expect("a lane")
    }

    #[test]
    fn class_flows_sum_and_speeds_weigh_by_flow() {
        // Three length classes: 600 veh/h at 100 km/h, 120 at 80, 60 at 70.
        // q = 780; v = (600·100 + 120·80 + 60·70) / 780 = (60000 + 9600 + 4200) / 780
        //   = 73800 / 780 = 94.615…
        let values = lane(
            &[(1, Some(600.0)), (2, Some(120.0)), (3, Some(60.0))],
            &[(5, Some(100.0)), (6, Some(80.0)), (7, Some(70.0))],
        );
        assert_eq!(values.flow, 780.0);
        let speed = values.speed.expect("a speed");
        assert!((speed - 73_800.0 / 780.0).abs() < 1e-9, "{speed}");
        assert!((speed - 94.615).abs() < 1e-3);
        // Not the plain mean of the class speeds (83.33) nor the harmonic one
        // (780 / (6 + 1.5 + 0.857) = 93.33).
        assert!((speed - 250.0 / 3.0).abs() > 10.0);
        assert!((speed - 780.0 / (6.0 + 1.5 + 60.0 / 70.0)).abs() > 1.0);
    }

    #[test]
    fn ndw_publishes_the_flow_weighted_mean_as_its_any_vehicle_speed() {
        // RWS01_MONICA_00D0100B1032D0050005 in the trafficspeed fixture: classes 780 veh/h
        // at 110, 60 at 93, 0 at -1 (no data); its anyVehicle index says 840 at 108.79.
        let values = lane(
            &[(1, Some(780.0)), (2, Some(60.0)), (3, Some(0.0))],
            &[(5, Some(110.0)), (6, Some(93.0)), (7, None)],
        );
        assert_eq!(values.flow, 840.0);
        let speed = values.speed.expect("a speed");
        assert_eq!((speed * 100.0).round() / 100.0, 108.79);
    }

    #[test]
    fn no_vehicles_no_speed_and_a_class_without_speed_is_left_out() {
        // NDW at night: flows 0, every speed -1 with numberOfInputValuesUsed 0.
        let night = lane(&[(1, Some(0.0)), (2, Some(0.0))], &[(5, None), (6, None)]);
        assert_eq!(
            night,
            LaneValues {
                flow: 0.0,
                speed: None
            }
        );
        // A class with vehicles but no speed: the mean of the others.
        let partial = lane(
            &[(1, Some(120.0)), (2, Some(60.0))],
            &[(5, None), (6, Some(50.0))],
        );
        assert_eq!(
            partial,
            LaneValues {
                flow: 180.0,
                speed: Some(50.0)
            }
        );
        // One speed for the lane (anyVehicle) with class flows: taken as it is.
        let one = lane(&[(1, Some(120.0)), (2, Some(60.0))], &[(8, Some(64.0))]);
        assert_eq!(one.speed, Some(64.0));
        // Two flows, three speeds: which speed belongs to which class is unknown.
        let odd = lane(
            &[(1, Some(120.0)), (2, Some(60.0))],
            &[(5, Some(1.0)), (6, Some(2.0)), (7, Some(3.0))],
        );
        assert_eq!(
            odd,
            LaneValues {
                flow: 180.0,
                speed: None
            }
        );
        // Pairing is by rank of index, not by order in the document.
        let shuffled = lane(
            &[(2, Some(60.0)), (1, Some(120.0))],
            &[(6, Some(30.0)), (5, Some(60.0))],
        );
        assert_eq!(shuffled.speed, Some((120.0 * 60.0 + 60.0 * 30.0) / 180.0));
    }

    #[test]
    fn missing_flows_give_no_observation() {
        assert_eq!(combine(&[], &[(5, Some(80.0))]), Err(Missing::NoFlow));
        assert_eq!(
            combine(&[(1, None), (2, None)], &[]),
            Err(Missing::AllFlows)
        );
        assert_eq!(
            combine(&[(1, Some(60.0)), (2, None), (3, None)], &[]),
            Err(Missing::SomeFlows(vec![2, 3]))
        );
    }
}
