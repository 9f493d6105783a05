//! The regions of `stadtpuls demo` (issue #14, "a region of the nine demo cities answers
//! its parking and traffic views in the demo, and SQL can group by region"): the built-in
//! demo's `network` region sums exactly what its nine cities' own parking endpoints
//! report (the border P+R that Karlsruhe and Ettlingen both list counted once), its corridor aggregate is the vehicle-weighted harmonic mean of the corridor
//! sensors it lists, an anonymous caller gets the open data only (every city's parking, Ulm's
//! and Ettlingen's traffic), and SQL groups the
//! history by region.

mod common;

use std::time::Duration;

use common::demo::demo_ready;
use common::{eventually, get, sql_rows};
use serde_json::Value;
use stadtpuls_config::DEMO_SQL_KEY;

const NINE: [&str; 9] = [
    "karlsruhe",
    "mannheim",
    "freiburg",
    "ulm",
    "konstanz",
    "friedrichshafen",
    "ettlingen",
    "heidelberg",
    "pforzheim",
];

async fn get_json(client: &reqwest::Client, url: &str, key: Option<&str>) -> (u16, Value) {
    let (status, body) = match key {
        None => get(client, url).await,
        Some(key) => match client.get(url).bearer_auth(key).send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        },
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// (free, total, reporting, stale) of a `totals` object.
fn totals(value: &Value) -> [u64; 4] {
    ["free", "total", "facilities_reporting", "facilities_stale"]
        .map(|field| value[field].as_u64().unwrap_or(u64::MAX))
}

/// The border P+R Rüppurr Süd, listed by Karlsruhe and by Ettlingen under one
/// `external_id`: a region holding both counts Karlsruhe's listing only.
const REPEATED_LISTING: (&str, &str) = ("ettlingen", "ettlingen-p-04");

/// What `city`'s listing of the repeated facility adds to its own totals (the rule of the
/// totals: a stale or silent facility counts as stale, a fresh one its free (at most its
/// total), total and one reporting), if `city` holds it.
fn repeated_share(city: &str, body: &Value) -> [u64; 4] {
    let facility = body["facilities"].as_array().and_then(|all| {
        all.iter()
            .find(|f| city == REPEATED_LISTING.0 && f["facility_id"] == REPEATED_LISTING.1)
    });
    let Some(facility) = facility else {
        return [0; 4];
    };
    let fresh = facility["stale"] == false && facility["free"].is_u64();
    match (fresh, facility["free"].as_u64(), facility["total"].as_u64()) {
        (true, Some(free), Some(total)) => [free.min(total), total, 1, 0],
        (true, ..) => [0, 0, 1, 0],
        (false, ..) => [0, 0, 0, 1],
    }
}

/// The sum of `cities`' own parking totals, read twice around `region`'s: `Some` only when
/// nothing changed in between (the simulated feed updates levels all the time). The
/// repeated listing of the border P+R ([`REPEATED_LISTING`]) is left out of the sum when
/// Karlsruhe, which lists it first, is among `cities`.
async fn consistent(
    client: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    region: &str,
    cities: &[&str],
) -> Option<(Value, [u64; 4])> {
    let mut sums = Vec::new();
    let mut answer = Value::Null;
    for round in 0..2 {
        if round == 1 {
            let (status, body) =
                get_json(client, &format!("{base}/v1/regions/{region}/parking"), key).await;
            assert_eq!(status, 200, "{body}");
            answer = body;
        }
        let mut sum = [0u64; 4];
        for city in cities {
            let (status, body) =
                get_json(client, &format!("{base}/v1/cities/{city}/parking"), key).await;
            assert_eq!(status, 200, "{city}: {body}");
            let repeated = if cities.contains(&"karlsruhe") {
                repeated_share(city, &body)
            } else {
                [0; 4]
            };
            for ((s, v), r) in sum.iter_mut().zip(totals(&body["totals"])).zip(repeated) {
                *s += v - r;
            }
        }
        sums.push(sum);
    }
    (sums[0] == sums[1] && totals(&answer["totals"]) == sums[0]).then(|| (answer, sums[0]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_region_adds_up_its_cities_and_groups_in_sql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, client) = demo_ready(dir.path(), "2m", &[]).await;
    let base = app.base.clone();

    // Every city, with the demo's `*` key: the region is the sum of its cities, nonzero.
    let (region, sum) = eventually(Duration::from_secs(60), "a consistent read", || {
        consistent(&client, &base, Some(DEMO_SQL_KEY), "network", &NINE)
    })
    .await;
    assert!(sum[1] > 0, "the demo's facilities have capacity: {region}");
    assert_eq!(
        region["cities"].as_array().map(Vec::len),
        Some(9),
        "{region}"
    );
    let kinds: u64 = ["car_park", "park_and_ride", "on_street"]
        .iter()
        .map(|kind| region["by_kind"][kind]["total"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(kinds, sum[1], "the kinds add up: {region}");
    assert!(
        region["by_kind"]["park_and_ride"]["total"].as_u64() > Some(0),
        "the demo's P+R sites: {region}"
    );

    // Anonymous: parking is open data in every demo city, so all nine count; traffic is
    // open only in Ulm and Ettlingen, so only their corridor sensors do.
    let (anonymous, _) = eventually(Duration::from_secs(60), "a consistent open read", || {
        consistent(&client, &base, None, "network", &NINE)
    })
    .await;
    assert_eq!(
        anonymous["cities"].as_array().map(Vec::len),
        Some(9),
        "{anonymous}"
    );
    let (status, open_traffic) = get_json(
        &client,
        &format!("{base}/v1/regions/network/traffic?window=10s"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{open_traffic}");
    assert_eq!(
        open_traffic["cities"],
        serde_json::json!(["ulm", "ettlingen"])
    );
    assert!(
        !open_traffic.to_string().contains("karlsruhe"),
        "{open_traffic}"
    );

    // Traffic on the corridors: the aggregate is Σn / Σ(n/v) over the sensors listed
    // with the newest window.
    let traffic = eventually(Duration::from_secs(60), "corridor traffic", || async {
        let (status, body) = get_json(
            &client,
            &format!("{base}/v1/regions/network/traffic?window=10s"),
            Some(DEMO_SQL_KEY),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        (body["aggregate"]["flow_veh_h"].as_f64() > Some(0.0)
            && body["aggregate"]["speed_space_mean_kmh"].as_f64() > Some(0.0))
        .then_some(body)
    })
    .await;
    let end = &traffic["aggregate"]["window_end"];
    let (mut n, mut inverse) = (0.0, 0.0);
    for sensor in traffic["sensors"].as_array().expect("sensors") {
        let latest = &sensor["latest"];
        if &latest["window_end"] != end {
            continue;
        }
        if let (Some(vehicles), Some(speed)) = (
            latest["vehicles"].as_f64(),
            latest["speed_space_mean_kmh"].as_f64(),
        ) && vehicles > 0.0
        {
            n += vehicles;
            inverse += vehicles / speed;
        }
    }
    let speed = traffic["aggregate"]["speed_space_mean_kmh"]
        .as_f64()
        .expect("speed");
    assert!(
        (speed - n / inverse).abs() < 0.1,
        "{speed} vs {}: {traffic}",
        n / inverse
    );

    // SQL groups the history by region.
    let rows = eventually(Duration::from_secs(90), "history by region", || async {
        let rows = sql_rows(
            &client,
            &base,
            DEMO_SQL_KEY,
            "SELECT region, count(DISTINCT city) AS cities, sum(vehicles) AS vehicles \
             FROM traffic_1m_latest JOIN regions USING (city) GROUP BY region ORDER BY region",
        )
        .await?;
        // Once every city's first 1-minute windows are in the history.
        let complete = rows.len() == 2
            && rows[0]["cities"] == 3
            && rows[1]["cities"] == 9
            && rows.iter().all(|r| r["vehicles"].as_f64() > Some(0.0));
        complete.then_some(rows)
    })
    .await;
    assert_eq!(rows[0]["region"], "karlsruhe-area", "{rows:?}");
    assert_eq!(rows[0]["cities"], 3, "{rows:?}");
    assert_eq!(rows[1]["region"], "network", "{rows:?}");
    assert_eq!(rows[1]["cities"], 9, "{rows:?}");
    assert!(app.terminate().success());
}
