//! DATEX II XML (`docs/formats.md`, "DATEX II"): 2.3 `ParkingStatusPublication`, the German
//! MDM profile's `parkingFacilityTableStatusPublication`, v3 `ParkingStatusPublication`
//! (the v2-style element names NDW still sends) and 2.3 `MeasuredDataPublication`.
//!
//! A pull reader (`datex2/xml.rs`) walks the document twice: first only to check that it
//! is well-formed DATEX II, so a broken document is refused as one message and never
//! half-accepted; then parking records (`datex2/parking.rs`) and measured values
//! (`datex2/measured.rs`) are collected one at a time as small values with their byte
//! ranges (`datex2/values.rs`), never as a tree, and handed to `Emit` as each closes; a
//! bad record is refused on its own. A measurement site's values become one observation
//! per lane: the registry maps each value index to a lane (`id#index=lane`), and
//! `datex2/lanes.rs` sums a lane's class flows and weighs its class speeds by flow.
//!
//! `datex2/table.rs` reads static parking tables and `datex2/site_table.rs` measurement
//! site tables with the same reader, for `stadtpuls registry import`.

mod lanes;
mod measured;
mod parking;
mod site_table;
mod table;
mod values;
mod xml;

pub use site_table::{SiteIndex, SiteRecord, read_site_table};
pub use table::{TableRecord, read_table};

use stadtpuls_processing::Rejection;
use stadtpuls_processing::catalog::CityKey;
use stadtpuls_processing::model::TimeBounds;

use super::emit::{Emit, malformed, unknown_id};
use super::external::{ExternalIds, Mapped};
use super::native::Sinks;
use values::{Item, Values};
use xml::{Node, Tag, Xml, XmlError};

/// Decodes one document; each record is accepted or refused on its own, a document that
/// cannot be read as DATEX II XML is refused whole.
///
/// Two passes: the first only checks that the document is well-formed DATEX II (so a
/// broken one is refused as one message, never half-accepted), the second hands each
/// record over as soon as it closes — memory stays bounded by one record, not the document.
pub(crate) fn decode(payload: &[u8], emit: &mut Emit<'_, '_>) {
    if let Err(reason) = check(payload) {
        return emit.refuse(None, payload, malformed(reason));
    }
    let mut index = 0;
    let mut left = measured::Left::default();
    let mut items = Vec::new();
    let walked = walk(payload, |record| {
        match record {
            Record::Item(item) => items.push(item),
            Record::Site(site) => match site_entries(emit, site.id()) {
                Ok(entries) => {
                    let got = site.items(|index| lane_of(entries, index), &mut items);
                    left.unmapped += got.unmapped;
                    left.speed_only += got.speed_only;
                }
                Err(rejection) => items.push(site.refused(rejection)),
            },
        }
        for item in items.drain(..) {
            let range = xml::clamp(item.range.clone(), payload.len());
            let bytes = payload.get(range).unwrap_or_default();
            match &item.values {
                Ok(values) => {
                    let id = mapped_id(emit, &item.id, values);
                    emit.reading(Some(index), bytes, &item.reading(id, values))
                }
                Err(rejection) => emit.refuse(Some(index), bytes, rejection.clone()),
            }
            index += 1;
        }
    });
    // The same bytes read the same way twice: `check` accepted them.
    debug_assert!(walked.is_ok());
    if left != measured::Left::default() {
        tracing::debug!(
            unmapped = left.unmapped,
            speed_only = left.speed_only,
            "DATEX II measured values left out: indices the registry does not map on a mapped site (a lane's anyVehicle total), speeds without a flow of their index"
        );
    }
}

/// The registry's entries for measurement site `site` (none: the site's id is a
/// registry id itself, or the catalog admits unknown sensors), looked up once per site
/// before any of its values is read: a site the registry does not know is refused whole
/// as `unknown_sensor`, naming its id, not value by value for whatever else is wrong
/// with them. A site without an id is left to [`measured::Site::items`] (malformed).
fn site_entries<'e>(emit: &Emit<'e, '_>, site: Option<&str>) -> Result<&'e [Mapped], Rejection> {
    let Some(site) = site else {
        return Ok(&[]);
    };
    if let Some(entries) = emit.external.entries(emit.city, site) {
        return Ok(entries);
    }
    let catalog = &*emit.sinks.catalog;
    if catalog.traffic_key(emit.city, site).is_some() || catalog.admits_unknown() {
        return Ok(&[]);
    }
    Err(unknown_id(site, emit.city_id))
}

