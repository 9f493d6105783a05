//! The parking side of the live view: the rows it keeps per facility and the roll-ups
//! over them. A leaf: `live.rs` stores these rows in the shared state.

use arrow_array::{
    Array, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array,
    UInt64Array,
};

use crate::Result;
use crate::error::column;
use crate::time::{EventTime, ProcessingTime};
use crate::window::parking::{FacilityLive, out};

/// The latest closed window of one facility, as served by the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkingWindowRow {
    /// Window start, epoch ms UTC.
    pub window_start: EventTime,
    /// Window end, epoch ms UTC.
    pub window_end: EventTime,
    /// Observations folded in.
    pub updates: u32,
    /// Time-weighted mean occupancy, percent.
    pub occupancy_mean_pct: Option<f64>,
    /// Fewest free spaces observed.
    pub free_min: u32,
    /// Vehicles in, when the facility counts them.
    pub entries: Option<u64>,
    /// Vehicles out, when the facility counts them.
    pub exits: Option<u64>,
    /// Spot sessions that ended (spot zones only).
    pub sessions_ended: Option<u32>,
    /// Mean duration of the ended sessions with a seen start, s.
    pub mean_dwell_s: Option<f64>,
    /// Sessions ended per usable space.
    pub turnover: Option<f64>,
}

/// A facility's current level and its latest closed window of one size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FacilityView {
    /// Current level, if it has reported.
    pub level: Option<FacilityLive>,
    /// Latest closed window, if one closed within the process's lifetime.
    pub last_window: Option<ParkingWindowRow>,
}

/// Sums over the facilities of an area (a city, a zone) that are not stale.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ParkingTotals {
    /// Σ min(free, total).
    pub free: u64,
    /// Σ total.
    pub total: u64,
    /// Σ occupied = total − free.
    pub occupied: u64,
    /// 100 · occupied / total; `None` when the total is 0.
    pub occupancy_pct: Option<f64>,
    /// Facilities with a level newer than the staleness age.
    pub facilities_reporting: u32,
    /// Facilities without one (never reported, or silent too long).
    pub facilities_stale: u32,
}

/// Rolls the levels of an area's facilities up into [`ParkingTotals`]; pass `None` for a
/// registered facility that never reported.
///
/// Stale facilities count in `facilities_stale` only: adding their last count would
/// promise spaces nobody has confirmed for three feed intervals. A reporting facility
/// with unknown capacity counts in `facilities_reporting` but not in the sums, which
/// must keep `free + occupied = total`. Free is clamped to the total (overcrowding). A
/// closed facility counts as reporting but not in the sums either: it offers no space,
/// and its capacity counted as occupied would make the area look full each night its car
/// parks shut.
///
/// ```
/// use stadtpuls_processing::live::roll_up;
/// use stadtpuls_processing::model::parking::OpeningStatus;
/// use stadtpuls_processing::window::parking::FacilityLive;
/// let now = 1_795_478_400_000;
/// let a = FacilityLive::new(40, Some(100), now - 60_000);
/// let b = FacilityLive::new(10, Some(50), now - 3_600_000); // stale
/// let c = FacilityLive::new(0, Some(300), now).with_opening(Some(OpeningStatus::Closed));
/// let totals = roll_up([Some(&a), Some(&b), None, Some(&c)], now, 900_000);
/// assert_eq!((totals.free, totals.total, totals.occupied), (40, 100, 60));
/// assert_eq!((totals.facilities_reporting, totals.facilities_stale), (2, 2));
/// assert_eq!(totals.occupancy_pct, Some(60.0));
/// ```
pub fn roll_up<'a>(
    levels: impl IntoIterator<Item = Option<&'a FacilityLive>>,
    now: ProcessingTime,
    stale_after_ms: i64,
) -> ParkingTotals {
    let mut totals = ParkingTotals::default();
    for level in levels {
        let Some(level) = level.filter(|l| !l.is_stale(now, stale_after_ms)) else {
            totals.facilities_stale += 1;
            continue;
        };
        totals.facilities_reporting += 1;
        if let Some(total) = level.total.filter(|_| !level.is_closed()) {
            totals.free += u64::from(level.free.min(total));
            totals.total += u64::from(total);
        }
    }
    totals.occupied = totals.total - totals.free;
    totals.occupancy_pct =
        (totals.total > 0).then(|| 100.0 * totals.occupied as f64 / totals.total as f64);
    totals
}

