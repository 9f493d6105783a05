//! The simulated feed `stadtpuls produce` writes, partitioned by record key over three
//! partitions per topic and read in two different interleavings (no broker): the parking
//! windows — car parks and on-street zones — are the same, and nothing is reported. Keyed
//! the way a wrong gateway would (spots by spot id), the zones differ between the two
//! interleavings and the pipeline counts the conflict (issue #11, item 3: two runs over the
//! same input differed in 3,836 of 6,437 zone windows).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::{Array, RecordBatch, StringArray, TimestampMillisecondArray};
use stadtpuls_config::Config;
use stadtpuls_ingest::pipeline::{Pipeline, PipelineOptions, RawMessage};
use stadtpuls_ingest::simulate::{SimMessage, SimulatedFeed};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::out;
use stadtpuls_processing::window::{ClosedWindows, watermark::SourceId};

/// Wednesday 2026-11-25 07:00 UTC.
const START: i64 = 1_795_590_000_000;
const CHUNK_MS: i64 = 20_000;
const STEPS: i64 = 2 * 3_600_000 / CHUNK_MS;
const PARTITIONS: u32 = 3;

/// A stable partitioner by key (FNV-1a): same key, same partition, as any Kafka client's.
fn partition_of(key: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h % PARTITIONS
}

/// How the partitions are read.
#[derive(Debug, Clone, Copy)]
enum Interleaving {
    /// Every partition up to date, sources in ascending order within a batch.
    Even,
    /// Partition `p` read `p` chunks behind the others, sources in descending order.
    Lagging,
}

/// (city, facility, window size, window start) → the latest revision's row.
type Latest = BTreeMap<(String, String, u32, i64), (u32, RecordBatch)>;

struct Run {
    parking: Latest,
    conflicts: u64,
}

fn keep_latest(latest: &mut Latest, closed: &[ClosedWindows]) {
    for window in closed {
        let column = |name: &str| {
            window
                .batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .unwrap_or_else(|| panic!("column {name}"))
                .clone()
        };
        let (cities, ids) = (column(out::CITY), column(out::FACILITY_ID));
        let starts = window
            .batch
            .column_by_name("window_start")
            .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
            .unwrap_or_else(|| panic!("column window_start"))
            .clone();
        for i in 0..ids.len() {
            let key = (
                cities.value(i).to_owned(),
                ids.value(i).to_owned(),
                window.window_s,
                // a merged batch may hold several windows: each row has its own start
                starts.value(i),
            );
            let row = (window.revision, window.batch.slice(i, 1));
            match latest.get(&key) {
                Some((revision, _)) if *revision >= window.revision => {}
                _ => {
                    latest.insert(key, row);
                }
            }
        }
    }
}

