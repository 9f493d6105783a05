//! The broker stopped for 30 s and started again: the pipeline waits, reconnects and loses
//! nothing. SIGTERM while the broker is down, or while it hangs (frozen with SIGSTOP):
//! the process exits in time and loses nothing.
//!
//! The test runs a Tansu broker of its own with file-backed storage
//! (`common::tansu::OwnBroker`) and produces a seeded workload to it. Run A processes it
//! without interruption. Run B is started on the same input; once it has checkpointed part
//! of it, the broker is killed with SIGKILL, kept down for 30 s and started again on the same
//! port with the same storage. Meanwhile the `stadtpuls` process must stay alive, `/healthz`
//! must answer, and `/readyz` and `/metrics` must show that the broker is unreachable. After
//! the restart B must finish, and its Parquet history and output topics must equal A's, with
//! no history row twice.
//!
//! The kill comes once a third of the input is checkpointed, while B commits closed windows
//! to the output topics; B's `message.timeout.ms` is 10 s, so deliveries in flight fail
//! during the outage: the output commit fails, keeps its records staged and is retried
//! until the broker is back.
//!
//! 30 000 events by default: Tansu's SQLite storage slows down as a partition grows (its
//! fetch sums the record sizes from the fetch offset to the partition end), and at 150 000
//! events its fetches outlasted librdkafka's 60 s request timeout.
//!
//! `STADTPULS_OUTAGE_EVENTS` changes the number of events, `STADTPULS_OUTAGE_SECS` the
//! length of the outage; `STADTPULS_KEEP_TEST_DIRS` keeps the directories for inspection.

mod common;

use std::time::{Duration, Instant};

use stadtpuls_ingest::checkpoint::CheckpointStore;

use common::compare::assert_same_results;
use common::replay::{
    Ends, TestDir, Workload, checkpointed, run_to_end, test_dir, wait_checkpointed,
};
use common::tansu::OwnBroker;
use common::{Stadtpuls, free_port, get, run_id};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The value of an unlabelled sample in a Prometheus text exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// What the operator's endpoints said at one moment of the outage.
#[derive(Debug)]
struct Seen {
    healthz: u16,
    readyz: (u16, String),
    broker_up: Option<f64>,
}

async fn look(client: &reqwest::Client, base: &str) -> Seen {
    let (healthz, _) = get(client, &format!("{base}/healthz")).await;
    let readyz = get(client, &format!("{base}/readyz")).await;
    let (_, metrics) = get(client, &format!("{base}/metrics")).await;
    Seen {
        healthz,
        readyz,
        broker_up: sample(&metrics, "stadtpuls_kafka_broker_up"),
    }
}

/// An own broker with `events` produced, and the history and output of run A, which
/// processed them without interruption (in `dir_a`).
struct Prepared {
    broker_dir: TestDir,
    broker: OwnBroker,
    work: Workload,
    ends: Ends,
    dir_a: TestDir,
}

async fn prepare(name: &str, events: i64) -> Prepared {
    let broker_dir = test_dir(&format!("{name}-broker"));
    let broker = OwnBroker::start(broker_dir.path());
    let work = Workload::new(name, &run_id(), &broker.addr(), events);
    eprintln!("{name} test: run {}, broker {}", work.run, work.brokers);
    let ends = work.produce().await;
    let dir_a = test_dir(&format!("{name}-a"));
    let port_a = free_port();
    let config_a = work.config(dir_a.path(), "a", "a", port_a, "");
    let started = Instant::now();
    run_to_end(dir_a.path(), &config_a, port_a, &ends, "a.log");
    eprintln!("run A: {:.1} s", started.elapsed().as_secs_f64());
    Prepared {
        broker_dir,
        broker,
        work,
        ends,
        dir_a,
    }
}

