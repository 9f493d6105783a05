//! Stadtpuls ingest: sources, decoders and the loop that feeds the processing engine.
//!
//! - [`message`]: the input and dead-letter types everything else shares;
//! - [`decode`]: wire formats → validated Arrow batches (native JSON today);
//! - [`pipeline`]: one synchronous step, raw messages → dead letters + closed windows;
//! - [`runner`]: the async loop over a [`runner::Source`] and a [`runner::DeadLetterSink`];
//! - [`kafka`]: the consumer-group source, the dead-letter topic, producers;
//! - [`simulate`] and [`demo`]: the built-in nine-city feed for `stadtpuls demo`;
//! - [`sink`]: destinations of closed windows with epoch commits (history, output topics);
//! - [`history`]: the Parquet history sink (Hive-partitioned tables, compaction, retention).
//! - [`health`]: readiness and the Kafka brokers' reachability, for `/readyz`;
//! - [`checkpoint`]: the per-task checkpoint files (state, offset, epoch);
//! - [`pull`]: `[[cities.pull]]`, HTTP endpoints polled for documents written to Kafka.
//!
//! Every metric this crate records is declared in [`metrics`].

pub mod checkpoint;
pub mod clock;
pub mod decode;
pub mod demo;
pub mod error;
pub mod health;
pub mod history;
pub mod import;
pub mod kafka;
pub(crate) mod merge;
pub mod message;
pub mod metrics;
pub mod pipeline;
pub mod pull;
pub mod push;
pub mod replay;
pub mod runner;
pub mod simulate;
pub mod sink;

pub use error::{ImportError, IngestError, ReplayError, Result};
