//! Registry text → rows of optional text cells, for CSV and GeoJSON alike.
//!
//! Keeping every cell as text until `check.rs` means both formats share one set of
//! rules and messages; GeoJSON numbers are written back as their shortest decimal
//! form, which parses to the same `f64`.

use std::path::Path;
use std::str::FromStr;

use geojson::{FeatureCollection, GeometryValue};
use serde_json::Value;

use super::missing_columns;
use crate::error::{Errors, FILE_KEY};

/// Column / property names, in CSV header order.
pub(crate) const COLUMNS: [&str; 12] = [
    "id",
    "kind",
    "name",
    "lat",
    "lon",
    "lanes",
    "capacity",
    "free_flow_kmh",
    "facility_id",
    "site_class",
    "external_id",
    "facility_type",
];
const REQUIRED_COLUMNS: [&str; 4] = ["id", "kind", "lat", "lon"];
/// GeoJSON carries the position in the geometry, not in properties.
const PROPERTIES: [&str; 10] = [
    "id",
    "kind",
    "name",
    "lanes",
    "capacity",
    "free_flow_kmh",
    "facility_id",
    "site_class",
    "external_id",
    "facility_type",
];

/// Where a row came from, for error keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLocation {
    /// A CSV record, by its line in the file (the header is row 1).
    Row(u64),
    /// A GeoJSON feature, by its index in `features`.
    Feature(usize),
}

impl RowLocation {
    /// Returns the error key for `field` of this row: `row 18: lat` or `sensors[17].lat`.
    pub(crate) fn key(self, field: &str) -> String {
        match self {
            Self::Row(line) => format!("row {line}: {field}"),
            Self::Feature(index) => format!("sensors[{index}].{field}"),
        }
    }

    /// Returns the key for the row as a whole: `row 18` or `sensors[17]`.
    pub(crate) fn row_key(self) -> String {
        self.describe()
    }

    /// Returns how to refer to the row in a message: `row 18` or `sensors[17]`.
    pub(crate) fn describe(self) -> String {
        match self {
            Self::Row(line) => format!("row {line}"),
            Self::Feature(index) => format!("sensors[{index}]"),
        }
    }
}

/// One registry entry as written; `None` is an absent or empty cell.
///
/// Problems found while reading stay with the row, so that `check.rs` can report
/// them in file order together with the rule violations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawSensor {
    pub location: RowLocation,
    /// Cells in [`COLUMNS`] order.
    pub cells: [Option<String>; COLUMNS.len()],
    /// (field, message); the field is [`WHOLE_ROW`] when the row could not be read.
    pub problems: Vec<(String, String)>,
}

/// Field of a problem that makes the whole row unreadable.
pub(crate) const WHOLE_ROW: &str = "";
/// Field of a problem with a GeoJSON feature's position.
pub(crate) const GEOMETRY: &str = "geometry";

