//! What the pipeline step publishes to the live view's event port (the push stream's
//! source): each closed traffic window once, as it closes, and a city's feed going stale
//! after `FEED_STALE_AFTER_MS` of processing time without an observation, then
//! recovering with the next one.

use std::sync::{Arc, Mutex, PoisonError};

use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions, RawMessage};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::{
    FEED_STALE_AFTER_MS, FeedState, LiveEvent, LiveEvents, LiveState,
};
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

const T0: i64 = 1_795_478_400_000;

#[derive(Default)]
struct Recorder(Mutex<Vec<LiveEvent>>);

impl LiveEvents for Recorder {
    fn publish(&self, events: Vec<LiveEvent>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(events);
    }
}

impl Recorder {
    fn take(&self) -> Vec<LiveEvent> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn message(offset: i64, sensor: &str, ts: i64, n: i64) -> RawMessage {
    let payload = format!(
        r#"{{"city":"ulm","sensor_id":"{sensor}","lane":1,"ts":{ts},"interval_s":60,"vehicle_count":{n},"avg_speed_kmh":50.0}}"#
    );
    RawMessage {
        source: 0,
        topic: Arc::from("sensors.ulm.traffic"),
        partition: 0,
        offset,
        key: None,
        payload: payload.into_bytes().into(),
        format: None,
    }
}

#[test]
fn closed_windows_and_feed_changes_reach_the_event_port() {
    let recorder = Arc::new(Recorder::default());
    let live = Arc::new(LiveState::new(3_600_000).with_events(recorder.clone()));
    let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
    catalog.add_traffic(0, "s1", 2, 50.0);
    let spec = WindowSpec::tumbling(&[60_000], 0, 600_000, TimestampSemantics::IntervalEnd);
    let limits = Limits {
        max_message_bytes: 4096,
        max_future_ms: 300_000,
        max_clock_jump_ms: 150_000,
    };
    let mut p = Pipeline::from_parts(
        catalog,
        &spec,
        &ParkingSpec::default(),
        limits,
        live.clone(),
        PipelineOptions::default(),
    );
    // Two minutes of one sensor: the first minute's window closes.
    let now = T0 + 180_000;
    p.process(
        &[
            message(0, "s1", T0 + 60_000, 12),
            message(1, "s1", T0 + 120_000, 3),
        ],
        now,
    )
    .expect("process");
    let events = recorder.take();
    let windows: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LiveEvent::Traffic(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(windows.len(), 1, "{events:?}");
    let w = windows[0];
    assert_eq!((w.city.as_str(), w.sensor_id.as_str()), ("ulm", "s1"));
    assert_eq!((w.window_s, w.slide_s, w.revision), (60, 60, 0));
    assert_eq!(w.row.window_start, T0);
    // The event is the row the live view stores for the API.
    let stored = live.sensor_windows("ulm", "s1", (60, 60), None, None);
    assert_eq!(stored.first(), Some(&w.row));

    // Nothing for the stale period: one `stale` event, then no more.
    p.tick(now + FEED_STALE_AFTER_MS - 1).expect("tick");
    assert!(
        recorder
            .take()
            .iter()
            .all(|e| !matches!(e, LiveEvent::Feed(_)))
    );
    p.tick(now + FEED_STALE_AFTER_MS).expect("tick");
    let stale: Vec<_> = recorder
        .take()
        .into_iter()
        .filter_map(|e| match e {
            LiveEvent::Feed(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(
        (stale[0].city.as_str(), stale[0].kind, stale[0].state),
        ("ulm", "traffic", FeedState::Stale)
    );
    assert_eq!(stale[0].last_accepted, now);
    p.tick(now + 2 * FEED_STALE_AFTER_MS).expect("tick");
    assert!(
        recorder
            .take()
            .iter()
            .all(|e| !matches!(e, LiveEvent::Feed(_)))
    );

    // The next observation: `recovered`.
    let later = now + 2 * FEED_STALE_AFTER_MS;
    p.process(&[message(2, "s1", T0 + 180_000, 4)], later)
        .expect("process");
    let recovered: Vec<_> = recorder
        .take()
        .into_iter()
        .filter_map(|e| match e {
            LiveEvent::Feed(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].state, FeedState::Recovered);
    assert_eq!((recovered[0].last_accepted, recovered[0].at), (now, later));
}
