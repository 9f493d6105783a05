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
mod model;
mod rng;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, Offset, TimeZone};
use stadtpuls_config::{CityRegistry, SensorKind, SensorSpec};

use model::{CitySim, MINUTE_MS};
use rng::Rng;

/// How far a delayed traffic message may lag behind its event time (below the default
/// 30 s allowed out-of-orderness).
const MAX_DELAY_MS: i64 = 20_000;
/// The event-time shift of a "future timestamp" fault.
const FUTURE_SHIFT_MS: i64 = 3_600_000;
/// One truncation fault in this many is a poison message instead: the message padded to
/// [`POISON_BYTES`] with an unterminated string, malformed as a whole.
const POISON_ONE_IN: u64 = 8;
/// Size of a poison message: just under librdkafka's default `message.max.bytes`
/// (1,000,000) with its key, so the producer takes it, while its dead letter (the payload
/// plus the origin headers) would not fit unless cut.
pub(crate) const POISON_BYTES: usize = 999_900;
/// The city id of an "unknown city" fault.
const UNKNOWN_CITY_JSON: &str = "\"atlantis\"";
const SALT_FAULTS: u64 = 0x6661_756c_7473;

/// One message of the feed, ready for a Kafka producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// `sensors.<city>.traffic` or `sensors.<city>.parking`.
    pub topic: String,
    /// Message key: the entity whose windows the message feeds — the traffic sensor id
    /// (every lane of a sensor), the facility id, or for a spot its zone's (facility) id,
    /// so a partitioner by key sends all of a zone's spots to one partition
    /// ([`SimulatedFeed::with_spot_keys_by_spot`] keys spots by their own id instead).
    pub key: String,
    /// When the message is delivered, epoch ms: its event time, or up to 20 s later for a
    /// delayed (out-of-order) traffic message.
    pub ts_ms: i64,
    /// The JSON payload.
    pub payload: Vec<u8>,
}

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

/// Seconds east of UTC of a city's zone at a UTC instant (epoch ms).
type OffsetFn = Box<dyn Fn(i64) -> i32 + Send + Sync>;

fn zone_offset<Z>(zone: Z) -> OffsetFn
where
    Z: TimeZone + Send + Sync + 'static,
{
    Box::new(move |ms| match DateTime::from_timestamp_millis(ms) {
        Some(utc) => zone
            .offset_from_utc_datetime(&utc.naive_utc())
            .fix()
            .local_minus_utc(),
        None => 0,
    })
}

/// What the simulation needs of a city (decoupled from the registry types).
struct CityInput {
    id: String,
    lat: f64,
    lon: f64,
    offset: OffsetFn,
    sensors: Vec<SensorInput>,
}

