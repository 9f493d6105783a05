//! The XML layer of the DATEX II decoder: a pull reader over the payload (quick-xml
//! events, no tree of the document) that names the elements this decoder reads by
//! namespace URI and local name, whatever prefix a publisher chose.
//!
//! Safety: quick-xml resolves no DTD and no entity; a `DOCTYPE` is refused outright
//! (DATEX II documents have none, and an internal subset is how entity-expansion bombs
//! arrive), and an entity reference other than XML's five predefined ones and character
//! references refuses the document. Nothing here opens a URL or a file.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{NamespaceResolver, ResolveResult};

/// Namespace of DATEX II 2.x (2.0–2.3 share it).
pub(super) const NS_V2: &[u8] = b"http://datex2.eu/schema/2/2_0";
/// Prefix of every DATEX II v3 namespace (`.../3/common`, `.../3/parking`, …).
pub(super) const NS_V3: &[u8] = b"http://datex2.eu/schema/3/";
const NS_XSI: &[u8] = b"http://www.w3.org/2001/XMLSchema-instance";

macro_rules! tags {
    ($($variant:ident = $name:literal,)*) => {
        /// The DATEX II elements the decoder reads; anything else is [`Tag::Other`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Tag {
            $($variant,)*
            /// Any other element, or one outside the DATEX II namespaces.
            Other,
        }

        fn tag_of(local: &[u8]) -> Tag {
            match local {
                $($name => Tag::$variant,)*
                _ => Tag::Other,
            }
        }
    };
}

tags! {
    ParkingRecordStatus = b"parkingRecordStatus",
    ParkingRecordReference = b"parkingRecordReference",
    ParkingStatusOriginTime = b"parkingStatusOriginTime",
    ParkingOccupancy = b"parkingOccupancy",
    VacantSpaces = b"parkingNumberOfVacantSpaces",
    OccupiedSpaces = b"parkingNumberOfOccupiedSpaces",
    SpacesOverride = b"parkingNumberOfSpacesOverride",
    OpeningStatus = b"parkingSiteOpeningStatus",
    // The v3 name of the same state (`openingStatus` of a v3 status record).
    OpeningStatusV3 = b"openingStatus",
    MdmPublication = b"parkingFacilityTableStatusPublication",
    FacilityStatus = b"parkingFacilityStatus",
    FacilityReference = b"parkingFacilityReference",
    FacilityStatusTime = b"parkingFacilityStatusTime",
    MdmVacant = b"totalNumberOfVacantParkingSpaces",
    MdmOccupied = b"totalNumberOfOccupiedParkingSpaces",
    SiteMeasurements = b"siteMeasurements",
    SiteReference = b"measurementSiteReference",
    TimeDefault = b"measurementTimeDefault",
    MeasuredValue = b"measuredValue",
    BasicData = b"basicData",
    VehicleFlow = b"vehicleFlow",
    VehicleFlowRate = b"vehicleFlowRate",
    AverageVehicleSpeed = b"averageVehicleSpeed",
    Speed = b"speed",
    Period = b"measurementOrCalculationPeriod",
    ValueTime = b"measurementOrCalculationTime",
    // Static tables, read by `stadtpuls registry import` (`table.rs`).
    ParkingRecord = b"parkingRecord",
    ParkingName = b"parkingName",
    NumberOfSpaces = b"parkingNumberOfSpaces",
    Facility = b"parkingFacility",
    FacilityName = b"parkingFacilityName",
    FacilityCapacity = b"totalParkingCapacity",
    Latitude = b"latitude",
    Longitude = b"longitude",
    Value = b"value",
    // Measurement site tables, read by `stadtpuls registry import` (`site_table.rs`).
    SiteRecord = b"measurementSiteRecord",
    SiteName = b"measurementSiteName",
    SiteLanes = b"measurementSiteNumberOfLanes",
    SiteLocation = b"measurementSiteLocation",
    Characteristics = b"measurementSpecificCharacteristics",
    SpecificLane = b"specificLane",
    ValueType = b"specificMeasurementValueType",
    VehicleType = b"vehicleType",
    ComparisonOperator = b"comparisonOperator",
    VehicleLength = b"vehicleLength",
    ComputationMethod = b"computationMethod",
}

