//! Day buckets in a time zone: which local day a window belongs to, as integer SQL the
//! engine evaluates without knowing about zones, and where that day starts and ends in
//! UTC.
//!
//! A local day is not 24 hours when the clocks change (23 or 25 hours in Europe), so a
//! day bucket cannot be a fixed-length bin. The zone's UTC offsets over the requested
//! span are looked up here (chrono-tz, the IANA database the config validates city zones
//! with) and written into the query as a `CASE` of numbers: a window's local day is
//! `(t + offset(t)) / 86 400 000` for its start `t` in epoch ms. The zone's name never
//! becomes SQL.

use chrono::{NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

const DAY_MS: i64 = 86_400_000;
/// Offsets change at whole quarter hours in every zone of the IANA database since 1970;
/// the scan steps by this and then finds the exact millisecond.
const STEP_MS: i64 = 15 * 60_000;
/// The days since 0001-01-01 (CE) of 1970-01-01.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The UTC offset of `tz` at `at_ms`, in ms.
fn offset_ms(tz: Tz, at_ms: i64) -> i64 {
    match chrono::DateTime::from_timestamp_millis(at_ms) {
        Some(at) => {
            i64::from(
                tz.offset_from_utc_datetime(&at.naive_utc())
                    .fix()
                    .local_minus_utc(),
            ) * 1000
        }
        None => 0,
    }
}

/// The offset of `tz` at `from_ms` and every change of it in `(from_ms, to_ms]`, as
/// (first instant of the new offset, new offset).
pub fn offsets(tz: Tz, from_ms: i64, to_ms: i64) -> (i64, Vec<(i64, i64)>) {
    let first = offset_ms(tz, from_ms);
    let mut changes = Vec::new();
    let mut current = first;
    let mut at = from_ms;
    while at < to_ms {
        let next = (at + STEP_MS).min(to_ms);
        let offset = offset_ms(tz, next);
        if offset != current {
            // The first millisecond in (at, next] with the new offset.
            let (mut low, mut high) = (at, next);
            while high - low > 1 {
                let middle = low + (high - low) / 2;
                if offset_ms(tz, middle) == current {
                    low = middle;
                } else {
                    high = middle;
                }
            }
            changes.push((high, offset));
            current = offset;
        }
        at = next;
    }
    (first, changes)
}

/// SQL for the local day number (days since 1970-01-01 in `tz`) of the epoch-ms
/// expression `t`, valid for `t` in `[from_ms, to_ms]`. Only numbers are written.
pub fn day_key_sql(t: &str, tz: Tz, from_ms: i64, to_ms: i64) -> String {
    let (first, changes) = offsets(tz, from_ms, to_ms);
    let offset = if changes.is_empty() {
        first.to_string()
    } else {
        let mut case = format!("CASE WHEN {t} < {} THEN {first}", changes[0].0);
        for (i, (_, offset)) in changes.iter().enumerate() {
            match changes.get(i + 1) {
                Some((until, _)) => case.push_str(&format!(" WHEN {t} < {until} THEN {offset}")),
                None => case.push_str(&format!(" ELSE {offset} END")),
            }
        }
        case
    };
    format!("({t} + {offset}) / {DAY_MS}")
}

/// The local day number of the instant `at_ms` in `tz` (what [`day_key_sql`] computes).
pub fn day_key(tz: Tz, at_ms: i64) -> i64 {
    (at_ms + offset_ms(tz, at_ms)).div_euclid(DAY_MS)
}

/// Where the local day `key` (days since 1970-01-01 in `tz`) starts, in UTC epoch ms: its
/// midnight, or the first local time after it that exists when the clocks skip
/// midnight.
pub fn day_start_ms(tz: Tz, key: i64) -> Option<i64> {
    let days = i32::try_from(key).ok()?.checked_add(EPOCH_DAYS_FROM_CE)?;
    let date = NaiveDate::from_num_days_from_ce_opt(days)?;
    let midnight: NaiveDateTime = date.and_hms_opt(0, 0, 0)?;
    for quarter in 0..=(4 * 24) {
        let local = midnight + chrono::Duration::minutes(15 * quarter);
        if let Some(at) = tz.from_local_datetime(&local).earliest() {
            return Some(at.timestamp_millis());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-10-25: Europe/Berlin goes from +2 h back to +1 h at 01:00 UTC.
    const OCT_24_UTC: i64 = 1_792_800_000_000;

    #[test]
    fn the_autumn_change_is_found_to_the_millisecond() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let (first, changes) = offsets(berlin, OCT_24_UTC, OCT_24_UTC + 3 * DAY_MS);
        assert_eq!(first, 7_200_000);
        // 2026-10-25T01:00:00Z
        assert_eq!(changes, vec![(OCT_24_UTC + DAY_MS + 3_600_000, 3_600_000)]);
    }

    #[test]
    fn a_berlin_day_around_the_change_lasts_25_hours() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let key = day_key(berlin, OCT_24_UTC + DAY_MS + 12 * 3_600_000);
        let start = day_start_ms(berlin, key).expect("start");
        let end = day_start_ms(berlin, key + 1).expect("end");
        // 2026-10-24T22:00:00Z … 2026-10-25T23:00:00Z
        assert_eq!(start, OCT_24_UTC + 22 * 3_600_000);
        assert_eq!(end - start, 25 * 3_600_000);
        let utc: Tz = "UTC".parse().expect("zone");
        assert_eq!(day_start_ms(utc, day_key(utc, start)), Some(OCT_24_UTC));
    }
}
