//! `[output]`: the topics closed windows are produced to, and how a topic name template
//! splits them per city or per sharing audience.
//!
//! Kafka ACLs work per topic: a reader who may read a topic reads every record in it. So
//! a city that does not share its data with everyone must not have its windows in a topic
//! every partner reads. A topic name may therefore hold one placeholder:
//!
//! - none: one topic for every city (the default, `metrics.traffic`);
//! - `{city}`: one topic per city (`metrics.{city}.traffic` → `metrics.ulm.traffic`);
//! - `{audience}`: one topic for the open data of every city that shares that kind
//!   `open`, and one per city for the others, whether `private` or `partners`
//!   (`metrics.{audience}.parking` → `metrics.open.parking`, `metrics.ulm.parking`). A
//!   `partners` city has a topic of its own because its audience differs from every other
//!   city's: the ACL of `metrics.ulm.parking` names ulm's and its partners' readers.
//!
//! The share is read per kind (`[cities.share]`): traffic and lane windows follow the
//! city's traffic share, parking windows its parking share.

use std::time::Duration;

use super::{
    CityConfig, DEFAULT_OUTPUT_ENABLED, DEFAULT_OUTPUT_PARKING_TOPIC, DEFAULT_OUTPUT_PUBLISH_EVERY,
    DEFAULT_OUTPUT_TRAFFIC_LANES_TOPIC, DEFAULT_OUTPUT_TRAFFIC_TOPIC, DataKind, Share,
};

/// Placeholder of a topic name template: the city id.
pub const CITY_PLACEHOLDER: &str = "{city}";
/// Placeholder of a topic name template: [`OPEN_AUDIENCE`] for a city that shares the
/// topic's kind of data `open`, the city id otherwise.
pub const AUDIENCE_PLACEHOLDER: &str = "{audience}";
/// What `{audience}` becomes for open data; no city may have this id when a template uses
/// `{audience}` (its private data would land in the open topic).
pub const OPEN_AUDIENCE: &str = "open";

/// How a topic name template splits the records of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicSplit {
    /// No placeholder: one topic for every city.
    Shared,
    /// `{city}`: one topic per city.
    City,
    /// `{audience}`: one topic for open data, one per city for the rest.
    Audience,
}

impl TopicSplit {
    /// The split of a validated template (one placeholder at most).
    pub fn of(template: &str) -> Self {
        if template.contains(AUDIENCE_PLACEHOLDER) {
            TopicSplit::Audience
        } else if template.contains(CITY_PLACEHOLDER) {
            TopicSplit::City
        } else {
            TopicSplit::Shared
        }
    }
}

/// The audience of `kind` of `city`'s data in topic names: [`OPEN_AUDIENCE`] when it is
/// open data, the city id when only the city (and its partners) may read it.
pub fn audience(city: &CityConfig, kind: DataKind) -> &str {
    match city.share.of(kind) {
        Share::Open => OPEN_AUDIENCE,
        Share::Private | Share::Partners => &city.id,
    }
}

/// The topic `template` names for `kind` of `city`'s data.
pub fn expand_topic(template: &str, city: &CityConfig, kind: DataKind) -> String {
    match TopicSplit::of(template) {
        TopicSplit::Shared => template.to_owned(),
        TopicSplit::City => template.replace(CITY_PLACEHOLDER, &city.id),
        TopicSplit::Audience => template.replace(AUDIENCE_PLACEHOLDER, audience(city, kind)),
    }
}

/// Output topics: closed windows produced to Kafka, keyed by city/entity/window so that a
/// compacted topic keeps the latest revision of each window (`docs/formats.md`). Each
/// topic is a name template (module doc): one topic, one per city or one per audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// Produce closed windows to the topics below (`stadtpuls run` only: the demo has no
    /// Kafka).
    pub enabled: bool,
    /// Per-sensor (cross-section) traffic windows with their MARZ state; a valid topic
    /// name (template), distinct from the other output topics and the dead-letter topic
    /// for every city.
    pub traffic_topic: String,
    /// Per-sensor-and-lane traffic windows (no MARZ state); valid and distinct as above.
    pub traffic_lanes_topic: String,
    /// Per-facility parking windows; valid and distinct as above.
    pub parking_topic: String,
    /// The DATEX II 2.3 `ParkingStatusPublication` of each city, written when it changes
    /// (looked at every `publish_every`); unset: none. A template like the others, split
    /// by the cities' parking share.
    pub datex2_topic: Option<String>,
    /// NGSI-LD upserts (`entityOperations/upsert` bodies) of each facility whose level
    /// changed, looked at every `publish_every`; unset: none. Split like `datex2_topic`.
    pub ngsi_ld_topic: Option<String>,
    /// How often the standard outputs' topics look for changed levels.
    pub publish_every: Duration,
}

impl OutputConfig {
    /// The window topics' templates with their config keys and the kind of data whose
    /// share decides `{audience}`.
    pub fn window_templates(&self) -> [(&'static str, &str, DataKind); 3] {
        [
            (
                "output.traffic_topic",
                &self.traffic_topic,
                DataKind::Traffic,
            ),
            (
                "output.traffic_lanes_topic",
                &self.traffic_lanes_topic,
                DataKind::Traffic,
            ),
            (
                "output.parking_topic",
                &self.parking_topic,
                DataKind::Parking,
            ),
        ]
    }

    /// Every configured template with its key and kind: the window topics', then the
    /// standard outputs' that are set.
    pub fn templates(&self) -> Vec<(&'static str, &str, DataKind)> {
        let mut all = self.window_templates().to_vec();
        all.extend(self.standard_templates());
        all
    }

    /// The standard outputs' templates that are set, with their keys and kind (parking).
    pub fn standard_templates(&self) -> Vec<(&'static str, &str, DataKind)> {
        let optional = [
            ("output.datex2_topic", &self.datex2_topic),
            ("output.ngsi_ld_topic", &self.ngsi_ld_topic),
        ];
        optional
            .into_iter()
            .filter_map(|(key, topic)| Some((key, topic.as_deref()?, DataKind::Parking)))
            .collect()
    }

    /// Every topic the window templates name for `cities`, each once, in a stable order.
    pub fn window_topics(&self, cities: &[CityConfig]) -> Vec<String> {
        expand_all(&self.window_templates(), cities)
    }

    /// Every topic the standard outputs' templates name for `cities`, each once.
    pub fn standard_topics(&self, cities: &[CityConfig]) -> Vec<String> {
        expand_all(&self.standard_templates(), cities)
    }
}

fn expand_all(templates: &[(&'static str, &str, DataKind)], cities: &[CityConfig]) -> Vec<String> {
    let mut topics: Vec<String> = Vec::new();
    for &(_, template, kind) in templates {
        if TopicSplit::of(template) == TopicSplit::Shared {
            push_new(&mut topics, template.to_owned());
            continue;
        }
        for city in cities {
            push_new(&mut topics, expand_topic(template, city, kind));
        }
    }
    topics
}

fn push_new(topics: &mut Vec<String>, topic: String) {
    if !topics.contains(&topic) {
        topics.push(topic);
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            enabled: DEFAULT_OUTPUT_ENABLED,
            traffic_topic: DEFAULT_OUTPUT_TRAFFIC_TOPIC.to_owned(),
            traffic_lanes_topic: DEFAULT_OUTPUT_TRAFFIC_LANES_TOPIC.to_owned(),
            parking_topic: DEFAULT_OUTPUT_PARKING_TOPIC.to_owned(),
            datex2_topic: None,
            ngsi_ld_topic: None,
            publish_every: DEFAULT_OUTPUT_PUBLISH_EVERY,
        }
    }
}
