//! A server-sent events reader over a reqwest response, for the push stream's tests:
//! frames as the server wrote them (`id:`, `event:`, `data:`, comment lines).

#![allow(dead_code)]

use std::time::Duration;

/// One SSE frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Reads frames from a streaming response body.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
    /// Comment lines seen so far (`: heartbeat`).
    pub comments: usize,
}

impl SseReader {
    /// GETs `url` (with `Last-Event-ID` if given) and checks the SSE content type.
    pub async fn connect(client: &reqwest::Client, url: &str, last_event_id: Option<&str>) -> Self {
        let mut request = client.get(url);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(response.status().as_u16(), 200, "GET {url}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "text/event-stream", "GET {url}");
        Self {
            response,
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next frame with an event name within `wait` (comment lines are counted and
    /// skipped); panics at the timeout or the end of the stream.
    pub async fn next(&mut self, wait: Duration) -> Frame {
        tokio::time::timeout(wait, self.read())
            .await
            .unwrap_or_else(|_| panic!("no event within {wait:?}"))
            .unwrap_or_else(|| panic!("the stream ended"))
    }

    /// The next frame, `None` at the end of the stream.
    pub async fn read(&mut self) -> Option<Frame> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        frame.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        frame.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v);
                    }
                }
                frame.data = data.join("\n");
                if !frame.event.is_empty() || !frame.data.is_empty() {
                    return Some(frame);
                }
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
