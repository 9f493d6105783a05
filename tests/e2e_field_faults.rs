//! The faults a city network really has, through the real broker: historical data written
//! by `stadtpuls produce` with every simulator fault on (clock glitches an hour ahead,
//! poison messages, truncated and out-of-range payloads, unknown cities, delayed
//! messages) is replayed by `stadtpuls run` once without interruption (run A) and once
//! killed with SIGKILL several times *after checkpoints exist*, restarted each time with
//! the **same group id**, then finished cleanly (run B). History, output topics and dead
//! letters of both runs must be equal, window by window, and nothing may be late that was
//! not late in the data itself (the simulator delays messages within the allowed
//! out-of-orderness only).
//!
//! `STADTPULS_FIELD_SEED` repeats the kill moments of a run (printed);
//! `STADTPULS_KEEP_TEST_DIRS` keeps the directories.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use stadtpuls_ingest::checkpoint::CheckpointStore;

use common::compare::{assert_same_history, assert_same_output};
use common::replay::{Ends, Lcg, checkpointed, kill9, run_to_end, test_dir};
use common::topics::read_topics;
use common::{Stadtpuls, ensure_broker, free_port, run_id};

/// Demo cities replayed: (name, registry under `config/demo`, centre).
const CITIES: [(&str, &str, (f64, f64)); 3] = [
    ("ulm", "registries/ulm.csv", (48.3984, 9.9916)),
    ("konstanz", "registries/konstanz.geojson", (47.6603, 9.1758)),
    ("ettlingen", "registries/ettlingen.csv", (48.9413, 8.4075)),
];
const KILLS: usize = 3;
/// A restarted life must checkpoint new progress within this (the issue's bound for
/// "restart to consuming" is 15 s; the rest is the first checkpoint round).
const RESTART_BOUND: Duration = Duration::from_secs(25);

struct Field {
    run: String,
    brokers: String,
    dir: PathBuf,
}

impl Field {
    fn city(&self, name: &str) -> String {
        format!("{name}-f{}", self.run)
    }

    fn topics(&self) -> Vec<String> {
        CITIES
            .iter()
            .flat_map(|(name, _, _)| {
                let city = self.city(name);
                [
                    format!("sensors.{city}.traffic"),
                    format!("sensors.{city}.parking"),
                ]
            })
            .collect()
    }

    fn deadletters(&self, label: &str) -> String {
        format!("deadletter-f{}-{label}", self.run)
    }

    fn output_prefix(&self, label: &str) -> String {
        format!("out-f{}-{label}", self.run)
    }

    /// The config of run `label` (its own state, history, output and dead-letter topics;
    /// every life of one run in one group).
    fn config(&self, label: &str, port: u16) -> PathBuf {
        let run_dir = self.dir.join(label);
        std::fs::create_dir_all(&run_dir).expect("run dir");
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
        let mut cities = String::new();
        for (name, registry, (lat, lon)) in CITIES {
            cities.push_str(&format!(
                "[[cities]]\nid = \"{}\"\nname = \"{name}\"\ntimezone = \"Europe/Berlin\"\n\
                 lat = {lat}\nlon = {lon}\nregistry = \"{}\"\n",
                self.city(name),
                demo.join(registry).display()
            ));
        }
        let output = self.output_prefix(label);
        let toml = format!(
            r#"version = 1
[kafka]
brokers = "{brokers}"
group_id = "stadtpuls-field-{run}-{label}"
topic_pattern = '^sensors\.[a-z]+-f{run}\.(traffic|parking)$'
deadletter_topic = "{deadletters}"
batch_max_wait = "50ms"
[kafka.librdkafka]
"topic.metadata.refresh.interval.ms" = "1000"
[windows]
sizes = ["1m", "15m"]
hopping = ["1h/15m"]
out_of_orderness = "30s"
idle_timeout = "1h"
allowed_lateness = "2m"
[api]
bind = "127.0.0.1:{port}"
[checkpoint]
dir = "{state}"
interval = "700ms"
[history]
dir = "{history}"
tables = ["traffic_1m", "traffic_15m", "traffic_1h_15m", "traffic_lanes_1m", "traffic_lanes_15m",
          "traffic_lanes_1h_15m", "parking_1m", "parking_15m", "parking_1h_15m"]
[output]
traffic_topic = "{output}.traffic"
traffic_lanes_topic = "{output}.traffic_lanes"
parking_topic = "{output}.parking"
{cities}"#,
            brokers = self.brokers,
            run = self.run,
            deadletters = self.deadletters(label),
            state = run_dir.join("state").display(),
            history = run_dir.join("history").display(),
        );
        let path = run_dir.join("stadtpuls.toml");
        std::fs::write(&path, toml).expect("write config");
        path
    }
}

