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
use stadtpuls_processing::live::{LiveState, TrafficWindowRow};
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

/// The columns of `live_traffic`: the contract's traffic window columns the live view
/// carries ([`traffic_column`] has a value for), in the contract's order, with `window_s`
/// and `slide_s` after the sensor id. Types, nullability and order come from the contract.
fn traffic_fields() -> Vec<Field> {
    let mut fields = Vec::new();
    for column in contract::traffic::AGGREGATE
        .iter()
        .chain(contract::traffic::CLASSIFIER)
    {
        if traffic_column(column.name, &[]).is_none() {
            continue;
        }
        fields.push(Field::new(
            column.name,
            schema::kind_type(column.kind),
            column.nullable,
        ));
        if column.name == out::SENSOR_ID {
            fields.push(Field::new(WINDOW_S, DataType::UInt32, false));
            fields.push(Field::new(SLIDE_S, DataType::UInt32, false));
        }
    }
    fields
}

fn traffic_schema() -> SchemaRef {
    Arc::new(Schema::new(traffic_fields()))
}

/// `live_traffic` column: distance between window starts, seconds.
const SLIDE_S: &str = "slide_s";

/// The values of contract column `name` over `rows`; `None` when the live view does not
/// carry the column. Showing a new traffic measure in `live_traffic` is one arm here.
fn traffic_column(name: &str, rows: &[TrafficRow]) -> Option<ArrayRef> {
    let f64s = |get: fn(&TrafficWindowRow) -> Option<f64>| -> ArrayRef {
        Arc::new(
            rows.iter()
                .map(|(_, _, _, r)| get(r))
                .collect::<Float64Array>(),
        )
    };
    let times = |get: fn(&TrafficWindowRow) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMillisecondArray::from(
                rows.iter().map(|(_, _, _, r)| get(r)).collect::<Vec<i64>>(),
            )
            .with_timezone("UTC"),
        )
    };
    Some(match name {
        out::CITY => Arc::new(
            rows.iter()
                .map(|(c, _, _, _)| Some(c.as_str()))
                .collect::<StringArray>(),
        ),
        out::SENSOR_ID => Arc::new(
            rows.iter()
                .map(|(_, _, s, _)| Some(s.as_str()))
                .collect::<StringArray>(),
        ),
        out::WINDOW_START => times(|r| r.window_start),
        out::WINDOW_END => times(|r| r.window_end),
        out::OBSERVATIONS => Arc::new(
            rows.iter()
                .map(|(_, _, _, r)| r.observations)
                .collect::<UInt32Array>(),
        ),
        out::LANES_REPORTING => Arc::new(
            rows.iter()
                .map(|(_, _, _, r)| r.lanes_reporting)
                .collect::<UInt8Array>(),
        ),
        out::VEHICLES => Arc::new(
            rows.iter()
                .map(|(_, _, _, r)| r.vehicles)
                .collect::<UInt64Array>(),
        ),
        out::FLOW_VEH_H => f64s(|r| r.flow_veh_h),
        out::SPEED_TIME_MEAN_KMH => f64s(|r| r.speed_time_mean_kmh),
        out::SPEED_SPACE_MEAN_KMH => f64s(|r| r.speed_space_mean_kmh),
        out::DENSITY_VEH_KM => f64s(|r| r.density_veh_km),
        out::OCCUPANCY_PCT => f64s(|r| r.occupancy_pct),
        out::HEAVY_SHARE_PCT => f64s(|r| r.heavy_share_pct),
        out::COMPLETENESS_PCT => f64s(|r| Some(r.completeness_pct)),
        out::SPEED_RATIO => f64s(|r| r.speed_ratio),
        out::TRAFFIC_STATE => Arc::new(
            rows.iter()
                .map(|(_, _, _, r)| r.traffic_state.map(|s| s.code()))
                .collect::<StringArray>(),
        ),
        out::CONGESTED => Arc::new(
            rows.iter()
                .map(|(_, _, _, r)| r.congested)
                .collect::<BooleanArray>(),
        ),
        _ => return None,
    })
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
    ]))
}

fn traffic_columns(live: &LiveState) -> Vec<ArrayRef> {
    let mut rows: Vec<TrafficRow> = Vec::new();
    for city in live.city_ids() {
        for (family, sensor, row) in live.traffic_windows(&city) {
            rows.push((city.clone(), family, sensor, row));
        }
    }
    traffic_fields()
        .iter()
        .map(|field| match field.name().as_str() {
            WINDOW_S => {
                Arc::new(rows.iter().map(|(_, f, _, _)| f.0).collect::<UInt32Array>()) as ArrayRef
            }
            SLIDE_S => Arc::new(rows.iter().map(|(_, f, _, _)| f.1).collect::<UInt32Array>()),
            name => traffic_column(name, &rows)
                .unwrap_or_else(|| new_null_array(field.data_type(), rows.len())),
        })
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
