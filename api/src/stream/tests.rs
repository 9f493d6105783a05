//! The push stream without a network: filters, the ring and resumes, the slow-subscriber
//! cut-off and the wire form of its final event.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use stadtpuls_processing::live::{
    FeedEvent, FeedState, LiveEvent, ParkingEvent, TrafficEvent, TrafficWindowRow,
};
use stadtpuls_processing::window::parking::FacilityLive;

use super::hub::REASON_SLOW_CLIENT;
use super::{ClientStream, Filter, Hub, HubLimits, Kind};
use crate::metrics::{SSE_CLIENTS, SSE_DROPPED};

const T0: i64 = 1_795_478_400_000;

/// Held by every test that subscribes: the client gauge is process-wide.
static GAUGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn gauge() -> tokio::sync::MutexGuard<'static, ()> {
    GAUGE.blocking_lock()
}

fn traffic(city: &str, sensor: &str, window_s: u32, start: i64) -> LiveEvent {
    LiveEvent::Traffic(TrafficEvent {
        city: city.into(),
        sensor_id: sensor.into(),
        window_s,
        slide_s: window_s,
        revision: 0,
        row: TrafficWindowRow::new(start, start + i64::from(window_s) * 1000),
    })
}

fn parking(city: &str, facility: &str, free: u32) -> LiveEvent {
    LiveEvent::Parking(ParkingEvent {
        city: city.into(),
        facility_id: facility.into(),
        level: FacilityLive::new(free, Some(100), T0),
    })
}

fn feed(city: &str) -> LiveEvent {
    LiveEvent::Feed(FeedEvent {
        city: city.into(),
        kind: "traffic",
        state: FeedState::Stale,
        last_accepted: T0,
        at: T0 + 900_000,
    })
}

fn cities(ids: &[&str]) -> HashSet<String> {
    ids.iter().map(|c| (*c).to_owned()).collect()
}

fn every(ids: &[&str]) -> Arc<Filter> {
    Arc::new(Filter {
        cities: cities(ids),
        ..Filter::default()
    })
}

#[test]
fn a_kind_the_policy_hides_does_not_pass_nor_its_feed_changes() {
    // ulm's traffic is hidden from this request, its parking is not.
    let filter = Filter {
        cities: cities(&["ulm"]),
        hidden: [("ulm".to_owned(), "traffic")].into_iter().collect(),
        ..Filter::default()
    };
    assert!(!filter.matches(&traffic("ulm", "t-1", 60, T0)));
    assert!(filter.matches(&parking("ulm", "p-1", 3)));
    assert!(!filter.matches(&feed("ulm")), "the traffic feed's change");
}

#[test]
fn a_filter_passes_only_its_cities_kinds_window_and_entities() {
    let all = Filter {
        cities: cities(&["ulm", "freiburg"]),
        ..Filter::default()
    };
    assert!(all.matches(&traffic("ulm", "t-1", 60, T0)));
    assert!(all.matches(&parking("freiburg", "p-1", 3)));
    assert!(all.matches(&feed("ulm")));
    // A city outside the visible set never passes, whatever else matches.
    assert!(!all.matches(&traffic("mannheim", "t-1", 60, T0)));

    let narrow = Filter {
        cities: cities(&["ulm"]),
        kinds: [Kind::Traffic, Kind::Feed].into_iter().collect(),
        window: Some((60, 60)),
        entities: cities(&["t-1"]),
        ..Filter::default()
    };
    assert!(narrow.matches(&traffic("ulm", "t-1", 60, T0)));
    assert!(!narrow.matches(&traffic("ulm", "t-2", 60, T0)), "entity");
    assert!(!narrow.matches(&traffic("ulm", "t-1", 900, T0)), "window");
    assert!(!narrow.matches(&parking("ulm", "t-1", 3)), "kind");
    // A feed is about a whole city: entity and window filters do not apply to it.
    assert!(narrow.matches(&feed("ulm")));
    assert!(!narrow.matches(&feed("freiburg")));

    // Parking events are not windowed: a window filter lets them through.
    let windowed = Filter {
        cities: cities(&["ulm"]),
        window: Some((60, 60)),
        ..Filter::default()
    };
    assert!(windowed.matches(&parking("ulm", "p-1", 3)));
}

fn limits(ring: usize, client_queue: usize) -> HubLimits {
    HubLimits { ring, client_queue }
}

#[test]
fn a_resume_gets_exactly_the_retained_events_after_its_id() {
    let _gauge = gauge();
    let hub = Hub::new(limits(8, 16), 100);
    hub.push((0..6).map(|i| parking("ulm", "p-1", i)).collect());
    // Ids 100..=105. Resuming after 102 gets 103, 104, 105 and no notice.
    let sub = hub.subscribe(every(&["ulm"]), Some(102));
    let ids: Vec<u64> = sub.backlog.iter().map(|e| e.id).collect();
    assert_eq!(ids, [103, 104, 105]);
    assert_eq!(sub.missed, None);
    // The ring's oldest predecessor is still a complete resume.
    let sub = hub.subscribe(every(&["ulm"]), Some(99));
    assert_eq!(sub.backlog.len(), 6);
    assert_eq!(sub.missed, None);
    // The filter applies to the backlog too.
    let sub = hub.subscribe(every(&["freiburg"]), Some(99));
    assert!(sub.backlog.is_empty());
    // No Last-Event-ID: no backlog.
    assert!(hub.subscribe(every(&["ulm"]), None).backlog.is_empty());
}

