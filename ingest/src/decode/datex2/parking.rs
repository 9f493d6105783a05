//! Parking status records: `parkingRecordStatus` (DATEX II 2.3 and the v3 documents that
//! keep its names) and the MDM profile's `parkingFacilityStatus`, each → one facility
//! count keyed by its reference id.

use std::borrow::Cow;

use stadtpuls_processing::model::parking::OpeningStatus;
use stadtpuls_processing::{RejectReason, Rejection};

use super::super::emit::malformed;
use super::values::{Item, Values, instant, number, whole};
use super::xml::{Attrs, Tag, Text};

/// The `xsi:type`s of `parkingRecordStatus` that carry a facility's occupancy.
const STATUS_TYPES: [&str; 3] = [
    "ParkingSiteStatus",
    "ParkingFacilityStatus",
    "GroupOfParkingSitesStatus",
];

/// The parking record being read, if any.
#[derive(Debug, Default)]
pub(super) struct Records<'a> {
    current: Option<Record<'a>>,
}

#[derive(Debug, Default)]
struct Record<'a> {
    start: usize,
    /// Its element's depth (1 = the root).
    depth: usize,
    mdm: bool,
    id: Option<Cow<'a, str>>,
    xsi_type: Option<Cow<'a, str>>,
    time: Option<Cow<'a, str>>,
    vacant: Option<Cow<'a, str>>,
    occupied: Option<Cow<'a, str>>,
    capacity: Option<Cow<'a, str>>,
    occupancy: Option<Cow<'a, str>>,
    opening: Option<OpeningStatus>,
}

impl<'a> Records<'a> {
    /// `stack` holds the opened element last.
    pub(super) fn open(&mut self, stack: &[Tag], tag: Tag, attrs: &Attrs<'a>, start: usize) {
        let depth = stack.len();
        match &mut self.current {
            None => {
                let parent = depth.checked_sub(2).and_then(|i| stack.get(i));
                let mdm = tag == Tag::FacilityStatus && parent == Some(&Tag::MdmPublication);
                if tag == Tag::ParkingRecordStatus || mdm {
                    self.current = Some(Record {
                        start,
                        depth,
                        mdm,
                        xsi_type: attrs.xsi_type.clone(),
                        ..Record::default()
                    });
                }
            }
            Some(record) => {
                let reference = matches!(tag, Tag::ParkingRecordReference | Tag::FacilityReference);
                if reference && depth == record.depth + 1 {
                    record.id = attrs.id.clone();
                }
            }
        }
    }

    /// `stack` no longer holds the closed element.
    pub(super) fn close(
        &mut self,
        stack: &[Tag],
        tag: Tag,
        text: &Text<'a>,
        end: usize,
        items: &mut Vec<Item<'a>>,
    ) {
        let Some(record) = &mut self.current else {
            return;
        };
        let depth = stack.len() + 1;
        if depth == record.depth {
            if let Some(record) = self.current.take() {
                items.push(record.finish(end));
            }
            return;
        }
        let value = || Some(text.lent());
        let text = text.as_str();
        if depth == record.depth + 1 {
            match tag {
                Tag::ParkingStatusOriginTime | Tag::FacilityStatusTime => record.time = value(),
                // An opening state this decoder does not know (`other`) says nothing sure.
                Tag::OpeningStatus | Tag::OpeningStatusV3 => {
                    record.state(Some(opening_status(text).unwrap_or(OpeningStatus::Unknown)));
                }
                // The MDM profile lists site and opening states in one repeated element.
                Tag::FacilityStatus if record.mdm => record.state(opening_status(text)),
                Tag::MdmVacant if record.mdm => record.vacant = value(),
                Tag::MdmOccupied if record.mdm => record.occupied = value(),
                _ => {}
            }
        } else if depth == record.depth + 2
            && stack.get(record.depth) == Some(&Tag::ParkingOccupancy)
        {
            match tag {
                Tag::VacantSpaces => record.vacant = value(),
                Tag::OccupiedSpaces => record.occupied = value(),
                Tag::SpacesOverride => record.capacity = value(),
                Tag::ParkingOccupancy => record.occupancy = value(),
                _ => {}
            }
        }
    }
}

