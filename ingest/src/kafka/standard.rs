//! The standard outputs on Kafka (`[output] datex2_topic`, `ngsi_ld_topic`): each city's
//! DATEX II 2.3 `ParkingStatusPublication` and NGSI-LD upserts of its facilities, rendered
//! by `stadtpuls_processing::publish` from the live view, as the HTTP routes render them.
//!
//! Every `publish_every` the live levels are looked at; what changed since the last
//! acknowledged record is produced: a city's status publication when its live revision
//! (`publish::live_revision`: counts, status, trend, staleness) changed, keyed by the city
//! id; a facility's entity when its rendering changed, keyed by the entity id, its value
//! the body `POST /ngsi-ld/v1/entityOperations/upsert` takes (a JSON array of one
//! normalized entity with its `@context`). Keyed so that a compacted topic keeps the
//! latest per city or facility. These are snapshots, not windows: a record not
//! acknowledged is sent again at the next look (its state is not marked sent), and a
//! restart sends everything once more — a consumer upserts. Facilities that never
//! reported are not sent. Topics are split per city or audience like the window topics
//! (kind parking).
//!
//! With several instances each publishes the facilities whose partitions it reads; a
//! city's DATEX II publication then holds only those (the NGSI-LD records, one per
//! facility, are complete together).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use stadtpuls_config::{CityConfig, CityRegistry, Config, KafkaConfig, OutputConfig};
use stadtpuls_config::{DataKind, expand_topic};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::publish::ngsi_ld::{self, Form};
use stadtpuls_processing::publish::{
    FacilityFacts, Publication, PublishedFacility, datex2, live_revision, with_levels,
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::HealthContext;
use super::output::COMPACT;
use crate::health::BrokerHealth;
use crate::metrics;
use crate::{IngestError, Result};

/// The `format` label of the DATEX II records.
const DATEX2: &str = "datex2";
/// The `format` label of the NGSI-LD records.
const NGSI_LD: &str = "ngsi_ld";

/// Creates the standard outputs' topics of `cities` that do not exist yet, compacted
/// (the latest record per city or facility is what a consumer needs).
///
/// # Errors
/// When the broker cannot be reached or refuses to create a topic even without configs.
pub async fn ensure_standard_topics(
    kafka: &KafkaConfig,
    output: &OutputConfig,
    cities: &[CityConfig],
) -> Result<()> {
    let topics = output.standard_topics(cities);
    if topics.is_empty() {
        return Ok(());
    }
    super::admin::ensure_topics_with(kafka, &topics, -1, -1, &[COMPACT]).await
}

/// One city's facilities, topics and what was last acknowledged.
#[derive(Debug)]
struct CityOutputs {
    id: String,
    facilities: Vec<FacilityFacts>,
    datex2: Option<String>,
    ngsi_ld: Option<String>,
    /// Live revision tag of the last acknowledged status publication.
    datex2_sent: Option<u64>,
    /// By facility index: hash of the last acknowledged upsert body.
    ngsi_ld_sent: Vec<Option<u64>>,
}

/// What one look produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Status publications acknowledged.
    pub datex2: u64,
    /// NGSI-LD upserts acknowledged.
    pub ngsi_ld: u64,
    /// Records not acknowledged (sent again at the next look).
    pub failed: u64,
}

/// What an acknowledgement marks as sent.
enum Sent {
    Datex2 {
        city: usize,
        tag: u64,
    },
    NgsiLd {
        city: usize,
        facility: usize,
        hash: u64,
    },
}

/// Produces the standard outputs of the live view to their topics.
pub struct StandardTopics {
    producer: FutureProducer<HealthContext>,
    live: Arc<LiveState>,
    cities: Vec<CityOutputs>,
    static_since: i64,
    stale_after_ms: i64,
    every: Duration,
}

