//! `[parking]`: feed interval and staleness, trend settings, status thresholds.

use super::{Ctx, positive};
use crate::model::{ParkingConfig, ParkingThresholds, STALE_AFTER_INTERVALS};
use crate::raw::RawParking;

/// Validates `[parking]`; a bad value is reported and replaced by its default so the
/// cross-field checks below only compare values that passed their own.
pub(super) fn parking(ctx: &mut Ctx<'_>, raw: &RawParking) -> ParkingConfig {
    let defaults = ParkingConfig::default();
    let feed_interval = positive(ctx, "parking.feed_interval", &raw.feed_interval);
    let stale_after = raw
        .stale_after
        .as_deref()
        .and_then(|text| positive(ctx, "parking.stale_after", text));
    let trend_window = positive(ctx, "parking.trend_window", &raw.trend_window);
    if let (Some(feed), Some(stale)) = (feed_interval, stale_after)
        && stale < feed
    {
        let message = format!(
            "`{}` is shorter than parking.feed_interval ({}), so every facility would turn stale between two reports",
            humantime::format_duration(stale),
            humantime::format_duration(feed)
        );
        ctx.error("parking.stale_after", message);
    }
    if let (Some(feed), Some(window)) = (feed_interval, trend_window)
        && window < feed
    {
        let message = format!(
            "`{}` is shorter than parking.feed_interval ({}), so the trend would never see two reports",
            humantime::format_duration(window),
            humantime::format_duration(feed)
        );
        ctx.error("parking.trend_window", message);
    }
    let threshold = raw.trend_threshold_pct_per_h;
    let trend_threshold_pct_per_h = if threshold.is_finite() && threshold > 0.0 {
        threshold
    } else {
        ctx.error(
            "parking.trend_threshold_pct_per_h",
            format!("{threshold} must be greater than zero (percentage points per hour)"),
        );
        defaults.trend_threshold_pct_per_h
    };
    let feed_interval = feed_interval.unwrap_or(defaults.feed_interval);
    ParkingConfig {
        feed_interval,
        stale_after: stale_after.unwrap_or(feed_interval * STALE_AFTER_INTERVALS),
        trend_window: trend_window.unwrap_or(defaults.trend_window),
        trend_threshold_pct_per_h,
        thresholds: thresholds(ctx, raw),
    }
}

fn thresholds(ctx: &mut Ctx<'_>, raw: &RawParking) -> ParkingThresholds {
    let af_inc = percentage(
        ctx,
        "almost_full_increasing_pct",
        raw.almost_full_increasing_pct,
    );
    let af_dec = percentage(
        ctx,
        "almost_full_decreasing_pct",
        raw.almost_full_decreasing_pct,
    );
    let full_inc = percentage(ctx, "full_increasing_pct", raw.full_increasing_pct);
    let full_dec = percentage(ctx, "full_decreasing_pct", raw.full_decreasing_pct);
    // (lower, its key, higher, its key): a band of zero width would be no hysteresis at
    // all, and an almostFull threshold above full could never be shown.
    let rules = [
        (
            af_dec,
            "almost_full_decreasing_pct",
            af_inc,
            "almost_full_increasing_pct",
        ),
        (
            full_dec,
            "full_decreasing_pct",
            full_inc,
            "full_increasing_pct",
        ),
        (
            af_inc,
            "almost_full_increasing_pct",
            full_inc,
            "full_increasing_pct",
        ),
        (
            af_dec,
            "almost_full_decreasing_pct",
            full_dec,
            "full_decreasing_pct",
        ),
    ];
    for (low, low_key, high, high_key) in rules {
        if let (Some(low), Some(high)) = (low, high)
            && low >= high
        {
            ctx.error(
                &format!("parking.{low_key}"),
                format!("{low} must be below parking.{high_key} ({high})"),
            );
        }
    }
    let defaults = ParkingThresholds::default();
    ParkingThresholds {
        almost_full_increasing_pct: af_inc.unwrap_or(defaults.almost_full_increasing_pct),
        almost_full_decreasing_pct: af_dec.unwrap_or(defaults.almost_full_decreasing_pct),
        full_increasing_pct: full_inc.unwrap_or(defaults.full_increasing_pct),
        full_decreasing_pct: full_dec.unwrap_or(defaults.full_decreasing_pct),
    }
}

fn percentage(ctx: &mut Ctx<'_>, key: &str, value: f64) -> Option<f64> {
    if value.is_finite() && value > 0.0 && value <= 100.0 {
        return Some(value);
    }
    ctx.error(
        &format!("parking.{key}"),
        format!("{value} is out of range, expected a percentage in (0, 100]"),
    );
    None
}
