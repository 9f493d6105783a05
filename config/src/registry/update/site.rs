//! What an import writes and reports, the id rule for new rows, and the loop both
//! registry formats share (`csv_table.rs`, `geojson_doc.rs` implement [`Rows`]).

use std::collections::HashSet;

/// Longest registry id (as `check.rs` enforces).
pub(super) const MAX_ID_LEN: usize = 128;

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
    /// Appends a `parking_facility` row for `site` with `id`.
    fn append(&mut self, id: &str, site: &ImportedSite);
    /// Every registry id, those appended included.
    fn ids(&self) -> &HashSet<String>;
}

/// Applies `sites` to `rows`: (the changes, how many sites were already up to date).
pub(super) fn apply(
    rows: &mut impl Rows,
    city_id: &str,
    sites: &[ImportedSite],
) -> (Vec<RegistryChange>, usize) {
    let mut changes = Vec::new();
    let mut unchanged = 0;
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
    (changes, unchanged)
}
