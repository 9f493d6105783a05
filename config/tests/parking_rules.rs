//! `[parking]`: staleness from the feed interval, trend settings, status thresholds.

mod common;

use std::time::Duration;

use common::{fails_at, keys, ok};

#[test]
fn durations_and_trend_threshold() {
    assert_eq!(
        ok("[parking]\nstale_after = \"1h\"").parking.stale_after,
        Duration::from_secs(3600)
    );
    fails_at("[parking]\nstale_after = \"0s\"", "parking.stale_after");
    fails_at("[parking]\nfeed_interval = \"0s\"", "parking.feed_interval");
    fails_at("[parking]\nstale_after = \"2m\"", "parking.stale_after");
    fails_at("[parking]\ntrend_window = \"4m\"", "parking.trend_window");
    fails_at(
        "[parking]\ntrend_threshold_pct_per_h = 0",
        "parking.trend_threshold_pct_per_h",
    );
}

#[test]
fn staleness_follows_the_feed_interval_unless_set() {
    let slow = ok("[parking]\nfeed_interval = \"10m\"").parking;
    assert_eq!(slow.stale_after, Duration::from_secs(1800));
    assert_eq!(slow.feed_interval, Duration::from_secs(600));
    let explicit = ok("[parking]\nfeed_interval = \"10m\"\nstale_after = \"12m\"").parking;
    assert_eq!(explicit.stale_after, Duration::from_secs(720));
    fails_at(
        "[parking]\nfeed_interval = \"20m\"\ntrend_window = \"15m\"",
        "parking.trend_window",
    );
}

#[test]
fn status_thresholds_keep_their_hysteresis_bands() {
    let integers = ok("[parking]\nfull_increasing_pct = 97\nfull_decreasing_pct = 93.5").parking;
    assert_eq!(integers.thresholds.full_increasing_pct, 97.0);
    assert_eq!(integers.thresholds.full_decreasing_pct, 93.5);
    fails_at(
        "[parking]\nalmost_full_decreasing_pct = 90",
        "parking.almost_full_decreasing_pct",
    );
    fails_at(
        "[parking]\nfull_increasing_pct = 101",
        "parking.full_increasing_pct",
    );
    fails_at(
        "[parking]\nalmost_full_increasing_pct = 0",
        "parking.almost_full_increasing_pct",
    );
    // almostFull entered above full: both the band of full and the order are broken
    let mut found = keys("[parking]\nalmost_full_increasing_pct = 99\nfull_decreasing_pct = 99");
    found.sort();
    assert_eq!(
        found,
        [
            "parking.almost_full_increasing_pct",
            "parking.full_decreasing_pct"
        ]
    );
}
