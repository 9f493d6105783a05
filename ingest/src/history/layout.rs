//! Where history files live and what their names say.
//!
//! ```text
//! <dir>/<table>/city=<city>/date=<YYYY-MM-DD>/part-<topic>-<partition>-e<epoch:012>-<n:04>.parquet
//! <dir>/<table>/city=<city>/date=<YYYY-MM-DD>/compact-l<level>-<hash:016x>-<n:04>.parquet
//! <dir>/<table>/city=<city>/date=<YYYY-MM-DD>/.<name>.tmp          (being written)
//! <dir>/_epochs/<topic>-<partition>/e<epoch:012>.log               (files an epoch writes)
//! <dir>/_compaction/<table>~city=<city>~date=<YYYY-MM-DD>.json      (a compaction in flight)
//! ```
//!
//! `date` is the UTC date of `window_start`. A commit's file names carry its task and epoch,
//! so committing the same epoch again replaces them and recovery knows what to delete.
//! Readers glob `*.parquet`; temporary files start with `.` and end in `.tmp`, and the
//! bookkeeping directories start with `_`, which DuckDB's globs and pyarrow's datasets skip.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};

use crate::sink::Task;

/// Rows per row group of a compacted file, which is sorted by entity and window start
/// (`history/compaction.rs`): small enough that the row-group statistics of `sensor_id`
/// (`facility_id`) narrow one entity's day to one or two row groups — the REST history
/// then reads ~30 K rows instead of a city's whole day — and large enough that the
/// analyst queries, which read every row group, pay little per group. Float columns of
/// a compacted file are written without dictionary: in groups this small every float
/// column's dictionary would fit its page limit and the floats, nearly all distinct,
/// would be stored twice (the dictionary and its indices). `stadtpuls bench --sql` writes
/// its files the same way (docs/performance.md, "REST history").
pub const SORTED_ROW_GROUP_ROWS: usize = 30_720;

/// Suffix of a file being written; renamed to its final name once complete and synced.
const TEMP_SUFFIX: &str = ".tmp";
const PARQUET: &str = ".parquet";
const TASK_FILE: &str = "part-";
const COMPACTED_FILE: &str = "compact-l";
/// Bookkeeping: per-task lists of the files each epoch writes.
pub(crate) const EPOCHS_DIR: &str = "_epochs";
/// Bookkeeping: journals of compactions in flight.
pub(crate) const COMPACTION_DIR: &str = "_compaction";

/// One Hive partition of one table: the unit of writing, compaction and retention.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Partition {
    /// Table directory name, e.g. `traffic_1m`.
    pub table: String,
    /// City id as in the data (escaped in the path).
    pub city: String,
    /// UTC date of the windows' start.
    pub date: NaiveDate,
}

impl Partition {
    /// `traffic_1m/city=ulm/date=2026-11-25`.
    pub fn relative(&self) -> PathBuf {
        Path::new(&self.table)
            .join(format!("city={}", escape_city(&self.city)))
            .join(date_dir(self.date))
    }

    /// The compaction journal's file name: the relative path with `~` for `/`.
    pub fn journal_name(&self) -> String {
        format!(
            "{}~city={}~{}.json",
            self.table,
            escape_city(&self.city),
            date_dir(self.date)
        )
    }
}

/// `date=2026-11-25`.
pub(crate) fn date_dir(date: NaiveDate) -> String {
    format!("date={}", date.format("%Y-%m-%d"))
}

