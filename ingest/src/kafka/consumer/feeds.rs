//! The consumer's part of partner feeds: its subscription — `kafka.topic_pattern` (a
//! regular expression, so new cities' topics are picked up without a restart) and the
//! literal topics of `[[cities.feeds]]`, which need not match it — and the `content-type`
//! header that picks a format per record (`docs/formats.md`, "Choosing the format").

use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::Headers;
use stadtpuls_config::FeedFormat;

use crate::{IngestError, Result};

/// Subscribes `consumer` to `pattern` and every feed topic.
pub(super) fn subscribe<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    pattern: &str,
    feed_topics: &[&str],
) -> Result<()> {
    let mut topics = vec![pattern];
    for topic in feed_topics {
        if !topics.contains(topic) {
            topics.push(topic);
        }
    }
    consumer
        .subscribe(&topics)
        .map_err(|e| IngestError::kafka(format!("subscribe to `{}`", topics.join("`, `")), e))
}

/// The format a record's `content-type` header names (a record without headers, the
/// native producers' case, costs one branch).
pub(super) fn content_type_format<H: Headers>(headers: &H) -> Option<FeedFormat> {
    headers
        .iter()
        .find(|header| header.key.eq_ignore_ascii_case("content-type"))
        .and_then(|header| header.value)
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(FeedFormat::from_content_type)
}
