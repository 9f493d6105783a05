//! The Stadtpuls domain: event model, event-time windows, traffic and parking metrics.
//!
//! This crate does **no I/O**: it never opens a socket or a file and never reads a clock
//! (processing time is passed in). Decoders in `stadtpuls-ingest` turn wire formats into
//! [`model::traffic::TrafficObservation`]s and [`model::parking::ParkingObservation`]s; the
//! batch builders validate them (bad input becomes a [`Rejection`] with a [`RejectReason`])
//! and build Arrow batches keyed by the [`catalog::Catalog`]; the [`engine`] folds them
//! into event-time windows with its operators (built from the parts in [`window`]) and
//! returns closed windows as Arrow batches, late rows and task snapshots as values;
//! [`live`] keeps what the API serves. Formulas are in [`formulas`], each with its definition;
//! [`geo`] places sensors and facilities in zones, rolls zones up and finds nearby parking.
//! [`publish`] renders the live view in the standard formats partners read (DATEX II,
//! ParkAPI v3, NGSI-LD); [`region`] rolls several cities up into one regional view.
//! The engine's documentation has a worked example.

pub mod catalog;
pub mod engine;
pub mod error;
pub mod formulas;
pub mod geo;
pub mod live;
pub mod marz;
pub mod model;
mod prefetch;
pub mod publish;
pub mod region;
mod reject;
pub mod time;
pub mod window;

pub use error::{ProcessingError, Result};
pub use reject::{RejectReason, Rejection};
