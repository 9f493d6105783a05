//! `docs/sql.md` stays true: every table and column the engine serves is documented, and
//! every SQL example in it runs.

mod sql_common;

use sql_common::{Fixture, distinct};

const DOC: &str = include_str!("../../docs/sql.md");

/// The column names in the first table of the section starting at `heading`.
fn documented_columns(heading: &str) -> Vec<String> {
    let start = DOC
        .find(heading)
        .unwrap_or_else(|| panic!("no section `{heading}` in docs/sql.md"));
    DOC[start..]
        .lines()
        .skip_while(|line| !line.starts_with("| column |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(1))
        .map(|cell| cell.trim().trim_matches('`').to_owned())
        .collect()
}

#[tokio::test]
async fn every_table_and_column_is_documented() {
    let fixture = Fixture::with(|config| config.history.archive_raw = true);
    let sections = [
        ("raw_messages", "### Raw archive: `raw_messages`"),
        ("traffic_1m", "#### `traffic_<window>`"),
        ("traffic_lanes_1m", "#### `traffic_lanes_<window>`"),
        ("parking_1m", "#### `parking_<window>`"),
        ("cities", "`cities`:"),
        ("sensors", "`sensors` (every"),
        ("facilities", "`facilities`:"),
        ("regions", "`regions` (one row"),
        ("live_traffic", "`live_traffic` ("),
        ("live_parking", "`live_parking` ("),
    ];
    for (table, heading) in sections {
        let described = fixture.rows(&format!("DESCRIBE {table}")).await;
        let columns: Vec<String> = described
            .iter()
            .filter_map(|row| row["column_name"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(documented_columns(heading), columns, "{table}");
    }
    let tables = fixture
        .rows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        .await;
    for table in distinct(&tables, "table_name") {
        let family = ["traffic_lanes_", "traffic_", "parking_"]
            .iter()
            .find(|prefix| table.starts_with(*prefix))
            .map(|prefix| format!("`{prefix}<window>`"));
        let named = family.unwrap_or_else(|| format!("`{table}`"));
        assert!(DOC.contains(&named), "{table} is not documented");
    }
}

#[tokio::test]
async fn every_example_runs() {
    let fixture = Fixture::with(|config| config.history.archive_raw = true);
    let mut examples = 0;
    let mut rest = DOC;
    while let Some(start) = rest.find("```sql\n") {
        let body = &rest[start + 7..];
        let end = body.find("```").expect("closed block");
        for statement in body[..end].split("\n\n") {
            let sql: String = statement
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            if sql.trim().is_empty() {
                continue;
            }
            if let Err(error) = fixture.query(&sql).await {
                panic!("docs/sql.md example fails:\n{sql}\n{error}");
            }
            examples += 1;
        }
        rest = &body[end + 3..];
    }
    assert!(examples >= 7, "only {examples} examples found");
}
