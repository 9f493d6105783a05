//! The TTN decoder through the pipeline step: 4,096 The Things Stack uplinks (webhook
//! bodies shaped like the Nwave fixture, one per device and frame, `frm_payload` decoded by
//! the Nwave codec, ids mapped through `external_id`) per iteration, into spot states.
//! A fresh pipeline per iteration, so the duplicate memory never refuses one.
//! `STADTPULS_BENCH_CPU_TIME=1` times each run by its thread's CPU time.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stadtpuls_benches::cpu_time;
use stadtpuls_benches::feeds::FeedBench;
use stadtpuls_config::{FeedFormat, LoraCodec};
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::pipeline::RawMessage;
use stadtpuls_processing::catalog::Catalog;

const UPLINKS: usize = 4096;
const DEVICES: usize = 512;
/// 2026-11-24T00:00:00Z.
const START_MS: i64 = 1_795_478_400_000;

const FEED: FeedBench = FeedBench {
    topic: "bench.ttn",
    format: FeedFormat::Ttn,
    codec: Some(LoraCodec::NwaveNps),
    register,
};

fn register(catalog: &mut Catalog, ids: &mut ExternalIds) {
    let zone = catalog.add_facility(0, "zone", None);
    for d in 0..DEVICES {
        let spot = format!("spot-{d}");
        catalog.add_spot(0, &spot, zone);
        ids.insert(0, &format!("70B3D57E{d:08X}"), &spot, None);
    }
}

fn uplinks() -> Vec<RawMessage> {
    FEED.messages((0..UPLINKS).map(|i| {
            let device = i % DEVICES;
            let ms = START_MS + i as i64 * 100;
            let time = stadtpuls_processing::time::to_rfc3339(ms);
            let payload = if i % 3 == 0 { "lA==" } else { "lQ==" };
            format!(
                r#"{{"end_device_ids":{{"device_id":"eui-{device}","application_ids":{{"application_id":"bays"}},"dev_eui":"70B3D57E{device:08X}","join_eui":"2000000000000001","dev_addr":"20000001"}},"correlation_ids":["as:up:01H0S7ZJQ9MQPMVY49FT3SE07M"],"received_at":"{time}","uplink_message":{{"session_key_id":"AYfqmb0pc/1uRZv9xUydgQ==","f_port":1,"f_cnt":{i},"frm_payload":"{payload}","rx_metadata":[{{"gateway_ids":{{"gateway_id":"eui-6a7e111a10000000","eui":"6A7E111A10000000"}},"time":"{time}","timestamp":3893546133,"rssi":-35,"channel_rssi":-35,"snr":13.2,"channel_index":3,"received_at":"{time}"}}],"settings":{{"data_rate":{{"lora":{{"bandwidth":125000,"spreading_factor":7,"coding_rate":"4/5"}}}},"frequency":"867100000"}},"received_at":"{time}","consumed_airtime":"0.056576s"}}}}"#
            )
        }))
}

fn ttn(c: &mut Criterion) {
    let messages = uplinks();
    let now = START_MS + UPLINKS as i64 * 100;
    let check = FEED.pipeline().process(&messages, now).expect("process");
    assert!(
        check.dead_letters.is_empty(),
        "{:?}",
        check.dead_letters.first()
    );
    assert_eq!(check.accepted, UPLINKS);
    let cpu = cpu_time::wanted();
    let mut group = c.benchmark_group("ttn");
    group.throughput(Throughput::Elements(UPLINKS as u64));
    group.bench_function("uplinks_to_spot_states", |b| {
        b.iter_custom(|iters| {
            cpu_time::timed(
                cpu,
                iters,
                || FEED.pipeline(),
                |p| p.process(&messages, now).expect("process"),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, ttn);
criterion_main!(benches);
