//! The reference: a deliberately plain simulation of the documented rules, written from
//! `window/watermark.rs`, `WindowSpec` and `docs/metrics.md`, not from the operator's code.
//!
//! State lives in `BTreeMap`s keyed by (shape, window start, sensor), each cell keeping the raw
//! rows it was given; metrics are computed from those rows at emission time.

use std::collections::{BTreeMap, BTreeSet};

use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

use super::compare::{Key, Values};
use super::scenario::{Row, SENSORS};

/// City every generated sensor belongs to.
pub const CITY: &str = "ulm";

#[derive(Debug, Clone, Copy)]
struct Clock {
    /// Newest event time seen; `None` while registered but silent.
    max: Option<i64>,
    /// Last processing time the source was heard from (events, heartbeat or registration).
    last_seen: i64,
    /// Registered anew after the watermark was known, and not yet past the highest one:
    /// judged by the current watermark, not the highest.
    catching_up: bool,
}

/// The watermark rule: min over active sources of `max − out_of_orderness − 1 ms`; a registered,
/// silent, active source holds it; all idle → the max over them; never decreasing — except
/// that a source registered anew while the watermark is known makes the next advance start
/// over from the clocks (unknown while it holds).
#[derive(Debug, Clone)]
pub struct RefWatermark {
    out_of_orderness_ms: i64,
    idle_timeout_ms: i64,
    sources: BTreeMap<u32, Clock>,
    current: Option<i64>,
    /// The highest watermark so far: what sources not catching up are judged by.
    highest: Option<i64>,
    /// When a source was registered anew since the last advance.
    restart: Option<i64>,
}

/// What the rule allows the watermark to be at one processing time.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    /// An active source has not sent yet: the watermark may not move.
    pub held: bool,
    /// `max − out_of_orderness` of every active source that sent.
    pub active: Vec<i64>,
    /// `max − out_of_orderness` of every source that sent.
    pub all: Vec<i64>,
}

impl RefWatermark {
    pub fn new(out_of_orderness_ms: i64, idle_timeout_ms: i64) -> Self {
        Self {
            out_of_orderness_ms,
            idle_timeout_ms,
            sources: BTreeMap::new(),
            current: None,
            highest: None,
            restart: None,
        }
    }

    pub fn current(&self) -> Option<i64> {
        self.current
    }

    /// A source registered again keeps what it had.
    pub fn register(&mut self, source: u32, now: i64) {
        if self.sources.contains_key(&source) {
            return;
        }
        let running = self.highest.is_some();
        self.sources.insert(
            source,
            Clock {
                max: None,
                last_seen: now,
                catching_up: running,
            },
        );
        if running {
            self.restart = Some(self.restart.map_or(now, |t| t.max(now)));
        }
    }

    /// Whether the next advance starts over from the clocks (and may go back).
    pub fn restarts(&self) -> bool {
        self.restart.is_some()
    }

    /// Before a batch: a pending restart happens at the time of the registration, so the
    /// batch is judged by the watermark the clocks make.
    fn settle(&mut self) {
        if let Some(at) = self.restart {
            self.advance(at);
        }
    }

    /// What a row of `source` is judged by besides its own clock.
    fn judge(&self, source: u32) -> Option<i64> {
        match self.sources.get(&source) {
            Some(clock) if clock.catching_up => self.current,
            _ => self.highest,
        }
    }

    pub fn observe(&mut self, source: u32, max: i64, now: i64) {
        let clock = self.sources.entry(source).or_insert(Clock {
            max: None,
            last_seen: now,
            catching_up: false,
        });
        clock.max = Some(clock.max.map_or(max, |m| m.max(max)));
        clock.last_seen = clock.last_seen.max(now);
    }

    /// A heartbeat from a source the tracker does not know is ignored.
    pub fn heartbeat(&mut self, source: u32, now: i64) {
        if let Some(clock) = self.sources.get_mut(&source) {
            clock.last_seen = clock.last_seen.max(now);
        }
    }

    pub fn remove(&mut self, source: u32) {
        self.sources.remove(&source);
    }

