//! Running values of one facility in one window.

use super::spots::EndedSession;
use super::{ParkingStatus, Trend};
use crate::formulas;
use crate::model::parking::OpeningStatus;
use crate::time::EventTime;
use crate::window::snapshot_fields::added_in_6;

/// A reading that became the facility's current level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LevelStep {
    /// When the level took effect.
    pub(crate) ts: EventTime,
    /// Occupancy from then on, percent; `None` when undefined (no capacity, closed).
    pub(crate) occupancy_pct: Option<f64>,
    /// The level before it: since when, and its occupancy.
    pub(crate) before: Option<(EventTime, Option<f64>)>,
}

/// What one observation contributes to its facility's windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowFold {
    pub(crate) free: u32,
    pub(crate) total: Option<u32>,
    /// Status and trend computed for this reading; `None` if it did not become current.
    pub(crate) status: Option<ParkingStatus>,
    pub(crate) trend: Option<Trend>,
    pub(crate) step: Option<LevelStep>,
    /// The opening status the reading stated.
    pub(crate) opening: Option<OpeningStatus>,
    pub(crate) entries: Option<u32>,
    pub(crate) exits: Option<u32>,
    pub(crate) ended: Option<EndedSession>,
}

/// Integral of the occupancy step function over the part of the window it is known for.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct TimeWeighted {
    /// Σ occupancy · ms.
    area: f64,
    covered_ms: i64,
    /// The newest level in the window: since when, occupancy.
    last: Option<(EventTime, Option<f64>)>,
    /// Level carried in from before the window's first step: (since, occupancy) and the
    /// time of that first step, added once the window start is known (at close).
    carry: Option<(EventTime, f64, EventTime)>,
}

impl TimeWeighted {
    fn add(&mut self, from: EventTime, to: EventTime, occupancy: Option<f64>) {
        if let Some(o) = occupancy
            && to > from
        {
            self.area += o * (to - from) as f64;
            self.covered_ms += to - from;
        }
    }

    /// Steps of one facility arrive in event-time order (the live level only moves
    /// forward), so each step closes the segment of the level before it.
    fn step(&mut self, step: &LevelStep) {
        match self.last {
            Some((since, occupancy)) => self.add(since, step.ts, occupancy),
            None => {
                if let Some((since, Some(occupancy))) = step.before {
                    self.carry = Some((since, occupancy, step.ts));
                }
            }
        }
        self.last = Some((step.ts, step.occupancy_pct));
    }

    /// Mean over the window `[start, end)`: the carried-in level from the window start (or
    /// from when it was set, if later), each step until the next, the newest until the end.
    fn mean(mut self, start: EventTime, end: EventTime) -> Option<f64> {
        if let Some((since, occupancy, first)) = self.carry {
            self.add(since.max(start), first, Some(occupancy));
        }
        if let Some((since, occupancy)) = self.last {
            self.add(since, end, occupancy);
        }
        formulas::time_weighted_mean(self.area, self.covered_ms)
    }
}

/// Running values of one facility in one window.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ParkingAcc {
    pub(super) updates: u32,
    last_ts: EventTime,
    pub(super) last_free: u32,
    pub(super) last_total: Option<u32>,
    pub(super) last_status: Option<ParkingStatus>,
    pub(super) last_trend: Option<Trend>,
    pub(super) min_free: u32,
    occupancy_sum: f64,
    occupancy_n: u32,
    level: TimeWeighted,
    pub(super) entries: Option<u64>,
    pub(super) exits: Option<u64>,
    pub(super) sessions_ended: u32,
    dwell_sum_ms: i64,
    dwell_n: u32,
    /// The opening status of the newest reading in the window.
    #[serde(deserialize_with = "added_in_6")]
    pub(super) last_opening: Option<OpeningStatus>,
    /// Whether every reading so far said closed (`min_free` is then theirs, 0).
    #[serde(deserialize_with = "added_in_6")]
    only_closed: bool,
}

