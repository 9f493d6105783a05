//! A CSV header that lacks columns its rows have, reported once instead of once per row.
//!
//! When most rows have the same number of fields, more than the header names, the header
//! is what is wrong (issue #12: a registry whose header lacked `facility_id` got "has 9
//! fields, but the header has 8" on every row). Which columns it lacks is found from the
//! rows: the documented column order ([`COLUMNS`]) says where each absent column would
//! sit, and the candidate under which the rows' typed cells (kind, coordinates, counts)
//! read as valid is named; the rows are then checked as if the header had it, so their
//! other problems are reported too. When the rows do not tell, the absent columns are
//! listed and those rows are left unchecked.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::SensorKind;
use super::read::COLUMNS;

/// What the rows with more fields than the header say about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MissingColumns {
    /// The field count of those rows.
    pub fields: usize,
    /// The header with the missing columns in place, when the rows tell which; rows of
    /// `fields` fields are read with it.
    pub fitted: Option<Vec<String>>,
    /// The one message, for key `header`.
    pub message: String,
}

/// Finds the columns `header` lacks from `records` (line, cells), if most records have
/// one field count larger than the header's; `None` when the header fits the rows (a
/// few rows with an extra field — a stray comma — are those rows' problem).
pub(crate) fn find(header: &[String], records: &[(u64, Vec<String>)]) -> Option<MissingColumns> {
    let mut by_length: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (line, cells) in records {
        by_length.entry(cells.len()).or_default().push(*line);
    }
    let (&fields, lines) = by_length.iter().max_by_key(|(_, lines)| lines.len())?;
    if fields <= header.len() || lines.len() * 2 <= records.len() {
        return None;
    }
    let lacking = fields - header.len();
    let rows: Vec<&[String]> = records
        .iter()
        .filter(|(_, cells)| cells.len() == fields)
        .map(|(_, cells)| cells.as_slice())
        .collect();
    let absent: Vec<&str> = COLUMNS
        .into_iter()
        .filter(|column| !header.iter().any(|h| h == column))
        .collect();
    let where_ = format!(
        "{} {} {fields} fields, the header names {}",
        describe_lines(lines),
        if lines.len() == 1 { "has" } else { "have" },
        header.len()
    );
    let fitted = fit(header, &absent, lacking, &rows);
    let message = match &fitted {
        Some(fitted) => {
            let named: Vec<String> = fitted
                .iter()
                .filter(|column| !header.contains(column))
                .map(|column| format!("`{column}`"))
                .collect();
            format!(
                "missing column {}: {where_} (add it to the header; the rows were checked \
                 as if it were there)",
                named.join(", ")
            )
        }
        None => {
            let listed: Vec<String> = absent.iter().map(|c| format!("`{c}`")).collect();
            format!(
                "{lacking} column(s) missing: {where_}; not in the header: {} (those rows \
                 were not checked)",
                listed.join(", ")
            )
        }
    };
    Some(MissingColumns {
        fields,
        fitted,
        message,
    })
}

/// The header with `lacking` of the `absent` columns inserted where the documented order
/// puts them, choosing the set under which most rows read as valid (the earliest in that
/// order on a tie); `None` if the header is not in the documented order or no set makes
/// most rows valid.
fn fit(
    header: &[String],
    absent: &[&str],
    lacking: usize,
    rows: &[&[String]],
) -> Option<Vec<String>> {
    let order = |column: &str| COLUMNS.iter().position(|c| *c == column);
    let positions: Vec<usize> = header.iter().filter_map(|c| order(c)).collect();
    if positions.len() != header.len() || !positions.is_sorted() || lacking > absent.len() {
        return None;
    }
    let mut best: Option<(usize, Vec<String>)> = None;
    for chosen in combinations(absent.len(), lacking) {
        let mut columns: Vec<&str> = header.iter().map(String::as_str).collect();
        columns.extend(chosen.iter().map(|&i| absent[i]));
        columns.sort_by_key(|c| order(c));
        let valid = rows.iter().filter(|row| plausible(&columns, row)).count();
        if best.as_ref().is_none_or(|(score, _)| valid > *score) {
            best = Some((valid, columns.iter().map(|c| (*c).to_owned()).collect()));
        }
    }
    best.filter(|(valid, _)| valid * 2 > rows.len())
        .map(|(_, columns)| columns)
}

/// Every `k`-subset of `0..n`, in lexicographic order.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    if k > n {
        return Vec::new();
    }
    let mut out = Vec::new();
    for first in 0..=(n - k) {
        for rest in combinations(n - first - 1, k - 1) {
            let mut subset = vec![first];
            subset.extend(rest.iter().map(|i| i + first + 1));
            out.push(subset);
        }
    }
    out
}