/// An opened element of a DATEX II namespace, with the attributes the decoder reads.
///
/// The values are borrowed from the payload; only a value with an entity or character
/// reference in it is unescaped into a copy.
#[derive(Debug, Default)]
pub(super) struct Attrs<'a> {
    /// `id` (references).
    pub(super) id: Option<Cow<'a, str>>,
    /// `index` (a measured value).
    pub(super) index: Option<Cow<'a, str>>,
    /// `xsi:type`, its prefix removed.
    pub(super) xsi_type: Option<Cow<'a, str>>,
    /// `numberOfInputValuesUsed` (a data value; `0` = no data).
    pub(super) inputs: Option<Cow<'a, str>>,
}

/// What the reader hands the decoder.
pub(super) enum Node {
    /// An element opened (an empty element is followed by its `Close`); `start` is the
    /// byte offset of its `<`. Its attributes are [`Xml::attrs`] until the next element
    /// opens (kept in the reader, not moved through every call).
    Open(Tag, usize),
    /// An element closed (its text is [`Xml::text`]); the offset after it.
    Close(Tag, usize),
    /// The end of the document.
    End,
}

/// A refusal of the whole document, in words.
pub(super) type XmlError = String;

/// The text of an element: most elements hold one run of text, which is lent from the
/// payload; text in several runs (around a character reference, a comment, CDATA) is
/// gathered in one buffer kept for the whole document.
#[derive(Debug, Default)]
pub(super) struct Text<'a> {
    /// The first run, while it is the only one.
    run: &'a str,
    /// The runs so far once there are several.
    joined: String,
    several: bool,
}

impl<'a> Text<'a> {
    fn clear(&mut self) {
        self.run = "";
        self.several = false;
    }

    fn push(&mut self, part: Cow<'a, str>) {
        match part {
            Cow::Borrowed(part) if !self.several && self.run.is_empty() => self.run = part,
            part => self.join().push_str(&part),
        }
    }

    fn push_char(&mut self, c: char) {
        self.join().push(c);
    }

    /// The buffer, holding every run so far.
    fn join(&mut self) -> &mut String {
        if !self.several {
            self.several = true;
            self.joined.clear();
            self.joined.push_str(self.run);
        }
        &mut self.joined
    }

    /// The trimmed text.
    pub(super) fn as_str(&self) -> &str {
        if self.several {
            self.joined.trim()
        } else {
            self.run.trim()
        }
    }

    /// The trimmed text, lent from the payload when it is one run.
    pub(super) fn lent(&self) -> Cow<'a, str> {
        if self.several {
            Cow::Owned(self.joined.trim().to_owned())
        } else {
            Cow::Borrowed(self.run.trim())
        }
    }
}

/// The pull reader: elements outside the DATEX II namespaces read as [`Tag::Other`].
///
/// Namespaces are tracked by hand around quick-xml's resolver, for speed: a scope is
/// opened only for an element whose attributes mention `xmlns` (one memchr over them;
/// most elements declare nothing), and an element's prefix is resolved only when its
/// local name is one the decoder reads (or until the first DATEX II element is seen).
pub(super) struct Xml<'a> {
    payload: &'a [u8],
    reader: Reader<&'a [u8]>,
    /// The namespace declarations in scope, one level per declaring element.
    namespaces: NamespaceResolver,
    /// The open elements, innermost last.
    pub(super) stack: Vec<Tag>,
    /// Per open element, whether it opened a namespace scope.
    scoped: Vec<bool>,
    /// The text since the last element opened.
    text: Text<'a>,
    /// The attributes of the last element opened.
    attrs: Attrs<'a>,
    /// A closing still owed for an empty element.
    owed: Option<(Tag, usize)>,
    /// Whether any element was in a DATEX II namespace.
    pub(super) datex_seen: bool,
    /// The root element's name, for the refusal of a document that is not DATEX II.
    pub(super) root: Option<String>,
}

