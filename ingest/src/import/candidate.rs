//! One record of a partner's static publication as each reader found it (values as
//! text), and the checks every format shares before it becomes a registry site.

use std::fmt;

use stadtpuls_config::ImportedSite;

use super::utm;

/// A record that is not imported, and why; the rest of the document still is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// How the document names it: `record P1`, `items[1]`, `entity urn:…`.
    pub record: String,
    /// What is missing or wrong, lowercase.
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.record, self.reason)
    }
}

/// A record's values as written (JSON numbers as their text), checked by [`finish`].
#[derive(Debug, Clone, Default)]
pub(super) struct Candidate {
    /// How to name the record in a skip message.
    pub(super) record: String,
    /// The field the id comes from, for the message when it is missing.
    pub(super) id_field: &'static str,
    pub(super) external_id: Option<String>,
    /// What a new row's id is made from; the external id when `None`.
    pub(super) id_stem: Option<String>,
    pub(super) name: Option<String>,
    /// The field the capacity comes from.
    pub(super) capacity_field: &'static str,
    pub(super) capacity: Option<String>,
    pub(super) lat: Option<String>,
    pub(super) lon: Option<String>,
}

/// The registry site, or why the record is skipped; with `utm_zone`, a position in
/// metres (northing as latitude, easting as longitude) is converted to degrees.
pub(super) fn finish(candidate: Candidate, utm_zone: Option<u8>) -> Result<ImportedSite, Skipped> {
    let skip = |reason: String| Skipped {
        record: candidate.record.clone(),
        reason,
    };
    let Some(external_id) = candidate
        .external_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    else {
        return Err(skip(format!("no id (`{}`)", candidate.id_field)));
    };
    let (Some(lat), Some(lon)) = (candidate.lat.as_deref(), candidate.lon.as_deref()) else {
        return Err(skip("no coordinates (latitude and longitude)".to_owned()));
    };
    let (lat, lon) = position(lat, lon, utm_zone).map_err(skip)?;
    let Some(capacity) = candidate.capacity.as_deref().map(str::trim) else {
        return Err(skip(format!(
            "no capacity (`{}`)",
            candidate.capacity_field
        )));
    };
    let capacity = match capacity.parse::<u32>() {
        Ok(n) => n,
        Err(_) => match capacity.parse::<f64>() {
            Ok(n) if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) => n as u32,
            _ => {
                return Err(skip(format!(
                    "capacity `{capacity}` (`{}`) is not a whole number of spaces",
                    candidate.capacity_field
                )));
            }
        },
    };
    if capacity == 0 {
        return Err(skip(
            "capacity 0: a registry facility has at least one space".to_owned(),
        ));
    }
    let name = candidate
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    Ok(ImportedSite {
        external_id: external_id.to_owned(),
        id_stem: candidate
            .id_stem
            .clone()
            .unwrap_or_else(|| external_id.to_owned()),
        name,
        capacity,
        lat: Some(lat),
        lon: Some(lon),
        traffic: None,
    })
}

/// WGS84 degrees. Larger numbers are most likely a projected coordinate (Stuttgart's MDM
/// table gives UTM metres, e.g. latitude 5402496): converted from `utm_zone` when the
/// import names one, else refused.
pub(super) fn position(lat: &str, lon: &str, utm_zone: Option<u8>) -> Result<(f64, f64), String> {
    let number = |text: &str, what: &str| -> Result<f64, String> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{what} `{text}` is not a number"))
    };
    let (lat_value, lon_value) = (number(lat, "latitude")?, number(lon, "longitude")?);
    let in_degrees = lat_value.abs() <= 90.0 && lon_value.abs() <= 180.0;
    if in_degrees {
        return Ok((lat_value, lon_value));
    }
    let Some(zone) = utm_zone else {
        return Err(format!(
            "latitude {lat} / longitude {lon} is not WGS84 degrees (UTM metres? import with their zone, --utm-zone)"
        ));
    };
    let (lat_deg, lon_deg) = utm::to_wgs84(zone, lon_value, lat_value);
    if !(lat_deg.abs() <= 90.0 && lon_deg.abs() <= 180.0) {
        return Err(format!(
            "latitude {lat} / longitude {lon} is no position in UTM zone {zone}"
        ));
    }
    Ok((lat_deg, lon_deg))
}

/// A JSON scalar as the text a reader keeps: strings as they are, numbers as written.
pub(super) fn scalar(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}
