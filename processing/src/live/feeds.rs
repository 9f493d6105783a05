//! Whether each city's feed of each kind still delivers: a feed that accepted
//! observations and then none for the stale period goes `stale`; its next accepted
//! observation makes it `recovered`. Judged by processing time (the pipeline's `now`), per
//! instance: a city only this instance's partitions carry.

use std::collections::BTreeMap;

use super::event::{FeedEvent, FeedState};
use crate::time::ProcessingTime;

/// The stale period of a feed: the alert `StadtpulsCityFeedStale` waits as long
/// (`deploy/alerts.yml`).
pub const FEED_STALE_AFTER_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy)]
struct Feed {
    last_accepted: ProcessingTime,
    stale: bool,
}

/// The feeds seen so far, by (city, kind).
#[derive(Debug)]
pub struct FeedWatch {
    stale_after_ms: i64,
    feeds: BTreeMap<(String, &'static str), Feed>,
}

impl FeedWatch {
    /// Feeds go stale after `stale_after_ms` without an accepted observation.
    pub fn new(stale_after_ms: i64) -> Self {
        Self {
            stale_after_ms,
            feeds: BTreeMap::new(),
        }
    }

    /// Notes observations of `city`'s `kind` (`traffic`, `parking`) accepted at `now`;
    /// the `recovered` event if the feed was stale.
    pub fn accepted(
        &mut self,
        city: &str,
        kind: &'static str,
        now: ProcessingTime,
    ) -> Option<FeedEvent> {
        let key = (city.to_owned(), kind);
        let feed = self.feeds.entry(key).or_insert(Feed {
            last_accepted: now,
            stale: false,
        });
        let was = *feed;
        feed.last_accepted = feed.last_accepted.max(now);
        feed.stale = false;
        was.stale.then(|| FeedEvent {
            city: city.to_owned(),
            kind,
            state: FeedState::Recovered,
            last_accepted: was.last_accepted,
            at: now,
        })
    }

    /// The feeds that went stale by `now`, each once.
    pub fn check(&mut self, now: ProcessingTime) -> Vec<FeedEvent> {
        let mut events = Vec::new();
        for ((city, kind), feed) in &mut self.feeds {
            if !feed.stale && now - feed.last_accepted >= self.stale_after_ms {
                feed.stale = true;
                events.push(FeedEvent {
                    city: city.clone(),
                    kind,
                    state: FeedState::Stale,
                    last_accepted: feed.last_accepted,
                    at: now,
                });
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_goes_stale_once_and_recovers_with_its_next_observation() {
        let mut watch = FeedWatch::new(1_000);
        // Never heard of: never stale.
        assert!(watch.check(50_000).is_empty());
        assert_eq!(watch.accepted("ulm", "traffic", 10_000), None);
        assert_eq!(watch.accepted("ulm", "parking", 10_500), None);
        assert!(watch.check(10_999).is_empty());
        let stale = watch.check(11_000);
        assert_eq!(stale.len(), 1);
        assert_eq!(
            (
                stale[0].kind,
                stale[0].state,
                stale[0].last_accepted,
                stale[0].at
            ),
            ("traffic", FeedState::Stale, 10_000, 11_000)
        );
        // Reported once, then parking follows.
        let later = watch.check(12_000);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].kind, "parking");
        assert!(watch.check(20_000).is_empty());
        let back = watch.accepted("ulm", "traffic", 20_000).expect("recovered");
        assert_eq!(
            (back.state, back.last_accepted, back.at),
            (FeedState::Recovered, 10_000, 20_000)
        );
        assert_eq!(watch.accepted("ulm", "traffic", 20_100), None);
    }
}
