//! Closed parking windows as Arrow batches.

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, PrimitiveBuilder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{ArrayRef, RecordBatch};

use super::acc::ParkingAcc;
use crate::Result;
use crate::catalog::Catalog;
use crate::formulas;
use crate::window::{ClosedWindows, Emission};

pub use crate::model::contract::parking::{out, parking_window_schema};

/// Column builders of one closed window.
struct Columns {
    city: StringBuilder,
    facility: StringBuilder,
    starts: PrimitiveBuilder<TimestampMillisecondType>,
    ends: PrimitiveBuilder<TimestampMillisecondType>,
    updates: UInt32Builder,
    free: UInt32Builder,
    total: UInt32Builder,
    occupied: UInt32Builder,
    occupancy: Float64Builder,
    occupancy_mean: Float64Builder,
    free_min: UInt32Builder,
    status: StringBuilder,
    trend: StringBuilder,
    entries: UInt64Builder,
    exits: UInt64Builder,
    sessions_ended: UInt32Builder,
    mean_dwell: Float64Builder,
    turnover: Float64Builder,
    opening: StringBuilder,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        Self {
            city: StringBuilder::with_capacity(n, n * 8),
            facility: StringBuilder::with_capacity(n, n * 12),
            starts: PrimitiveBuilder::with_capacity(n),
            ends: PrimitiveBuilder::with_capacity(n),
            updates: UInt32Builder::with_capacity(n),
            free: UInt32Builder::with_capacity(n),
            total: UInt32Builder::with_capacity(n),
            occupied: UInt32Builder::with_capacity(n),
            occupancy: Float64Builder::with_capacity(n),
            occupancy_mean: Float64Builder::with_capacity(n),
            free_min: UInt32Builder::with_capacity(n),
            status: StringBuilder::with_capacity(n, n * 12),
            trend: StringBuilder::with_capacity(n, n * 10),
            entries: UInt64Builder::with_capacity(n),
            exits: UInt64Builder::with_capacity(n),
            sessions_ended: UInt32Builder::with_capacity(n),
            mean_dwell: Float64Builder::with_capacity(n),
            turnover: Float64Builder::with_capacity(n),
            opening: StringBuilder::with_capacity(n, n * 6),
        }
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.city.finish()),
            Arc::new(self.facility.finish()),
            Arc::new(self.starts.finish().with_timezone("UTC")),
            Arc::new(self.ends.finish().with_timezone("UTC")),
            Arc::new(self.updates.finish()),
            Arc::new(self.free.finish()),
            Arc::new(self.total.finish()),
            Arc::new(self.occupied.finish()),
            Arc::new(self.occupancy.finish()),
            Arc::new(self.occupancy_mean.finish()),
            Arc::new(self.free_min.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.trend.finish()),
            Arc::new(self.entries.finish()),
            Arc::new(self.exits.finish()),
            Arc::new(self.sessions_ended.finish()),
            Arc::new(self.mean_dwell.finish()),
            Arc::new(self.turnover.finish()),
            Arc::new(self.opening.finish()),
        ]
    }
}

/// The rows of one window's due entries of one revision and owning task.
pub(crate) fn emit_rows(
    window: Emission,
    catalog: &Catalog,
    entries: Vec<(u32, &ParkingAcc)>,
) -> Result<ClosedWindows> {
    let Emission {
        shape,
        start,
        revision,
        owner,
    } = window;
    let end = start + shape.size_ms;
    let mut c = Columns::with_capacity(entries.len());
    for (key, acc) in entries {
        let Some(info) = catalog.facilities().get(key as usize) else {
            continue;
        };
        c.city.append_value(catalog.city_id(info.city));
        c.facility.append_value(&info.id);
        c.starts.append_value(start);
        c.ends.append_value(end);
        c.updates.append_value(acc.updates);
        c.free.append_value(acc.last_free);
        c.total.append_option(acc.last_total);
        // Closed at the end of the window: no occupied count, no occupancy (`FacilityLive`).
        let counted_total = acc.last_total.filter(|_| !acc.closed());
        c.occupied
            .append_option(counted_total.map(|t| formulas::parking_occupied(acc.last_free, t)));
        c.occupancy.append_option(
            counted_total.and_then(|t| formulas::parking_occupancy_pct(acc.last_free, t)),
        );
        c.occupancy_mean
            .append_option(acc.occupancy_mean_pct(start, end));
        c.free_min.append_value(acc.min_free);
        c.status.append_option(acc.last_status.map(|s| s.as_str()));
        c.trend.append_option(acc.last_trend.map(|t| t.as_str()));
        c.entries.append_option(acc.entries);
        c.exits.append_option(acc.exits);
        // Sessions need per-spot sensors; a counted car park has none to report.
        let has_spots = info.spots > 0;
        c.sessions_ended
            .append_option(has_spots.then_some(acc.sessions_ended));
        c.mean_dwell.append_option(acc.mean_dwell_s());
        c.turnover.append_option(
            acc.last_total
                .filter(|_| has_spots)
                .and_then(|spaces| formulas::turnover(acc.sessions_ended, spaces)),
        );
        c.opening
            .append_option(acc.last_opening.map(|o| o.as_str()));
    }
    Ok(ClosedWindows {
        window_s: (shape.size_ms / 1000) as u32,
        slide_s: (shape.slide_ms / 1000) as u32,
        window_start: start,
        revision,
        owner,
        batch: RecordBatch::try_new(parking_window_schema(), c.finish())?,
    })
}
