//! TOML text → [`RawConfig`], with errors that name the key and line.
//!
//! Each section (and each city) is deserialized on its own, so a typo in `[kafka]`
//! does not hide a bad timezone in `[[cities]]`. toml does not expose the key path of
//! a deserialization error, only its byte span, so the key is found again by looking
//! the span up in the spanned document tree.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::error::{ConfigError, Errors, FILE_KEY};
use crate::raw::RawConfig;

/// Top-level keys, for the unknown-key message.
const TOP_LEVEL_KEYS: [&str; 15] = [
    "version",
    "kafka",
    "windows",
    "api",
    "history",
    "output",
    "checkpoint",
    "parking",
    "traffic",
    "sql",
    "api_keys",
    "push",
    "push_keys",
    "cities",
    "regions",
];

/// Parses `text`; returns `None` (with errors pushed) when the TOML itself is broken.
///
/// Sections that fail to deserialize keep their defaults so validation of the rest
/// can still run; their errors are already in `errors`.
pub(crate) fn parse(text: &str, origin: &Path, errors: &mut Errors) -> Option<RawConfig> {
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        let root = Spanned::new(document.span(), DeValue::Table(document.into_inner()));
        for error in syntax_errors {
            let key = error
                .span()
                .and_then(|span| {
                    key_at(&root, span.start, "").or_else(|| key_on_line(&root, text, span.start))
                })
                .unwrap_or_else(|| FILE_KEY.to_owned());
            errors.push(
                origin,
                key,
                with_position(text, error.message(), error.span()),
            );
        }
        return None;
    }

    let mut raw = RawConfig::default();
    let located = Located { text, origin };
    for (key, value) in document.into_inner() {
        let name: &str = key.get_ref();
        match name {
            "version" => located.section(value, "version", errors, |v| raw.version = v),
            "kafka" => located.section(value, "kafka", errors, |v| raw.kafka = v),
            "windows" => located.section(value, "windows", errors, |v| raw.windows = v),
            "api" => located.section(value, "api", errors, |v| raw.api = v),
            "history" => located.section(value, "history", errors, |v| raw.history = v),
            "output" => located.section(value, "output", errors, |v| raw.output = v),
            "checkpoint" => located.section(value, "checkpoint", errors, |v| raw.checkpoint = v),
            "parking" => located.section(value, "parking", errors, |v| raw.parking = v),
            "traffic" => located.section(value, "traffic", errors, |v| raw.traffic = v),
            "sql" => located.section(value, "sql", errors, |v| raw.sql = v),
            "api_keys" => located.section(value, "api_keys", errors, |v| raw.api_keys = v),
            "push" => located.section(value, "push", errors, |v| raw.push = v),
            "push_keys" => located.section(value, "push_keys", errors, |v| raw.push_keys = v),
            "cities" => raw.cities = located.cities(value, errors),
            "regions" => located.section(value, "regions", errors, |v| raw.regions = v),
            other => {
                let expected = TOP_LEVEL_KEYS.map(|k| format!("`{k}`")).join(", ");
                let message = format!("unknown key `{other}`, expected one of {expected}");
                errors.push(
                    origin,
                    key_segment("", other),
                    with_position(text, &message, Some(key.span())),
                );
            }
        }
    }
    Some(raw)
}

/// The text and file a spanned value came from, for turning spans into keys and lines.
struct Located<'a> {
    text: &'a str,
    origin: &'a Path,
}

