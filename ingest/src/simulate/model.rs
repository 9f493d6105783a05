//! The simulated entities of one city — traffic cross-sections, counted car parks and
//! on-street spots — and the messages they produce per one-minute step.

use std::collections::HashMap;

use super::curves::{self, LocalTime, ParkingProfile};
use super::emit::{Emitter, MsgClass};
use super::input::{CityInput, InputKind, OffsetFn, SensorInput};
use super::rng::{Rng, mix64};
use super::wire::{json_string, push_i64, push_rfc3339, push_str, push_tenths, push_u64};

pub(super) const MINUTE_MS: i64 = 60_000;
const HEARTBEAT_MS: i64 = 600_000;
/// Distance from the city centre within which a car park counts as inner-city.
const INNER_CITY_KM: f64 = 1.5;
/// Per-minute chance that a spot is closed (works, events, street cleaning).
const SPOT_CLOSE_PER_MIN: f64 = 1.4e-4;
/// Per-minute chance that a spot sensor reports `unknown` for a minute.
const SPOT_GLITCH_PER_MIN: f64 = 5e-5;

const SALT_TRAFFIC: u64 = 0x7472_6166;
const SALT_FACILITY: u64 = 0x6661_6369;
const SALT_SPOT: u64 = 0x7370_6f74;
const SALT_JAM: u64 = 0x6a61_6d21;

/// The first instant after `after` that is `phase` modulo `period`.
pub(super) fn next_tick(after: i64, phase: i64, period: i64) -> i64 {
    after - (after - phase).rem_euclid(period) + period
}

/// One city: its topics, time zone and entities.
pub(super) struct CitySim {
    pub(super) id: String,
    id_json: String,
    traffic_topic: String,
    parking_topic: String,
    offset: OffsetFn,
    traffic: Vec<TrafficSensor>,
    facilities: Vec<Facility>,
    spots: Vec<Spot>,
}

impl CitySim {
    pub(super) fn new(input: CityInput, seed: u64, start_ms: i64) -> Self {
        let start = LocalTime::new(start_ms, (input.offset)(start_ms));
        let centre = (input.lat, input.lon);
        let inner = |s: &SensorInput| distance_km(centre, (s.lat, s.lon)) <= INNER_CITY_KM;

        // A few cross-sections per city are congestion-prone: their peak demand exceeds
        // capacity, so the congestion metrics have something to show.
        let traffic_specs: Vec<&SensorInput> = input
            .sensors
            .iter()
            .filter(|s| s.kind == InputKind::Traffic)
            .collect();
        let jams = (traffic_specs.len() + 6) / 8;
        let mut by_hash: Vec<(u64, usize)> = traffic_specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    mix64(seed ^ SALT_JAM ^ super::rng::fnv1a(s.id.as_bytes())),
                    i,
                )
            })
            .collect();
        by_hash.sort_unstable();
        let mut prone = vec![false; traffic_specs.len()];
        for &(_, i) in by_hash.iter().take(jams) {
            prone[i] = true;
        }
        let traffic = traffic_specs
            .iter()
            .zip(prone)
            .map(|(spec, jam)| TrafficSensor::new(spec, seed, jam))
            .collect();

        // Facilities with a capacity are counted car parks; without one they are on-street
        // zones whose spots are in the registry (their occupancy comes from the spots).
        let mut zone_scale: HashMap<&str, f64> = HashMap::new();
        let mut facilities = Vec::new();
        for spec in input
            .sensors
            .iter()
            .filter(|s| s.kind == InputKind::Facility)
        {
            match spec.capacity {
                None => {
                    zone_scale.insert(spec.id.as_str(), if inner(spec) { 1.0 } else { 0.8 });
                }
                Some(0) => {}
                Some(capacity) => {
                    let profile = if spec.name.as_deref().is_some_and(|n| n.contains("P+R")) {
                        ParkingProfile::ParkAndRide
                    } else if inner(spec) {
                        ParkingProfile::InnerCity
                    } else {
                        ParkingProfile::Peripheral
                    };
                    facilities.push(Facility::new(spec, capacity, profile, seed, start));
                }
            }
        }
        let spots = input
            .sensors
            .iter()
            .filter(|s| s.kind == InputKind::Spot)
            .map(|spec| {
                let zone = spec
                    .facility_id
                    .as_deref()
                    .and_then(|f| zone_scale.get(f).copied());
                let scale = zone.unwrap_or(if inner(spec) { 1.0 } else { 0.8 });
                Spot::new(spec, scale, seed, start)
            })
            .collect();

        Self {
            id_json: json_string(&input.id),
            traffic_topic: format!("sensors.{}.traffic", input.id),
            parking_topic: format!("sensors.{}.parking", input.id),
            id: input.id,
            offset: input.offset,
            traffic,
            facilities,
            spots,
        }
    }

    /// Advances every entity over `(a, b]` (at most one minute) and emits its messages.
    pub(super) fn step(&mut self, a: i64, b: i64, interval_s: u32, em: &mut Emitter<'_>) {
        let offset = (self.offset)(a);
        let roads = CityCtx {
            city_json: &self.id_json,
            topic: &self.traffic_topic,
        };
        let interval_ms = i64::from(interval_s) * 1000;
        let mut end = next_tick(a, 0, interval_ms);
        while end <= b {
            let t = LocalTime::new(end - interval_ms / 2, offset);
            for sensor in &mut self.traffic {
                sensor.interval(&roads, end, t, interval_s, em);
            }
            end += interval_ms;
        }
        let parking = CityCtx {
            city_json: &self.id_json,
            topic: &self.parking_topic,
        };
        let t = LocalTime::new(a + (b - a) / 2, offset);
        for facility in &mut self.facilities {
            facility.step(&parking, a, b, t, em);
        }
        for spot in &mut self.spots {
            spot.step(&parking, a, b, t, em);
        }
    }
}