    pub fn bounds(&self, now: i64) -> Bounds {
        let mut bounds = Bounds {
            held: false,
            active: Vec::new(),
            all: Vec::new(),
        };
        for clock in self.sources.values() {
            let active = now - clock.last_seen <= self.idle_timeout_ms;
            match clock.max {
                None if active => bounds.held = true,
                None => {}
                Some(max) => {
                    let bound = max - self.out_of_orderness_ms - 1;
                    bounds.all.push(bound);
                    if active {
                        bounds.active.push(bound);
                    }
                }
            }
        }
        bounds
    }

    pub fn advance(&mut self, now: i64) -> Option<i64> {
        let bounds = self.bounds(now);
        let restart = self.restart.take().is_some();
        if bounds.held {
            if restart {
                self.current = None;
            }
            return self.current;
        }
        let candidate = if bounds.active.is_empty() {
            bounds.all.iter().copied().max()
        } else {
            bounds.active.iter().copied().min()
        };
        if let Some(candidate) = candidate {
            self.current = Some(match self.current {
                Some(c) if !restart => c.max(candidate),
                _ => candidate,
            });
        }
        self.highest = self.highest.max(self.current);
        let lag = self.out_of_orderness_ms + 1;
        if let Some(highest) = self.highest {
            for clock in self.sources.values_mut() {
                if clock.max.is_some_and(|m| m - lag >= highest) {
                    clock.catching_up = false;
                }
            }
        }
        self.current
    }

    pub fn finish(&mut self) {
        self.current = Some(i64::MAX);
    }
}

/// One (window, sensor) cell's emissions.
#[derive(Debug, Clone, Copy, Default)]
struct CellState {
    /// Revision of the last emission; `None` before the first.
    revision: Option<u32>,
    /// Folded into since the last emission.
    changed: bool,
}

/// What the reference says about one batch, per shape in spec order.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub dropped: Vec<u64>,
    pub updated_late: Vec<u64>,
    /// Every window a row was dropped from: (row, shape, window start), ascending.
    pub dropped_windows: Vec<(u32, usize, i64)>,
}

/// The whole operator, naively.
#[derive(Debug, Clone)]
pub struct Reference {
    /// (size, slide) in ms, in spec order.
    shapes: Vec<(i64, i64)>,
    offset_ms: i64,
    lateness_ms: i64,
    pub watermark: RefWatermark,
    /// Open windows: those with a cell, not retired since.
    windows: BTreeSet<(usize, i64)>,
    /// Windows retired (end + allowed lateness passed): only a source catching up may
    /// fold into one again, which opens it afresh.
    retired: BTreeSet<(usize, i64)>,
    cells: BTreeMap<(usize, i64, usize), Vec<Row>>,
    /// The cells of retired windows, as last emitted.
    archived: BTreeMap<(usize, i64, usize), Vec<Row>>,
    marks: BTreeMap<(usize, i64, usize), CellState>,
}

/// Every window start aligned to `slide` whose `[start, start + size)` contains `x`,
/// found by walking all aligned starts in `(x − size, x]`.
pub fn window_starts(x: i64, size: i64, slide: i64) -> Vec<i64> {
    let lowest = x - size + 1;
    let first = lowest + (slide - lowest.rem_euclid(slide)) % slide;
    let mut starts = Vec::new();
    let mut start = first;
    while start <= x {
        starts.push(start);
        start += slide;
    }
    starts
}

impl Reference {
    pub fn new(spec: &WindowSpec) -> Self {
        Self {
            shapes: spec
                .shapes
                .iter()
                .map(|s| (s.size_ms, s.slide_ms))
                .collect(),
            offset_ms: match spec.timestamps {
                TimestampSemantics::IntervalEnd => 1,
                TimestampSemantics::Instant => 0,
            },
            lateness_ms: spec.allowed_lateness_ms,
            watermark: RefWatermark::new(spec.out_of_orderness_ms, spec.idle_timeout_ms),
            windows: BTreeSet::new(),
            retired: BTreeSet::new(),
            cells: BTreeMap::new(),
            archived: BTreeMap::new(),
            marks: BTreeMap::new(),
        }
    }

