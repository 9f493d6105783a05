//! The TTN decoder through the pipeline step: 4,096 The Things Stack uplinks (webhook
//! bodies shaped like the Nwave fixture, one per device and frame, `frm_payload` decoded by
//! the Nwave codec, ids mapped through `external_id`) per iteration, into spot states.
//! A fresh pipeline per iteration, so the duplicate memory never refuses one.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use stadtpuls_config::{FeedFormat, LoraCodec};
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::decode::feed::FeedTopics;
use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions, RawMessage};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

const UPLINKS: usize = 4096;
const DEVICES: usize = 512;
const TOPIC: &str = "bench.ttn";
/// 2026-11-24T00:00:00Z.
const START_MS: i64 = 1_795_478_400_000;

fn pipeline() -> Pipeline {
    let mut catalog = Catalog::with_cities(&["bench"], UnknownSensors::Reject);
    let zone = catalog.add_facility(0, "zone", None);
    let mut ids = ExternalIds::default();
    for d in 0..DEVICES {
        let spot = format!("spot-{d}");
        catalog.add_spot(0, &spot, zone);
        ids.insert(0, &format!("70B3D57E{d:08X}"), &spot, None);
    }
    let mut feeds = FeedTopics::default();
    feeds.insert(TOPIC, 0, "bench", FeedFormat::Ttn);
    feeds.set_codec(TOPIC, Some(LoraCodec::NwaveNps));
    let spec = WindowSpec::tumbling(&[60_000], 30_000, 600_000, TimestampSemantics::Instant);
    let limits = Limits {
        max_message_bytes: 1 << 20,
        max_future_ms: i64::MAX / 4,
        max_clock_jump_ms: i64::MAX / 4,
    };
    let options = PipelineOptions {
        update_live: false,
        ..PipelineOptions::default()
    };
    Pipeline::from_parts(
        catalog,
        &spec,
        &ParkingSpec::default(),
        limits,
        Arc::new(LiveState::new(0)),
        options,
    )
    .with_feeds(feeds, ids)
}

fn uplinks() -> Vec<RawMessage> {
    (0..UPLINKS)
        .map(|i| {
            let device = i % DEVICES;
            let ms = START_MS + i as i64 * 100;
            let time = stadtpuls_processing::time::to_rfc3339(ms);
            let payload = if i % 3 == 0 { "lA==" } else { "lQ==" };
            let body = format!(
                r#"{{"end_device_ids":{{"device_id":"eui-{device}","application_ids":{{"application_id":"bays"}},"dev_eui":"70B3D57E{device:08X}","join_eui":"2000000000000001","dev_addr":"20000001"}},"correlation_ids":["as:up:01H0S7ZJQ9MQPMVY49FT3SE07M"],"received_at":"{time}","uplink_message":{{"session_key_id":"AYfqmb0pc/1uRZv9xUydgQ==","f_port":1,"f_cnt":{i},"frm_payload":"{payload}","rx_metadata":[{{"gateway_ids":{{"gateway_id":"eui-6a7e111a10000000","eui":"6A7E111A10000000"}},"time":"{time}","timestamp":3893546133,"rssi":-35,"channel_rssi":-35,"snr":13.2,"channel_index":3,"received_at":"{time}"}}],"settings":{{"data_rate":{{"lora":{{"bandwidth":125000,"spreading_factor":7,"coding_rate":"4/5"}}}},"frequency":"867100000"}},"received_at":"{time}","consumed_airtime":"0.056576s"}}}}"#
            );
            RawMessage {
                source: 0,
                topic: Arc::from(TOPIC),
                partition: 0,
                offset: i as i64,
                key: None,
                payload: body.into_bytes().into(),
                format: None,
            }
        })
        .collect()
}

fn ttn(c: &mut Criterion) {
    let messages = uplinks();
    let now = START_MS + UPLINKS as i64 * 100;
    let check = pipeline().process(&messages, now).expect("process");
    assert!(
        check.dead_letters.is_empty(),
        "{:?}",
        check.dead_letters.first()
    );
    assert_eq!(check.accepted, UPLINKS);
    let mut group = c.benchmark_group("ttn");
    group.throughput(Throughput::Elements(UPLINKS as u64));
    group.bench_function("uplinks_to_spot_states", |b| {
        b.iter_batched(
            pipeline,
            |mut p| black_box(p.process(&messages, now).expect("process")),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, ttn);
criterion_main!(benches);
