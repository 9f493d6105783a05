//! `[output]`: the topics closed windows are produced to, as name templates
//! (`model/output.rs`: none, `{city}` or `{audience}`).

use std::collections::HashMap;

use super::{Ctx, MAX_TOPIC_LEN};
use crate::fields;
use crate::model::{
    AUDIENCE_PLACEHOLDER, CITY_PLACEHOLDER, CityConfig, KafkaConfig, OPEN_AUDIENCE, OutputConfig,
    TopicSplit, expand_topic,
};
use crate::raw::RawOutput;

/// The shortest `output.publish_every`: the standard outputs render whole cities.
const MIN_PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How a conventional input topic is named in messages.
const INPUT: &str = "the input topic";

/// Validates `[output]` as far as it can without the cities: every topic name is a valid
/// Kafka topic name once its placeholder (at most one) is filled in, and no two of the
/// output topics and the dead-letter topic are the same (their records would mix, and a
/// compacted topic would let a traffic window replace a parking one of the same key).
/// [`output_topics_per_city`] checks the names each city gets.
pub(super) fn output(ctx: &mut Ctx<'_>, raw: RawOutput, kafka: &KafkaConfig) -> OutputConfig {
    let mut topics = vec![
        ("output.traffic_topic", &raw.traffic_topic),
        ("output.traffic_lanes_topic", &raw.traffic_lanes_topic),
        ("output.parking_topic", &raw.parking_topic),
    ];
    if let Some(topic) = &raw.datex2_topic {
        topics.push(("output.datex2_topic", topic));
    }
    if let Some(topic) = &raw.ngsi_ld_topic {
        topics.push(("output.ngsi_ld_topic", topic));
    }
    for (index, (path, name)) in topics.iter().enumerate() {
        if let Err(message) = check_template(name) {
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
    let publish_every = ctx
        .duration("output.publish_every", &raw.publish_every)
        .filter(|every| {
            let ok = *every >= MIN_PUBLISH_EVERY;
            if !ok {
                ctx.error("output.publish_every", "must be at least 1s");
            }
            ok
        });
    OutputConfig {
        enabled: raw.enabled,
        traffic_topic: raw.traffic_topic,
        traffic_lanes_topic: raw.traffic_lanes_topic,
        parking_topic: raw.parking_topic,
        datex2_topic: raw.datex2_topic,
        ngsi_ld_topic: raw.ngsi_ld_topic,
        publish_every: publish_every.unwrap_or(OutputConfig::default().publish_every),
    }
}

/// A topic name with at most one placeholder, used once, and no other brace; valid as a
/// topic name with a city id in the placeholder's place (its length is checked per city).
fn check_template(name: &str) -> Result<(), String> {
    let placeholders =
        name.matches(CITY_PLACEHOLDER).count() + name.matches(AUDIENCE_PLACEHOLDER).count();
    if placeholders > 1 {
        return Err(format!(
            "topic `{name}` has {placeholders} placeholders, at most one of \
             {CITY_PLACEHOLDER} and {AUDIENCE_PLACEHOLDER} is allowed"
        ));
    }
    let filled = name
        .replace(CITY_PLACEHOLDER, "city")
        .replace(AUDIENCE_PLACEHOLDER, "city");
    if filled.contains(['{', '}']) {
        return Err(format!(
            "topic `{name}` has an unknown placeholder, only {CITY_PLACEHOLDER} and \
             {AUDIENCE_PLACEHOLDER} are allowed"
        ));
    }
    fields::check_topic_name(&filled, usize::MAX)
        .map_err(|message| message.replace("`city`", CITY_PLACEHOLDER))?;
    if placeholders == 0 {
        fields::check_topic_name(name, MAX_TOPIC_LEN)?;
    }
    Ok(())
}

/// Checks the topic names the output templates give each city: valid in length, no city
/// `open` under an `{audience}` template, and no topic written twice — by two streams, as
/// the dead-letter topic, a city's feed or a city's conventional input topic
/// (`sensors.<city>.<kind>`, which `stadtpuls run` reads back). An error names the
/// template's key and the city.
pub(super) fn output_topics_per_city(
    ctx: &mut Ctx<'_>,
    output: &OutputConfig,
    cities: &[CityConfig],
    kafka: &KafkaConfig,
) {
    let mut taken: HashMap<String, String> = HashMap::new();
    taken.insert(
        kafka.deadletter_topic.clone(),
        "kafka.deadletter_topic".to_owned(),
    );
    for (index, city) in cities.iter().enumerate() {
        for kind in ["traffic", "parking"] {
            taken.insert(
                format!("sensors.{}.{kind}", city.id),
                format!("{INPUT} of cities[{index}]"),
            );
        }
        for (feed_index, feed) in city.feeds.iter().enumerate() {
            taken.insert(
                feed.topic.clone(),
                format!("cities[{index}].feeds[{feed_index}].topic"),
            );
        }
    }
    for (path, template, kind) in output.templates() {
        if check_template(template).is_err() {
            continue; // already reported
        }
        let split = TopicSplit::of(template);
        if split == TopicSplit::Shared {
            // Equal templates and the dead-letter topic are reported by `output`, a feed
            // of the same name at the feed (`feeds::own_topics`).
            if let Some(other) = taken.get(template).filter(|o| o.starts_with(INPUT)) {
                ctx.error(
                    path,
                    format!("topic `{template}` is also {other}, use a topic of its own"),
                );
            }
            taken.entry(template.to_owned()).or_insert(path.to_owned());
            continue;
        }
        if split == TopicSplit::Audience
            && let Some(city) = cities.iter().position(|c| c.id == OPEN_AUDIENCE)
        {
            ctx.error(
                path,
                format!(
                    "city id `{OPEN_AUDIENCE}` (cities[{city}]) is what {AUDIENCE_PLACEHOLDER} \
                     stands for with open data; rename the city or use {CITY_PLACEHOLDER}"
                ),
            );
            continue;
        }
        let mut own: Vec<String> = Vec::new();
        for city in cities {
            let topic = expand_topic(template, city, kind);
            if own.contains(&topic) {
                continue; // the open topic, shared by the open cities
            }
            if let Err(message) = fields::check_topic_name(&topic, MAX_TOPIC_LEN) {
                ctx.error(path, format!("for city `{}`: {message}", city.id));
                continue;
            }
            if let Some(other) = taken.get(&topic) {
                ctx.error(
                    path,
                    format!(
                        "topic `{topic}` (city `{}`) is also {other}, use a topic of its own",
                        city.id
                    ),
                );
                continue;
            }
            own.push(topic);
        }
        for topic in own {
            taken.insert(topic, path.to_owned());
        }
    }
}
