//! The push gateway's port (`stadtpuls_api::PushSink`) over its two homes in `ingest`:
//! Kafka in `stadtpuls run` (`stadtpuls_ingest::kafka::KafkaPush`) and the embedded
//! pipeline in `stadtpuls demo` (`stadtpuls_ingest::demo::push::DemoPush`). The binary
//! adapts one to the other so that `api` never depends on `ingest` nor `ingest` on `api`.

use std::sync::Arc;

use stadtpuls_api::push::PushFuture;
use stadtpuls_api::{PushAck, PushError, PushRequest, PushSink};
use stadtpuls_ingest::demo::push::DemoPush;
use stadtpuls_ingest::kafka::KafkaPush;
use stadtpuls_ingest::push::{PushWriteError, PushWritten};

/// Pushes written to the city's Kafka topics, answered once acknowledged; the producer is
/// shared with the `[[cities.pull]]` pollers.
pub struct KafkaPushSink(pub Arc<KafkaPush>);

impl PushSink for KafkaPushSink {
    fn push(&self, request: PushRequest) -> PushFuture<'_> {
        Box::pin(async move {
            answer(
                self.0
                    .write(
                        &request.city,
                        request.format,
                        &request.content_type,
                        &request.principal,
                        request.body,
                    )
                    .await,
            )
        })
    }
}

/// Pushes handed to the demo's embedded pipeline, answered once a batch took them.
pub struct DemoPushSink(pub DemoPush);

impl PushSink for DemoPushSink {
    fn push(&self, request: PushRequest) -> PushFuture<'_> {
        Box::pin(async move {
            answer(
                self.0
                    .write(
                        &request.city,
                        request.format,
                        &request.principal,
                        request.body,
                    )
                    .await,
            )
        })
    }
}

fn answer(written: Result<PushWritten, PushWriteError>) -> Result<PushAck, PushError> {
    let written = written.map_err(|error| match &error {
        PushWriteError::Unparseable(_) => PushError::Unparseable(error.to_string()),
        PushWriteError::NoTopic { .. } => PushError::NoTopic(error.to_string()),
        PushWriteError::TooLarge(_) => PushError::TooLarge(error.to_string()),
        PushWriteError::Unavailable(_) => PushError::Unavailable(error.to_string()),
    })?;
    Ok(PushAck {
        topic: written.topic,
        partition: written.partition,
        offset: written.offset,
    })
}
