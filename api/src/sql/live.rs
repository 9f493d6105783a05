//! `live_traffic` and `live_parking`: the pipeline's live view as tables, snapshotted
//! when a query scans them (so a query sees one consistent moment per table, and the
//! pipeline's lock is held only while the rows are copied).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt8Array, UInt32Array, UInt64Array, new_null_array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use stadtpuls_processing::live::{LiveState, TrafficWindowRow, Value, traffic_measure_index};
use stadtpuls_processing::model::contract::{self, WINDOW_S, traffic::out};

use super::schema;

/// Which part of the live view a table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveKind {
    /// Every retained closed traffic window of every sensor and window family.
    Traffic,
    /// The current level of every facility that reported.
    Parking,
}

/// Wall clock in epoch ms, for staleness.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A live table; empty when the engine has no live view (the CLI).
pub struct LiveTable {
    kind: LiveKind,
    live: Option<Arc<LiveState>>,
    stale_after_ms: i64,
    now_ms: Clock,
    schema: SchemaRef,
}

impl std::fmt::Debug for LiveTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTable")
            .field("kind", &self.kind)
            .finish()
    }
}

impl LiveTable {
    /// A table of `kind` over `live`.
    pub fn new(
        kind: LiveKind,
        live: Option<Arc<LiveState>>,
        stale_after_ms: i64,
        now_ms: Clock,
    ) -> Self {
        let schema = match kind {
            LiveKind::Traffic => traffic_schema(),
            LiveKind::Parking => parking_schema(),
        };
        Self {
            kind,
            live,
            stale_after_ms,
            now_ms,
            schema,
        }
    }

    fn snapshot(&self) -> std::result::Result<RecordBatch, DataFusionError> {
        let Some(live) = &self.live else {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        };
        let columns = match self.kind {
            LiveKind::Traffic => traffic_columns(live),
            LiveKind::Parking => parking_columns(live, (self.now_ms)(), self.stale_after_ms),
        };
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// One row of `live_traffic`: city, (window size, slide) and sensor of a retained window.
type TrafficRow = (String, (u32, u32), String, TrafficWindowRow);

/// What a `live_traffic` column is filled from.
#[derive(Debug, Clone, Copy)]
enum Source {
    City,
    Sensor,
    WindowS,
    SlideS,
    Start,
    End,
    /// The live row's measure at this index of `traffic_measures()`.
    Measure(usize),
}

/// The columns of `live_traffic`: the contract's traffic window columns the live view
/// carries — the row's city, sensor and interval and every measure
/// (`stadtpuls_processing::live::traffic_measures`) —, in the contract's order, with
/// `window_s` and `slide_s` after the sensor id. Names, types, nullability and order come
/// from the contract; no column is named here but the row's identity.
fn traffic_layout() -> Vec<(Field, Source)> {
    let mut layout = Vec::new();
    for column in contract::traffic::AGGREGATE
        .iter()
        .chain(contract::traffic::CLASSIFIER)
    {
        let source = match column.name {
            out::CITY => Source::City,
            out::SENSOR_ID => Source::Sensor,
            out::WINDOW_START => Source::Start,
            out::WINDOW_END => Source::End,
            name => match traffic_measure_index(name) {
                Some(index) => Source::Measure(index),
                None => continue,
            },
        };
        let field = Field::new(column.name, schema::kind_type(column.kind), column.nullable);
        layout.push((field, source));
        if column.name == out::SENSOR_ID {
            layout.push((
                Field::new(WINDOW_S, DataType::UInt32, false),
                Source::WindowS,
            ));
            layout.push((Field::new(SLIDE_S, DataType::UInt32, false), Source::SlideS));
        }
    }
    layout
}

fn traffic_schema() -> SchemaRef {
    Arc::new(Schema::new(
        traffic_layout()
            .into_iter()
            .map(|(field, _)| field)
            .collect::<Vec<_>>(),
    ))
}

/// `live_traffic` column: distance between window starts, seconds.
const SLIDE_S: &str = "slide_s";

/// The array of one `live_traffic` column over `rows`, built by the field's type.
fn traffic_array(field: &Field, source: Source, rows: &[TrafficRow]) -> ArrayRef {
    let texts = |get: &dyn Fn(&TrafficRow) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(get).collect::<StringArray>())
    };
    match source {
        Source::City => return texts(&|(c, _, _, _)| Some(c.as_str())),
        Source::Sensor => return texts(&|(_, _, s, _)| Some(s.as_str())),
        Source::WindowS => {
            return Arc::new(rows.iter().map(|(_, f, _, _)| f.0).collect::<UInt32Array>());
        }
        Source::SlideS => {
            return Arc::new(rows.iter().map(|(_, f, _, _)| f.1).collect::<UInt32Array>());
        }
        Source::Start | Source::End | Source::Measure(_) => {}
    }
    let value = |row: &TrafficWindowRow| -> Value {
        match source {
            Source::Start => Value::Time(row.window_start),
            Source::End => Value::Time(row.window_end),
            Source::Measure(i) => row.values().get(i).cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    };
    let values = rows.iter().map(|(_, _, _, row)| value(row));
    match field.data_type() {
        DataType::Utf8 => Arc::new(
            rows.iter()
                .map(|(_, _, _, row)| match source {
                    Source::Measure(i) => row.values().get(i).and_then(Value::as_text),
                    _ => None,
                })
                .collect::<StringArray>(),
        ),
        DataType::UInt8 => Arc::new(
            values
                .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect::<UInt8Array>(),
        ),
        DataType::UInt32 => Arc::new(
            values
                .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect::<UInt32Array>(),
        ),
        DataType::UInt64 => Arc::new(values.map(|v| v.as_u64()).collect::<UInt64Array>()),
        DataType::Float64 => Arc::new(values.map(|v| v.as_f64()).collect::<Float64Array>()),
        DataType::Boolean => Arc::new(values.map(|v| v.as_bool()).collect::<BooleanArray>()),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Arc::new(
            values
                .map(|v| v.as_time())
                .collect::<TimestampMillisecondArray>()
                .with_timezone("UTC"),
        ),
        other => new_null_array(other, rows.len()),
    }
}

fn parking_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("city", DataType::Utf8, false),
        Field::new("facility_id", DataType::Utf8, false),
        Field::new("free", DataType::UInt32, false),
        Field::new("total", DataType::UInt32, true),
        Field::new("occupied", DataType::UInt32, true),
        Field::new("occupancy_pct", DataType::Float64, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("trend", DataType::Utf8, true),
        Field::new("trend_pct_per_h", DataType::Float64, true),
        Field::new("updated_at", timestamp(), false),
        Field::new("stale", DataType::Boolean, false),
        Field::new("opening_status", DataType::Utf8, true),
    ]))
}

