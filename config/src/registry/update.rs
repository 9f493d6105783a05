//! Writing partner sites into a registry CSV (`stadtpuls registry import`): rows matched by
//! `external_id` are updated in place, new sites appended with a generated id, every other
//! byte of the file left as it was, so that the diff a city reviews shows only the import.
//!
//! The sites come from a partner's static publication (read in `stadtpuls-ingest`,
//! `import.rs`); this module only knows the registry's side.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{SensorKind, parse_registry};
use crate::error::ConfigErrors;
use crate::model::{CityConfig, RegistrySource, Share};

/// Columns of a registry written from scratch.
const NEW_HEADER: &str = "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id";
/// Longest registry id (as `check.rs` enforces).
const MAX_ID_LEN: usize = 128;

/// A parking site read from a partner's static publication, ready for the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedSite {
    /// The id the partner's realtime feed uses for it (DATEX II record id, ParkAPI `uid`,
    /// NGSI entity id): its `external_id`.
    pub external_id: String,
    /// What a new row's id is made from (the external id, an NGSI id without its
    /// `urn:ngsi-ld:<Type>:` prefix).
    pub id_stem: String,
    /// Display name, if the publication has one.
    pub name: Option<String>,
    /// Spaces, > 0.
    pub capacity: u32,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// WGS84 longitude, degrees.
    pub lon: f64,
}

/// One row the import adds or changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryChange {
    /// A new `parking_facility` row.
    Added {
        /// Its generated registry id.
        id: String,
        /// The site's external id.
        external_id: String,
    },
    /// An existing row whose `external_id` names the site.
    Updated {
        /// The row's registry id (kept).
        id: String,
        /// The site's external id.
        external_id: String,
        /// The columns that changed, e.g. `capacity`.
        fields: Vec<&'static str>,
    },
}

/// The registry after an import, not yet written.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryUpdate {
    /// The whole new file.
    pub text: String,
    /// Rows added or changed, in the order of the sites.
    pub changes: Vec<RegistryChange>,
    /// Sites whose row already holds the same values.
    pub unchanged: usize,
}

/// Why a registry cannot be updated; the file is then left alone.
#[derive(Debug, thiserror::Error)]
pub enum RegistryUpdateError {
    /// Only CSV registries are updated in place.
    #[error(
        "`{}`: registry import writes csv registries (a .csv file); convert a geojson registry or import into a new .csv",
        .0.display()
    )]
    NotCsv(std::path::PathBuf),
    /// The existing CSV cannot be read.
    #[error("cannot read the registry csv: {0}")]
    Csv(String),
    /// The header lacks a column the import writes.
    #[error(
        "the registry header lacks column `{0}`: add it (an empty cell on every row) and import again"
    )]
    MissingColumn(&'static str),
    /// The result would not pass `stadtpuls config check` (often: the registry had
    /// problems before the import).
    #[error("the updated registry would not pass validation, nothing written:\n{0}")]
    Invalid(ConfigErrors),
}

/// Applies `sites` to the registry `file` of city `city_id` whose current text is
/// `existing` (`None` or empty: a new registry).
///
/// A row whose `external_id` lists a site's external id gets the site's name, position
/// and (on a `parking_facility` row) capacity; any other site becomes a new
/// `parking_facility` row with id [`generated_id`]. The result is validated as
/// `stadtpuls config check` would, with the centre of the registry's positions standing
/// in for the city centre.
///
/// # Errors
///
/// See [`RegistryUpdateError`].
pub fn update_registry(
    file: &Path,
    existing: Option<&str>,
    city_id: &str,
    sites: &[ImportedSite],
) -> Result<RegistryUpdate, RegistryUpdateError> {
    if !file
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        return Err(RegistryUpdateError::NotCsv(file.to_path_buf()));
    }
    let fresh;
    let text = match existing.filter(|text| !text.trim().is_empty()) {
        Some(text) => text,
        None => {
            fresh = format!("{NEW_HEADER}\n");
            &fresh
        }
    };
    let mut table = Table::read(text)?;
    let mut changes = Vec::new();
    let mut unchanged = 0;
    let mut seen = HashSet::new();
    for site in sites {
        if !seen.insert(site.external_id.as_str()) {
            continue;
        }
        match table.row_of(&site.external_id) {
            Some(row) => {
                let fields = table.update(row, site);
                if fields.is_empty() {
                    unchanged += 1;
                } else {
                    changes.push(RegistryChange::Updated {
                        id: table.cell(row, Col::Id).to_owned(),
                        external_id: site.external_id.clone(),
                        fields,
                    });
                }
            }
            None => {
                let id = generated_id(city_id, &site.id_stem, &table.ids);
                table.append(&id, site);
                changes.push(RegistryChange::Added {
                    id,
                    external_id: site.external_id.clone(),
                });
            }
        }
    }
    let text = table.render(text);
    validate(file, city_id, &text)?;
    Ok(RegistryUpdate {
        text,
        changes,
        unchanged,
    })
}

