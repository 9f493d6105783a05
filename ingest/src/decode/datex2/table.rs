//! Static parking tables, for `stadtpuls registry import` (not the pipeline): the DATEX II
//! 2.3 `ParkingTablePublication` (`parkingRecord`: `parkingName`, `parkingNumberOfSpaces`,
//! `parkingLocation/…/pointCoordinates`) and the German MDM profile's
//! `parkingFacilityTablePublication` (`parkingFacility`: `parkingFacilityName`,
//! `totalParkingCapacity`, `facilityLocation/locationForDisplay`). Each record's id is the
//! one its status records reference (`parkingRecordReference` /
//! `parkingFacilityReference`), so the status documents map through the registry.
//!
//! Read with the decoder's pull reader (`xml.rs`): same namespace matching, same refusal
//! of DTDs and entities; values stay text, checked by the importer.

use super::xml::{Node, Tag, Xml, XmlError};

/// One record of a parking table, its values as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableRecord {
    /// `parkingRecord/@id` or `parkingFacility/@id`.
    pub id: Option<String>,
    /// The first `value` of `parkingName` / `parkingFacilityName`.
    pub name: Option<String>,
    /// `parkingNumberOfSpaces` / `totalParkingCapacity`.
    pub capacity: Option<String>,
    /// The record's first `latitude`.
    pub lat: Option<String>,
    /// The record's first `longitude`.
    pub lon: Option<String>,
}

/// The record being read and the depth of its element (1 = the root).
struct Open {
    depth: usize,
    record: TableRecord,
    /// Depth of the name element while inside it.
    name_depth: Option<usize>,
}

/// Reads every parking record of a table publication, in document order.
///
/// # Errors
///
/// A document that is not well-formed XML, has no DATEX II element, or holds no
/// `parkingRecord` / `parkingFacility`: in words.
pub fn read_table(payload: &[u8]) -> Result<Vec<TableRecord>, XmlError> {
    let mut xml = Xml::new(payload);
    let mut records = Vec::new();
    let mut open: Option<Open> = None;
    loop {
        match xml.next()? {
            Node::Open(tag, _) => {
                let attrs = xml.attrs();
                let depth = xml.stack.len();
                match &mut open {
                    None if matches!(tag, Tag::ParkingRecord | Tag::Facility) => {
                        open = Some(Open {
                            depth,
                            record: TableRecord {
                                id: attrs.id.as_deref().map(|id| id.trim().to_owned()),
                                ..TableRecord::default()
                            },
                            name_depth: None,
                        });
                    }
                    Some(current)
                        if depth == current.depth + 1
                            && matches!(tag, Tag::ParkingName | Tag::FacilityName) =>
                    {
                        current.name_depth = Some(depth);
                    }
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
                match tag {
                    Tag::Value if current.name_depth.is_some() && record.name.is_none() => {
                        record.name = text();
                    }
                    Tag::ParkingName | Tag::FacilityName if Some(depth) == current.name_depth => {
                        current.name_depth = None;
                    }
                    Tag::NumberOfSpaces | Tag::FacilityCapacity
                        if depth == current.depth + 1 && record.capacity.is_none() =>
                    {
                        record.capacity = text();
                    }
                    Tag::Latitude if record.lat.is_none() => record.lat = text(),
                    Tag::Longitude if record.lon.is_none() => record.lon = text(),
                    _ => {}
                }
            }
            Node::End => break,
        }
    }
    xml.ensure_v2()?;
    if records.is_empty() {
        return Err(
            "a DATEX II document without parkingRecord or parkingFacility: import reads a ParkingTablePublication or an MDM parkingFacilityTablePublication (a status publication holds no names, capacities or positions)"
                .to_owned(),
        );
    }
    Ok(records)
}
