//! Partner feeds: which wire format a city's topic carries (`[[cities.feeds]]`), and how a
//! record's `content-type` header overrides it.
//!
//! The format is configuration, not guesswork: an NGSI v2 entity, a ParkAPI document and a
//! native observation are all `application/json`, so only the topic (or a specific media
//! type) can tell them apart.

use std::fmt;
use std::str::FromStr;

/// A wire format Stadtpuls decodes. Every format ends in the same validated observations.
///
/// Adding one (DATEX II, TTN): a variant here with its name and media types, a decoder
/// in `ingest/src/decode/`, one arm in `ingest/src/decode/feed.rs` (see ARCHITECTURE.md,
/// "How to add a feed format").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    /// Stadtpuls' own JSON (`docs/formats.md`), the default of every topic.
    Native,
    /// FIWARE NGSI-LD and NGSI v2 entities, batches and notifications.
    Fiware,
    /// ParkAPI v3 realtime parking-site JSON.
    ParkApi,
    /// The Things Stack v3 (TTN) LoRaWAN uplinks of parking-spot sensors.
    Ttn,
    /// DATEX II XML: 2.3 (and the German MDM profile) parking status, measured traffic
    /// data, v3 parking status.
    Datex2,
}

impl FeedFormat {
    /// Every format, in the order `--help` and error messages list them.
    pub const ALL: [FeedFormat; 5] = [
        Self::Native,
        Self::Fiware,
        Self::ParkApi,
        Self::Ttn,
        Self::Datex2,
    ];

    /// The name used in the config file and in the `format` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Fiware => "fiware",
            Self::ParkApi => "parkapi",
            Self::Ttn => "ttn",
            Self::Datex2 => "datex2",
        }
    }

    /// The specific media type of the format ([`Self::from_content_type`] reads it back as
    /// this format whatever the topic's own format is): the `content-type` Stadtpuls writes
    /// with a record it produces itself — a pulled document, or a push whose sender named the
    /// format by the path (FIWARE: the Stadtpuls type, which claims neither NGSI v2 nor
    /// NGSI-LD).
    ///
    /// ```
    /// use stadtpuls_config::FeedFormat;
    /// for format in FeedFormat::ALL {
    ///     assert_eq!(FeedFormat::from_content_type(format.media_type()), Some(format));
    /// }
    /// ```
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Native => "application/vnd.stadtpuls.native+json",
            Self::Fiware => "application/vnd.stadtpuls.fiware+json",
            Self::ParkApi => "application/vnd.stadtpuls.parkapi+json",
            Self::Ttn => "application/vnd.ttn.uplink+json",
            Self::Datex2 => "application/vnd.datex2+xml",
        }
    }

    /// The format a record's `content-type` header names, if it names one specifically.
    ///
    /// Parameters (`; charset=utf-8`) and case are ignored. Generic JSON
    /// (`application/json`, `text/json`) and unknown types name none: NGSI v2 and ParkAPI
    /// are sent as `application/json` too, so such a record keeps its topic's format (native
    /// unless configured). Specific types:
    ///
    /// | `content-type` | format |
    /// |---|---|
    /// | `application/ld+json` | `fiware` (NGSI-LD) |
    /// | `application/vnd.stadtpuls.native+json` | `native` |
    /// | `application/vnd.stadtpuls.fiware+json` | `fiware` (NGSI v2 or LD) |
    /// | `application/vnd.stadtpuls.parkapi+json` | `parkapi` |
    /// | `application/vnd.ttn.uplink+json` | `ttn` |
    /// | `application/xml`, `text/xml`, `application/vnd.datex2+xml` | `datex2` (the only XML format) |
    ///
    /// ```
    /// use stadtpuls_config::FeedFormat;
    /// assert_eq!(FeedFormat::from_content_type("application/ld+json; charset=utf-8"), Some(FeedFormat::Fiware));
    /// assert_eq!(FeedFormat::from_content_type("application/json"), None);
    /// assert_eq!(FeedFormat::from_content_type("Text/XML"), Some(FeedFormat::Datex2));
    /// ```
    pub fn from_content_type(value: &str) -> Option<FeedFormat> {
        let media = value.split(';').next().unwrap_or_default().trim();
        const TYPES: [(&str, FeedFormat); 8] = [
            ("application/ld+json", FeedFormat::Fiware),
            ("application/vnd.stadtpuls.native+json", FeedFormat::Native),
            ("application/vnd.stadtpuls.fiware+json", FeedFormat::Fiware),
            (
                "application/vnd.stadtpuls.parkapi+json",
                FeedFormat::ParkApi,
            ),
            ("application/vnd.ttn.uplink+json", FeedFormat::Ttn),
            ("application/xml", FeedFormat::Datex2),
            ("text/xml", FeedFormat::Datex2),
            ("application/vnd.datex2+xml", FeedFormat::Datex2),
        ];
        TYPES
            .iter()
            .find(|(name, _)| media.eq_ignore_ascii_case(name))
            .map(|(_, format)| *format)
    }
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FeedFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|format| format.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "unknown format `{text}`, expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// One `[[cities.feeds]]` entry: a topic of the city and the format it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// Kafka topic name; the consumer subscribes to it besides `kafka.topic_pattern`.
    pub topic: String,
    /// What its records are, unless a record's `content-type` names another format.
    pub format: FeedFormat,
    /// For `ttn`: the payload codec of its devices (`codec = "nwave-nps"`), used when an
    /// uplink carries neither `decoded_payload` nor `version_ids` naming a known device.
    pub codec: Option<LoraCodec>,
}

pub use super::lora_codec::LoraCodec;
