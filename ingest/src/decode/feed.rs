//! Which format a message is in, and its decoding: the one place every partner format
//! plugs in (`ARCHITECTURE.md`, "How to add a feed format").
//!
//! A topic's format comes from `[[cities.feeds]]` (looked up once per run of a
//! topic-partition's messages, see `pipeline.rs`), a record's `content-type` header
//! overrides it ([`RawMessage::format`](crate::message::RawMessage)), and native JSON is
//! the default. Native messages never come here: for them the dispatch costs one branch.

use std::collections::HashMap;
use std::sync::Arc;

use memchr::memmem;
use stadtpuls_config::{Config, FeedFormat, LoraCodec};
use stadtpuls_processing::catalog::{Catalog, CityKey};
use stadtpuls_processing::model::TimeBounds;

use super::emit::Emit;
use super::external::ExternalIds;
use super::native::{self, Sinks};
use super::ttn::{self, TtnInput};
use super::{StreamKind, datex2, fiware, parkapi};

/// A configured feed topic: its city and format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRoute {
    /// The city that lists the topic.
    pub city: CityKey,
    /// Its id, for the observations and the metric labels.
    pub city_id: Arc<str>,
    /// What the topic's records are.
    pub format: FeedFormat,
    /// For `ttn`: the payload codec of its devices (`[[cities.feeds]] codec`).
    pub codec: Option<LoraCodec>,
}

/// Every `[[cities.feeds]]` topic, by name.
#[derive(Debug, Clone, Default)]
pub struct FeedTopics {
    by_topic: HashMap<Arc<str>, FeedRoute>,
}

impl FeedTopics {
    /// The feeds of `config` whose city `catalog` knows.
    pub fn from_config(config: &Config, catalog: &Catalog) -> Self {
        let mut topics = Self::default();
        for (city, feed) in config.feeds() {
            if let Some(key) = catalog.city(&city.id) {
                topics.insert(&feed.topic, key, &city.id, feed.format);
                topics.set_codec(&feed.topic, feed.codec);
            }
        }
        topics
    }

    /// Adds one topic (tests, tools).
    pub fn insert(&mut self, topic: &str, city: CityKey, city_id: &str, format: FeedFormat) {
        self.by_topic.insert(
            Arc::from(topic),
            FeedRoute {
                city,
                city_id: Arc::from(city_id),
                format,
                codec: None,
            },
        );
    }

    /// Sets the payload codec of a `ttn` topic already inserted.
    pub fn set_codec(&mut self, topic: &str, codec: Option<LoraCodec>) {
        if let Some(route) = self.by_topic.get_mut(topic) {
            route.codec = codec;
        }
    }

    /// The route of `topic`, if it is a configured feed.
    pub fn route(&self, topic: &str) -> Option<&FeedRoute> {
        if self.by_topic.is_empty() {
            return None;
        }
        self.by_topic.get(topic)
    }
}

/// The stream a refused whole message of `format` is counted under, when its topic does
/// not say: ParkAPI is parking; FIWARE traffic entities name their type.
pub(crate) fn kind_of(format: FeedFormat, payload: &[u8]) -> StreamKind {
    match format {
        FeedFormat::Native => super::infer_kind(payload),
        FeedFormat::ParkApi | FeedFormat::Ttn => StreamKind::Parking,
        FeedFormat::Datex2 => {
            if memmem::find(payload, b"siteMeasurements").is_some() {
                StreamKind::Traffic
            } else {
                StreamKind::Parking
            }
        }
        FeedFormat::Fiware => {
            if memmem::find(payload, b"TrafficFlowObserved").is_some() {
                StreamKind::Traffic
            } else {
                StreamKind::Parking
            }
        }
    }
}

/// The city a feed message's observations belong to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedCity<'a> {
    pub(crate) key: CityKey,
    pub(crate) id: &'a str,
}

/// Decodes one message of `format` for `city` into the sinks; returns the observations
/// accepted and the facilities admitted. A document may hold many; each bad one is refused on its own. `kind` is asked
/// for native payloads only (guessing it scans the payload). `ttn` is what the TTN decoder
/// keeps per partition (unused by the other formats).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode(
    format: FeedFormat,
    kind: impl FnOnce() -> StreamKind,
    payload: &[u8],
    city: FeedCity<'_>,
    external: &ExternalIds,
    bounds: TimeBounds,
    ttn: &mut TtnInput<'_>,
    sinks: &mut Sinks<'_>,
) -> Decoded {
    let mut emit = Emit {
        sinks,
        city: city.key,
        city_id: city.id,
        external,
        bounds,
        accepted: 0,
        admitted: 0,
    };
    match format {
        FeedFormat::Native => {
            let accepted = native::decode(kind(), payload, Some(city.key), bounds, emit.sinks);
            return Decoded {
                accepted,
                admitted: 0,
            };
        }
        FeedFormat::Fiware => fiware::decode(payload, &mut emit),
        FeedFormat::ParkApi => parkapi::decode(payload, &mut emit),
        FeedFormat::Ttn => ttn::decode(payload, ttn, &mut emit),
        FeedFormat::Datex2 => datex2::decode(payload, &mut emit),
    }
    Decoded {
        accepted: emit.accepted,
        admitted: emit.admitted,
    }
}

/// What one feed message gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Observations accepted.
    pub(crate) accepted: usize,
    /// Facilities admitted at run time (`admit_unmapped_facilities`).
    pub(crate) admitted: usize,
}

/// Decodes one document of a partner `format` of `city` into `sinks`, as the pipeline
/// does for a feed topic; returns the observations accepted, or `None` for `ttn` (its
/// decoder keeps a duplicate memory per partition, which only the pipeline holds). For
/// tests and tools that hold no pipeline, e.g. reading Stadtpuls' own standard outputs
/// back (`tests/e2e_outputs.rs`).
pub fn decode_document(
    format: FeedFormat,
    payload: &[u8],
    city: CityKey,
    city_id: &str,
    external: &ExternalIds,
    bounds: TimeBounds,
    sinks: &mut Sinks<'_>,
) -> Option<usize> {
    let mut emit = Emit {
        sinks,
        city,
        city_id,
        external,
        bounds,
        accepted: 0,
        admitted: 0,
    };
    match format {
        FeedFormat::Native => {
            let kind = super::infer_kind(payload);
            return Some(native::decode(
                kind,
                payload,
                Some(city),
                bounds,
                emit.sinks,
            ));
        }
        FeedFormat::Fiware => fiware::decode(payload, &mut emit),
        FeedFormat::ParkApi => parkapi::decode(payload, &mut emit),
        FeedFormat::Datex2 => datex2::decode(payload, &mut emit),
        FeedFormat::Ttn => return None,
    }
    Some(emit.accepted)
}

#[cfg(test)]
mod tests;
