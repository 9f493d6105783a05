//! The SQL benchmark's data and queries: one day of 1-minute history for the demo cities,
//! written as history compaction lays out a day (sorted by entity, then window start, in
//! the compacted files' row groups), and the typical analyst queries timed against it
//! here and in DuckDB.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder, UInt8Builder, UInt32Builder, UInt64Builder, new_null_array,
};
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use stadtpuls_api::sql::schema;
use stadtpuls_config::{CityRegistry, HistoryStream};
use stadtpuls_ingest::history::layout::SORTED_ROW_GROUP_ROWS;

/// The queries timed, by name; valid SQL for both DataFusion and DuckDB over the same
/// tables.
pub const QUERIES: [(&str, &str); 4] = [
    (
        "city-day aggregate",
        "SELECT city, count(*) AS windows, sum(vehicles) AS vehicles, avg(speed_space_mean_kmh) AS speed_kmh \
         FROM traffic_1m WHERE date = '2026-11-25' GROUP BY city ORDER BY city",
    ),
    (
        "top-10 congested sensors",
        "SELECT city, sensor_id, count(*) AS congested_minutes FROM traffic_1m WHERE congested \
         GROUP BY city, sensor_id ORDER BY congested_minutes DESC, city, sensor_id LIMIT 10",
    ),
    (
        "one city by hour (pruned)",
        "SELECT date_trunc('hour', window_start) AS hour, sum(vehicles) AS vehicles, avg(occupancy_pct) AS occupancy_pct \
         FROM traffic_1m WHERE city = 'ulm' GROUP BY 1 ORDER BY 1",
    ),
    (
        "parking join facilities",
        "SELECT f.city, f.facility_id, f.capacity, avg(p.occupancy_pct) AS occupancy_pct, max(p.occupied) AS peak_occupied \
         FROM parking_1m p JOIN facilities f ON f.city = p.city AND f.facility_id = p.facility_id \
         GROUP BY f.city, f.facility_id, f.capacity ORDER BY occupancy_pct DESC, f.city, f.facility_id LIMIT 20",
    ),
];

/// The name of the REST history's timing (not a SQL text: DuckDB does not run it).
pub const HISTORY_QUERY: &str = "history: one sensor, a day of 1m windows in 1h buckets";

/// The REST history request timed: ulm's sensor 42, the benchmark day in 1-hour
/// buckets, averaged.
///
/// # Errors
/// Never in practice (the zone name is a constant).
pub fn history_request() -> anyhow::Result<stadtpuls_api::history::HistoryRequest> {
    use stadtpuls_api::history::{Agg, Bucket, HistoryKind, HistoryRequest};
    Ok(HistoryRequest {
        kind: HistoryKind::Traffic,
        city: "ulm".into(),
        entity: "ulm-s00042".into(),
        from_ms: DAY_START_MS,
        to_ms: DAY_START_MS + 86_400_000,
        bucket: Bucket::Hour,
        agg: Agg::Avg,
        tz: "Europe/Berlin"
            .parse()
            .map_err(|e| anyhow::anyhow!("zone: {e}"))?,
        limit: 288,
    })
}

/// 2026-11-25T00:00:00Z, the benchmark day.
pub const DAY_START_MS: i64 = 1_795_564_800_000;
const DATE: &str = "2026-11-25";
const ROWS_PER_BATCH: usize = 65_536;

/// xorshift64*: deterministic, fast, good enough for synthetic measurements.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Demand over the day: low at night, peaks at 08:00 and 17:00 (0.1 ..= 1).
fn demand(minute: u32) -> f64 {
    let hour = f64::from(minute) / 60.0;
    let peak = |at: f64| (-((hour - at) / 1.5).powi(2)).exp();
    (0.1 + 0.9 * peak(8.0).max(peak(17.0)) + 0.3 * peak(12.5)).min(1.0)
}

/// What was written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generated {
    /// `traffic_1m` rows.
    pub traffic_rows: u64,
    /// `parking_1m` rows.
    pub parking_rows: u64,
    /// Bytes of Parquet written.
    pub bytes: u64,
}