/// The date of a `date=YYYY-MM-DD` directory name.
pub(crate) fn parse_date_dir(name: &str) -> Option<NaiveDate> {
    let text = name.strip_prefix("date=")?;
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The UTC date of an epoch-millisecond instant.
pub(crate) fn date_of(ms: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

/// City ids are `[a-z0-9-]+` by config; anything else (an id admitted at run time) is
/// percent-encoded byte by byte, as Hive does, so it can never leave its directory.
pub(crate) fn escape_city(city: &str) -> Cow<'_, str> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if !city.is_empty() && city.bytes().all(plain) {
        return Cow::Borrowed(city);
    }
    let mut out = String::with_capacity(city.len() * 3);
    for byte in city.bytes() {
        if plain(byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    Cow::Owned(out)
}

/// `part-sensors.ulm.traffic-0-e000000000042-0000.parquet`: file `n` of `task`'s `epoch`.
pub(crate) fn task_file_name(task: &Task, epoch: u64, n: usize) -> String {
    format!("{}{epoch:012}-{n:04}{PARQUET}", task_file_prefix(task))
}

fn task_file_prefix(task: &Task) -> String {
    format!("{TASK_FILE}{}-{}-e", task.topic, task.partition)
}

/// The epoch of a file of `task`, if `name` is one (strictly: twelve digits, `-`, four
/// digits, `.parquet`, so another topic whose name extends this one's never matches).
pub(crate) fn task_file_epoch(name: &str, task: &Task) -> Option<u64> {
    let rest = name.strip_prefix(&task_file_prefix(task))?;
    let (epoch, rest) = split_digits(rest, 12)?;
    let rest = rest.strip_prefix('-')?;
    let (_, rest) = split_digits(rest, 4)?;
    (rest == PARQUET).then(|| epoch.parse().ok()).flatten()
}

/// Whether `name` is a task file at all (of any task).
pub(crate) fn is_task_file(name: &str) -> bool {
    name.starts_with(TASK_FILE) && name.ends_with(PARQUET)
}

/// `compact-l1-00ff00ff00ff00ff-0000.parquet`: output `n` of a compaction to `level`.
pub(crate) fn compacted_file_name(level: u32, hash: u64, n: usize) -> String {
    format!("{COMPACTED_FILE}{level}-{hash:016x}-{n:04}{PARQUET}")
}

/// The level of a compacted file, if `name` is one.
pub(crate) fn compacted_level(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(COMPACTED_FILE)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (level, rest) = rest.split_at(digits);
    let rest = rest.strip_prefix('-')?;
    let hash = rest.get(..16)?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest[16..].strip_prefix('-')?;
    let (_, rest) = split_digits(rest, 4)?;
    if rest != PARQUET {
        return None;
    }
    level.parse().ok()
}

/// `.<name>.tmp`: where `name` is written before the rename.
pub(crate) fn temp_name(name: &str) -> String {
    format!(".{name}{TEMP_SUFFIX}")
}

/// Whether `name` is a temporary file (of any writer).
pub(crate) fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// `e000000000042.log`: the list of files `epoch` writes.
pub(crate) fn epoch_log_name(epoch: u64) -> String {
    format!("e{epoch:012}.log")
}

/// The epoch of an epoch log's name.
pub(crate) fn epoch_log_epoch(name: &str) -> Option<u64> {
    let rest = name.strip_prefix('e')?;
    let (epoch, rest) = split_digits(rest, 12)?;
    (rest == ".log").then(|| epoch.parse().ok()).flatten()
}

/// `_epochs/<topic>-<partition>`: the task's epoch logs (a partition number has no `-`,
/// so the name is unambiguous).
pub(crate) fn epoch_dir(root: &Path, task: &Task) -> PathBuf {
    root.join(EPOCHS_DIR).join(task.to_string())
}

/// 64-bit FNV-1a over `parts` with a separator: a stable name for a compaction's output
/// that depends only on its inputs.
pub(crate) fn fnv1a<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}

fn split_digits(text: &str, count: usize) -> Option<(&str, &str)> {
    let digits = text.get(..count)?;
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| (digits, &text[count..]))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn task(topic: &str, partition: i32) -> Task {
        Task {
            topic: Arc::from(topic),
            partition,
        }
    }

    #[test]
    fn partitions_are_hive_paths_by_utc_date() {
        let partition = Partition {
            table: "traffic_1m".into(),
            city: "ulm".into(),
            // 2026-11-25T23:59:00Z: still the 25th in UTC, the 26th in Berlin
            date: date_of(1_795_651_140_000).expect("in range"),
        };
        assert_eq!(
            partition.relative(),
            Path::new("traffic_1m/city=ulm/date=2026-11-25")
        );
        assert_eq!(
            partition.journal_name(),
            "traffic_1m~city=ulm~date=2026-11-25.json"
        );
        assert_eq!(parse_date_dir("date=2026-11-25"), Some(partition.date));
        assert_eq!(parse_date_dir("date=2026-13-01"), None);
        assert_eq!(parse_date_dir("city=ulm"), None);
    }

    #[test]
    fn odd_city_ids_stay_inside_their_directory() {
        assert_eq!(escape_city("ulm"), "ulm");
        assert_eq!(escape_city("bad-homburg"), "bad-homburg");
        assert_eq!(escape_city("../etc"), "%2E%2E%2Fetc");
        assert_eq!(escape_city("a b"), "a%20b");
        assert_eq!(escape_city(""), "%00");
    }

    #[test]
    fn task_file_names_carry_task_and_epoch_and_parse_back() {
        let ulm = task("sensors.ulm.traffic", 3);
        let name = task_file_name(&ulm, 42, 1);
        assert_eq!(
            name,
            "part-sensors.ulm.traffic-3-e000000000042-0001.parquet"
        );
        assert_eq!(task_file_epoch(&name, &ulm), Some(42));
        assert!(is_task_file(&name));
        // another partition, another topic sharing the prefix, a temp file: not ulm's
        assert_eq!(
            task_file_epoch(&name, &task("sensors.ulm.traffic", 0)),
            None
        );
        let longer = task("sensors.ulm.traffic-3-e000000000001", 0);
        assert_eq!(task_file_epoch(&task_file_name(&longer, 7, 0), &ulm), None);
        assert_eq!(task_file_epoch(&temp_name(&name), &ulm), None);
        assert!(is_temp(&temp_name(&name)));
        assert!(!is_temp(&name));
    }

    #[test]
    fn compacted_names_carry_their_level() {
        let name = compacted_file_name(2, fnv1a(["a", "b"]), 0);
        assert_eq!(compacted_level(&name), Some(2));
        assert!(!is_task_file(&name));
        assert_eq!(compacted_level("compact-l1-xyz-0000.parquet"), None);
        assert_eq!(compacted_level(&temp_name(&name)), None);
        assert_ne!(fnv1a(["ab", "c"]), fnv1a(["a", "bc"]));
    }

    #[test]
    fn epoch_logs_are_named_by_epoch() {
        assert_eq!(epoch_log_name(7), "e000000000007.log");
        assert_eq!(epoch_log_epoch("e000000000007.log"), Some(7));
        assert_eq!(epoch_log_epoch(".e000000000007.log.tmp"), None);
        assert_eq!(
            epoch_dir(Path::new("/h"), &task("sensors.ka.parking", 1)),
            Path::new("/h/_epochs/sensors.ka.parking-1")
        );
    }
}