/// Whether the typed cells of `row` read under `columns` are valid: a known kind,
/// coordinates in range, numbers where numbers go, and `facility_id` / `site_class` only
/// on the kinds that take them. Text columns (id, name) take anything.
fn plausible(columns: &[&str], row: &[String]) -> bool {
    let cell = |name: &str| {
        columns
            .iter()
            .position(|c| *c == name)
            .and_then(|i| row.get(i))
            .map(|text| text.trim())
            .filter(|text| !text.is_empty())
    };
    let Some(kind) = cell("kind").and_then(|k| SensorKind::from_str(k).ok()) else {
        return false;
    };
    let within = |name: &str, limit: f64| {
        cell(name)
            .and_then(|text| text.parse::<f64>().ok())
            .is_some_and(|value| value.abs() <= limit)
    };
    let number = |name: &str| cell(name).is_none_or(|text| text.parse::<f64>().is_ok());
    let count = |name: &str| cell(name).is_none_or(|text| text.parse::<u32>().is_ok());
    within("lat", 90.0)
        && within("lon", 180.0)
        && count("lanes")
        && count("capacity")
        && number("free_flow_kmh")
        && (cell("facility_id").is_none() || kind == SensorKind::ParkingSpot)
        && (cell("site_class").is_none() || kind == SensorKind::Traffic)
}

/// `row 5`, `rows 2–51`, or `rows 2, 4, 9 and 40 more`.
fn describe_lines(lines: &[u64]) -> String {
    match lines {
        [] => "no rows".to_owned(),
        [only] => format!("row {only}"),
        [first, .., last] if lines.windows(2).all(|w| w[1] == w[0] + 1) => {
            format!("rows {first}–{last}")
        }
        _ if lines.len() <= 4 => {
            let listed: Vec<String> = lines.iter().map(u64::to_string).collect();
            format!("rows {}", listed.join(", "))
        }
        _ => {
            let listed: Vec<String> = lines[..3].iter().map(u64::to_string).collect();
            format!("rows {} and {} more", listed.join(", "), lines.len() - 3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> (Vec<String>, Vec<(u64, Vec<String>)>) {
        let mut lines = text.lines();
        let header = lines
            .next()
            .unwrap_or_default()
            .split(',')
            .map(str::to_owned)
            .collect();
        let rows = lines
            .enumerate()
            .map(|(i, line)| (i as u64 + 2, line.split(',').map(str::to_owned).collect()))
            .collect();
        (header, rows)
    }

    #[test]
    fn a_header_without_facility_id_is_named_once() {
        let (header, rows) = records(
            "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh\n\
             t1,traffic,Ring,48.4,9.99,2,,50,\n\
             p1,parking_facility,Mitte,48.39,9.99,,100,,\n\
             s1,parking_spot,,48.39,9.99,,,,p1",
        );
        let found = find(&header, &rows).expect("the header lacks a column");
        assert_eq!(found.fields, 9);
        assert_eq!(
            found.fitted.as_deref().map(|c| c.last().cloned()),
            Some(Some("facility_id".to_owned()))
        );
        assert!(
            found
                .message
                .starts_with("missing column `facility_id`: rows 2–4 have 9 fields"),
            "{}",
            found.message
        );
    }

    #[test]
    fn a_column_missing_inside_the_header_is_found_from_the_cells() {
        // `name` missing between `kind` and `lat`: with `site_class` at the end instead,
        // the names would be read as latitudes
        let (header, rows) = records(
            "id,kind,lat,lon,lanes\n\
             t1,traffic,Ring Nord,48.4,9.99,2\n\
             t2,traffic,Ring Süd,48.41,9.98,1",
        );
        let found = find(&header, &rows).expect("the header lacks a column");
        assert_eq!(
            found.fitted,
            Some(
                ["id", "kind", "name", "lat", "lon", "lanes"]
                    .map(str::to_owned)
                    .to_vec()
            )
        );
    }

    #[test]
    fn rows_that_fit_no_column_leave_it_unnamed() {
        // whichever column goes in, a word lands in `lat` or `lon`
        let (header, rows) = records("id,kind,lat,lon\nt1,traffic,48.4,north,9.99");
        let found = find(&header, &rows).expect("the header lacks a column");
        assert_eq!(found.fitted, None);
        assert!(
            found.message.contains("not in the header: `name`, `lanes`"),
            "{}",
            found.message
        );
    }

    #[test]
    fn a_few_ragged_rows_are_their_own_problem() {
        let (header, rows) = records(
            "id,kind,lat,lon\nt1,traffic,48.4,9.99\nt2,traffic,48.4,9.99,x\nt3,traffic,48.4,9.99",
        );
        assert_eq!(find(&header, &rows), None);
    }

    #[test]
    fn lines_are_described_briefly() {
        assert_eq!(describe_lines(&[7]), "row 7");
        assert_eq!(describe_lines(&[2, 3, 4]), "rows 2–4");
        assert_eq!(describe_lines(&[2, 5, 9]), "rows 2, 5, 9");
        assert_eq!(
            describe_lines(&[2, 5, 9, 11, 12]),
            "rows 2, 5, 9 and 2 more"
        );
        assert_eq!(combinations(3, 2), vec![vec![0, 1], vec![0, 2], vec![1, 2]]);
    }
}