/// Where the registry's `entries` of a site put value `index`.
fn lane_of(entries: &[Mapped], index: i64) -> measured::Lane<'_> {
    if !entries.iter().any(|m| m.index.is_some()) {
        return measured::Lane::Index;
    }
    let Ok(wanted) = u16::try_from(index) else {
        return measured::Lane::Unmapped;
    };
    match entries.iter().find(|m| m.index == Some(wanted)) {
        Some(mapped) => match mapped.lane {
            Some(lane) => measured::Lane::Mapped(&mapped.id, lane),
            None => measured::Lane::Index,
        },
        None => measured::Lane::Unmapped,
    }
}

/// The feed id of a facility record as the registry knows it: VRS writes a status
/// record's id as `1035[P+R Bondorf]` and its facility table's id as `1035`, so an id
/// with a `[…]` suffix that no `external_id` maps is tried without it (as parkapi-sources
/// reads it), which is how `stadtpuls registry import` of the table maps the status.
fn mapped_id<'i>(emit: &Emit<'_, '_>, id: &'i str, values: &Values) -> &'i str {
    let Values::Facility { .. } = values else {
        return id;
    };
    match id.split_once('[') {
        Some((base, _))
            if !base.is_empty()
                && id.ends_with(']')
                && emit.external.resolve(emit.city, id, None).is_none()
                && emit.external.resolve(emit.city, base, None).is_some() =>
        {
            base
        }
        _ => id,
    }
}

/// Decodes one DATEX II document of `city` into `sinks`, as the pipeline does for a
/// `datex2` feed topic; returns the observations accepted. For benchmarks and tools that
/// hold no pipeline.
pub fn decode_document(
    payload: &[u8],
    city: CityKey,
    city_id: &str,
    external: &ExternalIds,
    bounds: TimeBounds,
    sinks: &mut Sinks<'_>,
) -> usize {
    let mut emit = Emit {
        sinks,
        city,
        city_id,
        external,
        bounds,
        accepted: 0,
        admitted: 0,
    };
    decode(payload, &mut emit);
    emit.accepted
}

/// The first pass: well-formed XML with DATEX II elements and at least one record.
fn check(payload: &[u8]) -> Result<(), XmlError> {
    let mut xml = Xml::new(payload);
    let mut records = 0usize;
    loop {
        match xml.next()? {
            Node::Open(
                Tag::ParkingRecordStatus | Tag::SiteMeasurements | Tag::FacilityStatus,
                ..,
            ) => {
                records += 1;
            }
            Node::Open(..) | Node::Close(..) => {}
            Node::End => break,
        }
    }
    if !xml.datex_seen {
        return Err(format!(
            "not DATEX II: no element in the namespace {} or {}… (root element `{}`)",
            String::from_utf8_lossy(xml::NS_V2),
            String::from_utf8_lossy(xml::NS_V3),
            xml.root.as_deref().unwrap_or("none"),
        ));
    }
    if records == 0 {
        return Err(
            "a DATEX II document without parkingRecordStatus, parkingFacilityStatus or siteMeasurements (only status and measured data publications are read)"
                .to_owned(),
        );
    }
    Ok(())
}

/// What the second pass hands over: a parking record's item, or a whole measurement
/// site (its lanes need the registry), lent by the reader that reuses it.
enum Record<'a, 's> {
    Item(Item<'a>),
    Site(&'s mut measured::Site<'a>),
}

/// The second pass: every record to `sink`, in document order.
fn walk<'a>(payload: &'a [u8], mut sink: impl FnMut(Record<'a, '_>)) -> Result<(), XmlError> {
    let mut xml = Xml::new(payload);
    let mut records = parking::Records::default();
    let mut sites = measured::Sites::default();
    let mut items = Vec::new();
    loop {
        match xml.next()? {
            Node::Open(tag, start) => {
                records.open(&xml.stack, tag, xml.attrs(), start);
                sites.open(&xml.stack, tag, xml.attrs(), start);
            }
            Node::Close(tag, end) => {
                records.close(&xml.stack, tag, xml.closed_text(), end, &mut items);
                items.drain(..).map(Record::Item).for_each(&mut sink);
                if let Some(site) = sites.close(&xml.stack, tag, xml.closed_text(), end) {
                    sink(Record::Site(site));
                }
            }
            Node::End => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
