//! The Kafka dead-letter sink against a real broker (Tansu): every letter is cut to
//! `kafka.deadletter_max_bytes`, and a letter that can never be written — refused for the
//! record itself, here by librdkafka's own size check — is given up: counted in
//! `stadtpuls_deadletters_dropped_total{reason}`, logged, and the rest of the batch is
//! written. The call succeeds, so the runner goes on instead of retrying the batch forever.
//!
//! Tansu 0.6 has no record size limit of its own: it took (and served back) records of
//! 1 MB to 60 MB in our checks, and ignores a topic's `max.message.bytes` (a topic created
//! with 10 000 took a 20 000-byte record). So the letter given up here is one the cut
//! cannot shrink: a source-topic header of 8 KiB (Kafka
//! topic names have at most 249 bytes, so this cannot come from a real message). Against
//! Apache Kafka the same path is taken by a letter larger than the topic's
//! `max.message.bytes` (`MESSAGE_SIZE_TOO_LARGE` from the broker).

#[path = "../../tests/support/broker.rs"]
mod broker;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::{KafkaDeadLetters, ensure_deadletter_topic, header};
use stadtpuls_ingest::metrics::DEADLETTERS_DROPPED;
use stadtpuls_ingest::pipeline::DeadLetter;
use stadtpuls_ingest::runner::DeadLetterSink;
use stadtpuls_processing::RejectReason;

const LIMIT: usize = 4096;

fn letter(topic: &str, offset: i64, payload: usize) -> DeadLetter {
    DeadLetter {
        reason: RejectReason::Malformed,
        detail: "EOF while parsing a list".to_owned(),
        topic: Arc::from(topic),
        partition: 0,
        offset,
        index: None,
        original_bytes: None,
        key: Some(Bytes::from_static(b"s1")),
        payload: Bytes::from(vec![b'['; payload]),
        late_windows: Vec::new(),
    }
}

/// (offset header, payload length, truncated header, original length header) of each
/// letter on `topic`, in order.
async fn read_back(run: &str, topic: &str, count: usize) -> Vec<(String, usize, String, String)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker::brokers())
        .set("group.id", format!("dl-reader-{run}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut got = Vec::new();
    while got.len() < count {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("the dead letters within 30 s")
            .expect("receive");
        let h = |name: &str| {
            m.headers()
                .and_then(|hs| hs.iter().find(|h| h.key == name))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        got.push((
            h(header::OFFSET),
            m.payload().map_or(0, <[u8]>::len),
            h(header::TRUNCATED),
            h(header::ORIGINAL_BYTES),
        ));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_letter_that_can_never_be_written_is_given_up_and_the_rest_written() {
    let _broker = broker::ensure_broker();
    let run = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default()
    );
    let kafka = KafkaConfig {
        brokers: broker::brokers(),
        deadletter_topic: format!("deadletter-drop-{run}"),
        deadletter_max_bytes: LIMIT,
        ..KafkaConfig::default()
    };
    ensure_deadletter_topic(&kafka)
        .await
        .expect("create the dead-letter topic");
    let mut sink = KafkaDeadLetters::new(&kafka).expect("dead-letter producer");
    let source = "sensors.ulm.traffic";
    let letters = [
        letter(source, 10, 100),
        letter(&"x".repeat(8 * 1024), 11, 100),
        letter(source, 12, 100_000),
    ];
    let dropped = || {
        DEADLETTERS_DROPPED
            .with_label_values(&["message_size_too_large"])
            .get()
    };
    let before = dropped();
    tokio::time::timeout(Duration::from_secs(60), sink.send(&letters))
        .await
        .expect("send returns instead of waiting for the broker")
        .expect("the unwritable letter is given up, the call succeeds");
    assert_eq!(dropped() - before, 1, "the unwritable letter, counted once");

    let got = read_back(&run, &kafka.deadletter_topic, 2).await;
    assert_eq!(got[0], ("10".to_owned(), 100, String::new(), String::new()));
    let (offset, length, truncated, original) = &got[1];
    assert_eq!(
        (offset.as_str(), truncated.as_str(), original.as_str()),
        ("12", "true", "100000"),
        "the large letter, cut"
    );
    assert!(
        *length < LIMIT && *length > LIMIT / 2,
        "cut to fit {LIMIT} bytes: {length}"
    );
}