/// What an entity needs of its city to write a message.
struct CityCtx<'a> {
    city_json: &'a str,
    topic: &'a str,
}

/// Approximate ground distance (equirectangular), good enough within a city.
fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let dy = (b.0 - a.0) * 110.57;
    let dx = (b.1 - a.1) * 111.32 * a.0.to_radians().cos();
    (dx * dx + dy * dy).sqrt()
}

struct Lane {
    number: u8,
    /// Demand of this lane relative to the cross-section.
    share: f64,
    speed_factor: f64,
    heavy_factor: f64,
    /// AR(1) speed deviation, km/h.
    speed_noise: f64,
}

struct TrafficSensor {
    id: String,
    id_json: String,
    free_flow: f64,
    lane_capacity_vph: f64,
    /// Demand/capacity ratio at the weekday morning peak.
    peak_util: f64,
    heavy_scale: f64,
    /// AR(1) relative demand deviation shared by the lanes.
    demand_noise: f64,
    lanes: Vec<Lane>,
    rng: Rng,
}

impl TrafficSensor {
    fn new(spec: &SensorInput, seed: u64, jam: bool) -> Self {
        let mut rng = Rng::for_id(seed, SALT_TRAFFIC, &spec.id);
        let free_flow = spec
            .free_flow_kmh
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(50.0)
            .clamp(10.0, 130.0);
        let n = spec.lanes.max(1);
        let arterial = n >= 2 && free_flow >= 50.0;
        let peak_util = if jam {
            rng.range(1.05, 1.15)
        } else if arterial {
            rng.range(0.6, 0.85)
        } else if free_flow <= 30.0 || n == 1 {
            rng.range(0.35, 0.6)
        } else {
            rng.range(0.45, 0.75)
        };
        let heavy_scale = rng.range(0.85, 1.15);
        let lanes = (1..=n)
            .map(|number| {
                // Lane 1 is the kerb lane: slower, fewer cars, most of the trucks.
                let (share, speed_factor, heavy_factor) = match (n, number) {
                    (1, _) => (1.0, 1.0, 1.0),
                    (_, 1) => (0.95, 0.95, 1.6),
                    _ => (1.02, 1.03, 0.5),
                };
                Lane {
                    number,
                    share: share * rng.range(0.97, 1.03),
                    speed_factor,
                    heavy_factor,
                    speed_noise: 0.0,
                }
            })
            .collect();
        Self {
            id_json: json_string(&spec.id),
            id: spec.id.clone(),
            free_flow,
            lane_capacity_vph: curves::lane_capacity_vph(free_flow),
            peak_util,
            heavy_scale,
            demand_noise: 0.0,
            lanes,
            rng,
        }
    }

