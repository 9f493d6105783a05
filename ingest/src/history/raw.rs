//! The `raw_messages` table: every input message as read, when `history.archive_raw` is on.
//!
//! Rows are staged per task with each batch and committed with the task's epochs like the
//! closed windows, so after a crash the replay writes exactly the messages whose epoch did
//! not complete: each (topic, partition, offset) is archived once. Partitioned by the
//! topic's city (`_` for topics outside the naming convention) and by the UTC date the
//! message was archived — a message's own time may be missing or malformed.

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::SchemaRef;
use stadtpuls_processing::ProcessingError;
use stadtpuls_processing::model::raw::{RAW_MESSAGES_TABLE, raw_message_schema};

use crate::Result;
use crate::decode::parse_topic;
use crate::message::RawMessage;

/// The table's name under the history root.
pub const TABLE: &str = RAW_MESSAGES_TABLE;

/// City partition of messages whose topic names no city.
pub const NO_CITY: &str = "_";

/// `topic, partition, offset, key, payload, archived_at`.
pub(crate) fn schema() -> SchemaRef {
    raw_message_schema()
}

/// The city partition of a topic.
pub(crate) fn city_of(topic: &str) -> &str {
    parse_topic(topic).map_or(NO_CITY, |route| route.city)
}

/// `messages` (all of one topic) as rows archived at `now_ms`.
///
/// # Errors
/// Only if Arrow refuses the columns (a bug).
pub(crate) fn rows(
    schema: &SchemaRef,
    messages: &[RawMessage],
    now_ms: i64,
) -> Result<RecordBatch> {
    let n = messages.len();
    let mut topic = StringBuilder::with_capacity(n, n * 24);
    let mut partition = Int32Builder::with_capacity(n);
    let mut offset = Int64Builder::with_capacity(n);
    let mut key = BinaryBuilder::with_capacity(n, n * 8);
    let payload_bytes = messages.iter().map(|m| m.payload.len()).sum();
    let mut payload = BinaryBuilder::with_capacity(n, payload_bytes);
    for m in messages {
        topic.append_value(&m.topic);
        partition.append_value(m.partition);
        offset.append_value(m.offset);
        key.append_option(m.key.as_deref());
        payload.append_value(&m.payload);
    }
    let archived_at = TimestampMillisecondArray::from(vec![now_ms; n]).with_timezone("UTC");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(topic.finish()),
        Arc::new(partition.finish()),
        Arc::new(offset.finish()),
        Arc::new(key.finish()),
        Arc::new(payload.finish()),
        Arc::new(archived_at),
    ];
    Ok(RecordBatch::try_new(schema.clone(), columns).map_err(ProcessingError::from)?)
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use bytes::Bytes;

    use super::*;

    fn message(topic: &str, offset: i64, key: Option<&'static [u8]>) -> RawMessage {
        RawMessage {
            source: 0,
            topic: Arc::from(topic),
            partition: 2,
            offset,
            key: key.map(Bytes::from_static),
            payload: Bytes::from_static(b"{\"not\": \"checked\""),
            format: None,
        }
    }

    #[test]
    fn messages_become_rows_as_read() -> Result<()> {
        let schema = schema();
        let batch = rows(
            &schema,
            &[
                message("sensors.ulm.traffic", 7, Some(b"u1")),
                message("sensors.ulm.traffic", 8, None),
            ],
            1_795_600_000_000,
        )?;
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            batch.column(2).as_primitive::<Int64Type>().values(),
            &[7, 8]
        );
        assert_eq!(batch.column(3).as_binary::<i32>().value(0), b"u1");
        assert!(batch.column(3).is_null(1));
        assert_eq!(
            batch.column(4).as_binary::<i32>().value(1),
            b"{\"not\": \"checked\"",
            "malformed payloads are archived as they came"
        );
        assert_eq!(city_of("sensors.ulm.traffic"), "ulm");
        assert_eq!(city_of("ulm.parking"), "ulm");
        assert_eq!(city_of("legacy-feed"), NO_CITY);
        Ok(())
    }
}
