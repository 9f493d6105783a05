//! Facilities a partner feed names but no registry lists, admitted at run time where the
//! city allows it (`admit_unmapped_facilities`): the id they are known by, derived from
//! the feed's id alone so that every instance and every restart derives the same one.

/// The longest admitted id: the registry's limit.
const MAX_ID_LEN: usize = 128;

/// The facility id of an admitted feed id: the feed id itself when it already is a plain
/// id (lower-case letters, digits, `-`, at most 128 bytes), else its slug (lower-case
/// ASCII letters and digits, other runs as one `-`) with the CRC-32 of the whole feed id
/// appended, so that ids differing only in what the slug drops (`P 1` and `p-1`) stay
/// apart. The feed id stays the facility's `external_id`.
///
/// ```text
/// parkhaus-mitte                          → parkhaus-mitte
/// urn:ngsi-ld:OffStreetParking:porto-23   → urn-ngsi-ld-offstreetparking-porto-23-b1342f6e
/// ```
pub(crate) fn admitted_id(external_id: &str) -> String {
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if !external_id.is_empty() && external_id.len() <= MAX_ID_LEN && external_id.chars().all(plain)
    {
        return external_id.to_owned();
    }
    let mut slug = String::new();
    for c in external_id.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    // Room for `-` and 8 hex digits; the slug is ASCII, so any byte is a char boundary.
    slug.truncate(MAX_ID_LEN - 9);
    let slug = slug.trim_end_matches('-');
    let hash = crc32fast::hash(external_id.as_bytes());
    if slug.is_empty() {
        format!("facility-{hash:08x}")
    } else {
        format!("{slug}-{hash:08x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_stay_and_others_become_slugs_with_their_hash() {
        assert_eq!(admitted_id("parkhaus-mitte"), "parkhaus-mitte");
        let urn = admitted_id("urn:ngsi-ld:OffStreetParking:porto-23");
        assert!(
            urn.starts_with("urn-ngsi-ld-offstreetparking-porto-23-"),
            "{urn}"
        );
        assert_eq!(
            urn, "urn-ngsi-ld-offstreetparking-porto-23-b1342f6e",
            "as documented"
        );
        assert_ne!(
            admitted_id("P 1"),
            admitted_id("P-1"),
            "the hash keeps them apart"
        );
        assert_eq!(admitted_id("P 1"), admitted_id("P 1"), "stable");
        assert!(admitted_id("ÄÖÜ").starts_with("facility-"));
        let long = admitted_id(&"X".repeat(300));
        assert!(long.len() <= MAX_ID_LEN, "{}", long.len());
    }
}