/// The id of a new row: `<city>-<stem>`, the stem lowercased with every run of
/// characters other than `a-z`/`0-9` turned into one `-` (Aachen's `P1` →
/// `aachen-p1`), at most 128 characters; `-2`, `-3`, … when taken.
pub fn generated_id(city_id: &str, stem: &str, taken: &HashSet<String>) -> String {
    let mut slug = String::new();
    for c in stem.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "site" } else { slug };
    let mut base = format!("{city_id}-{slug}");
    // Room for a `-NNN` suffix; the id is ASCII, so any byte is a char boundary.
    base.truncate(MAX_ID_LEN - 4);
    let base = base.trim_end_matches('-').to_owned();
    if !taken.contains(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken.contains(id))
        .unwrap_or(base)
}

fn validate(file: &Path, city_id: &str, text: &str) -> Result<(), RegistryUpdateError> {
    let (lat, lon) = centre(text);
    let city = CityConfig {
        id: city_id.to_owned(),
        name: city_id.to_owned(),
        timezone: chrono_tz::UTC,
        lat,
        lon,
        registry: RegistrySource::File(file.to_path_buf()),
        zones: None,
        share: Share::Private,
        feeds: Vec::new(),
    };
    parse_registry(&city, file, text)
        .map(|_| ())
        .map_err(RegistryUpdateError::Invalid)
}

/// The mean position of the rows: the registry's own centre, since the city's is not
/// known to the import.
fn centre(text: &str) -> (f64, f64) {
    let Ok(table) = Table::read(text) else {
        return (0.0, 0.0);
    };
    let mut sum = (0.0, 0.0, 0u32);
    for row in 0..table.rows.len() {
        let lat = table.cell(row, Col::Lat).parse::<f64>();
        let lon = table.cell(row, Col::Lon).parse::<f64>();
        if let (Ok(lat), Ok(lon)) = (lat, lon) {
            sum = (sum.0 + lat, sum.1 + lon, sum.2 + 1);
        }
    }
    match sum.2 {
        0 => (0.0, 0.0),
        n => (sum.0 / f64::from(n), sum.1 / f64::from(n)),
    }
}

/// The columns the import reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Col {
    Id,
    Kind,
    Name,
    Lat,
    Lon,
    Capacity,
    ExternalId,
}

impl Col {
    const ALL: [Col; 7] = [
        Col::Id,
        Col::Kind,
        Col::Name,
        Col::Lat,
        Col::Lon,
        Col::Capacity,
        Col::ExternalId,
    ];

    fn name(self) -> &'static str {
        match self {
            Col::Id => "id",
            Col::Kind => "kind",
            Col::Name => "name",
            Col::Lat => "lat",
            Col::Lon => "lon",
            Col::Capacity => "capacity",
            Col::ExternalId => "external_id",
        }
    }
}

/// One CSV record: where it starts in the text and its cells.
struct Row {
    start: usize,
    cells: Vec<String>,
    changed: bool,
}

/// The registry as records with their byte offsets, so unchanged rows are copied as
/// they were.
struct Table {
    /// Bytes before the header (a UTF-8 BOM).
    offset: usize,
    header_len: usize,
    /// Cells per row: the header's.
    width: usize,
    columns: HashMap<Col, usize>,
    rows: Vec<Row>,
    appended: Vec<Vec<String>>,
    /// external id → row.
    external: HashMap<String, usize>,
    /// Every row's id, and those generated.
    ids: HashSet<String>,
    terminator: &'static str,
}

