//! Measured traffic data: each `siteMeasurements` of a `MeasuredDataPublication` → one
//! traffic count per lane of the site.
//!
//! A value's `index` is the publisher's: NDW numbers lane × vehicle class × value type
//! (PZH01_MST_0629_00: flows of length classes at 1–4, their speeds at 5–8, one lane).
//! Where the registry maps a site's indices (`id#index=lane`, from the site table by
//! `stadtpuls registry import`), the values of one lane are combined (`lanes.rs`: class
//! flows summed, speeds flow-weighted) and an index it does not map is left out
//! (counted: the importer leaves out a lane's `anyVehicle` total). Where it maps none
//! (a bare `id`, or `id#n`), each index is its own lane, its flow joined with the speed
//! of the same index, as publishers with one value per lane write them (the French
//! sample: index 0).

use std::borrow::Cow;
use std::ops::Range;

use stadtpuls_processing::{RejectReason, Rejection};

use super::super::emit::malformed;
use super::lanes::{Missing, combine};
use super::values::{Item, Values, instant, number, whole};
use super::xml::{Attrs, Tag, Text};

/// Counting period when a value states none (`measurementOrCalculationPeriod`), s: the
/// usual one-minute aggregation of loop detectors (NDW's site table says 60 s).
pub(super) const DEFAULT_PERIOD_S: f64 = 60.0;

/// The site being read: one [`Site`], reused from site to site (its buffers keep their
/// capacity).
#[derive(Debug, Default)]
pub(super) struct Sites<'a> {
    site: Site<'a>,
    /// Whether a `siteMeasurements` is open.
    open: bool,
}

/// One `siteMeasurements`, read; [`Site::items`] makes its lanes' observations.
#[derive(Debug, Default)]
pub(super) struct Site<'a> {
    depth: usize,
    start: usize,
    end: usize,
    id: Option<Cow<'a, str>>,
    time: Option<Cow<'a, str>>,
    values: Vec<Value<'a>>,
    current: Option<Value<'a>>,
    /// [`Site::items`]' working space: each kept value's (group, kind, index, value),
    /// then the same values' classes alone in that order.
    classes: Vec<(usize, Kind, Class)>,
    sorted: Vec<Class>,
}

#[derive(Debug, Default)]
struct Value<'a> {
    start: usize,
    end: usize,
    index: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    flow: Option<Cow<'a, str>>,
    flow_inputs: Option<Cow<'a, str>>,
    speed: Option<Cow<'a, str>>,
    speed_inputs: Option<Cow<'a, str>>,
    period: Option<Cow<'a, str>>,
    time: Option<Cow<'a, str>>,
}

/// A value's kind; flows sort before speeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Flow,
    Speed,
}

impl<'a> Sites<'a> {
    /// `stack` holds the opened element last.
    pub(super) fn open(&mut self, stack: &[Tag], tag: Tag, attrs: &Attrs<'a>, start: usize) {
        let depth = stack.len();
        let site = &mut self.site;
        if !self.open {
            if tag == Tag::SiteMeasurements {
                self.open = true;
                site.depth = depth;
                site.start = start;
                site.end = start;
                site.id = None;
                site.time = None;
                site.values.clear();
                site.current = None;
            }
            return;
        }
        let rel = depth - site.depth;
        match (rel, tag, &mut site.current) {
            (1, Tag::SiteReference, _) => site.id = attrs.id.clone(),
            (1, Tag::MeasuredValue, _) => {
                site.current = Some(Value {
                    start,
                    index: attrs.index.clone(),
                    ..Value::default()
                });
            }
            (_, Tag::BasicData, Some(value)) => value.kind = attrs.xsi_type.clone(),
            (_, Tag::VehicleFlow, Some(value)) => value.flow_inputs = attrs.inputs.clone(),
            (_, Tag::AverageVehicleSpeed, Some(value)) => {
                value.speed_inputs = attrs.inputs.clone();
            }
            _ => {}
        }
    }

