//! Writing partner sites into a registry (`stadtpuls registry import`): rows matched by
//! `external_id` are updated in place, new sites appended with a generated id, every other
//! byte of the file left as it was, so that the diff a city reviews shows only the import.
//!
//! The sites come from a partner's static publication (read in `stadtpuls-ingest`,
//! `import.rs`); this module only knows the registry's side: `update/site.rs` the types,
//! the id rule and the loop, `update/csv_table.rs` and `update/geojson_doc.rs` the formats.

mod csv_table;
mod geojson_doc;
mod site;

use std::path::Path;

pub use site::{
    ImportedSite, RegistryChange, RegistryUpdate, RegistryUpdateError, TrafficSite, generated_id,
};

use super::parse_registry;
use crate::fields::{RegistryFormat, registry_format};
use crate::model::{CityConfig, RegistrySource, SharePolicy};

/// Applies `sites` to the registry `file` of city `city_id` whose current text is
/// `existing` (`None` or blank: a new registry). The format follows the extension of
/// `file`, as for `[[cities]] registry`.
///
/// A row (GeoJSON: feature) whose `external_id` lists a site's external id (bare or
/// with an `#index`) gets the site's name, position and (on a `parking_facility`)
/// capacity, a traffic site's `lanes` and per-index `external_id`s; any other site
/// becomes a new `parking_facility` (`traffic`) with id [`generated_id`], unless
/// it has no position (then it is in [`RegistryUpdate::skipped`]). The result is validated as
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
    let format = registry_format(file)
        .ok_or_else(|| RegistryUpdateError::UnknownFormat(file.to_path_buf()))?;
    let existing = existing.filter(|text| !text.trim().is_empty());
    let (text, (changes, unchanged, skipped), (lat, lon)) = match format {
        RegistryFormat::Csv => {
            let fresh = format!("{}\n", csv_table::NEW_HEADER);
            let original = existing.unwrap_or(&fresh);
            let mut table = csv_table::Table::read(original)?;
            let applied = site::apply(&mut table, city_id, sites);
            let text = table.render(original);
            let centre = csv_table::centre(&text);
            (text, applied, centre)
        }
        RegistryFormat::GeoJson => {
            let original = existing.unwrap_or(geojson_doc::NEW_DOCUMENT);
            let mut doc = geojson_doc::Doc::read(original)?;
            let applied = site::apply(&mut doc, city_id, sites);
            let centre = doc.centre();
            (doc.render(original), applied, centre)
        }
    };
    let city = CityConfig {
        id: city_id.to_owned(),
        name: city_id.to_owned(),
        timezone: chrono_tz::UTC,
        lat,
        lon,
        registry: RegistrySource::File(file.to_path_buf()),
        zones: None,
        share: SharePolicy::default(),
        feeds: Vec::new(),
        pull: Vec::new(),
        admit_unmapped_facilities: false,
    };
    parse_registry(&city, file, &text).map_err(|mut errors| {
        // Why a site is missing from the result, where that explains the refusal
        // (e.g. the only site of a new registry had no position).
        errors.0.extend(skipped.iter().map(|(site, reason)| {
            crate::error::ConfigError::new(file, format!("site `{site}`"), reason.clone())
        }));
        RegistryUpdateError::Invalid(errors)
    })?;
    Ok(RegistryUpdate {
        text,
        changes,
        unchanged,
        skipped,
    })
}

#[cfg(test)]
mod tests;
