//! Unit tests of the window slabs.

use super::*;

#[derive(Debug, Default, Clone, PartialEq)]
struct Count(u32);

/// Judged against the operator watermark `wm` only.
fn at(wm: Option<EventTime>) -> Lateness {
    Lateness {
        watermark: wm,
        ..Lateness::default()
    }
}

fn tumbling(ms: i64) -> Shape {
    Shape {
        size_ms: ms,
        slide_ms: ms,
    }
}

/// The rows dropped from at least one window, ascending.
fn dropped_rows(stats: &UpdateStats) -> Vec<u32> {
    let mut rows: Vec<u32> = stats.dropped_windows.iter().map(|d| d.row).collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// What an emission call gave: (window start, revision, [(key, count)]).
type Emitted = (EventTime, u32, Vec<(u32, u32)>);

fn emitted(w: &mut Windows<Count>, watermark: EventTime) -> Vec<Emitted> {
    w.emit(watermark, |_, start, revision, entries| {
        let counts = entries.into_iter().map(|(k, c)| (k, c.0)).collect();
        (start, revision, counts)
    })
}

#[test]
fn interval_ending_on_a_boundary_belongs_to_the_window_it_closes() {
    let mut w: Windows<Count> = Windows::new(&[tumbling(60_000)], 1, 0);
    w.update(
        &[60_000, 60_001, 120_000],
        &[0, 0, 1],
        2,
        at(None),
        |a, _| a.0 += 1,
    );
    assert_eq!(
        emitted(&mut w, 120_000),
        vec![(0, 0, vec![(0, 1)]), (60_000, 0, vec![(0, 1), (1, 1)])]
    );
    assert_eq!(w.open_states(), 0);
}

#[test]
fn hopping_rows_land_in_every_overlapping_window() {
    let mut w: Windows<Count> = Windows::new(
        &[Shape {
            size_ms: 60_000,
            slide_ms: 20_000,
        }],
        0,
        0,
    );
    w.update(&[45_000], &[0], 1, at(None), |a, _| a.0 += 1);
    let starts: Vec<EventTime> = w.emit(EventTime::MAX, |_, start, _, _| start);
    assert_eq!(starts, vec![0, 20_000, 40_000]);
}

#[test]
fn lateness_updates_then_drops() {
    let mut w: Windows<Count> = Windows::new(&[tumbling(60_000), tumbling(900_000)], 0, 30_000);
    w.update(&[10_000], &[0], 1, at(None), |a, _| a.0 += 1);
    assert_eq!(emitted(&mut w, 70_000), vec![(0, 0, vec![(0, 1)])]);
    // late, but within 30 s of lateness: updates the 1-min window, emitted as revision 1
    let stats = w.update(&[20_000], &[0], 1, at(Some(70_000)), |a, _| a.0 += 1);
    assert_eq!(
        (stats.dropped, stats.updated_late),
        (vec![0, 0], vec![1, 0])
    );
    assert_eq!(emitted(&mut w, 80_000), vec![(0, 1, vec![(0, 2)])]);
    // beyond lateness: dropped from the 1-min window, still counted in the 15-min one
    let stats = w.update(&[30_000], &[0], 1, at(Some(95_000)), |a, _| a.0 += 1);
    assert_eq!(stats.dropped, vec![1, 0]);
    assert_eq!(
        stats.dropped_windows,
        vec![DroppedWindow {
            row: 0,
            shape: 0,
            start: 0
        }]
    );
    assert_eq!(emitted(&mut w, EventTime::MAX), vec![(0, 0, vec![(0, 3)])]);
}

/// A row is judged by its own source's progress, rows before it in the batch included:
/// cut the batch anywhere and the verdict stays.
#[test]
fn a_row_is_late_by_its_own_sources_watermark_wherever_batches_are_cut() {
    let shapes = [tumbling(60_000)];
    let own = |source_max| Lateness {
        watermark: Some(0),
        source_max,
        lag_ms: 10_000,
    };
    let mut whole: Windows<Count> = Windows::new(&shapes, 0, 5_000);
    let stats = whole.update(
        &[130_000, 50_000, 118_000],
        &[0, 0, 0],
        1,
        own(None),
        |a, _| a.0 += 1,
    );
    // the watermark of the rows after the first: 130 − 10 = 120 s. 50 s: its window
    // ended at 60 s, 65 s with the lateness: dropped; 118 s: its window ends at 120 s,
    // 125 s with the lateness: folded in, late
    assert_eq!(
        (dropped_rows(&stats), stats.updated_late),
        (vec![1], vec![1])
    );
    let mut cut: Windows<Count> = Windows::new(&shapes, 0, 5_000);
    cut.update(&[130_000], &[0], 1, own(None), |a, _| a.0 += 1);
    let stats = cut.update(
        &[50_000, 118_000],
        &[0, 0],
        1,
        own(Some(130_000)),
        |a, _| a.0 += 1,
    );
    assert_eq!(
        (dropped_rows(&stats), stats.updated_late),
        (vec![0], vec![1])
    );
    // a row without a key moves the clock on all the same
    let mut keyless: Windows<Count> = Windows::new(&shapes, 0, 5_000);
    let stats = keyless.update(&[130_000, 50_000], &[NONE, 0], 1, own(None), |a, _| {
        a.0 += 1
    });
    assert_eq!(dropped_rows(&stats), vec![1]);
    assert_eq!(keyless.open_states(), 0, "the keyless row folded nothing");
}

/// Emission is per entry: a late row of one entity emits that entity's row of the
/// window again, not the others'. Entities restored from snapshots of different moments
/// (a crash between two tasks' checkpoints) each keep their own state: the one not yet
/// emitted is, the other is not repeated.
#[test]
fn each_entry_has_its_own_emission_and_revision() {
    let shapes = [tumbling(60_000)];
    let mut w: Windows<Count> = Windows::new(&shapes, 0, 120_000);
    w.update(&[10_000], &[0], 2, at(None), |a, _| a.0 += 1);
    w.update(&[20_000], &[1], 2, at(None), |a, _| a.0 += 1);
    let before = w.export(|key, acc| (key == 1).then(|| (key, acc.clone())));
    assert_eq!(emitted(&mut w, 60_000), [(0, 0, vec![(0, 1), (1, 1)])]);
    let after = w.export(|key, acc| (key == 0).then(|| (key, acc.clone())));
    w.update(&[30_000], &[1], 2, at(Some(60_000)), |a, _| a.0 += 1);
    assert_eq!(
        emitted(&mut w, 70_000),
        [(0, 1, vec![(1, 2)])],
        "key 1 again, as revision 1; key 0 not"
    );
    assert!(emitted(&mut w, 70_000).is_empty(), "nothing new");

    let mut restored: Windows<Count> = Windows::new(&shapes, 0, 120_000);
    restored.import(&after, 2, |e| Some(e.clone()));
    restored.import(&before, 2, |e| Some(e.clone()));
    assert_eq!(
        emitted(&mut restored, 60_000),
        [(0, 0, vec![(1, 1)])],
        "key 1's first emission; key 0 was emitted before its snapshot"
    );
    // a late row for key 0 and a new key 2: revisions 1 and 0, one call each
    restored.update(&[40_000, 50_000], &[0, 2], 3, at(Some(60_000)), |a, _| {
        a.0 += 1
    });
    assert_eq!(
        emitted(&mut restored, 60_000),
        [(0, 0, vec![(2, 1)]), (0, 1, vec![(0, 2)])]
    );
}

/// Issue #12: a row too late for its 1-minute window but not for the coarser ones is
/// reported with exactly the windows that dropped it — here one of the two hopping
/// windows it belongs to — and the windows not named count it.
#[test]
fn a_dropped_row_names_each_window_that_dropped_it() {
    let hopping = Shape {
        size_ms: 120_000,
        slide_ms: 60_000,
    };
    let mut w: Windows<Count> = Windows::new(&[tumbling(60_000), tumbling(900_000), hopping], 0, 0);
    // 45 s judged at 90 s: [0, 1m) and [−1m, 1m) have ended, [0, 2m) and [0, 15m) not
    let stats = w.update(&[45_000], &[0], 1, at(Some(90_000)), |a, _| a.0 += 1);
    assert_eq!(
        stats.dropped_windows,
        vec![
            DroppedWindow {
                row: 0,
                shape: 0,
                start: 0
            },
            DroppedWindow {
                row: 0,
                shape: 2,
                start: -60_000
            },
        ]
    );
    assert_eq!(stats.dropped, vec![1, 0, 1]);
    let counted: Vec<(i64, EventTime)> =
        w.emit(EventTime::MAX, |shape, start, _, _| (shape.size_ms, start));
    assert_eq!(counted, vec![(900_000, 0), (120_000, 0)]);
}

/// A row can miss a coarser family's window and not the first family's (3 m windows end
/// before the 2 m window around 2:30 does): it is reported all the same.
#[test]
fn a_row_dropped_only_by_a_coarser_family_is_reported() {
    let mut w: Windows<Count> = Windows::new(&[tumbling(120_000), tumbling(180_000)], 0, 0);
    let stats = w.update(&[150_000], &[0], 1, at(Some(185_000)), |a, _| a.0 += 1);
    assert_eq!(
        stats.dropped_windows,
        vec![DroppedWindow {
            row: 0,
            shape: 1,
            start: 0
        }]
    );
    assert_eq!(stats.dropped, vec![0, 1]);
}
