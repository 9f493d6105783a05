//! The feed's wire encoding against the decoders, for any value: what the simulator writes
//! is read back as written (it decodes nothing itself; these pin its encoding to the
//! decoders'). `PROPTEST_CASES` sets the cases, as for `decode/fuzz.rs`.

use proptest::prelude::*;
use proptest::test_runner::Config;
use stadtpuls_processing::model::MIN_EVENT_TIME;
use stadtpuls_processing::time::parse_rfc3339;

use super::*;
use crate::decode::fuzz::cases as fuzz_cases;

/// 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write.
const MAX_RFC3339_MS: i64 = 253_402_300_799_999;

proptest! {
    #![proptest_config(Config { cases: fuzz_cases(1000), ..Config::default() })]

    #[test]
    fn timestamps_parse_back_to_the_same_instant(ms in MIN_EVENT_TIME..=MAX_RFC3339_MS) {
        let mut out = Vec::new();
        push_rfc3339(&mut out, ms);
        let text = String::from_utf8(out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let unquoted = text.trim_matches('"');
        prop_assert_eq!(parse_rfc3339(unquoted), Some(ms), "{}", text);
    }

    #[test]
    fn any_string_round_trips_through_json(text in "\\PC{0,24}|[\\x00-\\x1f\"\\\\]{0,8}") {
        let quoted = json_string(&text);
        prop_assert_eq!(serde_json::from_str::<String>(&quoted).ok(), Some(text));
    }

    #[test]
    fn tenths_parse_to_the_rounded_value(v in -1.0e6f64..1.0e6) {
        let mut out = Vec::new();
        push_tenths(&mut out, v);
        let parsed: f64 = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let tenths = (v * 10.0).round();
        prop_assert_eq!(parsed, tenths / 10.0, "{} written as {}", v, String::from_utf8_lossy(&out));
    }

    #[test]
    fn integers_parse_back(v in any::<i64>()) {
        let mut out = Vec::new();
        push_i64(&mut out, v);
        prop_assert_eq!(serde_json::from_slice::<i64>(&out).ok(), Some(v));
    }
}