impl std::fmt::Debug for StandardTopics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardTopics")
            .field("cities", &self.cities.len())
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl StandardTopics {
    /// The publisher of `config`'s standard output topics over `live`, or `None` when no
    /// such topic is configured (or `[output]` is off). `static_since` is when the
    /// registries were loaded (the static records' version time, as the HTTP routes use).
    ///
    /// # Errors
    /// When librdkafka refuses the settings.
    pub fn from_config(
        config: &Config,
        registries: &[CityRegistry],
        live: Arc<LiveState>,
        static_since: i64,
        health: BrokerHealth,
    ) -> Result<Option<Self>> {
        let output = &config.output;
        if !output.enabled || (output.datex2_topic.is_none() && output.ngsi_ld_topic.is_none()) {
            return Ok(None);
        }
        let topic = |template: &Option<String>, city: &CityConfig| {
            template
                .as_deref()
                .map(|t| expand_topic(t, city, DataKind::Parking))
        };
        let cities: Vec<CityOutputs> = registries
            .iter()
            .map(|registry| {
                let facilities = FacilityFacts::of_registry(registry);
                CityOutputs {
                    id: registry.city.id.clone(),
                    ngsi_ld_sent: vec![None; facilities.len()],
                    facilities,
                    datex2: topic(&output.datex2_topic, &registry.city),
                    ngsi_ld: topic(&output.ngsi_ld_topic, &registry.city),
                    datex2_sent: None,
                }
            })
            .collect();
        let producer = producer(&config.kafka, &health)?;
        for format in [DATEX2, NGSI_LD] {
            // Registered at zero so dashboards see the series before the first record.
            metrics::STANDARD_OUTPUT_RECORDS.with_label_values(&[format]);
            metrics::STANDARD_OUTPUT_FAILURES.with_label_values(&[format]);
        }
        Ok(Some(Self {
            producer,
            live,
            cities,
            static_since,
            stale_after_ms: config.parking.stale_after.as_millis() as i64,
            every: output.publish_every,
        }))
    }

    /// Looks at the live levels once, at wall-clock time `now_ms`, produces what changed
    /// and awaits every delivery report.
    pub async fn publish(&mut self, now_ms: i64) -> Published {
        let mut pending: Vec<(Sent, DeliveryFuture)> = Vec::new();
        let mut failed = 0u64;
        for (index, city) in self.cities.iter().enumerate() {
            let levels = self.live.facilities(&city.id);
            let publication = Publication {
                city: &city.id,
                published_at: now_ms,
                static_since: self.static_since,
                stale_after_ms: self.stale_after_ms,
            };
            let published = with_levels(&city.facilities, &levels);
            let records = records(index, city, &publication, &published);
            for (topic, key, value, content_type, sent) in records {
                let headers = OwnedHeaders::new().insert(Header {
                    key: "content-type",
                    value: Some(content_type),
                });
                let record = FutureRecord::to(topic)
                    .key(&key)
                    .payload(&value)
                    .headers(headers);
                match self.producer.send_result(record) {
                    Ok(delivery) => pending.push((sent, delivery)),
                    Err((error, _)) => {
                        // Queue full or the like: sent again at the next look.
                        debug!(%error, topic, "standard output record not enqueued");
                        failed += 1;
                        metrics::STANDARD_OUTPUT_FAILURES
                            .with_label_values(&[sent.format()])
                            .inc();
                    }
                }
            }
        }
        let mut done = Published {
            failed,
            ..Published::default()
        };
        for (sent, delivery) in pending {
            let format = sent.format();
            if matches!(delivery.await, Ok(Ok(_))) {
                match sent {
                    Sent::Datex2 { city, tag } => {
                        self.cities[city].datex2_sent = Some(tag);
                        done.datex2 += 1;
                    }
                    Sent::NgsiLd {
                        city,
                        facility,
                        hash,
                    } => {
                        self.cities[city].ngsi_ld_sent[facility] = Some(hash);
                        done.ngsi_ld += 1;
                    }
                }
                metrics::STANDARD_OUTPUT_RECORDS
                    .with_label_values(&[format])
                    .inc();
            } else {
                done.failed += 1;
                metrics::STANDARD_OUTPUT_FAILURES
                    .with_label_values(&[format])
                    .inc();
            }
        }
        done
    }

    /// Publishes every `publish_every` until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        info!(
            every_s = self.every.as_secs_f64(),
            "publishing the standard outputs to Kafka"
        );
        let mut ticks = tokio::time::interval(self.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                _ = ticks.tick() => {}
            }
            let now = chrono::Utc::now().timestamp_millis();
            let done = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                done = self.publish(now) => done,
            };
            if done.failed > 0 {
                warn!(
                    failed = done.failed,
                    "standard output records not acknowledged, sent again at the next look"
                );
            } else {
                debug!(
                    datex2 = done.datex2,
                    ngsi_ld = done.ngsi_ld,
                    "standard outputs published"
                );
            }
        }
    }
}

impl Sent {
    fn format(&self) -> &'static str {
        match self {
            Sent::Datex2 { .. } => DATEX2,
            Sent::NgsiLd { .. } => NGSI_LD,
        }
    }
}

/// One record to send: topic, key, value, content type, what its acknowledgement marks.
type Record<'a> = (&'a str, String, Vec<u8>, &'static str, Sent);

/// The records of `city` that differ from what was last acknowledged.
fn records<'a>(
    index: usize,
    city: &'a CityOutputs,
    publication: &Publication<'_>,
    published: &[PublishedFacility<'_>],
) -> Vec<Record<'a>> {
    let mut out = Vec::new();
    let reported = published.iter().any(|f| f.level.is_some());
    if let (Some(topic), true) = (city.datex2.as_deref(), reported) {
        let tag = live_revision(publication, published).tag;
        if city.datex2_sent != Some(tag) {
            match datex2::parking_status(publication, published) {
                Ok(xml) => out.push((
                    topic,
                    city.id.clone(),
                    xml,
                    datex2::CONTENT_TYPE,
                    Sent::Datex2 { city: index, tag },
                )),
                Err(error) => warn!(%error, city = %city.id, "DATEX II status not rendered"),
            }
        }
    }
    if let Some(topic) = city.ngsi_ld.as_deref() {
        for (facility, item) in published.iter().enumerate() {
            if item.level.is_none() {
                continue;
            }
            let entity = ngsi_ld::parking_entity(publication, item, Form::Normalized);
            let Ok(body) = serde_json::to_vec(&[&entity]) else {
                continue;
            };
            let mut hasher = DefaultHasher::new();
            body.hash(&mut hasher);
            let hash = hasher.finish();
            if city.ngsi_ld_sent[facility] == Some(hash) {
                continue;
            }
            let key = entity["id"].as_str().unwrap_or(item.id).to_owned();
            out.push((
                topic,
                key,
                body,
                ngsi_ld::CONTENT_TYPE,
                Sent::NgsiLd {
                    city: index,
                    facility,
                    hash,
                },
            ));
        }
    }
    out
}

fn producer(kafka: &KafkaConfig, health: &BrokerHealth) -> Result<FutureProducer<HealthContext>> {
    let mut client: ClientConfig = super::client_config(kafka, super::Role::Producer);
    client.set("enable.idempotence", "true").set("acks", "all");
    client
        .create_with_context(HealthContext {
            client: "standard output producer",
            health: health.clone(),
        })
        .map_err(|e| IngestError::kafka("create standard output producer", e))
}
