//! Talking to the push gateway of a running `stadtpuls`: keys, POSTs, and waiting for what
//! a push should change (the live parking levels, `/metrics`).

use std::time::Duration;

use serde_json::Value;

use super::eventually;
use super::feeds::{json_get, level};
use super::get;

/// The SHA-256 a `[[push_keys]]` entry configures for `key`.
pub fn hash(key: &str) -> String {
    stadtpuls_api::sql::access::hash_key(key)
}

/// An answer: status, headers, the JSON body (or null).
pub type Answer = (u16, reqwest::header::HeaderMap, Value);

/// POSTs `body` to `url`; panics when no answer came.
pub async fn push(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    try_push(client, url, key, content_type, body)
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// POSTs `body` to `url`.
pub async fn try_push(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Answer, reqwest::Error> {
    let mut request = client.post(url).body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    Ok((
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    ))
}

/// Waits until `/v1/cities/{city}/parking` shows every `(id, free, total)`.
pub async fn wait_levels(
    client: &reqwest::Client,
    base: &str,
    city: &str,
    want: &[(&str, u64, u64)],
) {
    let url = format!("{base}/v1/cities/{city}/parking");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen: Vec<Option<(Value, Value)>> = match json_get(client, &url).await {
            Some(parking) => want.iter().map(|(id, ..)| level(&parking, id)).collect(),
            None => vec![None; want.len()],
        };
        let matches = want
            .iter()
            .zip(&seen)
            .all(|((_, free, total), seen)| *seen == Some(((*free).into(), (*total).into())));
        if matches {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after 60 s waiting for parking levels {want:?}; last seen {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `/metrics` carries every line of `lines`; returns the exposition.
pub async fn wait_metrics(client: &reqwest::Client, base: &str, lines: &[String]) -> String {
    eventually(Duration::from_secs(30), "metrics", || async {
        let (_, body) = get(client, &format!("{base}/metrics")).await;
        lines
            .iter()
            .all(|l| body.contains(l.as_str()))
            .then_some(body)
    })
    .await
}
