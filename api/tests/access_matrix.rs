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

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stadtpuls_api::access::Policy;
use stadtpuls_api::edge::{ConnectionLimit, Edge};
use stadtpuls_api::{AppState, SqlEngine, router};
use stadtpuls_config::Config;
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::FacilityLive;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NOW: i64 = 1_795_478_400_000;
const CITIES: [&str; 5] = ["ettlingen", "karlsruhe", "neu-ulm", "pforzheim", "ulm"];

/// Callers: (name, `Authorization` header, anonymous denied on the server).
const CALLERS: [(&str, Option<&str>, bool); 7] = [
    ("open-data anonymous", None, false),
    ("no key, anonymous denied", None, true),
    ("unknown key", Some("Bearer not-a-key"), false),
    ("ulm centre", Some("Bearer key-ulm"), false),
    ("karlsruhe centre", Some("Bearer key-karlsruhe"), false),
    ("region ulm+karlsruhe", Some("Bearer key-region"), false),
    ("everything", Some("Bearer key-all"), false),
];

/// Which cities' (traffic, parking) each caller that gets in sees.
const VISIBLE: [(&str, &[&str], &[&str]); 5] = [
    (
        "open-data anonymous",
        &["ettlingen"],
        &["ettlingen", "pforzheim"],
    ),
    (
        "ulm centre",
        &["ettlingen", "neu-ulm", "ulm"],
        &["ettlingen", "neu-ulm", "pforzheim", "ulm"],
    ),
    (
        "karlsruhe centre",
        &["ettlingen", "karlsruhe"],
        &["ettlingen", "karlsruhe", "pforzheim"],
    ),
    (
        "region ulm+karlsruhe",
        &["ettlingen", "karlsruhe", "neu-ulm", "ulm"],
        &["ettlingen", "karlsruhe", "neu-ulm", "pforzheim", "ulm"],
    ),
    ("everything", &CITIES, &CITIES),
];

/// What a route shows of a city.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shows {
    Traffic,
    Parking,
    /// Either kind (the city list, zones).
    Any,
}

/// The routes under the policy: (OpenAPI path, what it shows, per city or across them).
const ROUTES: [(&str, Shows, bool); 19] = [
    ("/v1/cities", Shows::Any, false),
    ("/v1/cities/{city}/traffic", Shows::Traffic, true),
    ("/v1/cities/{city}/traffic/{sensor}", Shows::Traffic, true),
    (
        "/v1/cities/{city}/traffic/{sensor}/lanes",
        Shows::Traffic,
        true,
    ),
    ("/v1/cities/{city}/parking", Shows::Parking, true),
    (
        "/v1/cities/{city}/traffic/{sensor}/history",
        Shows::Traffic,
        true,
    ),
    (
        "/v1/cities/{city}/parking/{facility}/history",
        Shows::Parking,
        true,
    ),
    ("/v1/cities/{city}/zones", Shows::Any, true),
    ("/v1/cities/{city}/geometry", Shows::Any, true),
    ("/v1/parking/nearby", Shows::Parking, false),
    (
        "/v1/cities/{city}/datex2/parking-table",
        Shows::Parking,
        true,
    ),
    (
        "/v1/cities/{city}/datex2/parking-status",
        Shows::Parking,
        true,
    ),
    (
        "/v1/cities/{city}/parkapi/parking-sites",
        Shows::Parking,
        true,
    ),
    (
        "/v1/cities/{city}/parkapi/parking-sites/{id}",
        Shows::Parking,
        true,
    ),
    ("/ngsi-ld/v1/entities", Shows::Parking, false),
    ("/ngsi-ld/v1/entities/{id}", Shows::Parking, true),
    // The region `all` of the five cities: what a region shows is what its caller sees
    // of each member city ([`REGIONS`]).
    ("/v1/regions", Shows::Any, false),
    ("/v1/regions/{region}/parking", Shows::Parking, false),
    ("/v1/regions/{region}/traffic", Shows::Traffic, false),
];

/// The `[[regions]]` of the matrix config: every city (its corridor sensors
/// `<city>-t-1`), and the two private cities alone.
const REGIONS: &str = "\n[[regions]]\nid = \"all\"\nname = \"All five\"\n\
    cities = [\"ettlingen\", \"karlsruhe\", \"neu-ulm\", \"pforzheim\", \"ulm\"]\n\
    corridors = [\"ettlingen/ettlingen-t-1\", \"karlsruhe/karlsruhe-t-1\", \"neu-ulm/neu-ulm-t-1\", \
    \"pforzheim/pforzheim-t-1\", \"ulm/ulm-t-1\"]\n\n\
    [[regions]]\nid = \"private-pair\"\nname = \"Ulm and Karlsruhe\"\ncities = [\"ulm\", \"karlsruhe\"]\n";