    /// Folds a batch, judging each row against the watermark from before the batch, then
    /// moves the source's clock.
    pub fn process(&mut self, source: u32, now: i64, rows: &[Row]) -> Result<Verdict, String> {
        self.watermark.settle();
        // Each row is judged against the later of the operator watermark (the highest, or
        // for a source catching up the current one) and its source's own: the newest event
        // time of the source before the row, minus out-of-orderness.
        let mut newest = self
            .watermark
            .sources
            .get(&source)
            .and_then(|clock| clock.max);
        let mut row_watermarks = Vec::new();
        for row in rows {
            let own = newest.map(|m| m - self.watermark.out_of_orderness_ms - 1);
            row_watermarks.push(match (self.watermark.judge(source), own) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            });
            newest = Some(newest.map_or(row.ts, |m| m.max(row.ts)));
        }
        let n = self.shapes.len();
        let mut verdict = Verdict {
            dropped: vec![0; n],
            updated_late: vec![0; n],
            dropped_windows: Vec::new(),
        };
        for (shape, &(size, slide)) in self.shapes.iter().enumerate() {
            for (index, row) in rows.iter().enumerate() {
                let wm = row_watermarks[index];
                let mut dropped = false;
                let mut late = false;
                for start in window_starts(row.ts - self.offset_ms, size, slide) {
                    let end = start + size;
                    if wm.is_some_and(|w| end + self.lateness_ms <= w) {
                        dropped = true;
                        verdict.dropped_windows.push((index as u32, shape, start));
                        continue;
                    }
                    // the window was due (end ≤ watermark) before this row came
                    late |= wm.is_some_and(|w| end <= w);
                    let catching_up = self
                        .watermark
                        .sources
                        .get(&source)
                        .is_some_and(|c| c.catching_up);
                    if self.retired.contains(&(shape, start)) && !catching_up {
                        return Err(format!("row {row:?} folded into retired window {start}"));
                    }
                    self.windows.insert((shape, start));
                    self.marks
                        .entry((shape, start, row.sensor))
                        .or_default()
                        .changed = true;
                    self.cells
                        .entry((shape, start, row.sensor))
                        .or_default()
                        .push(row.clone());
                }
                if dropped {
                    verdict.dropped[shape] += 1;
                } else if late {
                    verdict.updated_late[shape] += 1;
                }
            }
        }
        if let Some(max) = rows.iter().map(|r| r.ts).max() {
            self.watermark.observe(source, max, now);
        }
        verdict.dropped_windows.sort_unstable();
        Ok(verdict)
    }

    /// Recomputes the watermark and emits what it closed.
    pub fn advance(&mut self, now: i64) -> Vec<(Key, Values)> {
        self.watermark.advance(now);
        self.emit()
    }

    /// End of input: the watermark goes to the end of time.
    pub fn finish(&mut self) -> Vec<(Key, Values)> {
        self.watermark.finish();
        self.emit()
    }

    /// Of every window with `end ≤ watermark`, each sensor cell that is new or changed, with
    /// the cell's next revision; then windows with `end + lateness ≤ watermark` retire.
    fn emit(&mut self) -> Vec<(Key, Values)> {
        let Some(wm) = self.watermark.current() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut retire = Vec::new();
        for &(shape, start) in &self.windows {
            let (size, slide) = self.shapes[shape];
            let end = start + size;
            if end > wm {
                continue;
            }
            let cells = self
                .cells
                .range((shape, start, 0)..=(shape, start, usize::MAX));
            for (&(_, _, sensor), rows) in cells {
                let mark = self.marks.entry((shape, start, sensor)).or_default();
                if mark.revision.is_some() && !mark.changed {
                    continue;
                }
                let revision = mark.revision.map_or(0, |r| r + 1);
                *mark = CellState {
                    revision: Some(revision),
                    changed: false,
                };
                let key = Key::new(size, slide, start, revision, SENSORS[sensor]);
                out.push((key, values(rows, start, size)));
            }
            if end + self.lateness_ms <= wm {
                retire.push((shape, start));
            }
        }
        for window in retire {
            let (shape, start) = window;
            let range = (shape, start, 0)..=(shape, start, usize::MAX);
            let keys: Vec<_> = self.cells.range(range).map(|(k, _)| *k).collect();
            for key in keys {
                self.marks.remove(&key);
                if let Some(rows) = self.cells.remove(&key) {
                    self.archived.insert(key, rows);
                }
            }
            self.windows.remove(&window);
            self.retired.insert(window);
        }
        out
    }

    /// (sensor, window) states of windows not retired.
    pub fn open_states(&self) -> usize {
        self.cells.len()
    }

    /// Every row folded into each (shape, window, sensor) — of its latest opening — as
    /// final values; the key's revision is 0 (callers ignore it).
    pub fn totals(&self) -> Vec<(Key, Values)> {
        let mut cells = self.archived.clone();
        cells.extend(self.cells.iter().map(|(k, rows)| (*k, rows.clone())));
        cells
            .iter()
            .map(|(&(shape, start, sensor), rows)| {
                let (size, slide) = self.shapes[shape];
                let key = Key::new(size, slide, start, 0, SENSORS[sensor]);
                (key, values(rows, start, size))
            })
            .collect()
    }
}

