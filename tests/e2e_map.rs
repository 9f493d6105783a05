//! The live map in a real browser (headless Chromium under chromedriver) against
//! `stadtpuls demo` (10 s windows, so windows close every ten seconds):
//!
//! - `/` leads to the map; its assets are the embedded files, Leaflet byte for byte;
//! - without a key the switcher offers the cities with open data (in the demo every city's
//!   parking is open), with the demo key all nine;
//! - the keyboard path: focus in the list, ArrowDown, Enter selects the next facility;
//! - the side panel's numbers of that facility and of a clicked sensor equal the API's
//!   (read again when a live update came between the two reads);
//! - a closed window arriving over `/v1/stream` changes the sensor's entry in the page
//!   without a reload;
//! - a screenshot is saved in the test output (its path is printed).

mod common;
#[path = "support/webdriver.rs"]
mod webdriver;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::demo::demo_ready;
use common::{eventually, get};
use serde_json::{Value, json};
use webdriver::{ARROW_DOWN, Browser, ENTER};

const DEMO_KEY: &str = "stadtpuls-demo-key";
const CITY: &str = "ulm";

const FACILITY_FIELDS: [&str; 8] = [
    "free",
    "total",
    "occupied",
    "occupancy_pct",
    "status",
    "trend",
    "trend_pct_per_h",
    "updated_at",
];
const SENSOR_FIELDS: [&str; 7] = [
    "traffic_state",
    "flow_veh_h",
    "speed_space_mean_kmh",
    "density_veh_km",
    "occupancy_pct",
    "completeness_pct",
    "window_end",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_shows_the_apis_numbers_and_updates_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, client) = demo_ready(dir.path(), "10m", &[]).await;

    // `/` leads to the page, which loads its scripts from the binary.
    let (status, page) = get(&client, &format!("{}/", app.base)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<title>Stadtpuls — live map</title>"),
        "{page}"
    );
    let (status, leaflet) = get(&client, &format!("{}/map/assets/leaflet.js", app.base)).await;
    assert_eq!(status, 200);
    assert_eq!(
        leaflet,
        include_str!("../api/web/vendor/leaflet/leaflet.js"),
        "the served Leaflet is the vendored file"
    );

    let browser = Browser::start().await;
    let shot = output_dir().join("map.png");

    // Without a key: the cities with open data.
    browser.goto(&format!("{}/map#{CITY}", app.base)).await;
    let open = switcher_cities(&browser).await;
    let (_, cities) = get(&client, &format!("{}/v1/cities", app.base)).await;
    assert_eq!(
        open,
        city_ids(&cities),
        "anonymous switcher = anonymous /v1/cities"
    );

    // With the demo key (typed into the page's form): all nine.
    let key_input = browser.find("#key").await;
    browser
        .send_keys(&key_input, &format!("{DEMO_KEY}{ENTER}"))
        .await;
    let all = eventually(Duration::from_secs(20), "nine cities", || async {
        let ids = switcher_cities(&browser).await;
        (ids.len() == 9).then_some(ids)
    })
    .await;
    let (_, keyed) = get_with_key(&client, &format!("{}/v1/cities", app.base)).await;
    assert_eq!(
        all,
        city_ids(&keyed),
        "switcher with the key = /v1/cities with it"
    );
    wait_loaded(&browser, CITY).await;
    save(&browser, &shot).await;

    // Every entry says its state in words, not only in colour.
    let labels = browser
        .script(
            "return [...document.querySelectorAll('#entities button')].map(b => b.getAttribute('aria-label'));",
            json!([]),
        )
        .await;
    let labels = labels.as_array().expect("labels");
    assert!(!labels.is_empty());
    for label in labels {
        let label = label.as_str().unwrap_or_default();
        let worded = [
            "spaces available",
            "almost full",
            "full",
            "closed",
            "stale",
            "no data",
            "no status",
            "free flow",
            "dense",
            "slow",
            "jam",
            "no window yet",
            "no state",
        ]
        .iter()
        .any(|w| label.contains(w));
        assert!(worded, "no status word in `{label}`");
    }

    // The keyboard: focus the first facility, ArrowDown, Enter → the second is selected.
    let keys = entity_keys(&browser, "parking").await;
    assert!(keys.len() >= 2, "{keys:?}");
    browser
        .script(
            "document.querySelector('#entities button[data-kind=parking]').focus(); return 1;",
            json!([]),
        )
        .await;
    let first = browser.active().await;
    assert_eq!(
        browser.attribute(&first, "data-key").await.as_deref(),
        Some(keys[0].as_str())
    );
    browser.send_keys(&first, ARROW_DOWN).await;
    let second = browser.active().await;
    assert_eq!(
        browser.attribute(&second, "data-key").await.as_deref(),
        Some(keys[1].as_str()),
        "ArrowDown moves the focus to the next entry"
    );
    browser.send_keys(&second, ENTER).await;
    let selected = selected_key(&browser).await;
    assert_eq!(selected, keys[1], "Enter selects the focused entry");
    let facility = keys[1].rsplit(':').next().expect("facility id").to_owned();

    // The panel's numbers of that facility are the API's.
    let parking_url = format!("{}/v1/cities/{CITY}/parking", app.base);
    same_as_api(&browser, "updated_at", &FACILITY_FIELDS, || async {
        let (_, body) = get(&client, &parking_url).await;
        let body: Value = serde_json::from_str(&body).expect("parking JSON");
        body["facilities"]
            .as_array()
            .and_then(|all| all.iter().find(|f| f["facility_id"] == facility.as_str()))
            .cloned()
            .unwrap_or_else(|| panic!("{facility} not in {body}"))
    })
    .await;

    // A sensor clicked on in the list: its panel equals the API's latest 10 s window.
    let sensors = entity_keys(&browser, "traffic").await;
    let sensor_key = sensors.first().expect("a traffic sensor").clone();
    let sensor = sensor_key.rsplit(':').next().expect("sensor id").to_owned();
    let button = browser
        .find(&format!("#entities button[data-key='{sensor_key}']"))
        .await;
    browser.click(&button).await;
    assert_eq!(selected_key(&browser).await, sensor_key);
    let traffic_url = format!("{}/v1/cities/{CITY}/traffic?window=10s", app.base);
    same_as_api(&browser, "window_end", &SENSOR_FIELDS, || async {
        let (_, body) = get(&client, &traffic_url).await;
        let body: Value = serde_json::from_str(&body).expect("traffic JSON");
        body["sensors"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["sensor_id"] == sensor.as_str()))
            .cloned()
            .unwrap_or_else(|| panic!("{sensor} not in {body}"))
    })
    .await;
    // Its sparkline of the last hours, drawn from the live API's windows.
    eventually(Duration::from_secs(10), "a sparkline", || async {
        let label = browser
            .script(
                "const s = document.querySelector('#details svg.spark'); return s && s.getAttribute('aria-label');",
                json!([]),
            )
            .await;
        label.as_str().map(str::to_owned)
    })
    .await;

    // A window closed while the page is open reaches it over the stream: the sensor's
    // entry changes, the page is the same page (no reload).
    browser
        .script("window.__sameLoad = true; return 1;", json!([]))
        .await;
    let before = updated_of(&browser, &sensor_key).await;
    let after = eventually(Duration::from_secs(120), "a stream update", || async {
        let now = updated_of(&browser, &sensor_key).await;
        (now > before).then_some(now)
    })
    .await;
    let same_load = browser
        .script("return window.__sameLoad === true;", json!([]))
        .await;
    assert_eq!(same_load, Value::Bool(true), "updated without a reload");
    // And the panel of the selected sensor follows it.
    let shown = browser
        .script(
            "return document.querySelector('#details [data-field=window_end]').dataset.value;",
            json!([]),
        )
        .await;
    assert!(
        shown.as_str().is_some_and(|s| s >= after.as_str()),
        "panel {shown} after {after}"
    );

    // The picture: the selected sensor's panel at the top of the side bar.
    browser
        .script(
            "document.getElementById('side').scrollTop = 0; return 1;",
            json!([]),
        )
        .await;
    save(&browser, &shot).await;
    browser.quit().await;
    assert!(app.terminate().success());
}

