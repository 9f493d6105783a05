//! Event time, processing time and watermarks.
//!
//! Event time is milliseconds since the Unix epoch in UTC, as carried by the sensor payloads.
//! Processing time is passed in by the caller (this crate never reads a clock), which keeps
//! every operator deterministic under test.

/// Milliseconds since the Unix epoch, UTC.
pub type EventTime = i64;

/// Milliseconds since the Unix epoch, from the caller's wall clock.
pub type ProcessingTime = i64;

/// Milliseconds per second, to keep unit conversions readable.
pub const MS_PER_S: i64 = 1_000;

/// The progress of event time as an operator sees it.
///
/// `EventTime(t)` promises that no more events with a timestamp `<= t` are expected;
/// windows ending at or before `t` can close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watermark {
    /// No event seen yet.
    Unknown,
    /// Event time up to which windows may close.
    EventTime(EventTime),
}

impl Watermark {
    /// Returns the event time of the watermark, if any.
    pub fn time(self) -> Option<EventTime> {
        match self {
            Watermark::Unknown => None,
            Watermark::EventTime(t) => Some(t),
        }
    }
}

/// Returns the start of the tumbling window of `size_ms` that contains `ts`.
///
/// Windows are aligned to the Unix epoch (and so to midnight UTC for sizes dividing a day);
/// `div_euclid` keeps timestamps before 1970 in the right bin.
///
/// ```
/// use stadtpuls_processing::time::window_start;
/// assert_eq!(window_start(125_000, 60_000), 120_000);
/// assert_eq!(window_start(120_000, 60_000), 120_000);
/// assert_eq!(window_start(-1, 60_000), -60_000);
/// ```
pub fn window_start(ts: EventTime, size_ms: i64) -> EventTime {
    ts - ts.rem_euclid(size_ms)
}

/// Formats a window length in seconds as its short label: `30s`, `1m`, `15m`, `1h`.
///
/// ```
/// use stadtpuls_processing::time::window_label;
/// assert_eq!(window_label(900), "15m");
/// assert_eq!(window_label(3600), "1h");
/// assert_eq!(window_label(90), "90s");
/// ```
pub fn window_label(seconds: u32) -> String {
    if seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// Formats event time as RFC 3339 in UTC with millisecond precision, the form used on the wire.
pub fn to_rfc3339(ts: EventTime) -> String {
    match chrono::DateTime::from_timestamp_millis(ts) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => ts.to_string(),
    }
}

/// Formats a window start as RFC 3339 in UTC, without a fraction for whole seconds (window
/// starts always are): the form of output topic keys and of the windows a `late` dead
/// letter names, so the two can be matched as text.
pub fn to_rfc3339_seconds(ts: EventTime) -> String {
    match chrono::DateTime::from_timestamp_millis(ts) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => ts.to_string(),
    }
}

/// Parses an RFC 3339 timestamp (any offset) into UTC epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<EventTime> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_is_utc() {
        let ts = parse_rfc3339("2026-11-24T01:00:00+01:00").expect("valid");
        assert_eq!(ts, 1_795_478_400_000);
        assert_eq!(to_rfc3339(ts), "2026-11-24T00:00:00.000Z");
    }

    #[test]
    fn window_start_aligns_to_epoch() {
        assert_eq!(window_start(1_795_478_459_999, 60_000), 1_795_478_400_000);
        assert_eq!(window_start(1_795_478_460_000, 900_000), 1_795_478_400_000);
    }
}
