//! The comparison of two runs' results that the fault tests assert: Parquet history (latest
//! revision per window, no row twice), output topics (latest value per key) and the raw
//! message archive (every input offset once).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int64Type, TimestampMillisecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use super::replay::{Ends, Workload};
use super::topics::read_topics;

/// Asserts that the Parquet histories under `a` and `b` hold the same windows with the same
/// latest values and that `b` holds no (window, revision) twice; returns A's window count.
pub fn assert_same_history(a: &Path, b: &Path) -> usize {
    let rows_a = history_rows(a);
    let rows_b = history_rows(b);
    let mut seen = BTreeSet::new();
    for (key, revision, _) in &rows_b {
        assert!(
            seen.insert((key, *revision)),
            "history {} holds {key:?} revision {revision} twice",
            b.display()
        );
    }
    let revised = rows_a.iter().filter(|(_, r, _)| *r > 0).count();
    let history_a = latest_history(&rows_a);
    let history_b = latest_history(&rows_b);
    eprintln!(
        "history: A {} rows ({} windows, {revised} revisions > 0), B {} rows ({} windows)",
        rows_a.len(),
        history_a.len(),
        rows_b.len(),
        history_b.len()
    );
    report_missing(&history_a, &history_b, "A", "B");
    report_missing(&history_b, &history_a, "B", "A");
    assert_same_maps(&history_a, &history_b, "history row");
    history_a.len()
}

/// Prints, per (table, city, entity), how many windows `x` holds that `y` lacks and their
/// first and last start, so a failure names the whole gap, not just five rows of it.
fn report_missing<V>(x: &BTreeMap<RowKey, V>, y: &BTreeMap<RowKey, V>, nx: &str, ny: &str) {
    let mut gaps: BTreeMap<(&str, &str, &str), (usize, &str, &str)> = BTreeMap::new();
    for key in x.keys().filter(|k| !y.contains_key(*k)) {
        let gap = gaps
            .entry((&key.0, &key.1, &key.2))
            .or_insert((0, &key.4, &key.4));
        gap.0 += 1;
        gap.1 = gap.1.min(&key.4);
        gap.2 = gap.2.max(&key.4);
    }
    for ((table, city, entity), (count, first, last)) in gaps {
        eprintln!(
            "in {nx}, not in {ny}: {table} {city} {entity}: {count} windows, {first}..={last}"
        );
    }
}

/// Asserts that runs A and B of `work` (their directories `a`, `b`) have the same history,
/// with at least `min_windows` windows, and the same output topics, holding every history
/// window; returns the window count.
pub fn assert_same_results(work: &Workload, a: &Path, b: &Path, min_windows: usize) -> usize {
    let windows = assert_same_history(&a.join("history"), &b.join("history"));
    assert!(windows > min_windows, "many windows closed: {windows}");
    let keys = assert_same_output(
        &work.brokers,
        &work.output_prefix("a"),
        &work.output_prefix("b"),
    );
    assert_eq!(keys, windows, "every history window is in the output");
    windows
}

/// Asserts that the raw archive under `history` holds every input offset of `ends` once.
pub fn assert_raw_archive_exact(history: &Path, ends: &Ends) {
    let mut files = Vec::new();
    let mut stack = vec![history.join("raw_messages")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    let mut seen: BTreeMap<(String, i32), BTreeSet<i64>> = BTreeMap::new();
    let mut rows = 0usize;
    for file in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&file).expect("open parquet"),
        )
        .expect("parquet footer")
        .build()
        .expect("parquet reader");
        for batch in reader {
            let batch: RecordBatch = batch.expect("parquet batch");
            let topic = batch.column(0).as_string::<i32>();
            let partition = batch
                .column(1)
                .as_primitive::<arrow_array::types::Int32Type>();
            let offset = batch.column(2).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                rows += 1;
                let fresh = seen
                    .entry((topic.value(i).to_owned(), partition.value(i)))
                    .or_default()
                    .insert(offset.value(i));
                assert!(
                    fresh,
                    "{}-{} offset {} archived twice",
                    topic.value(i),
                    partition.value(i),
                    offset.value(i)
                );
            }
        }
    }
    let total: i64 = ends.values().sum();
    assert_eq!(rows as i64, total, "every input message archived");
    for ((topic, partition), end) in ends {
        let offsets = seen.get(&(topic.clone(), *partition));
        let dense = offsets.is_some_and(|o| o.len() as i64 == *end && o.last() == Some(&(end - 1)));
        assert!(dense, "{topic}-{partition}: offsets 0..{end} archived");
    }
    eprintln!("raw archive: {rows} messages, each once");
}

/// Asserts that the output topics of two runs hold the same keys with the same latest
/// values; returns A's key count.
pub fn assert_same_output(brokers: &str, prefix_a: &str, prefix_b: &str) -> usize {
    let (out_a, records_a) = output_latest(brokers, prefix_a);
    let (out_b, records_b) = output_latest(brokers, prefix_b);
    eprintln!(
        "output: A {records_a} records ({} keys), B {records_b} records ({} keys)",
        out_a.len(),
        out_b.len()
    );
    assert_same_maps(&out_a, &out_b, "output record");
    out_a.len()
}

