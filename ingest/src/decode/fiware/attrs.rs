//! One NGSI entity's attributes, whatever their form: NGSI-LD normalized
//! (`{"type":"Property","value":…,"observedAt":…}`, `{"@type":"DateTime","@value":…}`),
//! NGSI v2 normalized (`{"type":"Number","value":…,"metadata":{"timestamp":…}}`) or
//! keyValues (the bare value). Read from the attributes' JSON text ([`Json`]), as the
//! fast batch reader found it or as [`Kept`] parsed it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use stadtpuls_processing::Rejection;

use super::super::emit::malformed;
use super::super::timestamp::feed_instant;
use super::json::Json;

/// Every attribute the readers of `entities.rs` look at. Only these (and `id`, `type`) are kept when an
/// entity is parsed: a Smart Data Models entity carries dozens of descriptive attributes
/// (address, category, layout, …; ~3 KB for the Porto car park) that would otherwise become
/// a tree of maps and strings each. [`Entity::value`] checks in debug builds that what it is
/// asked for is listed here.
pub(crate) const ATTRIBUTES: [&str; 19] = [
    "availableSpotNumber",
    "averageVehicleSpeed",
    "dateModified",
    "dateObserved",
    "dateObservedFrom",
    "dateObservedTo",
    "intensity",
    "laneId",
    // kept for a car park admitted at run time (`admit_unmapped_facilities`)
    "name",
    "observationDateTime",
    "occupancy",
    "occupancyModified",
    "occupiedSpotNumber",
    "status",
    "TimeInstant",
    "timeInstant",
    "totalSpotNumber",
    "vehicleEntranceCount",
    "vehicleExitCount",
];

/// An entity's `id`, `type` and the attributes Stadtpuls reads
/// ([`ATTRIBUTES`]), parsed from its JSON; every other
/// attribute is checked for well-formedness and skipped without being built.
pub(crate) struct Kept(pub(crate) Value);

