//! Results as the doors hand them out: JSON, CSV, Arrow IPC stream, Parquet, or a text
//! table for the terminal.
//!
//! JSON is `{"columns": [{"name", "type"}], "rows": [{column: value}], "row_count": n}`:
//! rows are objects with every column present (nulls explicit), timestamps as RFC 3339
//! strings, so a client needs no schema to read it but has one when it wants it.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::{self, writer::JsonArray};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::ArrowWriter;
use serde::Serialize;
use serde_json::value::RawValue;

use super::QueryResult;
use crate::error::SqlError;

/// Media type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
/// Media type of CSV.
pub const CSV: &str = "text/csv";
/// Media type of JSON.
pub const JSON: &str = "application/json";

fn encode_error(what: &str, error: impl std::fmt::Display) -> SqlError {
    SqlError::Internal(format!("cannot encode the result as {what}: {error}"))
}

#[derive(Serialize)]
struct Column {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
}

#[derive(Serialize)]
struct JsonResult<'a> {
    columns: Vec<Column>,
    rows: &'a RawValue,
    row_count: usize,
}

/// The rows as a JSON array of objects.
fn json_rows(result: &QueryResult) -> Result<Vec<u8>, SqlError> {
    let mut writer = json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::new());
    let batches: Vec<&RecordBatch> = result.batches.iter().collect();
    writer
        .write_batches(&batches)
        .map_err(|e| encode_error("JSON", e))?;
    writer.finish().map_err(|e| encode_error("JSON", e))?;
    let mut rows = writer.into_inner();
    if rows.is_empty() {
        rows.extend_from_slice(b"[]");
    }
    Ok(rows)
}

/// `{"columns": …, "rows": …, "row_count": …}`.
pub fn to_json(result: &QueryResult) -> Result<Vec<u8>, SqlError> {
    let rows = json_rows(result)?;
    let rows = std::str::from_utf8(&rows).map_err(|e| encode_error("JSON", e))?;
    let rows = RawValue::from_string(rows.to_owned()).map_err(|e| encode_error("JSON", e))?;
    let body = JsonResult {
        columns: result
            .schema
            .fields()
            .iter()
            .map(|f| Column {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
            })
            .collect(),
        rows: &rows,
        row_count: result.num_rows(),
    };
    serde_json::to_vec(&body).map_err(|e| encode_error("JSON", e))
}

/// Only the rows, as a JSON array of objects (the CLI's `--format json`).
pub fn to_json_rows(result: &QueryResult) -> Result<Vec<u8>, SqlError> {
    json_rows(result)
}

/// CSV with a header line.
pub fn to_csv(result: &QueryResult) -> Result<Vec<u8>, SqlError> {
    let mut out = Vec::new();
    {
        let mut writer = csv::WriterBuilder::new().with_header(true).build(&mut out);
        if result.batches.is_empty() {
            writer
                .write(&RecordBatch::new_empty(result.schema.clone()))
                .map_err(|e| encode_error("CSV", e))?;
        }
        for batch in &result.batches {
            writer.write(batch).map_err(|e| encode_error("CSV", e))?;
        }
    }
    Ok(out)
}

/// An Arrow IPC stream (schema, then the batches).
pub fn to_arrow_stream(result: &QueryResult) -> Result<Vec<u8>, SqlError> {
    let mut out = Vec::new();
    {
        let mut writer = StreamWriter::try_new(&mut out, &result.schema)
            .map_err(|e| encode_error("Arrow IPC", e))?;
        for batch in &result.batches {
            writer
                .write(batch)
                .map_err(|e| encode_error("Arrow IPC", e))?;
        }
        writer.finish().map_err(|e| encode_error("Arrow IPC", e))?;
    }
    Ok(out)
}

/// A Parquet file (the CLI's `--format parquet`).
pub fn to_parquet(result: &QueryResult) -> Result<Vec<u8>, SqlError> {
    let mut out = Vec::new();
    {
        let mut writer = ArrowWriter::try_new(&mut out, result.schema.clone(), None)
            .map_err(|e| encode_error("Parquet", e))?;
        for batch in &result.batches {
            writer
                .write(batch)
                .map_err(|e| encode_error("Parquet", e))?;
        }
        writer.close().map_err(|e| encode_error("Parquet", e))?;
    }
    Ok(out)
}

/// A text table for the terminal, with the row count under it.
pub fn to_table(result: &QueryResult) -> Result<String, SqlError> {
    let table = if result.batches.is_empty() {
        pretty_format_batches(&[RecordBatch::new_empty(result.schema.clone())])
    } else {
        pretty_format_batches(&result.batches)
    }
    .map_err(|e| encode_error("a table", e))?;
    let rows = result.num_rows();
    Ok(format!(
        "{table}\n{rows} row{}\n",
        if rows == 1 { "" } else { "s" }
    ))
}
