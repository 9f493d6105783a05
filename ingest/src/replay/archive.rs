//! The raw archive as replay input: `raw_messages` Parquet files (`history.archive_raw`).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::message::Replayed;
use crate::error::ReplayError;

/// The messages of one archive directory, sorted by (topic, partition, offset).
#[derive(Debug, Default)]
pub struct Loaded {
    /// The messages, each (topic, partition, offset) once.
    pub messages: Vec<Replayed>,
    /// Rows dropped because their (topic, partition, offset) was already loaded.
    pub duplicates: u64,
}

/// An archived message: topic, partition, offset, key, payload.
type Row = (String, i32, i64, Option<Vec<u8>>, Vec<u8>);

/// Rows in `files`, from their footers.
///
/// # Errors
/// A file that cannot be opened or is not a raw archive file.
pub fn rows(files: &[PathBuf]) -> Result<u64, ReplayError> {
    let mut total = 0u64;
    for file in files {
        let builder = open(file)?;
        total += u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    }
    Ok(total)
}

/// Reads `files` whole (one directory: one city's day, so memory is bounded by what one
/// city sends in a day), sorted and without duplicates.
///
/// # Errors
/// A file that cannot be read or is not a raw archive file.
pub fn load(files: &[PathBuf]) -> Result<Loaded, ReplayError> {
    let mut rows: Vec<Row> = Vec::new();
    for file in files {
        let reader = open(file)?
            .build()
            .map_err(|e| archive_error(file, e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| archive_error(file, e.to_string()))?;
            append(file, &batch, &mut rows)?;
        }
    }
    rows.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    let before = rows.len();
    rows.dedup_by(|b, a| (&a.0, a.1, a.2) == (&b.0, b.1, b.2));
    let duplicates = (before - rows.len()) as u64;
    let messages = rows
        .into_iter()
        .map(|(topic, partition, _, key, payload)| Replayed {
            topic: Some(topic),
            partition: Some(partition),
            key,
            payload,
        })
        .collect();
    Ok(Loaded {
        messages,
        duplicates,
    })
}

fn open(file: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, ReplayError> {
    let handle = File::open(file).map_err(|source| ReplayError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(handle)
        .map_err(|e| archive_error(file, e.to_string()))?;
    let schema = builder.schema();
    for (name, wanted) in [
        ("topic", DataType::Utf8),
        ("partition", DataType::Int32),
        ("offset", DataType::Int64),
        ("key", DataType::Binary),
        ("payload", DataType::Binary),
    ] {
        match schema.field_with_name(name) {
            Ok(field) if *field.data_type() == wanted => {}
            Ok(field) => {
                return Err(archive_error(
                    file,
                    format!("column `{name}` is {}, not {wanted}", field.data_type()),
                ));
            }
            Err(_) => return Err(archive_error(file, format!("no column `{name}`"))),
        }
    }
    Ok(builder)
}

fn append(file: &Path, batch: &RecordBatch, rows: &mut Vec<Row>) -> Result<(), ReplayError> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| archive_error(file, format!("no column `{name}`")))
    };
    let topic = column("topic")?.as_string::<i32>();
    let partition = column("partition")?.as_primitive::<Int32Type>();
    let offset = column("offset")?.as_primitive::<Int64Type>();
    let key = column("key")?.as_binary::<i32>();
    let payload = column("payload")?.as_binary::<i32>();
    rows.reserve(batch.num_rows());
    for i in 0..batch.num_rows() {
        if topic.is_null(i) || partition.is_null(i) || offset.is_null(i) || payload.is_null(i) {
            return Err(archive_error(
                file,
                format!("row {i} has a null id or payload"),
            ));
        }
        rows.push((
            topic.value(i).to_owned(),
            partition.value(i),
            offset.value(i),
            (!key.is_null(i)).then(|| key.value(i).to_vec()),
            payload.value(i).to_vec(),
        ));
    }
    Ok(())
}

fn archive_error(file: &Path, detail: String) -> ReplayError {
    ReplayError::Archive {
        path: file.to_path_buf(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BinaryArray, Int32Array, Int64Array, StringArray};
    use arrow_array::{RecordBatch, TimestampMillisecondArray};
    use parquet::arrow::ArrowWriter;
    use stadtpuls_processing::model::raw::raw_message_schema;

    use super::*;

    type Written<'a> = (&'a str, i32, i64, Option<&'a [u8]>, &'a [u8]);

    fn write(path: &Path, rows: &[Written<'_>]) {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(BinaryArray::from_iter(rows.iter().map(|r| r.3))),
            Arc::new(BinaryArray::from_iter_values(rows.iter().map(|r| r.4))),
            Arc::new(TimestampMillisecondArray::from(vec![0; rows.len()]).with_timezone("UTC")),
        ];
        let batch = RecordBatch::try_new(raw_message_schema(), columns).expect("batch");
        let mut writer =
            ArrowWriter::try_new(File::create(path).expect("create"), batch.schema(), None)
                .expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
    }

    #[test]
    fn files_load_sorted_by_partition_and_offset_and_each_offset_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("part-a.parquet");
        let b = dir.path().join("part-b.parquet");
        write(
            &a,
            &[("t", 1, 5, Some(b"k5"), b"m5"), ("t", 0, 2, None, b"m2")],
        );
        write(
            &b,
            &[
                ("t", 1, 4, Some(b"k4"), b"m4"),
                ("t", 1, 5, Some(b"k5"), b"m5"),
            ],
        );
        let files = vec![a, b];
        assert_eq!(rows(&files).expect("footers"), 4);
        let loaded = load(&files).expect("load");
        assert_eq!(loaded.duplicates, 1);
        let order: Vec<(i32, &[u8])> = loaded
            .messages
            .iter()
            .map(|m| (m.partition.unwrap_or(-1), m.payload.as_slice()))
            .collect();
        assert_eq!(order, vec![(0, &b"m2"[..]), (1, b"m4"), (1, b"m5")]);
        assert_eq!(loaded.messages[0].key, None, "a missing key stays missing");
        assert_eq!(loaded.messages[1].key.as_deref(), Some(&b"k4"[..]));
        assert_eq!(loaded.messages[2].topic.as_deref(), Some("t"));
    }

    #[test]
    fn other_parquet_files_are_refused_with_the_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("traffic.parquet");
        let batch = RecordBatch::try_from_iter([(
            "sensor_id",
            Arc::new(StringArray::from(vec!["s1"])) as ArrayRef,
        )])
        .expect("batch");
        let mut writer =
            ArrowWriter::try_new(File::create(&path).expect("create"), batch.schema(), None)
                .expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let err = rows(&[path]).expect_err("not an archive");
        assert!(err.to_string().contains("no column `topic`"), "{err}");
        let garbage = dir.path().join("garbage.parquet");
        std::fs::write(&garbage, b"PAR1 not really").expect("write");
        let err = load(&[garbage]).expect_err("not parquet");
        assert!(err.to_string().contains("garbage.parquet"), "{err}");
    }
}
