//! One partner-feed message (FIWARE, ParkAPI, …) through the serial path: its city from
//! `[[cities.feeds]]` or its topic, decoded by `decode/feed.rs` into the same row builders
//! as native JSON, its refusals dead-lettered like theirs and counted per format.

use std::sync::Arc;

use stadtpuls_config::FeedFormat;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::{RejectReason, Rejection};

use super::{OVERSIZED_KEEP_BYTES, Pipeline, StepOutput};
use crate::decode::feed::{self, FeedCity, FeedRoute};
use crate::decode::native::Sinks;
use crate::decode::ttn::TtnInput;
use crate::decode::{Rejected, parse_topic};
use crate::message::RawMessage;

impl Pipeline {
    pub(super) fn decode_feed_message(
        &mut self,
        message: &RawMessage,
        format: FeedFormat,
        route: Option<&FeedRoute>,
        bounds: TimeBounds,
        rejected: &mut Vec<Rejected>,
        out: &mut StepOutput,
    ) {
        let topic = parse_topic(&message.topic);
        // Only native payloads and refusals need the stream kind; guessing it from the
        // payload scans the whole message, so an accepted feed message never asks.
        let kind = || {
            topic
                .as_ref()
                .map_or_else(|| feed::kind_of(format, &message.payload), |t| t.kind)
        };
        let city: Option<(_, Arc<str>)> = match route {
            Some(route) => Some((route.city, route.city_id.clone())),
            None => topic
                .as_ref()
                .and_then(|t| Some((self.catalog.city(t.city)?, Arc::from(t.city)))),
        };
        *self
            .counts
            .feed_messages
            .entry((city.as_ref().map(|c| c.0), format))
            .or_default() += 1;
        let refusal = if message.payload.len() > self.max_message_bytes {
            Some(Rejection::new(
                RejectReason::Oversized,
                format!(
                    "{} bytes exceed kafka.max_message_bytes {}",
                    message.payload.len(),
                    self.max_message_bytes
                ),
            ))
        } else if city.is_none() {
            Some(Rejection::new(
                RejectReason::UnknownCity,
                format!(
                    "topic `{}` is no city's feed (`[[cities.feeds]]`) and names no configured city",
                    message.topic
                ),
            ))
        } else {
            None
        };
        let mut original_bytes = None;
        if let Some(rejection) = refusal {
            original_bytes = (message.payload.len() > OVERSIZED_KEEP_BYTES
                && rejection.reason == RejectReason::Oversized)
                .then_some(message.payload.len());
            let keep = original_bytes.map_or(message.payload.len(), |_| OVERSIZED_KEEP_BYTES);
            rejected.push(Rejected {
                index: None,
                city: city.as_ref().map(|c| c.0),
                rejection,
                payload: message.payload[..keep].to_vec(),
            });
        } else if let Some((key, id)) = &city {
            let mut sinks = Sinks {
                catalog: Arc::make_mut(&mut self.catalog),
                traffic: &mut self.traffic_rows,
                parking: &mut self.parking_rows,
                rejected,
            };
            let city = FeedCity { key: *key, id };
            let mut ttn = TtnInput {
                codec: route.and_then(|r| r.codec),
                recent: self.ttn_recent.of(message.source),
            };
            let decoded = feed::decode(
                format,
                kind,
                &message.payload,
                city,
                &self.external_ids,
                bounds,
                &mut ttn,
                &mut sinks,
            );
            *self.counts.feed_accepted.entry((*key, format)).or_default() +=
                decoded.accepted as u64;
            if decoded.admitted > 0 {
                *self
                    .counts
                    .facilities_admitted
                    .entry((*key, format))
                    .or_default() += decoded.admitted as u64;
            }
        }
        for r in rejected.iter() {
            *self
                .counts
                .feed_rejected
                .entry((r.city, format, r.rejection.reason))
                .or_default() += 1;
        }
        if !rejected.is_empty() {
            self.dead_letter(message, kind(), rejected, original_bytes, out);
        }
    }
}
