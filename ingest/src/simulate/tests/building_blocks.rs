//! Building blocks of the feed: timestamp and number formatting, samplers, curves.

use super::*;

#[test]
fn rfc3339_matches_chrono() {
    for ms in [
        0,
        951_782_400_000,
        1_795_478_403_000,
        1_795_478_403_250,
        4_102_444_799_000,
        utc_ms(2024, 2, 29, 23) + 59 * 60_000,
    ] {
        let mut out = Vec::new();
        push_rfc3339(&mut out, ms);
        let format = if ms % 1000 == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Millis
        };
        let expected = DateTime::from_timestamp_millis(ms)
            .map(|t| format!("\"{}\"", t.to_rfc3339_opts(format, true)));
        assert_eq!(Some(String::from_utf8_lossy(&out).into_owned()), expected);
    }
}

#[test]
fn numbers_and_strings_are_valid_json() {
    let mut out = Vec::new();
    for (v, expected) in [
        (47.46, "47.5"),
        (0.04, "0.0"),
        (100.0, "100.0"),
        (-3.26, "-3.3"),
        (12.3, "12.3"),
    ] {
        out.clear();
        push_tenths(&mut out, v);
        assert_eq!(out, expected.as_bytes());
    }
    out.clear();
    push_i64(&mut out, i64::MIN);
    assert_eq!(out, i64::MIN.to_string().as_bytes());
    let nasty = "a\"b\\c\nd\u{1}é";
    assert_eq!(
        serde_json::from_str::<String>(&json_string(nasty))
            .ok()
            .as_deref(),
        Some(nasty)
    );
}

#[test]
fn samplers_have_the_right_means() {
    let mut rng = Rng::new(7, 1);
    for mean in [0.3, 3.0, 25.0] {
        let n = 20_000;
        let sum: u64 = (0..n).map(|_| u64::from(rng.poisson(mean))).sum();
        let got = sum as f64 / f64::from(n);
        assert!(
            (got - mean).abs() < 0.05 * mean + 0.02,
            "poisson({mean}) mean {got}"
        );
    }
    let heavy: u64 = (0..10_000).map(|_| u64::from(rng.binomial(20, 0.1))).sum();
    assert!((heavy as f64 / 10_000.0 - 2.0).abs() < 0.1);
}

#[test]
fn curves_have_their_shape() {
    let at =
        |day: i64, h: f64| LocalTime::new(utc_ms(2026, 11, day, 0) + (h * HOUR as f64) as i64, 0);
    // 2026-11-25 is a Wednesday, 2026-11-28 a Saturday.
    assert!(traffic_demand(at(25, 8.0)) > 3.0 * traffic_demand(at(25, 3.0)));
    assert!(traffic_demand(at(25, 7.5)) > traffic_demand(at(28, 7.5)));
    assert!(parking_target(ParkingProfile::ParkAndRide, at(25, 10.0)) > 0.8);
    assert!(parking_target(ParkingProfile::ParkAndRide, at(25, 22.0)) < 0.1);
    assert!(parking_target(ParkingProfile::InnerCity, at(28, 13.5)) > 0.95);
}
