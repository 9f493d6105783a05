//! Header names of a dead-letter message (`docs/formats.md`).

/// Reject reason, e.g. `speed_out_of_range`.
pub const REASON: &str = "stadtpuls.reason";
/// Human-readable detail, at most 1 KiB (cut with `…`).
pub const DETAIL: &str = "stadtpuls.detail";
/// Topic the message was read from.
pub const TOPIC: &str = "stadtpuls.source.topic";
/// Partition it was read from.
pub const PARTITION: &str = "stadtpuls.source.partition";
/// Offset it was read at.
pub const OFFSET: &str = "stadtpuls.source.offset";
/// Index of the refused element in a JSON array message.
pub const INDEX: &str = "stadtpuls.source.index";
/// Reason `late` only: the windows the message's observations were dropped from,
/// comma-separated `start/family` (`2026-11-24T08:00:00Z/1m`); their other windows
/// counted them, so a re-processor adds them to these windows alone.
pub const LATE_WINDOWS: &str = "stadtpuls.late_windows";
/// `true` when the payload (or the key) was cut: an oversized message, or a letter
/// larger than `kafka.deadletter_max_bytes`.
pub const TRUNCATED: &str = "stadtpuls.truncated";
/// The payload's length before it was cut, in bytes (only on cut payloads).
pub const ORIGINAL_BYTES: &str = "stadtpuls.original_bytes";
/// The key's length before it was cut to 1 KiB, in bytes (only on cut keys).
pub const ORIGINAL_KEY_BYTES: &str = "stadtpuls.original_key_bytes";
