//! One NGSI entity's attributes, whatever their form: NGSI-LD normalized
//! (`{"type":"Property","value":…,"observedAt":…}`, `{"@type":"DateTime","@value":…}`),
//! NGSI v2 normalized (`{"type":"Number","value":…,"metadata":{"timestamp":…}}`) or
//! keyValues (the bare value).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use stadtpuls_processing::Rejection;

use super::super::emit::malformed;
use super::super::json_values;
use super::super::timestamp::feed_instant;

/// An entity's `id`, `type` and the attributes Stadtpuls reads
/// ([`ATTRIBUTES`](super::entities::ATTRIBUTES)), parsed from its JSON; every other
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
                    if key == "id" || key == "type" || super::entities::ATTRIBUTES.contains(&&*key)
                    {
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

/// An entity object, read attribute by attribute.
pub(crate) struct Entity<'v> {
    map: &'v Map<String, Value>,
    /// `id`, as written.
    pub(crate) id: &'v str,
    /// `type`, the short name (an expanded IRI is cut after its last `/` or `#`).
    pub(crate) kind: &'v str,
    /// Parsed as [`Kept`]: only the decoder's attributes are there, so asking for another
    /// is a bug (checked in debug builds).
    kept: bool,
}

impl<'v> Entity<'v> {
    /// Reads `id` and `type`; an entity lacking either is `malformed`.
    pub(crate) fn new(value: &'v Value) -> Result<Self, Rejection> {
        let map = value
            .as_object()
            .ok_or_else(|| malformed(format!("an NGSI entity is an object, not {value}")))?;
        let id = match map.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.as_str(),
            _ => return Err(malformed("an NGSI entity needs a string `id`")),
        };
        let kind = match map.get("type") {
            Some(Value::String(kind)) => kind.rsplit(['/', '#']).next().unwrap_or(kind),
            _ => return Err(malformed(format!("entity `{id}` needs a string `type`"))),
        };
        Ok(Self {
            map,
            id,
            kind,
            kept: false,
        })
    }

    /// As [`Entity::new`], for a value parsed as [`Kept`].
    pub(crate) fn kept(value: &'v Value) -> Result<Self, Rejection> {
        Self::new(value).map(|entity| Self {
            kept: true,
            ..entity
        })
    }

    fn check_kept(&self, name: &str) {
        debug_assert!(
            !self.kept || super::entities::ATTRIBUTES.contains(&name),
            "attribute `{name}` is read but not kept: add it to entities::ATTRIBUTES"
        );
    }

    /// The value of attribute `name`, unwrapped from its normalized form; `None` if absent
    /// or null.
    pub(crate) fn value(&self, name: &str) -> Option<&'v Value> {
        self.check_kept(name);
        let raw = self.map.get(name)?;
        let value = match raw {
            Value::Object(attr) if attr.contains_key("value") => attr.get("value"),
            Value::Object(attr)
                if attr.get("type").and_then(Value::as_str) == Some("Relationship") =>
            {
                attr.get("object")
            }
            other => Some(other),
        }?;
        let value = match value {
            Value::Object(typed) if typed.contains_key("@value") => typed.get("@value")?,
            other => other,
        };
        (!value.is_null()).then_some(value)
    }

    /// When attribute `name` was observed: NGSI-LD `observedAt`, NGSI v2
    /// `metadata.timestamp` or `metadata.TimeInstant`.
    pub(crate) fn observed_at(&self, name: &str) -> Result<Option<i64>, Rejection> {
        self.check_kept(name);
        let Some(Value::Object(attr)) = self.map.get(name) else {
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
    pub(crate) fn text(&self, name: &str) -> Result<Option<&'v str>, Rejection> {
        self.value(name)
            .map(|v| json_values::text(v, name))
            .transpose()
    }

    /// Attribute `name` as a whole number, if present.
    pub(crate) fn count(&self, name: &str) -> Result<Option<i64>, Rejection> {
        self.value(name)
            .map(|v| json_values::count(v, name))
            .transpose()
    }

    /// Attribute `name` as a number, if present.
    pub(crate) fn number(&self, name: &str) -> Result<Option<f64>, Rejection> {
        self.value(name)
            .map(|v| json_values::number(v, name))
            .transpose()
    }
}

/// An instant in a JSON string, refused as `malformed` when it is none.
pub(crate) fn instant(value: &Value, field: &str) -> Result<i64, Rejection> {
    let text = json_values::text(value, field)?;
    feed_instant(text)
        .ok_or_else(|| malformed(format!("`{field}` `{text}` is not an ISO 8601 time")))
}
