//! Per-batch tallies turned into metrics once per batch, and late rows into dead letters.

use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::CityKey;
use stadtpuls_processing::time::{MS_PER_S, ProcessingTime};
use stadtpuls_processing::window::{DroppedWindow, ProcessStats};

use super::Pipeline;
use super::step_output::StepOutput;
use crate::decode::StreamKind;
use crate::message::{DeadLetter, RawMessage};
use crate::metrics;

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
        let city_label =
            |city: Option<CityKey>| city.map_or(metrics::UNKNOWN_CITY, |c| self.catalog.city_id(c));
        for ((city, format), n) in counts.feed_messages {
            metrics::FEED_MESSAGES
                .with_label_values(&[city_label(city), format.as_str()])
                .inc_by(n);
        }
        for ((city, format), n) in counts.feed_accepted {
            metrics::FEED_ACCEPTED
                .with_label_values(&[city_label(Some(city)), format.as_str()])
                .inc_by(n);
        }
        for ((city, format), n) in counts.facilities_admitted {
            metrics::FACILITIES_ADMITTED
                .with_label_values(&[city_label(Some(city)), format.as_str()])
                .inc_by(n);
        }
        for ((city, format, reason), n) in counts.feed_rejected {
            metrics::FEED_REJECTED
                .with_label_values(&[city_label(city), format.as_str(), reason.as_str()])
                .inc_by(n);
        }
        for ((city, kind), n) in counts.partition_conflicts {
            metrics::PARTITION_CONFLICTS
                .with_label_values(&[self.catalog.city_id(city), kind.as_str()])
                .inc_by(n);
        }
        for ((kind, shape), n) in counts.late {
            metrics::EVENTS_LATE
                .with_label_values(&[kind.as_str(), &shape.label()])
                .inc_by(n);
        }
        for ((kind, shape), n) in counts.late_accepted {
            metrics::EVENTS_LATE_ACCEPTED
                .with_label_values(&[kind.as_str(), &shape.label()])
                .inc_by(n);
        }
        if messages > 0 {
            metrics::MESSAGES_RECEIVED
                .with_label_values(&["all"])
                .inc_by(messages as u64);
        }
        let gauges = self.engine.gauges();
        for (kind, wm) in [
            (StreamKind::Traffic, gauges.traffic_watermark),
            (StreamKind::Parking, gauges.parking_watermark),
        ] {
            if let Some(t) = wm.time() {
                metrics::WATERMARK_DELAY
                    .with_label_values(&[kind.as_str()])
                    .set((now - t) / MS_PER_S);
            }
        }
        metrics::OPEN_STATES
            .with_label_values(&["traffic"])
            .set(gauges.traffic_open_states as i64);
    }

    /// Dead-letters the rows the engine dropped as later than the allowed lateness
    /// from at least one of their windows, and counts each in
    /// `stadtpuls_events_rejected_total{reason="late"}` by `city(row)`.
    ///
    /// One letter per message (several late rows of an array make one), its payload the
    /// whole message, naming every window its rows were dropped from: the coarser windows
    /// that still counted a row must not be fed it again by whoever re-processes letters.
    pub(super) fn dead_letter_late(
        &mut self,
        kind: StreamKind,
        stats: &ProcessStats,
        city: &dyn Fn(usize) -> Option<CityKey>,
        origin: &[u32],
        messages: &[RawMessage],
        out: &mut StepOutput,
    ) {
        let mut current: Option<(u32, Vec<DroppedWindow>)> = None;
        for late in &stats.late_rows {
            *self
                .counts
                .rejected
                .entry((city(late.row as usize), kind, RejectReason::Late))
                .or_default() += 1;
            let Some(&index) = origin.get(late.row as usize) else {
                continue;
            };
            match &mut current {
                Some((message, windows)) if *message == index => {
                    windows.extend_from_slice(&late.dropped);
                }
                _ => {
                    if let Some((message, windows)) = current.take() {
                        push_late_letter(messages.get(message as usize), windows, out);
                    }
                    current = Some((index, late.dropped.clone()));
                }
            }
        }
        if let Some((message, windows)) = current {
            push_late_letter(messages.get(message as usize), windows, out);
        }
    }
}

/// The `late` letter of `message`, whose rows were dropped from `windows`.
fn push_late_letter(
    message: Option<&RawMessage>,
    mut windows: Vec<DroppedWindow>,
    out: &mut StepOutput,
) {
    let Some(message) = message else {
        return;
    };
    // By window size, slide, then start: one order however the rows came.
    windows.sort_by_key(|w| (w.shape.size_ms, w.shape.slide_ms, w.start));
    windows.dedup();
    let late_windows: Vec<String> = windows.iter().map(DroppedWindow::key).collect();
    out.dead_letters.push(DeadLetter {
        reason: RejectReason::Late,
        detail: format!(
            "event later than the allowed lateness of window {} (dropped from it); its other \
             windows counted it",
            late_windows.join(", ")
        ),
        topic: message.topic.clone(),
        partition: message.partition,
        offset: message.offset,
        index: None,
        original_bytes: None,
        key: message.key.clone(),
        payload: message.payload.clone(),
        late_windows,
    });
}
