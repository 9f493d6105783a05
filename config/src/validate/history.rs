//! `[history]`: the tables written (each naming a configured window), retention, file
//! sizes and compaction.

use std::path::PathBuf;
use std::time::Duration;

use super::{Ctx, SECONDS_PER_DAY, in_range};
use crate::model::{
    DEFAULT_HISTORY_TABLES, HistoryConfig, HistoryStream, HistoryTable, WindowsConfig,
};
use crate::raw::RawHistory;

/// More rows than this in one file would make a single row group of gigabytes.
const MAX_FILE_ROWS: i64 = 100_000_000;
/// A compaction merges this many files at most in one go.
const MAX_COMPACT_AFTER: i64 = 1_000;

pub(super) fn history(
    ctx: &mut Ctx<'_>,
    raw: &RawHistory,
    windows: &WindowsConfig,
) -> HistoryConfig {
    let defaults = HistoryConfig::default();
    ctx.non_empty("history.dir", &raw.dir);
    let tables = match &raw.tables {
        None => default_tables(windows),
        Some(names) => {
            if names.is_empty() && raw.enabled {
                ctx.error(
                    "history.tables",
                    "must list at least one table, or set `history.enabled = false`",
                );
            }
            let mut tables = Vec::with_capacity(names.len());
            for (index, name) in names.iter().enumerate() {
                let path = format!("history.tables[{index}]");
                match parse_table(name, windows) {
                    Err(message) => ctx.error(&path, message),
                    Ok(table) if tables.contains(&table) => {
                        ctx.error(&path, format!("duplicate table `{name}`"));
                    }
                    Ok(table) => tables.push(table),
                }
            }
            tables
        }
    };
    let retention = ctx
        .duration("history.retention", &raw.retention)
        .filter(|retention| {
            let fits = retention.as_secs() >= SECONDS_PER_DAY;
            if !fits {
                let message = format!(
                    "`{}` is shorter than one day, the unit history is partitioned and deleted by",
                    raw.retention
                );
                ctx.error("history.retention", message);
            }
            fits
        });
    let max_file_rows = in_range(
        ctx,
        "history.max_file_rows",
        raw.max_file_rows,
        1,
        MAX_FILE_ROWS,
        "1 ..= 100000000",
    );
    let compact_after = if raw.compact_after == 0 {
        Some(0)
    } else {
        in_range(
            ctx,
            "history.compact_after",
            raw.compact_after,
            2,
            MAX_COMPACT_AFTER,
            "0 (never) or 2 ..= 1000",
        )
    };
    HistoryConfig {
        enabled: raw.enabled,
        dir: PathBuf::from(&raw.dir),
        tables,
        retention: retention.unwrap_or(defaults.retention),
        max_file_rows: max_file_rows.unwrap_or(defaults.max_file_rows),
        compact_after: compact_after.unwrap_or(defaults.compact_after),
        archive_raw: raw.archive_raw,
    }
}

/// The default tables whose windows are configured: with `windows.sizes = ["5m"]` there is
/// no 1-minute window to write, and that is not the user's mistake.
fn default_tables(windows: &WindowsConfig) -> Vec<HistoryTable> {
    DEFAULT_HISTORY_TABLES
        .iter()
        .filter(|(_, seconds)| windows.sizes.contains(&Duration::from_secs(*seconds)))
        .map(|&(stream, seconds)| HistoryTable::tumbling(stream, seconds))
        .collect()
}

/// `traffic_15m`, `traffic_lanes_1m`, `parking_1h_15m` → a table of a configured window.
fn parse_table(name: &str, windows: &WindowsConfig) -> Result<HistoryTable, String> {
    let expected = "expected `traffic_`, `traffic_lanes_` or `parking_` and a configured window, e.g. `traffic_15m` or `traffic_1h_15m` (hopping)";
    let Some((stream, window)) = HistoryStream::ALL.iter().find_map(|stream| {
        name.strip_prefix(stream.prefix())
            .and_then(|rest| rest.strip_prefix('_'))
            .map(|rest| (*stream, rest))
    }) else {
        return Err(format!("unknown table `{name}`, {expected}"));
    };
    let seconds = |text: &str| -> Result<u32, String> {
        let duration = crate::fields::parse_duration(text)
            .map_err(|_| format!("`{text}` in table `{name}` is not a window, {expected}"))?;
        u32::try_from(duration.as_secs())
            .ok()
            .filter(|_| duration.subsec_nanos() == 0)
            .ok_or_else(|| format!("`{text}` in table `{name}` is not a window, {expected}"))
    };
    let table = match window.split_once('_') {
        None => {
            let size = seconds(window)?;
            if !windows
                .sizes
                .contains(&Duration::from_secs(u64::from(size)))
            {
                return Err(format!(
                    "table `{name}`: window `{window}` is not in `windows.sizes`"
                ));
            }
            HistoryTable {
                stream,
                window_s: size,
                slide_s: size,
            }
        }
        Some((size_text, slide_text)) => {
            let (size, slide) = (seconds(size_text)?, seconds(slide_text)?);
            let configured = (
                Duration::from_secs(u64::from(size)),
                Duration::from_secs(u64::from(slide)),
            );
            if !windows.hopping.contains(&configured) {
                return Err(format!(
                    "table `{name}`: hopping window `{size_text}/{slide_text}` is not in `windows.hopping`"
                ));
            }
            HistoryTable {
                stream,
                window_s: size,
                slide_s: slide,
            }
        }
    };
    let canonical = table.name();
    if canonical != name {
        return Err(format!(
            "table `{name}` is spelled `{canonical}`, the name of its directory"
        ));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows() -> WindowsConfig {
        WindowsConfig {
            hopping: vec![(Duration::from_secs(3600), Duration::from_secs(900))],
            ..WindowsConfig::default()
        }
    }

    #[test]
    fn table_names_round_trip() {
        for name in [
            "traffic_1m",
            "traffic_lanes_15m",
            "parking_1h",
            "traffic_1h_15m",
            "parking_1h_15m",
        ] {
            let table = parse_table(name, &windows()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(table.name(), name);
        }
        let lanes = parse_table("traffic_lanes_1m", &windows()).expect("lanes");
        assert_eq!(lanes.stream, HistoryStream::TrafficLanes);
        assert_eq!((lanes.window_s, lanes.slide_s), (60, 60));
    }

    #[test]
    fn bad_table_names_say_why() {
        let w = windows();
        let error = |name: &str| parse_table(name, &w).expect_err(name);
        assert!(error("flow_1m").contains("unknown table"));
        assert!(error("traffic").contains("unknown table"));
        assert!(error("traffic_2m").contains("not in `windows.sizes`"));
        assert!(error("traffic_1h_5m").contains("not in `windows.hopping`"));
        assert!(error("traffic_60s").contains("spelled `traffic_1m`"));
        assert!(error("traffic_soon").contains("is not a window"));
    }

    #[test]
    fn defaults_follow_the_configured_windows() {
        let only_5m = WindowsConfig {
            sizes: vec![Duration::from_secs(300), Duration::from_secs(900)],
            ..WindowsConfig::default()
        };
        let names: Vec<String> = default_tables(&only_5m)
            .iter()
            .map(HistoryTable::name)
            .collect();
        assert_eq!(names, ["traffic_15m", "traffic_lanes_15m", "parking_15m"]);
    }
}
