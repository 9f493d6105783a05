//! The routes under the policy, those outside it, and how to read the cities an answer
//! shows.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::setup::{CITIES, Shows};

/// The routes under the policy: (OpenAPI path, what it shows, per city or across them).
pub(crate) const ROUTES: [(&str, Shows, bool); 21] = [
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
    (
        "/v1/regions/{region}/datex2/parking-table",
        Shows::Parking,
        false,
    ),
    (
        "/v1/regions/{region}/datex2/parking-status",
        Shows::Parking,
        false,
    ),
];

/// Documented routes outside this matrix, and why.
pub(crate) const OUTSIDE_THE_POLICY: [(&str, &str); 13] = [
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
        "a stream that never ends: its own rows through the real server in \
         access_matrix/stream.rs (every caller, every kind and city)",
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

pub(crate) fn path_for(route: &str, city: &str) -> String {
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
pub(crate) fn cities_in(route: &str, city: &str, body: &Value) -> BTreeSet<String> {
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
        // A region's documents: record ids `<city>/<city>-p-1`; any record of a city
        // shows it, whatever the form of its id.
        "/v1/regions/{region}/datex2/parking-table"
        | "/v1/regions/{region}/datex2/parking-status" => {
            let text = body.as_str().unwrap_or_default();
            return CITIES
                .iter()
                .filter(|c| text.contains(&format!("{c}-p-1")))
                .map(|c| (*c).to_owned())
                .collect();
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
