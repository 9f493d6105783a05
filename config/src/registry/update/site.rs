//! What an import writes and reports, the id rule for new rows, and the loop both
//! registry formats share (`csv_table.rs`, `geojson_doc.rs` implement [`Rows`]).

use std::collections::HashSet;

/// Longest registry id (as `check.rs` enforces).
pub(super) const MAX_ID_LEN: usize = 128;

/// A parking site, or a traffic measurement site, read from a partner's static
/// publication, ready for the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedSite {
    /// The id the partner's realtime feed uses for it (DATEX II record or measurement
    /// site id, ParkAPI `uid`, NGSI entity id): its `external_id`.
    pub external_id: String,
    /// What a new row's id is made from (the external id, an NGSI id without its
    /// `urn:ngsi-ld:<Type>:` prefix).
    pub id_stem: String,
    /// Display name, if the publication has one.
    pub name: Option<String>,
    /// Spaces, > 0, of a parking site; 0 for a traffic site (not written).
    pub capacity: u32,
    /// WGS84 latitude, degrees; `None` when the publication has no position (a DATEX II
    /// measurement site without `measurementSiteLocation`): then only a row that already
    /// names the site is updated, its position kept.
    pub lat: Option<f64>,
    /// WGS84 longitude, degrees (`None` as `lat`).
    pub lon: Option<f64>,
    /// For a traffic measurement site: its lanes and per-index external ids; `None`: a
    /// parking site.
    pub traffic: Option<TrafficSite>,
}

/// What a `traffic` row gets from a DATEX II measurement site table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSite {
    /// The highest lane number the site's indices name.
    pub lanes: u8,
    /// `<site>#<index>=<lane>` per mapped index, in index order (written into
    /// `external_id` in place of the row's other entries for this site).
    pub external_ids: Vec<String>,
}

impl ImportedSite {
    /// Its position, when it has one.
    pub fn position(&self) -> Option<(f64, f64)> {
        self.lat.zip(self.lon)
    }
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
    /// Sites not written, (external id, why): a new site without a position.
    pub skipped: Vec<(String, String)>,
}

/// Why a registry cannot be updated; the file is then left alone.
#[derive(Debug, thiserror::Error)]
pub enum RegistryUpdateError {
    /// The file is neither `.csv` nor `.geojson`/`.json`.
    #[error("`{}`: a registry ends in `.csv`, `.geojson` or `.json`", .0.display())]
    UnknownFormat(std::path::PathBuf),
    /// The existing GeoJSON cannot be read.
    #[error("cannot read the registry geojson: {0}")]
    GeoJson(String),
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
    Invalid(crate::error::ConfigErrors),
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

/// A registry's rows as an import sees them.
pub(super) trait Rows {
    /// The row (or feature) whose `external_id` lists `external_id`.
    fn row_of(&self, external_id: &str) -> Option<usize>;
    /// The registry id of `row`.
    fn id_of(&self, row: usize) -> String;
    /// Writes the site's name, position and (on a facility) capacity into `row`;
    /// returns the fields that changed.
    fn update(&mut self, row: usize, site: &ImportedSite) -> Vec<&'static str>;
    /// Appends a `parking_facility` (or, with [`ImportedSite::traffic`], a
    /// `traffic`) row for `site` with `id`; the site has a position.
    fn append(&mut self, id: &str, site: &ImportedSite);
    /// Every registry id, those appended included.
    fn ids(&self) -> &HashSet<String>;
}

/// What [`apply`] did: the changes, how many sites were already up to date, the sites
/// left out with the reason.
pub(super) type Applied = (Vec<RegistryChange>, usize, Vec<(String, String)>);

/// Applies `sites` to `rows`.
pub(super) fn apply(rows: &mut impl Rows, city_id: &str, sites: &[ImportedSite]) -> Applied {
    let mut changes = Vec::new();
    let mut unchanged = 0;
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    for site in sites {
        if !seen.insert(site.external_id.as_str()) {
            continue;
        }
        match rows.row_of(&site.external_id) {
            Some(row) => {
                let fields = rows.update(row, site);
                if fields.is_empty() {
                    unchanged += 1;
                } else {
                    changes.push(RegistryChange::Updated {
                        id: rows.id_of(row),
                        external_id: site.external_id.clone(),
                        fields,
                    });
                }
            }
            None if site.position().is_none() => skipped.push((
                site.external_id.clone(),
                "no position in the publication (no measurementSiteLocation coordinates) and no registry row names it: add a row with its lat, lon and `external_id` (the bare site id will do) and import again"
                    .to_owned(),
            )),
            None => {
                let id = generated_id(city_id, &site.id_stem, rows.ids());
                rows.append(&id, site);
                changes.push(RegistryChange::Added {
                    id,
                    external_id: site.external_id.clone(),
                });
            }
        }
    }
    (changes, unchanged, skipped)
}

/// A row's `external_id` cell with the traffic site's entries in place of its old ones
/// for that site (the bare id, `id#n`, `id#i=l`); other ids are kept, in their order.
pub(super) fn traffic_cell(cell: &str, site: &ImportedSite, traffic: &TrafficSite) -> String {
    let mut entries: Vec<String> = cell
        .split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty() && base_id(entry) != site.external_id)
        .map(str::to_owned)
        .collect();
    entries.extend(traffic.external_ids.iter().cloned());
    entries.join(";")
}

/// An `external_id` entry without its `#index` / `#index=lane` suffix.
pub(super) fn base_id(entry: &str) -> &str {
    match entry.rsplit_once('#') {
        Some((base, suffix))
            if !base.is_empty()
                && suffix
                    .split_once('=')
                    .map_or(suffix, |(index, _)| index)
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                && !suffix.is_empty()
                && !suffix.starts_with('=') =>
        {
            base
        }
        _ => entry,
    }
}
