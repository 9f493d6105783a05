//! One message through the serial path: refused as a whole (oversized, unknown city) or
//! decoded into the row builders, its rejections turned into dead letters.

use std::sync::Arc;

use bytes::Bytes;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::{RejectReason, Rejection};

use super::{OVERSIZED_KEEP_BYTES, Pipeline, StepOutput};
use crate::decode::native::{self, Sinks};
use crate::decode::{Rejected, StreamKind, infer_kind, parse_topic};
use crate::message::{DeadLetter, RawMessage};

impl Pipeline {
    pub(super) fn decode_message(
        &mut self,
        message: &RawMessage,
        bounds: TimeBounds,
        rejected: &mut Vec<Rejected>,
        out: &mut StepOutput,
    ) {
        let route = parse_topic(&message.topic);
        let kind = route
            .as_ref()
            .map_or_else(|| infer_kind(&message.payload), |r| r.kind);
        let topic_city = route.as_ref().and_then(|r| self.catalog.city(r.city));
        let refusal = if message.payload.len() > self.max_message_bytes {
            Some(Rejection::new(
                RejectReason::Oversized,
                format!(
                    "{} bytes exceed kafka.max_message_bytes {}",
                    message.payload.len(),
                    self.max_message_bytes
                ),
            ))
        } else {
            route.as_ref().filter(|_| topic_city.is_none()).map(|r| {
                Rejection::new(
                    RejectReason::UnknownCity,
                    format!("topic city `{}` is not configured", r.city),
                )
            })
        };
        if let Some(rejection) = refusal {
            let original_bytes = (message.payload.len() > OVERSIZED_KEEP_BYTES
                && rejection.reason == RejectReason::Oversized)
                .then_some(message.payload.len());
            let keep = original_bytes.map_or(message.payload.len(), |_| OVERSIZED_KEEP_BYTES);
            rejected.push(Rejected {
                index: None,
                city: topic_city,
                rejection,
                payload: message.payload[..keep].to_vec(),
            });
            self.dead_letter(message, kind, rejected, original_bytes, out);
            return;
        }
        let mut sinks = Sinks {
            // Copies the catalog only if a preparer still holds the old one and this
            // message admits a sensor or the catalog is shared (see `Preparer`).
            catalog: Arc::make_mut(&mut self.catalog),
            traffic: &mut self.traffic_rows,
            parking: &mut self.parking_rows,
            rejected,
        };
        native::decode(kind, &message.payload, topic_city, bounds, &mut sinks);
        self.dead_letter(message, kind, rejected, None, out);
    }

    pub(super) fn dead_letter(
        &mut self,
        message: &RawMessage,
        kind: StreamKind,
        rejected: &mut Vec<Rejected>,
        original_bytes: Option<usize>,
        out: &mut StepOutput,
    ) {
        for r in rejected.drain(..) {
            *self
                .counts
                .rejected
                .entry((r.city, kind, r.rejection.reason))
                .or_default() += 1;
            out.dead_letters.push(DeadLetter {
                reason: r.rejection.reason,
                detail: r.rejection.detail,
                topic: message.topic.clone(),
                partition: message.partition,
                offset: message.offset,
                index: r.index,
                original_bytes,
                key: message.key.clone(),
                payload: Bytes::from(r.payload),
                late_windows: Vec::new(),
            });
        }
    }
}
