//! One contract column, and the columns every window stream shares by name.

use arrow_schema::{DataType, Field, TimeUnit};

/// The Arrow type of a contract column: only the types the outputs can carry (the
/// output-topic encoder and the SQL conversion handle exactly these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Utf8`.
    Text,
    /// `UInt8`.
    U8,
    /// `UInt32`.
    U32,
    /// `UInt64`.
    U64,
    /// `Float64`.
    F64,
    /// `Boolean`.
    Bool,
    /// `Timestamp(ms, "UTC")`.
    Time,
}

impl Kind {
    /// The Arrow type.
    pub fn data_type(self) -> DataType {
        match self {
            Self::Text => DataType::Utf8,
            Self::U8 => DataType::UInt8,
            Self::U32 => DataType::UInt32,
            Self::U64 => DataType::UInt64,
            Self::F64 => DataType::Float64,
            Self::Bool => DataType::Boolean,
            Self::Time => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        }
    }
}

/// One column of a closed-window batch: one line of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Its name in batches, history files, SQL, the API's JSON and output records.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether a row may lack it (a measure the window's reports did not carry).
    pub nullable: bool,
    /// What it holds, with its unit.
    pub doc: &'static str,
}

impl Column {
    /// A column every row has.
    pub const fn required(name: &'static str, kind: Kind, doc: &'static str) -> Self {
        Self {
            name,
            kind,
            nullable: false,
            doc,
        }
    }

    /// A column a row may lack.
    pub const fn optional(name: &'static str, kind: Kind, doc: &'static str) -> Self {
        Self {
            name,
            kind,
            nullable: true,
            doc,
        }
    }

    /// The Arrow field.
    pub fn field(&self) -> Field {
        Field::new(self.name, self.kind.data_type(), self.nullable)
    }
}

/// The Arrow fields of `columns`, in order.
pub fn fields(columns: &[Column]) -> Vec<Field> {
    columns.iter().map(Column::field).collect()
}

/// The column that is the Hive partition `city=<id>/` of history files rather than a
/// column inside them; every window stream's first column.
pub const CITY: &str = "city";
/// Every window stream's window start (part of every upsert key).
pub const WINDOW_START: &str = "window_start";
/// The column after which a history file carries [`WINDOW_S`](super::WINDOW_S) and
/// [`REVISION`](super::REVISION).
pub const WINDOW_END: &str = "window_end";
