//! Per-batch tallies turned into metrics once per batch, and late rows into dead letters.

use std::collections::HashMap;

use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::CityKey;
use stadtpuls_processing::time::{MS_PER_S, ProcessingTime};
use stadtpuls_processing::window::{ProcessStats, WindowShape, window_family_label};

use super::{DeadLetter, Pipeline, RawMessage, StepOutput};
use crate::decode::StreamKind;
use crate::metrics;

/// Per-batch tallies, turned into metric increments once per batch.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) accepted: HashMap<(CityKey, StreamKind), u64>,
    pub(super) rejected: HashMap<(Option<CityKey>, StreamKind, RejectReason), u64>,
    pub(super) late: HashMap<(StreamKind, WindowShape), u64>,
    pub(super) late_accepted: HashMap<(StreamKind, WindowShape), u64>,
    pub(super) partition_conflicts: HashMap<(CityKey, StreamKind), u64>,
}

impl Pipeline {
    pub(super) fn tally(&mut self, kind: StreamKind, stats: &ProcessStats, out: &mut StepOutput) {
        out.accepted += stats.rows;
        out.late += stats.late();
        for &(shape, n) in &stats.dropped_per_shape {
            if n > 0 {
                *self.counts.late.entry((kind, shape)).or_default() += n;
            }
        }
        for &(shape, n) in &stats.updated_late_per_shape {
            if n > 0 {
                *self.counts.late_accepted.entry((kind, shape)).or_default() += n;
            }
        }
    }

    pub(super) fn record_metrics(&mut self, messages: usize, now: ProcessingTime) {
        let counts = std::mem::take(&mut self.counts);
        for ((city, kind), n) in counts.accepted {
            metrics::EVENTS_ACCEPTED
                .with_label_values(&[self.catalog.city_id(city), kind.as_str()])
                .inc_by(n);
        }
        for ((city, kind, reason), n) in counts.rejected {
            let city = city.map_or(metrics::UNKNOWN_CITY, |c| self.catalog.city_id(c));
            metrics::EVENTS_REJECTED
                .with_label_values(&[city, kind.as_str(), reason.as_str()])
                .inc_by(n);
        }
        for ((city, kind), n) in counts.partition_conflicts {
            metrics::PARTITION_CONFLICTS
                .with_label_values(&[self.catalog.city_id(city), kind.as_str()])
                .inc_by(n);
        }
        for ((kind, shape), n) in counts.late {
            metrics::EVENTS_LATE
                .with_label_values(&[kind.as_str(), &shape_label(shape)])
                .inc_by(n);
        }
        for ((kind, shape), n) in counts.late_accepted {
            metrics::EVENTS_LATE_ACCEPTED
                .with_label_values(&[kind.as_str(), &shape_label(shape)])
                .inc_by(n);
        }
        if messages > 0 {
            metrics::MESSAGES_RECEIVED
                .with_label_values(&["all"])
                .inc_by(messages as u64);
        }
        for (kind, wm) in [
            (StreamKind::Traffic, self.traffic.watermark()),
            (StreamKind::Parking, self.parking.watermark()),
        ] {
            if let Some(t) = wm.time() {
                metrics::WATERMARK_DELAY
                    .with_label_values(&[kind.as_str()])
                    .set((now - t) / MS_PER_S);
            }
        }
        metrics::OPEN_STATES
            .with_label_values(&["traffic"])
            .set(self.traffic.open_states() as i64);
    }
}

/// Dead-letters the rows a window operator dropped as later than the allowed lateness.
///
/// The payload is the whole message the row came from (for a JSON array, the array).
pub(super) fn dead_letter_late(
    stats: &ProcessStats,
    origin: &[u32],
    messages: &[RawMessage],
    out: &mut StepOutput,
) {
    let Some((shape, _)) = stats.dropped_per_shape.first() else {
        return;
    };
    let mut last: Option<u32> = None;
    for &row in &stats.dropped_rows {
        let Some(&index) = origin.get(row as usize) else {
            continue;
        };
        // Several late rows of one array message make one dead letter.
        if last == Some(index) {
            continue;
        }
        last = Some(index);
        let Some(message) = messages.get(index as usize) else {
            continue;
        };
        out.dead_letters.push(DeadLetter {
            reason: RejectReason::Late,
            detail: format!(
                "event later than the allowed lateness: its {} window had already closed",
                shape_label(*shape)
            ),
            topic: message.topic.clone(),
            partition: message.partition,
            offset: message.offset,
            index: None,
            original_bytes: None,
            key: message.key.clone(),
            payload: message.payload.clone(),
        });
    }
}

fn shape_label(shape: WindowShape) -> String {
    window_family_label(
        (shape.size_ms / MS_PER_S) as u32,
        (shape.slide_ms / MS_PER_S) as u32,
    )
}
