//! What `[[api_keys]]` and `[[push_keys]]` check alike: a non-empty principal named once,
//! and the key's SHA-256 as 64 hex digits, configured once.

use std::collections::HashSet;

use super::Ctx;

/// The principals and key hashes seen so far in one list of keys.
#[derive(Default)]
pub(super) struct KeyIds {
    principals: HashSet<String>,
    hashes: HashSet<String>,
}

impl KeyIds {
    /// Checks entry `base` (e.g. `api_keys[2]`); returns its trimmed principal and its
    /// lower-case hash when both are valid and new, reporting every problem to `ctx`.
    pub(super) fn check(
        &mut self,
        ctx: &mut Ctx<'_>,
        base: &str,
        principal: &str,
        key_sha256: &str,
    ) -> Option<(String, String)> {
        let mut ok = true;
        let principal = principal.trim().to_owned();
        if principal.is_empty() {
            ctx.error(&format!("{base}.principal"), "must not be empty");
            ok = false;
        } else if !self.principals.insert(principal.clone()) {
            ctx.error(
                &format!("{base}.principal"),
                format!("duplicate principal `{principal}`"),
            );
            ok = false;
        }
        let hash = key_sha256.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            ctx.error(
                &format!("{base}.key_sha256"),
                "expected the SHA-256 of the key as 64 hex digits (`stadtpuls key hash` prints it)",
            );
            ok = false;
        } else if !self.hashes.insert(hash.clone()) {
            ctx.error(
                &format!("{base}.key_sha256"),
                "the same key is configured twice",
            );
            ok = false;
        }
        ok.then_some((principal, hash))
    }
}
