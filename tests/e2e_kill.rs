//! `kill -9` against a real broker: the same input (a million traffic events over three
//! city topics of three partitions each) is processed by `stadtpuls run` once without
//! interruption (run A) and once killed with SIGKILL five times at random moments after
//! checkpoints exist, restarted each time with the same config — the same consumer group
//! and instance id, as an operator restarts it — then finished cleanly (run B). Each
//! restart must take its tasks up and read again within 15 s. The Parquet history and
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
use common::lives::{RESTART_BOUND, consumed, start, tasks_taken, time_until, wait_progress};
use common::replay::{
    Lcg, Workload, checkpointed, kill9, run_to_end, test_dir, wait_checkpointed, wait_quiet,
};
use common::{ensure_broker, free_port, run_id};

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

    // Run B: five kills, each at a random moment after checkpoints exist, then a clean
    // finish; every life is the same instance restarted with the same config: one consumer
    // group, one (derived) instance id, as an operator restarts it. Run B also archives
    // its raw input, which must hold every message once despite the kills.
    work.archive_raw = true;
    let dir_b = test_dir("kill-b");
    let port_b = free_port();
    let config_b = work.config(dir_b.path(), "b", "b", port_b, "");
    let store_b = CheckpointStore::new(dir_b.path().join("state"));
    let tasks = ends.len();
    let total: i64 = ends.values().sum();
    let mut rng = Lcg(seed);
    let mut restarts = Vec::new();
    let mut progress = 0;
    let started = Instant::now();
    for k in 0..=KILLS {
        let log = dir_b.path().join(format!("b{k}.log"));
        let life_started = Instant::now();
        let app = start(&config_b, port_b, &log);
        // A restarted life takes all its tasks up, and reads again what its predecessor
        // had not checkpointed, within the bound.
        let taken = time_until(
            life_started,
            Duration::from_secs(180),
            &format!("life {k}: every task taken up"),
            || tasks_taken(&log) >= tasks,
        );
        let consuming = (progress < total).then(|| {
            time_until(
                life_started,
                Duration::from_secs(180),
                &format!("life {k} consuming"),
                || consumed(&log),
            )
        });
        eprintln!(
            "run B: life {k} took its tasks up after {:.1} s, consumed after {}",
            taken.as_secs_f64(),
            consuming.map_or("- (nothing left)".to_owned(), |d| format!(
                "{:.1} s",
                d.as_secs_f64()
            ))
        );
        if k > 0 {
            restarts.push((k, taken, consuming));
        }
        if k == KILLS {
            // The clean finish.
            wait_checkpointed(
                dir_b.path().join("state").as_path(),
                &ends,
                Duration::from_secs(300),
                "b-final",
            );
            wait_quiet(&dir_b.path().join("state"), "b-final");
            assert!(app.terminate().success(), "run B: clean exit");
            break;
        }
        // Killed only after this life has checkpointed: the first once every task has a
        // checkpoint, later ones once they checkpointed past what they restored. So each
        // restart restores snapshots (in the independent run all five kills hit before the
        // first checkpoint), and the kill lands at a random moment of the next interval.
        if k == 0 {
            time_until(
                life_started,
                Duration::from_secs(180),
                "life 0: every task checkpointed",
                || checkpointed(&store_b, &ends).len() == tasks,
            );
        }
        if progress < total {
            wait_progress(
                &store_b,
                &ends,
                progress,
                Duration::from_secs(120),
                &format!("life {k} checkpoints"),
            );
        }
        let delay = Duration::from_millis(rng.next(1_500));
        std::thread::sleep(delay);
        kill9(app);
        progress = checkpointed(&store_b, &ends).values().sum();
        eprintln!(
            "run B: kill {k} {delay:?} after a checkpoint, {progress} of {events} events checkpointed"
        );
    }
    eprintln!("run B: {:.1} s", started.elapsed().as_secs_f64());
    let slow: Vec<_> = restarts
        .iter()
        .filter(|(_, taken, consuming)| {
            *taken > RESTART_BOUND || consuming.is_some_and(|c| c > RESTART_BOUND)
        })
        .collect();
    assert!(
        slow.is_empty(),
        "every restart with the same group takes its tasks up and consumes within {RESTART_BOUND:?}; slower (life, tasks taken, consuming): {slow:?}"
    );

    assert_same_results(&work, dir_a.path(), dir_b.path(), 10_000);
    assert_raw_archive_exact(&dir_b.path().join("history"), &ends);
}
