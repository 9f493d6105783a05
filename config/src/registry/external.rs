//! The `external_id` column: the ids a partner feed uses for a registry entity (an NGSI
//! URN, a ParkAPI `uid`, a DATEX II record or measurement-site id, a TTN `dev_eui`).
//!
//! A cell holds several, separated by `;`. An id may end in `#<n>`: then it names the
//! pair (id, index `n`), e.g. a DATEX II measurement site's value index, which maps to
//! lane `n` of a traffic sensor. Each (id, index) names one entity per city.

use std::collections::HashMap;

use super::ExternalId;
use super::read::RowLocation;

/// Most external ids one row may carry.
const MAX_PER_ROW: usize = 64;
/// Longest external id, characters.
const MAX_LEN: usize = 256;

/// Parses a cell; problems are messages for the `external_id` field.
pub(super) fn parse(cell: &str, lanes: Option<u8>) -> Result<Vec<ExternalId>, String> {
    let mut ids = Vec::new();
    for part in cell.split(';') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!(
                "external_id `{cell}` has an empty entry (ids are separated by `;`)"
            ));
        }
        if part.chars().count() > MAX_LEN {
            return Err(format!(
                "external id `{part}` is longer than {MAX_LEN} characters"
            ));
        }
        let (id, index) = match part.rsplit_once('#') {
            Some((id, digits))
                if !id.is_empty()
                    && !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                (id, Some(digits))
            }
            _ => (part, None),
        };
        let index = match index {
            None => None,
            Some(digits) => {
                let Some(lanes) = lanes else {
                    return Err(format!(
                        "external id `{part}`: an index (`#{digits}`) is only allowed on traffic rows, where it names a lane"
                    ));
                };
                match digits.parse::<u8>() {
                    Ok(lane) if (1..=lanes).contains(&lane) => Some(lane),
                    _ => {
                        return Err(format!(
                            "external id `{part}`: lane {digits} is not one of the sensor's lanes 1..={lanes}"
                        ));
                    }
                }
            }
        };
        ids.push(ExternalId {
            id: id.to_owned(),
            lane: index,
        });
    }
    if ids.len() > MAX_PER_ROW {
        return Err(format!(
            "{} external ids, at most {MAX_PER_ROW} per row",
            ids.len()
        ));
    }
    Ok(ids)
}

/// First row of each (id, index), to report a second entity claiming it.
#[derive(Default)]
pub(super) struct Seen(HashMap<ExternalId, (RowLocation, String)>);

impl Seen {
    /// Records the ids of `sensor`; returns a message for each already taken.
    pub(super) fn claim(
        &mut self,
        location: RowLocation,
        sensor: &str,
        ids: &[ExternalId],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for id in ids {
            match self.0.get(id) {
                Some((first, owner)) => problems.push(format!(
                    "external id `{}` is already mapped to `{owner}` at {}",
                    id.display(),
                    first.describe()
                )),
                None => {
                    self.0.insert(id.clone(), (location, sensor.to_owned()));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_split_on_semicolons_with_optional_lane() {
        let ids = parse("urn:ngsi-ld:X:1 ; site-7#2", Some(2)).unwrap_or_default();
        assert_eq!(ids[0].id, "urn:ngsi-ld:X:1");
        assert_eq!(ids[0].lane, None);
        assert_eq!((ids[1].id.as_str(), ids[1].lane), ("site-7", Some(2)));
        assert!(parse("a;;b", None).is_err());
        assert!(parse("site#3", Some(2)).is_err());
        assert!(parse("site#1", None).is_err());
        // `#` followed by other text is part of the id.
        assert_eq!(
            parse("a#b", None).map(|v| v[0].id.clone()),
            Ok("a#b".into())
        );
    }
}
