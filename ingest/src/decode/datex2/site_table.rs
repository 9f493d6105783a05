//! DATEX II 2.3 `MeasurementSiteTablePublication`, for `stadtpuls registry import` (not
//! the pipeline): per `measurementSiteRecord` its id (what `siteMeasurements` reference),
//! name, lane count, position and, per value index (`measurementSpecificCharacteristics
//! @index`), the lane (`specificLane`), the value type (`specificMeasurementValueType`)
//! and the vehicle class (`specificVehicleCharacteristics`) it measures.
//!
//! Read with the decoder's pull reader (`xml.rs`): a SOAP envelope around the
//! `d2LogicalModel` is passed through, DTDs and entities refused; values stay text,
//! checked by the importer (`import/sites.rs`).

use super::xml::{Node, Tag, Xml, XmlError};

/// One measurement site of a table, its values as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteRecord {
    /// `measurementSiteRecord/@id`.
    pub id: Option<String>,
    /// The first `value` of `measurementSiteName`.
    pub name: Option<String>,
    /// `measurementSiteNumberOfLanes`.
    pub lanes: Option<String>,
    /// `computationMethod` (NDW: `arithmeticAverageOfSamplesInATimePeriod`).
    pub computation: Option<String>,
    /// The first `latitude` inside `measurementSiteLocation` (its `locationForDisplay`).
    pub lat: Option<String>,
    /// The first `longitude` inside `measurementSiteLocation`.
    pub lon: Option<String>,
    /// The value indices, in document order.
    pub indices: Vec<SiteIndex>,
}

/// What one value index of a site measures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteIndex {
    /// `@index`.
    pub index: Option<String>,
    /// `specificLane` (`lane1`, …).
    pub lane: Option<String>,
    /// `specificMeasurementValueType` (`trafficFlow`, `trafficSpeed`, …).
    pub value_type: Option<String>,
    /// The vehicle class in words, from `specificVehicleCharacteristics`: its
    /// `vehicleType`s and `lengthCharacteristic`s (`lessThan 5.6`), space-separated;
    /// empty when it names none.
    pub vehicle: String,
}

impl SiteIndex {
    /// Whether the index counts every vehicle (`anyVehicle`, or no class at all).
    pub fn any_vehicle(&self) -> bool {
        self.vehicle.is_empty() || self.vehicle == "anyVehicle"
    }
}

/// The record being read: its depth, the index being read and where inside it is.
struct Open {
    depth: usize,
    record: SiteRecord,
    index: Option<(usize, SiteIndex)>,
    name_depth: Option<usize>,
    location_depth: Option<usize>,
}

