//! What librdkafka's consumer statistics say about its read-ahead (the prefetch item of
//! `docs/operating.md`, "Memory").

use rdkafka::Statistics;
use rdkafka::statistics::Partition;

/// Messages fetched but not yet handed to the application, over `partitions`:
/// Σ `next_offset − app_offset`, counting only partitions where both are known (≥ 0; the
/// internal partition −1 and unfetched partitions report −1001).
pub(super) fn prefetched<'a>(partitions: impl Iterator<Item = &'a Partition>) -> i64 {
    partitions
        .filter(|p| p.partition >= 0 && p.next_offset >= 0 && p.app_offset >= 0)
        .map(|p| (p.next_offset - p.app_offset).max(0))
        .sum()
}

/// Payload bytes in the consumer queue (`fetchq_size`). The high-level consumer forwards
/// every partition's fetch queue to one queue, and each partition's statistics report the
/// size of that one: the maximum over partitions is the queue, their sum counted it once
/// per partition (~300 MB for a 6 MB queue over 54 partitions).
pub(super) fn queued_bytes(statistics: &Statistics) -> i64 {
    statistics
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .filter(|p| p.partition >= 0)
        .map(|p| i64::try_from(p.fetchq_size).unwrap_or(i64::MAX))
        .max()
        .unwrap_or(0)
}
