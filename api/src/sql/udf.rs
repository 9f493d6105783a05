//! Domain functions for SQL: `haversine_m`, `los`, `flow_veh_h`.
//!
//! Each is immutable and null-propagating: a null (or, for `los` and `flow_veh_h`, an
//! out-of-domain) argument gives a null result rather than an error, so one bad row
//! does not fail an analyst's whole query. Each calls its formula in
//! `stadtpuls_processing` (`geo::haversine_m`, `formulas::level_of_service`,
//! `formulas::flow_veh_h`): the domain's definitions live in one place, and SQL
//! re-bucketing agrees with the windows the pipeline wrote.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use stadtpuls_processing::formulas;
use stadtpuls_processing::geo;

/// Every domain function, to register in a session.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(Haversine::new()),
        ScalarUDF::from(LevelOfService::new()),
        ScalarUDF::from(FlowVehH::new()),
    ]
}

/// The arguments as `Float64` arrays of the batch's length (the signature coerces every
/// numeric type to `Float64` first).
fn float_args(args: &ScalarFunctionArgs) -> Result<Vec<Float64Array>> {
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let mut out = Vec::with_capacity(arrays.len());
    for array in arrays {
        match array.as_primitive_opt::<Float64Type>() {
            Some(floats) => out.push(floats.clone()),
            None => return exec_err!("expected Float64 arguments, got {}", array.data_type()),
        }
    }
    Ok(out)
}

fn value(array: &Float64Array, i: usize) -> Option<f64> {
    array.is_valid(i).then(|| array.value(i))
}

/// `haversine_m(lat1, lon1, lat2, lon2)` → `Float64`: great-circle distance in metres
/// between two positions in degrees, on the sphere of radius R = 6 371 008.8 m:
///
/// ```text
/// a = sin²(Δφ/2) + cos φ₁ · cos φ₂ · sin²(Δλ/2)        d = 2R · asin(√a)
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
struct Haversine {
    signature: Signature,
}

impl Haversine {
    fn new() -> Self {
        Self {
            signature: Signature::uniform(4, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Haversine {
    fn name(&self) -> &str {
        "haversine_m"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [lat1, lon1, lat2, lon2] = float_args(&args)?.try_into().map_err(|_| {
            datafusion::error::DataFusionError::Plan("haversine_m takes 4 arguments".into())
        })?;
        let distances: Float64Array = (0..args.number_rows)
            .map(|i| {
                Some(geo::haversine_m(
                    value(&lat1, i)?,
                    value(&lon1, i)?,
                    value(&lat2, i)?,
                    value(&lon2, i)?,
                ))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(distances) as ArrayRef))
    }
}

/// `los(speed_kmh, free_flow_kmh)` → `Utf8` `'A'`..`'F'`: the level of service by travel
/// speed, [`formulas::level_of_service`] (thresholds and worked case there).
#[derive(Debug, PartialEq, Eq, Hash)]
struct LevelOfService {
    signature: Signature,
}

impl LevelOfService {
    fn new() -> Self {
        Self {
            signature: Signature::uniform(2, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for LevelOfService {
    fn name(&self) -> &str {
        "los"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [speed, free_flow] = float_args(&args)?.try_into().map_err(|_| {
            datafusion::error::DataFusionError::Plan("los takes 2 arguments".into())
        })?;
        let grades: StringArray = (0..args.number_rows)
            .map(|i| formulas::level_of_service(value(&speed, i)?, value(&free_flow, i)?))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(grades) as ArrayRef))
    }
}

/// `flow_veh_h(vehicles, seconds)` → `Float64`: flow as an hourly rate,
/// `q = vehicles · 3600 / seconds` (German `q` values are hourly rates even for short
/// intervals); null when `seconds` ≤ 0 or `vehicles` is negative.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FlowVehH {
    signature: Signature,
}

impl FlowVehH {
    fn new() -> Self {
        Self {
            signature: Signature::uniform(2, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for FlowVehH {
    fn name(&self) -> &str {
        "flow_veh_h"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [vehicles, seconds] = float_args(&args)?.try_into().map_err(|_| {
            datafusion::error::DataFusionError::Plan("flow_veh_h takes 2 arguments".into())
        })?;
        let flows: Float64Array = (0..args.number_rows)
            .map(|i| {
                let vehicles = value(&vehicles, i).filter(|v| *v >= 0.0 && v.is_finite())?;
                let seconds = value(&seconds, i).filter(|s| s.is_finite())?;
                // Counts are whole vehicles; a fractional argument (an average) keeps its
                // fraction by scaling instead of going through the integer formula.
                if vehicles.fract() == 0.0 && vehicles <= u64::MAX as f64 {
                    formulas::flow_veh_h(vehicles as u64, seconds)
                } else {
                    (seconds > 0.0).then(|| vehicles * 3600.0 / seconds)
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(flows) as ArrayRef))
    }
}
