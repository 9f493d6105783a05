//! From an rdkafka message to a [`RawMessage`]: dense source ids for topic-partitions and
//! one arena for the payload copies of a batch.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rdkafka::message::Message;
use stadtpuls_processing::window::watermark::SourceId;

use super::feeds;
use crate::message::RawMessage;

/// Dense source ids for topic-partitions, with the topic name shared between messages.
#[derive(Default)]
pub(super) struct SourceIds {
    topics: HashMap<String, (Arc<str>, Vec<Option<SourceId>>)>,
    next: SourceId,
}

impl SourceIds {
    pub(super) fn get(&mut self, topic: &str, partition: i32) -> (SourceId, Arc<str>) {
        if !self.topics.contains_key(topic) {
            self.topics
                .insert(topic.to_owned(), (Arc::from(topic), Vec::new()));
        }
        let next = &mut self.next;
        let Some((name, ids)) = self.topics.get_mut(topic) else {
            unreachable!("inserted above")
        };
        let index = usize::try_from(partition).unwrap_or(0);
        if ids.len() <= index {
            ids.resize(index + 1, None);
        }
        let id = *ids[index].get_or_insert_with(|| {
            *next += 1;
            *next - 1
        });
        (id, name.clone())
    }

    /// The topic and partition of a source id.
    pub(super) fn name(&self, source: SourceId) -> Option<(Arc<str>, i32)> {
        self.topics.values().find_map(|(name, ids)| {
            let partition = ids.iter().position(|id| *id == Some(source))?;
            Some((name.clone(), i32::try_from(partition).ok()?))
        })
    }

    pub(super) fn lookup(&self, topic: &str, partition: i32) -> Option<SourceId> {
        let (_, ids) = self.topics.get(topic)?;
        ids.get(usize::try_from(partition).ok()?).copied().flatten()
    }
}

/// Bytes reserved at a time for message copies: one allocation serves thousands of messages.
const ARENA_CHUNK: usize = 1 << 20;

/// Copies `data` into the arena and returns it as a cheap shared slice.
fn copy(arena: &mut BytesMut, data: &[u8]) -> Bytes {
    if arena.capacity() - arena.len() < data.len() {
        arena.reserve(ARENA_CHUNK.max(data.len()));
    }
    arena.extend_from_slice(data);
    arena.split().freeze()
}

pub(super) fn to_raw<M: Message>(
    sources: &mut SourceIds,
    arena: &mut BytesMut,
    message: &M,
) -> RawMessage {
    let (source, topic) = sources.get(message.topic(), message.partition());
    RawMessage {
        source,
        topic,
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(|k| copy(arena, k)),
        payload: copy(arena, message.payload().unwrap_or_default()),
        format: message.headers().and_then(feeds::content_type_format),
    }
}