    /// One counting interval ending at `end`: a message per lane.
    fn interval(
        &mut self,
        city: &CityCtx<'_>,
        end: i64,
        t: LocalTime,
        interval_s: u32,
        em: &mut Emitter<'_>,
    ) {
        let rng = &mut self.rng;
        self.demand_noise = 0.93 * self.demand_noise + 0.0175 * rng.normal();
        let demand = self.peak_util * curves::traffic_demand(t) * (1.0 + self.demand_noise);
        let heavy_share = curves::heavy_share(t, self.free_flow) * self.heavy_scale;
        let hours = f64::from(interval_s) / 3600.0;
        let vf = self.free_flow;
        for lane in &mut self.lanes {
            let (flow, speed_frac) = curves::speed_flow(demand * lane.share);
            let count = rng
                .poisson(flow * self.lane_capacity_vph * hours)
                .min(interval_s);
            let heavy = rng.binomial(count, (heavy_share * lane.heavy_factor).clamp(0.03, 0.15));
            lane.speed_noise = 0.6 * lane.speed_noise + rng.normal();
            let (speed, occupancy) = if count == 0 {
                (None, 0.0)
            } else {
                let c = f64::from(count);
                let h = f64::from(heavy);
                let car = vf * speed_frac * lane.speed_factor + lane.speed_noise;
                // Trucks keep to ~85 km/h on fast roads.
                let mean = (car * (c - h) + car.min(85.0) * h) / c;
                let speed = (mean + rng.normal() * 5.0 / c.sqrt()).clamp(3.0, vf + 15.0);
                // Occupancy = flow × effective vehicle length / speed.
                let length_m = (6.5 * (c - h) + 17.0 * h) / c;
                let occ = c / hours * length_m / (10.0 * speed) * (1.0 + 0.05 * rng.normal());
                (Some(speed), occ.clamp(0.0, 100.0))
            };

            let plan = em.plan(MsgClass::Traffic);
            let mut p = Vec::with_capacity(224);
            push_str(&mut p, "{\"city\":");
            push_str(&mut p, plan.city(city.city_json));
            push_str(&mut p, ",\"sensor_id\":");
            push_str(&mut p, &self.id_json);
            push_str(&mut p, ",\"lane\":");
            push_u64(&mut p, u64::from(lane.number));
            push_str(&mut p, ",\"ts\":");
            push_rfc3339(&mut p, plan.ts(end));
            push_str(&mut p, ",\"interval_s\":");
            push_u64(&mut p, u64::from(interval_s));
            push_str(&mut p, ",\"vehicle_count\":");
            push_i64(&mut p, plan.count(count));
            push_str(&mut p, ",\"heavy_vehicle_count\":");
            push_u64(&mut p, u64::from(heavy));
            if let Some(speed) = plan.speed(speed) {
                push_str(&mut p, ",\"avg_speed_kmh\":");
                push_tenths(&mut p, speed);
            }
            push_str(&mut p, ",\"occupancy_pct\":");
            push_tenths(&mut p, plan.occupancy(occupancy));
            p.push(b'}');
            em.emit(city.topic, &self.id, end, plan, p);
        }
    }
}

struct Facility {
    id: String,
    id_json: String,
    capacity: u32,
    profile: ParkingProfile,
    /// How full this facility gets relative to its profile.
    scale: f64,
    /// Occupied fraction, a mean-reverting random walk around the target curve.
    occupied: f64,
    /// Offset of the count within the minute.
    phase_ms: i64,
    rng: Rng,
}

