//! Per-city access, enforced below SQL: a key for ulm sees only ulm's rows (and the open
//! city's) in every table, whatever the query does — joins, subqueries, CTEs, unions,
//! aggregates answered from metadata.

mod sql_common;

use serde_json::json;
use sql_common::{ADMIN_KEY, Fixture, HEIDELBERG_KEY, OPEN_CITY, ULM_KEY, distinct};
use stadtpuls_api::SqlError;
use stadtpuls_api::sql::{Access, Scope};
use stadtpuls_config::DataKind;
use stadtpuls_processing::window::parking::FacilityLive;

/// Every table and view with a `city` column.
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

fn fixture_with_live() -> Fixture {
    let fixture = Fixture::new();
    let now = chrono::Utc::now().timestamp_millis();
    for city in ["ulm", "karlsruhe", OPEN_CITY] {
        fixture.live.set_facility(
            city,
            &format!("{city}-p"),
            FacilityLive::new(3, Some(10), now),
        );
    }
    fixture
}

#[tokio::test]
async fn unknown_keys_are_refused() {
    let fixture = Fixture::new();
    let result = fixture.query_as("guess", "SELECT 1").await;
    assert!(matches!(result, Err(SqlError::Unauthorized)), "{result:?}");
    let result = fixture.query_as("", "SELECT 1").await;
    assert!(matches!(result, Err(SqlError::Unauthorized)), "{result:?}");
}

#[tokio::test]
async fn a_city_key_sees_only_its_city_and_open_data_in_every_table() {
    let fixture = fixture_with_live();
    for table in TABLES {
        let rows = fixture
            .rows_as(ULM_KEY, &format!("SELECT DISTINCT city FROM {table}"))
            .await;
        for city in distinct(&rows, "city") {
            assert!(
                city == "ulm" || city == OPEN_CITY,
                "{table} showed {city} to ulm"
            );
        }
    }
    for table in [
        "cities",
        "regions",
        "sensors",
        "facilities",
        "traffic_1m",
        "traffic_1m_latest",
        "live_parking",
    ] {
        let rows = fixture
            .rows_as(ULM_KEY, &format!("SELECT city FROM {table}"))
            .await;
        assert_eq!(distinct(&rows, "city"), [OPEN_CITY, "ulm"], "{table}");
    }
    // Parking history has no ettlingen rows: ulm only.
    let parking = fixture
        .rows_as(ULM_KEY, "SELECT city FROM parking_1m")
        .await;
    assert_eq!(distinct(&parking, "city"), ["ulm"]);
    let heidelberg = fixture
        .rows_as(HEIDELBERG_KEY, "SELECT city FROM traffic_1m")
        .await;
    assert_eq!(distinct(&heidelberg, "city"), [OPEN_CITY, "heidelberg"]);
    let admin = fixture
        .rows_as(ADMIN_KEY, "SELECT city FROM traffic_1m")
        .await;
    assert_eq!(
        distinct(&admin, "city"),
        [OPEN_CITY, "heidelberg", "karlsruhe", "ulm"]
    );
}

#[tokio::test]
async fn asking_for_another_city_finds_nothing() {
    let fixture = fixture_with_live();
    for sql in [
        "SELECT * FROM traffic_1m WHERE city = 'karlsruhe'",
        "SELECT * FROM traffic_1m WHERE city <> 'ulm' AND city <> 'ettlingen'",
        "SELECT * FROM sensors WHERE city = 'karlsruhe'",
        "SELECT * FROM cities WHERE city = 'karlsruhe'",
        "SELECT * FROM live_parking WHERE city = 'karlsruhe'",
        "SELECT * FROM parking_1m_latest WHERE city = 'karlsruhe' AND date = '2026-11-25'",
    ] {
        assert!(fixture.rows_as(ULM_KEY, sql).await.is_empty(), "{sql}");
    }
}

#[tokio::test]
async fn aggregates_count_only_visible_rows() {
    let fixture = Fixture::new();
    // ulm: 5 rows over two days, ettlingen (open): 2; the files hold 11 rows in all.
    let count = fixture
        .rows_as(ULM_KEY, "SELECT count(*) AS n FROM traffic_1m")
        .await;
    assert_eq!(count, [json!({"n": 7})]);
    let all = fixture
        .rows_as(ADMIN_KEY, "SELECT count(*) AS n FROM traffic_1m")
        .await;
    assert_eq!(all, [json!({"n": 11})]);
    let cities = fixture
        .rows_as(ULM_KEY, "SELECT count(*) AS n FROM cities")
        .await;
    assert_eq!(cities, [json!({"n": 2})]);
}

#[tokio::test]
async fn joins_subqueries_ctes_and_unions_stay_within_the_city() {
    let fixture = fixture_with_live();
    let cases = [
        "SELECT t.city FROM traffic_1m t JOIN sensors s ON s.city = t.city AND s.sensor_id = t.sensor_id",
        "SELECT s.city FROM sensors s LEFT JOIN traffic_1m t ON t.sensor_id = s.sensor_id",
        "SELECT c.city FROM cities c CROSS JOIN facilities f",
        "SELECT city FROM cities WHERE city IN (SELECT city FROM sensors)",
        "SELECT city FROM cities c WHERE EXISTS (SELECT 1 FROM traffic_1m t WHERE t.city = c.city)",
        "WITH everything AS (SELECT city FROM traffic_1m UNION ALL SELECT city FROM parking_1m) SELECT city FROM everything",
        "SELECT city FROM live_parking UNION SELECT city FROM sensors",
        "SELECT city FROM (SELECT city, ROW_NUMBER() OVER (ORDER BY city) AS n FROM sensors) WHERE n < 100000",
        "SELECT city FROM (SELECT * FROM traffic_1m_latest) AS latest",
    ];
    for sql in cases {
        let rows = fixture.rows_as(ULM_KEY, sql).await;
        assert!(!rows.is_empty(), "{sql}: no rows at all");
        for city in distinct(&rows, "city") {
            assert!(city == "ulm" || city == OPEN_CITY, "{sql}: showed {city}");
        }
    }
    let scalar = fixture
        .rows_as(
            ULM_KEY,
            "SELECT (SELECT count(*) FROM sensors WHERE city = 'karlsruhe') AS n",
        )
        .await;
    assert_eq!(scalar, [json!({"n": 0})]);
}

#[tokio::test]
async fn the_demo_keys_printed_by_the_demo_authenticate() {
    let config = stadtpuls_config::Config::demo(&Default::default()).expect("demo");
    let registries = config.load_registries().expect("registries");
    let engine = stadtpuls_api::SqlEngine::new(&config, &registries, None).expect("engine");
    let all = engine
        .authenticate(stadtpuls_config::DEMO_SQL_KEY)
        .expect("demo key");
    assert_eq!(all.access(Scope::City), &Access::All);
    let ulm = engine
        .authenticate(stadtpuls_config::DEMO_SQL_ULM_KEY)
        .expect("ulm key");
    let cities = ulm.access(Scope::City);
    assert!(cities.allows("ulm") && cities.allows("ettlingen"));
    // The demo's other cities publish their parking openly and keep their traffic.
    assert!(cities.allows("karlsruhe"));
    assert!(
        ulm.access(Scope::Kind(DataKind::Parking))
            .allows("karlsruhe")
    );
    assert!(
        !ulm.access(Scope::Kind(DataKind::Traffic))
            .allows("karlsruhe")
    );
    assert!(!ulm.access(Scope::EveryKind).allows("karlsruhe"));
}
