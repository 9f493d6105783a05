//! The fate of each message — a fault, a delay — drawn as it is written, and the messages
//! of a step collected for delivery.

use super::rng::Rng;

/// How far a delayed traffic message may lag behind its event time (below the default
/// 30 s allowed out-of-orderness).
pub(super) const MAX_DELAY_MS: i64 = 20_000;
/// The event-time shift of a "future timestamp" fault.
pub(super) const FUTURE_SHIFT_MS: i64 = 3_600_000;
/// One truncation fault in this many is a poison message instead: the message padded to
/// [`POISON_BYTES`] with an unterminated string, malformed as a whole.
pub(super) const POISON_ONE_IN: u64 = 8;
/// Size of a poison message: just under librdkafka's default `message.max.bytes`
/// (1,000,000) with its key, so the producer takes it, while its dead letter (the payload
/// plus the origin headers) would not fit unless cut.
pub(super) const POISON_BYTES: usize = 999_900;
/// The city id of an "unknown city" fault.
pub(super) const UNKNOWN_CITY_JSON: &str = "\"atlantis\"";
/// One message of the feed, ready for a Kafka producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// `sensors.<city>.traffic` or `sensors.<city>.parking`.
    pub topic: String,
    /// Message key: the entity whose windows the message feeds — the traffic sensor id
    /// (every lane of a sensor), the facility id, or for a spot its zone's (facility) id,
    /// so a partitioner by key sends all of a zone's spots to one partition
    /// ([`super::SimulatedFeed::with_spot_keys_by_spot`] keys spots by their own id instead).
    pub key: String,
    /// When the message is delivered, epoch ms: its event time, or up to 20 s later for a
    /// delayed (out-of-order) traffic message.
    pub ts_ms: i64,
    /// The JSON payload.
    pub payload: Vec<u8>,
}

/// The kinds of bad message the feed can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Fault {
    /// Cut short, or (one in [`POISON_ONE_IN`]) padded to [`POISON_BYTES`] and never closed.
    Truncated,
    Speed999,
    Occupancy140,
    NegativeCount,
    UnknownCity,
    FutureTs,
}

impl Fault {
    pub(super) const TRAFFIC: [Fault; 6] = [
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
pub(super) enum MsgClass {
    Traffic,
    Facility,
    Spot,
}

/// The fate of one message, drawn before it is written.
pub(super) struct Plan {
    pub(super) fault: Option<Fault>,
    pub(super) delay_ms: i64,
    pub(super) param: u64,
}

impl Plan {
    pub(super) fn city<'a>(&self, city_json: &'a str) -> &'a str {
        if self.fault == Some(Fault::UnknownCity) {
            UNKNOWN_CITY_JSON
        } else {
            city_json
        }
    }

    pub(super) fn ts(&self, ts: i64) -> i64 {
        if self.fault == Some(Fault::FutureTs) {
            ts + FUTURE_SHIFT_MS
        } else {
            ts
        }
    }

    pub(super) fn count(&self, count: u32) -> i64 {
        if self.fault == Some(Fault::NegativeCount) {
            -1 - (self.param % 20) as i64
        } else {
            i64::from(count)
        }
    }

    pub(super) fn speed(&self, speed: Option<f64>) -> Option<f64> {
        if self.fault == Some(Fault::Speed999) {
            Some(999.0)
        } else {
            speed
        }
    }

    pub(super) fn occupancy(&self, occupancy: f64) -> f64 {
        if self.fault == Some(Fault::Occupancy140) {
            140.0
        } else {
            occupancy
        }
    }
}

pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) msg: SimMessage,
}

/// Collects the messages of one step, deciding faults and delays.
pub(super) struct Emitter<'a> {
    pub(super) faults: &'a mut Rng,
    pub(super) bad_ratio: f64,
    pub(super) out_of_order_ratio: f64,
    pub(super) spot_keys_by_spot: bool,
    pub(super) seq: &'a mut u64,
    pub(super) out: &'a mut Vec<Pending>,
}

impl Emitter<'_> {
    /// Draws the fate of the next message (a fixed number of draws per message, so the
    /// ratios do not shift the rest of the stream).
    pub(super) fn plan(&mut self, class: MsgClass) -> Plan {
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

    pub(super) fn emit(
        &mut self,
        topic: &str,
        key: &str,
        event_ms: i64,
        plan: Plan,
        mut payload: Vec<u8>,
    ) {
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
