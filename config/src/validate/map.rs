//! `api.map_tile_url` and `api.map_tile_attribution`: the live map's optional base map.
//!
//! The URL goes into the page as Leaflet's tile template and every viewer's browser
//! fetches from it, so it is checked here rather than discovered as a grey map: an
//! absolute `http(s)` URL with a host, with the `{z}`, `{x}` and `{y}` placeholders, and
//! no characters that would break out of a URL (quotes, angle brackets, spaces).

use super::Ctx;
use crate::model::MapTiles;

const KEY: &str = "api.map_tile_url";
/// Longer than any real tile template; bounds what goes into every page.
const MAX_LEN: usize = 2048;
/// Placeholders Leaflet fills in; anything else in braces is a typo.
const PLACEHOLDERS: [&str; 5] = ["z", "x", "y", "s", "r"];

pub(super) fn tiles(
    ctx: &mut Ctx<'_>,
    url: Option<&str>,
    attribution: Option<&str>,
) -> Option<MapTiles> {
    let attribution = attribution.map(str::trim).filter(|a| !a.is_empty());
    let url = url.map(str::trim).filter(|u| !u.is_empty());
    let Some(url) = url else {
        if attribution.is_some() {
            ctx.error(
                "api.map_tile_attribution",
                "is set without api.map_tile_url",
            );
        }
        return None;
    };
    if let Err(message) = check_url(url) {
        ctx.error(KEY, message);
        return None;
    }
    if attribution.is_some_and(|a| a.len() > MAX_LEN) {
        ctx.error(
            "api.map_tile_attribution",
            format!("is longer than {MAX_LEN} bytes"),
        );
        return None;
    }
    Some(MapTiles {
        url: url.to_owned(),
        attribution: attribution.map(str::to_owned),
    })
}

fn check_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_LEN {
        return Err(format!("is longer than {MAX_LEN} bytes"));
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(format!(
            "`{url}` must start with http:// or https:// (e.g. https://tiles.example.org/{{z}}/{{x}}/{{y}}.png)"
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    if let Some(bad) = url.chars().find(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`')
    }) {
        return Err(format!("`{url}` contains {bad:?}, which a URL cannot hold"));
    }
    let mut seen = Vec::new();
    let mut tail = url;
    while let Some(open) = tail.find('{') {
        let after = &tail[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("`{url}` has a `{{` without `}}`"));
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "`{url}` has the placeholder `{{{name}}}`; allowed are {{z}}, {{x}}, {{y}}, {{s}}, {{r}}"
            ));
        }
        seen.push(name);
        tail = &after[close + 1..];
    }
    for needed in ["z", "x", "y"] {
        if !seen.contains(&needed) {
            return Err(format!("`{url}` lacks the placeholder `{{{needed}}}`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn accepts_tile_templates() {
        for url in [
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "http://tiles.internal:8081/osm/{z}/{x}/{y}{r}.png",
            "https://{s}.tiles.example.org/{z}/{x}/{y}.png?key=abc",
        ] {
            assert_eq!(check_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn refuses_what_would_give_a_grey_map_or_break_the_page() {
        for (url, why) in [
            ("tile.openstreetmap.org/{z}/{x}/{y}.png", "http://"),
            ("ftp://tiles/{z}/{x}/{y}.png", "http://"),
            ("https:///{z}/{x}/{y}.png", "no host"),
            ("https://tiles/{z}/{x}.png", "`{y}`"),
            ("https://tiles/{zoom}/{x}/{y}.png", "`{zoom}`"),
            ("https://tiles/{z}/{x}/{y.png", "without"),
            ("https://tiles/{z}/{x}/{y}.png\"><script>", "contains"),
            ("https://tiles/{z} /{x}/{y}.png", "contains"),
        ] {
            let err = check_url(url).expect_err(url);
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}