impl Table {
    fn read(text: &str) -> Result<Self, RegistryUpdateError> {
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        let offset = text.len() - body.len();
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(body.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| RegistryUpdateError::Csv(e.to_string()))?
            .iter()
            .map(|c| c.trim().to_owned())
            .collect();
        let mut columns = HashMap::new();
        for col in Col::ALL {
            let index = header
                .iter()
                .position(|c| c == col.name())
                .ok_or(RegistryUpdateError::MissingColumn(col.name()))?;
            columns.insert(col, index);
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| RegistryUpdateError::Csv(e.to_string()))?;
            let start = record.position().map_or(0, |p| p.byte() as usize);
            let mut cells: Vec<String> = record.iter().map(str::to_owned).collect();
            cells.resize(header.len().max(cells.len()), String::new());
            rows.push(Row {
                start: offset + start,
                cells,
                changed: false,
            });
        }
        let header_len = rows.first().map_or(text.len(), |row| row.start);
        let terminator = if body.split('\n').next().is_some_and(|l| l.ends_with('\r')) {
            "\r\n"
        } else {
            "\n"
        };
        let mut table = Self {
            offset,
            header_len,
            width: header.len(),
            columns,
            rows,
            appended: Vec::new(),
            external: HashMap::new(),
            ids: HashSet::new(),
            terminator,
        };
        for row in 0..table.rows.len() {
            table.ids.insert(table.cell(row, Col::Id).to_owned());
            let ids: Vec<String> = table
                .cell(row, Col::ExternalId)
                .split(';')
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect();
            for id in ids {
                table.external.entry(id).or_insert(row);
            }
        }
        Ok(table)
    }

    fn cell(&self, row: usize, col: Col) -> &str {
        self.rows[row].cells[self.columns[&col]].trim()
    }

    fn row_of(&self, external_id: &str) -> Option<usize> {
        self.external.get(external_id).copied()
    }

    /// Writes the site's values into `row`; returns the columns that changed.
    fn update(&mut self, row: usize, site: &ImportedSite) -> Vec<&'static str> {
        let facility = self.cell(row, Col::Kind) == SensorKind::ParkingFacility.as_str();
        let mut fields = Vec::new();
        if let Some(name) = &site.name
            && self.cell(row, Col::Name) != name.trim()
        {
            fields.push((Col::Name, name.trim().to_owned()));
        }
        if self.cell(row, Col::Lat).parse::<f64>().ok() != Some(site.lat) {
            fields.push((Col::Lat, site.lat.to_string()));
        }
        if self.cell(row, Col::Lon).parse::<f64>().ok() != Some(site.lon) {
            fields.push((Col::Lon, site.lon.to_string()));
        }
        // A spot's or sensor's capacity is not the site's (a spot row mapped by the id of
        // a one-space record keeps its kind).
        if facility && self.cell(row, Col::Capacity).parse::<u32>().ok() != Some(site.capacity) {
            fields.push((Col::Capacity, site.capacity.to_string()));
        }
        let mut names = Vec::with_capacity(fields.len());
        for (col, value) in fields {
            let index = self.columns[&col];
            self.rows[row].cells[index] = value;
            self.rows[row].changed = true;
            names.push(col.name());
        }
        names
    }

    fn append(&mut self, id: &str, site: &ImportedSite) {
        let mut cells = vec![String::new(); self.width];
        let mut set = |col: Col, value: String| cells[self.columns[&col]] = value;
        set(Col::Id, id.to_owned());
        set(Col::Kind, SensorKind::ParkingFacility.as_str().to_owned());
        set(Col::Name, site.name.clone().unwrap_or_default());
        set(Col::Lat, site.lat.to_string());
        set(Col::Lon, site.lon.to_string());
        set(Col::Capacity, site.capacity.to_string());
        set(Col::ExternalId, site.external_id.clone());
        self.ids.insert(id.to_owned());
        self.external
            .insert(site.external_id.clone(), self.rows.len() + self.appended.len());
        self.appended.push(cells);
    }

    /// The new text: `original` with changed rows rewritten (their line endings kept)
    /// and new rows at the end.
    fn render(&self, original: &str) -> String {
        let mut out = String::with_capacity(original.len() + 128 * self.appended.len());
        out.push_str(&original[..self.header_len.max(self.offset)]);
        for (index, row) in self.rows.iter().enumerate() {
            let end = self
                .rows
                .get(index + 1)
                .map_or(original.len(), |next| next.start);
            let slice = &original[row.start..end];
            if row.changed {
                // The csv reader may place a record's start on the `\n` of a CRLF
                // before it: line breaks on either side are kept as they were.
                let content = slice.trim_start_matches(['\r', '\n']);
                let lead = slice.len() - content.len();
                let trail = content.trim_end_matches(['\r', '\n']).len();
                out.push_str(&slice[..lead]);
                out.push_str(&record(&row.cells));
                out.push_str(&content[trail..]);
            } else {
                out.push_str(slice);
            }
        }
        if !self.appended.is_empty() && !out.ends_with('\n') {
            out.push_str(self.terminator);
        }
        for cells in &self.appended {
            out.push_str(&record(cells));
            out.push_str(self.terminator);
        }
        out
    }
}

/// One CSV record without its line ending, quoted where a cell needs it.
fn record(cells: &[String]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail; a failure would leave the row empty and the
    // validation after it would report the row.
    let _ = writer.write_record(cells);
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_owned()
}

#[cfg(test)]
mod tests;
