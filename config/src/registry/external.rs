//! The `external_id` column: the ids a partner feed uses for a registry entity (an NGSI
//! URN, a ParkAPI `uid`, a DATEX II record or measurement-site id, a TTN `dev_eui`).
//!
//! A cell holds several, separated by `;`. An id may end in `#<n>`: then it names the
//! pair (id, index `n`), which maps to lane `n` of a traffic sensor (a FIWARE `laneId`,
//! a feed whose value index is the lane). Or in `#<i>=<l>`: the feed's value index `i`
//! belongs to lane `l`, as for a DATEX II measurement site, whose indices are
//! lane × vehicle class × value type (NDW: `PZH01_MST_0629_00#5=1`, index 5 is a speed
//! class of lane 1); `stadtpuls registry import` writes these from the site table. Each
//! (id, index) names one entity per city.

use std::collections::HashMap;

use super::ExternalId;
use super::read::RowLocation;

/// Most external ids one row may carry (a DATEX II site has up to lanes × classes × 2
/// value indices; NDW's largest publish 72).
const MAX_PER_ROW: usize = 128;
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
        let Some((id, suffix)) = part
            .rsplit_once('#')
            .filter(|(id, suffix)| !id.is_empty() && is_index(suffix))
        else {
            ids.push(ExternalId {
                id: part.to_owned(),
                index: None,
                lane: None,
            });
            continue;
        };
        let Some(lanes) = lanes else {
            return Err(format!(
                "external id `{part}`: an index (`#{suffix}`) is only allowed on traffic rows, where it names a lane"
            ));
        };
        let (index, lane) = match suffix.split_once('=') {
            Some((index, lane)) => (index, lane),
            None => (suffix, suffix),
        };
        let index = match index.parse::<u16>() {
            Ok(index) => index,
            _ => {
                return Err(format!(
                    "external id `{part}`: index `{index}` is not a whole number 0..=65535 (write `id#<lane>` or `id#<index>=<lane>`)"
                ));
            }
        };
        let lane = match lane.parse::<u8>() {
            Ok(lane) if (1..=lanes).contains(&lane) => lane,
            _ => {
                return Err(format!(
                    "external id `{part}`: lane `{lane}` is not one of the sensor's lanes 1..={lanes} (write `id#<lane>` or `id#<index>=<lane>`)"
                ));
            }
        };
        ids.push(ExternalId {
            id: id.to_owned(),
            index: Some(index),
            lane: Some(lane),
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

/// Whether `suffix` (after the last `#`) is an index: `<digits>` or `<digits>=<lane>`
/// (the lane checked by the caller); anything else is part of the id, as before the
/// `=` form existed (`a#b` is the id `a#b`).
fn is_index(suffix: &str) -> bool {
    let digits = suffix.split_once('=').map_or(suffix, |(index, _)| index);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// First row of each (id, index), to report a second entity claiming it.
#[derive(Default)]
pub(super) struct Seen(HashMap<(String, Option<u16>), (RowLocation, String)>);

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
            let key = (id.id.clone(), id.index);
            match self.0.get(&key) {
                Some((first, owner)) => problems.push(format!(
                    "external id `{}` is already mapped to `{owner}` at {}",
                    id.display(),
                    first.describe()
                )),
                None => {
                    self.0.insert(key, (location, sensor.to_owned()));
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
        assert_eq!((ids[0].index, ids[0].lane), (None, None));
        assert_eq!(
            (ids[1].id.as_str(), ids[1].index, ids[1].lane),
            ("site-7", Some(2), Some(2))
        );
        assert_eq!(ids[1].display(), "site-7#2");
        assert!(parse("a;;b", None).is_err());
        assert!(parse("site#3", Some(2)).is_err());
        assert!(parse("site#1", None).is_err());
        // `#` followed by other text is part of the id.
        assert_eq!(
            parse("a#b", None).map(|v| v[0].id.clone()),
            Ok("a#b".into())
        );
    }

    #[test]
    fn an_index_maps_to_a_lane_with_equals() {
        // NDW PZH01_MST_0629_00: flows of three length classes at 1–3, their speeds at
        // 5–7, all on lane 1 of a one-lane site.
        let ids = parse("PZH01_MST_0629_00#1=1;PZH01_MST_0629_00#5=1", Some(1)).unwrap_or_default();
        let pairs: Vec<_> = ids
            .iter()
            .map(|e| (e.id.as_str(), e.index, e.lane))
            .collect();
        assert_eq!(
            pairs,
            [
                ("PZH01_MST_0629_00", Some(1), Some(1)),
                ("PZH01_MST_0629_00", Some(5), Some(1))
            ]
        );
        assert_eq!(ids[1].display(), "PZH01_MST_0629_00#5=1");
        // Index 0 (the French sample's) is an index, never a lane.
        assert_eq!(parse("A1#0=1", Some(1)).map(|v| v[0].index), Ok(Some(0)));
        let lane = parse("S#5=2", Some(1)).unwrap_err();
        assert!(
            lane.contains("`S#5=2`") && lane.contains("lane `2`"),
            "{lane}"
        );
        let empty = parse("S#5=", Some(1)).unwrap_err();
        assert!(empty.contains("lane ``"), "{empty}");
        let big = parse("S#70000=1", Some(1)).unwrap_err();
        assert!(big.contains("index `70000`"), "{big}");
        let parking = parse("S#5=1", None).unwrap_err();
        assert!(
            parking.contains("only allowed on traffic rows"),
            "{parking}"
        );
    }

    #[test]
    fn one_index_of_an_id_maps_to_one_lane() {
        let location = RowLocation::Row(2);
        let mut seen = Seen::default();
        let first = parse("S#5=1;S#1", Some(2)).unwrap_or_default();
        assert!(seen.claim(location, "a", &first).is_empty());
        // The same index again, whether as `#5=2` or `#5`: taken.
        let again = parse("S#5=2;S#2", Some(2)).unwrap_or_default();
        let problems = seen.claim(RowLocation::Row(3), "b", &again);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("`S#5=2`") && problems[0].contains("`a` at row 2"));
    }
}