/// Documented routes outside this matrix, and why.
const OUTSIDE_THE_POLICY: [(&str, &str); 13] = [
    ("/healthz", "liveness, no data"),
    ("/readyz", "readiness, no data"),
    ("/openapi.json", "the API description"),
    ("/", "a redirect to the live map"),
    (
        "/map",
        "the live map's page, no data: it reads the data routes with the viewer's key",
    ),
    ("/map/assets/{file}", "the live map's scripts and styles"),
    ("/map/settings.json", "the live map's tile layer, no data"),
    (
        "/metrics",
        "operator endpoint, protected at the network level",
    ),
    ("/v1/sql", "SQL: keys only, checked in sql_matrix below"),
    (
        "/v1/stream",
        "a stream that never ends: its filter per city and kind is built from the same \
         principal (api/src/stream.rs visible_cities; api/src/stream/tests.rs)",
    ),
    ("/v1/ingest/{city}", "push keys (writes), api/tests/push.rs"),
    (
        "/v1/ingest/{city}/{format}",
        "push keys (writes), api/tests/push.rs",
    ),
    (
        "/ngsi-ld/v1/entityOperations/upsert",
        "push keys (writes), api/tests/push.rs",
    ),
];

fn visible(caller: &str, shows: Shows) -> Option<BTreeSet<&'static str>> {
    let (_, traffic, parking) = VISIBLE.iter().find(|(name, ..)| *name == caller)?;
    let cities: BTreeSet<&str> = match shows {
        Shows::Traffic => traffic.iter().copied().collect(),
        Shows::Parking => parking.iter().copied().collect(),
        Shows::Any => traffic.iter().chain(parking.iter()).copied().collect(),
    };
    Some(cities)
}

/// Writes the config and registries into `dir` and loads them.
fn config(dir: &Path, anonymous: &str) -> Config {
    let mut toml = format!(
        "[api]\nanonymous = \"{anonymous}\"\n\n\
         [[api_keys]]\nprincipal = \"ulm-centre\"\nkey_sha256 = \"{}\"\ncities = [\"ulm\"]\n\n\
         [[api_keys]]\nprincipal = \"karlsruhe-centre\"\nkey_sha256 = \"{}\"\ncities = [\"karlsruhe\"]\n\n\
         [[api_keys]]\nprincipal = \"region\"\nkey_sha256 = \"{}\"\ncities = [\"ulm\", \"karlsruhe\"]\n\n\
         [[api_keys]]\nprincipal = \"all\"\nkey_sha256 = \"{}\"\ncities = [\"*\"]\n",
        stadtpuls_api::sql::hash_key("key-ulm"),
        stadtpuls_api::sql::hash_key("key-karlsruhe"),
        stadtpuls_api::sql::hash_key("key-region"),
        stadtpuls_api::sql::hash_key("key-all"),
    );
    let shares = [
        ("ettlingen", "share = \"open\""),
        ("karlsruhe", ""),
        ("neu-ulm", "share = \"partners\"\npartners = [\"ulm\"]"),
        (
            "pforzheim",
            "[cities.share]\ntraffic = \"private\"\nparking = \"open\"",
        ),
        ("ulm", ""),
    ];
    for (i, (city, share)) in shares.iter().enumerate() {
        let lat = 48.40 + 0.001 * i as f64;
        let csv = format!(
            "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
             {city}-t-1,traffic,Ring,{lat},9.99,2,,50,\n\
             {city}-p-1,parking_facility,Parkhaus,{lat},9.991,,100,,\n"
        );
        std::fs::write(dir.join(format!("{city}.csv")), csv).expect("registry");
        toml.push_str(&format!(
            "\n[[cities]]\nid = \"{city}\"\nname = \"{city}\"\ntimezone = \"Europe/Berlin\"\n\
             lat = {lat}\nlon = 9.99\nregistry = \"{city}.csv\"\n{share}\n"
        ));
    }
    toml.push_str(REGIONS);
    let path = dir.join("stadtpuls.toml");
    Config::from_toml(&toml, &path, &Default::default()).expect("the matrix config loads")
}