fn run(spot_keys_by_spot: bool, interleaving: Interleaving) -> Run {
    let config = Config::demo(&HashMap::new()).expect("demo config");
    let registries = config.load_registries().expect("registries");
    let mut pipeline = Pipeline::new(
        &config,
        &registries,
        Arc::new(LiveState::new(0)),
        PipelineOptions {
            update_live: false,
            ..PipelineOptions::default()
        },
    );
    // Every topic-partition assigned up front, as the Kafka runner registers them.
    let mut sources: HashMap<(String, u32), (SourceId, Arc<str>)> = HashMap::new();
    for registry in &registries {
        for kind in ["traffic", "parking"] {
            let topic = format!("sensors.{}.{kind}", registry.city.id);
            for p in 0..PARTITIONS {
                let id = sources.len() as SourceId;
                pipeline.add_source(id, &topic, START);
                sources.insert((topic.clone(), p), (id, Arc::from(topic.as_str())));
            }
        }
    }
    let mut feed =
        SimulatedFeed::new(&registries, 7, START, 60).with_spot_keys_by_spot(spot_keys_by_spot);
    let mut offsets: HashMap<SourceId, i64> = HashMap::new();
    // Messages read so far per source, waiting while the partition lags.
    let mut backlog: BTreeMap<SourceId, Vec<(u32, Vec<RawMessage>)>> = BTreeMap::new();
    let mut latest = Latest::new();
    let mut conflicts = 0;
    for step in 1..=STEPS {
        let to = START + step * CHUNK_MS;
        let mut chunk: BTreeMap<SourceId, Vec<RawMessage>> = BTreeMap::new();
        for SimMessage {
            topic,
            key,
            payload,
            ..
        } in feed.advance_to(to)
        {
            let partition = partition_of(&key);
            let (source, topic) = sources[&(topic, partition)].clone();
            let offset = offsets.entry(source).or_insert(0);
            chunk.entry(source).or_default().push(RawMessage {
                source,
                topic,
                partition: partition as i32,
                offset: *offset,
                key: Some(key.into_bytes().into()),
                payload: payload.into(),
                format: None,
            });
            *offset += 1;
        }
        for (source, messages) in chunk {
            let partition = messages.first().map_or(0, |m| m.partition as u32);
            backlog
                .entry(source)
                .or_default()
                .push((partition, messages));
        }
        let mut batch: Vec<RawMessage> = Vec::new();
        let mut due: Vec<SourceId> = backlog.keys().copied().collect();
        if matches!(interleaving, Interleaving::Lagging) {
            due.reverse();
        }
        for source in due {
            let Some(chunks) = backlog.get_mut(&source) else {
                continue;
            };
            let lag = match interleaving {
                Interleaving::Even => 0,
                Interleaving::Lagging => chunks.first().map_or(0, |(p, _)| *p as usize),
            };
            // A partition `lag` chunks behind delivers its oldest chunk once it has more.
            while chunks.len() > lag {
                let (_, messages) = chunks.remove(0);
                batch.extend(messages);
            }
        }
        let out = pipeline.process(&batch, to + 1_000).expect("process");
        conflicts += out.partition_conflicts;
        keep_latest(&mut latest, &out.parking);
    }
    // The lagging partitions' rest, then the end of input.
    let rest: Vec<RawMessage> = backlog
        .into_values()
        .flatten()
        .flat_map(|(_, messages)| messages)
        .collect();
    let out = pipeline
        .process(&rest, START + STEPS * CHUNK_MS + 1_000)
        .expect("process");
    conflicts += out.partition_conflicts;
    keep_latest(&mut latest, &out.parking);
    keep_latest(&mut latest, &pipeline.finish().expect("finish").parking);
    Run {
        parking: latest,
        conflicts,
    }
}

/// Windows of on-street zones (facility ids `…-z-…` in the demo registries) that differ.
fn differing(a: &Latest, b: &Latest, zones: bool) -> usize {
    let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| k.1.contains("-z-") == zones)
        .filter(|k| a.get(*k).map(|r| &r.1) != b.get(*k).map(|r| &r.1))
        .count()
}

#[test]
fn zones_keyed_by_zone_are_the_same_however_partitions_interleave() {
    let even = run(false, Interleaving::Even);
    let lagging = run(false, Interleaving::Lagging);
    let zone_windows = even.parking.keys().filter(|k| k.1.contains("-z-")).count();
    assert!(zone_windows > 1_000, "{zone_windows} zone windows");
    assert_eq!(differing(&even.parking, &lagging.parking, true), 0, "zones");
    assert_eq!(
        differing(&even.parking, &lagging.parking, false),
        0,
        "car parks"
    );
    assert_eq!((even.conflicts, lagging.conflicts), (0, 0));
}

/// The same feed keyed by spot id: the zones depend on the interleaving (car parks do
/// not), and both runs count the observations that came through a second partition.
#[test]
fn zones_keyed_by_spot_differ_and_are_counted() {
    let even = run(true, Interleaving::Even);
    let lagging = run(true, Interleaving::Lagging);
    let zones = differing(&even.parking, &lagging.parking, true);
    assert!(zones > 0, "zone windows differ between the interleavings");
    assert_eq!(
        differing(&even.parking, &lagging.parking, false),
        0,
        "car parks"
    );
    assert!(
        even.conflicts > 0 && lagging.conflicts > 0,
        "conflicts counted: {} and {}",
        even.conflicts,
        lagging.conflicts
    );
}
