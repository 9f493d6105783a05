//! The policy's decisions, city by city and kind by kind.

use stadtpuls_config::{
    Anonymous, ApiKeyConfig, CityConfig, CityScope, Config, DataKind, Share, SharePolicy,
};

use super::*;

/// A demo city renamed and shared as given (only `id` and `share` matter here).
fn city(id: &str, share: SharePolicy) -> CityConfig {
    let demo = Config::demo(&Default::default()).expect("demo config");
    let mut city = demo.cities[0].clone();
    city.id = id.into();
    city.share = share;
    city
}

fn key(principal: &str, secret: &str, cities: &[&str]) -> ApiKeyConfig {
    ApiKeyConfig {
        principal: principal.into(),
        key_sha256: hash_key(secret),
        cities: if cities == ["*"] {
            CityScope::All
        } else {
            CityScope::Only(cities.iter().map(|c| (*c).to_owned()).collect())
        },
    }
}

/// ulm private; neu-ulm shares traffic with ulm's partners, parking open; ettlingen open.
fn policy(anonymous: Anonymous) -> Policy {
    let cities = [
        city("ulm", SharePolicy::default()),
        city(
            "neu-ulm",
            SharePolicy {
                traffic: Share::Partners,
                parking: Share::Open,
                partners: vec!["ulm".into()],
            },
        ),
        city("ettlingen", SharePolicy::uniform(Share::Open)),
        city("karlsruhe", SharePolicy::default()),
    ];
    let keys = [
        key("ulm-centre", "k-ulm", &["ulm"]),
        key("region", "k-region", &["ulm", "karlsruhe"]),
        key("karlsruhe-centre", "k-ka", &["karlsruhe"]),
        key("admin", "k-admin", &["*"]),
    ];
    Policy::new(&keys, &cities, anonymous)
}

fn sees(policy: &Policy, auth: Option<&str>, city: &str, kind: DataKind) -> bool {
    policy
        .principal(auth)
        .map(|p| p.sees(city, kind))
        .unwrap_or(false)
}

#[test]
fn own_partner_open_and_foreign_cities_per_kind() {
    use DataKind::{Parking, Traffic};
    let p = policy(Anonymous::Open);
    let ulm = Some("Bearer k-ulm");
    let ka = Some("Bearer k-ka");
    // own city, both kinds
    assert!(sees(&p, ulm, "ulm", Traffic) && sees(&p, ulm, "ulm", Parking));
    // partner: neu-ulm's traffic is shared with ulm, its parking is open
    assert!(sees(&p, ulm, "neu-ulm", Traffic) && sees(&p, ulm, "neu-ulm", Parking));
    // foreign: karlsruhe's key is no partner of neu-ulm: open parking only
    assert!(!sees(&p, ka, "neu-ulm", Traffic) && sees(&p, ka, "neu-ulm", Parking));
    assert!(!sees(&p, ulm, "karlsruhe", Traffic) && !sees(&p, ulm, "karlsruhe", Parking));
    // region: both its cities, and what is shared with either
    let region = Some("Bearer k-region");
    for city in ["ulm", "karlsruhe", "neu-ulm", "ettlingen"] {
        assert!(sees(&p, region, city, Traffic), "{city}");
    }
    // anonymous: open data only
    assert!(sees(&p, None, "ettlingen", Traffic) && sees(&p, None, "neu-ulm", Parking));
    assert!(!sees(&p, None, "neu-ulm", Traffic) && !sees(&p, None, "ulm", Parking));
    // `*`
    assert!(sees(&p, Some("Bearer k-admin"), "karlsruhe", Traffic));
}

#[test]
fn a_city_is_known_when_any_kind_is_visible_and_mixed_rows_need_every_kind() {
    let p = policy(Anonymous::Open);
    let anonymous = p.principal(None).expect("anonymous is open");
    assert!(anonymous.sees_city("neu-ulm") && !anonymous.sees_city("ulm"));
    assert!(!anonymous.access(Scope::EveryKind).allows("neu-ulm"));
    assert!(anonymous.access(Scope::EveryKind).allows("ettlingen"));
    let cities: Vec<String> = ["ulm", "neu-ulm", "ettlingen"].map(String::from).to_vec();
    assert_eq!(
        anonymous.visible_cities(&cities, DataKind::Parking),
        ["neu-ulm", "ettlingen"]
    );
}

#[test]
fn unknown_keys_and_denied_anonymous_requests_get_no_principal() {
    let open = policy(Anonymous::Open);
    assert_eq!(
        open.principal(Some("Bearer nope")).err(),
        Some(Denied::UnknownKey)
    );
    assert_eq!(
        open.principal(Some("Token k-ulm")).err(),
        Some(Denied::UnknownKey)
    );
    let deny = policy(Anonymous::Deny);
    assert_eq!(deny.principal(None).err(), Some(Denied::KeyRequired));
    assert_eq!(
        deny.principal(Some("Bearer k-ulm")).map(|p| p.name.clone()),
        Ok("ulm-centre".to_owned())
    );
}

#[test]
fn keys_come_as_bearer_tokens_or_basic_passwords() {
    assert_eq!(key_from_authorization("Bearer abc").as_deref(), Some("abc"));
    assert_eq!(
        key_from_authorization("bearer  abc ").as_deref(),
        Some("abc")
    );
    // "analyst:s3cret"
    assert_eq!(
        key_from_authorization("Basic YW5hbHlzdDpzM2NyZXQ=").as_deref(),
        Some("s3cret")
    );
    assert_eq!(key_from_authorization("Basic !!!"), None);
    assert_eq!(key_from_authorization("Bearer"), None);
    assert_eq!(key_from_authorization("Token abc"), None);
}

#[test]
fn keys_are_looked_up_by_their_sha256() {
    assert_eq!(
        hash_key("test"),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
}
