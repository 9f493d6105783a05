//! Which output topic a closed window goes to: per stream one topic for every city, or
//! one per city or per sharing audience (`[output]` name templates, see
//! `stadtpuls_config::OutputConfig`), so that Kafka ACLs decide who reads a city's data.

use std::collections::HashMap;

use arrow_array::{Array, RecordBatch, StringArray};
use stadtpuls_config::{CityConfig, DataKind, OutputConfig, TopicSplit, expand_topic};
use stadtpuls_processing::ProcessingError;
use stadtpuls_processing::model::contract;

use crate::Result;
use crate::sink::Stream;

/// Index of a topic in [`Routes::names`].
pub(crate) type TopicId = usize;

/// A stream's topics.
#[derive(Debug, Clone)]
enum Route {
    /// Every city's records in one topic.
    Shared(TopicId),
    /// By city id.
    ByCity(HashMap<String, TopicId>),
}

/// The output topics by stream and city, each topic named once.
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    names: Vec<String>,
    /// Traffic, lanes, parking.
    streams: [Route; 3],
}

/// The kind of data whose share decides a stream's audience.
fn kind(stream: Stream) -> DataKind {
    match stream {
        Stream::Traffic | Stream::TrafficLanes => DataKind::Traffic,
        Stream::Parking => DataKind::Parking,
    }
}

fn index(stream: Stream) -> usize {
    match stream {
        Stream::Traffic => 0,
        Stream::TrafficLanes => 1,
        Stream::Parking => 2,
    }
}

impl Routes {
    /// The routes `output`'s templates give `cities` (a template with a placeholder routes
    /// only the cities given; a row of another city is refused when staged).
    pub(crate) fn from_config(output: &OutputConfig, cities: &[CityConfig]) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut id_of = |topic: String| match names.iter().position(|n| *n == topic) {
            Some(id) => id,
            None => {
                names.push(topic);
                names.len() - 1
            }
        };
        let mut route = |template: &str, stream: Stream| match TopicSplit::of(template) {
            TopicSplit::Shared => Route::Shared(id_of(template.to_owned())),
            TopicSplit::City | TopicSplit::Audience => Route::ByCity(
                cities
                    .iter()
                    .map(|city| {
                        let topic = expand_topic(template, city, kind(stream));
                        (city.id.clone(), id_of(topic))
                    })
                    .collect(),
            ),
        };
        let streams = [
            route(&output.traffic_topic, Stream::Traffic),
            route(&output.traffic_lanes_topic, Stream::TrafficLanes),
            route(&output.parking_topic, Stream::Parking),
        ];
        Self { names, streams }
    }

    /// Every topic, in the order of their ids.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The name of topic `id`.
    pub(crate) fn name(&self, id: TopicId) -> &str {
        &self.names[id]
    }

    /// The topic of `stream`'s records of `city`; `None` for a city the routes do not
    /// know under a split template.
    pub(crate) fn topic(&self, stream: Stream, city: &str) -> Option<TopicId> {
        match &self.streams[index(stream)] {
            Route::Shared(id) => Some(*id),
            Route::ByCity(by_city) => by_city.get(city).copied(),
        }
    }

    /// The one topic of `stream` if it is not split.
    pub(crate) fn shared(&self, stream: Stream) -> Option<TopicId> {
        match self.streams[index(stream)] {
            Route::Shared(id) => Some(id),
            Route::ByCity(_) => None,
        }
    }

    /// Appends the topic of each row of `batch` (closed windows of `stream`) to `topics`.
    ///
    /// # Errors
    /// [`ProcessingError::Schema`] for a row without city or of a city without a topic:
    /// its records would have nowhere to go (the sink checks this when staging).
    pub(crate) fn rows(
        &self,
        stream: Stream,
        batch: &RecordBatch,
        topics: &mut Vec<TopicId>,
    ) -> Result<()> {
        if let Route::Shared(id) = self.streams[index(stream)] {
            topics.extend(std::iter::repeat_n(id, batch.num_rows()));
            return Ok(());
        }
        topics.reserve(batch.num_rows());
        self.each_row(stream, batch, |id| topics.push(id))
    }

    /// Checks that every row of `batch` has a topic, without collecting them (free for a
    /// stream that is not split).
    ///
    /// # Errors
    /// As [`Routes::rows`].
    pub(crate) fn check(&self, stream: Stream, batch: &RecordBatch) -> Result<()> {
        if let Route::Shared(_) = self.streams[index(stream)] {
            return Ok(());
        }
        self.each_row(stream, batch, |_| {})
    }

    /// Calls `each` with the topic of every row of a split stream's `batch`, in order.
    fn each_row(
        &self,
        stream: Stream,
        batch: &RecordBatch,
        mut each: impl FnMut(TopicId),
    ) -> Result<()> {
        let cities = batch
            .column_by_name(contract::CITY)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| schema("column `city` missing or mistyped".to_owned()))?;
        // Rows of one city lie together: one lookup per run.
        let mut last: Option<(&str, TopicId)> = None;
        for row in 0..batch.num_rows() {
            let city = cities
                .is_valid(row)
                .then(|| cities.value(row))
                .ok_or_else(|| schema(format!("row {row} has no city")))?;
            let id = match last {
                Some((held, id)) if held == city => id,
                _ => {
                    let id = self.topic(stream, city).ok_or_else(|| {
                        schema(format!(
                            "city `{city}` has no output topic (not configured)"
                        ))
                    })?;
                    last = Some((city, id));
                    id
                }
            };
            each(id);
        }
        Ok(())
    }
}

fn schema(message: String) -> crate::IngestError {
    ProcessingError::Schema(format!("output record: {message}")).into()
}
