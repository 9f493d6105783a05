//! The HTTP client of one `[[cities.pull]]` source, built once at start-up: its TLS client
//! certificate and extra CA read here (a bad file stops the start with the key and the
//! file named), its headers, its timeout, and no redirects — only the configured URL is
//! ever fetched.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Certificate, Client, Identity, Url, redirect};
use stadtpuls_config::PullConfig;

/// Connecting (DNS, TCP, TLS handshake) may take at most this long, or the whole timeout
/// when that is shorter.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a pull source could not be set up; each names the config key.
#[derive(Debug, thiserror::Error)]
pub enum PullSetupError {
    /// A certificate or key file could not be read.
    #[error("{key}: cannot read {}: {source}", path.display())]
    Read {
        /// The config key (`cities[0].pull[0].client_cert`).
        key: String,
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not the PEM it should be, or the URL does not parse.
    #[error("{key}: {detail}")]
    Invalid {
        /// The config key.
        key: String,
        /// What is wrong.
        detail: String,
    },
}

/// The URL and client of `pull`.
pub(super) fn build(pull: &PullConfig) -> Result<(Url, Client), PullSetupError> {
    let invalid = |key: &str, detail: String| PullSetupError::Invalid {
        key: format!("{}.{key}", pull.key),
        detail,
    };
    let url = Url::parse(&pull.url).map_err(|e| invalid("url", format!("not a URL: {e}")))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &pull.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| invalid(&format!("headers.\"{name}\""), e.to_string()))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|e| invalid(&format!("headers.\"{name}\""), e.to_string()))?;
        // An API key: kept out of reqwest's debug output.
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    let mut builder = Client::builder()
        .tls_backend_native()
        .redirect(redirect::Policy::none())
        .user_agent(concat!("stadtpuls/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .timeout(pull.timeout)
        .connect_timeout(pull.timeout.min(CONNECT_TIMEOUT));
    if let Some(identity) = &pull.client_identity {
        let cert = read(&pull.key, "client_cert", &identity.cert)?;
        let key = read(&pull.key, "client_key", &identity.key)?;
        // native-tls takes PKCS#8 only and checks the first bytes.
        let key = key.trim_ascii_start();
        if !key.starts_with(b"-----BEGIN PRIVATE KEY-----") {
            return Err(invalid(
                "client_key",
                format!(
                    "{} is not a PKCS#8 PEM key (`BEGIN PRIVATE KEY`); convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`",
                    identity.key.display()
                ),
            ));
        }
        let identity = Identity::from_pkcs8_pem(&cert, key).map_err(|e| {
            invalid(
                "client_cert",
                format!(
                    "{} with {}: not a PEM certificate and key: {}",
                    identity.cert.display(),
                    identity.key.display(),
                    chain(&e)
                ),
            )
        })?;
        builder = builder.identity(identity);
    }
    if let Some(path) = &pull.ca {
        let pem = read(&pull.key, "ca", path)?;
        let certs = Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|certs| !certs.is_empty())
            .ok_or_else(|| invalid("ca", format!("{} holds no PEM certificate", path.display())))?;
        builder = builder.tls_certs_merge(certs);
    }
    let client = builder.build().map_err(|e| {
        invalid(
            "url",
            format!("cannot build the HTTP client: {}", chain(&e)),
        )
    })?;
    Ok((url, client))
}

fn read(base: &str, key: &str, path: &Path) -> Result<Vec<u8>, PullSetupError> {
    std::fs::read(path).map_err(|source| PullSetupError::Read {
        key: format!("{base}.{key}"),
        path: path.to_path_buf(),
        source,
    })
}

/// An error with its sources, `: `-separated (reqwest's own message hides the cause).
pub(super) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// The URL as logs show it: scheme, host, port and path; no user info or query, which may
/// carry a token.
pub(super) fn for_logs(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_show_no_token() {
        let url = Url::parse("https://user:pw@data.example:8443/v1/status.xml?token=s3cret")
            .expect("url");
        assert_eq!(for_logs(&url), "https://data.example:8443/v1/status.xml");
    }
}
