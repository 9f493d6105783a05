//! History in live units over REST, end to end: known windows go through the real
//! pipeline into the Parquet history (the history sink, as `stadtpuls run` writes it),
//! and `GET /v1/cities/{city}/traffic/{sensor}/history` and
//! `GET /v1/cities/{city}/parking/{facility}/history` answer from it over a real socket.
//!
//! The data, 2026-10-24 … 2026-10-26 (Europe/Berlin leaves summer time on 2026-10-25 at
//! 01:00 UTC, so that local day has 25 hours):
//! - a traffic sensor of ulm and one of karlsruhe: 1-minute windows at 10:00, 10:01 and
//!   10:02 UTC with 10, 20 and 30 vehicles at 50, 40 and 20 km/h; then one window every
//!   10 minutes from 11:00 UTC on 2026-10-24 to 00:50 UTC on 2026-10-26 with 6 vehicles
//!   at 60 km/h (228 windows);
//! - a car park of ulm (400 spaces): 100, 80 and 50 free at 10:00:30, 10:01:30 and
//!   10:02:30 with 5, 3 and 2 entries, then 200 free every 10 minutes like the traffic.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[path = "history_rest/data.rs"]
mod data;

use serde_json::Value;
use stadtpuls_api::access::Policy;
use stadtpuls_api::history::{self, Agg, Bucket, HistoryKind, HistoryRequest};
use stadtpuls_api::{AppState, SqlEngine};
use stadtpuls_config::{Config, DEMO_SQL_KEY, DEMO_SQL_ULM_KEY};
use stadtpuls_processing::live::LiveState;

use data::{HOUR, Ids, OCT_24, write_history};

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

struct Server {
    addr: SocketAddr,
    engine: SqlEngine,
    ids: Ids,
    client: reqwest::Client,
}

