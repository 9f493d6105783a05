//! `[traffic]`: site classes and their MARZ thresholds.

use super::Ctx;
use crate::document::key_segment;
use crate::fields;
use crate::model::{MAX_LANES, SiteClass, TrafficConfig};
use crate::raw::{LaneValues, RawSiteClass, RawTraffic};

const MAX_SITE_CLASS_LEN: usize = 32;
/// Highest speed threshold accepted, km/h: the registry's highest free-flow speed.
const MAX_THRESHOLD_KMH: f64 = 250.0;

/// Starts from the built-in classes and lets each configured table replace or add one.
pub(super) fn traffic(ctx: &mut Ctx<'_>, raw: &RawTraffic) -> TrafficConfig {
    let mut site_classes: Vec<SiteClass> = SiteClass::built_in().to_vec();
    for (name, class) in &raw.site_classes {
        let base = key_segment("traffic.site_classes", name);
        if let Err(message) = fields::check_site_class_name(name, MAX_SITE_CLASS_LEN) {
            ctx.error(&base, message);
            continue;
        }
        let Some(class) = site_class(ctx, &base, name, class) else {
            continue;
        };
        match site_classes.iter_mut().find(|known| known.name == *name) {
            Some(known) => *known = class,
            None => site_classes.push(class),
        }
    }
    site_classes.sort_by(|a, b| a.name.cmp(&b.name));
    TrafficConfig { site_classes }
}

/// Checks 0 < v1 < v2 and 0 < k1 < k2 (for every lane count) of one class table.
fn site_class(ctx: &mut Ctx<'_>, base: &str, name: &str, raw: &RawSiteClass) -> Option<SiteClass> {
    let v1_ok = speed_threshold(ctx, &format!("{base}.v1_kmh"), raw.v1_kmh);
    let v2_ok = speed_threshold(ctx, &format!("{base}.v2_kmh"), raw.v2_kmh);
    let mut ok = v1_ok && v2_ok;
    if ok && raw.v1_kmh >= raw.v2_kmh {
        let message = format!(
            "v1_kmh {} must be below v2_kmh {} (MARZ requires 0 < v1 < v2)",
            raw.v1_kmh, raw.v2_kmh
        );
        ctx.error(&format!("{base}.v1_kmh"), message);
        ok = false;
    }
    let k1 = lane_table(ctx, &format!("{base}.k1_veh_km"), &raw.k1_veh_km);
    let k2 = lane_table(ctx, &format!("{base}.k2_veh_km"), &raw.k2_veh_km);
    let (Some(k1), Some(k2)) = (k1, k2) else {
        return None;
    };
    // Report the narrowest offending cross-section only: one mistake in a list usually
    // breaks every wider one too.
    if let Some(lanes) = (0..MAX_LANES).find(|&i| k1[i] >= k2[i]) {
        let message = format!(
            "k1_veh_km {} must be below k2_veh_km {} for {} lane(s) (MARZ requires 0 < k1 < k2)",
            k1[lanes],
            k2[lanes],
            lanes + 1
        );
        ctx.error(&format!("{base}.k1_veh_km"), message);
        return None;
    }
    ok.then(|| SiteClass {
        name: name.to_owned(),
        v1_kmh: raw.v1_kmh,
        v2_kmh: raw.v2_kmh,
        k1_veh_km: k1,
        k2_veh_km: k2,
    })
}

fn speed_threshold(ctx: &mut Ctx<'_>, path: &str, kmh: f64) -> bool {
    let fits = kmh.is_finite() && kmh > 0.0 && kmh <= MAX_THRESHOLD_KMH;
    if !fits {
        ctx.error(
            path,
            format!("{kmh} km/h is out of range, expected > 0 and <= 250"),
        );
    }
    fits
}

/// Expands a per-lane-count list to [`MAX_LANES`] entries, repeating the last one.
fn lane_table(ctx: &mut Ctx<'_>, path: &str, raw: &LaneValues) -> Option<[f64; MAX_LANES]> {
    let values = &raw.0;
    let Some(&last) = values.last() else {
        ctx.error(path, "must list at least one density, for one lane");
        return None;
    };
    if values.len() > MAX_LANES {
        let message = format!(
            "lists {} densities, at most {MAX_LANES} (one per lane count 1..=8) are allowed",
            values.len()
        );
        ctx.error(path, message);
        return None;
    }
    let mut ok = true;
    for (index, &value) in values.iter().enumerate() {
        if !(value.is_finite() && value > 0.0) {
            let key = if values.len() == 1 {
                path.to_owned()
            } else {
                format!("{path}[{index}]")
            };
            ctx.error(
                &key,
                format!("{value} veh/km is out of range, expected > 0"),
            );
            ok = false;
        }
    }
    let mut table = [last; MAX_LANES];
    table[..values.len()].copy_from_slice(values);
    ok.then_some(table)
}
