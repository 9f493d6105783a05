//! `[kafka]`: brokers, group membership, topics, message and batch limits, and the
//! librdkafka pass-through settings.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Ctx, KIB, MAX_TOPIC_LEN, MIB, in_range, positive};
use crate::fields;
use crate::model::{InstanceId, KafkaConfig, MAX_INSTANCE_ID_LEN, is_instance_id_char};
use crate::raw::RawKafka;

const MAX_BATCH_WAIT: Duration = Duration::from_secs(10);

/// librdkafka settings that have a dedicated key, so a second spelling cannot win
/// silently.
const DEDICATED_SETTINGS: [(&str, &str); 5] = [
    ("bootstrap.servers", "kafka.brokers"),
    ("metadata.broker.list", "kafka.brokers"),
    ("group.id", "kafka.group_id"),
    ("group.instance.id", "kafka.instance_id"),
    (
        "message.max.bytes",
        "kafka.max_message_bytes` (input) or `kafka.deadletter_max_bytes",
    ),
];

pub(super) fn kafka(ctx: &mut Ctx<'_>, raw: RawKafka) -> KafkaConfig {
    let defaults = KafkaConfig::default();
    ctx.non_empty("kafka.brokers", &raw.brokers);
    ctx.non_empty("kafka.group_id", &raw.group_id);
    let instance_id = instance_id(ctx, raw.instance_id.as_deref());
    if !raw.topic_pattern.starts_with('^') {
        let message = format!(
            "topic pattern `{}` must start with `^`, librdkafka only treats such subscriptions as regular expressions",
            raw.topic_pattern
        );
        ctx.error("kafka.topic_pattern", message);
    }
    if let Err(message) = fields::check_topic_name(&raw.deadletter_topic, MAX_TOPIC_LEN) {
        ctx.error("kafka.deadletter_topic", message);
    }
    let max_message_bytes = in_range(
        ctx,
        "kafka.max_message_bytes",
        raw.max_message_bytes,
        KIB,
        100 * MIB,
        "1 KiB ..= 100 MiB",
    );
    // At least 4 KiB: the headers take up to about 2 KiB (the detail is cut to 1 KiB, a
    // topic name is at most 249 bytes) and the key up to 1 KiB, which leaves room for a
    // payload that still identifies the sender.
    let deadletter_max_bytes = in_range(
        ctx,
        "kafka.deadletter_max_bytes",
        raw.deadletter_max_bytes,
        4 * KIB,
        100 * MIB,
        "4 KiB ..= 100 MiB",
    );
    let batch_max_messages = in_range(
        ctx,
        "kafka.batch_max_messages",
        raw.batch_max_messages,
        1,
        i64::MAX,
        "at least 1",
    );
    let batch_max_wait =
        positive(ctx, "kafka.batch_max_wait", &raw.batch_max_wait).filter(|wait| {
            let fits = *wait <= MAX_BATCH_WAIT;
            if !fits {
                ctx.error(
                    "kafka.batch_max_wait",
                    format!("`{}` is longer than the maximum of 10s", raw.batch_max_wait),
                );
            }
            fits
        });
    let mut librdkafka = BTreeMap::new();
    for (key, value) in raw.librdkafka {
        let path = format!("kafka.librdkafka.\"{key}\"");
        if key.trim().is_empty() {
            ctx.error(&path, "setting name must not be empty");
        } else if let Some((_, instead)) = DEDICATED_SETTINGS.iter().find(|(name, _)| *name == key)
        {
            ctx.error(
                &path,
                format!("set `{instead}` instead of librdkafka `{key}`"),
            );
        }
        librdkafka.insert(key, value.0);
    }
    KafkaConfig {
        brokers: raw.brokers,
        group_id: raw.group_id,
        instance_id,
        topic_pattern: raw.topic_pattern,
        deadletter_topic: raw.deadletter_topic,
        max_message_bytes: max_message_bytes.unwrap_or(defaults.max_message_bytes),
        deadletter_max_bytes: deadletter_max_bytes.unwrap_or(defaults.deadletter_max_bytes),
        batch_max_messages: batch_max_messages.unwrap_or(defaults.batch_max_messages),
        batch_max_wait: batch_max_wait.unwrap_or(defaults.batch_max_wait),
        librdkafka,
    }
}

/// `kafka.instance_id`: unset → derived from the host, `""` → dynamic membership, else a
/// `group.instance.id` as Kafka accepts it (its topic name rule: `[A-Za-z0-9._-]`, at most
/// 249 characters; the broker would refuse every join otherwise).
fn instance_id(ctx: &mut Ctx<'_>, raw: Option<&str>) -> InstanceId {
    let Some(id) = raw else {
        return InstanceId::FromHost;
    };
    if id.is_empty() {
        return InstanceId::Dynamic;
    }
    if let Some(bad) = id.chars().find(|c| !is_instance_id_char(*c)) {
        ctx.error(
            "kafka.instance_id",
            format!("`{id}` contains `{bad}`; use only ASCII letters, digits, `.`, `_` and `-` (or \"\" for dynamic membership)"),
        );
    } else if id.len() > MAX_INSTANCE_ID_LEN {
        ctx.error(
            "kafka.instance_id",
            format!("longer than {MAX_INSTANCE_ID_LEN} characters"),
        );
    }
    InstanceId::Fixed(id.to_owned())
}