impl RawSensor {
    fn new(location: RowLocation) -> Self {
        Self {
            location,
            cells: Default::default(),
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push((field.to_owned(), message.into()));
    }

    /// Returns the error key of a problem `field` (see [`WHOLE_ROW`]).
    pub(crate) fn key(&self, field: &str) -> String {
        if field == WHOLE_ROW {
            self.location.row_key()
        } else {
            self.location.key(field)
        }
    }

    /// Returns the trimmed, non-empty cell of `column`.
    pub(crate) fn get(&self, column: &str) -> Option<&str> {
        let index = COLUMNS.iter().position(|name| *name == column)?;
        self.cells[index].as_deref()
    }

    fn set(&mut self, column: &str, value: &str) {
        let trimmed = value.trim();
        if let Some(index) = COLUMNS.iter().position(|name| *name == column) {
            self.cells[index] = (!trimmed.is_empty()).then(|| trimmed.to_owned());
        }
    }
}

/// Reads a CSV registry; `None` when not even the header is usable.
pub(crate) fn csv_rows(text: &str, file: &Path, errors: &mut Errors) -> Option<Vec<RawSensor>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(header) => header.iter().map(str::to_owned).collect(),
        Err(error) => {
            errors.push(
                file,
                "header",
                format!("cannot read the csv header: {error}"),
            );
            return None;
        }
    };
    if !check_header(&header, file, errors) {
        return None;
    }
    // Read flexibly and compare field counts here: a header lacking a column is
    // reported once (`missing_columns.rs`), not as a ragged row on every line.
    let mut records: Vec<(u64, Vec<String>)> = Vec::new();
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, csv::Position::line);
                records.push((line, record.iter().map(str::to_owned).collect()));
            }
            Err(error) => match error.position() {
                Some(position) => {
                    let mut row = RawSensor::new(RowLocation::Row(position.line()));
                    row.problem(WHOLE_ROW, csv_message(&error));
                    rows.push(row);
                }
                None => errors.push(file, FILE_KEY, csv_message(&error)),
            },
        }
    }
    let missing = missing_columns::find(&header, &records);
    if let Some(missing) = &missing {
        errors.push(file, "header", missing.message.clone());
    }
    for (line, cells) in records {
        let mut row = RawSensor::new(RowLocation::Row(line));
        let columns = if cells.len() == header.len() {
            &header
        } else if let Some(missing) = missing.as_ref().filter(|m| m.fields == cells.len()) {
            // Reported once above: checked with the named columns, else left out.
            match &missing.fitted {
                Some(fitted) => fitted,
                None => continue,
            }
        } else {
            let message = format!(
                "has {} fields, but the header has {}",
                cells.len(),
                header.len()
            );
            row.problem(WHOLE_ROW, message);
            rows.push(row);
            continue;
        };
        for (column, cell) in columns.iter().zip(&cells) {
            row.set(column, cell);
        }
        rows.push(row);
    }
    rows.sort_by_key(|row| match row.location {
        RowLocation::Row(line) => line,
        RowLocation::Feature(index) => index as u64,
    });
    Some(rows)
}

fn csv_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "is not valid utf-8".to_owned(),
        _ => format!("cannot read: {error}"),
    }
}

/// Reports unknown, duplicate and missing required columns; false if any.
fn check_header(header: &[String], file: &Path, errors: &mut Errors) -> bool {
    let mut ok = true;
    for (index, column) in header.iter().enumerate() {
        if !COLUMNS.contains(&column.as_str()) {
            errors.push(
                file,
                "header",
                format!("unknown column `{column}`, expected {}", COLUMNS.join(",")),
            );
            ok = false;
        } else if header[..index].contains(column) {
            errors.push(file, "header", format!("duplicate column `{column}`"));
            ok = false;
        }
    }
    for required in REQUIRED_COLUMNS {
        if !header.iter().any(|column| column == required) {
            errors.push(
                file,
                "header",
                format!("missing required column `{required}`"),
            );
            ok = false;
        }
    }
    ok
}