impl ParkingAcc {
    pub(crate) fn fold(&mut self, ts: EventTime, row: &RowFold) {
        // The fewest free spaces while open: a closed reading's 0 says "no entry", not
        // "full", unless the facility was closed for every reading of the window.
        let closed = row.opening == Some(OpeningStatus::Closed);
        if self.updates == 0 {
            self.min_free = row.free;
            self.only_closed = closed;
        } else if !closed {
            self.min_free = if self.only_closed {
                row.free
            } else {
                self.min_free.min(row.free)
            };
            self.only_closed = false;
        }
        // Out-of-order arrivals must not overwrite a newer level.
        if self.updates == 0 || ts >= self.last_ts {
            self.last_ts = ts;
            self.last_free = row.free;
            self.last_total = row.total;
            self.last_status = row.status;
            self.last_trend = row.trend;
            self.last_opening = row.opening;
        }
        // A closed facility's reading has no occupancy (see `FacilityLive`).
        if let Some(occ) = row
            .total
            .filter(|_| !closed)
            .and_then(|t| formulas::parking_occupancy_pct(row.free, t))
        {
            self.occupancy_sum += occ;
            self.occupancy_n += 1;
        }
        if let Some(step) = &row.step {
            self.level.step(step);
        }
        if let Some(n) = row.entries {
            self.entries = Some(self.entries.unwrap_or(0) + u64::from(n));
        }
        if let Some(n) = row.exits {
            self.exits = Some(self.exits.unwrap_or(0) + u64::from(n));
        }
        if let Some(ended) = row.ended {
            self.sessions_ended += 1;
            if let Some(dwell) = ended.dwell_ms {
                self.dwell_sum_ms += dwell;
                self.dwell_n += 1;
            }
        }
        self.updates += 1;
    }

    /// Time-weighted mean occupancy over the window `[start, end)`; falls back to the mean
    /// of the readings when no stretch of time is covered (no reading with a known
    /// occupancy became the current level, e.g. only out-of-order ones arrived).
    pub(super) fn occupancy_mean_pct(&self, start: EventTime, end: EventTime) -> Option<f64> {
        self.level
            .mean(start, end)
            .or_else(|| formulas::mean(self.occupancy_sum, u64::from(self.occupancy_n)))
    }

    /// Whether the newest reading in the window said the facility is closed.
    pub(super) fn closed(&self) -> bool {
        self.last_opening == Some(OpeningStatus::Closed)
    }

    /// Mean duration of the sessions that ended in the window and whose start was seen.
    pub(super) fn mean_dwell_s(&self) -> Option<f64> {
        formulas::mean_dwell_s(self.dwell_sum_ms, self.dwell_n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(ts: EventTime, occupancy: f64, before: Option<(EventTime, f64)>) -> RowFold {
        RowFold {
            free: 0,
            total: Some(100),
            status: None,
            trend: None,
            step: Some(LevelStep {
                ts,
                occupancy_pct: Some(occupancy),
                before: before.map(|(t, o)| (t, Some(o))),
            }),
            opening: None,
            entries: None,
            exits: None,
            ended: None,
        }
    }

    /// Window [0, 60 s): 50 % since −10 s, 60 % from 15 s, 80 % from 45 s.
    /// (50·15 + 60·30 + 80·15) / 60 = 3,750 / 60 = 62.5 %; the mean of the two readings
    /// in the window would say 70 %, over-weighting the busy last quarter.
    #[test]
    fn occupancy_mean_is_time_weighted_with_the_level_carried_in() {
        let mut acc = ParkingAcc::default();
        acc.fold(15_000, &step(15_000, 60.0, Some((-10_000, 50.0))));
        acc.fold(45_000, &step(45_000, 80.0, Some((15_000, 60.0))));
        assert_eq!(acc.occupancy_mean_pct(0, 60_000), Some(62.5));
    }

    /// Without a level before the window, the mean covers [15 s, 60 s):
    /// (60·30 + 80·15) / 45 = 66.67 %. A reading that did not become the current level
    /// (out of order) covers nothing: the readings' plain mean is the fallback.
    #[test]
    fn first_ever_reading_starts_the_covered_time() {
        let mut acc = ParkingAcc::default();
        acc.fold(15_000, &step(15_000, 60.0, None));
        acc.fold(45_000, &step(45_000, 80.0, Some((15_000, 60.0))));
        let mean = acc.occupancy_mean_pct(0, 60_000).unwrap_or_default();
        assert!((mean - 3000.0 / 45.0).abs() < 1e-9, "{mean}");
        let mut late = ParkingAcc::default();
        let mut row = step(30_000, 75.0, None);
        row.free = 25;
        row.step = None;
        late.fold(30_000, &row);
        assert_eq!(late.occupancy_mean_pct(0, 60_000), Some(75.0));
    }

    #[test]
    fn counts_and_sessions_add_up() {
        let mut acc = ParkingAcc::default();
        let mut row = step(1_000, 10.0, None);
        row.entries = Some(4);
        acc.fold(1_000, &row);
        row.entries = Some(3);
        row.exits = Some(2);
        row.step = None;
        acc.fold(2_000, &row);
        assert_eq!((acc.entries, acc.exits), (Some(7), Some(2)));
        row.ended = Some(EndedSession {
            dwell_ms: Some(600_000),
        });
        acc.fold(3_000, &row);
        row.ended = Some(EndedSession { dwell_ms: None });
        acc.fold(4_000, &row);
        assert_eq!(acc.sessions_ended, 2);
        assert_eq!(
            acc.mean_dwell_s(),
            Some(600.0),
            "the unobserved start is left out"
        );
    }
}