#[test]
fn a_resume_older_than_the_ring_or_unknown_is_told_it_missed_events() {
    let _gauge = gauge();
    let hub = Hub::new(limits(4, 16), 1);
    hub.push((0..10).map(|i| parking("ulm", "p-1", i)).collect());
    // Ids 1..=10, the ring keeps 7..=10: after 3, ids 4..=6 are gone.
    let sub = hub.subscribe(every(&["ulm"]), Some(3));
    let missed = sub.missed.expect("missed");
    assert_eq!((missed.last_event_id, missed.oldest_id), (3, 7));
    let ids: Vec<u64> = sub.backlog.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        [7, 8, 9, 10],
        "what the ring still has follows the notice"
    );
    // After 6 nothing is lost.
    assert_eq!(hub.subscribe(every(&["ulm"]), Some(6)).missed, None);
    // An id this process never issued (a previous process's): missed, whole ring.
    let sub = hub.subscribe(every(&["ulm"]), Some(500));
    assert!(sub.missed.is_some());
    assert_eq!(sub.backlog.len(), 4);
}

#[tokio::test]
async fn live_events_follow_the_backlog_without_gap_or_repetition() {
    let _gauge = GAUGE.lock().await;
    let hub = Arc::new(Hub::new(limits(64, 64), 1));
    let dispatcher = tokio::spawn(Arc::clone(&hub).dispatch());
    hub.push((0..3).map(|i| parking("ulm", "p-1", i)).collect());
    let mut sub = hub.subscribe(every(&["ulm"]), Some(1));
    hub.push((3..6).map(|i| parking("ulm", "p-1", i)).collect());
    let mut ids: Vec<u64> = sub.backlog.iter().map(|e| e.id).collect();
    while ids.len() < 5 {
        let entry = tokio::time::timeout(Duration::from_secs(5), sub.queue.recv())
            .await
            .expect("an event within 5 s")
            .expect("queue open");
        ids.push(entry.id);
    }
    assert_eq!(ids, [2, 3, 4, 5, 6]);
    dispatcher.abort();
}

#[tokio::test]
async fn a_subscriber_that_does_not_keep_up_is_cut_off_and_counted_the_other_keeps_receiving() {
    let _gauge = GAUGE.lock().await;
    let hub = Arc::new(Hub::new(limits(1024, 4), 1));
    let dispatcher = tokio::spawn(Arc::clone(&hub).dispatch());
    let dropped_before = SSE_DROPPED.with_label_values(&[REASON_SLOW_CLIENT]).get();
    let clients_before = SSE_CLIENTS.get();
    let slow = hub.subscribe(every(&["ulm"]), None);
    let mut reader = hub.subscribe(every(&["ulm"]), None);
    assert_eq!(SSE_CLIENTS.get() - clients_before, 2);
    let mut received = 0;
    for round in 0..10u32 {
        // Two events per round: the reader drains them, the slow one never reads.
        hub.push(vec![
            parking("ulm", "p-1", round),
            parking("ulm", "p-2", round),
        ]);
        for _ in 0..2 {
            tokio::time::timeout(Duration::from_secs(5), reader.queue.recv())
                .await
                .expect("the reader gets every event")
                .expect("queue open");
            received += 1;
        }
    }
    assert_eq!(received, 20);
    assert_eq!(slow.cut.reason(), Some(REASON_SLOW_CLIENT));
    assert_eq!(reader.cut.reason(), None);
    assert_eq!(
        SSE_DROPPED.with_label_values(&[REASON_SLOW_CLIENT]).get() - dropped_before,
        1
    );
    assert_eq!(
        hub.subscribers(),
        1,
        "the slow one is no longer dispatched to"
    );

    // On the wire it gets what its queue held, then `event: dropped` and the end.
    let body = ClientStream::new(slow, Duration::from_secs(15))
        .into_response()
        .into_body();
    let bytes = tokio::time::timeout(Duration::from_secs(5), body.collect())
        .await
        .expect("the cut stream ends")
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(text.matches("event: parking").count(), 4, "{text}");
    assert!(
        text.ends_with("event: dropped\ndata: {\"reason\":\"slow_client\"}\n\n"),
        "{text}"
    );
    drop(reader);
    assert_eq!(SSE_CLIENTS.get(), clients_before, "both released");
    dispatcher.abort();
}

#[test]
fn publishing_never_waits_the_ring_drops_its_oldest() {
    let _gauge = gauge();
    let hub = Hub::new(limits(16, 1), 1);
    // Nobody reads; a million events pass through a ring of 16.
    for i in 0..1_000_000u32 {
        hub.push(vec![parking("ulm", "p-1", i)]);
    }
    let sub = hub.subscribe(every(&["ulm"]), Some(999_990));
    let ids: Vec<u64> = sub.backlog.iter().map(|e| e.id).collect();
    assert_eq!(ids, (999_991..=1_000_000).collect::<Vec<u64>>());
}