    /// `stack` no longer holds the closed element; returns the site when it closed.
    pub(super) fn close(
        &mut self,
        stack: &[Tag],
        tag: Tag,
        text: &Text<'a>,
        end: usize,
    ) -> Option<&mut Site<'a>> {
        if !self.open {
            return None;
        }
        let site = &mut self.site;
        let rel = (stack.len() + 1).saturating_sub(site.depth);
        let parent = stack.last().copied();
        match (rel, tag, &mut site.current) {
            (0, _, _) => {
                site.end = end;
                self.open = false;
                return Some(site);
            }
            (1, Tag::TimeDefault, _) => site.time = Some(text.lent()),
            (1, Tag::MeasuredValue, current) => {
                if let Some(mut value) = current.take() {
                    value.end = end;
                    site.values.push(value);
                }
            }
            (_, Tag::VehicleFlowRate, Some(value)) => value.flow = Some(text.lent()),
            (_, Tag::Speed, Some(value)) if parent == Some(Tag::AverageVehicleSpeed) => {
                value.speed = Some(text.lent());
            }
            (_, Tag::Period, Some(value)) => value.period = Some(text.lent()),
            (_, Tag::ValueTime, Some(value)) if parent == Some(Tag::BasicData) => {
                value.time = Some(text.lent());
            }
            _ => {}
        }
        None
    }
}

/// How the registry maps one value index of a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane<'r> {
    /// An `id#index=lane` (or `id#n`) entry: this registry sensor's lane.
    Mapped(&'r str, u8),
    /// The site has entries by index, none for this one: left out.
    Unmapped,
    /// The registry maps no index of the site: the index is the lane.
    Index,
}

/// A value of a lane: its index and rate / speed (`None` = no data).
type Class = (i64, Option<f64>);

/// The values the registry puts in one lane of a site.
struct Group<'r> {
    lane: Lane<'r>,
    /// The index the lane is looked up by (its first value's).
    key: i64,
    range: Range<usize>,
    /// (time, period) of its values, or why one cannot be read.
    when: Result<(i64, i64), Rejection>,
}

/// What a site's values came to besides observations.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Left {
    /// Values of indices the registry leaves out of a mapped site.
    pub(super) unmapped: usize,
    /// Index-is-lane groups with a speed and no flow (NDW's speed indices under a
    /// registry that maps no index).
    pub(super) speed_only: usize,
}

impl<'a> Site<'a> {
    /// The site's `measurementSiteReference` id, if it has one.
    pub(super) fn id(&self) -> Option<&str> {
        self.id.as_deref().filter(|id| !id.is_empty())
    }

