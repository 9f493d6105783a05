//! The access matrix through Arrow Flight SQL (the `adbc-driver-flightsql` client from
//! PyPI): the same five cities and keys as `api/tests/access_matrix.rs`, and for each key
//! the cities of a parking table, a mixed-kind table, the city list and the regions'
//! member cities — the same policy as the REST routes, through the other network door. An
//! unknown key and no key are refused (Flight SQL always needs a key).
//!
//! The Python client lives in `~/.cache/stadtpuls-pytest/venv` (or
//! `$STADTPULS_PYTEST_VENV`), created here if missing.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

#[path = "../api/tests/support/access_world.rs"]
mod access_world;
#[path = "support/pyvenv.rs"]
mod pyvenv;

use serde_json::Value;
use stadtpuls_api::Edge;
use stadtpuls_api::sql::SqlEngine;
use stadtpuls_config::Config;
use stadtpuls_processing::live::LiveState;

use access_world::{CITIES, world_toml};

/// Cities, as a list written out by hand.
type Cities = &'static [&'static str];

/// (key, cities of `facilities` (parking), of `sensors` (both kinds), of `cities` (any)).
const MATRIX: [(&str, Cities, Cities, Cities); 4] = [
    (
        "key-ulm",
        &["ettlingen", "neu-ulm", "pforzheim", "ulm"],
        &["ettlingen", "neu-ulm", "ulm"],
        &["ettlingen", "neu-ulm", "pforzheim", "ulm"],
    ),
    (
        "key-karlsruhe",
        &["ettlingen", "karlsruhe", "pforzheim"],
        &["ettlingen", "karlsruhe"],
        &["ettlingen", "karlsruhe", "pforzheim"],
    ),
    (
        "key-region",
        &["ettlingen", "karlsruhe", "neu-ulm", "pforzheim", "ulm"],
        &["ettlingen", "karlsruhe", "neu-ulm", "ulm"],
        &["ettlingen", "karlsruhe", "neu-ulm", "pforzheim", "ulm"],
    ),
    ("key-all", &CITIES, &CITIES, &CITIES),
];

const CLIENT: &str = r#"
import json, sys
import adbc_driver_flightsql.dbapi as flight_sql
uri, key, sql = sys.argv[1:4]
kwargs = {"adbc.flight.sql.authorization_header": "Bearer " + key} if key else {}
try:
    with flight_sql.connect(uri, db_kwargs=kwargs) as conn, conn.cursor() as cur:
        cur.execute(sql)
        print(json.dumps(cur.fetch_arrow_table().to_pylist()))
except Exception as error:
    print(json.dumps({"error": str(error)}))
"#;

fn config(dir: &Path) -> Config {
    let mut toml = world_toml(dir);
    // One region of every city: its `regions` rows are the cities a key may know of.
    toml.push_str(&format!(
        "\n[[regions]]\nid = \"all\"\nname = \"All\"\ncities = [{}]\n",
        CITIES.map(|c| format!("\"{c}\"")).join(", ")
    ));
    let env = [(
        "STADTPULS_HISTORY__DIR".to_owned(),
        dir.join("history").display().to_string(),
    )]
    .into();
    Config::from_toml(&toml, &dir.join("stadtpuls.toml"), &env).expect("config")
}

fn query(python: &Path, address: SocketAddr, key: &str, sql: &str) -> Value {
    let output = Command::new(python)
        .args(["-c", CLIENT, &format!("grpc://{address}"), key, sql])
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

fn cities_of(rows: &Value) -> BTreeSet<String> {
    rows.as_array()
        .unwrap_or_else(|| panic!("rows, got {rows}"))
        .iter()
        .filter_map(|row| row["city"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_shows_each_key_what_the_policy_shares() {
    let python = pyvenv::python_with(
        "pyarrow, adbc_driver_flightsql.dbapi",
        &[
            "pyarrow==16.1.0",
            "adbc-driver-manager==1.13.0",
            "adbc-driver-flightsql==1.13.0",
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let registries = config.load_registries().expect("registries");
    let live = Arc::new(LiveState::new(3_600_000));
    let engine = SqlEngine::new(&config, &registries, Some(live)).expect("engine");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind flight");
    let flight = listener.local_addr().expect("flight address");
    tokio::spawn(stadtpuls_api::sql::flight::serve(
        listener,
        engine,
        Edge::default(),
        std::future::pending(),
    ));

    let mut failures = Vec::new();
    for (key, parking, both, any) in MATRIX {
        for (table, expected) in [
            ("facilities", parking),
            ("sensors", both),
            ("cities", any),
            ("regions", any),
        ] {
            let sql = format!("SELECT DISTINCT city FROM {table}");
            let python = python.clone();
            let rows = tokio::task::spawn_blocking(move || query(&python, flight, key, &sql))
                .await
                .expect("client");
            let expected: BTreeSet<String> = expected.iter().map(|c| (*c).to_owned()).collect();
            if rows.get("error").is_some() || cities_of(&rows) != expected {
                failures.push(format!("{table} with {key}: {rows}, expected {expected:?}"));
            }
        }
    }
    for key in ["not-a-key", ""] {
        let python = python.clone();
        let rows = tokio::task::spawn_blocking(move || {
            query(&python, flight, key, "SELECT city FROM cities")
        })
        .await
        .expect("client");
        let error = rows["error"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !error.contains("unauthenticated") {
            failures.push(format!("key `{key}`: {rows}, expected UNAUTHENTICATED"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
