//! Facilities fed through more than one partition: counted and logged, not refused.
//!
//! A zone's level is the roll-up of its spots' newest states, so its windows are right only
//! when every spot of the zone comes through one partition, in that partition's order
//! (`stadtpuls produce` keys spot records by zone id, `docs/formats.md`, "Record keys"). A
//! partner whose producer keys by spot id spreads a zone over several partitions; the
//! operator notices when two of them meet in one instance (`Owners::conflicts`) and this
//! module tells the operator: `stadtpuls_partition_conflicts_total{city,kind}` for every
//! such observation, and one warning per facility at most every [`WARN_EVERY_MS`](super::conflict_log::WARN_EVERY_MS), naming
//! city, facility and the two partitions.
//!
//! Refusing the second partition's events instead would not make the results
//! deterministic — which partition feeds a zone first depends on how the partitions
//! interleave — and would drop correct observations because of a keying mistake; the data
//! is kept and the condition is documented (`docs/guarantees.md`, "Conditions").

use stadtpuls_processing::catalog::{Catalog, CityKey};
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::PartitionConflict;
use stadtpuls_processing::window::watermark::SourceId;
use tracing::warn;

use super::Pipeline;
use super::step_output::StepOutput;
use crate::decode::StreamKind;

impl Pipeline {
    /// Counts and (rate-limited) logs the facilities a batch of `source` fed while another
    /// partition held them.
    pub(super) fn note_conflicts(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        conflicts: &[PartitionConflict],
        out: &mut StepOutput,
    ) {
        for conflict in conflicts {
            out.partition_conflicts += conflict.rows;
            let Some(info) = self.catalog.facilities().get(conflict.entity as usize) else {
                continue;
            };
            *self
                .counts
                .partition_conflicts
                .entry((info.city, StreamKind::Parking))
                .or_default() += conflict.rows;
            let log = &mut self.conflict_log;
            let Some(events) = log.warn_due(conflict.entity, conflict.rows, now) else {
                continue;
            };
            warn_conflict(
                &self.catalog,
                info.city,
                &info.id,
                (log.partition(source), log.partition(conflict.previous)),
                events,
                info.spots > 0,
            );
        }
    }
}

fn warn_conflict(
    catalog: &Catalog,
    city: CityKey,
    facility: &str,
    (partition, previous): (Option<i32>, Option<i32>),
    events: u64,
    zone: bool,
) {
    let city = catalog.city_id(city);
    let what = if zone {
        "the spots of this zone"
    } else {
        "the counts of this facility"
    };
    warn!(
        city,
        facility,
        partition,
        previous_partition = previous,
        events,
        "{what} arrive on more than one partition, so its windows depend on how the partitions interleave (and are split between instances); key its records by the facility/zone id (docs/formats.md, \"Record keys\")"
    );
}