fn traffic_columns(live: &LiveState) -> Vec<ArrayRef> {
    let mut rows: Vec<TrafficRow> = Vec::new();
    for city in live.city_ids() {
        for (family, sensor, row) in live.traffic_windows(&city) {
            rows.push((city.clone(), family, sensor, row));
        }
    }
    traffic_layout()
        .iter()
        .map(|(field, source)| traffic_array(field, *source, &rows))
        .collect()
}

fn parking_columns(live: &LiveState, now_ms: i64, stale_after_ms: i64) -> Vec<ArrayRef> {
    let mut rows = Vec::new();
    for city in live.city_ids() {
        for (facility, level) in live.facilities(&city) {
            rows.push((city.clone(), facility, level));
        }
    }
    vec![
        Arc::new(
            rows.iter()
                .map(|(c, _, _)| Some(c.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, f, _)| Some(f.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(rows.iter().map(|(_, _, l)| l.free).collect::<UInt32Array>()),
        Arc::new(
            rows.iter()
                .map(|(_, _, l)| l.total)
                .collect::<UInt32Array>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, _, l)| l.occupied)
                .collect::<UInt32Array>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, _, l)| l.occupancy_pct)
                .collect::<Float64Array>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, _, l)| l.status.map(|s| s.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, _, l)| l.trend.map(|t| t.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, _, l)| l.trend_pct_per_h)
                .collect::<Float64Array>(),
        ),
        Arc::new(
            TimestampMillisecondArray::from(
                rows.iter()
                    .map(|(_, _, l)| l.updated_at)
                    .collect::<Vec<i64>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, _, l)| Some(l.is_stale(now_ms, stale_after_ms)))
                .collect::<BooleanArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, _, l)| l.opening.map(|o| o.as_str()))
                .collect::<StringArray>(),
        ),
    ]
}

#[async_trait]
impl TableProvider for LiveTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.snapshot()?;
        let exec = MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?;
        Ok(exec)
    }
}