/// Dead letters of a run as (reason, origin topic, partition, offset), each once: a crash
/// may write a batch's letters again, which a consumer of the topic dedupes by origin.
fn dead_letters(field: &Field, label: &str) -> BTreeSet<(String, String, String, String)> {
    read_topics(&field.brokers, &[field.deadletters(label)])
        .into_iter()
        .map(|r| {
            let h = |k: &str| r.headers.get(k).cloned().unwrap_or_default();
            (
                h("stadtpuls.reason"),
                h("stadtpuls.source.topic"),
                h("stadtpuls.source.partition"),
                h("stadtpuls.source.offset"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_faults_replayed_with_kills_in_one_group_change_no_result() {
    let _broker = ensure_broker();
    let seed: u64 = std::env::var("STADTPULS_FIELD_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()));
    let dir = test_dir("field");
    let field = Field {
        run: run_id(),
        brokers: common::brokers(),
        dir: dir.path().to_path_buf(),
    };
    eprintln!(
        "field-fault test: run {}, seed {seed} (STADTPULS_FIELD_SEED={seed} repeats it)",
        field.run
    );

    // Four hours of history ending three hours ago: the glitches (+1 h) stay behind the
    // receiver's clock, as in any backfill.
    let now = chrono::Utc::now().timestamp_millis();
    let start = (now - 7 * 3_600_000) / 3_600_000 * 3_600_000;
    let start = chrono::DateTime::from_timestamp_millis(start)
        .expect("start")
        .to_rfc3339();
    let produce_config = field.config("produce", free_port());
    let status = Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
        .args(["produce", "--config"])
        .arg(&produce_config)
        .args(["--start", &start, "--duration", "4h", "--seed", "7"])
        .args(["--partitions", "3", "--bad-ratio", "0.003"])
        .status()
        .expect("stadtpuls produce");
    assert!(status.success(), "stadtpuls produce");
    let mut ends = Ends::new();
    for record in read_topics(&field.brokers, &field.topics()) {
        let end = ends.entry((record.topic, record.partition)).or_default();
        *end = (*end).max(record.offset + 1);
    }
    let messages: i64 = ends.values().sum();
    eprintln!(
        "produced {messages} messages over {} partitions",
        ends.len()
    );
    assert!(messages > 20_000, "{ends:?}");

    // Run A: uninterrupted.
    let port_a = free_port();
    let config_a = field.config("a", port_a);
    let started = Instant::now();
    run_to_end(&dir.path().join("a"), &config_a, port_a, &ends, "a.log");
    eprintln!("run A: {:.1} s", started.elapsed().as_secs_f64());

    // Run B: killed after checkpoints exist, restarted in the same group each time.
    let dir_b = dir.path().join("b");
    let port_b = free_port();
    let config_b = field.config("b", port_b);
    let config_arg = config_b.display().to_string();
    let store_b = CheckpointStore::new(dir_b.join("state"));
    let mut rng = Lcg(seed);
    let started = Instant::now();
    for k in 0..KILLS {
        let before: i64 = checkpointed(&store_b, &ends).values().sum();
        if before == messages {
            eprintln!("run B: all input checkpointed after {k} kills");
            break;
        }
        let life = Instant::now();
        let app = Stadtpuls::start(
            &["run", "--config", &config_arg],
            port_b,
            &dir_b.join(format!("b{k}.log")),
        );
        // Consuming again, proven by a checkpoint of new progress.
        loop {
            let progress: i64 = checkpointed(&store_b, &ends).values().sum();
            if progress > before {
                break;
            }
            assert!(
                life.elapsed() < RESTART_BOUND,
                "life {k}: no new checkpoint within {RESTART_BOUND:?} of the (re)start \
                 (same group id: the group must let the restarted member in at once)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let consuming = life.elapsed();
        std::thread::sleep(Duration::from_millis(rng.next(1_500)));
        kill9(app);
        let progress: i64 = checkpointed(&store_b, &ends).values().sum();
        eprintln!(
            "run B: life {k} checkpointed within {consuming:?}, killed after {:?}, \
             {progress} of {messages} messages checkpointed",
            life.elapsed()
        );
    }
    run_to_end(&dir_b, &config_b, port_b, &ends, "b-final.log");
    eprintln!("run B: {:.1} s", started.elapsed().as_secs_f64());

    let windows = assert_same_history(&dir.path().join("a/history"), &dir_b.join("history"));
    assert!(windows > 10_000, "many windows closed: {windows}");
    let keys = assert_same_output(
        &field.brokers,
        &field.output_prefix("a"),
        &field.output_prefix("b"),
    );
    assert_eq!(keys, windows, "every history window is in the output");

    let letters_a = dead_letters(&field, "a");
    let letters_b = dead_letters(&field, "b");
    assert_eq!(letters_a, letters_b, "the same dead letters");
    let count = |reason: &str| letters_a.iter().filter(|l| l.0 == reason).count();
    eprintln!(
        "dead letters: {} ({} clock_jump, {} malformed, {} late)",
        letters_a.len(),
        count("clock_jump"),
        count("malformed"),
        count("late")
    );
    assert!(count("clock_jump") > 0, "the glitches were refused");
    assert!(
        count("malformed") > 0,
        "the truncated payloads were refused"
    );
    assert_eq!(
        count("late"),
        0,
        "nothing late that was not late in the data"
    );
}