impl<'a> Xml<'a> {
    /// After the walk, for the static-table readers: an error when no element was in the
    /// DATEX II 2.x namespace, naming the root element the document had instead.
    pub(super) fn ensure_v2(&self) -> Result<(), XmlError> {
        if self.datex_seen {
            return Ok(());
        }
        Err(format!(
            "not DATEX II: no element in the namespace {} (root element `{}`)",
            String::from_utf8_lossy(NS_V2),
            self.root.as_deref().unwrap_or("none"),
        ))
    }

    pub(super) fn new(payload: &'a [u8]) -> Self {
        let mut reader = Reader::from_reader(payload);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Self {
            payload,
            reader,
            namespaces: NamespaceResolver::default(),
            stack: Vec::with_capacity(16),
            scoped: Vec::with_capacity(16),
            text: Text::default(),
            attrs: Attrs::default(),
            owed: None,
            datex_seen: false,
            root: None,
        }
    }

    /// The trimmed text of the element just closed.
    pub(super) fn text(&self) -> &str {
        self.text.as_str()
    }

    /// The attributes of the element just opened (none for [`Tag::Other`]).
    pub(super) fn attrs(&self) -> &Attrs<'a> {
        &self.attrs
    }

    /// The text of the element just closed, for a reader that keeps it.
    pub(super) fn closed_text(&self) -> &Text<'a> {
        &self.text
    }

    /// The next element boundary.
    pub(super) fn next(&mut self) -> Result<Node, XmlError> {
        if let Some((tag, end)) = self.owed.take() {
            self.close_scope();
            return Ok(Node::Close(tag, end));
        }
        loop {
            let before = self.position();
            let event = match self.reader.read_event() {
                Ok(event) => event,
                Err(e) => return Err(format!("invalid XML near byte {}: {e}", self.position())),
            };
            match event {
                Event::Start(start) => {
                    let tag = self.open(&start)?;
                    self.text.clear();
                    return Ok(Node::Open(tag, before));
                }
                Event::Empty(start) => {
                    let tag = self.open(&start)?;
                    self.text.clear();
                    self.owed = Some((tag, self.position()));
                    return Ok(Node::Open(tag, before));
                }
                Event::End(_) => {
                    let tag = self.close_scope();
                    return Ok(Node::Close(tag, self.position()));
                }
                Event::Text(text) => {
                    let text = text
                        .decode()
                        .map_err(|e| format!("invalid text at byte {before}: {e}"))?;
                    self.text.push(text);
                }
                Event::CData(data) => {
                    let text = data
                        .decode()
                        .map_err(|e| format!("invalid CDATA at byte {before}: {e}"))?;
                    self.text.push(text);
                }
                Event::GeneralRef(reference) => {
                    let named = reference
                        .decode()
                        .map_err(|e| format!("invalid reference at byte {before}: {e}"))?;
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        Ok(None) => predefined(&named),
                        Err(e) => return Err(format!("invalid reference at byte {before}: {e}")),
                    };
                    let Some(c) = resolved else {
                        return Err(format!(
                            "entity reference `&{named};` at byte {before}: only XML's five predefined entities are read, entities are never expanded"
                        ));
                    };
                    self.text.push_char(c);
                }
                Event::DocType(_) => {
                    return Err(format!(
                        "a DOCTYPE at byte {before}: DTDs are refused (DATEX II has none; entity declarations are never expanded)"
                    ));
                }
                Event::Eof => {
                    if let Some(open) = self.stack.last() {
                        return Err(format!(
                            "the document ends inside an open element ({open:?}, {} deep)",
                            self.stack.len()
                        ));
                    }
                    return Ok(Node::End);
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            }
        }
    }

    /// The reader's byte offset in the payload.
    pub(super) fn position(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    /// Pops the innermost element and the namespace scope it opened, if any.
    fn close_scope(&mut self) -> Tag {
        if self.scoped.pop() == Some(true) {
            self.namespaces.pop();
        }
        self.stack.pop().unwrap_or(Tag::Other)
    }

    /// Pushes an opened element (its namespace declarations first) and reads the
    /// attributes of one the decoder reads into [`Self::attrs`].
    fn open(&mut self, start: &BytesStart<'a>) -> Result<Tag, XmlError> {
        // Only an attribute named `xmlns` or `xmlns:…` declares a namespace, so an element
        // whose attributes do not mention the word declares none.
        let declares = mentions_xmlns(start.attributes_raw());
        if declares {
            self.namespaces.push(start).map_err(|e| {
                let e = quick_xml::Error::Namespace(e);
                format!("invalid XML near byte {}: {e}", self.position())
            })?;
        }
        self.scoped.push(declares);
        if self.root.is_none() {
            self.root = Some(String::from_utf8_lossy(start.name().as_ref()).into_owned());
        }
        let local = tag_of(start.local_name().as_ref());
        let tag = if local != Tag::Other || !self.datex_seen {
            let (ns, _) = self.namespaces.resolve_element(start.name());
            let datex = is_datex(&ns);
            self.datex_seen |= datex;
            if datex { local } else { Tag::Other }
        } else {
            Tag::Other
        };
        self.stack.push(tag);
        let attrs = &mut self.attrs;
        *attrs = Attrs::default();
        if tag == Tag::Other {
            return Ok(tag);
        }
        for attr in start.attributes() {
            let attr = attr.map_err(|e| format!("invalid attribute: {e}"))?;
            let slot = match attr.key.local_name().as_ref() {
                b"type" => {
                    let (ns, _) = self.namespaces.resolve_attribute(attr.key);
                    if !matches!(ns, ResolveResult::Bound(n) if n.as_ref() == NS_XSI) {
                        continue;
                    }
                    &mut attrs.xsi_type
                }
                b"id" => &mut attrs.id,
                b"index" => &mut attrs.index,
                b"numberOfInputValuesUsed" => &mut attrs.inputs,
                _ => continue,
            };
            let value = attr
                .unescape_value()
                .map_err(|e| format!("invalid attribute value: {e}"))?;
            *slot = Some(lend(self.payload, value));
        }
        if let Some(value) = attrs.xsi_type.take() {
            attrs.xsi_type = Some(match value {
                Cow::Borrowed(value) => Cow::Borrowed(value.rsplit(':').next().unwrap_or(value)),
                Cow::Owned(value) => {
                    Cow::Owned(value.rsplit(':').next().unwrap_or(&value).to_owned())
                }
            });
        }
        Ok(tag)
    }
}

