use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, SecondsFormat};
use serde_json::Value;

use super::curves::{LocalTime, ParkingProfile, parking_target, traffic_demand};
use super::emit::{FUTURE_SHIFT_MS, Fault, MAX_DELAY_MS, POISON_BYTES};
use super::input::{InputKind, SensorInput};
use super::rng::Rng;
use super::wire::{json_string, push_i64, push_rfc3339, push_tenths};
use super::*;

mod building_blocks;
mod keys;
mod wire_fuzz;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Days since the epoch of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn utc_ms(y: i64, m: i64, d: i64, h: i64) -> i64 {
    days_from_civil(y, m, d) * DAY + h * HOUR
}

/// The EU rule for Central European Time: CEST from the last Sunday of March to the last
/// Sunday of October, switching at 01:00 UTC.
fn berlin_offset(ms: i64) -> i32 {
    let (year, _, _) = wire::civil_from_days(ms.div_euclid(DAY));
    let last_sunday = |month: i64| {
        let d = days_from_civil(year, month, 31);
        d - (d + 4).rem_euclid(7)
    };
    let start = last_sunday(3) * DAY + HOUR;
    let end = last_sunday(10) * DAY + HOUR;
    if (start..end).contains(&ms) {
        7200
    } else {
        3600
    }
}

fn sensor(id: &str, kind: InputKind, lat: f64, lon: f64) -> SensorInput {
    SensorInput {
        id: id.to_owned(),
        kind,
        name: None,
        lat,
        lon,
        lanes: 0,
        capacity: None,
        free_flow_kmh: None,
        facility_id: None,
    }
}

fn road(id: &str, lanes: u8, free_flow: f64) -> SensorInput {
    SensorInput {
        lanes,
        free_flow_kmh: Some(free_flow),
        ..sensor(id, InputKind::Traffic, 48.40, 9.99)
    }
}

fn car_park(id: &str, name: &str, lat: f64, lon: f64, capacity: Option<u32>) -> SensorInput {
    SensorInput {
        name: Some(name.to_owned()),
        capacity,
        ..sensor(id, InputKind::Facility, lat, lon)
    }
}

fn spot(id: &str, zone: &str) -> SensorInput {
    SensorInput {
        facility_id: Some(zone.to_owned()),
        ..sensor(id, InputKind::Spot, 48.3990, 9.9925)
    }
}

/// A city shaped like the demo registries: roads of every class, an inner-city car park,
/// a P+R, a peripheral car park and an on-street zone with its spots.
fn city(id: &str, spots: usize) -> CityInput {
    let mut sensors = vec![
        road(&format!("{id}-t-001"), 1, 30.0),
        road(&format!("{id}-t-002"), 2, 50.0),
        road(&format!("{id}-t-003"), 2, 50.0),
        road(&format!("{id}-t-004"), 3, 70.0),
        road(&format!("{id}-t-005"), 1, 50.0),
        road(&format!("{id}-t-006"), 2, 100.0),
        road(&format!("{id}-t-007"), 2, 50.0),
        road(&format!("{id}-t-008"), 1, 50.0),
        car_park(
            &format!("{id}-p-01"),
            "Parkhaus Fischerviertel",
            48.3975,
            9.9890,
            Some(400),
        ),
        car_park(
            &format!("{id}-p-02"),
            "P+R Donautal",
            48.3700,
            9.9500,
            Some(300),
        ),
        car_park(
            &format!("{id}-p-03"),
            "Parkhaus Universität",
            48.4230,
            9.9560,
            Some(250),
        ),
        car_park(
            &format!("{id}-z-01"),
            "Zone Altstadt",
            48.3990,
            9.9920,
            None,
        ),
    ];
    for i in 1..=spots {
        sensors.push(spot(&format!("{id}-s-{i:03}"), &format!("{id}-z-01")));
    }
    CityInput {
        id: id.to_owned(),
        lat: 48.3984,
        lon: 9.9916,
        offset: Box::new(berlin_offset),
        sensors,
    }
}

fn ulm() -> Vec<CityInput> {
    vec![city("ulm", 40)]
}

const DEMO_CITIES: [&str; 9] = [
    "stuttgart",
    "karlsruhe",
    "mannheim",
    "freiburg",
    "heidelberg",
    "ulm",
    "heilbronn",
    "pforzheim",
    "reutlingen",
];

