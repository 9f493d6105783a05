//! Measured traffic data: each `siteMeasurements` of a `MeasuredDataPublication`, each
//! `measuredValue` with a `TrafficFlow` → one traffic count of the site's value index
//! (the lane of an `id#index` external id), joined with the `TrafficSpeed` of the same index.

use std::borrow::Cow;

use stadtpuls_processing::Rejection;

use super::super::emit::malformed;
use super::values::{Item, Values, instant, number, whole};
use super::xml::{Attrs, Tag};

/// Counting period when a value states none (`measurementOrCalculationPeriod`), s: the
/// usual one-minute aggregation of loop detectors (NDW's site table says 60 s).
pub(super) const DEFAULT_PERIOD_S: f64 = 60.0;

/// The site being read, if any.
#[derive(Debug, Default)]
pub(super) struct Sites<'a> {
    current: Option<Site<'a>>,
    /// Values without data (`numberOfInputValuesUsed="0"`, a negative flow), skipped.
    pub(super) skipped: usize,
}

#[derive(Debug, Default)]
struct Site<'a> {
    depth: usize,
    id: Option<Cow<'a, str>>,
    time: Option<String>,
    values: Vec<Value<'a>>,
    current: Option<Value<'a>>,
}

#[derive(Debug, Default)]
struct Value<'a> {
    start: usize,
    end: usize,
    index: Option<Cow<'a, str>>,
    kind: Option<Cow<'a, str>>,
    flow: Option<String>,
    flow_inputs: Option<Cow<'a, str>>,
    speed: Option<String>,
    speed_inputs: Option<Cow<'a, str>>,
    period: Option<String>,
    time: Option<String>,
}

impl<'a> Sites<'a> {
    /// `stack` holds the opened element last.
    pub(super) fn open(&mut self, stack: &[Tag], tag: Tag, attrs: &Attrs<'a>, start: usize) {
        let depth = stack.len();
        let Some(site) = &mut self.current else {
            if tag == Tag::SiteMeasurements {
                self.current = Some(Site {
                    depth,
                    ..Site::default()
                });
            }
            return;
        };
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

    /// `stack` no longer holds the closed element.
    pub(super) fn close(
        &mut self,
        stack: &[Tag],
        tag: Tag,
        text: &str,
        end: usize,
        items: &mut Vec<Item<'a>>,
    ) {
        let Some(site) = &mut self.current else {
            return;
        };
        let rel = (stack.len() + 1).saturating_sub(site.depth);
        let parent = stack.last().copied();
        match (rel, tag, &mut site.current) {
            (0, _, _) => {
                if let Some(site) = self.current.take() {
                    self.skipped += site.finish(items);
                }
            }
            (1, Tag::TimeDefault, _) => site.time = Some(text.to_owned()),
            (1, Tag::MeasuredValue, current) => {
                if let Some(mut value) = current.take() {
                    value.end = end;
                    site.values.push(value);
                }
            }
            (_, Tag::VehicleFlowRate, Some(value)) => value.flow = Some(text.to_owned()),
            (_, Tag::Speed, Some(value)) if parent == Some(Tag::AverageVehicleSpeed) => {
                value.speed = Some(text.to_owned());
            }
            (_, Tag::Period, Some(value)) => value.period = Some(text.to_owned()),
            (_, Tag::ValueTime, Some(value)) if parent == Some(Tag::BasicData) => {
                value.time = Some(text.to_owned());
            }
            _ => {}
        }
    }
}

impl<'a> Site<'a> {
    /// Pushes one item per flow value with data; returns the values skipped for no data.
    fn finish(self, items: &mut Vec<Item<'a>>) -> usize {
        let mut skipped = 0;
        for value in &self.values {
            if value.kind.as_deref() != Some("TrafficFlow") {
                continue;
            }
            let speed = self.values.iter().find(|other| {
                other.kind.as_deref() == Some("TrafficSpeed") && other.index == value.index
            });
            match self.observation(value, speed) {
                None => skipped += 1,
                Some(values) => items.push(Item {
                    range: value.start..value.end,
                    id: self.id.clone().unwrap_or_default(),
                    values,
                }),
            }
        }
        skipped
    }

    /// The observation of one flow value; `None` when it carries no data.
    fn observation(
        &self,
        flow: &Value<'_>,
        speed: Option<&Value<'_>>,
    ) -> Option<Result<Values, Rejection>> {
        if flow.flow_inputs.as_deref() == Some("0") {
            return None;
        }
        let rate = match flow.flow.as_deref().map(|t| number(t, "vehicleFlowRate")) {
            None => {
                return Some(Err(malformed(
                    "a TrafficFlow value without `vehicleFlowRate`",
                )));
            }
            Some(Err(rejection)) => return Some(Err(rejection)),
            // NDW's sentinel for "no vehicle detected / no data" is negative.
            Some(Ok(rate)) if rate < 0.0 => return None,
            Some(Ok(rate)) => rate,
        };
        Some(self.values(flow, rate, speed))
    }

    fn values(
        &self,
        flow: &Value<'_>,
        rate: f64,
        speed: Option<&Value<'_>>,
    ) -> Result<Values, Rejection> {
        let Some(id) = self.id.as_deref().filter(|id| !id.is_empty()) else {
            return Err(malformed(
                "siteMeasurements without a measurementSiteReference `id`",
            ));
        };
        let lane = match flow.index.as_deref() {
            Some(index) => whole(index, "measuredValue index")?,
            None => {
                return Err(malformed(format!(
                    "site `{id}`: a measuredValue without `index`"
                )));
            }
        };
        let ts = match flow.time.as_deref().or(self.time.as_deref()) {
            Some(text) => instant(text, "measurementTimeDefault")?,
            None => {
                return Err(malformed(format!(
                    "site `{id}` has no `measurementTimeDefault`"
                )));
            }
        };
        let period = match flow.period.as_deref() {
            Some(text) => number(text, "measurementOrCalculationPeriod")?,
            None => DEFAULT_PERIOD_S,
        };
        if !((1.0..=86_400.0).contains(&period) && period.fract() == 0.0) {
            return Err(malformed(format!(
                "site `{id}`: measurementOrCalculationPeriod {period} is not a whole number of seconds"
            )));
        }
        let speed = match speed {
            Some(value) if value.speed_inputs.as_deref() != Some("0") => {
                match value.speed.as_deref() {
                    Some(text) => Some(number(text, "speed")?).filter(|s| *s >= 0.0),
                    None => None,
                }
            }
            _ => None,
        };
        Ok(Values::Traffic {
            lane,
            ts,
            interval_s: period as i64,
            // veh/h over the period, to the nearest vehicle.
            count: (rate * period / 3600.0).round() as i64,
            speed,
        })
    }
}
