//! The benchmark harness of Stadtpuls, outside the library crates so that a user who embeds
//! `stadtpuls-processing` or `stadtpuls-ingest` does not compile it.
//!
//! - [`reference`](mod@reference): the engine set up for the reference workload of `shared/bench`;
//! - [`file_source`]: a file of JSON lines (and a bounded Kafka run) as a pipeline source;
//! - [`checksum`]: the peer harness's checksum over closed traffic windows;
//! - [`cpu_time`]: criterion runs timed by their thread's CPU time on a shared machine;
//! - [`feeds`]: the pipeline step set up for one partner-feed topic (the decoder benches);
//! - [`workload`]: messages shaped like the reference workload, generated with a fixed seed
//!   (the criterion benches' input);
//! - [`network`]: a synthetic network of any size, every sensor reporting once a minute (the
//!   cost curve's input).
//!
//! `stadtpuls bench` (`src/cli/bench*.rs`) and the criterion benches (`benches/benches/`)
//! both use it.

pub mod checksum;
pub mod cpu_time;
pub mod feeds;
pub mod file_source;
pub mod network;
pub mod reference;
pub mod workload;

pub use checksum::Checksum;
pub use file_source::{FileSource, Limited, city_of};
pub use network::Network;
pub use reference::{reference_pipeline, reference_pipeline_with};
pub use workload::{BATCH, CITIES, START_MS, messages};
