//! Rows whose clock jumped ahead of their partition, refused before any operator sees them
//! (`stadtpuls_processing::window::clock_guard`).

use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::CityKey;
use stadtpuls_processing::time::{MS_PER_S, to_rfc3339};
use stadtpuls_processing::window::clock_guard::ClockJump;
use stadtpuls_processing::window::watermark::SourceId;

use super::{Pipeline, StepOutput};
use crate::decode::StreamKind;
use crate::message::{DeadLetter, RawMessage};

/// One kind's rows of a source, as the guard screens them.
pub(super) struct Rows<'a> {
    pub(super) kind: StreamKind,
    pub(super) ts: &'a [i64],
    /// Entity of each row by id (asked only of rows ahead of their source).
    pub(super) entity: &'a dyn Fn(usize) -> String,
    /// City of each row.
    pub(super) city: &'a dyn Fn(usize) -> Option<CityKey>,
}

impl Pipeline {
    /// Screens `rows` of `source` and refuses those that jumped ahead: counted as
    /// `clock_jump`, their messages dead-lettered (one letter per message), their origins
    /// removed from `origin`. Returns the refused row indices (ascending), empty in the
    /// common case.
    pub(super) fn screen_clock(
        &mut self,
        source: SourceId,
        rows: Rows<'_>,
        origin: &mut Vec<u32>,
        messages: &[RawMessage],
        out: &mut StepOutput,
    ) -> Vec<u32> {
        let jumps = self.clock.screen(source, rows.ts, rows.entity);
        if jumps.is_empty() {
            return Vec::new();
        }
        let max_jump_s = self.clock.max_jump_ms() / MS_PER_S;
        out.clock_jumps += jumps.len() as u64;
        let mut last: Option<u32> = None;
        for jump in &jumps {
            *self
                .counts
                .rejected
                .entry((
                    (rows.city)(jump.row as usize),
                    rows.kind,
                    RejectReason::ClockJump,
                ))
                .or_default() += 1;
            let Some(&index) = origin.get(jump.row as usize) else {
                continue;
            };
            // Several refused rows of one array message make one dead letter.
            if last == Some(index) {
                continue;
            }
            last = Some(index);
            if let Some(message) = messages.get(index as usize) {
                out.dead_letters.push(letter(message, jump, max_jump_s));
            }
        }
        let refused: Vec<u32> = jumps.iter().map(|j| j.row).collect();
        let mut next = refused.iter().peekable();
        let mut row = 0u32;
        origin.retain(|_| {
            let drop = next.next_if(|&&r| r == row).is_some();
            row += 1;
            !drop
        });
        refused
    }
}

fn letter(message: &RawMessage, jump: &ClockJump, max_jump_s: i64) -> DeadLetter {
    DeadLetter {
        reason: RejectReason::ClockJump,
        detail: format!(
            "ts {} is {} s ahead of its partition's newest accepted event time {} \
             (windows.max_clock_jump {} s), and the row before it did not announce the jump",
            to_rfc3339(jump.ts),
            (jump.ts - jump.progress) / MS_PER_S,
            to_rfc3339(jump.progress),
            max_jump_s
        ),
        topic: message.topic.clone(),
        partition: message.partition,
        offset: message.offset,
        index: None,
        original_bytes: None,
        key: message.key.clone(),
        payload: message.payload.clone(),
        late_windows: Vec::new(),
    }
}
