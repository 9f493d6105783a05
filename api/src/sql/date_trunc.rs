//! `date_trunc` on UTC timestamps as integer arithmetic.
//!
//! Every time column of the history is `Timestamp(ms, "UTC")`. DataFusion's `date_trunc`
//! only takes its arithmetic fast path for hours and days when a timestamp has *no* time
//! zone; with `"UTC"` it converts every value through chrono's time-zone machinery, which
//! was almost half of the time of an hourly roll-up of one city (docs/performance.md, "SQL
//! benchmark"). In UTC an hour and a day always have the same length, so truncating is
//! `v - v.rem_euclid(unit)` — what this wrapper does for the granularities from
//! microsecond to day on timestamps in UTC, handing everything else (week and coarser,
//! other zones, scalars, `Time` values) to DataFusion's own function unchanged. It is
//! registered under the same name, so the analyst writes ordinary `date_trunc('hour', …)`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, FieldRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions::datetime::date_trunc::DateTruncFunc;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// DataFusion's `date_trunc` with the UTC fast path (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UtcDateTrunc {
    inner: DateTruncFunc,
}

impl UtcDateTrunc {
    /// The function, to register in place of the built-in one.
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            inner: DateTruncFunc::new(),
        })
    }
}

/// Whether a timestamp column's zone is UTC under one of its usual names.
fn is_utc(tz: &str) -> bool {
    matches!(
        tz,
        "UTC" | "utc" | "Etc/UTC" | "Z" | "+00:00" | "+00" | "+0000"
    )
}

/// The length of `granularity` in `unit`s, when it is a whole number of them (truncating to
/// a finer granularity than the unit is handed to DataFusion, which returns the value).
fn unit_length(granularity: &str, unit: TimeUnit) -> Option<i64> {
    let nanos: i64 = match granularity {
        "microsecond" => 1_000,
        "millisecond" => 1_000_000,
        "second" => 1_000_000_000,
        "minute" => 60_000_000_000,
        "hour" => 3_600_000_000_000,
        "day" => 86_400_000_000_000,
        _ => return None,
    };
    let per_unit: i64 = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    (nanos >= per_unit).then_some(nanos / per_unit)
}

fn truncate<T: ArrowTimestampType>(array: &ArrayRef, length: i64) -> Option<ArrayRef> {
    let array: &PrimitiveArray<T> = array.as_primitive_opt::<T>()?;
    let truncated: PrimitiveArray<T> = array
        .unary::<_, T>(|v| v - v.rem_euclid(length))
        .with_timezone_opt(array.timezone().map(Arc::<str>::from));
    Some(Arc::new(truncated))
}

/// The truncated column for the fast path, or `None` for DataFusion's function.
fn fast_path(args: &[ColumnarValue]) -> Option<ArrayRef> {
    let [
        ColumnarValue::Scalar(granularity),
        ColumnarValue::Array(array),
    ] = args
    else {
        return None;
    };
    let granularity = match granularity {
        ScalarValue::Utf8(Some(g))
        | ScalarValue::Utf8View(Some(g))
        | ScalarValue::LargeUtf8(Some(g)) => g.to_lowercase(),
        _ => return None,
    };
    let DataType::Timestamp(unit, Some(tz)) = array.data_type() else {
        return None;
    };
    if !is_utc(tz) {
        return None;
    }
    let length = unit_length(&granularity, *unit)?;
    match unit {
        TimeUnit::Second => truncate::<TimestampSecondType>(array, length),
        TimeUnit::Millisecond => truncate::<TimestampMillisecondType>(array, length),
        TimeUnit::Microsecond => truncate::<TimestampMicrosecondType>(array, length),
        TimeUnit::Nanosecond => truncate::<TimestampNanosecondType>(array, length),
    }
}

impl ScalarUDFImpl for UtcDateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match fast_path(&args.args) {
            Some(array) => Ok(ColumnarValue::Array(array)),
            None => self.inner.invoke_with_args(args),
        }
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::config::ConfigOptions;

    use super::*;

    fn call(udf: &dyn ScalarUDFImpl, granularity: &str, array: ArrayRef) -> ArrayRef {
        let n = array.len();
        let field = Arc::new(Field::new("t", array.data_type().clone(), true));
        let args = ScalarFunctionArgs {
            args: vec![
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(granularity.into()))),
                ColumnarValue::Array(array),
            ],
            arg_fields: vec![
                Arc::new(Field::new("g", DataType::Utf8, false)),
                field.clone(),
            ],
            number_rows: n,
            return_field: field,
            config_options: Arc::new(ConfigOptions::default()),
        };
        match udf.invoke_with_args(args) {
            Ok(ColumnarValue::Array(array)) => array,
            other => panic!("date_trunc gave {other:?}"),
        }
    }

    /// Agrees with DataFusion's own function on UTC timestamps around and before the epoch,
    /// a leap day, nulls, and each granularity (coarse ones take DataFusion's path).
    #[test]
    fn agrees_with_datafusion_on_utc_timestamps() {
        let values = [
            Some(0),
            Some(-1),
            Some(-86_400_001),
            Some(1_795_564_800_000 + 13 * 3_600_000 + 59 * 60_000 + 59_999),
            Some(1_709_208_000_123), // 2024-02-29T12:00:00.123Z
            None,
            Some(-2_208_988_799_999), // 1900-01-01T00:00:00.001Z
        ];
        let ours = UtcDateTrunc {
            inner: DateTruncFunc::new(),
        };
        let builtin = DateTruncFunc::new();
        for granularity in [
            "microsecond",
            "millisecond",
            "second",
            "minute",
            "HOUR",
            "day",
            "week",
            "month",
            "year",
        ] {
            let array: ArrayRef =
                Arc::new(TimestampMillisecondArray::from(values.to_vec()).with_timezone("UTC"));
            let fast = call(&ours, granularity, array.clone());
            let slow = call(&builtin, granularity, array);
            assert_eq!(fast.as_ref(), slow.as_ref(), "{granularity}");
            assert_eq!(fast.data_type(), slow.data_type(), "{granularity}");
        }
    }

    #[test]
    fn takes_the_fast_path_only_for_utc_and_whole_units() {
        let utc: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1]).with_timezone("UTC"));
        let berlin: ArrayRef =
            Arc::new(TimestampMillisecondArray::from(vec![1]).with_timezone("Europe/Berlin"));
        let naive: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1]));
        let hour = ColumnarValue::Scalar(ScalarValue::Utf8(Some("hour".into())));
        let micro = ColumnarValue::Scalar(ScalarValue::Utf8(Some("microsecond".into())));
        assert!(fast_path(&[hour.clone(), ColumnarValue::Array(utc.clone())]).is_some());
        assert!(fast_path(&[hour.clone(), ColumnarValue::Array(berlin)]).is_none());
        assert!(fast_path(&[hour, ColumnarValue::Array(naive)]).is_none());
        assert!(fast_path(&[micro, ColumnarValue::Array(utc)]).is_none());
    }
}
