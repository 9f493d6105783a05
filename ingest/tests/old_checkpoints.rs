//! A checkpoint written by a build before facilities could be admitted at run time
//! (format 5) still restores: `fixtures/checkpoints/format5/` holds the file a
//! `stadtpuls run` of that build (base of `feat/admit`) wrote for task
//! `sensors.v5ck.parking/0` after two native counts of its registry car park `dom`
//! (2026-11-24 08:00:10Z 120 free of 500, 08:00:30Z 100 free) — its level and the open
//! minute 08:00 with both counts.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, UInt32Array};
use stadtpuls_ingest::checkpoint::{CheckpointStore, FORMAT_VERSION};
use stadtpuls_ingest::sink::Task;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::engine::{Close, Engine, EngineSpec, Feed};
use stadtpuls_processing::window::parking::out;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

/// 2026-11-24T08:00:00Z.
const T0: i64 = 1_795_507_200_000;

#[test]
fn a_format_5_checkpoint_restores_its_level_and_open_window() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoints/format5");
    let store = CheckpointStore::new(fixtures);
    let task = Task {
        topic: Arc::from("sensors.v5ck.parking"),
        partition: 0,
    };
    let checkpoint = store
        .load(&task)
        .unwrap_or_else(|e| panic!("load: {e}"))
        .unwrap_or_else(|| panic!("the fixture checkpoint loads"));
    assert_eq!((checkpoint.format, checkpoint.offset), (5, 2));
    assert!(checkpoint.format < FORMAT_VERSION);
    let state = checkpoint
        .state()
        .unwrap_or_else(|e| panic!("a format-5 state decodes: {e}"));
    assert!(state.admitted.is_empty());

    let mut catalog = Catalog::with_cities(&["v5ck"], UnknownSensors::Reject);
    let dom = catalog.add_facility(0, "dom", Some(500));
    let spec = EngineSpec::new(WindowSpec::tumbling(
        &[60_000],
        30 * 60_000,
        3_000,
        TimestampSemantics::IntervalEnd,
    ));
    let mut engine = Engine::new(&spec, &catalog);
    let stats = engine.restore(0, Feed::Parking, &state, &mut catalog, T0 + 60_000);
    assert_eq!(stats.dropped, 0, "{stats:?}");
    let level = engine
        .facility(dom)
        .unwrap_or_else(|| panic!("dom's level"));
    assert_eq!((level.free, level.total), (100, Some(500)));
    assert_eq!(level.updated_at, T0 + 30_000);

    let mut rows = Vec::new();
    engine
        .close(Close::All, &catalog, |_, closed| {
            let updates = closed
                .batch
                .column_by_name(out::UPDATES)
                .and_then(|c| c.as_any().downcast_ref::<UInt32Array>().cloned());
            if let Some(updates) = updates {
                rows.extend(
                    (0..updates.len()).map(|row| (closed.window_start, updates.value(row))),
                );
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("close: {e}"));
    assert_eq!(rows, [(T0, 2)], "the minute 08:00 with both counts");
}