/// Waits until run B has checkpointed a third of the input (so it is in its checkpoint
/// rounds, producing closed windows to the output topics); returns how much.
async fn a_third_checkpointed(store: &CheckpointStore, ends: &Ends, events: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let progress: i64 = checkpointed(store, ends).values().sum();
        if progress >= events / 3 {
            return progress;
        }
        assert!(
            Instant::now() < deadline,
            "run B checkpointed {progress} of {events} events in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_30_s_loses_nothing() {
    let events: i64 = env_or("STADTPULS_OUTAGE_EVENTS", 30_000);
    let outage = Duration::from_secs(env_or("STADTPULS_OUTAGE_SECS", 30));
    let Prepared {
        broker_dir: _broker_dir,
        mut broker,
        work,
        ends,
        dir_a,
    } = prepare("outage", events).await;

    // Run B: the broker goes away while B is part-way through.
    let dir_b = test_dir("outage-b");
    let port_b = free_port();
    let config_b = work.config(dir_b.path(), "b", "b", port_b, "");
    // Output deliveries give up after 10 s instead of 30 s, so those in flight at the kill
    // fail within the outage: the commit must fail, keep its records and be retried.
    let text = std::fs::read_to_string(&config_b).expect("read config B");
    let librdkafka = "[kafka.librdkafka]\n";
    assert!(text.contains(librdkafka), "config B has {librdkafka}");
    std::fs::write(
        &config_b,
        text.replacen(
            librdkafka,
            &format!("{librdkafka}\"message.timeout.ms\" = \"10000\"\n"),
            1,
        ),
    )
    .expect("write config B");
    let config_arg = config_b.display().to_string();
    let store_b = CheckpointStore::new(dir_b.path().join("state"));
    let started = Instant::now();
    let mut app = Stadtpuls::start(
        &["run", "--config", &config_arg],
        port_b,
        &dir_b.path().join("b.log"),
    );
    let client = reqwest::Client::new();
    let before = a_third_checkpointed(&store_b, &ends, events).await;
    let ready_before = look(&client, &app.base).await;
    broker.kill();
    eprintln!(
        "run B: broker killed after {:.1} s at {before} of {events} events checkpointed",
        started.elapsed().as_secs_f64()
    );
    assert!(
        before < events,
        "B must not be done before the outage; use more events"
    );

    // The outage: the process stays up and says the broker is gone.
    let down = Instant::now();
    let mut during = Vec::new();
    while down.elapsed() < outage {
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            app.child.try_wait().expect("try_wait").is_none(),
            "stadtpuls exited during the broker outage"
        );
        during.push(look(&client, &app.base).await);
    }
    let progress: i64 = checkpointed(&store_b, &ends).values().sum();
    eprintln!("run B: broker restarted after {outage:?}, {progress} events checkpointed");
    broker.restart();

    wait_checkpointed(
        &dir_b.path().join("state"),
        &ends,
        Duration::from_secs(300),
        "run B after the outage",
    );
    let after = look(&client, &app.base).await;
    assert!(
        app.child.try_wait().expect("try_wait").is_none(),
        "stadtpuls still running after the outage"
    );
    eprintln!("run B: {:.1} s", started.elapsed().as_secs_f64());
    let status = app.terminate();
    assert!(status.success(), "run B: clean exit after the outage");

    // Nothing lost, nothing twice.
    assert_same_results(&work, dir_a.path(), dir_b.path(), 1_000);

    // What the operator saw: the process alive, readiness and the broker gauge down during
    // the outage (the last looks, after librdkafka noticed), up before and after.
    eprintln!("endpoints before: {ready_before:?}\nduring: {during:#?}\nafter: {after:?}");
    assert_eq!(ready_before.readyz.0, 200, "ready before the outage");
    assert_eq!(ready_before.broker_up, Some(1.0), "broker up before");
    assert!(
        during.iter().all(|s| s.healthz == 200),
        "/healthz answers throughout the outage"
    );
    let late: Vec<&Seen> = during.iter().skip(during.len() / 2).collect();
    assert!(
        late.iter()
            .all(|s| s.readyz.0 == 503 && s.readyz.1.contains("broker")),
        "/readyz is 503 naming the broker in the second half of the outage"
    );
    assert!(
        late.iter().all(|s| s.broker_up == Some(0.0)),
        "stadtpuls_kafka_broker_up is 0 in the second half of the outage"
    );
    assert_eq!(after.readyz.0, 200, "ready again after the restart");
    assert_eq!(
        after.broker_up,
        Some(1.0),
        "broker up again after the restart"
    );
    let log = std::fs::read_to_string(dir_b.path().join("b.log")).expect("read b.log");
    let transitions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("kafka broker unreachable") || l.contains("reachable again"))
        .collect();
    let unreachable = transitions
        .iter()
        .filter(|l| l.contains("kafka broker unreachable"))
        .count();
    assert_eq!(
        unreachable, 1,
        "one warning per outage (not per message or client): {transitions:#?}"
    );
    assert!(
        !log.contains("panicked"),
        "nothing panicked during the outage"
    );
    // The output deliveries in flight at the kill outlived `message.timeout.ms` (10 s): the
    // commit failed, kept its records staged and was retried until the broker was back.
    assert!(
        log.contains("output commit failed, records stay staged for the retry"),
        "the outage hit an output commit (kill earlier or lengthen the outage)"
    );
}

/// Starts run B of `work` in a directory of its own (group `b`) and waits until a third
/// of the input is checkpointed; returns the directory, the API port, the process and the
/// events checkpointed then.
async fn start_run_b(
    work: &Workload,
    ends: &Ends,
    events: i64,
    name: &str,
) -> (TestDir, u16, Stadtpuls, i64) {
    let dir_b = test_dir(name);
    let port_b = free_port();
    let config_b = work.config(dir_b.path(), "b", "b", port_b, "");
    let config_arg = config_b.display().to_string();
    let store_b = CheckpointStore::new(dir_b.path().join("state"));
    let app = Stadtpuls::start(
        &["run", "--config", &config_arg],
        port_b,
        &dir_b.path().join("b.log"),
    );
    let before = a_third_checkpointed(&store_b, ends, events).await;
    (dir_b, port_b, app, before)
}

