//! The SQL catalog: every table listed and described, Hive partitions read and pruned,
//! latest revisions, reference and live tables, and the domain functions.

mod sql_common;

use std::sync::Arc;

use serde_json::{Value, json};
use sql_common::{
    DAY1_8H, Fixture, OPEN_CITY, distinct, ids, write_partition, write_partition_with,
};
use stadtpuls_api::SqlError;
use stadtpuls_config::HistoryStream;
use stadtpuls_processing::window::parking::FacilityLive;

const TABLES: [&str; 18] = [
    "cities",
    "facilities",
    "live_parking",
    "live_traffic",
    "parking_15m",
    "parking_15m_latest",
    "parking_1m",
    "parking_1m_latest",
    "regions",
    "sensors",
    "traffic_15m",
    "traffic_15m_latest",
    "traffic_1m",
    "traffic_1m_latest",
    "traffic_lanes_15m",
    "traffic_lanes_15m_latest",
    "traffic_lanes_1m",
    "traffic_lanes_1m_latest",
];

#[tokio::test]
async fn show_tables_lists_every_configured_table() {
    let fixture = Fixture::new();
    let rows = fixture
        .rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")
        .await;
    assert_eq!(distinct(&rows, "table_name"), TABLES);
    let shown = fixture.rows("SHOW TABLES").await;
    let names = distinct(&shown, "table_name");
    for table in TABLES {
        assert!(
            names.iter().any(|n| n == table),
            "{table} missing from SHOW TABLES"
        );
    }
}

#[tokio::test]
async fn absent_tables_are_empty_with_their_columns() {
    let fixture = Fixture::new();
    // traffic_15m has no directory at all.
    assert!(!fixture.dir.path().join("traffic_15m").exists());
    let described = fixture.rows("DESCRIBE traffic_15m").await;
    let columns: Vec<&str> = described
        .iter()
        .filter_map(|r| r["column_name"].as_str())
        .collect();
    assert_eq!(
        &columns[..5],
        [
            "sensor_id",
            "window_start",
            "window_end",
            "window_s",
            "revision"
        ]
    );
    assert!(columns.contains(&"traffic_state"));
    assert_eq!(&columns[columns.len() - 2..], ["city", "date"]);
    let count = fixture.rows("SELECT count(*) AS n FROM traffic_15m").await;
    assert_eq!(count, [json!({"n": 0})]);
    let lanes = fixture.rows("SELECT * FROM traffic_lanes_1m_latest").await;
    assert!(lanes.is_empty());
}

#[tokio::test]
async fn history_is_read_by_city_and_date_partitions() {
    let fixture = Fixture::new();
    let rows = fixture
        .rows("SELECT city, CAST(date AS VARCHAR) AS day, count(*) AS n, sum(vehicles) AS vehicles FROM traffic_1m GROUP BY city, date ORDER BY city, day")
        .await;
    assert_eq!(
        rows,
        [
            json!({"city": OPEN_CITY, "day": "2026-11-25", "n": 2, "vehicles": 30}),
            json!({"city": "heidelberg", "day": "2026-11-25", "n": 2, "vehicles": 30}),
            json!({"city": "karlsruhe", "day": "2026-11-25", "n": 2, "vehicles": 30}),
            // day 1: two windows plus the re-emission of the second (revision 1)
            json!({"city": "ulm", "day": "2026-11-25", "n": 3, "vehicles": 55}),
            json!({"city": "ulm", "day": "2026-11-26", "n": 2, "vehicles": 30}),
        ]
    );
    // Grouped by partition columns only: one key lookup per run of equal keys.
    let plan = fixture
        .rows("EXPLAIN SELECT city, date, count(*) AS n FROM traffic_1m GROUP BY city, date")
        .await;
    assert!(
        plan.iter()
            .filter_map(|row| row["plan"].as_str())
            .any(|text| text.contains("PartitionKeyAggregateExec")),
        "{plan:?}"
    );
}

