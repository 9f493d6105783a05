//! Why an event was rejected: the reasons are a closed set so they can label a counter.

use std::fmt;

/// The reason an event was refused. Bad input is normal input: each reason is counted
/// (`stadtpuls_events_rejected_total{reason}`) and dead-lettered, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Not valid JSON, or a required field missing or of the wrong type.
    Malformed,
    /// Larger than `kafka.max_message_bytes`.
    Oversized,
    /// The `city` is not configured.
    UnknownCity,
    /// The payload's `city` differs from the city of the topic it arrived on.
    CityMismatch,
    /// The sensor, facility or spot is not in the city's registry.
    UnknownSensor,
    /// Speed outside 0–250 km/h.
    SpeedOutOfRange,
    /// Occupancy outside 0–100 %.
    OccupancyOutOfRange,
    /// A negative vehicle count or number of spaces.
    NegativeCount,
    /// More vehicles than can physically pass in the interval, or more heavy vehicles than vehicles.
    ImplausibleCount,
    /// Interval length outside 1 s – 1 h.
    InvalidInterval,
    /// Lane number outside 0..=16 or beyond the sensor's lanes.
    InvalidLane,
    /// Event time more than the configured margin in the future.
    FutureTimestamp,
    /// Event time before 2000-01-01 or otherwise unrepresentable.
    TimestampOutOfRange,
    /// Free spaces above total spaces, or a total of zero.
    InvalidParking,
    /// A window the event belongs to had already closed.
    Late,
    /// Event time further ahead of its partition's newest event time than
    /// `windows.max_clock_jump`, unconfirmed by the next row (a sensor's clock glitch).
    ClockJump,
    /// A second copy of a message already taken (a LoRaWAN uplink with the same device,
    /// frame counter and session), so it is counted once.
    Duplicate,
    /// A well-formed message that carries no observation (a LoRaWAN join accept or
    /// downlink event, a device's startup frame).
    NoObservation,
}

impl RejectReason {
    /// Every reason, for pre-registering metric labels.
    pub const ALL: [RejectReason; 18] = [
        RejectReason::Malformed,
        RejectReason::Oversized,
        RejectReason::UnknownCity,
        RejectReason::CityMismatch,
        RejectReason::UnknownSensor,
        RejectReason::SpeedOutOfRange,
        RejectReason::OccupancyOutOfRange,
        RejectReason::NegativeCount,
        RejectReason::ImplausibleCount,
        RejectReason::InvalidInterval,
        RejectReason::InvalidLane,
        RejectReason::FutureTimestamp,
        RejectReason::TimestampOutOfRange,
        RejectReason::InvalidParking,
        RejectReason::Late,
        RejectReason::ClockJump,
        RejectReason::Duplicate,
        RejectReason::NoObservation,
    ];

    /// The snake_case label used in metrics and dead-letter headers.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::Oversized => "oversized",
            RejectReason::UnknownCity => "unknown_city",
            RejectReason::CityMismatch => "city_mismatch",
            RejectReason::UnknownSensor => "unknown_sensor",
            RejectReason::SpeedOutOfRange => "speed_out_of_range",
            RejectReason::OccupancyOutOfRange => "occupancy_out_of_range",
            RejectReason::NegativeCount => "negative_count",
            RejectReason::ImplausibleCount => "implausible_count",
            RejectReason::InvalidInterval => "invalid_interval",
            RejectReason::InvalidLane => "invalid_lane",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::TimestampOutOfRange => "timestamp_out_of_range",
            RejectReason::InvalidParking => "invalid_parking",
            RejectReason::Late => "late",
            RejectReason::ClockJump => "clock_jump",
            RejectReason::Duplicate => "duplicate",
            RejectReason::NoObservation => "no_observation",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused event: the reason (low cardinality) and a human-readable detail.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Closed-set reason, used as a metric label.
    pub reason: RejectReason,
    /// What exactly was wrong, e.g. "avg_speed_kmh 999 outside 0–250".
    pub detail: String,
}

impl Rejection {
    /// Creates a rejection.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}
