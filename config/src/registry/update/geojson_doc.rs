//! The GeoJSON side of an import: each feature's byte range in the document (serde_json
//! lends `RawValue`s out of the text), so a changed feature is replaced where it stands,
//! new features go after the last one, and every other byte is kept. A changed or new
//! feature is written compactly, its keys in serde_json's order.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::site::{ImportedSite, RegistryUpdateError, Rows, base_id, traffic_cell};
use crate::registry::SensorKind;

/// A registry written from scratch.
pub(super) const NEW_DOCUMENT: &str = "{\"type\": \"FeatureCollection\", \"features\": [\n]}\n";

/// One feature: where it is in the text, its value, whether the import changed it.
struct Feature {
    range: Range<usize>,
    value: Value,
    changed: bool,
}

/// The document's features and where new ones go.
pub(super) struct Doc {
    features: Vec<Feature>,
    appended: Vec<Value>,
    /// Where new features are inserted, and whether a `,` must precede them.
    insert_at: usize,
    /// The whitespace before the first feature, repeated before each new one.
    indent: String,
    external: HashMap<String, usize>,
    ids: HashSet<String>,
}

impl Doc {
    pub(super) fn read(text: &str) -> Result<Self, RegistryUpdateError> {
        #[derive(serde::Deserialize)]
        struct Collection<'a> {
            #[serde(borrow)]
            features: Vec<&'a RawValue>,
        }
        let invalid = |e: serde_json::Error| RegistryUpdateError::GeoJson(e.to_string());
        let collection: Collection<'_> = serde_json::from_str(text).map_err(invalid)?;
        let base = text.as_ptr() as usize;
        let mut features = Vec::with_capacity(collection.features.len());
        for raw in &collection.features {
            let start = raw.get().as_ptr() as usize - base;
            features.push(Feature {
                range: start..start + raw.get().len(),
                value: serde_json::from_str(raw.get()).map_err(invalid)?,
                changed: false,
            });
        }
        let (insert_at, indent) = match (features.first(), features.last()) {
            (Some(first), Some(last)) => {
                let before = &text[..first.range.start];
                let indent = &before[before.trim_end().len()..];
                (last.range.end, indent.to_owned())
            }
            _ => (
                empty_array_end(text).ok_or_else(|| {
                    RegistryUpdateError::GeoJson("no `features` array".to_owned())
                })?,
                "\n".to_owned(),
            ),
        };
        let mut doc = Self {
            features,
            appended: Vec::new(),
            insert_at,
            indent,
            external: HashMap::new(),
            ids: HashSet::new(),
        };
        for (index, feature) in doc.features.iter().enumerate() {
            let properties = &feature.value["properties"];
            if let Some(id) = text_of(&properties["id"]) {
                doc.ids.insert(id);
            }
            for id in text_of(&properties["external_id"])
                .unwrap_or_default()
                .split(';')
            {
                let id = id.trim();
                if !id.is_empty() {
                    doc.external.entry(base_id(id).to_owned()).or_insert(index);
                    doc.external.entry(id.to_owned()).or_insert(index);
                }
            }
        }
        Ok(doc)
    }

    /// The mean position of the features' points.
    pub(super) fn centre(&self) -> (f64, f64) {
        let points: Vec<(f64, f64)> = self
            .features
            .iter()
            .map(|f| &f.value)
            .chain(&self.appended)
            .filter_map(|f| {
                let c = &f["geometry"]["coordinates"];
                Some((c[1].as_f64()?, c[0].as_f64()?))
            })
            .collect();
        let n = points.len().max(1) as f64;
        let (lat, lon) = points
            .iter()
            .fold((0.0, 0.0), |(a, b), (lat, lon)| (a + lat, b + lon));
        (lat / n, lon / n)
    }

    /// The new text: changed features replaced in place, new ones after the last.
    pub(super) fn render(&self, original: &str) -> String {
        let mut out = String::with_capacity(original.len() + 256 * self.appended.len());
        let mut at = 0;
        for feature in self.features.iter().filter(|f| f.changed) {
            out.push_str(&original[at..feature.range.start]);
            out.push_str(&feature.value.to_string());
            at = feature.range.end;
        }
        out.push_str(&original[at..self.insert_at]);
        for (index, value) in self.appended.iter().enumerate() {
            if index > 0 || !self.features.is_empty() {
                out.push(',');
            }
            out.push_str(&self.indent);
            out.push_str(&value.to_string());
        }
        out.push_str(&original[self.insert_at..]);
        out
    }
}

