//! Which payload codec turns a LoRaWAN uplink's bytes (`frm_payload`) into a parking state,
//! for a `ttn` feed whose uplinks carry no `decoded_payload`.
//!
//! The layouts themselves are in `ingest/src/decode/ttn/codecs.rs`; this is only their
//! name, so the config can say which one a feed's devices speak.

use std::fmt;
use std::str::FromStr;

/// A device family whose uplink bytes Stadtpuls decodes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoraCodec {
    /// Nwave parking sensors (NPS405 and the G4 NPS family): `vendor/nwave/nps405.js`.
    NwaveNps,
    /// Bosch Parking Lot Sensor (TPS110): `vendor/bosch/tpl110-0292.js`.
    BoschPls,
}

impl LoraCodec {
    /// Every codec, in the order error messages list them.
    pub const ALL: [LoraCodec; 2] = [Self::NwaveNps, Self::BoschPls];

    /// The name used in the config file (`codec = "nwave-nps"`) and in refusal details.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NwaveNps => "nwave-nps",
            Self::BoschPls => "bosch-pls",
        }
    }

    /// The codec the Things Stack's device repository ids name (`version_ids.brand_id`,
    /// `model_id` of an uplink), if Stadtpuls has it.
    ///
    /// ```
    /// use stadtpuls_config::LoraCodec;
    /// assert_eq!(LoraCodec::from_version_ids("nwave", "nps405"), Some(LoraCodec::NwaveNps));
    /// assert_eq!(LoraCodec::from_version_ids("bosch", "tps110"), Some(LoraCodec::BoschPls));
    /// assert_eq!(LoraCodec::from_version_ids("bosch", "tps-2"), None);
    /// ```
    pub fn from_version_ids(brand_id: &str, model_id: &str) -> Option<LoraCodec> {
        let model = model_id.to_ascii_lowercase();
        match brand_id.to_ascii_lowercase().as_str() {
            "nwave" if model.starts_with("nps") => Some(Self::NwaveNps),
            "bosch" if model.starts_with("tps110") || model.starts_with("tpl110") => {
                Some(Self::BoschPls)
            }
            _ => None,
        }
    }
}

impl fmt::Display for LoraCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LoraCodec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|codec| codec.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown codec `{text}`, expected one of {}",
                    names.join(", ")
                )
            })
    }
}