fn demo() -> Vec<CityInput> {
    DEMO_CITIES.iter().map(|id| city(id, 12)).collect()
}

/// Wednesday 2026-11-25 00:00 in Berlin.
fn wednesday() -> i64 {
    utc_ms(2026, 11, 24, 23)
}

fn feed(cities: Vec<CityInput>, seed: u64, start: i64) -> SimulatedFeed {
    SimulatedFeed::from_inputs(cities, seed, start, 60)
}

fn parse(msg: &SimMessage) -> Value {
    match serde_json::from_slice(&msg.payload) {
        Ok(v) => v,
        Err(e) => panic!("{}: {e}", String::from_utf8_lossy(&msg.payload)),
    }
}

fn rfc3339_ms(v: &Value) -> i64 {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("ts {v} is not a string"));
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.timestamp_millis(),
        Err(e) => panic!("ts {text}: {e}"),
    }
}

/// Event time of a (good) message.
fn event_ms(v: &Value) -> i64 {
    match &v["ts"] {
        Value::Number(n) => n.as_i64().unwrap_or_else(|| panic!("ts {n}")),
        ts => rfc3339_ms(ts),
    }
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let run = |seed| {
        feed(demo(), seed, wednesday())
            .with_bad_ratio(0.05)
            .advance_to(wednesday() + 2 * HOUR)
    };
    let a = run(42);
    assert!(!a.is_empty());
    assert_eq!(a, run(42));
    assert_ne!(a, run(43));
}

#[test]
fn chunking_does_not_change_the_stream() {
    let start = wednesday() + 6 * HOUR + 12_345;
    let to = start + 2 * HOUR;
    let whole = feed(ulm(), 9, start)
        .with_bad_ratio(0.02)
        .with_out_of_order_ratio(0.1)
        .advance_to(to);
    let mut chunked_feed = feed(ulm(), 9, start)
        .with_bad_ratio(0.02)
        .with_out_of_order_ratio(0.1);
    let mut chunked = Vec::new();
    let mut t = start;
    let mut step = 1;
    while t < to {
        t = (t + step).min(to);
        step = step * 7 % 180_001 + 333;
        chunked.extend(chunked_feed.advance_to(t));
        assert_eq!(chunked_feed.now_ms(), t);
    }
    assert_eq!(whole.len(), chunked.len());
    assert!(whole == chunked, "chunked stream differs");
    assert!(chunked_feed.advance_to(to - 1).is_empty());
    assert_eq!(chunked_feed.now_ms(), to);
}

