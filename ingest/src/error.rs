//! Errors of the ingest crate.

use rdkafka::error::KafkaError;
use stadtpuls_processing::ProcessingError;

/// Result type of the ingest crate.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// What can stop or delay ingestion. Bad sensor data is never an error here: it is
/// dead-lettered and counted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The broker refused or could not be reached; retried with backoff where it can be.
    #[error("kafka: {context}: {source}")]
    Kafka {
        /// What we were doing.
        context: String,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// A file source could not be read.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The history directory could not be written or read (unwritable, disk full, a file
    /// in place of a directory); a commit is retried by the runner, its rows stay staged.
    #[error("history: cannot {action} `{}`: {source}", path.display())]
    History {
        /// What was being done, e.g. `write`, `rename`, `create directory`.
        action: &'static str,
        /// The file or directory.
        path: std::path::PathBuf,
        /// The operating system's (or the Parquet encoder's) error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint file could not be written or read.
    #[error("checkpoint {path}: {detail}")]
    Checkpoint {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What failed.
        detail: String,
    },
    /// A sink could not commit or recover a task's output.
    #[error("sink {sink}: {detail}")]
    Sink {
        /// The sink's name.
        sink: &'static str,
        /// What failed.
        detail: String,
    },
    /// The consumer hit a fatal error and cannot go on. librdkafka raises one for a
    /// consumer only when the broker fenced it: another member joined the group with the
    /// same `group.instance.id` (`kafka.instance_id`). Reading stops instead of idling.
    #[error(
        "kafka consumer of group `{group}` stopped: {detail}; another instance joined with the same kafka.instance_id `{instance}` — give every instance its own"
    )]
    ConsumerFenced {
        /// The consumer group.
        group: String,
        /// This instance's `group.instance.id`.
        instance: String,
        /// librdkafka's description.
        detail: String,
    },
    /// An engine bug (schema mismatch).
    #[error("processing: {0}")]
    Processing(#[from] ProcessingError),
}

impl IngestError {
    /// Wraps a history I/O error with what was done to which path.
    pub fn history(
        action: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Self {
        IngestError::History {
            action,
            path: path.into(),
            source,
        }
    }

    /// A checkpoint I/O error at `path`.
    pub fn checkpoint(path: &std::path::Path, detail: impl std::fmt::Display) -> Self {
        IngestError::Checkpoint {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        }
    }

    /// Wraps a Kafka error with what was being done.
    pub fn kafka(context: impl Into<String>, source: KafkaError) -> Self {
        IngestError::Kafka {
            context: context.into(),
            source,
        }
    }
}

/// Why a partner's static publication cannot be imported into a registry at all (one
/// bad record is skipped with its reason instead, see [`crate::import`]).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Neither XML nor JSON, or JSON of no known shape.
    #[error(
        "cannot tell the format of the document: {0}; name it with --format datex2|parkapi|ngsi"
    )]
    UnknownFormat(String),
    /// Not a DATEX II parking table that can be read.
    #[error("DATEX II: {0}")]
    Datex2(String),
    /// Not JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not of the format's shape.
    #[error("{format}: {detail}")]
    Shape {
        /// The format it was read as.
        format: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// Why `stadtpuls replay` cannot read a file it was given (a malformed NDJSON line is not
/// an error: it is replayed as it is, and the pipeline refuses it as it would have then).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file or directory could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Neither NDJSON (`.ndjson`, `.jsonl`, `.json`) nor Parquet, nor a directory.
    #[error(
        "`{}`: not a replayable file: give NDJSON (.ndjson, .jsonl, .json) or the raw archive's Parquet files or directories",
        path.display()
    )]
    Unrecognised {
        /// The path.
        path: std::path::PathBuf,
    },
    /// A Parquet file that is not a `raw_messages` file of the history.
    #[error("`{}` is not a raw archive file: {detail}", path.display())]
    Archive {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong (unreadable footer, other columns).
        detail: String,
    },
}