/// Whether a start tag's attributes mention `xmlns` (a namespace declaration has it
/// in its name; a value may too, which only costs a closer look).
fn mentions_xmlns(attributes: &[u8]) -> bool {
    memchr::memchr_iter(b'x', attributes).any(|at| {
        attributes
            .get(at..)
            .is_some_and(|rest| rest.starts_with(b"xmlns"))
    })
}

/// `value` as a borrow of `payload` when it is a slice of it (quick-xml lends an
/// attribute value from the event, whose bytes are the payload's), else a copy.
fn lend<'a>(payload: &'a [u8], value: Cow<'_, str>) -> Cow<'a, str> {
    let Cow::Borrowed(part) = value else {
        return Cow::Owned(value.into_owned());
    };
    // The offset of `part` in the payload, if it lies inside it: a live slice that
    // starts inside the payload's bytes is part of them.
    let offset = (part.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
    let lent = offset
        .checked_add(part.len())
        .and_then(|end| payload.get(offset..end))
        .filter(|bytes| !part.is_empty() && *bytes == part.as_bytes())
        .and_then(|bytes| std::str::from_utf8(bytes).ok());
    match lent {
        Some(lent) => Cow::Borrowed(lent),
        None => Cow::Owned(part.to_owned()),
    }
}

/// Byte range helper: `start..end` clamped to `len`.
pub(super) fn clamp(range: Range<usize>, len: usize) -> Range<usize> {
    range.start.min(len)..range.end.min(len)
}

fn is_datex(ns: &ResolveResult<'_>) -> bool {
    match ns {
        ResolveResult::Bound(ns) => ns.as_ref() == NS_V2 || ns.as_ref().starts_with(NS_V3),
        _ => false,
    }
}

fn predefined(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}