/// Asserts that two runs' maps hold the same keys (naming up to five that differ) with
/// equal values.
fn assert_same_maps<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    a: &BTreeMap<K, V>,
    b: &BTreeMap<K, V>,
    what: &str,
) {
    fn only<'m, K: Ord, V>(x: &'m BTreeMap<K, V>, y: &BTreeMap<K, V>) -> Vec<&'m K> {
        x.keys().filter(|k| !y.contains_key(*k)).take(5).collect()
    }
    let (only_a, only_b) = (only(a, b), only(b, a));
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "{what}: keys only in A: {only_a:?}; only in B: {only_b:?}"
    );
    for (key, value) in a {
        assert_eq!(Some(value), b.get(key), "{what} {key:?}");
    }
}

/// A value as comparable text; floats by their bits' decimal rendering.
fn cell(column: &dyn Array, row: usize) -> String {
    if column.is_null(row) {
        return "null".into();
    }
    match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(row).to_owned(),
        DataType::UInt8 => column.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => column.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => column.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row).to_string(),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Float64 => column.as_primitive::<Float64Type>().value(row).to_string(),
        DataType::Boolean => column.as_boolean().value(row).to_string(),
        DataType::Timestamp(_, _) => column
            .as_primitive::<TimestampMillisecondType>()
            .value(row)
            .to_string(),
        _ => format!("{:?}", column.slice(row, 1)),
    }
}

/// A history row's identity: table, city, entity, lane, window start.
pub type RowKey = (String, String, String, String, String);

/// Every row of every Parquet file under `history` (skipping `_` bookkeeping and hidden
/// temporary files), as (key, revision, other columns).
pub fn history_rows(history: &Path) -> Vec<(RowKey, u64, BTreeMap<String, String>)> {
    let mut files = Vec::new();
    let mut stack = vec![history.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read history dir {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with('_') || name.starts_with('.') || name == "raw_messages" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".parquet") {
                files.push(path);
            }
        }
    }
    let mut rows = Vec::new();
    for file in files {
        let relative = file.strip_prefix(history).expect("under history");
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let table = parts[0].clone();
        let city = parts[1].trim_start_matches("city=").to_owned();
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&file).expect("open parquet"),
        )
        .expect("parquet footer")
        .build()
        .expect("parquet reader");
        for batch in reader {
            let batch: RecordBatch = batch.expect("parquet batch");
            let schema = batch.schema();
            for row in 0..batch.num_rows() {
                let mut values = BTreeMap::new();
                for (field, column) in schema.fields().iter().zip(batch.columns()) {
                    values.insert(field.name().clone(), cell(column.as_ref(), row));
                }
                let take = |k: &str| values.get(k).cloned().unwrap_or_default();
                let entity = if values.contains_key("facility_id") {
                    take("facility_id")
                } else {
                    take("sensor_id")
                };
                let key = (
                    table.clone(),
                    city.clone(),
                    entity,
                    take("lane"),
                    take("window_start"),
                );
                let revision = take("revision").parse().expect("revision");
                values.remove("revision");
                rows.push((key, revision, values));
            }
        }
    }
    rows
}

/// Latest revision per window; the values without the revision number.
pub fn latest_history(
    rows: &[(RowKey, u64, BTreeMap<String, String>)],
) -> BTreeMap<RowKey, BTreeMap<String, String>> {
    let mut best: BTreeMap<RowKey, (u64, &BTreeMap<String, String>)> = BTreeMap::new();
    for (key, revision, values) in rows {
        let newer = best.get(key).is_none_or(|(r, _)| *r <= *revision);
        if newer {
            best.insert(key.clone(), (*revision, values));
        }
    }
    best.into_iter().map(|(k, (_, v))| (k, v.clone())).collect()
}

/// Every record of the output topics `<prefix>.{traffic,traffic_lanes,parking}`, read to their log ends: latest value (by
/// revision) per (stream, key), without the revision field; plus the number of records.
pub fn output_latest(brokers: &str, prefix: &str) -> (BTreeMap<(String, String), Value>, usize) {
    let topics: Vec<String> = ["traffic", "traffic_lanes", "parking"]
        .iter()
        .map(|stream| format!("{prefix}.{stream}"))
        .collect();
    let records = read_topics(brokers, &topics);
    let mut latest: BTreeMap<(String, String), (u64, Value)> = BTreeMap::new();
    for record in &records {
        let key = String::from_utf8(record.key.clone().expect("keyed")).expect("utf-8 key");
        let mut value: Value = serde_json::from_slice(&record.payload).expect("JSON value");
        let revision = value["revision"].as_u64().expect("revision");
        value.as_object_mut().expect("object").remove("revision");
        let stream = record
            .topic
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        let slot = (stream, key);
        if latest.get(&slot).is_none_or(|(r, _)| *r <= revision) {
            latest.insert(slot, (revision, value));
        }
    }
    (
        latest.into_iter().map(|(k, (_, v))| (k, v)).collect(),
        records.len(),
    )
}
