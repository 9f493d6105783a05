//! `[output]`: the topics closed windows are produced to.

use super::{Ctx, MAX_TOPIC_LEN};
use crate::fields;
use crate::model::{KafkaConfig, OutputConfig};
use crate::raw::RawOutput;

/// Validates `[output]`: every topic name is a valid Kafka topic name, and no two of the
/// output topics and the dead-letter topic are the same (their records would mix, and a
/// compacted topic would let a traffic window replace a parking one of the same key).
pub(super) fn output(ctx: &mut Ctx<'_>, raw: RawOutput, kafka: &KafkaConfig) -> OutputConfig {
    let topics = [
        ("output.traffic_topic", &raw.traffic_topic),
        ("output.traffic_lanes_topic", &raw.traffic_lanes_topic),
        ("output.parking_topic", &raw.parking_topic),
    ];
    for (index, (path, name)) in topics.iter().enumerate() {
        if let Err(message) = fields::check_topic_name(name, MAX_TOPIC_LEN) {
            ctx.error(path, message);
            continue;
        }
        if **name == kafka.deadletter_topic {
            ctx.error(
                path,
                format!("topic `{name}` is also kafka.deadletter_topic, use a topic of its own"),
            );
        }
        if let Some((other, _)) = topics[..index].iter().find(|(_, earlier)| earlier == name) {
            ctx.error(
                path,
                format!("topic `{name}` is also {other}, use a topic of its own"),
            );
        }
    }
    OutputConfig {
        enabled: raw.enabled,
        traffic_topic: raw.traffic_topic,
        traffic_lanes_topic: raw.traffic_lanes_topic,
        parking_topic: raw.parking_topic,
    }
}
