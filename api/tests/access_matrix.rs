//! The access matrix: every route of `docs/openapi.json` × every kind of caller, through
//! the real HTTP server, with the status and the cities each answer shows.
//!
//! Five cities, each shared differently (`ulm` private, `neu-ulm` with its partner
//! `ulm`, `pforzheim` parking open and traffic private, `ettlingen` open, `karlsruhe`
//! private), one facility and one traffic sensor each; callers: no key (open data), no
//! key on a server with `api.anonymous = "deny"`, an unknown key, ulm's control centre
//! (own city, partner of neu-ulm, foreign to karlsruhe), karlsruhe's, a regional operator
//! of ulm and karlsruhe, and an `*` key. What each caller sees is written out by hand
//! below ([`VISIBLE`]), not derived from the policy under test. A route of the OpenAPI
//! description that is in neither [`ROUTES`] nor [`OUTSIDE_THE_POLICY`] fails the test.
//! The push stream, which never ends, has its own rows (`access_matrix/stream.rs`).
//!
//! Modules: `setup.rs` (cities, callers, what each sees, config, server, requests),
//! `routes.rs` (the routes and how to read the cities of an answer), `stream.rs`.
#[path = "support/access_world.rs"]
mod access_world;
#[path = "access_matrix/routes.rs"]
mod routes;
#[path = "access_matrix/setup.rs"]
mod setup;
#[path = "access_matrix/stream.rs"]
mod stream;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use routes::{OUTSIDE_THE_POLICY, ROUTES, cities_in, path_for};
use setup::{CALLERS, CITIES, Shows, request, serve, visible};

#[test]
fn every_documented_route_is_in_the_matrix_or_named_outside_it() {
    let openapi: Value = serde_json::from_str(stadtpuls_api::OPENAPI).expect("openapi.json");
    let documented: BTreeSet<&str> = openapi["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    let covered: BTreeSet<&str> = ROUTES
        .iter()
        .map(|(path, ..)| *path)
        .chain(OUTSIDE_THE_POLICY.iter().map(|(path, _)| *path))
        .collect();
    let missing: Vec<&&str> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the access matrix: {missing:?}"
    );
}

