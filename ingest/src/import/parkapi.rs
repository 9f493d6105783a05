//! ParkAPI v3 static parking sites: a list document `{"items": [...]}`, a JSON array or
//! one site object; `uid` → external id (what the realtime feed sends), `name`,
//! `capacity`, `lat`/`lon` (numbers or strings, as park-api-v3 accepts both).

use serde_json::Value;

use super::candidate::{Candidate, scalar};
use crate::error::ImportError;

const FORMAT: &str = "ParkAPI";

/// The sites of `value`, one candidate each.
pub(super) fn candidates(value: &Value) -> Result<Vec<Candidate>, ImportError> {
    let sites: Vec<(Option<usize>, &Value)> = match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Some(i), v))
            .collect(),
        Value::Object(map) => match map.get("items") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Some(i), v))
                .collect(),
            Some(other) => {
                return Err(ImportError::Shape {
                    format: FORMAT,
                    detail: format!("`items` is {other}, not an array of parking sites"),
                });
            }
            None => vec![(None, value)],
        },
        other => {
            return Err(ImportError::Shape {
                format: FORMAT,
                detail: format!(
                    "expected a parking site, an array or `{{\"items\": […]}}`, not {other}"
                ),
            });
        }
    };
    Ok(sites
        .into_iter()
        .map(|(index, site)| candidate(index, site))
        .collect())
}

fn candidate(index: Option<usize>, site: &Value) -> Candidate {
    let uid = scalar(site.get("uid"));
    let record = match (&uid, index) {
        (Some(uid), _) => format!("site `{uid}`"),
        (None, Some(index)) => format!("items[{index}]"),
        (None, None) => "the site".to_owned(),
    };
    Candidate {
        record,
        id_field: "uid",
        external_id: uid,
        id_stem: None,
        name: site.get("name").and_then(Value::as_str).map(str::to_owned),
        capacity_field: "capacity",
        capacity: scalar(site.get("capacity")),
        lat: scalar(site.get("lat")),
        lon: scalar(site.get("lon")),
    }
}
