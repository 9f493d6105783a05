//! The three SQL doors over one real history: the pipeline runs the simulated feed for
//! twenty minutes and the history sink commits its closed windows to Parquet, then the
//! same query goes through `POST /v1/sql`, Arrow Flight SQL (the `adbc-driver-flightsql`
//! client from PyPI) and `stadtpuls sql`, and all three return the same rows — which
//! also agree with the windows the pipeline staged (latest revision per window).
//!
//! The Python client lives in `~/.cache/stadtpuls-pytest/venv` (or
//! `$STADTPULS_PYTEST_VENV`), created here if missing (`scripts/test.sh` creates it up front).

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

#[path = "support/pyvenv.rs"]
mod pyvenv;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt64Type};
use serde_json::Value;
use stadtpuls_api::{AppState, SqlEngine};
use stadtpuls_config::{Config, DEMO_SQL_KEY, DEMO_SQL_ULM_KEY, HistoryConfig};
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::pipeline::{Pipeline, PipelineOptions, RawMessage};
use stadtpuls_ingest::simulate::SimulatedFeed;
use stadtpuls_ingest::sink::{Stream, Task, WindowSink};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::ClosedWindows;

/// 2026-11-25T07:45:00Z.
const START: i64 = 1_795_592_700_000;
const MINUTES: i64 = 20;

const QUERY: &str = "SELECT city, sensor_id, CAST(window_start AS VARCHAR) AS window_start, revision, vehicles, round(flow_veh_h, 6) AS flow_veh_h, traffic_state \
                     FROM traffic_1m_latest WHERE city IN ('ulm', 'ettlingen', 'karlsruhe') ORDER BY city, sensor_id, window_start";

/// (city, sensor, window start) → (revision, vehicles) of the latest emission.
type Latest = HashMap<(String, String, i64), (u32, u64)>;

fn record_latest(latest: &mut Latest, closed: &ClosedWindows) {
    let batch = &closed.batch;
    let cities = batch
        .column_by_name("city")
        .expect("city")
        .as_string::<i32>();
    let sensors = batch
        .column_by_name("sensor_id")
        .expect("sensor")
        .as_string::<i32>();
    let starts = batch
        .column_by_name("window_start")
        .expect("start")
        .as_primitive::<TimestampMillisecondType>();
    let vehicles = batch
        .column_by_name("vehicles")
        .expect("vehicles")
        .as_primitive::<UInt64Type>();
    for row in 0..batch.num_rows() {
        let key = (
            cities.value(row).to_owned(),
            sensors.value(row).to_owned(),
            starts.value(row),
        );
        let entry = latest
            .entry(key)
            .or_insert((closed.revision, vehicles.value(row)));
        if closed.revision >= entry.0 {
            *entry = (closed.revision, vehicles.value(row));
        }
    }
}

/// Runs the simulated feed through the real pipeline into the history sink under `dir`;
/// returns the latest `traffic_1m` windows it staged.
fn write_history(config: &Config, dir: &Path) -> Latest {
    let registries = config.load_registries().expect("registries");
    let mut pipeline = Pipeline::new(
        config,
        &registries,
        Arc::new(LiveState::new(0)),
        PipelineOptions {
            update_live: false,
            ..PipelineOptions::default()
        },
    );
    let mut sink = HistorySink::new(&HistoryConfig {
        dir: dir.to_path_buf(),
        ..config.history.clone()
    });
    let task = Task {
        topic: Arc::from("sim"),
        partition: 0,
    };
    let mut feed = SimulatedFeed::new(&registries, 11, START, 60).with_out_of_order_ratio(0.05);
    let mut sources: HashMap<String, u32> = HashMap::new();
    let mut offset = 0;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut latest = Latest::new();
    let stage = |sink: &mut HistorySink,
                 latest: &mut Latest,
                 out: &stadtpuls_ingest::pipeline::StepOutput| {
        for (stream, windows) in [
            (Stream::Traffic, &out.traffic),
            (Stream::TrafficLanes, &out.traffic_lanes),
            (Stream::Parking, &out.parking),
        ] {
            for closed in windows {
                sink.stage(&task, stream, closed).expect("stage");
                if stream == Stream::Traffic && closed.window_s == 60 {
                    record_latest(latest, closed);
                }
            }
        }
    };
    for minute in 1..=MINUTES {
        let to = START + minute * 60_000;
        let mut batch: Vec<RawMessage> = Vec::new();
        for message in feed.advance_to(to) {
            let next = sources.len() as u32;
            let source = *sources.entry(message.topic.clone()).or_insert_with(|| {
                pipeline.add_source(next, &message.topic, START);
                next
            });
            batch.push(RawMessage {
                source,
                topic: Arc::from(message.topic.as_str()),
                partition: 0,
                offset,
                key: None,
                payload: message.payload.into(),
                format: None,
            });
            offset += 1;
        }
        batch.sort_by_key(|m| m.source);
        let out = pipeline.process(&batch, to + 1_000).expect("process");
        stage(&mut sink, &mut latest, &out);
        runtime
            .block_on(sink.commit(&task, minute as u64))
            .expect("commit");
    }
    let out = pipeline.finish().expect("finish");
    stage(&mut sink, &mut latest, &out);
    runtime
        .block_on(sink.commit(&task, MINUTES as u64 + 1))
        .expect("commit");
    latest
}