impl Facility {
    fn new(
        spec: &SensorInput,
        capacity: u32,
        profile: ParkingProfile,
        seed: u64,
        start: LocalTime,
    ) -> Self {
        let mut rng = Rng::for_id(seed, SALT_FACILITY, &spec.id);
        let scale = match profile {
            ParkingProfile::InnerCity => rng.range(0.93, 1.04),
            ParkingProfile::ParkAndRide => rng.range(0.9, 1.05),
            ParkingProfile::Peripheral | ParkingProfile::OnStreet => rng.range(0.8, 1.05),
        };
        let occupied =
            (curves::parking_target(profile, start) * scale + 0.02 * rng.normal()).clamp(0.0, 1.0);
        let phase_ms = rng.below(60) as i64 * 1000;
        Self {
            id_json: json_string(&spec.id),
            id: spec.id.clone(),
            capacity,
            profile,
            scale,
            occupied,
            phase_ms,
            rng,
        }
    }

    fn step(&mut self, city: &CityCtx<'_>, a: i64, b: i64, t: LocalTime, em: &mut Emitter<'_>) {
        let dt = (b - a) as f64 / MINUTE_MS as f64;
        let target = (curves::parking_target(self.profile, t) * self.scale).clamp(0.0, 1.0);
        let pull = 1.0 - 0.92_f64.powf(dt);
        self.occupied = (self.occupied
            + (target - self.occupied) * pull
            + 0.006 * dt.sqrt() * self.rng.normal())
        .clamp(0.0, 1.0);
        let ts = next_tick(a, self.phase_ms, MINUTE_MS);
        if ts > b {
            return;
        }
        let cap = f64::from(self.capacity);
        let occupied = (self.occupied * cap).round().clamp(0.0, cap) as u32;
        let free = self.capacity.saturating_sub(occupied);

        let plan = em.plan(MsgClass::Facility);
        let mut p = Vec::with_capacity(128);
        push_str(&mut p, "{\"city\":");
        push_str(&mut p, plan.city(city.city_json));
        push_str(&mut p, ",\"kind\":\"facility\",\"id\":");
        push_str(&mut p, &self.id_json);
        push_str(&mut p, ",\"ts\":");
        push_i64(&mut p, plan.ts(ts));
        push_str(&mut p, ",\"free_spaces\":");
        push_i64(&mut p, plan.count(free));
        push_str(&mut p, ",\"total_spaces\":");
        push_u64(&mut p, u64::from(self.capacity));
        p.push(b'}');
        em.emit(city.topic, &self.id, ts, plan, p);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpotStatus {
    Free,
    Occupied,
    Closed,
    Unknown,
}

impl SpotStatus {
    fn as_json(self) -> &'static str {
        match self {
            SpotStatus::Free => "\"free\"",
            SpotStatus::Occupied => "\"occupied\"",
            SpotStatus::Closed => "\"closed\"",
            SpotStatus::Unknown => "\"unknown\"",
        }
    }
}

struct Spot {
    id: String,
    /// The record key: the zone (facility) id, so all of a zone's spots share a partition;
    /// the spot's own id if it has no zone.
    zone_key: String,
    id_json: String,
    facility_json: Option<String>,
    /// Zone factor on the on-street curve (outer zones are emptier).
    scale: f64,
    occupied: bool,
    closed_until: Option<i64>,
    /// The sensor reported `unknown`; it reports its true state again next minute.
    glitch: bool,
    heartbeat_phase_ms: i64,
    rng: Rng,
}

impl Spot {
    fn new(spec: &SensorInput, scale: f64, seed: u64, start: LocalTime) -> Self {
        let mut rng = Rng::for_id(seed, SALT_SPOT, &spec.id);
        let scale = scale * rng.range(0.9, 1.05);
        let occupied = rng.chance(curves::parking_target(ParkingProfile::OnStreet, start) * scale);
        let heartbeat_phase_ms = rng.below(600) as i64 * 1000;
        Self {
            id_json: json_string(&spec.id),
            facility_json: spec.facility_id.as_deref().map(json_string),
            zone_key: spec.facility_id.clone().unwrap_or_else(|| spec.id.clone()),
            id: spec.id.clone(),
            scale,
            occupied,
            closed_until: None,
            glitch: false,
            heartbeat_phase_ms,
            rng,
        }
    }

