//! Reading whole topics from the real broker, to their ends: the tests' view of what a run
//! wrote (output topics, dead letters) and of what was produced (input ends).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// One record as read.
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub headers: BTreeMap<String, String>,
    pub payload: Vec<u8>,
}

/// A consumer of its own group that never commits.
pub fn plain_consumer(brokers: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

/// The JSON values of `topics` (of the test broker) by key, the last record of a key
/// winning, as an upserting consumer of an output topic sees them.
pub fn json_by_key(topics: &[String]) -> BTreeMap<String, serde_json::Value> {
    read_topics(&super::brokers(), topics)
        .into_iter()
        .filter_map(|r| {
            let key = String::from_utf8(r.key?).ok()?;
            Some((key, serde_json::from_slice(&r.payload).ok()?))
        })
        .collect()
}

/// [`json_by_key`] of `topics`, read again until every one of `keys` is there.
///
/// # Panics
/// When they are not there within 60 s.
pub async fn wait_for_keys(
    topics: &[String],
    keys: &[String],
) -> BTreeMap<String, serde_json::Value> {
    super::eventually(
        Duration::from_secs(60),
        "the keys in the topics",
        || async {
            let owned = topics.to_vec();
            let read = tokio::task::spawn_blocking(move || json_by_key(&owned));
            let values = read.await.ok()?;
            keys.iter()
                .all(|k| values.contains_key(k))
                .then_some(values)
        },
    )
    .await
}

/// Every record of `topics`, read from the beginning to their ends.
///
/// The log-end offsets are a lower bound of where the end is: Tansu's (memory storage)
/// can lag the records it serves, so the reading goes on until the topics also stay
/// quiet. Both are needed: a broker with slow fetches (Tansu's SQLite storage) can be
/// quiet for seconds before the end.
///
/// # Panics
/// When the topics are not read to their ends within two minutes.
pub fn read_topics(brokers: &str, topics: &[String]) -> Vec<Record> {
    let consumer = plain_consumer(brokers, &format!("read-{}", topics.join("+")));
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("topic metadata");
        for t in metadata.topics() {
            for p in t.partitions() {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .expect("assign");
            }
        }
    }
    consumer.assign(&tpl).expect("assign partitions");
    let mut behind: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for element in tpl.elements() {
        let (_, high) = consumer
            .fetch_watermarks(
                element.topic(),
                element.partition(),
                Duration::from_secs(10),
            )
            .expect("watermarks");
        if high > 0 {
            behind.insert((element.topic().to_owned(), element.partition()), high);
        }
    }
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut quiet_since = Instant::now();
    while !behind.is_empty() || quiet_since.elapsed() < Duration::from_secs(5) {
        assert!(
            Instant::now() < deadline,
            "{topics:?} not read within 120 s; partitions not read to their end: {behind:?}"
        );
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = match message {
            Ok(message) => message,
            // librdkafka reports a dropped connection (AllBrokersDown) and reconnects:
            // read on until the deadline.
            Err(e) => {
                eprintln!("reading {topics:?}: {e}; retrying");
                continue;
            }
        };
        quiet_since = Instant::now();
        let end = (message.topic().to_owned(), message.partition());
        if behind
            .get(&end)
            .is_some_and(|high| message.offset() + 1 >= *high)
        {
            behind.remove(&end);
        }
        records.push(Record::of(&message));
    }
    records
}

/// Reads `topics` of `brokers` from the beginning, as a consumer group `group` of its own,
/// until `count` records have arrived, then 3 s longer to catch any extra one.
///
/// # Panics
/// When fewer than `count` arrive with no record for 30 s.
pub async fn consume_count(
    brokers: &str,
    topics: &[String],
    count: usize,
    group: &str,
) -> Vec<Record> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).expect("subscribe");
    let mut got = Vec::new();
    loop {
        let wait = if got.len() < count {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(3)
        };
        let Ok(message) = tokio::time::timeout(wait, consumer.recv()).await else {
            assert!(
                got.len() >= count,
                "only {} of {count} records within 30 s",
                got.len()
            );
            return got;
        };
        let message = message.expect("receive");
        got.push(Record::of(&message));
    }
}

impl Record {
    /// A consumed message as the tests compare it (headers as UTF-8, lossily).
    fn of<M: Message>(message: &M) -> Self {
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                        (h.key.to_owned(), value.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            headers,
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        }
    }

    /// The key as UTF-8.
    ///
    /// # Panics
    /// When the record has no key or it is not UTF-8.
    pub fn key_text(&self) -> String {
        String::from_utf8(self.key.clone().expect("every record has a key")).expect("utf-8 key")
    }
}