/// The rows of a closed parking window batch, by city and facility id.
pub(super) fn parking_rows(batch: &RecordBatch) -> Result<Vec<(String, String, ParkingWindowRow)>> {
    let city: &StringArray = column(batch, out::CITY)?;
    let facility: &StringArray = column(batch, out::FACILITY_ID)?;
    let start: &TimestampMillisecondArray = column(batch, out::WINDOW_START)?;
    let end: &TimestampMillisecondArray = column(batch, out::WINDOW_END)?;
    let updates: &UInt32Array = column(batch, out::UPDATES)?;
    let occupancy_mean: &Float64Array = column(batch, out::OCCUPANCY_MEAN_PCT)?;
    let free_min: &UInt32Array = column(batch, out::FREE_MIN)?;
    let entries: &UInt64Array = column(batch, out::ENTRIES)?;
    let exits: &UInt64Array = column(batch, out::EXITS)?;
    let sessions: &UInt32Array = column(batch, out::SESSIONS_ENDED)?;
    let dwell: &Float64Array = column(batch, out::MEAN_DWELL_S)?;
    let turnover: &Float64Array = column(batch, out::TURNOVER)?;
    fn opt<A: Array, T>(a: &A, i: usize, value: impl Fn(&A, usize) -> T) -> Option<T> {
        a.is_valid(i).then(|| value(a, i))
    }
    Ok((0..batch.num_rows())
        .map(|i| {
            let row = ParkingWindowRow {
                window_start: start.value(i),
                window_end: end.value(i),
                updates: updates.value(i),
                occupancy_mean_pct: opt(occupancy_mean, i, Float64Array::value),
                free_min: free_min.value(i),
                entries: opt(entries, i, UInt64Array::value),
                exits: opt(exits, i, UInt64Array::value),
                sessions_ended: opt(sessions, i, UInt32Array::value),
                mean_dwell_s: opt(dwell, i, Float64Array::value),
                turnover: opt(turnover, i, Float64Array::value),
            };
            (city.value(i).to_owned(), facility.value(i).to_owned(), row)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_478_400_000;

    /// Three car parks of 100, 200 and 50 spaces with 40, 250 (overcrowding reported as
    /// more free than total → clamped to 200) and 5 free; a fourth fresh one without a
    /// known capacity; a fifth an hour old; a sixth never heard of.
    /// free = 40 + 200 + 5 = 245, total = 350, occupied = 105, occupancy = 30 %.
    #[test]
    fn hand_worked_city_totals() {
        let fresh = NOW - 60_000;
        let levels = [
            Some(FacilityLive::new(40, Some(100), fresh)),
            Some(FacilityLive::new(250, Some(200), fresh)),
            Some(FacilityLive::new(5, Some(50), fresh)),
            Some(FacilityLive::new(12, None, fresh)),
            Some(FacilityLive::new(0, Some(80), NOW - 3_600_000)),
            None,
        ];
        let totals = roll_up(levels.iter().map(Option::as_ref), NOW, 900_000);
        assert_eq!(
            totals,
            ParkingTotals {
                free: 245,
                total: 350,
                occupied: 105,
                occupancy_pct: Some(30.0),
                facilities_reporting: 4,
                facilities_stale: 2,
            }
        );
        let nothing = roll_up([None], NOW, 900_000);
        assert_eq!((nothing.occupancy_pct, nothing.facilities_stale), (None, 1));
    }
}