#[tokio::test]
async fn every_route_for_every_caller_shows_only_what_the_policy_shares() {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = serve(dir.path(), "open").await;
    let denying_dir = tempfile::tempdir().expect("temp dir");
    let denying = serve(denying_dir.path(), "deny").await;
    let mut failures = Vec::new();
    for (route, shows, per_city) in ROUTES {
        for (caller, auth, denied) in CALLERS {
            let addr = if denied { denying } else { open };
            let expected = visible(caller, shows);
            let targets: Vec<&str> = if per_city { CITIES.to_vec() } else { vec![""] };
            for city in targets {
                let path = path_for(route, city);
                let (status, body) = request(addr, "GET", &path, auth, "").await;
                let (want_status, want_cities): (u16, BTreeSet<String>) = match &expected {
                    None => (401, BTreeSet::new()),
                    Some(cities) if per_city => {
                        if cities.contains(city) {
                            (200, [city.to_owned()].into())
                        } else {
                            (404, BTreeSet::new())
                        }
                    }
                    Some(cities) => (200, cities.iter().map(|c| (*c).to_owned()).collect()),
                };
                let seen = cities_in(route, city, &body);
                if status != want_status || (status == 200 && seen != want_cities) {
                    failures.push(format!(
                        "{path} as {caller}: {status} {seen:?}, expected {want_status} {want_cities:?}"
                    ));
                }
                // A refusal names no other city (nor this one's data).
                if status != 200 {
                    let text = body.to_string();
                    for other in CITIES.iter().filter(|c| **c != city) {
                        let quoted = [format!("`{other}`"), format!("\\\"{other}")];
                        if quoted.iter().any(|q| text.contains(q.as_str())) {
                            failures.push(format!("{path} as {caller}: error names {other}"));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn counts_only_cover_the_kinds_a_caller_sees() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = serve(dir.path(), "open").await;
    // Anonymous: pforzheim's parking is open, its traffic is not.
    let (status, body) = request(addr, "GET", "/v1/cities", None, "").await;
    assert_eq!(status, 200);
    let by_id: BTreeMap<&str, &Value> = body["cities"]
        .as_array()
        .expect("cities")
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?, c)))
        .collect();
    assert_eq!(by_id["pforzheim"]["traffic_sensors"], 0);
    assert_eq!(by_id["pforzheim"]["parking_facilities"], 1);
    assert_eq!(by_id["ettlingen"]["traffic_sensors"], 1);
    // Zones of a city whose traffic is hidden: the traffic side is empty.
    let (status, body) = request(addr, "GET", "/v1/cities/pforzheim/zones", None, "").await;
    assert_eq!(status, 200, "{body}");
    // Nearby across all cities: free spaces only of the visible facilities.
    let (_, body) = request(
        addr,
        "GET",
        "/v1/parking/nearby?lat=48.40&lon=9.99&radius_m=5000&min_free=0",
        None,
        "",
    )
    .await;
    let free: u64 = body["facilities"]
        .as_array()
        .expect("facilities")
        .iter()
        .filter_map(|f| f["free"].as_u64())
        .sum();
    assert_eq!(free, 20, "ettlingen's and pforzheim's 10 each: {body}");
}

#[tokio::test]
async fn sql_over_http_sees_the_same_cities_per_kind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = serve(dir.path(), "open").await;
    let query =
        |table: &str| format!("{{\"sql\": \"SELECT DISTINCT city FROM {table} ORDER BY city\"}}");
    for (caller, auth, _) in CALLERS {
        for (table, shows) in [
            ("live_parking", Shows::Parking),
            ("facilities", Shows::Parking),
            ("cities", Shows::Any),
            // The region `all` has every city: its rows are the cities the key knows.
            ("regions", Shows::Any),
        ] {
            let (status, body) = request(addr, "POST", "/v1/sql", auth, &query(table)).await;
            let Some(expected) = visible(caller, shows).filter(|_| auth.is_some()) else {
                assert_eq!(status, 401, "{table} as {caller}: {body}");
                continue;
            };
            assert_eq!(status, 200, "{table} as {caller}: {body}");
            let seen: BTreeSet<&str> = body["rows"]
                .as_array()
                .or(body.as_array())
                .expect("rows")
                .iter()
                .filter_map(|row| row["city"].as_str())
                .collect();
            assert_eq!(seen, expected, "{table} as {caller}");
        }
    }
}

#[tokio::test]
async fn a_region_sums_only_the_cities_its_caller_sees() {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = serve(dir.path(), "open").await;
    // Every facility has 10 free of 100: the totals count exactly the cities named.
    for (caller, auth, _) in CALLERS.into_iter().filter(|(_, _, denied)| !denied) {
        let (status, body) = request(addr, "GET", "/v1/regions/all/parking", auth, "").await;
        let Some(expected) = visible(caller, Shows::Parking) else {
            assert_eq!(status, 401, "{caller}: {body}");
            continue;
        };
        assert_eq!(status, 200, "{caller}: {body}");
        let n = expected.len() as u64;
        assert_eq!(body["totals"]["free"], 10 * n, "{caller}: {body}");
        assert_eq!(body["totals"]["total"], 100 * n, "{caller}: {body}");
        assert_eq!(body["by_kind"]["car_park"]["total"], 100 * n, "{caller}");
        assert_eq!(body["by_kind"]["park_and_ride"]["total"], 0, "{caller}");
        assert_eq!(
            body["by_city"].as_array().map(Vec::len),
            Some(expected.len())
        );
    }
    // A region of private cities: not there for an anonymous caller (the same 404 as
    // an unknown region, naming neither city), one city of it for ulm's centre.
    for path in [
        "/v1/regions/private-pair/parking",
        "/v1/regions/private-pair/traffic",
    ] {
        let (status, body) = request(addr, "GET", path, None, "").await;
        assert_eq!(status, 404, "{body}");
        let (unknown, unknown_body) = request(
            addr,
            "GET",
            &path.replace("private-pair", "nowhere"),
            None,
            "",
        )
        .await;
        assert_eq!(unknown, 404);
        assert_eq!(
            body["error"]
                .as_str()
                .map(|e| e.replace("private-pair", "X")),
            unknown_body["error"]
                .as_str()
                .map(|e| e.replace("nowhere", "X"))
        );
        let (status, body) = request(addr, "GET", path, Some("Bearer key-ulm"), "").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["cities"], serde_json::json!(["ulm"]), "{path}");
        assert!(!body.to_string().contains("karlsruhe"), "{path}: {body}");
    }
    // The region's DATEX II publications answer the same.
    for path in [
        "/v1/regions/private-pair/datex2/parking-table",
        "/v1/regions/private-pair/datex2/parking-status",
    ] {
        let (status, body) = request(addr, "GET", path, None, "").await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(
            body["error"], "no region `private-pair` is visible to this key",
            "{path}"
        );
        let (status, body) = request(addr, "GET", path, Some("Bearer key-ulm"), "").await;
        assert_eq!(status, 200, "{body}");
        let text = body.as_str().unwrap_or_default();
        assert!(text.contains("ulm/ulm-p-1"), "{path}: {text}");
        assert!(!text.contains("karlsruhe-p"), "{path}: {text}");
    }
    let (_, list) = request(addr, "GET", "/v1/regions", None, "").await;
    let ids: Vec<&str> = list["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["all"], "{list}");
}