impl CityInput {
    fn from_registry(registry: &CityRegistry) -> Self {
        Self {
            id: registry.city.id.clone(),
            lat: registry.city.lat,
            lon: registry.city.lon,
            offset: zone_offset(registry.city.timezone),
            sensors: registry
                .sensors
                .iter()
                .map(SensorInput::from_spec)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputKind {
    Traffic,
    Spot,
    Facility,
}

#[derive(Debug, Clone)]
struct SensorInput {
    id: String,
    kind: InputKind,
    name: Option<String>,
    lat: f64,
    lon: f64,
    lanes: u8,
    capacity: Option<u32>,
    free_flow_kmh: Option<f64>,
    facility_id: Option<String>,
}

impl SensorInput {
    fn from_spec(spec: &SensorSpec) -> Self {
        Self {
            id: spec.id.clone(),
            kind: match spec.kind {
                SensorKind::Traffic => InputKind::Traffic,
                SensorKind::ParkingSpot => InputKind::Spot,
                SensorKind::ParkingFacility => InputKind::Facility,
            },
            name: spec.name.clone(),
            lat: spec.lat,
            lon: spec.lon,
            lanes: spec.lanes,
            capacity: spec.capacity,
            free_flow_kmh: spec.free_flow_kmh,
            facility_id: spec.facility_id.clone(),
        }
    }
}

/// The kinds of bad message the feed can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fault {
    /// Cut short, or (one in [`POISON_ONE_IN`]) padded to [`POISON_BYTES`] and never closed.
    Truncated,
    Speed999,
    Occupancy140,
    NegativeCount,
    UnknownCity,
    FutureTs,
}

impl Fault {
    const TRAFFIC: [Fault; 6] = [
        Fault::Truncated,
        Fault::Speed999,
        Fault::Occupancy140,
        Fault::NegativeCount,
        Fault::UnknownCity,
        Fault::FutureTs,
    ];
    const FACILITY: [Fault; 4] = [
        Fault::Truncated,
        Fault::NegativeCount,
        Fault::UnknownCity,
        Fault::FutureTs,
    ];
    const SPOT: [Fault; 3] = [Fault::Truncated, Fault::UnknownCity, Fault::FutureTs];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MsgClass {
    Traffic,
    Facility,
    Spot,
}

/// The fate of one message, drawn before it is written.
struct Plan {
    fault: Option<Fault>,
    delay_ms: i64,
    param: u64,
}

impl Plan {
    fn city<'a>(&self, city_json: &'a str) -> &'a str {
        if self.fault == Some(Fault::UnknownCity) {
            UNKNOWN_CITY_JSON
        } else {
            city_json
        }
    }

    fn ts(&self, ts: i64) -> i64 {
        if self.fault == Some(Fault::FutureTs) {
            ts + FUTURE_SHIFT_MS
        } else {
            ts
        }
    }

    fn count(&self, count: u32) -> i64 {
        if self.fault == Some(Fault::NegativeCount) {
            -1 - (self.param % 20) as i64
        } else {
            i64::from(count)
        }
    }

    fn speed(&self, speed: Option<f64>) -> Option<f64> {
        if self.fault == Some(Fault::Speed999) {
            Some(999.0)
        } else {
            speed
        }
    }

    fn occupancy(&self, occupancy: f64) -> f64 {
        if self.fault == Some(Fault::Occupancy140) {
            140.0
        } else {
            occupancy
        }
    }
}

struct Pending {
    seq: u64,
    msg: SimMessage,
}

/// Collects the messages of one step, deciding faults and delays.
struct Emitter<'a> {
    faults: &'a mut Rng,
    bad_ratio: f64,
    out_of_order_ratio: f64,
    spot_keys_by_spot: bool,
    seq: &'a mut u64,
    out: &'a mut Vec<Pending>,
}

impl Emitter<'_> {
    /// Draws the fate of the next message (a fixed number of draws per message, so the
    /// ratios do not shift the rest of the stream).
    fn plan(&mut self, class: MsgClass) -> Plan {
        let bad = self.faults.unit();
        let kind = self.faults.unit();
        let late = self.faults.unit();
        let param = self.faults.next_u64();
        let kinds: &[Fault] = match class {
            MsgClass::Traffic => &Fault::TRAFFIC,
            MsgClass::Facility => &Fault::FACILITY,
            MsgClass::Spot => &Fault::SPOT,
        };
        let fault = if bad < self.bad_ratio {
            kinds.get((kind * kinds.len() as f64) as usize).copied()
        } else {
            None
        };
        let delay_ms = if class == MsgClass::Traffic && late < self.out_of_order_ratio {
            1000 + ((param >> 32) % (MAX_DELAY_MS as u64 - 999)) as i64
        } else {
            0
        };
        Plan {
            fault,
            delay_ms,
            param,
        }
    }

    fn emit(&mut self, topic: &str, key: &str, event_ms: i64, plan: Plan, mut payload: Vec<u8>) {
        if plan.fault == Some(Fault::Truncated) && (plan.param >> 40).is_multiple_of(POISON_ONE_IN)
        {
            // A poison message: the start of the observation, then padding that never ends.
            payload.truncate(payload.len().saturating_sub(1));
            payload.extend_from_slice(br#","pad":""#);
            payload.resize(POISON_BYTES.max(payload.len()), b'x');
        } else if plan.fault == Some(Fault::Truncated) {
            // Cut somewhere after the first third, always before the closing brace.
            let len = payload.len();
            let keep = len / 3 + (plan.param as usize) % (len - len / 3).saturating_sub(1).max(1);
            payload.truncate(keep.min(len.saturating_sub(2)));
        }
        *self.seq += 1;
        self.out.push(Pending {
            seq: *self.seq,
            msg: SimMessage {
                topic: topic.to_owned(),
                key: key.to_owned(),
                ts_ms: event_ms + plan.delay_ms,
                payload,
            },
        });
    }
}
