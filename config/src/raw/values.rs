//! Values that deserialize from more than one TOML type: lane tables and librdkafka
//! settings.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};

/// A density threshold by lane count: one number for every lane count, or a list whose
/// entry `i` applies to `i + 1` lanes and whose last entry also applies to wider roads
/// (MARZ sets k1/k2 per number of lanes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LaneValues(pub Vec<f64>);

impl<'de> Deserialize<'de> for LaneValues {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LaneVisitor;

        impl<'de> Visitor<'de> for LaneVisitor {
            type Value = LaneValues;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or an array of numbers, one per lane count")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<LaneValues, E> {
                Ok(LaneValues(vec![value as f64]))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<LaneValues, E> {
                Ok(LaneValues(vec![value as f64]))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<LaneValues, E> {
                Ok(LaneValues(vec![value]))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<LaneValues, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<f64>()? {
                    values.push(value);
                }
                Ok(LaneValues(values))
            }
        }

        deserializer.deserialize_any(LaneVisitor)
    }
}

/// A librdkafka setting value; librdkafka takes text, so numbers and booleans are
/// accepted and kept as they would be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SettingValue(pub String);

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SettingVisitor;

        impl Visitor<'_> for SettingVisitor {
            type Value = SettingValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<SettingValue, E> {
                Ok(SettingValue(value.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<SettingValue, E> {
                Ok(SettingValue(value.to_string()))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<SettingValue, E> {
                Ok(SettingValue(value.to_string()))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<SettingValue, E> {
                Ok(SettingValue(value.to_string()))
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<SettingValue, E> {
                Ok(SettingValue(value.to_string()))
            }
        }

        deserializer.deserialize_any(SettingVisitor)
    }
}
