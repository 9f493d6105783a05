//! The fields of a history bucket and how each aggregation builds them from the windows
//! of the finest history table, as SQL over those windows (one row per window, its
//! latest revision).
//!
//! Every fragment is a constant: no caller's text ever becomes part of a query.
//!
//! **Traffic** (`traffic_<size>` rows, the sensor's cross-section):
//!
//! | field | unit | `avg` | `min` / `max` | `sum` | `last` |
//! |---|---|---|---|---|---|
//! | `vehicles` | vehicles per window | mean per window | of the windows | vehicles counted in the bucket | last window's |
//! | `flow_veh_h` | veh/h | mean of the windows' flows (= vehicles × 3600 / seconds covered) | of the windows | null (a rate) | last window's |
//! | `speed_space_mean_kmh` | km/h | vehicle-weighted harmonic mean, see [`SPACE_MEAN_AVG`] | of the windows | null | last window's |
//! | `speed_time_mean_kmh` | km/h | vehicle-weighted arithmetic mean Σ nᵢ·vᵢ / Σ nᵢ | of the windows | null | last window's |
//! | `occupancy_pct` | % | mean of the windows (equal length: time-weighted) | of the windows | null | last window's |
//!
//! **Parking** (`parking_<size>` rows, one facility; `free`, `total` and `occupancy_pct`
//! of a window are its values at the window's end, `free_min` the fewest free spaces
//! seen within it):
//!
//! | field | unit | `avg` | `min` | `max` | `sum` | `last` |
//! |---|---|---|---|---|---|---|
//! | `free` | spaces | mean of the window-end values | fewest seen (`free_min`) | most at a window end | null | last window's |
//! | `free_pct` | % of `total` | mean of free / total | fewest seen / total | most at a window end / total | null | last window's |
//! | `occupancy_pct` | % | mean of the window-end values | least at a window end | most reached (total − fewest free while open; none from a window that ended closed) | null | last window's |
//! | `total` | spaces | mean capacity | of the windows | of the windows | null | last window's |
//! | `entries`, `exits` | vehicles per window | mean per window | of the windows | of the windows | vehicles in (out) in the bucket | last window's |
//!
//! `sum` only means something for counts (`vehicles`, `entries`, `exits`); every other
//! field is null under `sum` rather than a number nobody can read.

use super::{Agg, HistoryKind};

/// One field of a bucket: its name in the JSON, its unit, and its SQL per aggregation
/// (`avg`, `min`, `max`, `sum`, `last`), each a `DOUBLE` (`NULL` where meaningless).
#[derive(Debug)]
pub struct Field {
    /// Name in the answer.
    pub name: &'static str,
    /// Unit of the value.
    pub unit: &'static str,
    sql: [&'static str; 5],
}

impl Field {
    /// The SQL of this field under `agg`.
    pub fn sql(&self, agg: Agg) -> &'static str {
        self.sql[agg as usize]
    }
}

const NULL: &str = "CAST(NULL AS DOUBLE)";

/// The space-mean speed of a bucket: the vehicle-weighted harmonic mean of its windows'
/// space-mean speeds,
///
/// ```text
/// v̄ₛ = Σ nᵢ / Σ (nᵢ / vₛ,ᵢ)
/// ```
///
/// over the windows i with vehicles nᵢ > 0 and a speed vₛ,ᵢ > 0. Each window's vₛ,ᵢ is
/// itself nᵢ / Σ(1/v) of its vehicles, so Σ nᵢ / vₛ,ᵢ is the bucket's Σ(1/v): this is the
/// space-mean speed of all the bucket's vehicles, recomputed from the counts, not an
/// average of averages (which would weigh a quiet minute like a busy one and overstate
/// the speed). Example: windows of 10 vehicles at 50 km/h, 20 at 40 and 30 at 20 →
/// 60 / (10/50 + 20/40 + 30/20) = 60 / 2.2 = 27.27 km/h (the plain mean would say 36.67).
pub const SPACE_MEAN_AVG: &str = "sum(CASE WHEN vehicles > 0 AND speed_space_mean_kmh > 0 THEN CAST(vehicles AS DOUBLE) END) \
     / sum(CASE WHEN vehicles > 0 AND speed_space_mean_kmh > 0 THEN CAST(vehicles AS DOUBLE) / speed_space_mean_kmh END)";

/// The time-mean speed of a bucket: Σ nᵢ·vₜ,ᵢ / Σ nᵢ over the windows with vehicles and
/// a speed (each window's vₜ,ᵢ is the mean of its vehicles' speeds).
const TIME_MEAN_AVG: &str = "sum(CASE WHEN vehicles > 0 AND speed_time_mean_kmh IS NOT NULL THEN CAST(vehicles AS DOUBLE) * speed_time_mean_kmh END) \
     / sum(CASE WHEN vehicles > 0 AND speed_time_mean_kmh IS NOT NULL THEN CAST(vehicles AS DOUBLE) END)";