#[test]
fn an_hour_of_messages_has_the_wire_format() {
    let cities = ulm();
    let lanes: HashMap<String, u8> = cities[0]
        .sensors
        .iter()
        .filter(|s| s.kind == InputKind::Traffic)
        .map(|s| (s.id.clone(), s.lanes))
        .collect();
    let mut feed = feed(cities, 1, wednesday());
    let from = wednesday() + 10 * HOUR;
    feed.advance_to(from);
    let hour = feed.advance_to(from + HOUR);
    let tail = feed.advance_to(from + HOUR + 30_000);
    assert_eq!(feed.now_ms(), from + HOUR + 30_000);

    let mut intervals = HashSet::new();
    let mut facility_counts: HashMap<String, usize> = HashMap::new();
    let mut spot_counts: HashMap<String, usize> = HashMap::new();
    let mut previous = from;
    for msg in &hour {
        assert!(
            msg.ts_ms > from && msg.ts_ms <= from + HOUR,
            "ts_ms {} outside the hour",
            msg.ts_ms
        );
        assert!(msg.ts_ms >= previous, "not ordered by ts_ms");
        previous = msg.ts_ms;
        let v = parse(msg);
        assert_eq!(text(&v, "city"), "ulm");
        let ts = event_ms(&v);
        match msg.topic.as_str() {
            "sensors.ulm.traffic" => {
                let id = text(&v, "sensor_id");
                assert_eq!(msg.key, id);
                let lane = v["lane"].as_u64().unwrap_or(0);
                let max_lane = lanes.get(id).copied().unwrap_or(0);
                assert!(
                    (1..=u64::from(max_lane)).contains(&lane),
                    "lane {lane} of {id}"
                );
                assert!(
                    (0..=MAX_DELAY_MS).contains(&(msg.ts_ms - ts)),
                    "delay of {v}"
                );
                assert_eq!(ts % 60_000, 0);
                assert_eq!(v["interval_s"].as_u64(), Some(60));
                let count = v["vehicle_count"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("count of {v}"));
                let heavy = v["heavy_vehicle_count"].as_u64().unwrap_or(u64::MAX);
                assert!(heavy <= count);
                assert_eq!(v.get("avg_speed_kmh").is_some(), count > 0, "{v}");
                let occupancy = num(&v, "occupancy_pct");
                assert!((0.0..=100.0).contains(&occupancy));
                assert!(((occupancy * 10.0).round() - occupancy * 10.0).abs() < 1e-6);
            }
            "sensors.ulm.parking" => {
                assert_eq!(ts, msg.ts_ms);
                match text(&v, "kind") {
                    "facility" => {
                        assert_eq!(text(&v, "id"), msg.key);
                        assert!(v["ts"].is_i64());
                        let free = v["free_spaces"].as_u64().unwrap_or(u64::MAX);
                        let total = v["total_spaces"].as_u64().unwrap_or(0);
                        assert!(free <= total && total > 0);
                        *facility_counts.entry(msg.key.clone()).or_default() += 1;
                    }
                    "spot" => {
                        assert!(v["ts"].is_string());
                        assert_eq!(text(&v, "facility_id"), "ulm-z-01");
                        assert_eq!(msg.key, "ulm-z-01", "spots are keyed by zone");
                        assert!(
                            ["free", "occupied", "closed", "unknown"].contains(&text(&v, "status"))
                        );
                        *spot_counts.entry(text(&v, "id").to_owned()).or_default() += 1;
                    }
                    kind => panic!("kind {kind}"),
                }
            }
            topic => panic!("topic {topic}"),
        }
    }
    for msg in hour.iter().chain(&tail) {
        let v = parse(msg);
        if msg.topic.ends_with(".traffic") {
            let ts = event_ms(&v);
            if ts > from && ts <= from + HOUR {
                let key = (text(&v, "sensor_id").to_owned(), v["lane"].as_u64(), ts);
                assert!(intervals.insert(key), "duplicate {v}");
            }
        }
    }
    let lanes_total: usize = lanes.values().map(|&l| usize::from(l)).sum();
    assert_eq!(intervals.len(), 60 * lanes_total);
    // Three counted car parks, one count a minute; the zone sends none.
    assert_eq!(facility_counts.len(), 3);
    assert!(facility_counts.values().all(|&n| n == 60));
    // Every spot at least heartbeats every ten minutes.
    assert_eq!(spot_counts.len(), 40);
    assert!(spot_counts.values().all(|&n| n >= 6));
}

#[test]
fn a_weekday_in_berlin_is_plausible() {
    let cities = ulm();
    let free_flow: HashMap<String, f64> = cities[0]
        .sensors
        .iter()
        .filter_map(|s| Some((s.id.clone(), s.free_flow_kmh?)))
        .collect();
    let start = wednesday();
    let day = feed(cities, 3, start)
        .with_out_of_order_ratio(0.0)
        .advance_to(start + DAY);
    let local_h = |ts: i64| (ts - start) as f64 / HOUR as f64;

    let mut volume_08 = 0.0;
    let mut volume_03 = 0.0;
    let mut jammed = false;
    let mut pr_at = HashMap::new();
    let mut statuses = HashSet::new();
    for msg in &day {
        let v = parse(msg);
        let h = local_h(event_ms(&v));
        if msg.topic.ends_with(".traffic") {
            let count = num(&v, "vehicle_count");
            if (7.75..8.25).contains(&h) {
                volume_08 += count;
            }
            if (2.75..3.25).contains(&h) {
                volume_03 += count;
            }
            let vf = free_flow.get(text(&v, "sensor_id")).copied().unwrap_or(0.0);
            if let Some(speed) = v["avg_speed_kmh"].as_f64() {
                assert!(
                    (0.0..=vf + 20.0).contains(&speed),
                    "speed {speed} on a {vf} km/h road"
                );
                jammed |= speed < 0.4 * vf && count >= 3.0;
            }
            assert!((0.0..=100.0).contains(&num(&v, "occupancy_pct")));
        } else if text(&v, "kind") == "facility" {
            let (free, total) = (num(&v, "free_spaces"), num(&v, "total_spaces"));
            assert!((0.0..=total).contains(&free));
            if text(&v, "id") == "ulm-p-02" {
                pr_at.insert((h * 60.0).round() as i64, 1.0 - free / total);
            }
        } else {
            statuses.insert(text(&v, "status").to_owned());
        }
    }
    assert!(
        volume_08 > 3.0 * volume_03,
        "08:00 {volume_08} vs 03:00 {volume_03}"
    );
    assert!(jammed, "no congestion-prone sensor reached a near-jam");
    let pr = |minute: i64| pr_at.get(&minute).copied().unwrap_or(f64::NAN);
    assert!(
        pr(10 * 60) > pr(22 * 60) + 0.5,
        "P+R {} at 10:00, {} at 22:00",
        pr(600),
        pr(1320)
    );
    assert!(
        statuses.contains("free") && statuses.contains("occupied") && statuses.contains("closed")
    );
}

