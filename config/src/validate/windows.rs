//! `[windows]`: sizes that tile a UTC day, hopping windows, out-of-orderness, lateness and
//! idle sources.

use std::time::Duration;

use super::{Ctx, SECONDS_PER_DAY, positive};
use crate::model::WindowsConfig;
use crate::raw::RawWindows;

const MAX_OUT_OF_ORDERNESS: Duration = Duration::from_secs(3600);

pub(super) fn windows(ctx: &mut Ctx<'_>, raw: &RawWindows) -> WindowsConfig {
    let defaults = WindowsConfig::default();
    let mut sizes: Vec<Duration> = Vec::with_capacity(raw.sizes.len());
    if raw.sizes.is_empty() {
        ctx.error("windows.sizes", "must list at least one window size");
    }
    for (index, text) in raw.sizes.iter().enumerate() {
        let path = format!("windows.sizes[{index}]");
        let Some(size) = ctx.duration(&path, text) else {
            continue;
        };
        if let Err(message) = check_window_size(text, size) {
            ctx.error(&path, message);
        } else if sizes.contains(&size) {
            ctx.error(&path, format!("duplicate window size `{text}`"));
        } else {
            sizes.push(size);
        }
    }
    sizes.sort();
    let out_of_orderness = ctx
        .duration("windows.out_of_orderness", &raw.out_of_orderness)
        .filter(|value| {
            let fits = *value <= MAX_OUT_OF_ORDERNESS;
            if !fits {
                let message = format!(
                    "`{}` is longer than the maximum of 1h",
                    raw.out_of_orderness
                );
                ctx.error("windows.out_of_orderness", message);
            }
            fits
        });
    let idle_timeout = positive(ctx, "windows.idle_timeout", &raw.idle_timeout);
    let max_future = ctx.duration("windows.max_future", &raw.max_future);
    let max_clock_jump = raw
        .max_clock_jump
        .as_deref()
        .and_then(|text| positive(ctx, "windows.max_clock_jump", text));
    let allowed_lateness = ctx
        .duration("windows.allowed_lateness", &raw.allowed_lateness)
        .filter(|value| {
            let fits = *value <= SECONDS_PER_DAY_DURATION;
            if !fits {
                ctx.error(
                    "windows.allowed_lateness",
                    format!("`{}` is longer than one day", raw.allowed_lateness),
                );
            }
            fits
        });
    let mut hopping = Vec::new();
    for (index, text) in raw.hopping.iter().enumerate() {
        let path = format!("windows.hopping[{index}]");
        let Some((size_text, slide_text)) = text.split_once('/') else {
            ctx.error(&path, format!("`{text}` is not SIZE/SLIDE, e.g. `1h/5m`"));
            continue;
        };
        let (Some(size), Some(slide)) = (
            ctx.duration(&path, size_text.trim()),
            ctx.duration(&path, slide_text.trim()),
        ) else {
            continue;
        };
        if let Err(message) =
            check_window_size(size_text, size).and_then(|()| check_window_size(slide_text, slide))
        {
            ctx.error(&path, message);
        } else if slide >= size || !size.as_secs().is_multiple_of(slide.as_secs()) {
            ctx.error(
                &path,
                format!(
                    "slide `{slide_text}` must be shorter than size `{size_text}` and divide it"
                ),
            );
        } else if hopping.contains(&(size, slide)) {
            ctx.error(&path, format!("duplicate hopping window `{text}`"));
        } else {
            hopping.push((size, slide));
        }
    }
    WindowsConfig {
        sizes: if sizes.is_empty() {
            defaults.sizes
        } else {
            sizes
        },
        out_of_orderness: out_of_orderness.unwrap_or(defaults.out_of_orderness),
        idle_timeout: idle_timeout.unwrap_or(defaults.idle_timeout),
        max_future: max_future.unwrap_or(defaults.max_future),
        max_clock_jump: max_clock_jump.unwrap_or(defaults.max_clock_jump),
        hopping,
        allowed_lateness: allowed_lateness.unwrap_or(defaults.allowed_lateness),
    }
}

const SECONDS_PER_DAY_DURATION: Duration = Duration::from_secs(SECONDS_PER_DAY);

/// Windows must tile a UTC day exactly, otherwise bins would not line up across days
/// and cities.
fn check_window_size(text: &str, size: Duration) -> Result<(), String> {
    if size.subsec_nanos() != 0 {
        return Err(format!(
            "window size `{text}` is not a whole number of seconds"
        ));
    }
    let seconds = size.as_secs();
    if seconds == 0 {
        return Err(format!("window size `{text}` must be at least 1s"));
    }
    if seconds > SECONDS_PER_DAY {
        return Err(format!("window size `{text}` is longer than one day"));
    }
    if !SECONDS_PER_DAY.is_multiple_of(seconds) {
        return Err(format!(
            "window size `{text}` does not divide a day evenly, so windows would not align to midnight UTC"
        ));
    }
    Ok(())
}