/// SIGTERM while the broker is down: `stadtpuls run` exits within the 30 s a container
/// runtime typically grants (it gives the unfinished round up; its tail is replayed), and a
/// run started once the broker is back finishes with the uninterrupted run's results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_outage_exits_and_loses_nothing() {
    let events: i64 = env_or("STADTPULS_OUTAGE_EVENTS", 30_000);
    let Prepared {
        broker_dir: _broker_dir,
        mut broker,
        work,
        ends,
        dir_a,
    } = prepare("sigterm", events).await;

    let (dir_b, port_b, app, before) = start_run_b(&work, &ends, events, "sigterm-b").await;
    broker.kill();
    // Long enough for librdkafka to notice and for a checkpoint round to hit the outage.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let asked = Instant::now();
    let status = app.terminate();
    eprintln!(
        "run B: broker killed at {before} of {events} events checkpointed; exited {:.1} s after SIGTERM ({status})",
        asked.elapsed().as_secs_f64()
    );
    assert!(status.success(), "run B: clean exit during the outage");
    let log = std::fs::read_to_string(dir_b.path().join("b.log")).expect("read b.log");
    assert!(
        !log.contains("panicked"),
        "nothing panicked during the outage"
    );

    broker.restart();
    // A member that could not leave its group stays in it until the session times out;
    // Tansu 0.6 then never hands its partitions on (decision 002), so the restart joins a
    // group of its own: positions come from the checkpoints, not from the group.
    let config_b2 = work.config(dir_b.path(), "b", "b2", port_b, "");
    run_to_end(dir_b.path(), &config_b2, port_b, &ends, "b2.log");
    assert_same_results(&work, dir_a.path(), dir_b.path(), 1_000);
}

/// How long `stadtpuls run` may take to exit after SIGTERM while the broker hangs: the 5 s
/// grace of a commit or dead-letter write, the bounded close of the Kafka clients, margin.
const SILENT_BROKER_EXIT: Duration = Duration::from_secs(15);

/// SIGTERM while the broker accepts connections but answers nothing (frozen with SIGSTOP:
/// no connection is refused or reset, so librdkafka sees no outage, only requests that do
/// not return): `stadtpuls run` still exits within [`SILENT_BROKER_EXIT`], giving up what
/// it cannot finish, and a run started once the broker answers again finishes with the
/// uninterrupted run's results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_hung_broker_exits_in_time_and_loses_nothing() {
    let events: i64 = env_or("STADTPULS_OUTAGE_EVENTS", 30_000);
    let Prepared {
        broker_dir: _broker_dir,
        mut broker,
        work,
        ends,
        dir_a,
    } = prepare("hung", events).await;

    let (dir_b, port_b, app, before) = start_run_b(&work, &ends, events, "hung-b").await;
    broker.stop();
    // Checkpoints come every 700 ms: a round's output commit is waiting for the broker.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, took) = app.terminate_within(Duration::from_secs(60));
    broker.resume();
    let log = std::fs::read_to_string(dir_b.path().join("b.log")).expect("read b.log");
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    eprintln!(
        "run B: broker stopped at {before} of {events} events checkpointed; {} {:.1} s after SIGTERM",
        if status.is_some() {
            "exited"
        } else {
            "still running"
        },
        took.as_secs_f64()
    );
    let status = status.unwrap_or_else(|| {
        panic!(
            "stadtpuls still running 60 s after SIGTERM with a hung broker; last log lines (newest first): {tail:#?}"
        )
    });
    assert!(
        took <= SILENT_BROKER_EXIT,
        "stadtpuls took {:.1} s to exit after SIGTERM with a hung broker (at most {SILENT_BROKER_EXIT:?}); last log lines (newest first): {tail:#?}",
        took.as_secs_f64()
    );
    assert!(
        status.success(),
        "run B: clean exit with a hung broker ({status})"
    );
    assert!(
        !log.contains("panicked"),
        "nothing panicked with a hung broker"
    );
    // Given up after its bound, or skipped when librdkafka has by then marked the frozen
    // broker down or has no offsets left to commit: either way the exit did not wait for
    // the broker, and the log says why.
    assert!(
        log.contains("did not answer the final offset commit in time: given up")
            || log.contains("the final offset commit is skipped"),
        "the final offset commit, unanswered, is given up or skipped and logged; last log lines (newest first): {tail:#?}"
    );

    // The broker answers again. As after an outage, the member that could not leave its
    // group stays in it until its session times out, so the restart joins a group of its
    // own: positions come from the checkpoints.
    let config_b2 = work.config(dir_b.path(), "b", "b2", port_b, "");
    run_to_end(dir_b.path(), &config_b2, port_b, &ends, "b2.log");
    assert_same_results(&work, dir_a.path(), dir_b.path(), 1_000);
}