    /// The whole site refused.
    pub(super) fn refused(&self, rejection: Rejection) -> Item<'a> {
        Item {
            range: self.start..self.end,
            id: self.id.clone().unwrap_or_default(),
            values: Err(rejection),
        }
    }

    /// One item per lane: its observation or why it has none; `lane_of` maps an index.
    pub(super) fn items<'r>(
        &mut self,
        mut lane_of: impl FnMut(i64) -> Lane<'r>,
        items: &mut Vec<Item<'a>>,
    ) -> Left {
        let mut left = Left::default();
        let id = self.id.clone().unwrap_or_default();
        if id.is_empty() {
            items.push(self.refused(malformed(
                "siteMeasurements without a measurementSiteReference `id`",
            )));
            return left;
        }
        // The site's own time and the default period, read once for the values that
        // state neither.
        let mut site_when = None;
        let mut groups: Vec<Group<'r>> = Vec::new();
        let mut classes = std::mem::take(&mut self.classes);
        classes.clear();
        for value in &self.values {
            let kind = match value.kind.as_deref() {
                Some("TrafficFlow") => Kind::Flow,
                Some("TrafficSpeed") => Kind::Speed,
                _ => continue,
            };
            let index = match value
                .index
                .as_deref()
                .map(|i| whole(i, "measuredValue index"))
            {
                Some(Ok(index)) => index,
                Some(Err(rejection)) => {
                    items.push(self.refused(rejection));
                    self.classes = classes;
                    return left;
                }
                None => {
                    let detail = format!("site `{id}`: a measuredValue without `index`");
                    items.push(self.refused(malformed(detail)));
                    self.classes = classes;
                    return left;
                }
            };
            let lane = match lane_of(index) {
                Lane::Unmapped => {
                    left.unmapped += 1;
                    continue;
                }
                lane => lane,
            };
            let class = (
                index,
                match kind {
                    Kind::Flow => value.flow(),
                    Kind::Speed => value.speed(),
                },
            );
            let when = if value.time.is_none() && value.period.is_none() {
                site_when.get_or_insert_with(|| self.when(value)).clone()
            } else {
                self.when(value)
            };
            let at = match groups
                .iter()
                .position(|g| g.lane == lane && (lane != Lane::Index || g.key == index))
            {
                Some(at) => at,
                None => {
                    groups.push(Group {
                        lane,
                        key: index,
                        range: value.start..value.end,
                        when: when.clone(),
                    });
                    groups.len() - 1
                }
            };
            let group = &mut groups[at];
            group.range = group.range.start.min(value.start)..group.range.end.max(value.end);
            if group.when.is_ok() && when != group.when {
                group.when = Err(when.err().unwrap_or_else(|| {
                    malformed(format!(
                        "site `{id}`: the values of one lane differ in measurement time or period"
                    ))
                }));
            }
            match class {
                (index, Ok(value)) => classes.push((at, kind, (index, value))),
                (_, Err(rejection)) => group.when = Err(rejection),
            }
        }
        // Each group's flows, then its speeds, each by index: the slices `combine` reads.
        classes.sort_by_key(|&(group, kind, (index, _))| (group, kind, index));
        let mut sorted = std::mem::take(&mut self.sorted);
        sorted.clear();
        sorted.extend(classes.iter().map(|c| c.2));
        let (mut kinds, mut rest) = (classes.as_slice(), sorted.as_slice());
        for (at, group) in groups.into_iter().enumerate() {
            let flows = kinds
                .iter()
                .take_while(|c| c.0 == at && c.1 == Kind::Flow)
                .count();
            let lane = kinds.iter().take_while(|c| c.0 == at).count();
            kinds = kinds.get(lane..).unwrap_or_default();
            let (group_flows, after) = rest.split_at(flows);
            let (group_speeds, after) = after.split_at(lane - flows);
            rest = after;
            if group.lane == Lane::Index && group_flows.is_empty() && group.when.is_ok() {
                left.speed_only += 1;
                continue;
            }
            let values = group.when.and_then(|(ts, period)| {
                let lane = combine(group_flows, group_speeds)
                    .map_err(|missing| no_observation(&id, &missing))?;
                Ok(Values::Traffic {
                    lane: group.key,
                    ts,
                    interval_s: period,
                    // veh/h over the period, to the nearest vehicle.
                    count: (lane.flow * period as f64 / 3600.0).round() as i64,
                    speed: lane.speed,
                })
            });
            items.push(Item {
                range: group.range,
                id: id.clone(),
                values,
            });
        }
        self.classes = classes;
        self.sorted = sorted;
        left
    }

    /// A value's (time, period): its own, else the site's time and [`DEFAULT_PERIOD_S`].
    fn when(&self, value: &Value<'_>) -> Result<(i64, i64), Rejection> {
        let id = self.id.as_deref().unwrap_or_default();
        let ts = match value.time.as_deref().or(self.time.as_deref()) {
            Some(text) => instant(text, "measurementTimeDefault")?,
            None => {
                return Err(malformed(format!(
                    "site `{id}` has no `measurementTimeDefault`"
                )));
            }
        };
        let period = match value.period.as_deref() {
            Some(text) => number(text, "measurementOrCalculationPeriod")?,
            None => DEFAULT_PERIOD_S,
        };
        if !((1.0..=86_400.0).contains(&period) && period.fract() == 0.0) {
            return Err(malformed(format!(
                "site `{id}`: measurementOrCalculationPeriod {period} is not a whole number of seconds"
            )));
        }
        Ok((ts, period as i64))
    }
}

impl Value<'_> {
    /// The flow, veh/h; `None` without data (`numberOfInputValuesUsed="0"`, NDW's
    /// negative rates).
    fn flow(&self) -> Result<Option<f64>, Rejection> {
        if self.flow_inputs.as_deref() == Some("0") {
            return Ok(None);
        }
        match self.flow.as_deref() {
            None => Err(malformed("a TrafficFlow value without `vehicleFlowRate`")),
            Some(text) => Ok(Some(number(text, "vehicleFlowRate")?).filter(|r| *r >= 0.0)),
        }
    }

    /// The speed, km/h; `None` without data (`numberOfInputValuesUsed="0"`, NDW's `-1`)
    /// or without a `speed`.
    fn speed(&self) -> Result<Option<f64>, Rejection> {
        if self.speed_inputs.as_deref() == Some("0") {
            return Ok(None);
        }
        match self.speed.as_deref() {
            None => Ok(None),
            Some(text) => Ok(Some(number(text, "speed")?).filter(|s| *s >= 0.0)),
        }
    }
}

fn no_observation(id: &str, missing: &Missing) -> Rejection {
    let detail = match missing {
        Missing::NoFlow => format!(
            "site `{id}`: a lane with speed values but no TrafficFlow (the registry maps only speed indices to it)"
        ),
        Missing::AllFlows => format!(
            "site `{id}`: no flow of the lane has data (numberOfInputValuesUsed 0 or a negative rate)"
        ),
        Missing::SomeFlows(indices) => format!(
            "site `{id}`: the flows of indices {indices:?} have no data; the lane's other classes alone would undercount it"
        ),
    };
    Rejection::new(RejectReason::NoObservation, detail)
}
