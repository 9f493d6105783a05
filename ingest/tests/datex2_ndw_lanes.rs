//! NDW's real `trafficspeed` publication (`verkeersdrukte_trafficspeed.xml.gz`) decoded
//! against a registry built by `registry import` from NDW's measurement site table
//! (`verkeersdrukte_MeasurementSiteTable.xml`): each site's class values end as one
//! observation per lane, with the numbers a person reads in the XML.
//!
//! Read by hand from the publication (2025-08-15, one line; the two sites' elements):
//! - PZH01_MST_0629_00, `measurementTimeDefault` 21:48:00Z: indices 1–4 `TrafficFlow`
//!   `vehicleFlowRate` 0, 0, 0, 0; indices 5–8 `TrafficSpeed` `-1` with
//!   `numberOfInputValuesUsed="0"`. The table maps 1–3 (length classes of lane1) to
//!   lane 1 and leaves out 4 (anyVehicle); it lists no speed index, so 5–8 are unmapped.
//!   Lane 1: 0 + 0 + 0 veh/h over 60 s = 0 vehicles, no speed (not zero).
//! - RWS01_MONICA_00D0100B1032D0050005, 21:47:00Z: flows 780, 60, 0 and 840 (index 4,
//!   their sum); speeds 110, 93, `-1` (`numberOfInputValuesUsed="0"`) and 108.79 (index
//!   8). No site table of it is in the fixtures; its row is written by hand in NDW's
//!   layout as the PZH site's full record has it (flows of three length classes at 1–3,
//!   their speeds at 5–7, totals at 4 and 8). Lane 1: 840 veh/h × 60 s / 3600 = 14
//!   vehicles; speed (780·110 + 60·93) / 840 = 91380 / 840 = 108.786 km/h, which is
//!   NDW's own all-vehicle speed (index 8, 108.79) to its two decimals.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMillisecondType, UInt8Type, UInt32Type};
use stadtpuls_config::{
    Config, DEMO_TOML, RegistrySource, SensorKind, parse_registry, update_registry,
};
use stadtpuls_ingest::decode::datex2::decode_document;
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::decode::native::Sinks;
use stadtpuls_ingest::import;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;

/// 2025-08-15T22:00:00Z, ten minutes after the publication.
const NOW: i64 = 1_755_295_200_000;
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/feeds/datex2/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The city's registry as a partner keeps it before the import: the N457 site under its
/// bare id (position from NDW's full record of it), the A-road site by hand.
const BEFORE: &str = "id,kind,name,lat,lon,lanes,capacity,facility_id,external_id\n\
    nl-n457,traffic,N457,52.0263,4.634289,1,,,PZH01_MST_0629_00\n\
    nl-monica-5,traffic,A-road,52.03,4.64,1,,,\
    RWS01_MONICA_00D0100B1032D0050005#1=1;RWS01_MONICA_00D0100B1032D0050005#2=1;\
    RWS01_MONICA_00D0100B1032D0050005#3=1;RWS01_MONICA_00D0100B1032D0050005#5=1;\
    RWS01_MONICA_00D0100B1032D0050005#6=1;RWS01_MONICA_00D0100B1032D0050005#7=1\n";