#[tokio::test]
async fn filters_on_city_and_date_prune_partitions() {
    let fixture = Fixture::new();
    // A file that is not Parquet in another city's partition: only a query that has to
    // open it fails, so a query that succeeds never touched it.
    let broken = fixture
        .dir
        .path()
        .join("traffic_1m/city=freiburg/date=2026-11-25");
    std::fs::create_dir_all(&broken).expect("dir");
    std::fs::write(
        broken.join("part-x-0-e000000000001-0000.parquet"),
        b"not parquet",
    )
    .expect("write");
    let also_broken = fixture
        .dir
        .path()
        .join("traffic_1m/city=ulm/date=2026-11-20");
    std::fs::create_dir_all(&also_broken).expect("dir");
    std::fs::write(
        also_broken.join("part-x-0-e000000000001-0000.parquet"),
        b"not parquet",
    )
    .expect("write");

    let ulm_day1 = fixture
        .rows("SELECT count(*) AS n FROM traffic_1m WHERE city = 'ulm' AND date = '2026-11-25'")
        .await;
    assert_eq!(ulm_day1, [json!({"n": 3})]);
    let recent = fixture
        .rows("SELECT count(*) AS n FROM traffic_1m WHERE date >= DATE '2026-11-25' AND city IN ('ulm', 'karlsruhe')")
        .await;
    assert_eq!(recent, [json!({"n": 7})]);
    let everything = fixture.query("SELECT sum(vehicles) FROM traffic_1m").await;
    assert!(
        matches!(everything, Err(SqlError::Internal(_))),
        "{everything:?}"
    );
}

#[tokio::test]
async fn latest_views_keep_the_highest_revision_of_each_window() {
    let fixture = Fixture::new();
    let (sensor, _) = ids(&fixture.registries, "ulm");
    let rows = fixture
        .rows("SELECT sensor_id, window_start, revision, vehicles FROM traffic_1m_latest WHERE city = 'ulm' AND date = '2026-11-25' ORDER BY window_start")
        .await;
    assert_eq!(
        rows,
        [
            json!({"sensor_id": sensor, "window_start": "2026-11-25T08:00:00Z", "revision": 0, "vehicles": 10}),
            json!({"sensor_id": sensor, "window_start": "2026-11-25T08:01:00Z", "revision": 1, "vehicles": 25}),
        ]
    );
    // The documented QUALIFY form gives the same rows.
    let qualified = fixture
        .rows("SELECT sensor_id, window_start, revision, vehicles FROM traffic_1m WHERE city = 'ulm' AND date = '2026-11-25' QUALIFY ROW_NUMBER() OVER (PARTITION BY city, sensor_id, window_start ORDER BY revision DESC) = 1 ORDER BY window_start")
        .await;
    assert_eq!(qualified, rows);
}

#[tokio::test]
async fn reference_tables_come_from_the_registries() {
    let fixture = Fixture::new();
    let cities = fixture
        .rows("SELECT city, name, lat, lon, open_data FROM cities ORDER BY city")
        .await;
    assert_eq!(cities.len(), 9);
    let ulm = cities.iter().find(|c| c["city"] == "ulm").expect("ulm");
    assert_eq!(ulm["lat"], json!(48.3984));
    assert_eq!(ulm["open_data"], json!(false));
    let open: Vec<&Value> = cities
        .iter()
        .filter(|c| c["open_data"] == json!(true))
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["city"], OPEN_CITY);

    let registry = fixture
        .registries
        .iter()
        .find(|r| r.city.id == "ulm")
        .expect("ulm");
    let sensors = fixture
        .rows("SELECT count(*) AS n FROM sensors WHERE city = 'ulm'")
        .await;
    assert_eq!(sensors, [json!({"n": registry.sensors.len()})]);
    let facilities = fixture
        .rows("SELECT f.facility_id, f.capacity, f.lat, s.kind FROM facilities f JOIN sensors s ON s.city = f.city AND s.sensor_id = f.facility_id WHERE f.city = 'ulm' ORDER BY f.facility_id")
        .await;
    assert_eq!(facilities.len(), registry.facilities().count());
    assert!(
        facilities
            .iter()
            .all(|f| f["kind"] == "parking_facility" && f["lat"].is_f64())
    );
}