/// Reads a GeoJSON registry (a FeatureCollection of Point features); `None` when
/// the document is not one.
pub(crate) fn geojson_rows(text: &str, file: &Path, errors: &mut Errors) -> Option<Vec<RawSensor>> {
    let collection = match FeatureCollection::from_str(text) {
        Ok(collection) => collection,
        Err(error) => {
            let message = format!(
                "not a geojson FeatureCollection: {}",
                error.to_string().to_lowercase()
            );
            errors.push(file, FILE_KEY, message);
            return None;
        }
    };
    let mut rows = Vec::with_capacity(collection.features.len());
    for (index, feature) in collection.features.into_iter().enumerate() {
        let mut row = RawSensor::new(RowLocation::Feature(index));
        match feature.geometry.map(|geometry| geometry.value) {
            Some(GeometryValue::Point { coordinates }) => match coordinates.as_slice() {
                [lon, lat, ..] => {
                    row.set("lat", &lat.to_string());
                    row.set("lon", &lon.to_string());
                }
                _ => row.problem(GEOMETRY, "point needs [lon, lat] coordinates"),
            },
            Some(other) => row.problem(
                GEOMETRY,
                format!("geometry must be a Point, not a {}", other.type_name()),
            ),
            None => row.problem(GEOMETRY, "missing point geometry"),
        }
        for (name, value) in feature.properties.unwrap_or_default() {
            if !PROPERTIES.contains(&name.as_str()) {
                let message = format!(
                    "unknown property `{name}`, expected {}",
                    PROPERTIES.join(", ")
                );
                row.problem(&name, message);
                continue;
            }
            match value {
                Value::Null => {}
                Value::String(text) => row.set(&name, &text),
                Value::Number(number) => row.set(&name, &number.to_string()),
                other => row.problem(
                    &name,
                    format!("expected a string or number, found `{other}`"),
                ),
            }
        }
        rows.push(row);
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_trimmed_and_empty_means_absent() {
        let text = "id,kind,lat,lon,lanes\n a-t-1 ,traffic,48.1,9.9,\n";
        let mut errors = Errors::default();
        let rows = csv_rows(text, Path::new("a.csv"), &mut errors).unwrap_or_default();
        assert!(errors.is_empty());
        assert_eq!(rows[0].get("id"), Some("a-t-1"));
        assert_eq!(rows[0].get("lanes"), None);
        assert_eq!(rows[0].location, RowLocation::Row(2));
    }

    #[test]
    fn csv_header_problems_are_all_reported() {
        let mut errors = Errors::default();
        let rows = csv_rows("id,kind,lat,lat,color\n", Path::new("a.csv"), &mut errors);
        assert!(rows.is_none());
        let messages: Vec<String> = errors.into_vec().into_iter().map(|e| e.message).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("duplicate column `lat`"));
        assert!(messages[1].contains("unknown column `color`"));
        assert!(messages[2].contains("missing required column `lon`"));
    }

    #[test]
    fn ragged_csv_row_is_reported_by_line() {
        let mut errors = Errors::default();
        let rows = csv_rows(
            "id,kind,lat,lon\na,traffic,1,2\nb,traffic\n",
            Path::new("a.csv"),
            &mut errors,
        )
        .unwrap_or_default();
        assert!(errors.is_empty());
        assert_eq!(rows[1].key(&rows[1].problems[0].0), "row 3");
        assert!(
            rows[1].problems[0]
                .1
                .contains("has 2 fields, but the header has 4")
        );
    }

    #[test]
    fn geojson_points_become_rows() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[9.17,47.66]},
             "properties":{"id":"k-t-1","kind":"traffic","lanes":2,"name":null}},
            {"type":"Feature","geometry":{"type":"LineString","coordinates":[[9.1,47.6],[9.2,47.7]]},
             "properties":{"id":"k-t-2","kind":"traffic","colour":"red","lanes":true}}]}"#;
        let mut errors = Errors::default();
        let rows = geojson_rows(text, Path::new("k.geojson"), &mut errors).unwrap_or_default();
        assert_eq!(rows[0].get("lat"), Some("47.66"));
        assert_eq!(rows[0].get("lon"), Some("9.17"));
        assert_eq!(rows[0].get("lanes"), Some("2"));
        assert_eq!(rows[0].get("name"), None);
        assert!(errors.is_empty());
        let keys: Vec<String> = rows[1]
            .problems
            .iter()
            .map(|(field, _)| rows[1].key(field))
            .collect();
        assert_eq!(
            keys,
            [
                "sensors[1].geometry",
                "sensors[1].colour",
                "sensors[1].lanes"
            ]
        );
    }

    #[test]
    fn non_collection_geojson_is_a_file_error() {
        let mut errors = Errors::default();
        assert!(
            geojson_rows(
                "{\"type\":\"Point\",\"coordinates\":[1,2]}",
                Path::new("k.geojson"),
                &mut errors
            )
            .is_none()
        );
        assert_eq!(errors.into_vec()[0].key, FILE_KEY);
    }
}
