//! `stadtpuls bench --sql`: one day of 1-minute history for the nine demo cities, then
//! typical analyst queries timed through the SQL engine and, in the same run, through
//! DuckDB (from the PyPI venv) over the same Parquet files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use stadtpuls_api::SqlEngine;
use stadtpuls_api::sql::{Principal, format};
use stadtpuls_config::{Config, env_from_process};

use super::bench::{BUILD_PROFILE, BenchArgs};

mod history;

/// DuckDB over the same files: the history tables as hive-partitioned views, `facilities`
/// from the engine's own export; each query run `runs` times.
const DUCKDB: &str = r#"
import json, sys, time
import duckdb
spec = json.load(sys.stdin)
con = duckdb.connect()
con.execute(f"SET threads = {spec['threads']}")
for table in ("traffic_1m", "parking_1m"):
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{spec['dir']}/{table}/*/*/*.parquet', hive_partitioning = true)")
con.execute(f"CREATE VIEW facilities AS SELECT * FROM read_parquet('{spec['facilities']}')")
out = {}
for name, sql in spec["queries"]:
    times = []
    for _ in range(spec["runs"]):
        started = time.perf_counter()
        rows = con.execute(sql).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    out[name] = {"ms": times, "rows": len(rows)}
out["version"] = duckdb.__version__
print(json.dumps(out))
"#;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The venv's python with DuckDB, or `None` when it is not there.
fn duckdb_python() -> Option<PathBuf> {
    let venv = std::env::var_os("STADTPULS_PYTEST_VENV").map_or_else(
        || {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            home.join(".cache/stadtpuls-pytest/venv")
        },
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    Command::new(&python)
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success())
        .then_some(python)
}

fn run_duckdb(python: &Path, dir: &Path, facilities: &Path, runs: usize) -> anyhow::Result<Value> {
    use std::io::Write;
    let spec = json!({
        "dir": dir.display().to_string(),
        "facilities": facilities.display().to_string(),
        "queries": history::QUERIES,
        "runs": runs,
        "threads": std::thread::available_parallelism().map_or(2, |n| n.get()),
    });
    let mut child = Command::new(python)
        .args(["-c", DUCKDB])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .context("cannot start python")?;
    child
        .stdin
        .take()
        .context("python stdin")?
        .write_all(spec.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("the DuckDB run failed");
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Generates the history, times the queries in both engines, prints a table and a
/// `RESULT {…}` line.
pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = match &args.sql_dir {
        Some(dir) => dir.clone(),
        None => tempfile_dir()?,
    };
    let mut env = env_from_process();
    env.insert("STADTPULS_HISTORY__DIR".into(), dir.display().to_string());
    env.insert("STADTPULS_SQL__TIMEOUT".into(), "1h".into());
    env.insert("STADTPULS_SQL__MEMORY_LIMIT_MIB".into(), "4096".into());
    let config = Config::demo(&env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let registries = config
        .load_registries()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let traffic_dir = dir.join("traffic_1m");
    if traffic_dir.exists() && args.sql_dir.is_some() {
        eprintln!("reusing the history in {}", dir.display());
    } else {
        let started = Instant::now();
        let generated = history::generate_history(
            &dir,
            &registries,
            args.sql_sensors_per_city,
            args.sql_minutes,
        )?;
        eprintln!(
            "generated {} traffic rows and {} parking rows ({:.1} MB of Parquet) in {:.1} s",
            generated.traffic_rows,
            generated.parking_rows,
            generated.bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    let engine = SqlEngine::new(&config, &registries, None)?;
    let principal = Principal::local();
    let facilities = dir.join("facilities.parquet");
    let reference = engine.query(&principal, "SELECT * FROM facilities").await?;
    std::fs::write(&facilities, format::to_parquet(&reference)?)?;
    let count = engine
        .query(&principal, "SELECT count(*) FROM traffic_1m")
        .await?;
    let rows = format::to_json_rows(&count)?;
    eprintln!("traffic_1m: {}", String::from_utf8_lossy(&rows).trim());

    let runs = args.sql_runs.max(1);
    let mut ours: Vec<(String, f64, usize)> = Vec::new();
    for (name, sql) in history::QUERIES {
        let mut times = Vec::with_capacity(runs);
        let mut result_rows = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let result = engine.query(&principal, sql).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            result_rows = result.num_rows();
        }
        ours.push((name.to_owned(), median(times), result_rows));
    }
    let (history_ms, history_buckets) = time_history(&engine, &principal, runs).await?;
    eprintln!(
        "{}: {history_ms:.1} ms (median of {runs}), {history_buckets} buckets",
        history::HISTORY_QUERY
    );
    let duck = match duckdb_python() {
        Some(python) => Some(run_duckdb(&python, &dir, &facilities, runs)?),
        None => {
            eprintln!(
                "DuckDB not found in the test venv (scripts/test.sh creates it): Stadtpuls only"
            );
            None
        }
    };
    eprintln!("Stadtpuls built with the `{BUILD_PROFILE}` profile");
    println!("| query | Stadtpuls (DataFusion) ms | DuckDB ms | rows |");
    println!("|---|---:|---:|---:|");
    let mut result = serde_json::Map::new();
    for (name, ms, rows) in &ours {
        let duck_ms = duck.as_ref().map(|d| {
            median(
                d[name]["ms"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_f64)
                    .collect(),
            )
        });
        if let Some(d) = &duck {
            let duck_rows = d[name]["rows"].as_u64().unwrap_or(0) as usize;
            if duck_rows != *rows {
                bail!("{name}: {rows} rows here, {duck_rows} in DuckDB");
            }
        }
        let duck_text = duck_ms.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.0}"));
        println!("| {name} | {ms:.0} | {duck_text} | {rows} |");
        result.insert(
            name.clone(),
            json!({"stadtpuls_ms": ms, "duckdb_ms": duck_ms, "rows": rows}),
        );
    }
    println!(
        "| {} | {history_ms:.1} | – | {history_buckets} |",
        history::HISTORY_QUERY
    );
    result.insert(
        history::HISTORY_QUERY.into(),
        json!({"stadtpuls_ms": history_ms, "rows": history_buckets}),
    );
    if let Some(d) = &duck {
        result.insert("duckdb_version".into(), d["version"].clone());
    }
    result.insert("profile".into(), BUILD_PROFILE.into());
    println!("RESULT {}", Value::Object(result));
    if args.sql_dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// The REST history's query (`stadtpuls_api::history::query`, the function behind
/// `GET /v1/cities/{city}/traffic/{sensor}/history`): one sensor, the day's 1-minute
/// windows in 1-hour buckets, averaged; median of `runs` after one warm-up run.
async fn time_history(
    engine: &SqlEngine,
    principal: &Principal,
    runs: usize,
) -> anyhow::Result<(f64, usize)> {
    let request = history::history_request()?;
    let mut times = Vec::with_capacity(runs);
    let mut buckets = stadtpuls_api::history::query(engine, principal, &request)
        .await?
        .buckets
        .len();
    for _ in 0..runs {
        let started = Instant::now();
        let page = stadtpuls_api::history::query(engine, principal, &request).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        buckets = page.buckets.len();
    }
    Ok((median(times), buckets))
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("stadtpuls-sql-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