impl<'de> Deserialize<'de> for Kept {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeptVisitor;
        impl<'de> Visitor<'de> for KeptVisitor {
            type Value = Kept;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an NGSI entity object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Kept, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<Cow<'de, str>>()? {
                    if key == "id" || key == "type" || ATTRIBUTES.contains(&&*key) {
                        let value = access.next_value::<Value>()?;
                        map.insert(key.into_owned(), value);
                    } else {
                        access.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Kept(Value::Object(map)))
            }
            // Not an object: kept whole, so `Entity::new` names what it is.
            fn visit_str<E>(self, v: &str) -> Result<Kept, E> {
                Ok(Kept(Value::from(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Kept, E> {
                Ok(Kept(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Kept, E> {
                Ok(Kept(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Kept, E> {
                Ok(Kept(Value::from(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Kept, E> {
                Ok(Kept(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<Kept, E> {
                Ok(Kept(Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Kept, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(Kept(Value::Array(items)))
            }
        }
        deserializer.deserialize_any(KeptVisitor)
    }
}

/// An entity's members as JSON text: name and the bytes of the value, in the order
/// written (a repeated name: the last counts, as in `serde_json::Value`).
pub(crate) type Members<'a> = [(&'a str, &'a [u8])];

/// Members owned, for an entity parsed by serde: each value printed back as JSON.
pub(crate) struct OwnedMembers(Vec<(String, String)>);

impl OwnedMembers {
    /// The members of `value` if it is an object; otherwise the refusal an entity that is
    /// no object gets.
    pub(crate) fn of(value: &Value) -> Result<Self, Rejection> {
        let map = value
            .as_object()
            .ok_or_else(|| malformed(format!("an NGSI entity is an object, not {value}")))?;
        Ok(Self(
            map.iter()
                .map(|(name, value)| (name.clone(), value.to_string()))
                .collect(),
        ))
    }

    pub(crate) fn borrowed(&self) -> Vec<(&str, &[u8])> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect()
    }
}

/// An entity object, read attribute by attribute.
pub(crate) struct Entity<'v> {
    members: &'v Members<'v>,
    /// `id`, as written.
    pub(crate) id: Cow<'v, str>,
    /// `type`, as written.
    full_kind: Cow<'v, str>,
    /// Only the decoder's attributes are there, so asking for another is a bug (checked in
    /// debug builds).
    kept: bool,
}

impl<'v> Entity<'v> {
    /// Reads `id` and `type` of an entity with all its members; an entity lacking either
    /// is `malformed`.
    pub(crate) fn new(members: &'v Members<'v>) -> Result<Self, Rejection> {
        let member = |name: &str| {
            members
                .iter()
                .rev()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| Json(value))
        };
        let id = match member("id").and_then(Json::as_str) {
            Some(id) if !id.is_empty() => id,
            _ => return Err(malformed("an NGSI entity needs a string `id`")),
        };
        let full_kind = match member("type").and_then(Json::as_str) {
            Some(kind) => kind,
            None => return Err(malformed(format!("entity `{id}` needs a string `type`"))),
        };
        Ok(Self {
            members,
            id,
            full_kind,
            kept: false,
        })
    }

    /// As [`Entity::new`], for the members [`ATTRIBUTES`] keeps.
    pub(crate) fn kept(members: &'v Members<'v>) -> Result<Self, Rejection> {
        Self::new(members).map(|entity| Self {
            kept: true,
            ..entity
        })
    }

    /// `type`, the short name (an expanded IRI is cut after its last `/` or `#`).
    pub(crate) fn kind(&self) -> &str {
        self.full_kind
            .rsplit(['/', '#'])
            .next()
            .unwrap_or(&self.full_kind)
    }

    fn check_kept(&self, name: &str) {
        debug_assert!(
            !self.kept || ATTRIBUTES.contains(&name),
            "attribute `{name}` is read but not kept: add it to ATTRIBUTES"
        );
    }

    fn member(&self, name: &str) -> Option<Json<'v>> {
        self.members
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| Json(value))
    }

    /// The value of attribute `name`, unwrapped from its normalized form; `None` if absent
    /// or null.
    pub(crate) fn value(&self, name: &str) -> Option<Json<'v>> {
        self.check_kept(name);
        let raw = self.member(name)?;
        let value = match raw.get("value") {
            Some(value) => value,
            None if raw.get("type").and_then(Json::as_str).as_deref() == Some("Relationship") => {
                raw.get("object")?
            }
            None => raw,
        };
        let value = value.get("@value").unwrap_or(value);
        (!value.is_null()).then_some(value)
    }

    /// When attribute `name` was observed: NGSI-LD `observedAt`, NGSI v2
    /// `metadata.timestamp` or `metadata.TimeInstant`.
    pub(crate) fn observed_at(&self, name: &str) -> Result<Option<i64>, Rejection> {
        self.check_kept(name);
        let Some(attr) = self.member(name).filter(|attr| attr.is_object()) else {
            return Ok(None);
        };
        let text = attr.get("observedAt").or_else(|| {
            let metadata = attr.get("metadata")?;
            let stamp = metadata
                .get("timestamp")
                .or_else(|| metadata.get("TimeInstant"))?;
            Some(stamp.get("value").unwrap_or(stamp))
        });
        text.map(|t| instant(t, &format!("{name}.observedAt")))
            .transpose()
    }

    /// Attribute `name` as a time, if present.
    pub(crate) fn time(&self, name: &str) -> Result<Option<i64>, Rejection> {
        self.value(name).map(|v| instant(v, name)).transpose()
    }

    /// Attribute `name` as text, if present.
    pub(crate) fn text(&self, name: &str) -> Result<Option<Cow<'v, str>>, Rejection> {
        self.value(name).map(|v| text(v, name)).transpose()
    }

    /// Attribute `name` as a whole number, if present.
    pub(crate) fn count(&self, name: &str) -> Result<Option<i64>, Rejection> {
        self.value(name).map(|v| count(v, name)).transpose()
    }

    /// Attribute `name` as a number, if present.
    pub(crate) fn number(&self, name: &str) -> Result<Option<f64>, Rejection> {
        self.value(name).map(|v| number(v, name)).transpose()
    }
}

/// A whole number (`12` or `12.0`); anything else is `malformed`, naming `field` (as
/// `json_values::count` says it of a `Value`).
fn count(value: Json<'_>, field: &str) -> Result<i64, Rejection> {
    if let Some(n) = value.as_i64() {
        return Ok(n);
    }
    match value.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(malformed(format!(
            "`{field}` is {value}, not a whole number"
        ))),
    }
}

/// A number; anything else is `malformed`, naming `field`.
fn number(value: Json<'_>, field: &str) -> Result<f64, Rejection> {
    value
        .as_f64()
        .ok_or_else(|| malformed(format!("`{field}` is {value}, not a number")))
}

/// Text of a string value; anything else is `malformed`, naming `field`.
fn text<'v>(value: Json<'v>, field: &str) -> Result<Cow<'v, str>, Rejection> {
    value
        .as_str()
        .ok_or_else(|| malformed(format!("`{field}` is {value}, not a string")))
}

/// An instant in a JSON string, refused as `malformed` when it is none.
pub(crate) fn instant(value: Json<'_>, field: &str) -> Result<i64, Rejection> {
    instant_text(&text(value, field)?, field)
}

/// An instant written as `text`, refused as `malformed` when it is none.
pub(crate) fn instant_text(text: &str, field: &str) -> Result<i64, Rejection> {
    feed_instant(text)
        .ok_or_else(|| malformed(format!("`{field}` `{text}` is not an ISO 8601 time")))
}