#[test]
fn ndw_class_values_become_one_observation_per_lane_through_the_imported_site_table() {
    // `stadtpuls registry import` of the site table into the registry.
    let table = fixture("verkeersdrukte_MeasurementSiteTable.xml");
    let imported = import::read(&table, None).expect("site table");
    let file = Path::new("nl.csv");
    let update = update_registry(file, Some(BEFORE), "nl", &imported.sites).expect("import");
    assert!(
        update
            .text
            .contains("PZH01_MST_0629_00#1=1;PZH01_MST_0629_00#2=1;PZH01_MST_0629_00#3=1"),
        "{}",
        update.text
    );

    // The registry as the pipeline loads it.
    let mut config =
        Config::from_toml(DEMO_TOML, Path::new("demo.toml"), &HashMap::new()).expect("demo config");
    let mut city = config.cities.remove(0);
    city.id = "nl".into();
    (city.lat, city.lon) = (52.03, 4.64);
    city.registry = RegistrySource::File(file.to_path_buf());
    let registry = parse_registry(&city, file, &update.text).expect("valid registry");
    let mut catalog = Catalog::with_cities(&["nl"], UnknownSensors::Reject);
    for sensor in registry
        .sensors
        .iter()
        .filter(|s| s.kind == SensorKind::Traffic)
    {
        catalog.add_traffic(0, &sensor.id, sensor.lanes, 100.0);
    }
    let external = ExternalIds::from_registries(std::slice::from_ref(&registry), &catalog);

    let mut xml = Vec::new();
    flate2::read::GzDecoder::new(fixture("verkeersdrukte_trafficspeed.xml.gz").as_slice())
        .read_to_end(&mut xml)
        .expect("gunzip");
    let (mut traffic, mut parking, mut rejected) = (
        TrafficBatchBuilder::default(),
        ParkingBatchBuilder::default(),
        Vec::new(),
    );
    let bounds = TimeBounds {
        now: NOW,
        max_future_ms: 300_000,
    };
    let accepted = decode_document(
        &xml,
        0,
        "nl",
        &external,
        bounds,
        &mut Sinks {
            catalog: &mut catalog,
            traffic: &mut traffic,
            parking: &mut parking,
            rejected: &mut rejected,
        },
    );
    let ours: Vec<_> = rejected
        .iter()
        .filter(|r| {
            let bytes = String::from_utf8_lossy(&r.payload);
            bytes.contains("PZH01_MST_0629_00") || bytes.contains("00D0100B1032D0050005")
        })
        .map(|r| (r.rejection.reason, r.rejection.detail.clone()))
        .collect();
    assert!(ours.is_empty(), "{ours:?}");
    // The other 19,585 sites are not in the registry: each is refused once, whole, as
    // `unknown_sensor` naming its id, before any of its values is read (no lane check, no
    // flow check on them). Nothing else is refused.
    let mut reasons = std::collections::BTreeMap::new();
    for r in &rejected {
        *reasons.entry(r.rejection.reason.as_str()).or_insert(0usize) += 1;
    }
    assert_eq!(
        reasons,
        std::collections::BTreeMap::from([("unknown_sensor", 19_585)]),
        "one refusal per unmapped site"
    );
    for r in &rejected {
        let element = String::from_utf8_lossy(&r.payload);
        let id = element
            .split("measurementSiteReference")
            .nth(1)
            .and_then(|rest| rest.split("id=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("the refused element is a whole siteMeasurements");
        assert!(element.starts_with("<siteMeasurements"), "{element:.80}");
        assert!(element.ends_with("</siteMeasurements>"), "{element:.80}");
        assert!(
            r.rejection.detail.contains(&format!("`{id}`")),
            "{}",
            r.rejection.detail
        );
    }

    let batch = traffic.finish(&catalog).expect("batch");
    let batch = batch.record_batch();
    let column = |name: &str| batch.column_by_name(name).expect(name).clone();
    let (sensors, lanes, ts) = (column("sensor_id"), column("lane"), column("ts"));
    let (counts, speeds) = (column("vehicle_count"), column("avg_speed_kmh"));
    let sensors = sensors.as_dictionary::<UInt32Type>();
    let names = sensors.values().as_string::<i32>();
    let mut rows = Vec::new();
    for row in 0..batch.num_rows() {
        let speed = speeds.as_primitive::<Float64Type>();
        rows.push((
            names.value(sensors.keys().value(row) as usize).to_owned(),
            lanes.as_primitive::<UInt8Type>().value(row),
            stadtpuls_processing::time::to_rfc3339(
                ts.as_primitive::<TimestampMillisecondType>().value(row),
            ),
            counts.as_primitive::<UInt32Type>().value(row),
            (!speed.is_null(row)).then(|| speed.value(row)),
        ));
    }
    assert_eq!(accepted, 2, "{rows:?}");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        (
            "nl-n457".to_owned(),
            1,
            "2025-08-15T21:48:00.000Z".to_owned(),
            0,
            None
        )
    );
    let (sensor, lane, time, count, speed) = &rows[1];
    assert_eq!(
        (sensor.as_str(), *lane, time.as_str(), *count),
        ("nl-monica-5", 1, "2025-08-15T21:47:00.000Z", 14)
    );
    let speed = speed.expect("a speed");
    assert!((speed - 91_380.0 / 840.0).abs() < 1e-9, "{speed}");
    assert_eq!((speed * 100.0).round() / 100.0, 108.79, "NDW's index 8");
}