    fn status(&self) -> SpotStatus {
        if self.glitch {
            SpotStatus::Unknown
        } else if self.closed_until.is_some() {
            SpotStatus::Closed
        } else if self.occupied {
            SpotStatus::Occupied
        } else {
            SpotStatus::Free
        }
    }

    fn step(&mut self, city: &CityCtx<'_>, a: i64, b: i64, t: LocalTime, em: &mut Emitter<'_>) {
        // Spot events fall on whole seconds in (a, b].
        let first_s = a.div_euclid(1000) + 1;
        let last_s = b.div_euclid(1000);
        if first_s > last_s {
            return;
        }
        let dt = (b - a) as f64 / MINUTE_MS as f64;
        let before = self.status();
        let at = (first_s + self.rng.below((last_s - first_s + 1) as u64) as i64) * 1000;
        let change_at = if self.glitch {
            self.glitch = false;
            Some(at)
        } else if let Some(until) = self.closed_until {
            (until <= b).then(|| {
                self.closed_until = None;
                self.occupied = false;
                until.max(first_s * 1000)
            })
        } else if self.rng.chance(SPOT_CLOSE_PER_MIN * dt) {
            let minutes = self.rng.range(20.0, 180.0);
            self.closed_until = Some(at + (minutes * 60.0).round() as i64 * 1000);
            Some(at)
        } else if self.rng.chance(SPOT_GLITCH_PER_MIN * dt) {
            self.glitch = true;
            Some(at)
        } else {
            let p = (curves::parking_target(ParkingProfile::OnStreet, t) * self.scale)
                .clamp(0.02, 0.98);
            let leave = 1.0 / curves::spot_dwell_min(t);
            let rate = if self.occupied {
                leave
            } else {
                leave * p / (1.0 - p)
            };
            self.rng.chance(1.0 - (-rate * dt).exp()).then(|| {
                self.occupied = !self.occupied;
                at
            })
        };
        let after = self.status();
        let heartbeat =
            Some(next_tick(a, self.heartbeat_phase_ms, HEARTBEAT_MS)).filter(|&h| h <= b);
        match (change_at, heartbeat) {
            (Some(c), Some(h)) if h < c => {
                self.emit(city, h, before, em);
                self.emit(city, c, after, em);
            }
            (Some(c), Some(h)) if h > c => {
                self.emit(city, c, after, em);
                self.emit(city, h, after, em);
            }
            (Some(c), _) => self.emit(city, c, after, em),
            (None, Some(h)) => self.emit(city, h, after, em),
            (None, None) => {}
        }
    }

    fn emit(&self, city: &CityCtx<'_>, ts: i64, status: SpotStatus, em: &mut Emitter<'_>) {
        let plan = em.plan(MsgClass::Spot);
        let mut p = Vec::with_capacity(160);
        push_str(&mut p, "{\"city\":");
        push_str(&mut p, plan.city(city.city_json));
        push_str(&mut p, ",\"kind\":\"spot\",\"id\":");
        push_str(&mut p, &self.id_json);
        if let Some(facility) = &self.facility_json {
            push_str(&mut p, ",\"facility_id\":");
            push_str(&mut p, facility);
        }
        push_str(&mut p, ",\"ts\":");
        push_rfc3339(&mut p, plan.ts(ts));
        push_str(&mut p, ",\"status\":");
        push_str(&mut p, status.as_json());
        p.push(b'}');
        let key = if em.spot_keys_by_spot {
            &self.id
        } else {
            &self.zone_key
        };
        em.emit(city.topic, key, ts, plan, p);
    }
}
