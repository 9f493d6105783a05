//! `stadtpuls registry import`: a partner's static publication into a city's registry.
//! Reading is `stadtpuls_ingest::import`, writing `stadtpuls_config::update_registry`;
//! this file reads the files, prints the summary and writes the result.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use clap::ValueEnum;
use stadtpuls_config::{ImportedSite, RegistryChange, update_registry};
use stadtpuls_ingest::import::{self, SourceFormat};

/// Build or update a city's sensor registry (CSV or GeoJSON) from a partner's static
/// parking data or traffic measurement sites.
///
/// SOURCE is one of:
///
///   - a DATEX II 2.3 ParkingTablePublication (as German cities publish on Mobilithek /
///     MDM) or the older MDM parkingFacilityTablePublication;
///   - a DATEX II 2.3 MeasurementSiteTablePublication (e.g. NDW's, SOAP-wrapped or not):
///     each measurementSiteRecord becomes a `traffic` row, lanes = its highest lane,
///     external_id = `<site>#<index>=<lane>` per flow/speed index of a vehicle class (a
///     lane's anyVehicle total is left out when its classes are there: the decoder sums
///     the classes); a site without measurementSiteLocation coordinates only updates a
///     row that already names it (its position kept), else it is skipped;
///   - a ParkAPI v3 static parking-site list (`{"items": [...]}`), array or single site;
///   - FIWARE NGSI-LD / NGSI v2 entities of type OffStreetParking, OnStreetParking or
///     ParkingGroup (one entity, an array or a notification).
///
/// Each site becomes a `parking_facility` row: its id in the feed (DATEX II record id,
/// ParkAPI `uid`, NGSI entity `id`) as `external_id`, so that the partner's realtime
/// status maps to it; its name, capacity and WGS84 position.
///
/// A row whose `external_id` already lists the site is updated (name, position,
/// capacity); any other site is appended (a row, or a Point feature) with the id
/// `<city>-<external id in lower case, other characters as '-'>` (e.g. `aachen-p1`;
/// `-2`, `-3` if taken). Nothing else in the file changes. Records without an id,
/// without WGS84 coordinates (UTM metres need --utm-zone) or without a whole capacity
/// above 0 are listed with the reason and skipped; the rest is imported. The result is
/// checked like `stadtpuls config check` checks registries; if it would not pass,
/// nothing is written.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ImportArgs {
    /// The partner's static publication (XML or JSON file).
    pub source: PathBuf,
    /// The registry to update, `.csv` or `.geojson` (as `[[cities]] registry`); created
    /// if it does not exist.
    #[arg(long, value_name = "FILE")]
    pub registry: PathBuf,
    /// The city's id (its `[[cities]] id`): new rows' ids start with it.
    #[arg(long, value_name = "ID")]
    pub city: String,
    /// Format of SOURCE; by default told from its content (XML: datex2; JSON with
    /// `items` or `uid`: parkapi; other JSON: ngsi).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Positions in SOURCE given in UTM metres (northern hemisphere; northing as
    /// latitude, easting as longitude) are in this zone, e.g. 32 for ETRS89 / UTM 32N
    /// (EPSG:25832), which Stadt Stuttgart's MDM table uses; they are converted to WGS84.
    /// Without it such records are skipped.
    #[arg(long, value_name = "ZONE", value_parser = clap::value_parser!(u8).range(1..=60))]
    pub utm_zone: Option<u8>,
    /// Print what would be added, updated and skipped; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// DATEX II 2.3 ParkingTablePublication or MDM parkingFacilityTablePublication.
    Datex2,
    /// ParkAPI v3 static parking sites.
    Parkapi,
    /// FIWARE NGSI-LD / NGSI v2 parking entities.
    Ngsi,
}

impl From<FormatArg> for SourceFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Datex2 => SourceFormat::Datex2,
            FormatArg::Parkapi => SourceFormat::ParkApi,
            FormatArg::Ngsi => SourceFormat::Ngsi,
        }
    }
}

impl ImportArgs {
    /// Reads, merges, prints the summary and (unless `--dry-run`) writes.
    pub fn run(self) -> anyhow::Result<()> {
        ensure!(
            !self.city.is_empty()
                && self.city.len() <= 64
                && self
                    .city
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "--city `{}` is not a city id (a-z, 0-9 and '-', at most 64 characters)",
            self.city
        );
        let payload = std::fs::read(&self.source)
            .with_context(|| format!("cannot read {}", self.source.display()))?;
        let options = import::Options {
            format: self.format.map(SourceFormat::from),
            utm_zone: self.utm_zone,
        };
        let imported = import::read_with(&payload, options)
            .with_context(|| format!("cannot import {}", self.source.display()))?;
        let existing = match std::fs::read_to_string(&self.registry) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot read {}", self.registry.display()));
            }
        };
        let update = update_registry(
            &self.registry,
            existing.as_deref(),
            &self.city,
            &imported.sites,
        )?;

        if !self.dry_run && (!update.changes.is_empty() || existing.is_none()) {
            write(&self.registry, &update.text)?;
        }
        let added = count(&update.changes, |c| {
            matches!(c, RegistryChange::Added { .. })
        });
        let mut out = std::io::stdout().lock();
        let mut lines = vec![format!(
            "{}{}: {added} added, {} updated, {} unchanged, {} skipped ({} from {})",
            if self.dry_run {
                "dry run, nothing written: "
            } else {
                ""
            },
            self.registry.display(),
            update.changes.len() - added,
            update.unchanged,
            imported.skipped.len() + update.skipped.len(),
            imported.format,
            self.source.display(),
        )];
        lines.extend(
            update
                .changes
                .iter()
                .map(|change| format!("  {}", describe(change, &imported.sites))),
        );
        lines.extend(
            imported
                .skipped
                .iter()
                .map(|skipped| format!("  skipped {skipped}")),
        );
        lines.extend(
            update
                .skipped
                .iter()
                .map(|(site, reason)| format!("  skipped `{site}`: {reason}")),
        );
        // The registry is written before the summary: a closed pipe (`| head`) only
        // cuts the summary short.
        for line in lines {
            match writeln!(out, "{line}") {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => break,
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }
}

fn count(changes: &[RegistryChange], keep: impl Fn(&RegistryChange) -> bool) -> usize {
    changes.iter().filter(|c| keep(c)).count()
}

fn describe(change: &RegistryChange, sites: &[ImportedSite]) -> String {
    let site = |external: &str| sites.iter().find(|s| s.external_id == external);
    match change {
        RegistryChange::Added { id, external_id } => match site(external_id) {
            Some(s) => {
                let what = match &s.traffic {
                    Some(traffic) => format!(
                        "traffic, {} lane(s), {} value indices",
                        traffic.lanes,
                        traffic.external_ids.len()
                    ),
                    None => format!("{} spaces", s.capacity),
                };
                let (lat, lon) = s.position().unwrap_or_default();
                format!(
                    "+ {id} ({external_id}): {}, {what}, {lat}, {lon}",
                    s.name.as_deref().unwrap_or("no name"),
                )
            }
            None => format!("+ {id} ({external_id})"),
        },
        RegistryChange::Updated {
            id,
            external_id,
            fields,
        } => format!("~ {id} ({external_id}): {}", fields.join(", ")),
    }
}

/// Writes beside the file and renames, so a crash never leaves half a registry.
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".import-tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot replace {}", path.display()))
}
