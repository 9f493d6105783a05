//! Screening each event time against its own stream's progress.
//!
//! A partition's watermark follows the newest event time seen on it. One sensor whose clock
//! jumps ahead — a reset real-time clock, local time sent as UTC, a simulated "future
//! timestamp" fault — would move it by the jump, and every later row of the partition, of
//! every other sensor on it, would be judged late against a time that has not come yet. The
//! receiver's clock (`windows.max_future`) only catches this live: in a replay or a
//! backfill every timestamp is in the past. So rows are also judged against their source's
//! own progress, before any operator sees them.
//!
//! **The rule** (`windows.max_clock_jump`, J): a row more than J ahead of the newest event
//! time its source has accepted is refused as `clock_jump`, unless it confirms a jump
//! announced by the row just before it on the same source:
//! - that row was refused as ahead too, came from **another entity**, and this one is
//!   within J of it: two entities agree that time has moved on (a partition that was
//!   silent, a feed switched back on);
//! - or that row came from **the same entity** and this one is later: the entity reports
//!   on from the new time (a partition with a single sensor or zone moves on). Rows of
//!   one report with the same time (the lanes of a count) do not confirm each other.
//!
//! A confirmed jump is accepted and becomes the source's progress; the row that announced
//! it stays refused (its dead letter can be replayed). Any row not ahead ends an
//! announcement, so a lone glitch is refused and forgotten.
//!
//! J (default 15 min) must be longer than the gaps a partition's feed has between
//! reports, or normal rows would need confirmation. A lead of more than
//! `out_of_orderness + allowed_lateness` can make a neighbour's row late, so leads between
//! that and J still can: J is the trade-off between catching smaller glitches and
//! refusing the first row after a real gap. Clock glitches seen in the field (time zone
//! or daylight-saving errors, reset clocks) are an hour or more.
//!
//! The decision depends on the source's rows before it alone, never on where batches were
//! cut or what other partitions did, and the source's state travels in its task snapshot:
//! a replay after a restore refuses exactly the rows the first run refused.

use serde::{Deserialize, Serialize};

use crate::time::EventTime;
use crate::window::watermark::SourceId;

/// A jump announced by a refused row: the entity and the event times it was ahead at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Announcement {
    /// The entity by id (not by dense key, which differs between instances for entities
    /// admitted at run time), so a restored source decides as the first run did.
    entity: String,
    /// Event time of the first of the entity's consecutive ahead rows.
    first: EventTime,
    /// Event time of the latest.
    last: EventTime,
}

/// One source's progress, as a task snapshot keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockState {
    /// The newest event time accepted on the source.
    progress: Option<EventTime>,
    /// The row just before was refused as ahead.
    announced: Option<Announcement>,
}

/// A refused row: its index in the screened slice, its event time and the progress it
/// was judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockJump {
    /// Row index.
    pub row: u32,
    /// The row's event time.
    pub ts: EventTime,
    /// The newest event time the source had accepted.
    pub progress: EventTime,
}

/// Per-source progress and the jump rule of the module documentation.
#[derive(Debug, Clone)]
pub struct ClockGuard {
    max_jump_ms: i64,
    sources: Vec<ClockState>,
}

impl ClockGuard {
    /// A guard refusing rows more than `max_jump_ms` ahead of their source's progress.
    pub fn new(max_jump_ms: i64) -> Self {
        Self {
            max_jump_ms: max_jump_ms.max(0),
            sources: Vec::new(),
        }
    }

    /// The jump a row may make without confirmation, in milliseconds.
    pub fn max_jump_ms(&self) -> i64 {
        self.max_jump_ms
    }

    /// Screens the rows of one source in order and returns the refused ones, in row
    /// order; `entity(row)` names the row's entity (city and id), asked only of rows
    /// ahead of the source's progress. Empty when every row is accepted: the common case
    /// costs one comparison per row and no allocation.
    pub fn screen(
        &mut self,
        source: SourceId,
        ts: &[EventTime],
        entity: impl Fn(usize) -> String,
    ) -> Vec<ClockJump> {
        let max_jump = self.max_jump_ms;
        let state = self.state_mut(source);
        let mut refused = Vec::new();
        for (row, &t) in ts.iter().enumerate() {
            let Some(progress) = state.progress else {
                state.progress = Some(t);
                continue;
            };
            if t <= progress.saturating_add(max_jump) {
                state.progress = Some(progress.max(t));
                state.announced = None;
                continue;
            }
            let entity = entity(row);
            let confirmed = state.announced.as_ref().is_some_and(|a| {
                if a.entity == entity {
                    t > a.last
                } else {
                    t.abs_diff(a.last) <= max_jump.unsigned_abs()
                }
            });
            if confirmed {
                state.progress = Some(t);
                state.announced = None;
                continue;
            }
            refused.push(ClockJump {
                row: row as u32,
                ts: t,
                progress,
            });
            state.announced = Some(match state.announced.take() {
                Some(a) if a.entity == entity && t >= a.last => Announcement { last: t, ..a },
                _ => Announcement {
                    entity,
                    first: t,
                    last: t,
                },
            });
        }
        refused
    }

