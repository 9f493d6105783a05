//! `GET /v1/stream` in the matrix: every caller subscribes to the real server, then one
//! traffic window, one parking level and a feed change of each kind are published for
//! every city through the live view's port (as the pipeline publishes them); each
//! subscriber must receive exactly the (kind, city) pairs its row of [`VISIBLE`] shares,
//! and a caller without a valid key none. A subscriber never ends, so this has its own
//! harness rather than a row in [`crate::routes::ROUTES`]. `?regions=` has a test of its
//! own here, with the matrix's region `private-pair` (ulm and karlsruhe).
//!
//! [`VISIBLE`]: crate::setup::VISIBLE

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use stadtpuls_processing::live::{
    FeedEvent, FeedState, LiveEvent, ParkingEvent, TrafficEvent, TrafficWindowRow,
};
use stadtpuls_processing::window::parking::FacilityLive;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::setup::{CALLERS, CITIES, NOW, Shows, request, serve_with_stream, visible};

/// The free spaces of the last event published: ettlingen's parking, which every caller
/// that gets in sees (open data), so it ends each subscriber's reading.
const MARKER_FREE: u32 = 99;

/// A subscription's response as it arrives.
struct Subscriber {
    caller: &'static str,
    stream: TcpStream,
    text: String,
}

impl Subscriber {
    /// Opens `GET {path}` with `auth`; returns the status and the open connection.
    async fn open(
        addr: SocketAddr,
        caller: &'static str,
        path: &str,
        auth: Option<&str>,
    ) -> (u16, Self) {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n");
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut subscriber = Self {
            caller,
            stream,
            text: String::new(),
        };
        // `read` writes line ends as "\n".
        while !subscriber.text.contains("\n\n") {
            subscriber.read().await;
        }
        let (head, rest) = subscriber.text.split_once("\n\n").expect("a response head");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        subscriber.text = rest.to_owned();
        (status, subscriber)
    }

    async fn read(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{}: no data within 5 s: {}", self.caller, self.text))
            .expect("read");
        assert!(n > 0, "{}: the stream ended: {}", self.caller, self.text);
        self.text.push_str(&String::from_utf8_lossy(&buf[..n]));
        // Chunk sizes sit on lines of their own between frames; frames split on "\n\n".
        self.text = self.text.replace("\r\n", "\n");
    }

    /// Every (kind, city) received up to and including the marker event; a feed change
    /// counts under its feed's kind.
    async fn until_marker(&mut self) -> BTreeSet<(String, String)> {
        self.until_marker_of("ettlingen").await
    }

    /// [`Self::until_marker`] with the marker of `marker_city` (a parking level of
    /// [`MARKER_FREE`] free spaces).
    async fn until_marker_of(&mut self, marker_city: &str) -> BTreeSet<(String, String)> {
        let mut seen = BTreeSet::new();
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let event = block.lines().find_map(|l| l.strip_prefix("event: "));
                let data = block.lines().find_map(|l| l.strip_prefix("data: "));
                let (Some(event), Some(data)) = (event, data) else {
                    continue; // a heartbeat, or a chunk size line
                };
                let data: Value = serde_json::from_str(data).expect("JSON data");
                let city = data["city"].as_str().expect("city").to_owned();
                let kind = match event {
                    "feed" => data["kind"].as_str().expect("feed kind").to_owned(),
                    other => other.to_owned(),
                };
                let marker = event == "parking"
                    && city == marker_city
                    && data["free"].as_u64() == Some(u64::from(MARKER_FREE));
                if !marker {
                    seen.insert((kind, city));
                    continue;
                }
                return seen;
            }
            self.read().await;
        }
    }
}

