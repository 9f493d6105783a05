//! The engine set up as the reference workload needs it, shared by `stadtpuls bench` and
//! the criterion benches so both measure the same configuration.

use std::sync::Arc;

use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowShape, WindowSpec};

/// The engine as the reference workload needs it: the given cities, sensors admitted on
/// first sight (the workload has no registry), 1-minute windows over instants, no allowed
/// lateness, no live view, no per-lane windows (the reference query is per sensor).
pub fn reference_pipeline(
    city_ids: &[&str],
    out_of_orderness_ms: i64,
    idle_timeout_ms: i64,
    limits: Limits,
) -> Pipeline {
    let minute = [WindowShape::tumbling(60_000)];
    reference_pipeline_with(
        city_ids,
        &minute,
        out_of_orderness_ms,
        idle_timeout_ms,
        limits,
    )
}

/// [`reference_pipeline`] with other window families (the cost curve's 4 sizes and a
/// hopping window).
pub fn reference_pipeline_with(
    city_ids: &[&str],
    shapes: &[WindowShape],
    out_of_orderness_ms: i64,
    idle_timeout_ms: i64,
    limits: Limits,
) -> Pipeline {
    let catalog = Catalog::with_cities(city_ids, UnknownSensors::Admit);
    let mut spec = WindowSpec::tumbling(
        &[],
        out_of_orderness_ms,
        idle_timeout_ms,
        TimestampSemantics::Instant,
    );
    spec.shapes = shapes.to_vec();
    let options = PipelineOptions {
        unknown_sensors: UnknownSensors::Admit,
        timestamps: TimestampSemantics::Instant,
        update_live: false,
        parallel_decode: true,
        per_lane: false,
    };
    Pipeline::from_parts(
        catalog,
        &spec,
        &ParkingSpec::default(),
        limits,
        Arc::new(LiveState::new(0)),
        options,
    )
}