impl Located<'_> {
    /// Deserializes one section, handing the value to `store` when it is well formed.
    fn section<'i, T: Deserialize<'i>>(
        &self,
        value: Spanned<DeValue<'i>>,
        path: &str,
        errors: &mut Errors,
        store: impl FnOnce(T),
    ) {
        match self.deserialize(value, path) {
            Ok(parsed) => store(parsed),
            Err(error) => errors.push_error(error),
        }
    }

    fn deserialize<'i, T: Deserialize<'i>>(
        &self,
        value: Spanned<DeValue<'i>>,
        path: &str,
    ) -> Result<T, ConfigError> {
        // The tree is needed after deserialization consumed the value, to map the
        // error span back to a key.
        let tree = value.clone();
        T::deserialize(ValueDeserializer::from(value)).map_err(|error| {
            let mut key = error
                .span()
                .and_then(|span| key_at(&tree, span.start, path))
                .unwrap_or_else(|| path.to_owned());
            if let Some(field) = missing_field(error.message()) {
                key = key_segment(&key, field);
            }
            ConfigError::new(
                self.origin,
                key,
                with_position(self.text, error.message(), error.span()),
            )
        })
    }

    fn cities<'i>(
        &self,
        value: Spanned<DeValue<'i>>,
        errors: &mut Errors,
    ) -> Vec<Option<crate::raw::RawCity>> {
        let span = value.span();
        let DeValue::Array(items) = value.into_inner() else {
            let message = "expected an array of tables (`[[cities]]`)";
            errors.push(
                self.origin,
                "cities",
                with_position(self.text, message, Some(span)),
            );
            // One unusable entry, so validation does not add "at least one city".
            return vec![None];
        };
        let mut cities = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match self.deserialize(item.clone(), &format!("cities[{index}]")) {
                Ok(city) => cities.push(Some(city)),
                Err(error) => {
                    errors.push_error(error);
                    cities.push(None);
                }
            }
        }
        cities
    }
}

/// Extracts `x` from serde's "missing field `x`" so the key can name it.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Appends a table key to a dotted path, quoting keys that are not bare TOML keys.
pub(crate) fn key_segment(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let segment = if bare {
        key.to_owned()
    } else {
        format!("\"{key}\"")
    };
    if path.is_empty() {
        segment
    } else {
        format!("{path}.{segment}")
    }
}

/// Returns the dotted path of the innermost key or array item at byte `offset`.
///
/// Tables opened by a `[header]` do not span their keys, so every entry is visited
/// instead of only those whose span contains the offset.
fn key_at(root: &Spanned<DeValue<'_>>, offset: usize, base: &str) -> Option<String> {
    let mut best: Option<(usize, usize, String)> = None;
    visit(root, offset, base, 0, &mut best);
    best.map(|(_, _, path)| path)
        .or_else(|| (!base.is_empty()).then(|| base.to_owned()))
}

/// For syntax errors past the end of what parsed (an unterminated string), the key
/// written earlier on the same line is the best guess.
fn key_on_line(root: &Spanned<DeValue<'_>>, text: &str, offset: usize) -> Option<String> {
    let line_start = text
        .get(..offset)?
        .rfind('\n')
        .map_or(0, |newline| newline + 1);
    let mut found: Option<(usize, String)> = None;
    let mut stack = vec![(root, String::new())];
    while let Some((value, path)) = stack.pop() {
        let table = match value.get_ref() {
            DeValue::Table(table) => table,
            DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    stack.push((item, format!("{path}[{index}]")));
                }
                continue;
            }
            _ => continue,
        };
        for (key, child) in table.iter() {
            let child_path = key_segment(&path, key.get_ref());
            let start = key.span().start;
            if (line_start..=offset).contains(&start)
                && found.as_ref().is_none_or(|(best, _)| start > *best)
            {
                found = Some((start, child_path.clone()));
            }
            stack.push((child, child_path));
        }
    }
    found.map(|(_, path)| path)
}

type Best = Option<(usize, usize, String)>;

fn visit(value: &Spanned<DeValue<'_>>, offset: usize, path: &str, depth: usize, best: &mut Best) {
    match value.get_ref() {
        DeValue::Table(table) => {
            for (key, child) in table.iter() {
                let child_path = key_segment(path, key.get_ref());
                for span in [key.span(), child.span()] {
                    if contains(&span, offset) {
                        consider(best, depth + 1, span, &child_path);
                    }
                }
                visit(child, offset, &child_path, depth + 1, best);
            }
        }
        DeValue::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let child_path = format!("{path}[{index}]");
                if contains(&child.span(), offset) {
                    consider(best, depth + 1, child.span(), &child_path);
                }
                visit(child, offset, &child_path, depth + 1, best);
            }
        }
        _ => {}
    }
}

