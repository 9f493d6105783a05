//! A deterministic simulated feed of every registered city's traffic and parking sensors.
//!
//! # What it is for
//!
//! * **`stadtpuls demo`** runs the whole pipeline without Kafka: this feed is its embedded
//!   default source, so a fresh checkout shows live congestion and parking metrics for the
//!   nine cities straight away.
//! * **`stadtpuls produce`** publishes the same messages to a real Kafka cluster (topics
//!   `sensors.<city>.traffic` and `sensors.<city>.parking`), to exercise a deployment,
//!   load-test it, or replay a reproducible day.
//!
//! The feed writes the *native JSON wire format* exactly as the city gateways do, so
//! everything downstream — decoding, validation, the dead-letter sink, windows and
//! metrics — runs on it unchanged. It can also inject realistic faults
//! ([`SimulatedFeed::with_bad_ratio`]) and out-of-order deliveries
//! ([`SimulatedFeed::with_out_of_order_ratio`]) so the rejection and lateness paths have
//! something to do.
//!
//! # Messages
//!
//! * Traffic, one per sensor, lane and counting interval; `ts` is the end of the interval:
//!   `{"city":"ulm","sensor_id":"ulm-t-001","lane":1,"ts":"2026-11-25T10:15:00Z","interval_s":60,
//!   "vehicle_count":17,"heavy_vehicle_count":2,"avg_speed_kmh":47.5,"occupancy_pct":12.3}`
//!   (`avg_speed_kmh` is left out when no vehicle passed).
//! * Car-park counts (facilities with a registered capacity), every 60 s at a fixed
//!   second of the minute per facility, `ts` in epoch ms:
//!   `{"city":"ulm","kind":"facility","id":"ulm-p-01","ts":1795478400000,"free_spaces":120,"total_spaces":400}`.
//! * On-street spots, on every state change plus a heartbeat every 10 minutes, keyed by
//!   their zone (`facility_id`), not their own id, so one zone stays on one partition:
//!   `{"city":"ulm","kind":"spot","id":"ulm-s-001","facility_id":"ulm-z-01","ts":"2026-11-25T10:15:03Z","status":"occupied"}`.
//!   Zones (facilities without a capacity) send no counts: their occupancy is their spots'.
//!
//! # Curve model
//!
//! All curves are evaluated in each city's **local time** (its registry time zone, DST
//! included) as piecewise-linear tables per day type — Monday–Thursday, Friday, Saturday,
//! Sunday — that agree at midnight (see `simulate/curves.rs`).
//!
//! * **Traffic demand** peaks at ~07:30 and ~17:00 on weekdays (Fridays earlier in the
//!   afternoon), is ~4 % of the peak at night, and is flatter with a later midday peak at
//!   weekends. A sensor's demand/capacity ratio at the morning peak depends on its road:
//!   lane capacity grows with the free-flow speed (500 veh/h at 30 km/h, 1700 at 100 km/h)
//!   and multi-lane arterials run closer to capacity. About one sensor in eight (at least
//!   one per city with two or more sensors) is congestion-prone: its peak demand exceeds
//!   capacity. A slow AR(1) noise varies the demand from minute to minute.
//! * **Speed–flow**: below 90 % of capacity the speed drops gently from (slightly above)
//!   free flow; beyond it the flow breaks down — speed collapses towards a near-jam and
//!   the served flow falls. Lane 1 (kerb lane) is slower and carries most trucks. The
//!   reported time-mean speed has per-lane AR(1) noise plus sampling noise shrinking with
//!   the count, clamped to 3 … free flow + 15 km/h.
//! * **Counts** are Poisson around the served flow; heavy vehicles are a binomial share
//!   of 3–15 %, more on 70/100 km/h roads, on weekdays and at night, least on Sundays.
//! * **Occupancy** is flow × effective vehicle length / speed (6.5 m per car, 17 m per
//!   truck), so it rises with load and jumps in a jam.
//! * **Car parks** follow a target curve by use: inner-city (within 1.5 km of the city
//!   centre) fill from ~08:00 to a midday/afternoon plateau and reach ~90–100 % on
//!   Saturdays; P+R (name contains `P+R`) fill on weekday mornings and empty in the
//!   evening; others are peripheral. The occupied fraction is a mean-reverting random walk
//!   around the target (time constant ~12 min, ±1.5 % of capacity), so counts are smooth.
//! * **Spots** are two-state Markov chains whose steady state follows the on-street curve
//!   (residents at night, visitors by day, outer zones emptier) with mean dwell times of
//!   45 min by day and hours overnight. Now and then a spot is closed for 20–180 min or
//!   reports `unknown` for a minute.
//!
//! # Determinism and cost
//!
//! Everything derives from the seed: each entity has its own SplitMix64 stream keyed by
//! its id, and the feed advances in fixed one-minute steps aligned to the clock, so the
//! output is byte-identical for a seed whatever the `advance_to` chunking. Messages are
//! formatted straight into their byte buffers (no `serde_json::Value`); one simulated hour
//! of nine demo cities takes a few milliseconds.

mod curves;
mod emit;
mod input;
mod model;
mod rng;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;

use stadtpuls_config::CityRegistry;

pub use emit::SimMessage;
use emit::{Emitter, Pending};
use input::CityInput;
use model::{CitySim, MINUTE_MS};
use rng::Rng;

const SALT_FAULTS: u64 = 0x6661_756c_7473;