/// The opening status a DATEX II `OpeningStatusEnum` value states: `closed` for the states
/// that admit nobody (2.3 `closed`; v3 adds `closedOnHoliday`, `closedOnMaintenance`,
/// `temporarilyClosed`; FIWARE's `closedAbnormal`), `open` for `open` and
/// `openWithServiceLimitation`, `unknown` for `statusUnknown`; `None` for anything else
/// (the MDM profile's site states `spacesAvailable`, `full`, … share the element).
fn opening_status(status: &str) -> Option<OpeningStatus> {
    match status {
        "open" | "openWithServiceLimitation" => Some(OpeningStatus::Open),
        "statusUnknown" | "unknown" => Some(OpeningStatus::Unknown),
        _ if status.starts_with("closed") || status == "temporarilyClosed" => {
            Some(OpeningStatus::Closed)
        }
        _ => None,
    }
}

impl<'a> Record<'a> {
    /// Records an opening state read; `closed` wins over any other the record lists.
    fn state(&mut self, status: Option<OpeningStatus>) {
        if self.opening != Some(OpeningStatus::Closed) && status.is_some() {
            self.opening = status;
        }
    }

    fn finish(self, end: usize) -> Item<'a> {
        let values = self.values();
        Item {
            range: self.start..end,
            id: self.id.unwrap_or_default(),
            values,
        }
    }

    fn values(&self) -> Result<Values, Rejection> {
        let Some(id) = self.id.as_deref().filter(|id| !id.is_empty()) else {
            return Err(malformed("a parking record without a reference `id`"));
        };
        if !self.mdm {
            match self.xsi_type.as_deref() {
                Some(kind) if STATUS_TYPES.contains(&kind) => {}
                Some(kind) => {
                    return Err(malformed(format!(
                        "record `{id}`: parkingRecordStatus of xsi:type `{kind}` is not read (only {})",
                        STATUS_TYPES.join(", ")
                    )));
                }
                None => {
                    return Err(malformed(format!(
                        "record `{id}`: parkingRecordStatus without xsi:type"
                    )));
                }
            }
        }
        let time_name = if self.mdm {
            "parkingFacilityStatusTime"
        } else {
            "parkingStatusOriginTime"
        };
        let ts = match self.time.as_deref() {
            Some(text) => instant(text, time_name)?,
            None => return Err(malformed(format!("record `{id}` has no `{time_name}`"))),
        };
        if let Some(text) = self.occupancy.as_deref() {
            let pct = number(text, "parkingOccupancy")?;
            if !(0.0..=100.0).contains(&pct) {
                return Err(Rejection::new(
                    RejectReason::OccupancyOutOfRange,
                    format!("record `{id}`: parkingOccupancy {pct} outside 0–100 %"),
                ));
            }
        }
        let (vacant_name, occupied_name) = if self.mdm {
            (
                "totalNumberOfVacantParkingSpaces",
                "totalNumberOfOccupiedParkingSpaces",
            )
        } else {
            (
                "parkingNumberOfVacantSpaces",
                "parkingNumberOfOccupiedSpaces",
            )
        };
        let count = |text: &Option<Cow<'a, str>>, name: &str| -> Result<Option<i64>, Rejection> {
            text.as_deref().map(|t| whole(t, name)).transpose()
        };
        let vacant = count(&self.vacant, vacant_name)?;
        let occupied = count(&self.occupied, occupied_name)?;
        let total = count(&self.capacity, "parkingNumberOfSpacesOverride")?;
        let closed = self.opening == Some(OpeningStatus::Closed);
        let free = match (vacant, total, occupied) {
            // A closed facility admits nobody: no free space, whatever it last counted.
            _ if closed => 0,
            (Some(vacant), _, _) => vacant,
            (None, Some(total), Some(occupied)) => total - occupied,
            _ => {
                return Err(malformed(format!(
                    "record `{id}` has no `{vacant_name}` (nor a capacity override and `{occupied_name}`)"
                )));
            }
        };
        // A closed site's override of 0 says it has no spaces now, not that the facility
        // has none: its registry capacity stands.
        let total = total.filter(|t| !(closed && *t == 0));
        Ok(Values::Facility {
            ts,
            free,
            total,
            opening: self.opening,
        })
    }
}
