//! Snapshot and restore per task: a run cut at any batch boundary, its tasks snapshotted
//! (encoded and decoded), restored into a fresh pipeline and continued, closes exactly the
//! windows of an uninterrupted run — every window kind (per sensor, per lane, hopping,
//! parking), revisions after late rows, traffic states, parking sessions, late drops.

mod common;

use common::{T0, TASKS, assert_same_latest, lines, pipeline, stream};
use stadtpuls_ingest::pipeline::{Pipeline, RawMessage};
use stadtpuls_processing::engine::TaskState;

fn run(pipeline: &mut Pipeline, batches: &[(i64, Vec<RawMessage>)], out: &mut Vec<String>) {
    for (now, batch) in batches {
        let step = pipeline
            .process(batch, *now)
            .unwrap_or_else(|e| panic!("process: {e}"));
        out.extend(lines(&step));
    }
}

fn register(pipeline: &mut Pipeline) {
    for (source, topic, _) in TASKS {
        pipeline.add_source(source, topic, T0);
    }
}

fn finish(pipeline: &mut Pipeline, out: &mut Vec<String>) {
    let step = pipeline.finish().unwrap_or_else(|e| panic!("finish: {e}"));
    out.extend(lines(&step));
}

fn uninterrupted(batches: &[(i64, Vec<RawMessage>)]) -> Vec<String> {
    let mut p = pipeline();
    register(&mut p);
    let mut out = Vec::new();
    run(&mut p, batches, &mut out);
    finish(&mut p, &mut out);
    out.sort();
    out
}

fn interrupted(batches: &[(i64, Vec<RawMessage>)], cut: usize) -> Vec<String> {
    let mut first = pipeline();
    register(&mut first);
    let mut out = Vec::new();
    run(&mut first, &batches[..cut], &mut out);
    let snapshots: Vec<Vec<u8>> = TASKS
        .iter()
        .map(|&(source, _, _)| {
            first
                .snapshot(source)
                .encode()
                .unwrap_or_else(|e| panic!("encode: {e}"))
        })
        .collect();
    drop(first);
    let now = cut
        .checked_sub(1)
        .and_then(|i| batches.get(i))
        .map_or(T0, |(now, _)| *now);
    let mut second = pipeline();
    // Restored in reverse after odd cuts: sensors admitted at run time get other keys
    // than before; in order after even ones.
    let mut order: Vec<_> = TASKS.iter().zip(&snapshots).collect();
    if cut % 2 == 1 {
        order.reverse();
    }
    for (&(source, topic, _), bytes) in order {
        let state = TaskState::decode(bytes).unwrap_or_else(|e| panic!("decode: {e}"));
        let stats = second.restore(source, topic, &state, now);
        assert_eq!(stats.dropped, 0, "task {source}");
    }
    run(&mut second, &batches[cut..], &mut out);
    finish(&mut second, &mut out);
    out.sort();
    out
}

#[test]
fn a_restored_run_closes_the_windows_of_an_uninterrupted_one() {
    for seed in [7, 99_991] {
        let batches = stream(seed, T0);
        let expected = uninterrupted(&batches);
        let kinds = |prefix: &str| expected.iter().filter(|l| l.starts_with(prefix)).count();
        // the stream exercises what it claims to
        assert!(kinds("traffic 600/300") > 0 && kinds("lanes 60/60") > 0);
        assert!(expected.iter().any(|l| l.contains(" rev 1 ")), "revisions");
        assert!(
            expected.iter().any(|l| l.contains("dead letter Late")),
            "drops"
        );
        assert!(
            expected.iter().any(|l| l.starts_with("parking")
                && l.contains("sessions_ended=")
                && !l.contains("sessions_ended=0")
                && !l.contains("sessions_ended=null")),
            "parking sessions"
        );
        assert!(
            expected.iter().any(|l| l.contains("sensor_id=x2")),
            "admitted sensors"
        );
        for cut in 0..=batches.len() {
            let got = interrupted(&batches, cut);
            if got != expected {
                let missing: Vec<_> = expected
                    .iter()
                    .filter(|l| !got.contains(l))
                    .take(3)
                    .collect();
                let extra: Vec<_> = got
                    .iter()
                    .filter(|l| !expected.contains(l))
                    .take(3)
                    .collect();
                panic!(
                    "seed {seed}, cut after batch {cut}: {} rows vs {} uninterrupted\nmissing: {missing:#?}\nextra: {extra:#?}",
                    got.len(),
                    expected.len()
                );
            }
        }
    }
}

