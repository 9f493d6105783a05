//! What a replay step holds: a backlog read in one batch closes many windows at once, each
//! emitted as a batch of a few rows per window, revision and owning task. Held as they
//! came, every such batch cost its own Arrow overhead (~4 KB for a few rows): the six-hour
//! replay of the nine demo cities peaked at 450 MB (`docs/operating.md`, "Memory"). The
//! pipeline merges them per family, revision and owning task as they are emitted. (That
//! merging changes how rows are batched, not what they say, is what the restore and
//! checkpoint tests show: runs cut into different steps give the same rows.)

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{T0, TASKS, pipeline, row_start, stream};
use stadtpuls_ingest::pipeline::{RawMessage, StepOutput};
use stadtpuls_processing::window::ClosedWindows;

/// The whole 40-minute stream of the five tasks as one batch, then the end of input.
fn replayed_at_once(seed: u64) -> Vec<StepOutput> {
    let batches = stream(seed, T0);
    let all: Vec<RawMessage> = batches.iter().flat_map(|(_, b)| b.clone()).collect();
    let now = batches.last().map_or(T0, |(now, _)| *now);
    let mut p = pipeline();
    for (source, topic, _) in TASKS {
        p.add_source(source, topic, T0);
    }
    let step = p
        .process(&all, now)
        .unwrap_or_else(|e| panic!("process: {e}"));
    let end = p.finish().unwrap_or_else(|e| panic!("finish: {e}"));
    vec![step, end]
}

fn closed(out: &StepOutput) -> impl Iterator<Item = (&'static str, &ClosedWindows)> {
    let tag = |name: &'static str| move |c| (name, c);
    out.traffic
        .iter()
        .map(tag("traffic"))
        .chain(out.traffic_lanes.iter().map(tag("lanes")))
        .chain(out.parking.iter().map(tag("parking")))
}

/// A step's closed windows of one kind: (step, stream, size, slide, revision, owner), with
/// their (batches, rows).
type Group = (usize, &'static str, u32, u32, u32, u32);

#[test]
fn a_replay_step_holds_its_closed_windows_in_few_compact_batches() {
    for seed in [7, 99_991] {
        let steps = replayed_at_once(seed);
        let mut windows = BTreeSet::new();
        let mut batches_of: BTreeMap<Group, (usize, usize)> = BTreeMap::new();
        let (mut rows, mut bytes, mut batches) = (0usize, 0usize, 0usize);
        let each_step = steps
            .iter()
            .enumerate()
            .flat_map(|(i, out)| closed(out).map(move |(stream, c)| (i, stream, c)));
        for (step, stream, c) in each_step {
            let n = c.batch.num_rows();
            let starts: Vec<i64> = (0..n).map(|row| row_start(&c.batch, row)).collect();
            assert!(starts.is_sorted(), "{stream}: windows in emission order");
            assert_eq!(
                starts.first(),
                Some(&c.window_start),
                "{stream}: first window"
            );
            windows.extend(
                starts
                    .iter()
                    .map(|s| (stream, c.window_s, c.slide_s, *s, c.owner)),
            );
            let group = batches_of
                .entry((step, stream, c.window_s, c.slide_s, c.revision, c.owner))
                .or_default();
            group.0 += 1;
            group.1 += n;
            rows += n;
            bytes += c.batch.get_array_memory_size();
            batches += 1;
        }
        // Per (family, revision, owner) and step, batches of the binary counter of
        // `merge.rs`: at most log2(rows) + 1; one per window before.
        for (group, &(n, group_rows)) in &batches_of {
            let bound = group_rows.ilog2() as usize + 1;
            assert!(
                n <= bound,
                "seed {seed}: {group:?}: {n} batches for {group_rows} rows (bound {bound})"
            );
        }
        assert!(
            batches * 3 < windows.len(),
            "seed {seed}: {batches} batches for {} windows",
            windows.len()
        );
        let per_row = bytes / rows;
        assert!(
            per_row < 700,
            "seed {seed}: {per_row} B of Arrow buffers per closed row, {rows} rows, {batches} batches"
        );
    }
}
