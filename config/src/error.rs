//! Errors of this crate: one [`ConfigError`] per problem, gathered into [`ConfigErrors`].

use std::fmt;
use std::path::{Path, PathBuf};

/// Result of loading or validating configuration.
pub type Result<T, E = ConfigErrors> = std::result::Result<T, E>;

/// The `file` of an error that comes from an environment variable.
pub const ENVIRONMENT: &str = "<environment>";

/// The `key` of an error about a file as a whole (unreadable, not parseable).
pub const FILE_KEY: &str = "(file)";

/// One problem in the configuration, with the file and the key it was found at.
///
/// `key` is a dotted path such as `kafka.brokers`, `windows.sizes[1]` or
/// `cities[2].timezone`; for registry rows `row 18: lat` (CSV) or `sensors[17].lat`
/// (GeoJSON); for an environment override the variable name, with `file` set to
/// [`ENVIRONMENT`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: `{key}`: {message}", file.display())]
pub struct ConfigError {
    /// The config or registry file the problem is in, or `<environment>`.
    pub file: PathBuf,
    /// Where in that file, see the type documentation.
    pub key: String,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
}

impl ConfigError {
    /// Creates an error at `key` of `file`.
    pub fn new(
        file: impl Into<PathBuf>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in one load, so that a user can fix them all in one pass.
///
/// Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Returns the errors in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// Returns how many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Returns true when there is no error (never the case for a returned error).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns true when some error has exactly this key.
    pub fn has_key(&self, key: &str) -> bool {
        self.0.iter().any(|error| error.key == key)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Collects errors while validation keeps going, so all problems surface at once.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<ConfigError>);

impl Errors {
    pub(crate) fn push(&mut self, file: &Path, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(file, key, message));
    }

    pub(crate) fn push_error(&mut self, error: ConfigError) {
        self.0.push(error);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns `value` when nothing was collected, else every collected error.
    pub(crate) fn finish<T>(self, value: T) -> Result<T> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.0))
        }
    }

    pub(crate) fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_and_key() {
        let error = ConfigError::new("conf/a.toml", "kafka.brokers", "must not be empty");
        assert_eq!(
            error.to_string(),
            "conf/a.toml: `kafka.brokers`: must not be empty"
        );
    }

    #[test]
    fn display_puts_one_error_per_line() {
        let errors = ConfigErrors(vec![
            ConfigError::new("a.toml", "version", "unsupported version 2, expected 1"),
            ConfigError::new(
                ENVIRONMENT,
                "STADTPULS_API__BIND",
                "invalid socket address `x`",
            ),
        ]);
        let text = errors.to_string();
        assert_eq!(text.lines().count(), 2);
        assert!(text.ends_with("`STADTPULS_API__BIND`: invalid socket address `x`"));
        assert!(errors.has_key("version"));
    }

    #[test]
    fn finish_returns_value_only_without_errors() {
        assert_eq!(Errors::default().finish(3).ok(), Some(3));
        let mut errors = Errors::default();
        errors.push(Path::new("x"), "k", "m");
        assert_eq!(errors.finish(3).map_err(|e| e.len()), Err(1));
    }
}
