//! Rows whose clock jumped ahead of their partition, refused by the engine before any
//! operator sees them (`stadtpuls_processing::window::clock_guard`), as dead letters.

use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::CityKey;
use stadtpuls_processing::time::{MS_PER_S, to_rfc3339};
use stadtpuls_processing::window::clock_guard::ClockJump;

use super::{Pipeline, StepOutput};
use crate::decode::StreamKind;
use crate::message::{DeadLetter, RawMessage};

impl Pipeline {
    /// Refuses the rows the engine's clock screen refused (`jumps`, row indices of the
    /// batch as it was given; `city` names their cities): counted as `clock_jump`, their
    /// messages dead-lettered (one letter per message), their origins removed from
    /// `origin`, which then lines up with the rows the engine kept.
    pub(super) fn dead_letter_jumps(
        &mut self,
        kind: StreamKind,
        jumps: &[ClockJump],
        city: &dyn Fn(usize) -> Option<CityKey>,
        origin: &mut Vec<u32>,
        messages: &[RawMessage],
        out: &mut StepOutput,
    ) {
        if jumps.is_empty() {
            return;
        }
        let max_jump_s = self.engine.max_clock_jump_ms() / MS_PER_S;
        out.clock_jumps += jumps.len() as u64;
        let mut last: Option<u32> = None;
        for jump in jumps {
            *self
                .counts
                .rejected
                .entry((city(jump.row as usize), kind, RejectReason::ClockJump))
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
        let mut next = jumps.iter().map(|j| j.row).peekable();
        let mut row = 0u32;
        origin.retain(|_| {
            let drop = next.next_if(|&r| r == row).is_some();
            row += 1;
            !drop
        });
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