/// Reads every measurement site of a site table, in document order.
///
/// # Errors
///
/// A document that is not well-formed XML, has no DATEX II element, or holds no
/// `measurementSiteRecord`: in words.
pub fn read_site_table(payload: &[u8]) -> Result<Vec<SiteRecord>, XmlError> {
    let mut xml = Xml::new(payload);
    let mut records = Vec::new();
    let mut open: Option<Open> = None;
    loop {
        match xml.next()? {
            Node::Open(tag, _) => {
                let attrs = xml.attrs();
                let depth = xml.stack.len();
                let Some(current) = &mut open else {
                    if tag == Tag::SiteRecord {
                        open = Some(Open {
                            depth,
                            record: SiteRecord {
                                id: attrs.id.as_deref().map(|id| id.trim().to_owned()),
                                ..SiteRecord::default()
                            },
                            index: None,
                            name_depth: None,
                            location_depth: None,
                        });
                    }
                    continue;
                };
                let child = depth == current.depth + 1;
                match tag {
                    Tag::Characteristics if child => {
                        let index = SiteIndex {
                            index: attrs.index.as_deref().map(|i| i.trim().to_owned()),
                            ..SiteIndex::default()
                        };
                        current.index = Some((depth, index));
                    }
                    Tag::SiteName if child => current.name_depth = Some(depth),
                    Tag::SiteLocation if child => current.location_depth = Some(depth),
                    _ => {}
                }
            }
            Node::Close(tag, _) => {
                let Some(current) = &mut open else { continue };
                // The depth of the element just closed.
                let depth = xml.stack.len() + 1;
                if depth == current.depth {
                    if let Some(done) = open.take() {
                        records.push(done.record);
                    }
                    continue;
                }
                let text = || Some(xml.text().to_owned()).filter(|t| !t.is_empty());
                let record = &mut current.record;
                if let Some((index_depth, index)) = &mut current.index {
                    match tag {
                        Tag::Characteristics if depth == *index_depth => {
                            if let Some((_, done)) = current.index.take() {
                                record.indices.push(done);
                            }
                        }
                        Tag::SpecificLane => index.lane = text(),
                        Tag::ValueType => index.value_type = text(),
                        Tag::VehicleType | Tag::ComparisonOperator | Tag::VehicleLength => {
                            if let Some(word) = text() {
                                if !index.vehicle.is_empty() {
                                    index.vehicle.push(' ');
                                }
                                index.vehicle.push_str(&word);
                            }
                        }
                        _ => {}
                    }
                    continue;
                }
                let child = depth == current.depth + 1;
                match tag {
                    Tag::Value if current.name_depth.is_some() && record.name.is_none() => {
                        record.name = text();
                    }
                    Tag::SiteName if Some(depth) == current.name_depth => {
                        current.name_depth = None;
                    }
                    Tag::SiteLocation if Some(depth) == current.location_depth => {
                        current.location_depth = None;
                    }
                    Tag::SiteLanes if child => record.lanes = text(),
                    Tag::ComputationMethod if child => record.computation = text(),
                    Tag::Latitude if current.location_depth.is_some() && record.lat.is_none() => {
                        record.lat = text();
                    }
                    Tag::Longitude if current.location_depth.is_some() && record.lon.is_none() => {
                        record.lon = text();
                    }
                    _ => {}
                }
            }
            Node::End => break,
        }
    }
    xml.ensure_v2()?;
    if records.is_empty() {
        return Err(
            "a DATEX II document without measurementSiteRecord: import reads a MeasurementSiteTablePublication for traffic sites"
                .to_owned(),
        );
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ndw_table_reads_its_site_and_four_indices() {
        let table = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/feeds/datex2/verkeersdrukte_MeasurementSiteTable.xml"
        ));
        let sites = read_site_table(table).expect("a site table");
        assert_eq!(sites.len(), 1);
        let site = &sites[0];
        assert_eq!(site.id.as_deref(), Some("PZH01_MST_0629_00"));
        assert_eq!(site.name.as_deref(), Some("N457 hmp 4.75 Re"));
        assert_eq!(site.lanes.as_deref(), Some("1"));
        assert_eq!(
            site.computation.as_deref(),
            Some("arithmeticAverageOfSamplesInATimePeriod")
        );
        // No measurementSiteLocation in this (trimmed) table.
        assert_eq!((site.lat.as_deref(), site.lon.as_deref()), (None, None));
        let indices: Vec<_> = site
            .indices
            .iter()
            .map(|i| {
                (
                    i.index.as_deref().unwrap_or(""),
                    i.lane.as_deref().unwrap_or(""),
                    i.value_type.as_deref().unwrap_or(""),
                    i.vehicle.as_str(),
                )
            })
            .collect();
        assert_eq!(
            indices,
            [
                ("1", "lane1", "trafficFlow", "lessThan 5.6"),
                (
                    "2",
                    "lane1",
                    "trafficFlow",
                    "greaterThanOrEqualTo 5.6 lessThanOrEqualTo 12.2"
                ),
                ("3", "lane1", "trafficFlow", "greaterThan 12.2"),
                ("4", "lane1", "trafficFlow", "anyVehicle"),
            ]
        );
        assert!(site.indices[3].any_vehicle() && !site.indices[0].any_vehicle());
    }
}
