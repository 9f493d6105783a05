//! One spot sensor's state and its parking sessions.
//!
//! LoRaWAN spot sensors send state changes plus heartbeats that repeat the state, so a
//! session is a pair of state changes in event time: it starts when the spot turns
//! `occupied` and ends when it turns `free` or `closed`. A heartbeat repeating `occupied`
//! extends nothing; `unknown` (snow, fault) neither starts nor ends a session, so a
//! vehicle seen before and after a glitch is one session.

use crate::model::parking::SpotStatus;
use crate::time::EventTime;

/// A parking session that ended with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndedSession {
    /// End minus start, ms; `None` when the start was not observed (the spot's first
    /// report after start-up was already `occupied`), so it counts as ended but cannot
    /// enter a mean duration.
    pub(crate) dwell_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Session {
    #[default]
    Idle,
    /// Occupied since this time, or since before the spot's first report (`None`).
    Open(Option<EventTime>),
}

/// The newest state of one spot sensor and its open session, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SpotState {
    status: Option<SpotStatus>,
    ts: EventTime,
    session: Session,
}

/// What a report changed: the state it replaced and the session it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpotChange {
    pub(crate) previous: Option<SpotStatus>,
    pub(crate) ended: Option<EndedSession>,
}

impl SpotState {
    /// Whether the spot has reported.
    pub(crate) fn reported(&self) -> bool {
        self.status.is_some()
    }

    /// Applies a report; `None` when it is older than the state held, which it then does
    /// not change (out-of-order delivery must not resurrect an old state).
    pub(crate) fn apply(&mut self, ts: EventTime, status: SpotStatus) -> Option<SpotChange> {
        if self.status.is_some() && ts < self.ts {
            return None;
        }
        let previous = self.status;
        let mut ended = None;
        match (status, self.session) {
            (SpotStatus::Occupied, Session::Idle) => {
                let since = previous.is_some().then_some(ts);
                self.session = Session::Open(since);
            }
            (SpotStatus::Free | SpotStatus::Closed, Session::Open(since)) => {
                ended = Some(EndedSession {
                    dwell_ms: since.map(|start| ts - start),
                });
                self.session = Session::Idle;
            }
            _ => {}
        }
        self.status = Some(status);
        self.ts = ts;
        Some(SpotChange { previous, ended })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SpotStatus::{Closed, Free, Occupied, Unknown};

    const T8: i64 = 1_795_507_200_000; // 2026-11-24T08:00:00Z
    const MIN: i64 = 60_000;

    fn ended(spot: &mut SpotState, minute: i64, status: SpotStatus) -> Option<Option<i64>> {
        spot.apply(T8 + minute * MIN, status)
            .and_then(|c| c.ended)
            .map(|e| e.dwell_ms)
    }

    /// 08:00 free, 08:05 occupied, 08:20 occupied (heartbeat), 08:47 free → one session
    /// of 42 min = 2,520 s. 08:50 occupied, 08:55 unknown, 09:10 closed → 20 min = 1,200 s.
    #[test]
    fn sessions_from_state_changes_not_heartbeats() {
        let mut spot = SpotState::default();
        assert_eq!(ended(&mut spot, 0, Free), None);
        assert_eq!(ended(&mut spot, 5, Occupied), None);
        assert_eq!(ended(&mut spot, 20, Occupied), None, "heartbeat");
        assert_eq!(ended(&mut spot, 47, Free), Some(Some(42 * MIN)));
        assert_eq!(ended(&mut spot, 48, Free), None, "heartbeat");
        assert_eq!(ended(&mut spot, 50, Occupied), None);
        assert_eq!(ended(&mut spot, 55, Unknown), None, "a glitch ends nothing");
        assert_eq!(ended(&mut spot, 70, Closed), Some(Some(20 * MIN)));
    }

    #[test]
    fn older_reports_are_ignored_and_unobserved_starts_have_no_dwell() {
        let mut spot = SpotState::default();
        assert_eq!(ended(&mut spot, 0, Occupied), None);
        assert_eq!(
            spot.apply(T8 - MIN, Free),
            None,
            "older than the state held"
        );
        let change = spot.apply(T8 + 30 * MIN, Free);
        assert_eq!(
            change,
            Some(SpotChange {
                previous: Some(Occupied),
                ended: Some(EndedSession { dwell_ms: None })
            }),
            "parked since before the first report: ended, duration unknown"
        );
    }
}
