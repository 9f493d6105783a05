//! The CSV side of an import: records with their byte offsets, so unchanged rows are
//! copied as they were and a changed row keeps its line endings.

use std::collections::{HashMap, HashSet};

use super::site::{ImportedSite, RegistryUpdateError, Rows, base_id, traffic_cell};
use crate::registry::SensorKind;

/// Columns of a registry written from scratch.
pub(super) const NEW_HEADER: &str = "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id";

/// The mean position of the rows: the registry's own centre, since the city's is not
/// known to the import.
pub(super) fn centre(text: &str) -> (f64, f64) {
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
    /// Only needed to import traffic sites: not in [`Col::ALL`].
    Lanes,
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
            Col::Lanes => "lanes",
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
pub(super) struct Table {
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
    pub(super) fn read(text: &str) -> Result<Self, RegistryUpdateError> {
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
        if let Some(index) = header.iter().position(|c| c == Col::Lanes.name()) {
            columns.insert(Col::Lanes, index);
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
                // `site#5=1` names the row of `site` too (a re-import of a traffic site).
                table.external.entry(base_id(&id).to_owned()).or_insert(row);
                table.external.entry(id).or_insert(row);
            }
        }
        Ok(table)
    }

    fn cell(&self, row: usize, col: Col) -> &str {
        self.columns
            .get(&col)
            .map_or("", |index| self.rows[row].cells[*index].trim())
    }

    /// The new text: `original` with changed rows rewritten (their line endings kept)
    /// and new rows at the end.
    pub(super) fn render(&self, original: &str) -> String {
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

impl Rows for Table {
    fn row_of(&self, external_id: &str) -> Option<usize> {
        self.external.get(external_id).copied()
    }

    fn update(&mut self, row: usize, site: &ImportedSite) -> Vec<&'static str> {
        let facility = self.cell(row, Col::Kind) == SensorKind::ParkingFacility.as_str();
        let mut fields = Vec::new();
        if let Some(name) = &site.name
            && self.cell(row, Col::Name) != name.trim()
        {
            fields.push((Col::Name, name.trim().to_owned()));
        }
        if let Some((lat, lon)) = site.position() {
            if self.cell(row, Col::Lat).parse::<f64>().ok() != Some(lat) {
                fields.push((Col::Lat, lat.to_string()));
            }
            if self.cell(row, Col::Lon).parse::<f64>().ok() != Some(lon) {
                fields.push((Col::Lon, lon.to_string()));
            }
        }
        // A spot's or sensor's capacity is not the site's (a spot row mapped by the id of
        // a one-space record keeps its kind).
        if facility
            && site.traffic.is_none()
            && self.cell(row, Col::Capacity).parse::<u32>().ok() != Some(site.capacity)
        {
            fields.push((Col::Capacity, site.capacity.to_string()));
        }
        if let Some(traffic) = &site.traffic {
            if self.cell(row, Col::Lanes).parse::<u8>().ok() != Some(traffic.lanes) {
                fields.push((Col::Lanes, traffic.lanes.to_string()));
            }
            let cell = traffic_cell(self.cell(row, Col::ExternalId), site, traffic);
            if self.cell(row, Col::ExternalId) != cell {
                fields.push((Col::ExternalId, cell));
            }
        }
        let mut names = Vec::with_capacity(fields.len());
        for (col, value) in fields {
            let Some(&index) = self.columns.get(&col) else {
                continue;
            };
            self.rows[row].cells[index] = value;
            self.rows[row].changed = true;
            names.push(col.name());
        }
        names
    }

    fn append(&mut self, id: &str, site: &ImportedSite) {
        let mut cells = vec![String::new(); self.width];
        let mut set = |col: Col, value: String| {
            if let Some(&index) = self.columns.get(&col) {
                cells[index] = value;
            }
        };
        let (lat, lon) = site.position().unwrap_or_default();
        set(Col::Id, id.to_owned());
        set(Col::Name, site.name.clone().unwrap_or_default());
        set(Col::Lat, lat.to_string());
        set(Col::Lon, lon.to_string());
        match &site.traffic {
            None => {
                set(Col::Kind, SensorKind::ParkingFacility.as_str().to_owned());
                set(Col::Capacity, site.capacity.to_string());
                set(Col::ExternalId, site.external_id.clone());
            }
            Some(traffic) => {
                set(Col::Kind, SensorKind::Traffic.as_str().to_owned());
                set(Col::Lanes, traffic.lanes.to_string());
                set(Col::ExternalId, traffic.external_ids.join(";"));
            }
        }
        // Not added to `external`: `apply` writes each external id once.
        self.ids.insert(id.to_owned());
        self.appended.push(cells);
    }

    fn id_of(&self, row: usize) -> String {
        self.cell(row, Col::Id).to_owned()
    }

    fn ids(&self) -> &HashSet<String> {
        &self.ids
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
