//! DATEX II 2.3 parking publications, as German publishers send them to Mobilithek: a
//! `ParkingTablePublication` (static: name, capacity, position per facility) and a
//! `ParkingStatusPublication` (live: vacant/occupied spaces, occupancy, trend, status,
//! opening status, origin time), each inside a `GenericPublication`'s extension (the 2.3
//! schema has no payload type of their own), valid against the official 2.3 schema.
//!
//! Written with quick-xml's streaming writer into one buffer; nothing is held as a tree.
//!
//! A status record exists for every facility that has reported. Its age is explicit: the
//! `parkingStatusOriginTime` is the time of the newest reading, never the publication
//! time. A facility silent longer than `parking.stale_after` keeps its last counts but is
//! marked `parkingSiteStatus` `unknown`, `parkingSiteOpeningStatus` `statusUnknown` and
//! `parkingFault` `communicationsFailure` (its feed stopped reaching us), with no trend. A
//! facility that never reported has a table record but no status record (a status
//! without counts is refused by most readers, Stadtpuls' own among them). A city without
//! any record gets the `exchange` alone, which the schema allows.
//!
//! A facility its operator reports closed (or a zone whose every spot is closed) has
//! `parkingSiteOpeningStatus` `closed`, 0 vacant spaces, no occupancy (a car park: no
//! occupied count either) and no `parkingSiteStatus` (`closed` is no
//! `ParkingSiteStatusEnum` value); one whose operator said it does not know has
//! `statusUnknown`.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::{Freshness, Publication, PublishedFacility, round2, table_version};
use crate::time::to_rfc3339;
use crate::{ProcessingError, Result};

/// The DATEX II 2.x namespace.
pub const NAMESPACE: &str = "http://datex2.eu/schema/2/2_0";
/// The media type the documents are served with.
pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Supplier country: the cooperation network's cities are German.
const COUNTRY: &str = "de";
/// Language of names and of the publication.
const LANG: &str = "de";

