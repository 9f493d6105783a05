//! The rule against DataFusion's own aggregate: same answers for runs, alternating keys,
//! nulls, filters and two keys; and it only replaces what it should.

use datafusion::arrow::array::{Float64Array, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::*;

/// `(city, date, value)` rows; each inner vec one batch.
type Rows = Vec<Vec<(Option<&'static str>, i32, Option<f64>)>>;

fn table(partitions: &[Rows]) -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new(CITY, DataType::Utf8, true),
        Field::new(DATE, DataType::Int32, false),
        Field::new("v", DataType::Float64, true),
    ]));
    let batches = partitions
        .iter()
        .map(|batches| {
            batches
                .iter()
                .map(|rows| {
                    let city: StringArray = rows.iter().map(|r| r.0).collect();
                    let date: Int32Array = rows.iter().map(|r| Some(r.1)).collect();
                    let value: Float64Array = rows.iter().map(|r| r.2).collect();
                    RecordBatch::try_new(
                        Arc::clone(&schema),
                        vec![Arc::new(city), Arc::new(date), Arc::new(value)],
                    )
                    .expect("batch")
                })
                .collect()
        })
        .collect();
    MemTable::try_new(schema, batches).expect("table")
}

fn session(rule: bool, partitions: &[Rows]) -> SessionContext {
    let config = SessionConfig::new().with_target_partitions(2);
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    if rule {
        builder = builder.with_physical_optimizer_rule(Arc::new(PartitionKeyAggregate));
    }
    let ctx = SessionContext::new_with_state(builder.build());
    ctx.register_table("t", Arc::new(table(partitions)))
        .expect("register");
    ctx
}

async fn text(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    pretty_format_batches(&batches).expect("format").to_string()
}

/// The query's answer and plan with the rule, and its answer without it.
async fn both(partitions: &[Rows], sql: &str) -> (String, String, String) {
    let with = session(true, partitions);
    let without = session(false, partitions);
    let plan = text(&with, &format!("EXPLAIN {sql}")).await;
    (text(&with, sql).await, text(&without, sql).await, plan)
}

/// Long runs (as partition columns give), a batch mixing two files' rows, nulls in the
/// key and the values, over two partitions.
fn runs() -> Vec<Rows> {
    let run = |city, date, n: usize| -> Vec<(Option<&'static str>, i32, Option<f64>)> {
        (0..n)
            .map(|i| (city, date, (i % 7 != 3).then_some(i as f64 / 4.0)))
            .collect()
    };
    let mixed = [run(Some("ulm"), 1, 40), run(Some("konstanz"), 1, 40)].concat();
    vec![
        // One group in three batches (longer, shorter, longer again), then others.
        vec![
            run(Some("ulm"), 1, 100),
            run(Some("ulm"), 1, 30),
            run(Some("ulm"), 1, 120),
            mixed,
            run(None, 2, 50),
        ],
        vec![run(Some("ulm"), 2, 64), run(Some("freiburg"), 1, 17)],
    ]
}

const AGGREGATES: &str = "count(*) AS n, count(v) AS values, sum(v) AS total, \
    avg(v) AS mean, min(v) AS low, max(v) AS high, count(*) FILTER (WHERE v > 5) AS above";

#[tokio::test]
async fn grouping_by_a_partition_column_answers_as_datafusion_does() {
    let sql = format!("SELECT city, {AGGREGATES} FROM t GROUP BY city ORDER BY city");
    let (with, without, plan) = both(&runs(), &sql).await;
    assert!(plan.contains("PartitionKeyAggregateExec"), "{plan}");
    assert_eq!(with, without);
    assert!(
        with.contains("konstanz") && with.contains("freiburg"),
        "{with}"
    );
}

#[tokio::test]
async fn two_partition_keys_answer_as_datafusion_does() {
    let sql =
        format!("SELECT city, date, {AGGREGATES} FROM t GROUP BY city, date ORDER BY city, date");
    let (with, without, plan) = both(&runs(), &sql).await;
    assert!(plan.contains("PartitionKeyAggregateExec"), "{plan}");
    assert_eq!(with, without);
}

/// `DISTINCT` is planned as two aggregates; the outer one, grouped by `city` over the
/// inner one's output (keys in hash order, not in runs), may be ours.
#[tokio::test]
async fn distinct_answers_as_datafusion_does() {
    let sql = "SELECT city, count(DISTINCT v) AS n FROM t GROUP BY city ORDER BY city";
    let (with, without, _) = both(&runs(), sql).await;
    assert_eq!(with, without);
}

/// Keys that change on every row take the row-by-row lookup, with the same answer.
#[tokio::test]
async fn alternating_keys_answer_as_datafusion_does() {
    let rows = (0..300)
        .map(|i| {
            let city = ["ulm", "konstanz", "freiburg"][i % 3];
            (Some(city), (i % 2) as i32, Some(i as f64))
        })
        .collect();
    let partitions = vec![vec![rows]];
    let sql = format!("SELECT city, {AGGREGATES} FROM t GROUP BY city ORDER BY city");
    let (with, without, plan) = both(&partitions, &sql).await;
    assert!(plan.contains("PartitionKeyAggregateExec"), "{plan}");
    assert_eq!(with, without);
}

/// Other keys, expressions of a partition column and ordered aggregates keep
/// DataFusion's own aggregate.
#[tokio::test]
async fn other_groupings_are_left_alone() {
    for sql in [
        "SELECT v, count(*) FROM t GROUP BY v ORDER BY v",
        "SELECT upper(city), count(*) FROM t GROUP BY upper(city) ORDER BY 1",
        "SELECT city, array_agg(v ORDER BY v) FROM t GROUP BY city ORDER BY city",
        "SELECT count(*) FROM t",
    ] {
        let (with, without, plan) = both(&runs(), sql).await;
        assert!(!plan.contains("PartitionKeyAggregateExec"), "{sql}: {plan}");
        assert_eq!(with, without, "{sql}");
    }
}

#[test]
fn one_value_is_every_row_the_same_value() {
    use datafusion::arrow::array::{Date32Array, LargeStringArray};
    let strings = |values: &[&str]| StringArray::from(values.to_vec());
    assert!(one_value(&strings(&["ulm", "ulm", "ulm"])));
    assert!(one_value(&strings(&["ulm"])));
    assert!(one_value(&strings(&[])));
    assert!(one_value(&strings(&["", ""])));
    assert!(!one_value(&strings(&["ulm", "ulm", "ulx"])));
    assert!(!one_value(&strings(&["ulm", "ul", "mulm"])));
    assert!(!one_value(&strings(&["ab", "ba", "ab"])));
    // A slice starts at a later offset.
    let sliced = strings(&["konstanz", "ulm", "ulm"]).slice(1, 2);
    assert!(one_value(&sliced));
    let sliced = strings(&["ulm", "ulm", "konstanz"]).slice(0, 2);
    assert!(one_value(&sliced));
    assert!(!one_value(&StringArray::from(vec![Some("ulm"), None])));
    assert!(one_value(&LargeStringArray::from(vec!["ulm", "ulm"])));
    assert!(one_value(&Date32Array::from(vec![20_417, 20_417])));
    assert!(!one_value(&Date32Array::from(vec![20_417, 20_418])));
    // Types it does not read are never "one value": the runs decide.
    assert!(!one_value(&Float64Array::from(vec![1.0, 1.0])));
}
