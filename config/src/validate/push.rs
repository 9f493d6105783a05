//! `[push]` limits and `[[push_keys]]`: hashed keys, each bound to a configured city and
//! to formats that city has a topic for.

use super::keys::KeyIds;
use super::{Ctx, in_range};
use crate::model::{CityConfig, FeedFormat, PushConfig, PushKeyConfig};
use crate::raw::{RawPush, RawPushKey};

/// 1 GiB: a body is held in memory whole until the broker has it.
const MAX_BODY_BYTES: i64 = 1024 * 1024 * 1024;

pub(super) fn push(ctx: &mut Ctx<'_>, raw: &RawPush) -> PushConfig {
    let defaults = PushConfig::default();
    let max_body_bytes = in_range(
        ctx,
        "push.max_body_bytes",
        raw.max_body_bytes,
        1,
        MAX_BODY_BYTES,
        "1 ..= 1073741824",
    );
    if !(raw.rate_per_s.is_finite() && raw.rate_per_s > 0.0) {
        ctx.error(
            "push.rate_per_s",
            format!("{} must be a number greater than zero", raw.rate_per_s),
        );
    }
    let burst = in_range(ctx, "push.burst", raw.burst, 1, 1_000_000, "1 ..= 1000000");
    PushConfig {
        max_body_bytes: max_body_bytes.unwrap_or(defaults.max_body_bytes),
        rate_per_s: if raw.rate_per_s.is_finite() && raw.rate_per_s > 0.0 {
            raw.rate_per_s
        } else {
            defaults.rate_per_s
        },
        burst: burst
            .and_then(|b| u32::try_from(b).ok())
            .unwrap_or(defaults.burst),
    }
}

/// Validates the keys: the city must be configured and every non-native format must have
/// a `[[cities.feeds]]` topic in it (the gateway writes there; native goes to
/// `sensors.<city>.<kind>`), so a key can never be accepted and then have nowhere to write.
pub(super) fn push_keys(
    ctx: &mut Ctx<'_>,
    raw: Vec<RawPushKey>,
    cities: &[CityConfig],
) -> Vec<PushKeyConfig> {
    let mut key_ids = KeyIds::default();
    let mut keys = Vec::with_capacity(raw.len());
    for (index, key) in raw.into_iter().enumerate() {
        let base = format!("push_keys[{index}]");
        let ids = key_ids.check(ctx, &base, &key.principal, &key.key_sha256);
        let mut ok = ids.is_some();
        let city = cities.iter().find(|c| c.id == key.city);
        if city.is_none() {
            ctx.error(
                &format!("{base}.city"),
                format!("unknown city `{}`", key.city),
            );
            ok = false;
        }
        let mut formats = Vec::with_capacity(key.formats.len());
        if key.formats.is_empty() {
            ctx.error(&format!("{base}.formats"), "must name at least one format");
            ok = false;
        }
        for name in &key.formats {
            match name.parse::<FeedFormat>() {
                Ok(format) => {
                    let has_topic = format == FeedFormat::Native
                        || city.is_some_and(|c| c.feeds.iter().any(|f| f.format == format));
                    if city.is_some() && !has_topic {
                        ctx.error(
                            &format!("{base}.formats"),
                            format!(
                                "city `{}` has no [[cities.feeds]] topic of format `{format}` to write pushes to",
                                key.city
                            ),
                        );
                        ok = false;
                    }
                    if !formats.contains(&format) {
                        formats.push(format);
                    }
                }
                Err(message) => {
                    ctx.error(&format!("{base}.formats"), message);
                    ok = false;
                }
            }
        }
        if let (true, Some((principal, hash))) = (ok, ids) {
            keys.push(PushKeyConfig {
                principal,
                key_sha256: hash,
                city: key.city,
                formats,
            });
        }
    }
    keys
}
