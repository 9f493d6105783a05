//! The Stadtpuls domain: event model, event-time windows, traffic and parking metrics.
//!
//! This crate does **no I/O**: it never opens a socket or a file and never reads a clock
//! (processing time is passed in). Decoders in `stadtpuls-ingest` turn wire formats into
//! [`model::traffic::TrafficObservation`]s and [`model::parking::ParkingObservation`]s; the
//! batch builders validate them (bad input becomes a [`Rejection`] with a [`RejectReason`])
//! and build Arrow batches keyed by the [`catalog::Catalog`]; the operators in [`window`]
//! fold batches into tumbling windows and emit closed windows as Arrow batches; [`live`]
//! keeps what the API serves. Formulas are in [`formulas`], each with its definition;
//! [`geo`] places sensors and facilities in zones, rolls zones up and finds nearby parking.
//!
//! # Example
//! ```
//! use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
//! use stadtpuls_processing::model::TimeBounds;
//! use stadtpuls_processing::model::traffic::{TrafficBatchBuilder, TrafficObservation};
//! use stadtpuls_processing::window::traffic::TrafficWindowOperator;
//! use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};
//!
//! let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Admit);
//! let spec = WindowSpec::tumbling(&[60_000], 0, 60_000, TimestampSemantics::IntervalEnd);
//! let mut op = TrafficWindowOperator::new(&spec);
//! let now = 1_795_478_520_000;
//! let bounds = TimeBounds { now, max_future_ms: 300_000 };
//! let mut builder = TrafficBatchBuilder::default();
//! for (ts, n) in [(1_795_478_430_000, 10), (1_795_478_460_000, 20), (1_795_478_520_000, 5)] {
//!     let obs = TrafficObservation { city: "ulm", sensor_id: "ulm-t-1", lane: 0, ts, interval_s: 30,
//!         vehicle_count: n, heavy_vehicle_count: None, avg_speed_kmh: Some(50.0), occupancy_pct: None };
//!     builder.push(&mut catalog, None, &obs, bounds).unwrap();
//! }
//! let batch = builder.finish(&catalog).unwrap();
//! op.process(0, now, &batch, catalog.traffic_sensors().len()).unwrap();
//! // The watermark is 00:02 − 1 ms (no disorder allowed; another report ending 00:02 may
//! // still come): (00:00, 00:01] closes, holding the intervals ending 00:00:30 and 00:01:00.
//! let closed = op.advance(now, &catalog).unwrap();
//! assert_eq!(closed.len(), 1);
//! assert_eq!(closed[0].batch.num_rows(), 1);
//! // At the end of the input (00:01, 00:02] closes too, with the last interval.
//! assert_eq!(op.finish(&catalog).unwrap().len(), 1);
//! ```

pub mod catalog;
pub mod error;
pub mod formulas;
pub mod geo;
pub mod live;
pub mod marz;
pub mod model;
mod prefetch;
mod reject;
pub mod snapshot;
pub mod time;
pub mod window;

pub use error::{ProcessingError, Result};
pub use reject::{RejectReason, Rejection};
