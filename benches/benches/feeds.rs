//! The FIWARE and ParkAPI decoders through the pipeline step, on one core: batch upsert
//! bodies of the real smart-data-model examples (NGSI-LD normalized `OffStreetParking`,
//! about 3 KB an entity; the same as NGSI v2 in an Orion subscription notification;
//! NGSI-LD keyValues `TrafficFlowObserved`) and ParkAPI v3 site lists, 100 entities or
//! sites a message, every id mapped through `external_id`; throughput in observations.
//! The issue's target is ≥ 200k observations/s. `STADTPULS_BENCH_CPU_TIME=1` times each
//! run by its thread's CPU time (`stadtpuls_benches::cpu_time`), for a shared machine.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stadtpuls_benches::cpu_time;
use stadtpuls_benches::feeds::FeedBench;
use stadtpuls_config::FeedFormat;
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_processing::catalog::Catalog;

const MESSAGES: usize = 40;
const PER_MESSAGE: usize = 100;
const ENTITIES: usize = MESSAGES * PER_MESSAGE;
/// 2026-11-24T00:00:00Z: after every fixture's time.
const NOW_MS: i64 = 1_795_478_400_000;

const OFF_STREET: &str = include_str!(
    "../../ingest/tests/fixtures/feeds/fiware/OffStreetParking/example-normalized.jsonld"
);
const OFF_STREET_V2: &str = include_str!(
    "../../ingest/tests/fixtures/feeds/fiware/OffStreetParking/example-normalized.json"
);
const TRAFFIC: &str =
    include_str!("../../ingest/tests/fixtures/feeds/fiware/TrafficFlowObserved/example.jsonld");
const PARKAPI: &str =
    include_str!("../../ingest/tests/fixtures/feeds/parkapi/park-api-v3_parking-site-item.json");

const FIWARE: FeedBench = FeedBench {
    topic: "bench.fiware",
    format: FeedFormat::Fiware,
    codec: None,
    register: register_fiware,
};

const PARK_API: FeedBench = FeedBench {
    topic: "bench.parkapi",
    format: FeedFormat::ParkApi,
    codec: None,
    register: register_parkapi,
};

fn register_fiware(catalog: &mut Catalog, ids: &mut ExternalIds) {
    for n in 0..ENTITIES {
        let (facility, sensor) = (format!("car-park-{n}"), format!("counter-{n}"));
        catalog.add_facility(0, &facility, Some(414));
        ids.insert(
            0,
            &format!("urn:ngsi-ld:OffStreetParking:bench-{n}"),
            &facility,
            None,
        );
        catalog.add_traffic(0, &sensor, 2, 50.0);
        ids.insert(
            0,
            &format!("urn:ngsi-ld:TrafficFlowObserved:bench-{n}"),
            &sensor,
            None,
        );
    }
}

fn register_parkapi(catalog: &mut Catalog, ids: &mut ExternalIds) {
    for n in 0..ENTITIES {
        let facility = format!("site-{n}");
        catalog.add_facility(0, &facility, Some(158));
        ids.insert(0, &format!("pa-{n}"), &facility, None);
    }
}

/// `MESSAGES` bodies of `PER_MESSAGE` copies of `template`, each with the `n`th id.
fn bodies(
    template: &str,
    id: &str,
    bench_id: impl Fn(usize) -> String,
    wrap: fn(String) -> String,
) -> Vec<String> {
    (0..MESSAGES)
        .map(|m| {
            let entities: Vec<String> = (0..PER_MESSAGE)
                .map(|i| template.replacen(id, &bench_id(m * PER_MESSAGE + i), 1))
                .collect();
            wrap(entities.join(","))
        })
        .collect()
}

fn bench(c: &mut Criterion, name: &str, feed: &FeedBench, bodies: Vec<String>) {
    let messages = feed.messages(bodies);
    let check = feed.pipeline().process(&messages, NOW_MS).expect("process");
    assert!(
        check.dead_letters.is_empty(),
        "{:?}",
        check.dead_letters.first()
    );
    assert_eq!(check.accepted, ENTITIES);
    let cpu = cpu_time::wanted();
    let mut group = c.benchmark_group("feeds");
    group.throughput(Throughput::Elements(ENTITIES as u64));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            cpu_time::timed(
                cpu,
                iters,
                || feed.pipeline(),
                |p| p.process(&messages, NOW_MS).expect("process"),
            )
        });
    });
    group.finish();
}

fn feeds(c: &mut Criterion) {
    let array = |entities: String| format!("[{entities}]");
    let off_street = bodies(
        OFF_STREET,
        "urn:ngsi-ld:OffStreetParking:porto-ParkingLot-23889",
        |n| format!("urn:ngsi-ld:OffStreetParking:bench-{n}"),
        array,
    );
    bench(
        c,
        "ngsi_ld_normalized_off_street_parking",
        &FIWARE,
        off_street,
    );
    let notifications = bodies(
        OFF_STREET_V2,
        "porto-ParkingLot-23889",
        |n| format!("urn:ngsi-ld:OffStreetParking:bench-{n}"),
        |entities| {
            format!(r#"{{"subscriptionId": "57458eb60962ef754e7c0998", "data": [{entities}]}}"#)
        },
    );
    bench(
        c,
        "ngsi_v2_notification_normalized_off_street_parking",
        &FIWARE,
        notifications,
    );
    let traffic = bodies(
        TRAFFIC,
        "urn:ngsi-ld:TrafficFlowObserved:TrafficFlowObserved-Valladolid-osm-60821110",
        |n| format!("urn:ngsi-ld:TrafficFlowObserved:bench-{n}"),
        array,
    );
    bench(c, "ngsi_ld_key_values_traffic_flow", &FIWARE, traffic);
    let sites = bodies(
        PARKAPI,
        r#""uid": "12717250""#,
        |n| format!(r#""uid": "pa-{n}""#),
        |items| format!(r#"{{"items": [{items}]}}"#),
    );
    bench(c, "parkapi_site_lists", &PARK_API, sites);
}

criterion_group!(benches, feeds);
criterion_main!(benches);