/// A deterministic simulated feed of the registered cities with plausible daily curves.
///
/// See the [module documentation](self) for the model.
pub struct SimulatedFeed {
    cities: Vec<CitySim>,
    interval_s: u32,
    now_ms: i64,
    /// Every step up to here has been simulated; `pending` holds what is not yet due.
    generated_to: i64,
    seq: u64,
    pending: Vec<Pending>,
    faults: Rng,
    bad_ratio: f64,
    out_of_order_ratio: f64,
    spot_keys_by_spot: bool,
}

impl fmt::Debug for SimulatedFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedFeed")
            .field(
                "cities",
                &self
                    .cities
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("interval_s", &self.interval_s)
            .field("now_ms", &self.now_ms)
            .field("pending", &self.pending.len())
            .field("bad_ratio", &self.bad_ratio)
            .field("out_of_order_ratio", &self.out_of_order_ratio)
            .field("spot_keys_by_spot", &self.spot_keys_by_spot)
            .finish_non_exhaustive()
    }
}

impl SimulatedFeed {
    /// A feed of the sensors in `registries`, starting at event time `start_ms` (epoch ms),
    /// counting traffic in intervals of `interval_s` seconds (60 typical; 0 is taken as 1).
    /// Traffic intervals end on multiples of `interval_s` since the epoch.
    pub fn new(registries: &[CityRegistry], seed: u64, start_ms: i64, interval_s: u32) -> Self {
        let inputs = registries.iter().map(CityInput::from_registry).collect();
        Self::from_inputs(inputs, seed, start_ms, interval_s)
    }

    fn from_inputs(inputs: Vec<CityInput>, seed: u64, start_ms: i64, interval_s: u32) -> Self {
        Self {
            cities: inputs
                .into_iter()
                .map(|c| CitySim::new(c, seed, start_ms))
                .collect(),
            interval_s: interval_s.max(1),
            now_ms: start_ms,
            generated_to: start_ms,
            seq: 0,
            pending: Vec::new(),
            faults: Rng::new(seed, SALT_FAULTS),
            bad_ratio: 0.0,
            out_of_order_ratio: 0.01,
            spot_keys_by_spot: false,
        }
    }

    /// Replaces a fraction `ratio` (clamped to 0.0..=1.0, default 0.0) of the messages with
    /// a realistic bad one: truncated JSON (one in eight of them a ~1 MB poison message
    /// that never closes), speed 999, occupancy 140, a negative count, the unknown city
    /// `atlantis`, or a timestamp one hour in the future (each as applicable to the message
    /// kind). Deterministic from the seed.
    #[must_use]
    pub fn with_bad_ratio(mut self, ratio: f64) -> Self {
        self.bad_ratio = clamp_ratio(ratio);
        self
    }

    /// Delivers a fraction `ratio` (clamped to 0.0..=1.0, default 0.01) of the traffic
    /// messages late — 1 to 20 s after their event time, so out of order but within the
    /// default 30 s allowed out-of-orderness. Their payload `ts` is unchanged; their
    /// [`SimMessage::ts_ms`] is the delivery time. With 60 s intervals a late message lands
    /// behind newer parking events but never behind a newer interval of its own topic;
    /// with intervals shorter than the delay it is out of order within its topic too.
    #[must_use]
    pub fn with_out_of_order_ratio(mut self, ratio: f64) -> Self {
        self.out_of_order_ratio = clamp_ratio(ratio);
        self
    }

    /// Keys spot records by the spot's own id instead of its zone's (default `false`), as a
    /// partner gateway that keys wrongly would: a partitioner by key then spreads one zone
    /// over several partitions. A fault to exercise the pipeline's detection
    /// (`stadtpuls_partition_conflicts_total`); payloads are unchanged.
    #[must_use]
    pub fn with_spot_keys_by_spot(mut self, by_spot: bool) -> Self {
        self.spot_keys_by_spot = by_spot;
        self
    }

    /// The feed's current event time: the last `to_ms` advanced to, or the start.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Every message delivered in `(now_ms(), to_ms]`, ordered by [`SimMessage::ts_ms`]
    /// (ties in a stable, deterministic order), advancing the feed to `to_ms`. Returns
    /// nothing if `to_ms` is not after the current time.
    pub fn advance_to(&mut self, to_ms: i64) -> Vec<SimMessage> {
        if to_ms <= self.now_ms {
            return Vec::new();
        }
        while self.generated_to < to_ms {
            let a = self.generated_to;
            let b = model::next_tick(a, 0, MINUTE_MS);
            let mut em = Emitter {
                faults: &mut self.faults,
                bad_ratio: self.bad_ratio,
                out_of_order_ratio: self.out_of_order_ratio,
                spot_keys_by_spot: self.spot_keys_by_spot,
                seq: &mut self.seq,
                out: &mut self.pending,
            };
            for city in &mut self.cities {
                city.step(a, b, self.interval_s, &mut em);
            }
            self.generated_to = b;
        }
        self.now_ms = to_ms;
        self.pending.sort_unstable_by_key(|p| (p.msg.ts_ms, p.seq));
        let due = self.pending.partition_point(|p| p.msg.ts_ms <= to_ms);
        let later = self.pending.split_off(due);
        std::mem::replace(&mut self.pending, later)
            .into_iter()
            .map(|p| p.msg)
            .collect()
    }
}

fn clamp_ratio(ratio: f64) -> f64 {
    if ratio.is_nan() {
        0.0
    } else {
        ratio.clamp(0.0, 1.0)
    }
}