#[tokio::test]
async fn live_tables_snapshot_the_live_view() {
    let fixture = Fixture::new();
    let empty = fixture.rows("SELECT * FROM live_parking").await;
    assert!(empty.is_empty());
    let (_, facility) = ids(&fixture.registries, "ulm");
    let now = chrono::Utc::now().timestamp_millis();
    fixture
        .live
        .set_facility("ulm", &facility, FacilityLive::new(30, Some(100), now));
    fixture.live.set_facility(
        "karlsruhe",
        "ka-old",
        FacilityLive::new(1, None, now - 86_400_000),
    );
    let rows = fixture
        .rows("SELECT city, facility_id, free, total, occupied, occupancy_pct, stale FROM live_parking ORDER BY city")
        .await;
    assert_eq!(
        rows,
        [
            json!({"city": "karlsruhe", "facility_id": "ka-old", "free": 1, "total": null, "occupied": null, "occupancy_pct": null, "stale": true}),
            json!({"city": "ulm", "facility_id": facility, "free": 30, "total": 100, "occupied": 70, "occupancy_pct": 70.0, "stale": false}),
        ]
    );
    let traffic = fixture.rows("SELECT count(*) AS n FROM live_traffic").await;
    assert_eq!(traffic, [json!({"n": 0})]);
}

#[tokio::test]
async fn domain_functions_follow_their_formulas() {
    let fixture = Fixture::new();
    let rows = fixture
        .rows("SELECT round(haversine_m(48.0, 9.0, 49.0, 9.0), 2) AS one_degree, los(40, 60) AS c, los(90.0, 100.0) AS a, los(10, 0) AS none, flow_veh_h(20, 60) AS q, flow_veh_h(5, 0) AS no_q")
        .await;
    assert_eq!(
        rows,
        [
            json!({"one_degree": 111195.08, "c": "C", "a": "A", "none": null, "q": 1200.0, "no_q": null})
        ]
    );
    // Over columns: nearest facilities to ulm's centre, and re-bucketing with date_bin.
    let nearest = fixture
        .rows("SELECT f.facility_id, haversine_m(c.lat, c.lon, f.lat, f.lon) AS m FROM facilities f JOIN cities c USING (city) WHERE f.city = 'ulm' ORDER BY m LIMIT 3")
        .await;
    assert_eq!(nearest.len(), 3);
    assert!(
        nearest
            .windows(2)
            .all(|w| w[0]["m"].as_f64() <= w[1]["m"].as_f64())
    );
    let rebucketed = fixture
        .rows("SELECT date_bin(INTERVAL '15 minutes', window_start) AS bucket, flow_veh_h(sum(vehicles), 900) AS q, los(avg(speed_space_mean_kmh), 50) AS grade FROM traffic_1m_latest WHERE city = 'karlsruhe' GROUP BY 1")
        .await;
    assert_eq!(
        rebucketed,
        [json!({"bucket": "2026-11-25T08:00:00Z", "q": 120.0, "grade": "F"})]
    );
}

#[tokio::test]
async fn a_partition_written_later_is_seen_by_the_next_query() {
    let fixture = Fixture::new();
    let before = fixture.rows("SELECT count(*) AS n FROM parking_15m").await;
    assert_eq!(before, [json!({"n": 0})]);
    let (_, facility) = ids(&fixture.registries, "ulm");
    write_partition(
        fixture.dir.path(),
        "parking_15m",
        HistoryStream::Parking,
        "ulm",
        "2026-11-25",
        "part-p-0-e000000000001-0000.parquet",
        &[sql_common::Row {
            entity: &facility,
            start_ms: DAY1_8H,
            revision: 0,
            value: 7.0,
        }],
    );
    let after = fixture.rows("SELECT city, free FROM parking_15m").await;
    assert_eq!(after, [json!({"city": "ulm", "free": 7})]);
}

