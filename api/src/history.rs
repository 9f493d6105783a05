//! History in live units: one sensor's or facility's windows from the Parquet history,
//! aggregated into buckets (`5m`, `15m`, `1h`, `1d`) by the SQL engine.
//!
//! [`query`] is the one function behind `GET /v1/cities/{city}/traffic/{sensor}/history`,
//! `GET /v1/cities/{city}/parking/{facility}/history` (`routes/history.rs`) and the
//! benchmark `stadtpuls bench --sql`. It reads the finest tumbling table of the stream
//! (e.g. `traffic_1m`), keeps each window's latest revision, and builds every bucket
//! from the windows by the rules of [`fields`] (e.g. the space-mean speed recomputed from
//! the counts). Values are bound to placeholders and every other piece of the SQL is a
//! constant or a number: an id cannot change the query. The query runs for the caller's
//! principal, so the engine's per-city wrapping applies on top of the route's check.

pub mod days;
pub mod fields;

use chrono_tz::Tz;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use stadtpuls_config::{HistoryStream, HistoryTable};

use crate::error::SqlError;
use crate::sql::{Principal, SqlEngine};

/// Days between the oldest and newest instant one request may span.
pub const MAX_SPAN_DAYS: i64 = 366;
/// Buckets per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 288;
/// Most buckets per page.
pub const MAX_LIMIT: usize = 5_000;

const DAY_MS: i64 = 86_400_000;

/// Whose history: a traffic sensor or a parking facility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// A traffic sensor's cross-section windows.
    Traffic,
    /// A parking facility's windows.
    Parking,
}

impl HistoryKind {
    /// The window stream read.
    pub fn stream(self) -> HistoryStream {
        match self {
            HistoryKind::Traffic => HistoryStream::Traffic,
            HistoryKind::Parking => HistoryStream::Parking,
        }
    }

    /// The entity column of its windows (`sensor_id`, `facility_id`).
    pub fn entity_column(self) -> &'static str {
        match self {
            HistoryKind::Traffic => "sensor_id",
            HistoryKind::Parking => "facility_id",
        }
    }
}

/// Bucket length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// 5 minutes, aligned to the epoch (UTC).
    Min5,
    /// 15 minutes, aligned to the epoch.
    Min15,
    /// 1 hour, aligned to the epoch.
    Hour,
    /// A local day of the request's time zone (23, 24 or 25 hours).
    Day,
}

impl Bucket {
    /// Every bucket, in the order the docs list them.
    pub const ALL: [Bucket; 4] = [Bucket::Min5, Bucket::Min15, Bucket::Hour, Bucket::Day];

    /// The parameter's spelling.
    pub fn label(self) -> &'static str {
        match self {
            Bucket::Min5 => "5m",
            Bucket::Min15 => "15m",
            Bucket::Hour => "1h",
            Bucket::Day => "1d",
        }
    }

    /// Parses the parameter.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.label() == text)
    }

    /// Nominal length in ms (a local day may be an hour shorter or longer).
    pub fn nominal_ms(self) -> i64 {
        match self {
            Bucket::Min5 => 300_000,
            Bucket::Min15 => 900_000,
            Bucket::Hour => 3_600_000,
            Bucket::Day => DAY_MS,
        }
    }
}

/// How a bucket's windows are combined (per field: [`fields`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// The mean, weighted where the quantity needs it.
    Avg = 0,
    /// The smallest.
    Min = 1,
    /// The largest.
    Max = 2,
    /// The total: counts only, other fields null.
    Sum = 3,
    /// The last window's value.
    Last = 4,
}

impl Agg {
    /// Every aggregation.
    pub const ALL: [Agg; 5] = [Agg::Avg, Agg::Min, Agg::Max, Agg::Sum, Agg::Last];

    /// The parameter's spelling.
    pub fn label(self) -> &'static str {
        match self {
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Sum => "sum",
            Agg::Last => "last",
        }
    }

    /// Parses the parameter.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.label() == text)
    }
}