impl Rows for Doc {
    fn row_of(&self, external_id: &str) -> Option<usize> {
        self.external.get(external_id).copied()
    }

    fn id_of(&self, row: usize) -> String {
        text_of(&self.features[row].value["properties"]["id"]).unwrap_or_default()
    }

    fn update(&mut self, row: usize, site: &ImportedSite) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let Some(feature) = self.features[row].value.as_object_mut() else {
            return fields;
        };
        let coordinates = feature
            .get("geometry")
            .and_then(|g| g.get("coordinates"))
            .cloned()
            .unwrap_or_default();
        if let Some((lat, lon)) = site.position()
            && (coordinates[1].as_f64(), coordinates[0].as_f64()) != (Some(lat), Some(lon))
        {
            feature.insert("geometry".into(), point(site));
            fields.push("position");
        }
        let Some(properties) = feature.get_mut("properties").and_then(Value::as_object_mut) else {
            return fields;
        };
        if let Some(name) = site.name.as_deref().map(str::trim)
            && properties
                .get("name")
                .and_then(Value::as_str)
                .map(str::trim)
                != Some(name)
        {
            properties.insert("name".into(), name.into());
            fields.insert(0, "name");
        }
        // A spot's or sensor's capacity is not the site's.
        let facility = properties.get("kind").and_then(Value::as_str)
            == Some(SensorKind::ParkingFacility.as_str());
        if facility
            && site.traffic.is_none()
            && properties.get("capacity").and_then(text_of) != Some(site.capacity.to_string())
        {
            properties.insert("capacity".into(), site.capacity.into());
            fields.push("capacity");
        }
        if let Some(traffic) = &site.traffic {
            if properties.get("lanes").and_then(text_of) != Some(traffic.lanes.to_string()) {
                properties.insert("lanes".into(), traffic.lanes.into());
                fields.push("lanes");
            }
            let old = properties
                .get("external_id")
                .and_then(text_of)
                .unwrap_or_default();
            let cell = traffic_cell(&old, site, traffic);
            if old != cell {
                properties.insert("external_id".into(), cell.into());
                fields.push("external_id");
            }
        }
        self.features[row].changed |= !fields.is_empty();
        fields
    }

    fn append(&mut self, id: &str, site: &ImportedSite) {
        let mut properties = Map::new();
        properties.insert("id".into(), id.into());
        if let Some(name) = &site.name {
            properties.insert("name".into(), name.as_str().into());
        }
        match &site.traffic {
            None => {
                properties.insert("kind".into(), SensorKind::ParkingFacility.as_str().into());
                properties.insert("capacity".into(), site.capacity.into());
                properties.insert("external_id".into(), site.external_id.as_str().into());
            }
            Some(traffic) => {
                properties.insert("kind".into(), SensorKind::Traffic.as_str().into());
                properties.insert("lanes".into(), traffic.lanes.into());
                properties.insert("external_id".into(), traffic.external_ids.join(";").into());
            }
        }
        // Not added to `external`: `apply` writes each external id once.
        self.ids.insert(id.to_owned());
        self.appended.push(json!({
            "type": "Feature",
            "geometry": point(site),
            "properties": properties,
        }));
    }

    fn ids(&self) -> &HashSet<String> {
        &self.ids
    }
}

fn point(site: &ImportedSite) -> Value {
    let (lat, lon) = site.position().unwrap_or_default();
    json!({"type": "Point", "coordinates": [lon, lat]})
}

/// A property as text: a string as it is, a number as written.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// After the `[` of an empty `"features": [` (the document holds no feature).
fn empty_array_end(text: &str) -> Option<usize> {
    let key = text.find("\"features\"")?;
    let open = key + text[key..].find('[')?;
    Some(open + 1)
}