#[test]
fn inner_city_car_parks_fill_up_on_saturdays() {
    let start = utc_ms(2026, 11, 28, 11); // Saturday 12:00 in Berlin
    let msgs = feed(ulm(), 5, start).advance_to(start + 2 * HOUR);
    let occupancy: Vec<f64> = msgs
        .iter()
        .map(parse)
        .filter(|v| v["id"] == "ulm-p-01")
        .map(|v| 1.0 - num(&v, "free_spaces") / num(&v, "total_spaces"))
        .collect();
    assert_eq!(occupancy.len(), 120);
    let late = &occupancy[60..];
    assert!(late.iter().all(|&o| o > 0.85), "{late:?}");
    // Smooth: a random walk, not jumps.
    assert!(occupancy.windows(2).all(|w| (w[0] - w[1]).abs() < 0.05));
}

#[test]
fn the_morning_peak_follows_local_time_across_dst() {
    let peak_utc_hour = |start: i64| {
        let msgs = feed(demo(), 11, start).advance_to(start + 12 * HOUR);
        let mut by_hour = [0.0; 12];
        for msg in msgs.iter().filter(|m| m.topic.ends_with(".traffic")) {
            let v = parse(msg);
            by_hour[((event_ms(&v) - 1 - start) / HOUR) as usize] += num(&v, "vehicle_count");
        }
        by_hour
            .iter()
            .enumerate()
            .fold(0, |best, (h, &n)| if n > by_hour[best] { h } else { best })
    };
    assert_eq!(peak_utc_hour(utc_ms(2026, 1, 14, 0)), 6); // 07:00–08:00 CET
    assert_eq!(peak_utc_hour(utc_ms(2026, 7, 15, 0)), 5); // 07:00–08:00 CEST
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Seen {
    Good,
    Bad(Fault),
}

fn classify(msg: &SimMessage) -> Seen {
    let Ok(v) = serde_json::from_slice::<Value>(&msg.payload) else {
        return Seen::Bad(Fault::Truncated);
    };
    if v["city"] == "atlantis" {
        Seen::Bad(Fault::UnknownCity)
    } else if v["avg_speed_kmh"].as_f64() == Some(999.0) {
        Seen::Bad(Fault::Speed999)
    } else if v["occupancy_pct"].as_f64() == Some(140.0) {
        Seen::Bad(Fault::Occupancy140)
    } else if v["vehicle_count"].as_i64().is_some_and(|c| c < 0)
        || v["free_spaces"].as_i64().is_some_and(|c| c < 0)
    {
        Seen::Bad(Fault::NegativeCount)
    } else if event_ms(&v) >= msg.ts_ms + FUTURE_SHIFT_MS - MAX_DELAY_MS {
        Seen::Bad(Fault::FutureTs)
    } else {
        Seen::Good
    }
}

#[test]
fn bad_messages_of_every_kind() {
    let start = wednesday() + 9 * HOUR;
    let msgs = feed(demo(), 2, start)
        .with_bad_ratio(0.1)
        .advance_to(start + HOUR);
    let mut seen: HashMap<Seen, usize> = HashMap::new();
    for msg in &msgs {
        *seen.entry(classify(msg)).or_default() += 1;
    }
    let bad = msgs.len() - seen.get(&Seen::Good).copied().unwrap_or(0);
    let share = bad as f64 / msgs.len() as f64;
    assert!((0.08..0.12).contains(&share), "bad share {share}, {seen:?}");
    for fault in Fault::TRAFFIC {
        assert!(
            seen.get(&Seen::Bad(fault)).copied().unwrap_or(0) > 100,
            "{fault:?}: {seen:?}"
        );
    }
    // One truncation in eight is a poison message of nearly a megabyte, malformed too.
    let poison = msgs
        .iter()
        .filter(|m| m.payload.len() == POISON_BYTES)
        .count();
    let truncated = seen.get(&Seen::Bad(Fault::Truncated)).copied().unwrap_or(0);
    assert!(
        poison > 0 && poison * 4 < truncated,
        "{poison} poison of {truncated} truncated"
    );
    // Bad parking messages too.
    assert!(
        msgs.iter()
            .any(|m| m.topic.ends_with(".parking") && classify(m) != Seen::Good)
    );
    // Without faults everything is good.
    let clean = feed(demo(), 2, start).advance_to(start + HOUR);
    assert!(clean.iter().all(|m| classify(m) == Seen::Good));
}

/// Delivery-order statistics of the traffic messages in `msgs` (and of all messages):
/// how many are late, and how many carry an event time before one already delivered.
fn lateness(msgs: &[SimMessage]) -> (usize, usize, usize) {
    let (mut late, mut reordered_traffic, mut reordered_all) = (0, 0, 0);
    let (mut max_traffic, mut max_all) = (i64::MIN, i64::MIN);
    for msg in msgs {
        let ts = event_ms(&parse(msg));
        reordered_all += usize::from(ts < max_all);
        max_all = max_all.max(ts);
        if msg.topic.ends_with(".traffic") {
            let delay = msg.ts_ms - ts;
            assert!((0..=MAX_DELAY_MS).contains(&delay));
            late += usize::from(delay > 0);
            reordered_traffic += usize::from(ts < max_traffic);
            max_traffic = max_traffic.max(ts);
        }
    }
    (late, reordered_traffic, reordered_all)
}

#[test]
fn some_traffic_arrives_out_of_order() {
    let start = wednesday() + 12 * HOUR;
    let msgs = feed(ulm(), 4, start)
        .with_out_of_order_ratio(0.2)
        .advance_to(start + HOUR);
    let (late, _, reordered) = lateness(&msgs);
    assert!(
        late > 100 && reordered > 100,
        "late {late}, reordered {reordered}"
    );
    // With intervals shorter than the delay, the traffic topic itself is out of order.
    let short = SimulatedFeed::from_inputs(ulm(), 4, start, 10)
        .with_out_of_order_ratio(0.05)
        .advance_to(start + HOUR);
    let (_, reordered_traffic, _) = lateness(&short);
    assert!(reordered_traffic > 100, "reordered {reordered_traffic}");
    let on_time = feed(ulm(), 4, start)
        .with_out_of_order_ratio(0.0)
        .advance_to(start + HOUR);
    assert_eq!(lateness(&on_time), (0, 0, 0));
}

#[test]
fn an_hour_of_nine_cities_is_cheap() {
    let start = wednesday() + 8 * HOUR;
    let mut feed = feed(demo(), 8, start).with_out_of_order_ratio(0.0);
    let began = Instant::now();
    let msgs = feed.advance_to(start + HOUR);
    let took = began.elapsed();
    let traffic = msgs
        .iter()
        .filter(|m| m.topic.ends_with(".traffic"))
        .count();
    assert_eq!(traffic, 9 * 14 * 60);
    // Well under 100 ms in release; generous here for unoptimised test builds.
    assert!(
        took.as_millis() < 2000,
        "{} messages took {took:?}",
        msgs.len()
    );
}

#[test]
fn the_feed_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SimulatedFeed>();
    assert_send_sync::<SimMessage>();
    let feed = feed(ulm(), 1, wednesday());
    assert!(format!("{feed:?}").contains("\"ulm\""));
}