/// Where the screenshot goes: `$CARGO_TARGET_TMPDIR/e2e_map/`.
fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e_map");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

async fn save(browser: &Browser, path: &Path) {
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    std::fs::write(path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("screenshot of the map: {}", path.display());
}

async fn get_with_key(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client
        .get(url)
        .bearer_auth(DEMO_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn city_ids(body: &str) -> Vec<String> {
    let body: Value = serde_json::from_str(body).expect("cities JSON");
    body["cities"]
        .as_array()
        .expect("cities")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

/// The cities of the switcher, once the page has filled it.
async fn switcher_cities(browser: &Browser) -> Vec<String> {
    eventually(Duration::from_secs(20), "the city switcher", || async {
        let ids = browser
            .script(
                "const o = [...document.querySelectorAll('#view option')].map(o => o.value);\
                 return o.length ? o : null;",
                json!([]),
            )
            .await;
        let ids: Vec<String> = ids
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        assert_eq!(ids.first().map(String::as_str), Some("all"), "{ids:?}");
        Some(
            ids.into_iter()
                .skip(1)
                .filter(|v| !v.starts_with("region:"))
                .collect(),
        )
    })
    .await
}

/// Waits until the page shows `city` with its list and a live stream.
async fn wait_loaded(browser: &Browser, city: &str) {
    eventually(Duration::from_secs(30), "the map loaded", || async {
        let state = browser
            .script(
                "return [document.body.dataset.view || '', \
                 document.querySelectorAll('#entities button').length, \
                 document.getElementById('live').textContent];",
                json!([]),
            )
            .await;
        let loaded = state[0] == city
            && state[1].as_u64().unwrap_or(0) > 0
            && state[2].as_str().unwrap_or_default().starts_with("live");
        loaded.then_some(())
    })
    .await;
}

async fn entity_keys(browser: &Browser, kind: &str) -> Vec<String> {
    let keys = browser
        .script(
            "return [...document.querySelectorAll(`#entities button[data-kind=${arguments[0]}]`)]\
             .map(b => b.dataset.key);",
            json!([kind]),
        )
        .await;
    keys.as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect()
}

async fn selected_key(browser: &Browser) -> String {
    eventually(Duration::from_secs(10), "a selection", || async {
        let key = browser
            .script(
                "return document.getElementById('details').dataset.key || null;",
                json!([]),
            )
            .await;
        key.as_str().map(str::to_owned)
    })
    .await
}

async fn updated_of(browser: &Browser, key: &str) -> String {
    let value = browser
        .script(
            "const b = document.querySelector(`#entities button[data-key='${arguments[0]}']`);\
             return b ? b.dataset.updated : '';",
            json!([key]),
        )
        .await;
    value.as_str().unwrap_or_default().to_owned()
}

/// The panel's `data-field` → `data-value`.
async fn panel(browser: &Browser) -> HashMap<String, String> {
    let values = browser
        .script(
            "return Object.fromEntries([...document.querySelectorAll('#details [data-field]')]\
             .map(d => [d.dataset.field, d.dataset.value]));",
            json!([]),
        )
        .await;
    values
        .as_object()
        .expect("panel fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// Whether the page's text of a value is the API's JSON value: the same number, the same
/// string, or empty for null.
fn same(shown: &str, api: &Value) -> bool {
    match api {
        Value::Null => shown.is_empty(),
        Value::Number(n) => shown.parse::<f64>().ok() == n.as_f64(),
        Value::String(s) => shown == s,
        Value::Bool(b) => shown == if *b { "true" } else { "false" },
        other => panic!("the panel has no field for {other}"),
    }
}

/// Reads the panel and the API until both show the same update (`version` field) and then
/// asserts every field equal; a live update between the two reads only means reading again.
async fn same_as_api<F, Fut>(browser: &Browser, version: &str, fields: &[&str], mut api: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let shown = panel(browser).await;
        let expected = api().await;
        let at = shown.get(version).cloned().unwrap_or_default();
        if same(&at, &expected[version]) {
            for field in fields {
                let value = shown.get(*field).map(String::as_str);
                assert!(
                    value.is_some_and(|v| same(v, &expected[*field])),
                    "`{field}`: the page shows {value:?}, the API {}",
                    expected[*field]
                );
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page stays at {version} {at}, the API at {}",
            expected[version]
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