/// Serves the config's API on a port of its own; every facility has 10 free of 100.
async fn serve(dir: &Path, anonymous: &str) -> SocketAddr {
    let config = config(dir, anonymous);
    let registries = config.load_registries().expect("registries");
    let live = Arc::new(LiveState::new(3_600_000));
    for city in CITIES {
        live.set_facility(
            city,
            &format!("{city}-p-1"),
            FacilityLive::new(10, Some(100), NOW - 60_000),
        );
    }
    let engine = SqlEngine::new(&config, &registries, Some(live.clone())).expect("sql");
    let mut state = AppState::new(live, &registries, vec![60], 900_000, Arc::new(|| true))
        .with_sql(engine)
        .with_policy(Policy::from_config(&config))
        .with_regions(&config.regions);
    state.now_ms = Arc::new(|| NOW);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let edge = Edge {
        header_read_timeout: Duration::from_secs(5),
        connections: ConnectionLimit::new(64),
        drain: Duration::from_secs(1),
    };
    tokio::spawn(stadtpuls_api::edge::http::serve(
        listener,
        router(state),
        edge,
        std::future::pending(),
    ));
    addr
}

/// One HTTP/1.1 request over a fresh connection: status and JSON body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("response within 5 s")
        .expect("read");
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn path_for(route: &str, city: &str) -> String {
    let path = route
        .replace("{city}", city)
        .replace("{sensor}", &format!("{city}-t-1"))
        .replace("{facility}", &format!("{city}-p-1"))
        .replace("{region}", "all");
    match route {
        // every facility lies within 1 km; min_free=0 lists them all
        "/v1/parking/nearby" => format!("{path}?lat=48.40&lon=9.99&radius_m=5000&min_free=0"),
        "/v1/cities/{city}/parkapi/parking-sites/{id}" => {
            path.replace("{id}", &format!("{city}-p-1"))
        }
        "/ngsi-ld/v1/entities" => format!("{path}?type=OffStreetParking,OnStreetParking"),
        "/ngsi-ld/v1/entities/{id}" => path.replace(
            "{id}",
            &format!("urn:ngsi-ld:OffStreetParking:{city}:{city}-p-1"),
        ),
        _ => path,
    }
}

/// The cities an answer shows.
fn cities_in(route: &str, city: &str, body: &Value) -> BTreeSet<String> {
    // The city of an NGSI-LD entity: `urn:ngsi-ld:<type>:<city>:<id>`.
    let ngsi_city = |entity: &Value| entity["id"].as_str()?.split(':').nth(3).map(str::to_owned);
    let list = match route {
        "/v1/cities" => &body["cities"],
        "/v1/parking/nearby" => &body["facilities"],
        "/ngsi-ld/v1/entities" => {
            return body
                .as_array()
                .map(|entities| entities.iter().filter_map(ngsi_city).collect())
                .unwrap_or_default();
        }
        "/ngsi-ld/v1/entities/{id}" => return ngsi_city(body).into_iter().collect(),
        "/v1/regions" => {
            return body["regions"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|region| strings(&region["cities"]))
                .collect();
        }
        // The cities a region view counts, and every city its parts name: a part of a
        // city not in `cities` would be a leak, so it shows up here and fails the test.
        "/v1/regions/{region}/parking" | "/v1/regions/{region}/traffic" => {
            let parts = body["by_city"]
                .as_array()
                .or(body["sensors"].as_array())
                .into_iter()
                .flatten()
                .filter_map(|part| part["city"].as_str().map(str::to_owned));
            return strings(&body["cities"]).into_iter().chain(parts).collect();
        }
        // The documents of one city: their facility ids are the city's (`<city>-p-1`).
        "/v1/cities/{city}/datex2/parking-table"
        | "/v1/cities/{city}/datex2/parking-status"
        | "/v1/cities/{city}/parkapi/parking-sites"
        | "/v1/cities/{city}/parkapi/parking-sites/{id}" => {
            let text = body
                .as_str()
                .map_or_else(|| body.to_string(), str::to_owned);
            return CITIES
                .iter()
                .filter(|c| {
                    text.contains(&format!("\"{c}-p-1\"")) || text.contains(&format!(">{c}-p-1<"))
                })
                .map(|c| (*c).to_owned())
                .chain(
                    std::iter::once(city.to_owned())
                        .filter(|_| text.contains(&format!("{city}-p-1"))),
                )
                .collect();
        }
        _ => {
            return body["city"]
                .as_str()
                .map(str::to_owned)
                .into_iter()
                .collect();
        }
    };
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["city"].as_str().or(item["id"].as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect()
}

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
    let (_, list) = request(addr, "GET", "/v1/regions", None, "").await;
    let ids: Vec<&str> = list["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["all"], "{list}");
}