/// A window's output for one sensor, straight from the definitions in `docs/metrics.md`.
pub fn values(rows: &[Row], start: i64, size_ms: i64) -> Values {
    let window_s = (size_ms / 1000) as f64;
    let mut lanes: Vec<u8> = rows.iter().map(|r| r.lane).collect();
    lanes.sort_unstable();
    lanes.dedup();
    let vehicles: u64 = rows.iter().map(|r| u64::from(r.vehicles)).sum();
    let interval_sum: f64 = rows.iter().map(|r| f64::from(r.interval_s)).sum();
    let observed_s = (interval_sum / lanes.len() as f64).min(window_s);
    let flow = (observed_s > 0.0).then(|| vehicles as f64 * 3600.0 / observed_s);

    // speeds: intervals with a speed; weighted ones also need vehicles
    let with_speed: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.speed.map(|v| (f64::from(r.vehicles), v)))
        .collect();
    let weighted: Vec<(f64, f64)> = with_speed
        .iter()
        .copied()
        .filter(|(n, _)| *n > 0.0)
        .collect();
    let n_weighted: f64 = weighted.iter().map(|(n, _)| n).sum();
    let time_mean = (!weighted.is_empty())
        .then(|| weighted.iter().map(|(n, v)| n * v).sum::<f64>() / n_weighted);
    let space_mean = if weighted.is_empty() {
        None
    } else if weighted.iter().any(|(_, v)| *v == 0.0) {
        // vehicles standing still: the harmonic mean is 0
        Some(0.0)
    } else {
        Some(n_weighted / weighted.iter().map(|(n, v)| n / v).sum::<f64>())
    };
    let reported_mean = (!with_speed.is_empty())
        .then(|| with_speed.iter().map(|(_, v)| v).sum::<f64>() / with_speed.len() as f64);
    let density = match (flow, space_mean) {
        (Some(q), Some(v)) if v > 0.0 => Some(q / v),
        _ => None,
    };

    let occupancies: Vec<f64> = rows.iter().filter_map(|r| r.occupancy).collect();
    let occupancy_mean = (!occupancies.is_empty())
        .then(|| occupancies.iter().sum::<f64>() / occupancies.len() as f64);
    let occupancy_max = occupancies.iter().copied().reduce(f64::max);

    let classified: Vec<(u64, u64)> = rows
        .iter()
        .filter_map(|r| r.heavy.map(|h| (u64::from(h), u64::from(r.vehicles))))
        .collect();
    let heavy = (!classified.is_empty()).then(|| classified.iter().map(|(h, _)| h).sum::<u64>());
    let classified_vehicles: u64 = classified.iter().map(|(_, n)| n).sum();
    let heavy_share = (classified_vehicles > 0)
        .then(|| 100.0 * heavy.unwrap_or(0) as f64 / classified_vehicles as f64);

    Values {
        city: CITY.to_owned(),
        window_end: start + size_ms,
        observations: rows.len() as u32,
        lanes_reporting: lanes.len() as u8,
        vehicles,
        flow,
        speed_time_mean: time_mean,
        speed_space_mean: space_mean,
        speed_reported_mean: reported_mean,
        density,
        occupancy_mean,
        occupancy_max,
        heavy,
        heavy_share,
    }
}