const FLIGHT_CLIENT: &str = r#"
import json, sys
import adbc_driver_flightsql.dbapi as flight_sql
uri, auth, key, sql = sys.argv[1:5]
if auth == "bearer":
    kwargs = {"adbc.flight.sql.authorization_header": "Bearer " + key}
else:
    kwargs = {"username": "analyst", "password": key}
try:
    with flight_sql.connect(uri, db_kwargs=kwargs) as conn, conn.cursor() as cur:
        if sql == "@catalog":
            objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
            tables = sorted(t["table_name"] for c in objects for s in c["catalog_db_schemas"] for t in s["db_schema_tables"])
            info = conn.adbc_get_info()
            schema = conn.adbc_get_table_schema("traffic_1m", catalog_filter="stadtpuls", db_schema_filter="public")
            print(json.dumps({
                "catalogs": [c["catalog_name"] for c in objects],
                "tables": tables,
                "table_types": sorted(conn.adbc_get_table_types()),
                "vendor": info.get("vendor_name"),
                "traffic_1m": schema.names,
            }))
        else:
            cur.execute(sql)
            print(json.dumps(cur.fetch_arrow_table().to_pylist()))
except Exception as error:
    print(json.dumps({"error": str(error)}))
"#;

/// Runs `sql` through Flight SQL with the ADBC driver; rows, or `{"error": …}`.
fn flight_query(python: &Path, address: SocketAddr, auth: &str, key: &str, sql: &str) -> Value {
    let output = Command::new(python)
        .args([
            "-c",
            FLIGHT_CLIENT,
            &format!("grpc://{address}"),
            auth,
            key,
            sql,
        ])
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

fn cities_of(rows: &Value) -> Vec<String> {
    let mut cities: Vec<String> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["city"].as_str().map(str::to_owned))
        .collect();
    cities.sort();
    cities.dedup();
    cities
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_flight_sql_and_the_cli_return_the_same_rows() {
    let python = pyvenv::python_with(
        "pyarrow, adbc_driver_flightsql.dbapi",
        &[
            "pyarrow==16.1.0",
            "adbc-driver-manager==1.13.0",
            "adbc-driver-flightsql==1.13.0",
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let env = HashMap::from([
        (
            "STADTPULS_HISTORY__DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        (
            "STADTPULS_WINDOWS__OUT_OF_ORDERNESS".to_owned(),
            "0s".to_owned(),
        ),
    ]);
    let config = Config::demo(&env).expect("demo config");
    let (config, latest) = {
        let history = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let latest = write_history(&config, &history);
            (config, latest)
        })
        .await
        .expect("history writer")
    };
    assert!(
        !latest.is_empty(),
        "the run closed no 1-minute traffic windows"
    );

    let registries = config.load_registries().expect("registries");
    let engine = SqlEngine::new(&config, &registries, None)
        .expect("engine")
        .with_dedicated_runtime(2)
        .expect("runtime");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let http = free_port();
    let state = AppState::new(
        Arc::new(LiveState::new(0)),
        &registries,
        vec![60],
        900_000,
        Arc::new(|| true),
    )
    .with_sql(engine.clone());
    let edge = stadtpuls_api::Edge::default();
    let api = tokio::spawn(stadtpuls_api::serve(
        http,
        state,
        edge.clone(),
        stopped(stop_rx.clone()),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind flight");
    let flight = listener.local_addr().expect("flight address");
    let flight_server = tokio::spawn(stadtpuls_api::sql::flight::serve(
        listener,
        engine,
        edge,
        stopped(stop_rx),
    ));

    // HTTP
    let client = reqwest::Client::new();
    let mut http_rows = Value::Null;
    for _ in 0..50 {
        match client
            .post(format!("http://{http}/v1/sql"))
            .bearer_auth(DEMO_SQL_KEY)
            .json(&serde_json::json!({ "sql": QUERY }))
            .send()
            .await
        {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                let body: Value = response.json().await.expect("json");
                http_rows = body["rows"].clone();
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let rows = http_rows.as_array().expect("HTTP answered").clone();
    assert!(!rows.is_empty());
    assert_eq!(cities_of(&http_rows), ["ettlingen", "karlsruhe", "ulm"]);

    // Flight SQL, bearer token and basic-auth handshake
    let python_for_flight = python.clone();
    let flight_rows = tokio::task::spawn_blocking(move || {
        flight_query(&python_for_flight, flight, "bearer", DEMO_SQL_KEY, QUERY)
    })
    .await
    .expect("flight client");
    assert_eq!(flight_rows, http_rows, "Flight SQL and HTTP differ");
    let python_for_basic = python.clone();
    let basic_rows = tokio::task::spawn_blocking(move || {
        flight_query(&python_for_basic, flight, "basic", DEMO_SQL_ULM_KEY, QUERY)
    })
    .await
    .expect("flight client");
    assert_eq!(
        cities_of(&basic_rows),
        ["ettlingen", "ulm"],
        "the ulm key over Flight SQL"
    );
    let python_for_refusal = python.clone();
    let refused = tokio::task::spawn_blocking(move || {
        flight_query(
            &python_for_refusal,
            flight,
            "bearer",
            DEMO_SQL_KEY,
            "DROP TABLE cities",
        )
    })
    .await
    .expect("flight client");
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or_default()
            .contains("DDL"),
        "{refused}"
    );
    let python_for_unknown = python.clone();
    let unknown = tokio::task::spawn_blocking(move || {
        flight_query(&python_for_unknown, flight, "bearer", "guess", QUERY)
    })
    .await
    .expect("flight client");
    assert!(
        unknown["error"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains("unauth"),
        "{unknown}"
    );

    // Tools browse the catalog: DBeaver and JDBC list catalogs, schemas, tables, columns.
    let python_for_catalog = python.clone();
    let catalog = tokio::task::spawn_blocking(move || {
        flight_query(
            &python_for_catalog,
            flight,
            "bearer",
            DEMO_SQL_ULM_KEY,
            "@catalog",
        )
    })
    .await
    .expect("flight client");
    assert_eq!(
        catalog["catalogs"],
        serde_json::json!(["stadtpuls"]),
        "{catalog}"
    );
    let tables: Vec<&str> = catalog["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for table in [
        "cities",
        "live_parking",
        "parking_15m_latest",
        "traffic_1m",
        "traffic_1m_latest",
    ] {
        assert!(tables.contains(&table), "{table} not listed: {catalog}");
    }
    assert_eq!(catalog["table_types"], serde_json::json!(["TABLE", "VIEW"]));
    assert_eq!(catalog["vendor"], "Stadtpuls");
    let columns: Vec<&str> = catalog["traffic_1m"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(&columns[columns.len() - 2..], ["city", "date"]);

    // CLI
    let output = Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
        .args(["sql", "--format", "json", QUERY])
        .env("STADTPULS_HISTORY__DIR", dir.path())
        .output()
        .expect("stadtpuls sql");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cli_rows: Value = serde_json::from_slice(&output.stdout).expect("CLI json");
    assert_eq!(cli_rows, http_rows, "the CLI and HTTP differ");

    // And all of them agree with what the pipeline staged.
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for ((city, _, _), (_, vehicles)) in &latest {
        if ["ulm", "ettlingen", "karlsruhe"].contains(&city.as_str()) {
            *expected.entry(city.clone()).or_insert(0) += vehicles;
        }
    }
    let mut served: BTreeMap<String, u64> = BTreeMap::new();
    for row in &rows {
        let city = row["city"].as_str().expect("city").to_owned();
        *served.entry(city).or_insert(0) += row["vehicles"].as_u64().expect("vehicles");
    }
    assert_eq!(served, expected);
    let staged = latest
        .keys()
        .filter(|(city, ..)| ["ulm", "ettlingen", "karlsruhe"].contains(&city.as_str()))
        .count();
    assert_eq!(rows.len(), staged);

    let _ = stop_tx.send(true);
    api.await.expect("api task").expect("api");
    flight_server.await.expect("flight task").expect("flight");
}
