//! The API and the Parquet history tell the same story: `stadtpuls demo` runs until its
//! history has committed closed windows, the API's traffic (city latest and one sensor's
//! history) and parking windows are read, the demo stops on SIGINT (history commits on
//! shutdown), and DuckDB — as an analyst would, latest revision per window — must find the
//! same flow, vehicles, speeds, occupancy, MARZ state and parking occupancy for the same
//! (city, entity, window). A wrong column mapping, a lost or doubled commit, or a revision
//! that the API and the history disagree on fails it.
//!
//! DuckDB comes from the venv of `ingest/tests/history_pipeline.rs`
//! (`~/.cache/stadtpuls-pytest/venv` or `$STADTPULS_PYTEST_VENV`), created on first use.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::history::read_history;
use common::{eventually, free_port, get};

const CITY: &str = "ulm";

/// `stadtpuls demo` with its history in a temp dir, killed on drop (printing its log on
/// failure).
struct Demo {
    child: Child,
    log: PathBuf,
}

impl Demo {
    fn start(history: &Path, port: u16, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
            // Five minutes of backfill: closed 1-minute windows at once.
            .args(["demo", "--backfill", "5m", "--bad-ratio", "0"])
            .env("STADTPULS_HISTORY__DIR", history)
            .env("STADTPULS_API__BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start stadtpuls demo");
        Self {
            child,
            log: log.to_path_buf(),
        }
    }

    /// Sends SIGINT and waits for a clean exit.
    fn interrupt(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid}");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "demo exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "demo did not exit within 15 s of SIGINT"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- stadtpuls log ----\n{log}---- end of log ----");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_ms(item: &Value) -> i64 {
    let text = item["window_start"].as_str().expect("window_start");
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("window_start {text}: {e}"))
        .timestamp_millis()
}

/// `history` rounded as the API rounds (`decimals`), compared with what the API served.
fn assert_same_number(what: &str, api: &Value, history: &Value, decimals: i32) {
    match (api.as_f64(), history.as_f64()) {
        (None, None) => {}
        (Some(a), Some(h)) => {
            let scale = 10f64.powi(decimals);
            let rounded = (h * scale).round() / scale;
            assert!(
                (a - rounded).abs() < 1e-9,
                "{what}: API {a}, history {h} (rounded {rounded})"
            );
        }
        _ => panic!("{what}: API {api}, history {history}"),
    }
}

/// The traffic window the API served equals the history's latest revision of it.
fn assert_traffic(what: &str, item: &Value, rows: &BTreeMap<(String, i64), Value>, sensor: &str) {
    let start = start_ms(item);
    let row = rows
        .get(&(sensor.to_owned(), start))
        .unwrap_or_else(|| panic!("{what}: {sensor} window {start} not in the history"));
    for exact in [
        "vehicles",
        "observations",
        "lanes_reporting",
        "traffic_state",
        "congested",
    ] {
        assert_eq!(item[exact], row[exact], "{what}: {sensor} {start} {exact}");
    }
    for rounded in [
        "flow_veh_h",
        "speed_time_mean_kmh",
        "speed_space_mean_kmh",
        "density_veh_km",
        "occupancy_pct",
        "heavy_share_pct",
        "completeness_pct",
        "speed_ratio",
    ] {
        let what = format!("{what}: {sensor} {start} {rounded}");
        assert_same_number(&what, &item[rounded], &row[rounded], 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_history_holds_what_the_api_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let history = dir.path().join("history");
    let port = free_port();
    let mut demo = Demo::start(&history, port, &dir.path().join("demo.log"));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    // Closed windows in the API and at least one history commit (every 10 s) holding them.
    let city_url = format!("{base}/v1/cities/{CITY}/traffic?window=1m");
    let committed = history.join(format!("traffic_1m/city={CITY}"));
    eventually(Duration::from_secs(25), "a history commit", || {
        let (client, city_url, committed) = (&client, &city_url, &committed);
        async move {
            let (status, body) = get(client, city_url).await;
            let json: Value = serde_json::from_str(&body).ok()?;
            let closed = status == 200 && json["sensors"].as_array().is_some_and(|s| !s.is_empty());
            let files = walk_parquet(committed);
            (closed && files > 0).then_some(())
        }
    })
    .await;

    let (_, body) = get(&client, &city_url).await;
    let city_latest: Value = serde_json::from_str(&body).expect("city traffic JSON");
    let sensors = city_latest["sensors"].as_array().expect("sensors").clone();
    let sensor = sensors[0]["sensor_id"]
        .as_str()
        .expect("sensor id")
        .to_owned();
    let (status, body) = get(
        &client,
        &format!("{base}/v1/cities/{CITY}/traffic/{sensor}?window=1m"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sensor_history: Value = serde_json::from_str(&body).expect("sensor JSON");
    let windows = sensor_history["windows"]
        .as_array()
        .expect("windows")
        .clone();
    let (status, body) = get(
        &client,
        &format!("{base}/v1/cities/{CITY}/parking?window=1m"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let parking: Value = serde_json::from_str(&body).expect("parking JSON");

    demo.interrupt();
    let tables = read_history(&history, CITY);
    let traffic = &tables["traffic_1m"];
    let parking_rows = &tables["parking_1m"];

    // Five minutes of backfill: several closed windows of the sensor, all in the history.
    assert!(
        windows.len() >= 3,
        "only {} windows of {sensor}",
        windows.len()
    );
    for item in &windows {
        assert_traffic("sensor history", item, traffic, &sensor);
    }
    for item in &sensors {
        let id = item["sensor_id"].as_str().expect("sensor id");
        assert_traffic("city latest", item, traffic, id);
    }
    let served_states = windows
        .iter()
        .chain(&sensors)
        .filter(|w| w["traffic_state"].is_string())
        .count();
    assert!(served_states > 0, "no MARZ state served, nothing compared");

    let mut facilities = 0;
    for facility in parking["facilities"].as_array().expect("facilities") {
        let Some(last) = facility.get("last_window").filter(|w| w.is_object()) else {
            continue;
        };
        let id = facility["facility_id"].as_str().expect("facility id");
        let start = start_ms(last);
        let row = parking_rows
            .get(&(id.to_owned(), start))
            .unwrap_or_else(|| panic!("parking {id} window {start} not in the history"));
        for exact in ["entries", "exits", "sessions_ended", "free_min"] {
            assert_eq!(last[exact], row[exact], "parking {id} {start} {exact}");
        }
        let what = |c: &str| format!("parking {id} {start} {c}");
        assert_same_number(
            &what("occupancy_mean_pct"),
            &last["occupancy_mean_pct"],
            &row["occupancy_mean_pct"],
            1,
        );
        assert_same_number(&what("turnover"), &last["turnover"], &row["turnover"], 2);
        assert_same_number(
            &what("mean_dwell_s"),
            &last["mean_dwell_s"],
            &row["mean_dwell_s"],
            0,
        );
        facilities += 1;
    }
    assert!(facilities > 0, "no parking window served, nothing compared");
}

/// Parquet files below `dir` (0 when it does not exist yet).
fn walk_parquet(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| e.path())
        .map(|p| {
            if p.is_dir() {
                walk_parquet(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}