/// One validated request: windows of `entity` starting in `[from_ms, to_ms)`.
#[derive(Debug, Clone)]
pub struct HistoryRequest {
    /// Sensor or facility.
    pub kind: HistoryKind,
    /// City id (checked by the caller against the registry and the policy).
    pub city: String,
    /// Sensor or facility id (checked by the caller against the registry).
    pub entity: String,
    /// First instant, epoch ms (inclusive).
    pub from_ms: i64,
    /// End, epoch ms (exclusive).
    pub to_ms: i64,
    /// Bucket length.
    pub bucket: Bucket,
    /// Aggregation.
    pub agg: Agg,
    /// Where `1d` buckets start.
    pub tz: Tz,
    /// Most buckets returned.
    pub limit: usize,
}

/// One bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketRow {
    /// Its start, epoch ms (aligned: before `from` when `from` cuts the bucket).
    pub start_ms: i64,
    /// Its end, epoch ms.
    pub end_ms: i64,
    /// Windows it holds.
    pub windows: i64,
    /// The fields of [`fields::of`] in order; `None` where no window had a value.
    pub values: Vec<Option<f64>>,
}

/// A page of buckets.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The history table read (e.g. `traffic_1m`).
    pub table: String,
    /// Buckets with at least one window, ascending.
    pub buckets: Vec<BucketRow>,
    /// Start of the next bucket with data when the page was cut at `limit`: the `from` of
    /// the next page.
    pub next_from_ms: Option<i64>,
}

/// What a history request can fail with besides the engine's errors.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// No tumbling history table of the stream is configured.
    #[error("no {0} history table is configured (`history.tables`)")]
    NoTable(&'static str),
    /// A bucket that is not a whole number of the history's windows.
    #[error("`bucket` = `{bucket}` is not a whole number of the history's {window_s} s windows")]
    BucketTooFine {
        /// The bucket asked for.
        bucket: &'static str,
        /// The window of the finest table.
        window_s: u32,
    },
    /// The SQL engine failed.
    #[error(transparent)]
    Sql(#[from] SqlError),
}

/// The SQL of `request` on `table` (placeholders: `$1` city, `$2` entity, `$3`/`$4` the
/// UTC dates, `$5`/`$6` the window start range); buckets are keyed by an integer (the
/// epoch-aligned bin, or the local day number).
fn statement(request: &HistoryRequest, table: &str) -> String {
    let t = "CAST(window_start AS BIGINT)";
    let key = match request.bucket {
        Bucket::Day => days::day_key_sql(t, request.tz, request.from_ms, request.to_ms),
        fixed => format!("{t} / {}", fixed.nominal_ms()),
    };
    let columns = fields::columns(request.kind).join(", ");
    let values: Vec<String> = fields::of(request.kind)
        .iter()
        .map(|field| format!("{} AS {}", field.sql(request.agg), field.name))
        .collect();
    format!(
        "SELECT {key} AS bucket, count(*) AS windows, {values} \
         FROM (SELECT window_start, {columns}, \
               ROW_NUMBER() OVER (PARTITION BY window_start ORDER BY revision DESC) AS revision_rank \
               FROM {table} \
               WHERE city = $1 AND {entity} = $2 AND date >= $3 AND date <= $4 \
                 AND window_start >= $5 AND window_start < $6) AS windows \
         WHERE revision_rank = 1 GROUP BY 1 ORDER BY 1 LIMIT {limit}",
        values = values.join(", "),
        entity = request.kind.entity_column(),
        limit = request.limit + 1,
    )
}

fn utc_date(ms: i64) -> ScalarValue {
    ScalarValue::Date32(i32::try_from(ms.div_euclid(DAY_MS)).ok())
}

fn timestamp(ms: i64) -> ScalarValue {
    ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into()))
}

