//! MDM Aachen's DATEX II status document through a real broker, shared by
//! `e2e_datex2.rs` (a hand-written registry) and `e2e_onboarding.rs` (the registry
//! `stadtpuls registry import` builds from Aachen's table publication): the values a
//! person reads per record in the file, producing the document, waiting for the API.

use std::path::PathBuf;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use super::eventually;
use super::feeds::{json_get, level};

/// (Aachen record, vacant, capacity override) of the records of the last 21 minutes of
/// `parkapi-sources_aachen-realtime.xml` (18:49–19:10 UTC): within `out_of_orderness` of
/// each other. P18 is `closed`: 0 free, whatever it counted (518).
pub const AACHEN_STATUS: [(&str, u64, u64); 13] = [
    ("P1", 412, 560),
    ("P2", 291, 497),
    ("P3", 143, 186),
    ("P6", 624, 999),
    ("P7", 554, 717),
    ("P8", 443, 600),
    ("P9", 74, 500),
    ("P10", 42, 319),
    ("P11", 271, 348),
    ("P12", 130, 176),
    ("P15", 118, 160),
    ("P17", 429, 480),
    ("P18", 0, 569),
];

/// (Stuttgart record, vacant) of the legacy MDM profile (`parkingFacilityTableStatusPublication`,
/// `totalNumberOfVacantParkingSpaces`) in `parkapi-sources_stuttgart-realtime.xml`, the
/// records of the document's last minute (2023-10-07 03:44:51–03:45:15 +02:00); 12717253
/// and 12718764 are `closed` (beside `spacesAvailable`): 0 free, whatever they counted
/// (457, 1022). The profile carries no capacity: the total is the registry's.
pub const STUTTGART_STATUS: [(&str, u64); 5] = [
    ("12717253", 0),
    ("12717315", 451),
    ("12717375", 528),
    ("12718764", 0),
    ("12717441", 694),
];

/// A DATEX II fixture of `ingest/tests/fixtures/feeds/datex2/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("ingest/tests/fixtures/feeds/datex2")
        .join(name)
}

/// Produces `document` unchanged as one record to `topic` and waits for the ack.
pub async fn produce_document(topic: &str, document: &[u8]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", super::brokers())
        .create()
        .expect("producer");
    let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).payload(document).key("k");
    producer
        .send(record, Duration::from_secs(10))
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
}

/// Waits until every facility of `ids` reports a free count in the city's live parking,
/// and returns (free, total) of each, in the order of `ids`.
pub async fn wait_for_levels(
    client: &reqwest::Client,
    base: &str,
    city: &str,
    ids: &[String],
) -> Vec<(Value, Value)> {
    let url = format!("{base}/v1/cities/{city}/parking");
    let parking = eventually(Duration::from_secs(60), "parking levels", || async {
        let body = json_get(client, &url).await?;
        let facilities = body["facilities"].as_array()?;
        let reported = facilities
            .iter()
            .filter(|f| !f["free"].is_null() && ids.iter().any(|id| f["facility_id"] == **id))
            .count();
        (reported == ids.len()).then_some(body)
    })
    .await;
    ids.iter()
        .map(|id| level(&parking, id).unwrap_or_else(|| panic!("{id} in {parking}")))
        .collect()
}