/// One event of every kind for every city, then the marker.
fn events() -> Vec<LiveEvent> {
    let mut events = Vec::new();
    for city in CITIES {
        events.push(LiveEvent::Traffic(TrafficEvent {
            city: city.to_owned(),
            sensor_id: format!("{city}-t-1"),
            window_s: 60,
            slide_s: 60,
            revision: 0,
            row: TrafficWindowRow::new(NOW - 60_000, NOW),
        }));
        events.push(LiveEvent::Parking(ParkingEvent {
            city: city.to_owned(),
            facility_id: format!("{city}-p-1"),
            level: FacilityLive::new(20, Some(100), NOW),
        }));
        for kind in ["traffic", "parking"] {
            events.push(LiveEvent::Feed(FeedEvent {
                city: city.to_owned(),
                kind,
                state: FeedState::Stale,
                last_accepted: NOW - 900_000,
                at: NOW,
            }));
        }
    }
    events.push(LiveEvent::Parking(ParkingEvent {
        city: "ettlingen".to_owned(),
        facility_id: "ettlingen-p-1".to_owned(),
        level: FacilityLive::new(MARKER_FREE, Some(100), NOW),
    }));
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_stream_sends_each_caller_only_what_the_policy_shares() {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = serve_with_stream(dir.path(), "open").await;
    let denying_dir = tempfile::tempdir().expect("temp dir");
    let denying = serve_with_stream(denying_dir.path(), "deny").await;

    let mut subscribers = Vec::new();
    for (caller, auth, denied) in CALLERS {
        let addr = if denied { denying.addr } else { open.addr };
        let (status, subscriber) = Subscriber::open(addr, caller, "/v1/stream", auth).await;
        match visible(caller, Shows::Any) {
            None => assert_eq!(status, 401, "{caller}: {}", subscriber.text),
            Some(_) => {
                assert_eq!(status, 200, "{caller}: {}", subscriber.text);
                subscribers.push(subscriber);
            }
        }
    }
    let started = Instant::now();
    while open.hub.subscribers() < subscribers.len() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "every caller subscribes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(denying.hub.subscribers(), 0, "no subscriber without a key");

    open.live.publish(events());
    for subscriber in &mut subscribers {
        let caller = subscriber.caller;
        let seen = subscriber.until_marker().await;
        let mut want = BTreeSet::new();
        for (kind, shows) in [("traffic", Shows::Traffic), ("parking", Shows::Parking)] {
            for city in visible(caller, shows).expect("a caller that got in") {
                want.insert((kind.to_owned(), city.to_owned()));
            }
        }
        assert_eq!(seen, want, "{caller}: (kind, city) of the events received");
    }
}

#[tokio::test]
async fn a_city_the_caller_may_not_see_is_not_found_like_an_unknown_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let served = serve_with_stream(dir.path(), "open").await;
    let addr = served.addr;
    // ulm's centre: karlsruhe is foreign, atlantis does not exist; the same answer.
    let (foreign, foreign_body) = request(
        addr,
        "GET",
        "/v1/stream?cities=karlsruhe",
        Some("Bearer key-ulm"),
        "",
    )
    .await;
    let (unknown, unknown_body) = request(
        addr,
        "GET",
        "/v1/stream?cities=atlantis",
        Some("Bearer key-ulm"),
        "",
    )
    .await;
    assert_eq!((foreign, unknown), (404, 404));
    assert_eq!(
        foreign_body["error"]
            .as_str()
            .map(|e| e.replace("karlsruhe", "X")),
        unknown_body["error"]
            .as_str()
            .map(|e| e.replace("atlantis", "X")),
    );
    // Anonymous: a private city is not found either; the open one streams.
    let (status, _) = request(addr, "GET", "/v1/stream?cities=ulm", None, "").await;
    assert_eq!(status, 404);
    let (status, _) =
        Subscriber::open(addr, "anonymous", "/v1/stream?cities=ettlingen", None).await;
    assert_eq!(status, 200);
}

/// (caller, key, query, the (kind, city) pairs it must get).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// `?regions=`: a region's member cities only, within what the key sees; a region that is
/// not configured, or of which the key sees no member city, is not found in the words of
/// the REST region routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_filters_the_stream_to_its_visible_member_cities() {
    let dir = tempfile::tempdir().expect("temp dir");
    let served = serve_with_stream(dir.path(), "open").await;
    let addr = served.addr;
    // Without the filter each would get its whole row of VISIBLE (ettlingen, neu-ulm and pforzheim among them).
    let cases: [Case; 3] = [
        (
            "ulm centre",
            "Bearer key-ulm",
            "regions=private-pair",
            &[("parking", "ulm"), ("traffic", "ulm")],
        ),
        (
            "region ulm+karlsruhe",
            "Bearer key-region",
            "regions=private-pair",
            &[
                ("parking", "karlsruhe"),
                ("parking", "ulm"),
                ("traffic", "karlsruhe"),
                ("traffic", "ulm"),
            ],
        ),
        // Both lists: a city must be in each.
        (
            "everything",
            "Bearer key-all",
            "regions=private-pair&cities=ulm,ettlingen&kinds=parking",
            &[("parking", "ulm")],
        ),
    ];
    let mut subscribers = Vec::new();
    for (caller, key, query, want) in cases {
        let (status, subscriber) =
            Subscriber::open(addr, caller, &format!("/v1/stream?{query}"), Some(key)).await;
        assert_eq!(status, 200, "{caller}: {}", subscriber.text);
        subscribers.push((subscriber, want));
    }
    let started = Instant::now();
    while served.hub.subscribers() < subscribers.len() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "every caller subscribes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut published = events();
    published.push(LiveEvent::Parking(ParkingEvent {
        city: "ulm".to_owned(),
        facility_id: "ulm-p-1".to_owned(),
        level: FacilityLive::new(MARKER_FREE, Some(100), NOW),
    }));
    served.live.publish(published);
    for (subscriber, want) in &mut subscribers {
        let seen = subscriber.until_marker_of("ulm").await;
        let want: BTreeSet<(String, String)> = want
            .iter()
            .map(|(kind, city)| ((*kind).to_owned(), (*city).to_owned()))
            .collect();
        assert_eq!(seen, want, "{}", subscriber.caller);
    }

    // Not found, in the REST region routes' words: a region of private cities for a
    // caller without a key, and one that does not exist.
    let (_, rest) = request(addr, "GET", "/v1/regions/private-pair/parking", None, "").await;
    for (region, auth) in [
        ("private-pair", None),
        ("nowhere", None),
        ("nowhere", Some("Bearer key-all")),
    ] {
        let (status, body) = request(
            addr,
            "GET",
            &format!("/v1/stream?regions={region}"),
            auth,
            "",
        )
        .await;
        assert_eq!(status, 404, "{region}: {body}");
        assert_eq!(
            body["error"].as_str().map(|e| e.replace(region, "X")),
            rest["error"]
                .as_str()
                .map(|e| e.replace("private-pair", "X")),
            "{region}"
        );
    }
}
