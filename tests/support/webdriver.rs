//! A minimal W3C WebDriver client for the live map's browser test: starts Debian's
//! `chromedriver` on a free port driving headless `chromium`, and speaks the few commands
//! the test needs (navigate, run a script, find, click, send keys, screenshot) as JSON over
//! HTTP with reqwest. A WebDriver crate would bring its own HTTP stack for these ten calls.
//!
//! The binaries are `chromedriver` and `chromium` on `PATH` (Debian's `chromium-driver` and
//! `chromium`, installed by `scripts/test.sh`), or `STADTPULS_CHROMEDRIVER` /
//! `STADTPULS_CHROMIUM`. Without them the test fails and says so: a browser test that
//! passes without a browser proves nothing.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The W3C key of an element reference in a WebDriver answer.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's code points of special keys.
pub const ENTER: &str = "\u{E007}";
pub const ARROW_DOWN: &str = "\u{E015}";

/// A headless Chromium under chromedriver; both end when it is dropped.
pub struct Browser {
    driver: Child,
    client: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

fn binary(env: &str, name: &str) -> PathBuf {
    let found = match std::env::var_os(env) {
        Some(path) => Some(PathBuf::from(path)).filter(|path| path.is_file()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        }),
    };
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` not found on PATH or at {env}: the map's browser test needs Debian's \
             chromium and chromium-driver (`apt-get install chromium chromium-driver`; \
             scripts/test.sh installs them)"
        )
    })
}

impl Browser {
    /// Starts chromedriver and a headless browser session with a 1280×900 window.
    pub async fn start() -> Self {
        let driver_bin = binary("STADTPULS_CHROMEDRIVER", "chromedriver");
        let chromium = binary("STADTPULS_CHROMIUM", "chromium");
        let port = super::common::free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_bin.display()));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client
                .get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .and_then(|r| r.status().is_success().then_some(()));
            if ready.is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {base}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("browser profile dir");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--no-first-run",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let mut browser = Self {
            driver,
            client,
            session: String::new(),
            _profile: profile,
        };
        let answer = browser
            .call("POST", &format!("{base}/session"), capabilities)
            .await;
        let id = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"));
        browser.session = format!("{base}/session/{id}");
        browser
    }

    /// One WebDriver command; its `value`, or a panic with the driver's error.
    async fn call(&self, method: &str, url: &str, body: Value) -> Value {
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).json(&body),
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"));
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {url}: not JSON: {e}"));
        assert!(
            status.is_success(),
            "WebDriver {method} {url}: {status} {answer}"
        );
        answer["value"].clone()
    }

    async fn session_call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        self.call(method, &url, body).await
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.session_call("POST", "/url", json!({ "url": url }))
            .await;
    }

    /// Runs `body` (a function body: `return …;`) in the page with `args` as `arguments`.
    pub async fn script(&self, body: &str, args: Value) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            json!({ "script": body, "args": args }),
        )
        .await
    }

    /// The first element matching `css`.
    pub async fn find(&self, css: &str) -> String {
        let found = self
            .session_call(
                "POST",
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        element_id(&found)
    }

    /// The element that has the keyboard focus.
    pub async fn active(&self) -> String {
        let found = self
            .session_call("GET", "/element/active", Value::Null)
            .await;
        element_id(&found)
    }

    /// Clicks `element` as a mouse would.
    pub async fn click(&self, element: &str) {
        self.session_call("POST", &format!("/element/{element}/click"), json!({}))
            .await;
    }

    /// Types `keys` into `element` (focusing it first, as a user would).
    pub async fn send_keys(&self, element: &str, keys: &str) {
        self.session_call(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": keys }),
        )
        .await;
    }

    /// An attribute of `element`, or `None`.
    pub async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        let value = self
            .session_call(
                "GET",
                &format!("/element/{element}/attribute/{name}"),
                Value::Null,
            )
            .await;
        value.as_str().map(str::to_owned)
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.session_call("GET", "/screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 screenshot"))
            .expect("screenshot is base64")
    }

    /// Ends the session (the browser quits) before the driver is stopped.
    pub async fn quit(mut self) {
        let url = std::mem::take(&mut self.session);
        if !url.is_empty() {
            let _ = self.client.delete(url).send().await;
        }
    }
}

fn element_id(found: &Value) -> String {
    found[ELEMENT]
        .as_str()
        .unwrap_or_else(|| panic!("not an element: {found}"))
        .to_owned()
}

/// Ends the session with a blocking `DELETE` (a failed test never reaches
/// [`Browser::quit`]; killing chromedriver alone leaves Chromium running).
fn delete_session(url: &str) {
    let Some((host, path)) = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
    else {
        return;
    };
    let Ok(mut stream) = TcpStream::connect(host) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            delete_session(&self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
