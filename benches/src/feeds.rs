//! The pipeline step set up for one partner-feed topic, for the decoder benches
//! (`benches/benches/{ttn,feeds}.rs`): a catalog and `external_id` map filled by the bench,
//! the topic's format, and messages as the Kafka source hands them over.

use std::sync::Arc;

use stadtpuls_config::{FeedFormat, LoraCodec};
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::decode::feed::FeedTopics;
use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions, RawMessage};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

/// The one city of a feed bench.
pub const CITY: &str = "bench";

/// A feed topic and what its bench registers.
pub struct FeedBench {
    /// The topic the messages come from.
    pub topic: &'static str,
    /// The topic's configured format.
    pub format: FeedFormat,
    /// The feed's `codec` (TTN only).
    pub codec: Option<LoraCodec>,
    /// Adds the bench's sensors, facilities and spots (city key 0) and their external ids.
    pub register: fn(&mut Catalog, &mut ExternalIds),
}

impl FeedBench {
    /// A fresh pipeline (empty windows, an empty TTN duplicate memory) for the topic: 1-minute
    /// windows, no live view, limits that refuse nothing of a well-formed bench message.
    pub fn pipeline(&self) -> Pipeline {
        let mut catalog = Catalog::with_cities(&[CITY], UnknownSensors::Reject);
        let mut ids = ExternalIds::default();
        (self.register)(&mut catalog, &mut ids);
        let mut feeds = FeedTopics::default();
        feeds.insert(self.topic, 0, CITY, self.format);
        feeds.set_codec(self.topic, self.codec);
        let spec = WindowSpec::tumbling(&[60_000], 30_000, 600_000, TimestampSemantics::Instant);
        let limits = Limits {
            max_message_bytes: 16 << 20,
            max_future_ms: i64::MAX / 4,
            max_clock_jump_ms: i64::MAX / 4,
        };
        let options = PipelineOptions {
            update_live: false,
            ..PipelineOptions::default()
        };
        Pipeline::from_parts(
            catalog,
            &spec,
            &ParkingSpec::default(),
            limits,
            Arc::new(LiveState::new(0)),
            options,
        )
        .with_feeds(feeds, ids)
    }

    /// The bodies as consecutive records of partition 0 of the topic.
    pub fn messages(&self, bodies: impl IntoIterator<Item = String>) -> Vec<RawMessage> {
        bodies
            .into_iter()
            .enumerate()
            .map(|(offset, body)| RawMessage {
                source: 0,
                topic: Arc::from(self.topic),
                partition: 0,
                offset: offset as i64,
                key: None,
                payload: body.into_bytes().into(),
                format: None,
            })
            .collect()
    }
}
