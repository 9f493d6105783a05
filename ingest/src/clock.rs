//! The wall clock, read in one place (the runner's step time, the demo feed, history
//! retention); everything below takes processing time as a value.

/// Returns the wall clock in epoch ms.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