/// A writer with the settings of a compacted history file (`stadtpuls_ingest`'s
/// `history/files.rs`, `Order::Sorted`): zstd 3, row groups of
/// [`SORTED_ROW_GROUP_ROWS`], floats without dictionary, sorted by `entity` and
/// `window_start` (which the caller's rows are).
fn writer(
    path: &Path,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    entity: &str,
) -> anyhow::Result<ArrowWriter<File>> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| parent.display().to_string())?;
    }
    let file = File::create(path).with_context(|| path.display().to_string())?;
    let level = ZstdLevel::try_new(3)?;
    let sorting = [entity, "window_start"]
        .into_iter()
        .map(|name| -> anyhow::Result<SortingColumn> {
            Ok(SortingColumn {
                column_idx: i32::try_from(schema.index_of(name)?)?,
                descending: false,
                nulls_first: false,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(SORTED_ROW_GROUP_ROWS))
        .set_sorting_columns(Some(sorting));
    for field in schema.fields() {
        if matches!(field.data_type(), DataType::Float32 | DataType::Float64) {
            properties = properties
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    let properties = properties.build();
    Ok(ArrowWriter::try_new(
        file,
        schema.clone(),
        Some(properties),
    )?)
}

/// Writes `minutes` of 1-minute traffic windows for `sensors_per_city` synthetic sensors
/// per city and parking windows for every registered facility into `dir` (`traffic_1m`,
/// `parking_1m`, one file per city) as compaction writes a day: sorted by sensor
/// (facility), then window start. A day still being written by the pipeline is in
/// commit files sorted by window start instead; the benchmark measures compacted days.
///
/// # Errors
/// When a file cannot be written.
pub fn generate_history(
    dir: &Path,
    registries: &[CityRegistry],
    sensors_per_city: u32,
    minutes: u32,
) -> anyhow::Result<Generated> {
    let mut generated = Generated::default();
    let traffic_schema = schema::history_file_schema(HistoryStream::Traffic)?;
    let parking_schema = schema::history_file_schema(HistoryStream::Parking)?;
    for (index, registry) in registries.iter().enumerate() {
        let city = &registry.city.id;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1));
        let partition = |table: &str| {
            dir.join(table)
                .join(format!("city={city}"))
                .join(format!("date={DATE}"))
        };
        let path = partition("traffic_1m").join("part-bench-0-e000000000001-0000.parquet");
        let mut out = writer(&path, &traffic_schema, "sensor_id")?;
        let total = u64::from(sensors_per_city) * u64::from(minutes);
        let mut row: u64 = 0;
        while row < total {
            let n = (total - row).min(ROWS_PER_BATCH as u64) as usize;
            let batch = traffic_batch(&traffic_schema, city, minutes, row, n, &mut rng)?;
            out.write(&batch)?;
            row += n as u64;
        }
        out.close()?;
        generated.traffic_rows += total;
        generated.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

        let mut facilities: Vec<(&str, u32)> = registry
            .facilities()
            .map(|f| (f.id.as_str(), f.capacity.unwrap_or(100).max(1)))
            .collect();
        if facilities.is_empty() {
            continue;
        }
        facilities.sort_unstable();
        let path = partition("parking_1m").join("part-bench-0-e000000000001-0000.parquet");
        let mut out = writer(&path, &parking_schema, "facility_id")?;
        let batch = parking_batch(&parking_schema, &facilities, minutes, &mut rng)?;
        out.write(&batch)?;
        out.close()?;
        generated.parking_rows += batch.num_rows() as u64;
        generated.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    }
    Ok(generated)
}

/// Rows `first .. first + n` of a city's day, sensor-major (sensor 0's minutes 0, 1, …,
/// then sensor 1's) as compaction sorts them; ids are zero-padded, so this is also
/// their string order.
fn traffic_batch(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    city: &str,
    minutes: u32,
    first: u64,
    n: usize,
    rng: &mut Rng,
) -> anyhow::Result<RecordBatch> {
    let mut sensor_id = StringBuilder::with_capacity(n, n * 16);
    let mut start = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut end = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut observations = UInt32Builder::with_capacity(n);
    let mut lanes = UInt8Builder::with_capacity(n);
    let mut vehicles = UInt64Builder::with_capacity(n);
    let mut flow = Float64Builder::with_capacity(n);
    let mut v_time = Float64Builder::with_capacity(n);
    let mut v_space = Float64Builder::with_capacity(n);
    let mut density = Float64Builder::with_capacity(n);
    let mut occupancy = Float64Builder::with_capacity(n);
    let mut completeness = Float64Builder::with_capacity(n);
    let mut ratio = Float64Builder::with_capacity(n);
    let mut state = StringBuilder::with_capacity(n, n * 2);
    let mut congested = BooleanBuilder::with_capacity(n);
    for i in 0..n as u64 {
        let row = first + i;
        let sensor = row / u64::from(minutes);
        let minute = (row % u64::from(minutes)) as u32;
        sensor_id.append_value(format!("{city}-s{sensor:05}"));
        let at = DAY_START_MS + i64::from(minute) * 60_000;
        start.append_value(at);
        end.append_value(at + 60_000);
        observations.append_value(2);
        lanes.append_value(2);
        let load = demand(minute) * (0.5 + rng.unit());
        let count = (load * 40.0).round() as u64;
        vehicles.append_value(count);
        let q = count as f64 * 60.0;
        flow.append_value(q);
        // Busy sensors slow down; a few are jammed at the peaks.
        let speed = (50.0 * (1.1 - 0.8 * load.min(1.2) / 1.2) * (0.9 + 0.2 * rng.unit())).max(3.0);
        v_time.append_value(speed * 1.03);
        v_space.append_value(speed);
        let k = q / speed;
        density.append_value(k);
        occupancy.append_value((k / 1.5).min(100.0));
        completeness.append_value(100.0);
        ratio.append_value(speed / 50.0);
        let code = match speed {
            s if s >= 35.0 && k <= 30.0 => "Z1",
            s if s >= 35.0 => "Z2",
            s if s >= 15.0 => "Z3",
            _ => "Z4",
        };
        state.append_value(code);
        congested.append_value(matches!(code, "Z3" | "Z4"));
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| -> ArrayRef {
            match field.name().as_str() {
                "sensor_id" => Arc::new(sensor_id.finish()),
                "window_start" => Arc::new(start.finish()),
                "window_end" => Arc::new(end.finish()),
                "window_s" => Arc::new(datafusion::arrow::array::UInt32Array::from(vec![60; n])),
                "revision" => Arc::new(datafusion::arrow::array::UInt32Array::from(vec![0; n])),
                "observations" => Arc::new(observations.finish()),
                "lanes_reporting" => Arc::new(lanes.finish()),
                "vehicles" => Arc::new(vehicles.finish()),
                "flow_veh_h" => Arc::new(flow.finish()),
                "speed_time_mean_kmh" => Arc::new(v_time.finish()),
                "speed_space_mean_kmh" => Arc::new(v_space.finish()),
                "density_veh_km" => Arc::new(density.finish()),
                "occupancy_pct" => Arc::new(occupancy.finish()),
                "completeness_pct" => Arc::new(completeness.finish()),
                "speed_ratio" => Arc::new(ratio.finish()),
                "traffic_state" => Arc::new(state.finish()),
                "congested" => Arc::new(congested.finish()),
                _ => new_null_array(field.data_type(), n),
            }
        })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn parking_batch(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    facilities: &[(&str, u32)],
    minutes: u32,
    rng: &mut Rng,
) -> anyhow::Result<RecordBatch> {
    let n = facilities.len() * minutes as usize;
    let mut facility_id = StringBuilder::with_capacity(n, n * 16);
    let mut start = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut end = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut updates = UInt32Builder::with_capacity(n);
    let mut free = UInt32Builder::with_capacity(n);
    let mut total = UInt32Builder::with_capacity(n);
    let mut occupied = UInt32Builder::with_capacity(n);
    let mut occupancy = Float64Builder::with_capacity(n);
    let mut free_min = UInt32Builder::with_capacity(n);
    for (id, capacity) in facilities {
        for minute in 0..minutes {
            facility_id.append_value(id);
            let at = DAY_START_MS + i64::from(minute) * 60_000;
            start.append_value(at);
            end.append_value(at + 60_000);
            updates.append_value(1);
            let share = (demand(minute) * (0.7 + 0.3 * rng.unit())).min(1.0);
            let taken = (f64::from(*capacity) * share).round() as u32;
            free.append_value(capacity - taken.min(*capacity));
            total.append_value(*capacity);
            occupied.append_value(taken.min(*capacity));
            occupancy.append_value(100.0 * f64::from(taken.min(*capacity)) / f64::from(*capacity));
            free_min.append_value(capacity - taken.min(*capacity));
        }
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| -> ArrayRef {
            match field.name().as_str() {
                "facility_id" => Arc::new(facility_id.finish()),
                "window_start" => Arc::new(start.finish()),
                "window_end" => Arc::new(end.finish()),
                "window_s" => Arc::new(datafusion::arrow::array::UInt32Array::from(vec![60; n])),
                "revision" => Arc::new(datafusion::arrow::array::UInt32Array::from(vec![0; n])),
                "updates" => Arc::new(updates.finish()),
                "free" => Arc::new(free.finish()),
                "total" => Arc::new(total.finish()),
                "occupied" => Arc::new(occupied.finish()),
                "occupancy_pct" => Arc::new(occupancy.finish()),
                "free_min" => Arc::new(free_min.finish()),
                _ => new_null_array(field.data_type(), n),
            }
        })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