impl Server {
    /// `GET path` with an optional key: status and JSON body.
    async fn get(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let mut request = self.client.get(format!("http://{}{path}", self.addr));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    async fn traffic(&self, query: &str) -> Value {
        let path = format!(
            "/v1/cities/ulm/traffic/{}/history?{query}",
            self.ids.ulm_sensor
        );
        let (status, body) = self.get(&path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

async fn start(dir: &Path) -> Server {
    let mut config = Config::demo(&Default::default()).expect("demo config");
    config.history.dir = dir.to_path_buf();
    // The test's hour-long gaps are not clock faults.
    config.windows.max_clock_jump = Duration::from_secs(86_400);
    let registries = config.load_registries().expect("registries");
    let ids = data::ids(&registries);
    write_history(&config, &registries, &ids).await;
    let engine = SqlEngine::new(&config, &registries, None).expect("engine");
    let mut state = AppState::new(
        Arc::new(LiveState::new(0)),
        &registries,
        vec![60],
        900_000,
        Arc::new(|| true),
    )
    .with_sql(engine.clone())
    .with_policy(Policy::from_config(&config));
    // "now" for the defaults: 2026-10-26T12:00:00Z.
    state.now_ms = Arc::new(|| OCT_24 + 60 * HOUR);
    let addr = free_port();
    tokio::spawn(stadtpuls_api::serve(
        addr,
        state,
        stadtpuls_api::Edge::default(),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        addr,
        engine,
        ids,
        client,
    }
}

const RANGE: &str = "from=2026-10-24T00:00:00Z&to=2026-10-27T00:00:00Z";

fn number(value: &Value, field: &str) -> f64 {
    value[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} in {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_over_rest_from_the_pipelines_parquet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path()).await;
    hand_checked_hour(&server).await;
    parking_hour(&server).await;
    closed_is_not_full(&server).await;
    paging_walks_every_bucket_once(&server).await;
    day_buckets_follow_the_zone(&server).await;
    refusals(&server).await;
    ids_are_bound_not_written_into_sql(&server).await;
    served_fields_are_documented(&server).await;
}

/// Every field of a served bucket and answer is in the OpenAPI description.
async fn served_fields_are_documented(server: &Server) {
    let (_, spec) = server.get("/openapi.json", None).await;
    for (kind, entity, schema) in [
        ("traffic", server.ids.ulm_sensor.as_str(), "TrafficBucket"),
        ("parking", server.ids.ulm_facility.as_str(), "ParkingBucket"),
    ] {
        let route = format!(
            "/v1/cities/{{city}}/{kind}/{{{}}}/history",
            if kind == "traffic" {
                "sensor"
            } else {
                "facility"
            }
        );
        let (_, body) = server
            .get(
                &format!("/v1/cities/ulm/{kind}/{entity}/history?{RANGE}"),
                None,
            )
            .await;
        let answer = &spec["paths"][route.as_str()]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["properties"];
        for field in body.as_object().expect("object").keys() {
            assert!(answer[field].is_object(), "{route} lacks `{field}`");
        }
        let properties = &spec["components"]["schemas"][schema]["properties"];
        for field in body["buckets"][0].as_object().expect("a bucket").keys() {
            assert!(properties[field].is_object(), "{schema} lacks `{field}`");
        }
        for field in body["units"].as_object().expect("units").keys() {
            assert!(
                properties[field].is_object(),
                "{schema} lacks unit field `{field}`"
            );
        }
    }
}

/// The 10:00 UTC hour: 3 windows, checked by hand in each aggregation.
async fn hand_checked_hour(server: &Server) {
    let from = "from=2026-10-24T10:00:00Z&to=2026-10-24T11:00:00Z&bucket=1h";
    let one = |body: Value| -> Value {
        let buckets = body["buckets"].as_array().expect("buckets").clone();
        assert_eq!(buckets.len(), 1, "{body}");
        assert_eq!(buckets[0]["start"], "2026-10-24T10:00:00.000Z");
        assert_eq!(buckets[0]["end"], "2026-10-24T11:00:00.000Z");
        assert_eq!(buckets[0]["windows"], 3);
        buckets[0].clone()
    };
    let avg = one(server.traffic(&format!("{from}&agg=avg")).await);
    assert_eq!(number(&avg, "vehicles"), 20.0);
    // 10, 20 and 30 vehicles in one minute each: 600, 1200, 1800 veh/h.
    assert_eq!(number(&avg, "flow_veh_h"), 1200.0);
    // The vehicle-weighted harmonic mean: 60 / (10/50 + 20/40 + 30/20) = 27.27 km/h —
    // not the mean of the three speeds (36.67).
    assert_eq!(number(&avg, "speed_space_mean_kmh"), 27.27);
    // (10·50 + 20·40 + 30·20) / 60 = 31.67 km/h.
    assert_eq!(number(&avg, "speed_time_mean_kmh"), 31.67);
    assert_eq!(number(&avg, "occupancy_pct"), 5.0);
    let min = one(server.traffic(&format!("{from}&agg=min")).await);
    assert_eq!(number(&min, "vehicles"), 10.0);
    assert_eq!(number(&min, "flow_veh_h"), 600.0);
    assert_eq!(number(&min, "speed_space_mean_kmh"), 20.0);
    let max = one(server.traffic(&format!("{from}&agg=max")).await);
    assert_eq!(number(&max, "flow_veh_h"), 1800.0);
    assert_eq!(number(&max, "speed_space_mean_kmh"), 50.0);
    let last = one(server.traffic(&format!("{from}&agg=last")).await);
    assert_eq!(number(&last, "vehicles"), 30.0);
    assert_eq!(number(&last, "speed_space_mean_kmh"), 20.0);
    let sum = one(server.traffic(&format!("{from}&agg=sum")).await);
    assert_eq!(number(&sum, "vehicles"), 60.0);
    // A sum of rates or speeds means nothing: null.
    assert!(sum["flow_veh_h"].is_null() && sum["speed_space_mean_kmh"].is_null());
}

/// The car park's 10:00 hour: 100, 80, 50 free of 400.
async fn parking_hour(server: &Server) {
    let path = |agg: &str| {
        format!(
            "/v1/cities/ulm/parking/{}/history?from=2026-10-24T10:00:00Z&to=2026-10-24T11:00:00Z&bucket=1h&agg={agg}",
            server.ids.ulm_facility
        )
    };
    let bucket = |body: &Value| body["buckets"][0].clone();
    let (status, body) = server.get(&path("avg"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["facility_id"], server.ids.ulm_facility.as_str());
    let avg = bucket(&body);
    assert_eq!(avg["windows"], 3, "{body}");
    assert_eq!(number(&avg, "free"), 76.67);
    // (25 + 20 + 12.5) / 3
    assert_eq!(number(&avg, "free_pct"), 19.17);
    assert_eq!(number(&avg, "occupancy_pct"), 80.83);
    assert_eq!(number(&avg, "total"), 400.0);
    let (_, body) = server.get(&path("min"), None).await;
    assert_eq!(number(&bucket(&body), "free"), 50.0);
    assert_eq!(number(&bucket(&body), "free_pct"), 12.5);
    let (_, body) = server.get(&path("max"), None).await;
    assert_eq!(number(&bucket(&body), "free"), 100.0);
    assert_eq!(number(&bucket(&body), "occupancy_pct"), 87.5);
    let (_, body) = server.get(&path("sum"), None).await;
    assert_eq!(number(&bucket(&body), "entries"), 10.0);
    assert!(bucket(&body)["free"].is_null());
    let (_, body) = server.get(&path("last"), None).await;
    assert_eq!(number(&bucket(&body), "free"), 50.0);
}

/// 11:00–12:00: 200 of 400 free every 10 minutes, closed from 11:05:30 to 11:10:30. The
/// closed minute has no occupancy: the hour's mean and highest are 50 %, not 100 %; its
/// fewest free is the closed minute's 0 (nobody could park).
async fn closed_is_not_full(server: &Server) {
    let path = |agg: &str| {
        format!(
            "/v1/cities/ulm/parking/{}/history?from=2026-10-24T11:00:00Z&to=2026-10-24T12:00:00Z&bucket=1h&agg={agg}",
            server.ids.ulm_facility
        )
    };
    let bucket = |body: &Value| body["buckets"][0].clone();
    let (status, body) = server.get(&path("max"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(bucket(&body)["windows"], 7, "{body}");
    assert_eq!(number(&bucket(&body), "occupancy_pct"), 50.0, "{body}");
    let (_, body) = server.get(&path("avg"), None).await;
    assert_eq!(number(&bucket(&body), "occupancy_pct"), 50.0, "{body}");
    let (status, body) = server.get(&path("min"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(bucket(&body)["free"], 0.0, "{body}");
}

/// `limit=5` and the `next` links: the same 39 hourly buckets as one page of all, each
/// once, in order.
async fn paging_walks_every_bucket_once(server: &Server) {
    let all = server
        .traffic(&format!("{RANGE}&bucket=1h&limit=1000"))
        .await;
    assert!(all["next"].is_null());
    let expected = all["buckets"].as_array().expect("buckets").clone();
    // 10:00 … 23:00 on the 24th, 24 on the 25th, 00:00 on the 26th.
    assert_eq!(expected.len(), 39);
    let mut walked: Vec<Value> = Vec::new();
    let mut path = format!(
        "/v1/cities/ulm/traffic/{}/history?{RANGE}&bucket=1h&limit=5",
        server.ids.ulm_sensor
    );
    let mut pages = 0;
    loop {
        let (status, body) = server.get(&path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        let page = body["buckets"].as_array().expect("buckets");
        assert!(page.len() <= 5);
        walked.extend(page.iter().cloned());
        pages += 1;
        match body["next"].as_str() {
            Some(next) => path = next.to_owned(),
            None => break,
        }
        assert!(pages < 20, "paging does not end");
    }
    assert_eq!(pages, 8);
    assert_eq!(walked, expected);
}

/// Day buckets start at local midnight: 25 hours for the Berlin day of the change.
async fn day_buckets_follow_the_zone(server: &Server) {
    let days = |body: &Value| -> Vec<(String, String, i64, f64)> {
        body["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| {
                (
                    b["start"].as_str().expect("start").to_owned(),
                    b["end"].as_str().expect("end").to_owned(),
                    b["windows"].as_i64().expect("windows"),
                    number(b, "vehicles"),
                )
            })
            .collect()
    };
    // The city's zone (Europe/Berlin) by default.
    let berlin = server.traffic(&format!("{RANGE}&bucket=1d&agg=sum")).await;
    assert_eq!(berlin["tz"], "Europe/Berlin");
    assert_eq!(
        days(&berlin),
        [
            // 3 windows (60 vehicles) + 11:00 … 21:50 UTC: 66 × 6
            (
                "2026-10-23T22:00:00.000Z".into(),
                "2026-10-24T22:00:00.000Z".into(),
                69,
                456.0
            ),
            // 25 hours × 6 windows × 6 vehicles
            (
                "2026-10-24T22:00:00.000Z".into(),
                "2026-10-25T23:00:00.000Z".into(),
                150,
                900.0
            ),
            (
                "2026-10-25T23:00:00.000Z".into(),
                "2026-10-26T23:00:00.000Z".into(),
                12,
                72.0
            ),
        ]
    );
    let utc = server
        .traffic(&format!("{RANGE}&bucket=1d&agg=sum&tz=UTC"))
        .await;
    assert_eq!(
        days(&utc),
        [
            (
                "2026-10-24T00:00:00.000Z".into(),
                "2026-10-25T00:00:00.000Z".into(),
                81,
                528.0
            ),
            (
                "2026-10-25T00:00:00.000Z".into(),
                "2026-10-26T00:00:00.000Z".into(),
                144,
                864.0
            ),
            (
                "2026-10-26T00:00:00.000Z".into(),
                "2026-10-27T00:00:00.000Z".into(),
                6,
                36.0
            ),
        ]
    );
    // Defaults: the 24 hours before "now" (12:00 UTC on the 26th) in 1h buckets: only
    // 00:00 UTC has windows.
    let recent = server.traffic("").await;
    assert_eq!(recent["bucket"], "1h");
    assert_eq!(recent["agg"], "avg");
    assert_eq!(recent["from"], "2026-10-25T12:00:00.000Z");
    assert_eq!(recent["buckets"].as_array().map(Vec::len), Some(13));
}

async fn refusals(server: &Server) {
    let sensor = &server.ids.ulm_sensor;
    for (query, parameter) in [
        ("bucket=2h", "`bucket`"),
        ("agg=median", "`agg`"),
        ("tz=Mars/Olympus", "`tz`"),
        ("limit=0", "`limit`"),
        ("limit=lots", "`limit`"),
        ("from=yesterday", "`from`"),
        ("to=2026-13-01T00:00:00Z", "`to`"),
        (
            "from=2026-10-25T00:00:00Z&to=2026-10-24T00:00:00Z",
            "`from`",
        ),
        (
            "from=2024-01-01T00:00:00Z&to=2026-10-24T00:00:00Z",
            "`from`",
        ),
    ] {
        let path = format!("/v1/cities/ulm/traffic/{sensor}/history?{query}");
        let (status, body) = server.get(&path, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        let reason = body["error"].as_str().expect("a reason");
        assert!(reason.contains(parameter), "{path}: {reason}");
    }
    for path in [
        "/v1/cities/ulm/traffic/no-such-sensor/history".to_owned(),
        "/v1/cities/ulm/parking/no-such-facility/history".to_owned(),
        format!("/v1/cities/atlantis/traffic/{sensor}/history"),
        // A facility id is not a traffic sensor.
        format!("/v1/cities/ulm/traffic/{}/history", server.ids.ulm_facility),
    ] {
        let (status, body) = server.get(&path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // karlsruhe is not open: 404 without a key, as on its other routes; its key sees it.
    let karlsruhe = format!(
        "/v1/cities/karlsruhe/traffic/{}/history?{RANGE}",
        server.ids.karlsruhe_sensor
    );
    let (status, _) = server.get(&karlsruhe, None).await;
    assert_eq!(status, 404);
    let (status, live) = server
        .get(
            &format!(
                "/v1/cities/karlsruhe/traffic/{}",
                server.ids.karlsruhe_sensor
            ),
            None,
        )
        .await;
    assert_eq!(status, 404, "{live}");
    let (status, body) = server.get(&karlsruhe, Some(DEMO_SQL_KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["buckets"].as_array().map(Vec::len), Some(39));
}

/// An id full of SQL is a value, never SQL: through HTTP it is an unknown sensor (404);
/// handed to the query function itself it matches no row — and the same function run
/// for ulm's key finds nothing of karlsruhe's sensor, whose rows the admin key sees.
async fn ids_are_bound_not_written_into_sql(server: &Server) {
    let (status, body) = server
        .get("/v1/cities/ulm/traffic/x'%20OR%20'1'%3D'1/history", None)
        .await;
    assert_eq!(status, 404, "{body}");
    let request = |city: &str, entity: &str| HistoryRequest {
        kind: HistoryKind::Traffic,
        city: city.to_owned(),
        entity: entity.to_owned(),
        from_ms: OCT_24,
        to_ms: OCT_24 + 3 * 24 * HOUR,
        bucket: Bucket::Day,
        agg: Agg::Sum,
        tz: "UTC".parse().expect("zone"),
        limit: 10,
    };
    let admin = server.engine.authenticate(DEMO_SQL_KEY).expect("admin");
    let ulm_key = server.engine.authenticate(DEMO_SQL_ULM_KEY).expect("ulm");
    let buckets = |page: history::HistoryPage| page.buckets.len();
    for injected in [
        "x' OR '1'='1",
        "x' OR sensor_id <> '",
        "'; DROP TABLE traffic_1m; --",
    ] {
        let page = history::query(&server.engine, &admin, &request("ulm", injected))
            .await
            .expect("an id is a value");
        assert_eq!(buckets(page), 0, "{injected}");
    }
    let real = request("karlsruhe", &server.ids.karlsruhe_sensor);
    let seen = history::query(&server.engine, &admin, &real)
        .await
        .expect("admin");
    assert_eq!(buckets(seen), 3);
    let hidden = history::query(&server.engine, &ulm_key, &real)
        .await
        .expect("ulm key");
    assert_eq!(buckets(hidden), 0);
}
