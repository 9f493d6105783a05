//! The `raw_messages` history table: every input message as read, archived when
//! `history.archive_raw` is on. Written by the history sink, read by SQL.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The table's name under the history root (and in SQL).
pub const RAW_MESSAGES_TABLE: &str = "raw_messages";

/// The columns of a `raw_messages` file: `topic, partition, offset, key, payload,
/// archived_at`. The city and the archiving date are the Hive partitions of the path.
pub fn raw_message_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("topic", DataType::Utf8, false),
                Field::new("partition", DataType::Int32, false),
                Field::new("offset", DataType::Int64, false),
                Field::new("key", DataType::Binary, true),
                Field::new("payload", DataType::Binary, false),
                Field::new(
                    "archived_at",
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    false,
                ),
            ]))
        })
        .clone()
}
