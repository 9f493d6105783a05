//! `kill -9` against a real broker: the same input (a million traffic events over three
//! city topics of three partitions each) is processed by `stadtpuls run` once without
//! interruption (run A) and once killed with SIGKILL five times at random moments between
//! checkpoints, restarted each time, then finished cleanly (run B). The Parquet history and
//! the output topics of both runs must hold the same windows with the same values, and B's
//! history no row twice: what a crash replays is taken back (effectively once), not doubled.
//!
//! The kill moments come from a seeded generator; the seed is printed and can be set with
//! `STADTPULS_KILL_SEED`. `STADTPULS_KILL_EVENTS` changes the number of events;
//! `STADTPULS_KEEP_TEST_DIRS` keeps both runs' directories for inspection.

mod common;

use std::time::{Duration, Instant};

use stadtpuls_ingest::checkpoint::CheckpointStore;

use common::compare::{assert_raw_archive_exact, assert_same_results};
use common::replay::{Lcg, Workload, checkpointed, kill9, run_to_end, test_dir};
use common::{Stadtpuls, ensure_broker, free_port, run_id};

const KILLS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_changes_no_result() {
    let _broker = ensure_broker();
    let events: i64 = std::env::var("STADTPULS_KILL_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = std::env::var("STADTPULS_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let mut work = Workload::new("kill", &run_id(), &common::brokers(), events);
    eprintln!(
        "kill -9 test: run {}, seed {seed} (STADTPULS_KILL_SEED={seed} repeats it)",
        work.run
    );
    let ends = work.produce().await;

    // Run A: uninterrupted.
    let dir_a = test_dir("kill-a");
    let port_a = free_port();
    let config_a = work.config(dir_a.path(), "a", "a", port_a, "");
    let started = Instant::now();
    run_to_end(dir_a.path(), &config_a, port_a, &ends, "a.log");
    eprintln!("run A: {:.1} s", started.elapsed().as_secs_f64());

    // Run B: five kills at random moments, then a clean finish; it also archives its raw
    // input, which must hold every message once despite the kills.
    work.archive_raw = true;
    let dir_b = test_dir("kill-b");
    let port_b = free_port();
    let store_b = CheckpointStore::new(dir_b.path().join("state"));
    let mut rng = Lcg(seed);
    let started = Instant::now();
    for k in 0..KILLS {
        let life = Duration::from_millis(500 + rng.next(2_500));
        // A new consumer group per life: the broker would keep the killed member in the
        // group until its session times out, delaying the restart by that long. Where a
        // partition is read from is decided by the checkpoint, not by the group.
        let config_b = work.config(dir_b.path(), "b", &format!("b{k}"), port_b, "");
        let config_arg = config_b.display().to_string();
        let app = Stadtpuls::start(
            &["run", "--config", &config_arg],
            port_b,
            &dir_b.path().join(format!("b{k}.log")),
        );
        std::thread::sleep(life);
        kill9(app);
        let progress: i64 = checkpointed(&store_b, &ends).values().sum();
        eprintln!("run B: kill {k} after {life:?}, {progress} of {events} events checkpointed");
    }
    let config_b = work.config(dir_b.path(), "b", "b-final", port_b, "");
    run_to_end(dir_b.path(), &config_b, port_b, &ends, "b-final.log");
    eprintln!("run B: {:.1} s", started.elapsed().as_secs_f64());

    assert_same_results(&work, dir_a.path(), dir_b.path(), 10_000);
    assert_raw_archive_exact(&dir_b.path().join("history"), &ends);
}
