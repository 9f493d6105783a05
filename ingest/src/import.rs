//! `stadtpuls registry import`: a partner's static publication → the parking sites to
//! write into a city's registry ([`stadtpuls_config::update_registry`] writes them).
//!
//! Three formats, each giving per site the id its realtime feed uses (→ `external_id`),
//! a name, a capacity and a WGS84 position:
//! - DATEX II 2.3 `ParkingTablePublication` and the MDM `parkingFacilityTablePublication`
//!   (`decode/datex2/table.rs`, the DATEX decoder's reader); a DATEX II 2.3
//!   `MeasurementSiteTablePublication` gives `traffic` sites instead, their value
//!   indices mapped to lanes (`import/sites.rs`, read by `decode/datex2/site_table.rs`);
//! - ParkAPI v3 static parking sites (`import/parkapi.rs`);
//! - FIWARE NGSI entities `OffStreetParking`, `OnStreetParking`, `ParkingGroup`
//!   (`import/ngsi.rs`, split and read like the FIWARE decoder does).
//!
//! A record without an id, without coordinates (or in UTM metres without
//! [`Options::utm_zone`], `import/utm.rs`) or with a capacity that is not a whole number
//! above 0 is skipped with its reason (`import/candidate.rs`); the others are imported.
//! Only a document that cannot be read at all is an [`ImportError`].

mod candidate;
mod ngsi;
mod parkapi;
mod sites;
mod utm;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use stadtpuls_config::ImportedSite;

use candidate::Candidate;
pub use candidate::Skipped;

use crate::decode::datex2::{read_site_table, read_table};
use crate::error::ImportError;

/// The formats a registry can be imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// DATEX II 2.3 `ParkingTablePublication` or MDM `parkingFacilityTablePublication`.
    Datex2,
    /// ParkAPI v3 static parking sites.
    ParkApi,
    /// FIWARE NGSI-LD / NGSI v2 entities.
    Ngsi,
}

impl SourceFormat {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Datex2 => "datex2",
            Self::ParkApi => "parkapi",
            Self::Ngsi => "ngsi",
        }
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "datex2" => Ok(Self::Datex2),
            "parkapi" => Ok(Self::ParkApi),
            "ngsi" | "fiware" => Ok(Self::Ngsi),
            other => Err(format!(
                "unknown format `{other}`, expected datex2, parkapi or ngsi"
            )),
        }
    }
}

/// What a document yields.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The format it was read as.
    pub format: SourceFormat,
    /// Sites to write, in document order, each external id once.
    pub sites: Vec<ImportedSite>,
    /// Records left out, with the reason.
    pub skipped: Vec<Skipped>,
}

/// How to read a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// The format; `None`: the one the document looks like (XML → DATEX II; JSON with
    /// `items` or `uid` → ParkAPI; other JSON → NGSI).
    pub format: Option<SourceFormat>,
    /// The UTM zone (1..=60, north) of positions given in metres rather than degrees
    /// (northing as latitude, easting as longitude); `None`: such records are skipped.
    pub utm_zone: Option<u8>,
}

/// Reads `payload` as `format` (see [`Options::format`]), positions in degrees only.
///
/// # Errors
///
/// The document cannot be read at all: see [`ImportError`].
pub fn read(payload: &[u8], format: Option<SourceFormat>) -> Result<Imported, ImportError> {
    read_with(
        payload,
        Options {
            format,
            utm_zone: None,
        },
    )
}

/// Reads `payload` as `options` say.
///
/// # Errors
///
/// The document cannot be read at all: see [`ImportError`].
pub fn read_with(payload: &[u8], options: Options) -> Result<Imported, ImportError> {
    let format = match options.format {
        Some(format) => format,
        None => detect(payload)?,
    };
    let mut skipped = Vec::new();
    if format == SourceFormat::Datex2
        && memchr::memmem::find(payload, b"measurementSiteRecord").is_some()
    {
        let records = read_site_table(payload).map_err(ImportError::Datex2)?;
        let sites = sites::traffic_sites(&records, options.utm_zone, &mut skipped);
        return Ok(Imported {
            format,
            sites,
            skipped,
        });
    }
    let candidates: Vec<Candidate> = match format {
        SourceFormat::Datex2 => read_table(payload)
            .map_err(ImportError::Datex2)?
            .into_iter()
            .map(|record| Candidate {
                record: match &record.id {
                    Some(id) => format!("record `{id}`"),
                    None => "a record without id".to_owned(),
                },
                id_field: "parkingRecord/@id",
                external_id: record.id,
                id_stem: None,
                name: record.name,
                capacity_field: "parkingNumberOfSpaces",
                capacity: record.capacity,
                lat: record.lat,
                lon: record.lon,
            })
            .collect(),
        SourceFormat::ParkApi => parkapi::candidates(&serde_json::from_slice(payload)?)?,
        SourceFormat::Ngsi => {
            let mut sites = Vec::new();
            for entry in ngsi::candidates(payload)? {
                match entry {
                    ngsi::Entry::Site(candidate) => sites.push(candidate),
                    ngsi::Entry::NotASite { record, reason } => {
                        skipped.push(Skipped { record, reason })
                    }
                }
            }
            sites
        }
    };
    let mut sites: Vec<ImportedSite> = Vec::with_capacity(candidates.len());
    let mut first: HashMap<String, String> = HashMap::new();
    for candidate in candidates {
        let record = candidate.record.clone();
        match candidate::finish(candidate, options.utm_zone) {
            Ok(site) => match first.get(&site.external_id) {
                Some(earlier) => skipped.push(Skipped {
                    record,
                    reason: format!("id `{}` again (first: {earlier})", site.external_id),
                }),
                None => {
                    first.insert(site.external_id.clone(), record);
                    sites.push(site);
                }
            },
            Err(skip) => skipped.push(skip),
        }
    }
    Ok(Imported {
        format,
        sites,
        skipped,
    })
}

fn detect(payload: &[u8]) -> Result<SourceFormat, ImportError> {
    let text = payload.strip_prefix(b"\xef\xbb\xbf").unwrap_or(payload);
    match text.iter().copied().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Ok(SourceFormat::Datex2),
        Some(b'{' | b'[') => {
            let value: Value = serde_json::from_slice(payload)?;
            let first = match &value {
                Value::Array(items) => items.first(),
                Value::Object(map) if map.contains_key("items") => {
                    return Ok(SourceFormat::ParkApi);
                }
                other => Some(other),
            };
            match first {
                Some(site) if site.get("uid").is_some() || site.get("capacity").is_some() => {
                    Ok(SourceFormat::ParkApi)
                }
                Some(_) => Ok(SourceFormat::Ngsi),
                None => Err(ImportError::UnknownFormat("an empty JSON array".to_owned())),
            }
        }
        _ => Err(ImportError::UnknownFormat(
            "neither XML nor JSON".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests;
