//! Who sees a city's data: its sharing policy per data kind, and what a request without
//! a key gets. The decision itself (principal × city × kind) is made in one place, the
//! API's `access` module; this is only what the config says.

/// The kinds of data a city can share differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// Traffic sensors and their windows (per sensor and per lane).
    Traffic,
    /// Parking facilities, their levels and windows.
    Parking,
}

impl DataKind {
    /// Every kind.
    pub const ALL: [DataKind; 2] = [DataKind::Traffic, DataKind::Parking];

    /// The name used in the config (`[cities.share] traffic = …`) and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Traffic => "traffic",
            DataKind::Parking => "parking",
        }
    }
}

/// Who may read one kind of a city's data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Share {
    /// Only keys that name the city (the default).
    #[default]
    Private,
    /// Also keys that name one of the city's `partners`.
    Partners,
    /// Every key, and requests without a key when `api.anonymous = "open"`.
    Open,
}

impl Share {
    /// The name used in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Share::Private => "private",
            Share::Partners => "partners",
            Share::Open => "open",
        }
    }
}

/// A city's sharing policy: `share = "open"` (every kind alike) or `[cities.share]` with
/// `traffic` and `parking`, and the `partners` a `partners` share names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharePolicy {
    /// Who reads its traffic.
    pub traffic: Share,
    /// Who reads its parking.
    pub parking: Share,
    /// Configured city ids whose keys read the kinds shared with `partners`.
    pub partners: Vec<String>,
}

impl SharePolicy {
    /// The same share for every kind, without partners.
    pub fn uniform(share: Share) -> Self {
        Self {
            traffic: share,
            parking: share,
            partners: Vec::new(),
        }
    }

    /// The share of `kind`.
    pub fn of(&self, kind: DataKind) -> Share {
        match kind {
            DataKind::Traffic => self.traffic,
            DataKind::Parking => self.parking,
        }
    }

    /// Whether every kind is open data.
    pub fn all_open(&self) -> bool {
        DataKind::ALL.iter().all(|&k| self.of(k) == Share::Open)
    }
}

/// What a request without a key gets on the REST API (`api.anonymous`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Anonymous {
    /// The open data: every kind a city shares as `open` (the default).
    #[default]
    Open,
    /// Nothing: 401.
    Deny,
}