/// The traffic fields, in answer order.
pub const TRAFFIC: &[Field] = &[
    Field {
        name: "vehicles",
        unit: "vehicles per window (sum: in the bucket)",
        sql: [
            "avg(CAST(vehicles AS DOUBLE))",
            "CAST(min(vehicles) AS DOUBLE)",
            "CAST(max(vehicles) AS DOUBLE)",
            "CAST(sum(vehicles) AS DOUBLE)",
            "CAST(last_value(vehicles ORDER BY window_start) AS DOUBLE)",
        ],
    },
    Field {
        name: "flow_veh_h",
        unit: "veh/h",
        sql: [
            "avg(flow_veh_h)",
            "min(flow_veh_h)",
            "max(flow_veh_h)",
            NULL,
            "last_value(flow_veh_h ORDER BY window_start)",
        ],
    },
    Field {
        name: "speed_space_mean_kmh",
        unit: "km/h",
        sql: [
            SPACE_MEAN_AVG,
            "min(speed_space_mean_kmh)",
            "max(speed_space_mean_kmh)",
            NULL,
            "last_value(speed_space_mean_kmh ORDER BY window_start)",
        ],
    },
    Field {
        name: "speed_time_mean_kmh",
        unit: "km/h",
        sql: [
            TIME_MEAN_AVG,
            "min(speed_time_mean_kmh)",
            "max(speed_time_mean_kmh)",
            NULL,
            "last_value(speed_time_mean_kmh ORDER BY window_start)",
        ],
    },
    Field {
        name: "occupancy_pct",
        unit: "%",
        sql: [
            "avg(occupancy_pct)",
            "min(occupancy_pct)",
            "max(occupancy_pct)",
            NULL,
            "last_value(occupancy_pct ORDER BY window_start)",
        ],
    },
];

/// The parking fields, in answer order.
pub const PARKING: &[Field] = &[
    Field {
        name: "free",
        unit: "spaces",
        sql: [
            "avg(CAST(free AS DOUBLE))",
            "CAST(min(free_min) AS DOUBLE)",
            "CAST(max(free) AS DOUBLE)",
            NULL,
            "CAST(last_value(free ORDER BY window_start) AS DOUBLE)",
        ],
    },
    Field {
        name: "free_pct",
        unit: "% of total",
        sql: [
            "avg(100.0 * CAST(free AS DOUBLE) / CAST(NULLIF(total, 0) AS DOUBLE))",
            "min(100.0 * CAST(free_min AS DOUBLE) / CAST(NULLIF(total, 0) AS DOUBLE))",
            "max(100.0 * CAST(free AS DOUBLE) / CAST(NULLIF(total, 0) AS DOUBLE))",
            NULL,
            "last_value(100.0 * CAST(free AS DOUBLE) / CAST(NULLIF(total, 0) AS DOUBLE) ORDER BY window_start)",
        ],
    },
    Field {
        name: "occupancy_pct",
        unit: "%",
        sql: [
            "avg(occupancy_pct)",
            "min(occupancy_pct)",
            // A window that ended closed has no occupancy: its free_min says "no entry".
            "max(CASE WHEN opening_status = 'closed' THEN NULL ELSE 100.0 * (CAST(total AS DOUBLE) - least(CAST(free_min AS DOUBLE), CAST(total AS DOUBLE))) / CAST(NULLIF(total, 0) AS DOUBLE) END)",
            NULL,
            "last_value(occupancy_pct ORDER BY window_start)",
        ],
    },
    Field {
        name: "total",
        unit: "spaces",
        sql: [
            "avg(CAST(total AS DOUBLE))",
            "CAST(min(total) AS DOUBLE)",
            "CAST(max(total) AS DOUBLE)",
            NULL,
            "CAST(last_value(total ORDER BY window_start) AS DOUBLE)",
        ],
    },
    Field {
        name: "entries",
        unit: "vehicles per window (sum: in the bucket)",
        sql: [
            "avg(CAST(entries AS DOUBLE))",
            "CAST(min(entries) AS DOUBLE)",
            "CAST(max(entries) AS DOUBLE)",
            "CAST(sum(entries) AS DOUBLE)",
            "CAST(last_value(entries ORDER BY window_start) AS DOUBLE)",
        ],
    },
    Field {
        name: "exits",
        unit: "vehicles per window (sum: in the bucket)",
        sql: [
            "avg(CAST(exits AS DOUBLE))",
            "CAST(min(exits) AS DOUBLE)",
            "CAST(max(exits) AS DOUBLE)",
            "CAST(sum(exits) AS DOUBLE)",
            "CAST(last_value(exits ORDER BY window_start) AS DOUBLE)",
        ],
    },
];

/// The window columns the fields of `kind` read (besides `window_start`, `revision`).
pub fn columns(kind: HistoryKind) -> &'static [&'static str] {
    match kind {
        HistoryKind::Traffic => &[
            "vehicles",
            "flow_veh_h",
            "speed_space_mean_kmh",
            "speed_time_mean_kmh",
            "occupancy_pct",
        ],
        HistoryKind::Parking => &[
            "free",
            "free_min",
            "total",
            "occupancy_pct",
            "entries",
            "exits",
            "opening_status",
        ],
    }
}

/// The fields of `kind`.
pub fn of(kind: HistoryKind) -> &'static [Field] {
    match kind {
        HistoryKind::Traffic => TRAFFIC,
        HistoryKind::Parking => PARKING,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_is_only_a_number_for_counts() {
        for field in TRAFFIC.iter().chain(PARKING) {
            let count = matches!(field.name, "vehicles" | "entries" | "exits");
            assert_eq!(field.sql(Agg::Sum) != NULL, count, "{}", field.name);
        }
    }

    #[test]
    fn fields_read_only_the_columns_they_declare() {
        for kind in [HistoryKind::Traffic, HistoryKind::Parking] {
            let known = columns(kind);
            for field in of(kind) {
                for agg in Agg::ALL {
                    let sql = field.sql(agg);
                    for word in sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                        let is_column = word.contains('_') && !word.starts_with("last_")
                            || ["vehicles", "free", "total", "entries", "exits"].contains(&word);
                        if is_column && word != "window_start" {
                            assert!(known.contains(&word), "{} reads {word}", field.name);
                        }
                    }
                }
            }
        }
    }
}