/// Runs `request` for `principal`: the page of buckets.
///
/// # Errors
/// [`HistoryError`]: no table, a bucket finer than the windows, or the engine's error.
pub async fn query(
    engine: &SqlEngine,
    principal: &Principal,
    request: &HistoryRequest,
) -> Result<HistoryPage, HistoryError> {
    let stream = request.kind.stream();
    let table: HistoryTable = *engine
        .finest_history(stream)
        .ok_or(HistoryError::NoTable(stream.prefix()))?;
    if request.bucket.nominal_ms() % (i64::from(table.window_s) * 1000) != 0 {
        return Err(HistoryError::BucketTooFine {
            bucket: request.bucket.label(),
            window_s: table.window_s,
        });
    }
    let name = table.name();
    let sql = statement(request, &name);
    // The windows' dates: a window starting in the range lies in these UTC days.
    let params = vec![
        ScalarValue::Utf8(Some(request.city.clone())),
        ScalarValue::Utf8(Some(request.entity.clone())),
        utc_date(request.from_ms),
        utc_date(request.to_ms),
        timestamp(request.from_ms),
        timestamp(request.to_ms),
    ];
    let result = engine.query_bound(principal, &sql, params).await?;
    let field_count = fields::of(request.kind).len();
    let mut buckets = Vec::with_capacity(result.num_rows());
    for batch in &result.batches {
        let column = |i: usize| batch.column(i);
        let keys = column(0)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| internal("bucket key is not BIGINT"))?;
        let windows = column(1)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| internal("window count is not BIGINT"))?;
        let mut values = Vec::with_capacity(field_count);
        for i in 0..field_count {
            values.push(
                column(2 + i)
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(|| internal("a field is not DOUBLE"))?,
            );
        }
        for row in 0..batch.num_rows() {
            let (start_ms, end_ms) = bounds(request, keys.value(row))?;
            buckets.push(BucketRow {
                start_ms,
                end_ms,
                windows: windows.value(row),
                values: values
                    .iter()
                    .map(|v| v.is_valid(row).then(|| v.value(row)))
                    .collect(),
            });
        }
    }
    let next_from_ms = if buckets.len() > request.limit {
        buckets.truncate(request.limit + 1);
        buckets.pop().map(|next| next.start_ms)
    } else {
        None
    };
    Ok(HistoryPage {
        table: name,
        buckets,
        next_from_ms,
    })
}

/// A bucket's start and end from its key.
fn bounds(request: &HistoryRequest, key: i64) -> Result<(i64, i64), HistoryError> {
    match request.bucket {
        Bucket::Day => {
            let start = days::day_start_ms(request.tz, key);
            let end = days::day_start_ms(request.tz, key + 1);
            start
                .zip(end)
                .ok_or_else(|| internal("a day bucket outside the calendar"))
        }
        fixed => {
            let size = fixed.nominal_ms();
            Ok((key * size, key * size + size))
        }
    }
}

fn internal(message: &str) -> HistoryError {
    HistoryError::Sql(SqlError::Internal(format!("history query: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bucket: Bucket) -> HistoryRequest {
        HistoryRequest {
            kind: HistoryKind::Traffic,
            city: "ulm".into(),
            entity: "x' OR '1'='1".into(),
            from_ms: 1_792_800_000_000,
            to_ms: 1_792_800_000_000 + 3 * DAY_MS,
            bucket,
            agg: Agg::Avg,
            tz: "Europe/Berlin".parse().expect("zone"),
            limit: 10,
        }
    }

    #[test]
    fn no_value_of_the_request_is_written_into_the_sql() {
        for bucket in Bucket::ALL {
            let sql = statement(&request(bucket), "traffic_1m");
            assert!(!sql.contains("ulm"), "{sql}");
            assert!(!sql.contains('\''), "{sql}");
            assert!(!sql.contains("Berlin"), "{sql}");
            assert!(sql.contains("sensor_id = $2"));
            assert!(sql.ends_with("LIMIT 11"));
        }
    }
}
