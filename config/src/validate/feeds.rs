//! `[[cities.feeds]]`: each topic named once, not one of Stadtpuls' own topics, and, if it
//! follows the `sensors.<city>.<kind>` convention, named for the city that lists it.

use std::collections::HashMap;

use super::{Ctx, MAX_TOPIC_LEN};
use crate::fields;
use crate::model::{FeedConfig, FeedFormat, KafkaConfig, LoraCodec, OutputConfig};
use crate::raw::RawFeed;

/// Topics already claimed, across cities: topic → the key that named it first.
pub(super) type Claimed = HashMap<String, String>;

/// Validates one city's feeds; `base` is `cities[i]`.
pub(super) fn feeds(
    ctx: &mut Ctx<'_>,
    base: &str,
    city: &str,
    raw: Vec<RawFeed>,
    own: &[&str],
    claimed: &mut Claimed,
) -> Vec<FeedConfig> {
    let mut feeds = Vec::with_capacity(raw.len());
    for (index, feed) in raw.into_iter().enumerate() {
        let key = format!("{base}.feeds[{index}]");
        let format = feed
            .format
            .parse::<FeedFormat>()
            .map_err(|message| ctx.error(&format!("{key}.format"), message))
            .ok();
        let codec = match (&feed.codec, format) {
            (None, _) => None,
            (Some(name), Some(FeedFormat::Ttn)) => name
                .parse::<LoraCodec>()
                .map_err(|message| ctx.error(&format!("{key}.codec"), message))
                .ok(),
            (Some(_), _) => {
                ctx.error(
                    &format!("{key}.codec"),
                    "`codec` applies to `format = \"ttn\"` only",
                );
                None
            }
        };
        let topic_key = format!("{key}.topic");
        if let Err(message) = fields::check_topic_name(&feed.topic, MAX_TOPIC_LEN) {
            ctx.error(&topic_key, message);
            continue;
        }
        if own.contains(&feed.topic.as_str()) {
            let message = format!(
                "`{}` is a topic Stadtpuls writes (dead letters or output), not a feed",
                feed.topic
            );
            ctx.error(&topic_key, message);
            continue;
        }
        if let Some(other) = convention_city(&feed.topic).filter(|other| *other != city) {
            let message = format!(
                "topic `{}` names city `{other}` but is listed under city `{city}`",
                feed.topic
            );
            ctx.error(&topic_key, message);
            continue;
        }
        if let Some(first) = claimed.get(&feed.topic) {
            let message = format!("topic `{}` is already listed at `{first}`", feed.topic);
            ctx.error(&topic_key, message);
            continue;
        }
        claimed.insert(feed.topic.clone(), topic_key);
        if let Some(format) = format {
            feeds.push(FeedConfig {
                topic: feed.topic,
                format,
                codec,
            });
        }
    }
    feeds
}

/// The topics Stadtpuls itself writes, which no feed may name.
pub(super) fn own_topics<'a>(kafka: &'a KafkaConfig, output: &'a OutputConfig) -> Vec<&'a str> {
    vec![
        kafka.deadletter_topic.as_str(),
        output.traffic_topic.as_str(),
        output.traffic_lanes_topic.as_str(),
        output.parking_topic.as_str(),
    ]
}

/// The city of a `sensors.<city>.<traffic|parking>` topic.
fn convention_city(topic: &str) -> Option<&str> {
    let rest = topic.strip_prefix("sensors.")?;
    let (city, kind) = rest.rsplit_once('.')?;
    matches!(kind, "traffic" | "parking").then_some(city)
}