#[test]
fn a_revoked_task_leaves_nothing_behind_and_moves_to_another_pipeline() {
    let batches = stream(42, T0);
    let cut = 20;
    let mut a = pipeline();
    register(&mut a);
    let mut out = Vec::new();
    run(&mut a, &batches[..cut], &mut out);
    let moved = 1;
    let bytes = a
        .snapshot(moved)
        .encode()
        .unwrap_or_else(|e| panic!("encode: {e}"));
    a.revoke(moved);
    let empty = a.snapshot(moved);
    assert_eq!(empty.entities(), 0, "revoked state is gone");
    let state = TaskState::decode(&bytes).unwrap_or_else(|e| panic!("decode: {e}"));
    assert!(state.entities() > 0);
    let mut b = pipeline();
    let stats = b.restore(moved, TASKS[1].1, &state, batches[cut - 1].0);
    assert!(stats.restored > 0 && stats.dropped == 0, "{stats:?}");
    let again = b
        .snapshot(moved)
        .encode()
        .unwrap_or_else(|e| panic!("encode: {e}"));
    assert_eq!(
        TaskState::decode(&again).map(|s| s.entities()).ok(),
        Some(state.entities()),
        "the new owner holds the same entities"
    );
}

/// The latest row of every (stream, window, entity) in emission order, revision left out.
fn latest(lines: &[String]) -> std::collections::BTreeMap<String, String> {
    let mut map = std::collections::BTreeMap::new();
    for line in lines.iter().filter(|l| !l.starts_with("dead letter")) {
        let Some((head, row)) = line.split_once(": ") else {
            continue;
        };
        let (window, _) = head.split_once(" rev ").unwrap_or((head, ""));
        let entity: Vec<&str> = row
            .split(' ')
            .filter(|cell| {
                ["city=", "sensor_id=", "lane=", "facility_id="]
                    .iter()
                    .any(|k| cell.starts_with(k))
            })
            .collect();
        map.insert(format!("{window} {}", entity.join(" ")), row.to_owned());
    }
    map
}

/// Every line of one uninterrupted run of `batches` with every task, in emission order.
fn uninterrupted_lines(batches: &[(i64, Vec<RawMessage>)]) -> Vec<String> {
    let mut a = pipeline();
    register(&mut a);
    let mut all = Vec::new();
    run(&mut a, batches, &mut all);
    finish(&mut a, &mut all);
    all
}

/// The batches from `early` on as read again after a crash at `late`: before `late` only
/// the messages of the tasks that replay (`again`), from `late` on all of them.
fn replay(
    batches: &[(i64, Vec<RawMessage>)],
    early: usize,
    late: usize,
    again: impl Fn(&RawMessage) -> bool,
) -> Vec<(i64, Vec<RawMessage>)> {
    batches[early..]
        .iter()
        .enumerate()
        .map(|(i, (now, batch))| {
            let keep = |m: &&RawMessage| early + i >= late || again(m);
            (*now, batch.iter().filter(keep).cloned().collect())
        })
        .collect()
}

/// A crash in the middle of a checkpoint round: task `behind` was last checkpointed after
/// batch `early`, the others after batch `late`. Only the output each task committed with
/// its checkpoint survives; after the restore `behind` replays from its own checkpoint.
fn crashed_mid_round(
    batches: &[(i64, Vec<RawMessage>)],
    behind: u32,
    early: usize,
    late: usize,
) -> Vec<String> {
    let mut first = pipeline();
    register(&mut first);
    let mut out = Vec::new();
    let mut snapshots = vec![Vec::new(); TASKS.len()];
    for (i, (now, batch)) in batches[..late].iter().enumerate() {
        if i == early {
            snapshots[behind as usize] = first
                .snapshot(behind)
                .encode()
                .unwrap_or_else(|e| panic!("encode: {e}"));
        }
        let step = first
            .process(batch, *now)
            .unwrap_or_else(|e| panic!("process: {e}"));
        let owner = format!(" task {behind}: ");
        out.extend(
            lines(&step)
                .into_iter()
                .filter(|l| i < early || !l.contains(&owner)),
        );
    }
    for &(source, _, _) in &TASKS {
        if source != behind {
            snapshots[source as usize] = first
                .snapshot(source)
                .encode()
                .unwrap_or_else(|e| panic!("encode: {e}"));
        }
    }
    drop(first);
    let mut second = pipeline();
    for (&(source, topic, _), bytes) in TASKS.iter().zip(&snapshots) {
        let state = TaskState::decode(bytes).unwrap_or_else(|e| panic!("decode: {e}"));
        second.restore(source, topic, &state, batches[late - 1].0);
    }
    let replay = replay(batches, early, late, |m| m.source == behind);
    run(&mut second, &replay, &mut out);
    finish(&mut second, &mut out);
    out
}