/// Deepest match wins; among equally deep ones the tightest span.
fn consider(best: &mut Best, depth: usize, span: Range<usize>, path: &str) {
    let len = span.end.saturating_sub(span.start);
    let better = match best {
        Some((best_depth, best_len, _)) => {
            depth > *best_depth || (depth == *best_depth && len < *best_len)
        }
        None => true,
    };
    if better {
        *best = Some((depth, len, path.to_owned()));
    }
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && (offset < span.end || span.is_empty() && offset == span.start)
}

/// Adds "(line L, column C)" for a span of `text`, counting both from 1.
pub(crate) fn with_position(text: &str, message: &str, span: Option<Range<usize>>) -> String {
    // serde names the Rust types of the raw structs; users wrote TOML.
    let message = message
        .trim_end()
        .trim_end_matches('.')
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number");
    let Some(span) = span else {
        return message;
    };
    let offset = span.start.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count())
        + 1;
    format!("{message} (line {line}, column {column})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(text: &str) -> Vec<ConfigError> {
        let mut errors = Errors::default();
        let _ = parse(text, Path::new("t.toml"), &mut errors);
        errors.into_vec()
    }

    #[test]
    fn unknown_key_in_section_names_the_key_and_line() {
        let errors = errors_of("[kafka]\nbrokers = \"a:1\"\nbrokrs = \"b\"\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].key, "kafka.brokrs");
        assert!(
            errors[0].message.contains("unknown field `brokrs`"),
            "{}",
            errors[0].message
        );
        assert!(
            errors[0].message.contains("line 3, column 1"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn wrong_type_names_the_key() {
        let errors = errors_of("[windows]\nsizes = [\"1m\", 5]\n");
        assert_eq!(errors[0].key, "windows.sizes[1]", "{errors:?}");
    }

    #[test]
    fn errors_in_several_sections_are_all_reported() {
        let text = "version = \"1\"\n[api]\nbnd = \"x\"\n[[cities]]\nid = \"a\"\n";
        let keys: Vec<String> = errors_of(text).into_iter().map(|e| e.key).collect();
        assert!(keys.contains(&"version".to_owned()), "{keys:?}");
        assert!(keys.contains(&"api.bnd".to_owned()), "{keys:?}");
        assert!(keys.iter().any(|k| k.starts_with("cities[0].")), "{keys:?}");
    }

    #[test]
    fn missing_city_field_is_named() {
        let text = "[[cities]]\nid = \"a\"\nname = \"A\"\ntimezone = \"Europe/Berlin\"\nlat = 1.0\nlon = 2.0\n";
        let errors = errors_of(text);
        assert_eq!(errors[0].key, "cities[0].registry", "{errors:?}");
    }

    #[test]
    fn quoted_librdkafka_keys_stay_readable() {
        let errors = errors_of("[kafka.librdkafka]\n\"session.timeout.ms\" = [1]\n");
        assert_eq!(
            errors[0].key, "kafka.librdkafka.\"session.timeout.ms\"",
            "{errors:?}"
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let errors = errors_of("[kafka]\nbrokers = \"unterminated\n");
        assert!(!errors.is_empty());
        assert!(errors[0].message.contains("line 2"), "{errors:?}");
    }

    #[test]
    fn unknown_top_level_key_is_an_error() {
        let errors = errors_of("[kafk]\nbrokers = \"a\"\n");
        assert_eq!(errors[0].key, "kafk");
    }

    #[test]
    fn position_counts_from_one() {
        assert_eq!(
            with_position("ab\ncd", "bad.", Some(4..5)),
            "bad (line 2, column 2)"
        );
        assert_eq!(with_position("ab", "bad", None), "bad");
    }
}
