//! `[[cities.pull]]`: an `http(s)` URL, a format the city has a topic for, an interval no
//! shorter than [`MIN_PULL_EVERY`], a timeout within it, certificate files that exist
//! (resolved against the config file's directory) and headers HTTP can carry.

use std::path::{Path, PathBuf};

use super::Ctx;
use crate::model::{
    ClientIdentity, DEFAULT_PULL_TIMEOUT, FeedConfig, FeedFormat, MAX_PULL_EVERY, MIN_PULL_EVERY,
    PullConfig,
};
use crate::raw::RawPull;

/// Headers the poller sets itself (conditional GET) or that HTTP derives.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "if-none-match",
    "if-modified-since",
    "content-length",
    "transfer-encoding",
];

/// Validates one city's pull sources; `base` is `cities[i]`, `feeds` the city's validated
/// feeds, `origin` the config file (paths are relative to its directory).
pub(super) fn pulls(
    ctx: &mut Ctx<'_>,
    base: &str,
    city: &str,
    raw: Vec<RawPull>,
    feeds: &[FeedConfig],
    origin: &Path,
) -> Vec<PullConfig> {
    let dir = origin.parent().unwrap_or(Path::new(""));
    let mut pulls = Vec::with_capacity(raw.len());
    for (index, pull) in raw.into_iter().enumerate() {
        let key = format!("{base}.pull[{index}]");
        let before = ctx.errors.len();
        if let Err(message) = check_url(&pull.url) {
            ctx.error(&format!("{key}.url"), message);
        }
        let format = match pull.format.parse::<FeedFormat>() {
            Ok(format)
                if format != FeedFormat::Native && !feeds.iter().any(|f| f.format == format) =>
            {
                ctx.error(
                    &format!("{key}.format"),
                    format!("city `{city}` has no [[cities.feeds]] topic of format `{format}` to write pulled documents to"),
                );
                None
            }
            Ok(format) => Some(format),
            Err(message) => {
                ctx.error(&format!("{key}.format"), message);
                None
            }
        };
        let every = ctx
            .duration(&format!("{key}.every"), &pull.every)
            .filter(|every| {
                let fits = (MIN_PULL_EVERY..=MAX_PULL_EVERY).contains(every);
                if !fits {
                    ctx.error(
                        &format!("{key}.every"),
                        format!("`{}` is out of range, expected 5s ..= 24h", pull.every),
                    );
                }
                fits
            });
        let timeout = match (&pull.timeout, every) {
            (None, every) => {
                Some(every.map_or(DEFAULT_PULL_TIMEOUT, |e| e.min(DEFAULT_PULL_TIMEOUT)))
            }
            (Some(text), every) => ctx.duration(&format!("{key}.timeout"), text).filter(|t| {
                let fits = *t >= std::time::Duration::from_secs(1) && every.is_none_or(|e| *t <= e);
                if !fits {
                    ctx.error(
                        &format!("{key}.timeout"),
                        format!(
                            "`{text}` is out of range, expected 1s ..= `every` ({})",
                            pull.every
                        ),
                    );
                }
                fits
            }),
        };
        let client_identity = match (&pull.client_cert, &pull.client_key) {
            (None, None) => None,
            (Some(cert), Some(cert_key)) => {
                let cert = file(ctx, &format!("{key}.client_cert"), dir, cert);
                let cert_key = file(ctx, &format!("{key}.client_key"), dir, cert_key);
                cert.zip(cert_key)
                    .map(|(cert, key)| ClientIdentity { cert, key })
            }
            (Some(_), None) => {
                ctx.error(
                    &format!("{key}.client_key"),
                    "`client_cert` needs its `client_key`",
                );
                None
            }
            (None, Some(_)) => {
                ctx.error(
                    &format!("{key}.client_cert"),
                    "`client_key` needs its `client_cert`",
                );
                None
            }
        };
        let ca = pull
            .ca
            .as_deref()
            .and_then(|ca| file(ctx, &format!("{key}.ca"), dir, ca));
        let mut headers = Vec::with_capacity(pull.headers.len());
        for (name, value) in pull.headers {
            let path = format!("{key}.headers.\"{name}\"");
            if let Err(message) = check_header(&name, &value) {
                ctx.error(&path, message);
            } else {
                headers.push((name, value));
            }
        }
        if let (Some(format), Some(every), Some(timeout), true) =
            (format, every, timeout, ctx.errors.len() == before)
        {
            pulls.push(PullConfig {
                key,
                url: pull.url,
                format,
                every,
                timeout,
                client_identity,
                ca,
                headers,
            });
        }
    }
    pulls
}

/// `http://host…` or `https://host…`: a scheme the client speaks and a host, nothing a
/// proxy or shell would read differently (no whitespace or control characters).
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("`{url}` is not an http:// or https:// URL"))?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL contains whitespace or control characters".to_owned());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("`{url}` names no host"));
    }
    Ok(())
}

/// A header name is an HTTP token, its value visible ASCII, spaces and tabs; the
/// conditional-GET headers and those HTTP derives are set by the poller.
fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!("`{name}` is not a valid header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("`{name}` is set by Stadtpuls itself"));
    }
    if !value
        .chars()
        .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
    {
        return Err("the value may only hold visible ASCII, spaces and tabs".to_owned());
    }
    Ok(())
}

/// A path relative to the config file's directory that names an existing file; its
/// contents are read (and their PEM checked) when `stadtpuls run` starts its pollers.
fn file(ctx: &mut Ctx<'_>, key: &str, dir: &Path, raw: &str) -> Option<PathBuf> {
    if raw.trim().is_empty() {
        ctx.error(key, "must not be empty");
        return None;
    }
    let path = dir.join(raw);
    if path.is_file() {
        Some(path)
    } else {
        ctx.error(key, format!("no such file: {}", path.display()));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_an_http_scheme_and_a_host() {
        assert!(check_url("https://data.mobilithek.info/api/v1/x?sub=1").is_ok());
        assert!(check_url("http://127.0.0.1:8080/status.xml").is_ok());
        assert!(check_url("ftp://example.org/x").is_err());
        assert!(check_url("file:///etc/passwd").is_err());
        assert!(check_url("https:///path").is_err());
        assert!(check_url("https://:80/").is_err());
        assert!(check_url("https://a b/").is_err());
    }

    #[test]
    fn headers_are_tokens_with_printable_values() {
        assert!(check_header("X-Api-Key", "abc 123").is_ok());
        assert!(check_header("X Api", "v").is_err());
        assert!(check_header("If-None-Match", "v").is_err());
        assert!(check_header("X-Key", "a\nb").is_err());
    }
}