    fn state_mut(&mut self, source: SourceId) -> &mut ClockState {
        let index = source as usize;
        if self.sources.len() <= index {
            self.sources.resize(index + 1, ClockState::default());
        }
        &mut self.sources[index]
    }

    /// What a task's snapshot keeps of `source`.
    pub fn export(&self, source: SourceId) -> ClockState {
        self.sources
            .get(source as usize)
            .cloned()
            .unwrap_or_default()
    }

    /// Restores `source` from its snapshot.
    pub fn import(&mut self, source: SourceId, state: ClockState) {
        *self.state_mut(source) = state;
    }

    /// Forgets a source (partition revoked).
    pub fn remove(&mut self, source: SourceId) {
        if let Some(state) = self.sources.get_mut(source as usize) {
            *state = ClockState::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const J: i64 = 150_000;

    fn rows(guard: &mut ClockGuard, source: SourceId, rows: &[(i64, u32)]) -> Vec<u32> {
        let ts: Vec<i64> = rows.iter().map(|r| r.0).collect();
        guard
            .screen(source, &ts, |row| format!("s{}", rows[row].1))
            .iter()
            .map(|j| j.row)
            .collect()
    }

    #[test]
    fn a_lone_glitch_is_refused_and_its_neighbours_are_not() {
        let mut g = ClockGuard::new(J);
        // Sensors 1–3 report each minute; sensor 1's clock jumps an hour ahead once.
        let refused = rows(
            &mut g,
            0,
            &[
                (10 * MIN, 1),
                (10 * MIN, 2),
                (71 * MIN, 1),
                (11 * MIN, 3),
                (11 * MIN, 2),
                (12 * MIN, 1),
            ],
        );
        assert_eq!(refused, vec![2]);
        assert_eq!(g.export(0).progress, Some(12 * MIN));
    }

    #[test]
    fn two_sensors_ahead_in_a_row_confirm_a_jump() {
        let mut g = ClockGuard::new(J);
        assert!(rows(&mut g, 0, &[(10 * MIN, 1), (11 * MIN, 2)]).is_empty());
        // The partition was silent for two hours, then sensors 2 and 1 report.
        let refused = rows(&mut g, 0, &[(131 * MIN, 2), (131 * MIN, 1), (132 * MIN, 2)]);
        assert_eq!(refused, vec![0], "only the announcing row is refused");
        assert_eq!(g.export(0).progress, Some(132 * MIN));
    }

    #[test]
    fn a_single_sensor_moves_on_with_its_next_report() {
        let mut g = ClockGuard::new(J);
        assert!(rows(&mut g, 0, &[(10 * MIN, 7)]).is_empty());
        // Two lanes of one report an hour later, then the next report.
        let refused = rows(
            &mut g,
            0,
            &[(70 * MIN, 7), (70 * MIN, 7), (71 * MIN, 7), (72 * MIN, 7)],
        );
        assert_eq!(
            refused,
            vec![0, 1],
            "the lanes of one report do not confirm each other"
        );
        assert_eq!(g.export(0).progress, Some(72 * MIN));
    }

    #[test]
    fn a_sensor_an_hour_ahead_among_others_stays_refused() {
        // A sensor sending local time as UTC: an hour ahead in every report, its lanes
        // with one time, the partition's other sensors in between.
        let mut g = ClockGuard::new(J);
        let refused = rows(
            &mut g,
            0,
            &[
                (10 * MIN, 1),
                (70 * MIN, 9),
                (70 * MIN, 9),
                (11 * MIN, 1),
                (71 * MIN, 9),
            ],
        );
        assert_eq!(refused, vec![1, 2, 4]);
        assert_eq!(g.export(0).progress, Some(11 * MIN));
    }

    #[test]
    fn rows_within_the_jump_and_behind_are_accepted() {
        let mut g = ClockGuard::new(J);
        let refused = rows(
            &mut g,
            0,
            &[
                (10 * MIN, 1),
                (10 * MIN + J, 2),
                (5 * MIN, 3),
                (10 * MIN + 2 * J, 1),
            ],
        );
        assert!(refused.is_empty());
    }

    #[test]
    fn sources_are_judged_alone_and_batch_cuts_do_not_matter() {
        let input = [
            (10 * MIN, 1),
            (80 * MIN, 2),
            (11 * MIN, 1),
            (90 * MIN, 3),
            (91 * MIN, 4),
            (92 * MIN, 3),
        ];
        let mut whole = ClockGuard::new(J);
        let all = rows(&mut whole, 0, &input);
        for cut in 0..=input.len() {
            let mut g = ClockGuard::new(J);
            let mut refused = rows(&mut g, 0, &input[..cut]);
            // Another source in between changes nothing.
            rows(&mut g, 1, &[(500 * MIN, 1)]);
            // A snapshot and restore at the cut changes nothing either.
            let mut restored = ClockGuard::new(J);
            restored.import(0, g.export(0));
            refused.extend(
                rows(&mut restored, 0, &input[cut..])
                    .into_iter()
                    .map(|r| r + cut as u32),
            );
            assert_eq!(refused, all, "cut at {cut}");
        }
        assert_eq!(all, vec![1, 3]);
    }
}
