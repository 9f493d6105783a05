//! Retention: whole date partitions go once all their windows are older than
//! `history.retention`, measured from the newest window written — not from the wall clock,
//! so replaying last year's data does not delete it as it is written.
//!
//! A partition `date=D` holds windows starting in [D, D + 1 day); it is deleted when
//! D < date(newest − retention), i.e. when even its last window started more than
//! `retention` before the newest one. The check runs on commit but only lists directories
//! when that cutoff date moves, so it costs nothing on all other commits.

use std::path::Path;
use std::time::Duration;

use chrono::NaiveDate;

use super::files;
use super::layout;
use crate::{IngestError, Result};

/// The first date kept: `date(newest − retention)`.
pub(crate) fn cutoff(newest_window_ms: i64, retention: Duration) -> Option<NaiveDate> {
    let retention_ms = i64::try_from(retention.as_millis()).ok()?;
    layout::date_of(newest_window_ms.checked_sub(retention_ms)?)
}

/// Deletes `table`'s date partitions before `cutoff` in every city; returns how many.
pub(crate) fn expire(root: &Path, table: &str, cutoff: NaiveDate) -> Result<usize> {
    let table_dir = root.join(table);
    let mut removed = 0;
    for city in files::list(&table_dir)? {
        if !city.starts_with("city=") {
            continue;
        }
        let city_dir = table_dir.join(&city);
        let mut changed = false;
        for date in files::list(&city_dir)? {
            if layout::parse_date_dir(&date).is_some_and(|d| d < cutoff) {
                let dir = city_dir.join(&date);
                std::fs::remove_dir_all(&dir)
                    .map_err(|error| IngestError::history("remove", &dir, error))?;
                removed += 1;
                changed = true;
            }
        }
        if changed {
            files::sync_dir(&city_dir)?;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_keeps_every_day_with_a_window_inside_the_retention() {
        let day = 86_400_000;
        // newest window 2026-11-25T00:30Z, retention 2 days → keep from 2026-11-23
        let newest = 1_795_566_600_000;
        let cut = cutoff(newest, Duration::from_secs(2 * 86_400)).expect("date");
        assert_eq!(cut.to_string(), "2026-11-23");
        // 2026-11-22T23:59Z started more than two days before the newest: its day goes
        assert!(layout::date_of(newest - 2 * day - 31 * 60_000).expect("date") < cut);
        // 2026-11-23T00:31Z started less than two days before: its day stays
        assert!(layout::date_of(newest - 2 * day + 60_000).expect("date") >= cut);
    }
}