/// Compacted files record their order (sensor, window start) in the footer; the scan
/// claims none, so a large aggregate is not planned as a partially sorted one with merging
/// repartitions (twice as slow on the SQL benchmark), and queries that want an order still
/// get it sorted.
#[tokio::test]
async fn compacted_files_give_the_planner_no_order_but_results_sort() {
    use datafusion::parquet::file::metadata::SortingColumn;
    use datafusion::parquet::file::properties::WriterProperties;
    let fixture = Fixture::new();
    let sorted = || {
        let column = |column_idx| SortingColumn {
            column_idx,
            descending: false,
            nulls_first: false,
        };
        // sensor_id and window_start are the first two file columns.
        let properties = WriterProperties::builder()
            .set_sorting_columns(Some(vec![column(0), column(1)]))
            .build();
        Some(properties)
    };
    let (ulm, _) = ids(&fixture.registries, "ulm");
    let (karlsruhe, _) = ids(&fixture.registries, "karlsruhe");
    for (city, sensor) in [("ulm", &ulm), ("karlsruhe", &karlsruhe)] {
        let rows: Vec<sql_common::Row<'_>> = (0..3)
            .map(|minute| sql_common::Row {
                entity: sensor,
                start_ms: DAY1_8H + minute * 60_000,
                revision: 0,
                value: minute as f64,
            })
            .collect();
        write_partition_with(
            fixture.dir.path(),
            "traffic_15m",
            HistoryStream::Traffic,
            [city, "2026-11-25", "part-c-0-e000000000001-0000.parquet"],
            &rows,
            sorted(),
        );
    }
    let plan = fixture
        .rows("EXPLAIN SELECT city, sensor_id, count(*) AS n FROM traffic_15m GROUP BY city, sensor_id")
        .await;
    let text = plan
        .iter()
        .filter_map(|row| row["plan"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("DataSourceExec"), "{text}");
    for ordered in ["output_ordering", "Sorted", "preserve_order=true"] {
        assert!(!text.contains(ordered), "{ordered} in {text}");
    }
    let rows = fixture
        .rows(
            "SELECT city, vehicles FROM traffic_15m ORDER BY city DESC, window_start DESC LIMIT 2",
        )
        .await;
    assert_eq!(
        rows,
        [
            json!({"city": "ulm", "vehicles": 2}),
            json!({"city": "ulm", "vehicles": 1})
        ]
    );
}

/// A history file written before a column was added (here `opening_status`, added after
/// the first release) reads that column as null beside files that have it: the table's
/// schema is the contract's, and a file missing a nullable column of it is filled in.
#[tokio::test]
async fn a_parking_file_without_a_later_column_reads_it_as_null() {
    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
    use datafusion::parquet::arrow::ArrowWriter;
    let fixture = Fixture::new();
    let (_, facility) = ids(&fixture.registries, "ulm");
    let row = |start_ms| sql_common::Row {
        entity: &facility,
        start_ms,
        revision: 0,
        value: 0.0,
    };
    let write = |date: &str, batch: &RecordBatch| {
        let partition = fixture
            .dir
            .path()
            .join("parking_1m/city=ulm")
            .join(format!("date={date}"));
        std::fs::create_dir_all(&partition).expect("partition dir");
        let file = std::fs::File::create(partition.join("part-p-0-e000000000009-0000.parquet"))
            .expect("file");
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        writer.write(batch).expect("write");
        writer.close().expect("close");
    };
    let new = sql_common::history_batch(HistoryStream::Parking, &[row(DAY1_8H + 86_400_000)]);
    let opening = new.schema().index_of("opening_status").expect("the column");
    let mut columns = new.columns().to_vec();
    columns[opening] = Arc::new(StringArray::from(vec!["closed"])) as ArrayRef;
    write(
        "2026-11-26",
        &RecordBatch::try_new(new.schema(), columns).expect("batch"),
    );
    let old_batch =
        sql_common::history_batch(HistoryStream::Parking, &[row(DAY1_8H + 172_800_000)]);
    let kept: Vec<usize> = (0..old_batch.num_columns())
        .filter(|i| *i != opening)
        .collect();
    write(
        "2026-11-27",
        &old_batch.project(&kept).expect("the old layout"),
    );
    let rows = fixture
        .rows(
            "SELECT CAST(date AS VARCHAR) AS date, opening_status FROM parking_1m \
             WHERE city = 'ulm' ORDER BY date",
        )
        .await;
    assert_eq!(
        rows,
        [
            json!({"date": "2026-11-25", "opening_status": null}),
            json!({"date": "2026-11-26", "opening_status": "closed"}),
            json!({"date": "2026-11-27", "opening_status": null}),
        ]
    );
}

/// The engine keeps every file's footer between queries (`sql/tuning.rs`): a file
/// replaced under the same name is read afresh, not answered from the old footer.
#[tokio::test]
async fn a_file_replaced_under_its_name_is_read_afresh() {
    let fixture = Fixture::new();
    let sql = "SELECT count(*) AS n, sum(vehicles) AS v FROM traffic_1m WHERE city = 'karlsruhe'";
    assert_eq!(fixture.rows(sql).await, [json!({"n": 2, "v": 30})]);
    let (sensor, _) = ids(&fixture.registries, "karlsruhe");
    let rows: Vec<sql_common::Row<'_>> = (0..3)
        .map(|minute| sql_common::Row {
            entity: &sensor,
            start_ms: DAY1_8H + minute * 60_000,
            revision: 0,
            value: 5.0,
        })
        .collect();
    write_partition(
        fixture.dir.path(),
        "traffic_1m",
        HistoryStream::Traffic,
        "karlsruhe",
        "2026-11-25",
        "part-a-0-e000000000001-0000.parquet",
        &rows,
    );
    assert_eq!(fixture.rows(sql).await, [json!({"n": 3, "v": 15})]);
}

/// One `raw_messages` file as the history sink lays it out: two messages of ulm's traffic
/// topic, one of them not JSON (the archive keeps what was read).
fn write_raw(dir: &std::path::Path) {
    use datafusion::arrow::array::{
        ArrayRef, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
        TimestampMillisecondArray,
    };
    use datafusion::parquet::arrow::ArrowWriter;
    use std::sync::Arc;

    let schema = stadtpuls_api::sql::schema::raw_file_schema().expect("raw schema");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["sensors.ulm.traffic"; 2])),
        Arc::new(Int32Array::from(vec![0, 0])),
        Arc::new(Int64Array::from(vec![7, 8])),
        Arc::new(BinaryArray::from(vec![Some(&b"ul-1"[..]), None])),
        Arc::new(BinaryArray::from(vec![
            &b"{\"sensor_id\":\"ul-1\"}"[..],
            b"not json",
        ])),
        Arc::new(TimestampMillisecondArray::from(vec![DAY1_8H; 2]).with_timezone("UTC")),
    ];
    let batch = RecordBatch::try_new(schema, columns).expect("batch");
    let partition = dir.join("raw_messages/city=ulm/date=2026-11-25");
    std::fs::create_dir_all(&partition).expect("partition dir");
    let file =
        std::fs::File::create(partition.join("part-r-0-e000000000001-0000.parquet")).expect("file");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

#[tokio::test]
async fn the_raw_archive_is_a_table_when_it_is_on() {
    let off = Fixture::new();
    let tables = distinct(&off.rows("SHOW TABLES").await, "table_name");
    assert!(!tables.iter().any(|t| t == "raw_messages"), "{tables:?}");

    let fixture = Fixture::with(|config| config.history.archive_raw = true);
    let empty = fixture.rows("SELECT count(*) AS n FROM raw_messages").await;
    assert_eq!(empty, [json!({"n": 0})], "no archive written yet");
    write_raw(fixture.dir.path());
    let rows = fixture
        .rows(
            "SELECT city, topic, \"offset\", CAST(key AS VARCHAR) AS key, \
             CAST(payload AS VARCHAR) AS payload FROM raw_messages ORDER BY \"offset\"",
        )
        .await;
    assert_eq!(
        rows,
        [
            json!({"city": "ulm", "topic": "sensors.ulm.traffic", "offset": 7, "key": "ul-1",
                   "payload": "{\"sensor_id\":\"ul-1\"}"}),
            json!({"city": "ulm", "topic": "sensors.ulm.traffic", "offset": 8, "key": null,
                   "payload": "not json"}),
        ]
    );
}