/// Renders the `ParkingTablePublication` of a city: one `UrbanParkingSite` per facility
/// with its name, capacity and position.
///
/// # Errors
/// [`ProcessingError::Internal`] if the writer fails (it writes to memory; a bug).
pub fn parking_table(
    publication: &Publication<'_>,
    facilities: &[PublishedFacility<'_>],
) -> Result<Vec<u8>> {
    let body = |w: &mut Xml| table_body(w, publication, facilities);
    render(
        publication,
        !facilities.is_empty(),
        facilities.len() * 700,
        body,
    )
    .map_err(writer_error)
}

/// Renders the `ParkingStatusPublication` of a city: one `ParkingSiteStatus` per facility
/// that has reported (stale ones marked, see the module documentation).
///
/// # Errors
/// [`ProcessingError::Internal`] if the writer fails (it writes to memory; a bug).
pub fn parking_status(
    publication: &Publication<'_>,
    facilities: &[PublishedFacility<'_>],
) -> Result<Vec<u8>> {
    let reported: Vec<&PublishedFacility<'_>> =
        facilities.iter().filter(|f| f.level.is_some()).collect();
    let body = |w: &mut Xml| status_body(w, publication, facilities, &reported);
    render(
        publication,
        !reported.is_empty(),
        reported.len() * 900,
        body,
    )
    .map_err(writer_error)
}

fn writer_error(error: io::Error) -> ProcessingError {
    ProcessingError::Internal(format!("datex2 writer: {error}"))
}

type Xml = Writer<Vec<u8>>;

/// The envelope: `d2LogicalModel` → `exchange` → `payloadPublication` (a
/// `GenericPublication` whose name and extension `body` writes), or the `exchange` alone
/// when there are no records (the publication must hold at least one).
fn render(
    publication: &Publication<'_>,
    has_records: bool,
    capacity: usize,
    body: impl FnOnce(&mut Xml) -> io::Result<()>,
) -> io::Result<Vec<u8>> {
    let mut w = Writer::new(Vec::with_capacity(capacity + 1_024));
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("d2LogicalModel");
    root.push_attribute(("xmlns", NAMESPACE));
    root.push_attribute(("xmlns:xsi", XSI));
    root.push_attribute(("modelBaseVersion", "2"));
    w.write_event(Event::Start(root))?;
    let supplier = publication.supplier();
    open(&mut w, "exchange")?;
    identifier(&mut w, "supplierIdentification", &supplier)?;
    close(&mut w, "exchange")?;
    if has_records {
        let mut payload = BytesStart::new("payloadPublication");
        payload.push_attribute(("xsi:type", "GenericPublication"));
        payload.push_attribute(("lang", LANG));
        w.write_event(Event::Start(payload))?;
        leaf(
            &mut w,
            "publicationTime",
            &to_rfc3339(publication.published_at),
        )?;
        identifier(&mut w, "publicationCreator", &supplier)?;
        body(&mut w)?;
        close(&mut w, "payloadPublication")?;
    }
    close(&mut w, "d2LogicalModel")?;
    Ok(w.into_inner())
}

fn table_body(
    w: &mut Xml,
    publication: &Publication<'_>,
    facilities: &[PublishedFacility<'_>],
) -> io::Result<()> {
    leaf(w, "genericPublicationName", "ParkingTablePublication")?;
    open(w, "genericPublicationExtension")?;
    open(w, "parkingTablePublication")?;
    header(w)?;
    let mut table = BytesStart::new("parkingTable");
    table.push_attribute(("id", publication.supplier().as_str()));
    table.push_attribute(("version", table_version(facilities).to_string().as_str()));
    w.write_event(Event::Start(table))?;
    let version_time = to_rfc3339(publication.static_since);
    leaf(w, "parkingTableVersionTime", &version_time)?;
    for facility in facilities {
        let mut record = BytesStart::new("parkingRecord");
        record.push_attribute(("id", facility.id));
        record.push_attribute(("version", facility.static_version().to_string().as_str()));
        record.push_attribute(("xsi:type", "UrbanParkingSite"));
        w.write_event(Event::Start(record))?;
        if let Some(name) = facility.name {
            open(w, "parkingName")?;
            open(w, "values")?;
            let mut value = BytesStart::new("value");
            value.push_attribute(("lang", LANG));
            w.write_event(Event::Start(value))?;
            w.write_event(Event::Text(BytesText::new(name)))?;
            close(w, "value")?;
            close(w, "values")?;
            close(w, "parkingName")?;
        }
        leaf(w, "parkingRecordVersionTime", &version_time)?;
        if let Some(capacity) = facility.capacity {
            leaf(w, "parkingNumberOfSpaces", &capacity.to_string())?;
        }
        let mut location = BytesStart::new("parkingLocation");
        location.push_attribute(("xsi:type", "Point"));
        w.write_event(Event::Start(location))?;
        open(w, "pointByCoordinates")?;
        open(w, "pointCoordinates")?;
        leaf(w, "latitude", &facility.lat.to_string())?;
        leaf(w, "longitude", &facility.lon.to_string())?;
        close(w, "pointCoordinates")?;
        close(w, "pointByCoordinates")?;
        close(w, "parkingLocation")?;
        let site_type = if facility.on_street {
            "onStreetParking"
        } else {
            "offStreetParking"
        };
        leaf(w, "urbanParkingSiteType", site_type)?;
        close(w, "parkingRecord")?;
    }
    close(w, "parkingTable")?;
    close(w, "parkingTablePublication")?;
    close(w, "genericPublicationExtension")
}

fn status_body(
    w: &mut Xml,
    publication: &Publication<'_>,
    facilities: &[PublishedFacility<'_>],
    reported: &[&PublishedFacility<'_>],
) -> io::Result<()> {
    leaf(w, "genericPublicationName", "ParkingStatusPublication")?;
    open(w, "genericPublicationExtension")?;
    open(w, "parkingStatusPublication")?;
    let mut table = BytesStart::new("parkingTableReference");
    table.push_attribute(("id", publication.supplier().as_str()));
    table.push_attribute(("targetClass", "ParkingTable"));
    table.push_attribute(("version", table_version(facilities).to_string().as_str()));
    w.write_event(Event::Empty(table))?;
    header(w)?;
    for facility in reported {
        let (level, stale) = match facility.freshness(publication) {
            Freshness::Never => continue,
            Freshness::Stale(level) => (level, true),
            Freshness::Fresh(level) => (level, false),
        };
        let mut record = BytesStart::new("parkingRecordStatus");
        record.push_attribute(("xsi:type", "ParkingSiteStatus"));
        w.write_event(Event::Start(record))?;
        let mut reference = BytesStart::new("parkingRecordReference");
        reference.push_attribute(("id", facility.id));
        reference.push_attribute(("targetClass", "ParkingRecord"));
        reference.push_attribute(("version", facility.static_version().to_string().as_str()));
        w.write_event(Event::Empty(reference))?;
        leaf(w, "parkingStatusOriginTime", &to_rfc3339(level.updated_at))?;
        if stale {
            leaf(w, "parkingFault", "communicationsFailure")?;
        }
        open(w, "parkingOccupancy")?;
        if let Some(total) = level.total {
            leaf(w, "parkingNumberOfSpacesOverride", &total.to_string())?;
        }
        let vacant = PublishedFacility::vacant(&level);
        leaf(w, "parkingNumberOfVacantSpaces", &vacant.to_string())?;
        if let Some(occupied) = level.occupied {
            leaf(w, "parkingNumberOfOccupiedSpaces", &occupied.to_string())?;
        }
        if let Some(pct) = level.occupancy_pct {
            leaf(w, "parkingOccupancy", &round2(pct).to_string())?;
        }
        if let Some(trend) = level.trend.filter(|_| !stale) {
            leaf(w, "parkingOccupancyTrend", trend.as_str())?;
        }
        close(w, "parkingOccupancy")?;
        let closed = PublishedFacility::closed(&level);
        // `closed` is no ParkingSiteStatusEnum value: a closed site says so in its
        // opening status only.
        let status = match level.status {
            _ if stale => Some("unknown"),
            Some(status) if !closed => Some(status.as_str()),
            _ => None,
        };
        if let Some(status) = status {
            leaf(w, "parkingSiteStatus", status)?;
        }
        let opening = match () {
            () if stale => "statusUnknown",
            () if closed => "closed",
            () if PublishedFacility::opening_unknown(&level) => "statusUnknown",
            () => "open",
        };
        leaf(w, "parkingSiteOpeningStatus", opening)?;
        close(w, "parkingRecordStatus")?;
    }
    close(w, "parkingStatusPublication")?;
    close(w, "genericPublicationExtension")
}

fn header(w: &mut Xml) -> io::Result<()> {
    open(w, "headerInformation")?;
    leaf(w, "confidentiality", "noRestriction")?;
    leaf(w, "informationStatus", "real")?;
    close(w, "headerInformation")
}

fn identifier(w: &mut Xml, name: &str, national: &str) -> io::Result<()> {
    open(w, name)?;
    leaf(w, "country", COUNTRY)?;
    leaf(w, "nationalIdentifier", national)?;
    close(w, name)
}

fn open(w: &mut Xml, name: &str) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))
}

fn close(w: &mut Xml, name: &str) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// `<name>text</name>`, the text escaped.
fn leaf(w: &mut Xml, name: &str, text: &str) -> io::Result<()> {
    open(w, name)?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    close(w, name)
}

#[cfg(test)]
mod tests;
