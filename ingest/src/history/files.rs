//! Durable file operations: write to a temporary name, fsync, rename, fsync the directory.
//!
//! After a crash a file is either absent or complete under its final name; a rename is
//! durable once its directory is synced, and a new directory once its parent is.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::layout;
use crate::{IngestError, Result};

/// zstd's own default level: most of the ratio of higher levels at a fraction of the CPU.
const ZSTD_LEVEL: i32 = 3;

fn history<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> IngestError + 'a {
    move |source| IngestError::history(action, path, source)
}

/// Creates `root/relative` and every missing directory on the way, syncing the parent of
/// each one created so the new entries survive a crash.
pub(crate) fn create_dirs(root: &Path, relative: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut dir = root.join(relative);
    while !dir.is_dir() {
        missing.push(dir.clone());
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => dir = parent.to_path_buf(),
            _ => break,
        }
    }
    for dir in missing.iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => {}
            // Another writer (or instance) made it meanwhile.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(error) => return Err(IngestError::history("create directory", dir, error)),
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Makes the entries of `dir` (renames, removals, new files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(history("sync directory", dir))
}

/// The order of a file's rows, which decides how it is written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Order<'a> {
    /// As the windows closed (a commit's file, raw messages): the writer's defaults.
    Arrival,
    /// Sorted by these columns (a compacted file of windows): row groups of
    /// [`layout::SORTED_ROW_GROUP_ROWS`], float columns without dictionary, and the order
    /// recorded in the footer (`sorting_columns`).
    Sorted(&'a [&'a str]),
}

/// Writes `batches` as one zstd-compressed Parquet file `dir/name`: to `.name.tmp`, synced,
/// then renamed. The caller syncs `dir` once all of its files are written.
///
/// # Errors
/// [`IngestError::History`] naming the path; the temporary file is removed.
pub(crate) fn write_parquet(
    dir: &Path,
    name: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    order: Order<'_>,
    metadata: Vec<KeyValue>,
) -> Result<()> {
    let temp = dir.join(layout::temp_name(name));
    let result = write_temp(&temp, schema, batches, order, metadata).and_then(|()| {
        let target = dir.join(name);
        fs::rename(&temp, &target).map_err(history("rename into", &target))
    });
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_temp(
    temp: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    order: Order<'_>,
    metadata: Vec<KeyValue>,
) -> Result<()> {
    let file = File::create(temp).map_err(history("create", temp))?;
    let level = ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| parquet_error(temp, e))?;
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_key_value_metadata((!metadata.is_empty()).then_some(metadata));
    if let Order::Sorted(columns) = order {
        properties = properties
            .set_max_row_group_row_count(Some(layout::SORTED_ROW_GROUP_ROWS))
            .set_sorting_columns(Some(sorting_columns(schema, columns)));
        for field in schema.fields() {
            if matches!(field.data_type(), DataType::Float32 | DataType::Float64) {
                properties = properties
                    .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
            }
        }
    }
    let properties = properties.build();
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
        .map_err(|e| parquet_error(temp, e))?;
    for batch in batches {
        writer.write(batch).map_err(|e| parquet_error(temp, e))?;
    }
    let file = writer.into_inner().map_err(|e| parquet_error(temp, e))?;
    file.sync_all().map_err(history("sync", temp))
}

/// `columns` as the footer's sort order, ascending; a name not in `schema` is left out
/// (the order of the columns before it still holds).
fn sorting_columns(schema: &SchemaRef, columns: &[&str]) -> Vec<SortingColumn> {
    columns
        .iter()
        .map_while(|name| schema.index_of(name).ok())
        .filter_map(|index| i32::try_from(index).ok())
        .map(|column_idx| SortingColumn {
            column_idx,
            descending: false,
            nulls_first: false,
        })
        .collect()
}

/// Reads every row of a Parquet file.
pub(crate) fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(history("open", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .map_err(|e| parquet_error(path, e))?;
    let mut batches = Vec::new();
    for batch in reader {
        batches.push(batch.map_err(|e| IngestError::history("read", path, io::Error::other(e)))?);
    }
    Ok(batches)
}

/// Writes a small bookkeeping file atomically: `.name.tmp`, sync, rename, sync `dir`.
pub(crate) fn write_small(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let temp = write_small_temp(dir, name, bytes)?;
    let target = dir.join(name);
    let renamed = fs::rename(&temp, &target).map_err(history("rename into", &target));
    if renamed.is_err() {
        let _ = fs::remove_file(&temp);
    }
    renamed?;
    sync_dir(dir)
}

/// Like [`write_small`], but fails with `AlreadyExists` instead of replacing `name`: the
/// content appears whole and only if no one else holds the name (a lock with a payload).
pub(crate) fn create_small(dir: &Path, name: &str, bytes: &[u8]) -> Result<bool> {
    let temp = write_small_temp(dir, name, bytes)?;
    let target = dir.join(name);
    let linked = fs::hard_link(&temp, &target);
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(IngestError::history("create", target, error)),
    }
}

fn write_small_temp(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let temp = dir.join(layout::temp_name(name));
    let written = File::create(&temp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .map_err(history("write", &temp));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.map(|()| temp)
}

/// Removes a file; a missing one is fine (removal is how recovery is idempotent), and so
/// is a path whose parent is not a directory (the file cannot exist).
pub(crate) fn remove_if_present(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(IngestError::history("remove", path, error)),
    }
}

/// The names in `dir`, sorted; a missing directory has none.
pub(crate) fn list(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(IngestError::history("list", dir, error)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(history("list", dir))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Parquet reports I/O failures as `External(io::Error)`; keep those as they are so the
/// kind (disk full, permission) survives, and wrap encoder errors.
fn parquet_error(path: &Path, error: ParquetError) -> IngestError {
    let source = match error {
        ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        other => io::Error::other(other),
    };
    IngestError::history("write", path, source)
}

/// A bounded label for `stadtpuls_history_write_failures_total{reason}`.
pub(crate) fn failure_reason(error: &IngestError) -> &'static str {
    let IngestError::History { source, .. } = error else {
        return "encode";
    };
    match source.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => "disk_full",
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => "permission",
        io::ErrorKind::Other if source.raw_os_error().is_none() => "encode",
        _ => "io",
    }
}