#[test]
fn a_task_a_round_behind_the_others_replays_without_loss() {
    for seed in [7, 99_991] {
        let batches = stream(seed, T0);
        let all = uninterrupted_lines(&batches);
        let expected = latest(&all);
        for &(behind, _, _) in &TASKS {
            for (early, late) in [(0, 7), (1, 40), (3, 30), (5, 12), (10, 11), (20, 39)] {
                let got = latest(&crashed_mid_round(&batches, behind, early, late));
                assert_same_latest(
                    &expected,
                    &got,
                    format_args!(
                        "seed {seed}, task {behind} checkpointed after batch {early}, the others after {late}"
                    ),
                );
            }
        }
    }
}

/// Two instances in one group: `moved` runs on instance K, the other tasks on X. K
/// checkpoints `moved` after batch `early` and crashes after batch `late`, losing the
/// output it had not committed; the group hands `moved` to X, which has been running all
/// along, is further ahead than that checkpoint, and replays the task's partitions from it.
fn handed_to_a_running_instance(
    batches: &[(i64, Vec<RawMessage>)],
    moved: &[u32],
    early: usize,
    late: usize,
) -> Vec<String> {
    let on = |set: &[u32], batch: &[RawMessage]| -> Vec<RawMessage> {
        batch
            .iter()
            .filter(|m| set.contains(&m.source))
            .cloned()
            .collect()
    };
    let others: Vec<u32> = TASKS
        .iter()
        .map(|t| t.0)
        .filter(|s| !moved.contains(s))
        .collect();
    let (mut x, mut k) = (pipeline(), pipeline());
    for &(source, topic, _) in &TASKS {
        let instance = if moved.contains(&source) {
            &mut k
        } else {
            &mut x
        };
        instance.add_source(source, topic, T0);
    }
    let mut out = Vec::new();
    let mut snapshots = Vec::new();
    for (i, (now, batch)) in batches[..late].iter().enumerate() {
        if i == early {
            snapshots = moved
                .iter()
                .map(|&s| k.snapshot(s).encode().unwrap_or_else(|e| panic!("{e}")))
                .collect();
        }
        run(&mut x, &[(*now, on(&others, batch))], &mut out);
        let mut lost = Vec::new();
        run(&mut k, &[(*now, on(moved, batch))], &mut lost);
        if i < early {
            out.extend(lost);
        }
    }
    drop(k);
    let now = batches[late - 1].0;
    for (&source, bytes) in moved.iter().zip(&snapshots) {
        let topic = TASKS[source as usize].1;
        let state = TaskState::decode(bytes).unwrap_or_else(|e| panic!("decode: {e}"));
        x.restore(source, topic, &state, now);
    }
    let replay = replay(batches, early, late, |m| moved.contains(&m.source));
    run(&mut x, &replay, &mut out);
    finish(&mut x, &mut out);
    out
}

#[test]
fn a_task_handed_to_a_running_instance_replays_without_loss() {
    for seed in [7, 99_991] {
        let batches = stream(seed, T0);
        let all = uninterrupted_lines(&batches);
        let expected = latest(&all);
        let sets: [&[u32]; 7] = [&[0], &[1], &[2], &[3], &[4], &[1, 4], &[0, 2, 3]];
        for moved in sets {
            for (early, late) in [(0, 7), (1, 40), (3, 30), (5, 12), (10, 11), (20, 39)] {
                let got = latest(&handed_to_a_running_instance(&batches, moved, early, late));
                assert_same_latest(
                    &expected,
                    &got,
                    format_args!(
                        "seed {seed}, tasks {moved:?} checkpointed after batch {early}, handed over after {late}"
                    ),
                );
            }
        }
    }
}

#[test]
fn a_revoke_leaves_the_windows_of_the_tasks_that_stay_as_they_were() {
    for seed in [7, 99_991, 5] {
        let batches = stream(seed, T0);
        let all = uninterrupted_lines(&batches);
        let sets: [&[u32]; 5] = [&[0], &[1], &[2, 3], &[0, 1, 4], &[1, 2]];
        for revoked in sets {
            let kept = |line: &&String| {
                !revoked
                    .iter()
                    .any(|r| line.contains(&format!(" task {r}: ")))
            };
            let expected = latest(&all.iter().filter(kept).cloned().collect::<Vec<_>>());
            for cut in [1, 5, 12, 20, 33] {
                let mut x = pipeline();
                register(&mut x);
                let mut out = Vec::new();
                run(&mut x, &batches[..cut], &mut out);
                for &r in revoked {
                    x.revoke(r);
                }
                let rest = replay(&batches, cut, usize::MAX, |m| !revoked.contains(&m.source));
                run(&mut x, &rest, &mut out);
                finish(&mut x, &mut out);
                let got = latest(&out.iter().filter(kept).cloned().collect::<Vec<_>>());
                assert_same_latest(
                    &expected,
                    &got,
                    format_args!("seed {seed}, tasks {revoked:?} revoked after batch {cut}"),
                );
            }
        }
    }
}
