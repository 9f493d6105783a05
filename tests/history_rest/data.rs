//! The data of `tests/history_rest.rs`, written through the real pipeline into the
//! history sink (see the test's module docs for what is written).

use std::collections::HashMap;
use std::sync::Arc;

use stadtpuls_config::{CityRegistry, Config, HistoryConfig};
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::pipeline::{Pipeline, PipelineOptions, RawMessage};
use stadtpuls_ingest::sink::{Stream, Task, WindowSink};
use stadtpuls_processing::live::LiveState;

/// 2026-10-24T00:00:00Z.
pub const OCT_24: i64 = 1_792_800_000_000;
pub const HOUR: i64 = 3_600_000;
pub const MINUTE: i64 = 60_000;
/// 2026-10-24T10:00:00Z, the hour of the hand-checked windows.
const TEN: i64 = OCT_24 + 10 * HOUR;
/// Filler windows: every 10 minutes from 11:00 on the 24th to 00:50 on the 26th.
const FILLER_FROM: i64 = OCT_24 + 11 * HOUR;
const FILLER_TO: i64 = OCT_24 + 48 * HOUR + 50 * MINUTE;

/// The entities written.
pub struct Ids {
    pub ulm_sensor: String,
    pub ulm_facility: String,
    pub karlsruhe_sensor: String,
}

/// The first traffic sensors of ulm and karlsruhe and a counted car park of ulm.
pub fn ids(registries: &[CityRegistry]) -> Ids {
    let city = |id: &str| registries.iter().find(|r| r.city.id == id).expect("city");
    let sensor = |id: &str| {
        city(id)
            .traffic_sensors()
            .next()
            .expect("a traffic sensor")
            .id
            .clone()
    };
    let ulm = city("ulm");
    let facility = ulm
        .facilities()
        .find(|f| ulm.spots_of(&f.id).next().is_none())
        .expect("a counted car park")
        .id
        .clone();
    Ids {
        ulm_sensor: sensor("ulm"),
        ulm_facility: facility,
        karlsruhe_sensor: sensor("karlsruhe"),
    }
}

/// (event time, topic, payload) of every message, in time order.
fn messages(ids: &Ids) -> Vec<(i64, String, String)> {
    let traffic = |city: &str, sensor: &str, start: i64, count: u32, speed: f64| {
        (
            start + MINUTE,
            format!("sensors.{city}.traffic"),
            format!(
                r#"{{"city":"{city}","sensor_id":"{sensor}","ts":{},"interval_s":60,"vehicle_count":{count},"avg_speed_kmh":{speed},"occupancy_pct":5.0}}"#,
                start + MINUTE
            ),
        )
    };
    let parking = |at: i64, free: u32, entries: u32| {
        (
            at,
            "sensors.ulm.parking".to_owned(),
            format!(
                r#"{{"city":"ulm","kind":"facility","id":"{}","ts":{at},"free_spaces":{free},"total_spaces":400,"entries":{entries},"exits":0}}"#,
                ids.ulm_facility
            ),
        )
    };
    let mut out = Vec::new();
    for (i, (count, speed, free, entries)) in
        [(10, 50.0, 100, 5), (20, 40.0, 80, 3), (30, 20.0, 50, 2)]
            .into_iter()
            .enumerate()
    {
        let start = TEN + i as i64 * MINUTE;
        out.push(traffic("ulm", &ids.ulm_sensor, start, count, speed));
        out.push(traffic(
            "karlsruhe",
            &ids.karlsruhe_sensor,
            start,
            count,
            speed,
        ));
        out.push(parking(start + 30_000, free, entries));
    }
    let mut start = FILLER_FROM;
    while start <= FILLER_TO {
        out.push(traffic("ulm", &ids.ulm_sensor, start, 6, 60.0));
        out.push(traffic("karlsruhe", &ids.karlsruhe_sensor, start, 6, 60.0));
        out.push(parking(start + 30_000, 200, 0));
        start += 10 * MINUTE;
    }
    // The car park closed at 11:05:30 (its counter still at 200), open again with the
    // 11:10:30 count.
    let closed_at = FILLER_FROM + 5 * MINUTE + 30_000;
    out.push((
        closed_at,
        "sensors.ulm.parking".to_owned(),
        format!(
            r#"{{"city":"ulm","kind":"facility","id":"{}","ts":{closed_at},"free_spaces":200,"total_spaces":400,"opening_status":"closed"}}"#,
            ids.ulm_facility
        ),
    ));
    out.sort_by_key(|(at, ..)| *at);
    out
}

/// Runs the messages through the pipeline into the history sink under `config`'s dir.
pub async fn write_history(config: &Config, registries: &[CityRegistry], ids: &Ids) {
    let mut pipeline = Pipeline::new(
        config,
        registries,
        Arc::new(LiveState::new(0)),
        PipelineOptions {
            update_live: false,
            ..PipelineOptions::default()
        },
    );
    let mut sink = HistorySink::new(&HistoryConfig {
        dir: config.history.dir.clone(),
        ..config.history.clone()
    });
    let task = Task {
        topic: Arc::from("history-rest"),
        partition: 0,
    };
    let mut sources: HashMap<String, u32> = HashMap::new();
    let stage = |sink: &mut HistorySink, out: &stadtpuls_ingest::pipeline::StepOutput| {
        assert!(
            out.dead_letters.is_empty(),
            "refused: {:?}",
            out.dead_letters.first().map(|d| &d.detail)
        );
        for (stream, windows) in [
            (Stream::Traffic, &out.traffic),
            (Stream::TrafficLanes, &out.traffic_lanes),
            (Stream::Parking, &out.parking),
        ] {
            for closed in windows {
                sink.stage(&task, stream, closed).expect("stage");
            }
        }
    };
    let all = messages(ids);
    let mut epoch = 0;
    for (offset, (at, topic, payload)) in all.into_iter().enumerate() {
        let next = sources.len() as u32;
        let source = *sources.entry(topic.clone()).or_insert_with(|| {
            pipeline.add_source(next, &topic, at);
            next
        });
        let message = RawMessage {
            source,
            topic: Arc::from(topic.as_str()),
            partition: 0,
            offset: offset as i64,
            key: None,
            payload: payload.into_bytes().into(),
            format: None,
        };
        let out = pipeline.process(&[message], at + 1_000).expect("process");
        stage(&mut sink, &out);
        if offset % 50 == 0 {
            epoch += 1;
            sink.commit(&task, epoch).await.expect("commit");
        }
    }
    let out = pipeline.finish().expect("finish");
    stage(&mut sink, &out);
    sink.commit(&task, epoch + 1).await.expect("commit");
}
