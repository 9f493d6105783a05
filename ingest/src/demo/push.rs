//! The push gateway's home in `stadtpuls demo`, which has no broker: a pushed body joins
//! the simulated feed's next batch (`SimulatedSource::with_pushes`) on the topic the Kafka
//! side would write it to (`crate::push::PushTopics`), so the embedded pipeline decodes,
//! windows and serves it like any record. The push is answered once the source has taken
//! it into a batch, with the offset it got there: the demo keeps nothing on disk, so that
//! is as durable as a demo push gets.

use bytes::Bytes;
use stadtpuls_config::{Config, FeedFormat};
use tokio::sync::{mpsc, oneshot};

use crate::health::Readiness;
use crate::push::{PushTopics, PushWriteError, PushWritten};

/// Pushes waiting for the simulated source's next batch; more are answered 503. The
/// source takes them at least once a second, so a full queue means a sender in a loop.
pub const DEMO_PUSH_QUEUE: usize = 256;

/// One push on its way into a batch.
#[derive(Debug)]
pub struct Pushed {
    /// The topic it is read from.
    pub topic: String,
    /// Its format, as the request named it.
    pub format: FeedFormat,
    /// The push key's principal (the record key on Kafka).
    pub key: Bytes,
    /// The body as sent.
    pub body: Bytes,
    /// Told the offset the push got in its topic.
    pub reply: oneshot::Sender<i64>,
}

/// The gateway's side: writes pushes into the queue.
#[derive(Debug, Clone)]
pub struct DemoPush {
    sender: mpsc::Sender<Pushed>,
    topics: PushTopics,
    ready: Readiness,
}

/// The simulated source's side: the pushes waiting for a batch.
#[derive(Debug)]
pub struct PushQueue {
    receiver: mpsc::Receiver<Pushed>,
}

impl PushQueue {
    /// Every push waiting now.
    pub fn drain(&mut self) -> Vec<Pushed> {
        let mut pushed = Vec::new();
        while let Ok(push) = self.receiver.try_recv() {
            pushed.push(push);
        }
        pushed
    }
}

/// The two ends of the demo's push queue; pushes are refused until `ready` (the backfill
/// replays event time from the past: a push stamped now would jump its partition's clock).
pub fn demo_push(config: &Config, ready: Readiness) -> (DemoPush, PushQueue) {
    let (sender, receiver) = mpsc::channel(DEMO_PUSH_QUEUE);
    (
        DemoPush {
            sender,
            topics: PushTopics::new(config),
            ready,
        },
        PushQueue { receiver },
    )
}

impl DemoPush {
    /// Hands `body` for `city` in `format` to the simulated source; resolves once a batch
    /// took it.
    ///
    /// # Errors
    /// [`PushWriteError`]: the body or the city's topics as on Kafka;
    /// [`PushWriteError::Unavailable`] during the backfill, with a full queue, or once
    /// the pipeline has stopped.
    pub async fn write(
        &self,
        city: &str,
        format: FeedFormat,
        principal: &str,
        body: Bytes,
    ) -> Result<PushWritten, PushWriteError> {
        let topic = self.topics.topic(city, format, &body)?;
        if !self.ready.is_ready() {
            return Err(PushWriteError::Unavailable(
                "the demo is still replaying its backfill; retry once /readyz answers 200".into(),
            ));
        }
        let (reply, offset) = oneshot::channel();
        let pushed = Pushed {
            topic: topic.clone(),
            format,
            key: Bytes::copy_from_slice(principal.as_bytes()),
            body,
            reply,
        };
        self.sender.try_send(pushed).map_err(|error| {
            PushWriteError::Unavailable(match error {
                mpsc::error::TrySendError::Full(_) => format!(
                    "{DEMO_PUSH_QUEUE} pushes are waiting for the demo pipeline; retry later"
                ),
                mpsc::error::TrySendError::Closed(_) => "the demo pipeline has stopped".into(),
            })
        })?;
        let offset = offset
            .await
            .map_err(|_| PushWriteError::Unavailable("the demo pipeline has stopped".into()))?;
        Ok(PushWritten {
            topic,
            partition: 0,
            offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[tokio::test]
    async fn refused_until_the_backfill_is_replayed_then_answered_with_the_taken_offset() {
        let config = Config::demo(&HashMap::new()).expect("demo config");
        let ready = Readiness::default();
        let (push, mut queue) = demo_push(&config, ready.clone());
        let body = Bytes::from_static(br#"{"kind":"facility","id":"ulm-p-01"}"#);
        let early = push
            .write("ulm", FeedFormat::Native, "p", body.clone())
            .await;
        assert!(
            matches!(early, Err(PushWriteError::Unavailable(_))),
            "{early:?}"
        );
        assert!(queue.drain().is_empty(), "nothing queued before ready");

        ready.set(true);
        let (written, ()) = tokio::join!(push.write("ulm", FeedFormat::Native, "p", body), async {
            // The source's side: take the push into a "batch" at offset 41.
            loop {
                if let Some(pushed) = queue.drain().pop() {
                    assert_eq!(pushed.topic, "sensors.ulm.parking");
                    assert_eq!(pushed.format, FeedFormat::Native);
                    let _ = pushed.reply.send(41);
                    return;
                }
                tokio::task::yield_now().await;
            }
        });
        assert_eq!(
            written,
            Ok(PushWritten {
                topic: "sensors.ulm.parking".into(),
                partition: 0,
                offset: 41,
            })
        );
        // The Kafka side's checks apply: a body of no stream is refused before queueing.
        let broken = push
            .write("ulm", FeedFormat::Native, "p", Bytes::from_static(b"["))
            .await;
        assert!(
            matches!(broken, Err(PushWriteError::Unparseable(_))),
            "{broken:?}"
        );
        drop(queue);
        let stopped = push
            .write("ulm", FeedFormat::Native, "p", Bytes::from_static(b"{}"))
            .await;
        assert!(
            matches!(stopped, Err(PushWriteError::Unavailable(_))),
            "{stopped:?}"
        );
    }
}
