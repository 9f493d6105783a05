//! Closed traffic windows as Arrow batches: the rows of a window's due entries, one array
//! per column of the contract's [`AGGREGATE`](crate::model::contract::traffic::AGGREGATE).

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, PrimitiveBuilder, StringBuilder, UInt8Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, ArrayRef, RecordBatch};

use super::{LANE_SLOTS, TrafficAcc};
use crate::Result;
use crate::catalog::Catalog;
use crate::formulas;
use crate::window::{ClosedWindows, Emission};

pub use crate::model::contract::traffic::{out, traffic_aggregate_schema, traffic_window_schema};

/// How many rows ahead [`emit_rows`] asks for an accumulator.
const EMIT_PREFETCH: usize = 8;

/// The rows of one window's due entries of one revision and owning task.
pub(crate) fn emit_rows(
    window: Emission,
    catalog: &Catalog,
    per_lane: bool,
    entries: Vec<(u32, &TrafficAcc)>,
) -> Result<ClosedWindows> {
    let Emission {
        shape,
        start,
        revision,
        owner,
    } = window;
    let n = entries.len();
    let window_s = (shape.size_ms / 1000) as u32;
    let end = start + shape.size_ms;
    let mut city = StringBuilder::with_capacity(n, n * 8);
    let mut sensor = StringBuilder::with_capacity(n, n * 12);
    let mut starts: PrimitiveBuilder<TimestampMillisecondType> = PrimitiveBuilder::with_capacity(n);
    let mut ends: PrimitiveBuilder<TimestampMillisecondType> = PrimitiveBuilder::with_capacity(n);
    let mut observations = UInt32Builder::with_capacity(n);
    let mut lanes = UInt8Builder::with_capacity(n);
    let mut vehicles = UInt64Builder::with_capacity(n);
    let mut flow = Float64Builder::with_capacity(n);
    let mut v_time = Float64Builder::with_capacity(n);
    let mut v_space = Float64Builder::with_capacity(n);
    let mut v_reported = Float64Builder::with_capacity(n);
    let mut v_stddev = Float64Builder::with_capacity(n);
    let mut density = Float64Builder::with_capacity(n);
    let mut occ = Float64Builder::with_capacity(n);
    let mut occ_max = Float64Builder::with_capacity(n);
    let mut heavy = UInt64Builder::with_capacity(n);
    let mut heavy_share = Float64Builder::with_capacity(n);
    let mut completeness = Float64Builder::with_capacity(n);
    let mut lane_numbers = UInt8Builder::with_capacity(n);
    let sensors = catalog.traffic_sensors();
    // Ids from the catalog's contiguous id column, read in key order: following each
    // sensor's own `Arc<str>` cost a cache miss per row.
    let ids = catalog.traffic_values();
    for (i, &(key, acc)) in entries.iter().enumerate() {
        // Accumulators lie in first-seen order, rows go out in key order: load ahead.
        if let Some((_, ahead)) = entries.get(i + EMIT_PREFETCH) {
            crate::prefetch::prefetch(*ahead);
        }
        let (sensor_key, lane) = if per_lane {
            (key / LANE_SLOTS, Some((key % LANE_SLOTS) as u8))
        } else {
            (key, None)
        };
        let Some(info) = sensors.get(sensor_key as usize) else {
            continue;
        };
        lane_numbers.append_option(lane);
        city.append_value(catalog.city_id(info.city));
        if (sensor_key as usize) < ids.len() {
            sensor.append_value(ids.value(sensor_key as usize));
        } else {
            sensor.append_value(&info.id);
        }
        starts.append_value(start);
        ends.append_value(end);
        observations.append_value(acc.observations);
        let lanes_reporting = acc.lanes_reporting();
        lanes.append_value(lanes_reporting as u8);
        vehicles.append_value(acc.vehicles);
        let seconds = formulas::observed_seconds(acc.interval_s_sum, lanes_reporting, window_s);
        let q = formulas::flow_veh_h(acc.vehicles, seconds);
        flow.append_option(q);
        v_time.append_option(formulas::time_mean_speed(
            acc.speed_weighted,
            acc.vehicles_with_speed,
        ));
        let vs = formulas::space_mean_speed(acc.speed_inverse, acc.vehicles_with_speed);
        v_space.append_option(vs);
        v_reported.append_option(formulas::mean(acc.speed_sum, u64::from(acc.speed_n)));
        v_stddev.append_option(formulas::speed_stddev_kmh(
            acc.speed_sum,
            acc.speed_sq_sum,
            u64::from(acc.speed_n),
        ));
        density.append_option(formulas::density_veh_km(q, vs));
        occ.append_option(formulas::mean(
            acc.occupancy_sum,
            u64::from(acc.occupancy_n),
        ));
        occ_max.append_option((acc.occupancy_n > 0).then_some(acc.occupancy_max));
        heavy.append_option(acc.heavy());
        heavy_share.append_option(formulas::heavy_share_pct(
            acc.heavy,
            acc.vehicles_classified,
        ));
        completeness.append_value(formulas::completeness_pct(
            acc.interval_s_sum - acc.cross_section_s,
            acc.cross_section_s,
            // one lane is all a lane window expects
            if per_lane { 1 } else { info.lanes },
            window_s,
        ));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(city.finish()),
        Arc::new(sensor.finish()),
        Arc::new(starts.finish().with_timezone("UTC")),
        Arc::new(ends.finish().with_timezone("UTC")),
        Arc::new(observations.finish()),
        Arc::new(lanes.finish()),
        Arc::new(vehicles.finish()),
        Arc::new(flow.finish()),
        Arc::new(v_time.finish()),
        Arc::new(v_space.finish()),
        Arc::new(v_reported.finish()),
        Arc::new(v_stddev.finish()),
        Arc::new(density.finish()),
        Arc::new(occ.finish()),
        Arc::new(occ_max.finish()),
        Arc::new(heavy.finish()),
        Arc::new(heavy_share.finish()),
        Arc::new(completeness.finish()),
        Arc::new(lane_numbers.finish()),
    ];
    Ok(ClosedWindows {
        window_s,
        slide_s: (shape.slide_ms / 1000) as u32,
        window_start: start,
        revision,
        owner,
        batch: RecordBatch::try_new(traffic_aggregate_schema(), columns)?,
    })
}
