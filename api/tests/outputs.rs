//! The standard outputs through the router, in process: paths, media types, conditional
//! GET (`ETag` / `If-None-Match`, `Last-Modified` / `If-Modified-Since` → 304), unknown
//! cities. The documents' content is tested where they are rendered
//! (`processing/src/publish/`), their validity and read-back in `ingest/tests/` and
//! through the real server in `tests/e2e_outputs.rs`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use stadtpuls_api::{AppState, router};
use stadtpuls_config::{CityRegistry, Config, parse_registry};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::FacilityLive;
use tower::ServiceExt;

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;

fn registry() -> CityRegistry {
    let config = Config::demo(&Default::default()).expect("demo config");
    let city = config.city("ulm").expect("ulm").clone();
    let csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
               ulm-p-1,parking_facility,Parkhaus Deutschhaus,48.398,9.991,,100,,\n\
               ulm-p-2,parking_facility,P+R Donautal,48.39,9.98,,50,,\n\
               ulm-p-3,parking_facility,Friedrichsau,48.41,10.01,,300,,\n";
    parse_registry(&city, std::path::Path::new("ulm.csv"), csv).expect("registry")
}

/// ulm-p-1 fresh (25 of 100, a minute old), ulm-p-2 stale (an hour old), ulm-p-3 silent.
fn state(live: Arc<LiveState>) -> AppState {
    live.set_facility(
        "ulm",
        "ulm-p-1",
        FacilityLive::new(25, Some(100), NOW - 60_000),
    );
    live.set_facility(
        "ulm",
        "ulm-p-2",
        FacilityLive::new(5, Some(50), NOW - 3_600_000),
    );
    let mut state = AppState::new(
        live,
        &[registry()],
        vec![60, 900],
        900_000,
        Arc::new(|| true),
    );
    state.now_ms = Arc::new(|| NOW);
    state.static_since_ms = NOW - 86_400_000;
    state
}

async fn get(
    state: AppState,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router(state)
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn datex2_status_is_xml_with_validators() {
    let state = state(Arc::new(LiveState::new(3_600_000)));
    let uri = "/v1/cities/ulm/datex2/parking-status";
    let (status, headers, body) = get(state.clone(), uri, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        header_text(&headers, header::CONTENT_TYPE),
        "application/xml; charset=utf-8"
    );
    assert!(
        body.contains("<genericPublicationName>ParkingStatusPublication</genericPublicationName>")
    );
    assert_eq!(body.matches("<parkingRecordStatus ").count(), 2, "{body}");
    assert!(body.contains("<parkingFault>communicationsFailure</parkingFault>"));
    let etag = header_text(&headers, header::ETAG).to_owned();
    assert!(etag.starts_with("\"datex2-status-"), "{etag}");
    // The newest change: ulm-p-1's reading at 00:59:00 (ulm-p-2 went stale at 00:15).
    assert_eq!(
        header_text(&headers, header::LAST_MODIFIED),
        "Tue, 24 Nov 2026 00:59:00 GMT"
    );

    // The client's copy is current: 304 without a body, with the validators.
    for validators in [
        vec![("if-none-match", etag.as_str())],
        vec![("if-none-match", &*format!("\"other\", W/{etag}"))],
        vec![("if-modified-since", "Tue, 24 Nov 2026 00:59:00 GMT")],
        vec![("if-modified-since", "Tue, 24 Nov 2026 00:59:30 GMT")],
    ] {
        let (status, headers, body) = get(state.clone(), uri, &validators).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{validators:?}");
        assert!(body.is_empty());
        assert_eq!(header_text(&headers, header::ETAG), etag);
    }
    // Older copies, or another tag (which decides over the date): the document.
    for validators in [
        vec![("if-modified-since", "Tue, 24 Nov 2026 00:58:59 GMT")],
        vec![
            ("if-none-match", "\"datex2-status-0000000000000000\""),
            ("if-modified-since", "Tue, 24 Nov 2026 00:59:00 GMT"),
        ],
    ] {
        let (status, _, _) = get(state.clone(), uri, &validators).await;
        assert_eq!(status, StatusCode::OK, "{validators:?}");
    }
}

#[tokio::test]
async fn datex2_status_etag_changes_with_a_new_reading() {
    let live = Arc::new(LiveState::new(3_600_000));
    let state = state(live.clone());
    let uri = "/v1/cities/ulm/datex2/parking-status";
    let (_, before, _) = get(state.clone(), uri, &[]).await;
    let etag = header_text(&before, header::ETAG).to_owned();
    live.set_facility(
        "ulm",
        "ulm-p-1",
        FacilityLive::new(24, Some(100), NOW - 30_000),
    );
    let (status, after, body) = get(state, uri, &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(header_text(&after, header::ETAG), etag);
    assert!(body.contains("<parkingNumberOfVacantSpaces>24</parkingNumberOfVacantSpaces>"));
}

#[tokio::test]
async fn datex2_table_lists_every_registered_facility() {
    let state = state(Arc::new(LiveState::new(3_600_000)));
    let uri = "/v1/cities/ulm/datex2/parking-table";
    let (status, headers, body) = get(state.clone(), uri, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.matches("<parkingRecord ").count(), 3, "{body}");
    assert!(body.contains("<parkingNumberOfSpaces>300</parkingNumberOfSpaces>"));
    assert_eq!(
        header_text(&headers, header::LAST_MODIFIED),
        "Mon, 23 Nov 2026 01:00:00 GMT"
    );
    let etag = header_text(&headers, header::ETAG).to_owned();
    assert!(etag.starts_with("\"datex2-table-"));
    let (status, _, _) = get(state, uri, &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn unknown_city_is_404() {
    let state = state(Arc::new(LiveState::new(3_600_000)));
    for uri in [
        "/v1/cities/atlantis/datex2/parking-status",
        "/v1/cities/atlantis/datex2/parking-table",
    ] {
        let (status, _, body) = get(state.clone(), uri, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        // The message of every data route (`Viewer::city`): a city the key may not see
        // reads the same, so it does not tell which cities exist.
        assert!(
            body.contains("no parking of a city `atlantis` is visible to this key"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn parkapi_list_and_item() {
    let state = state(Arc::new(LiveState::new(3_600_000)));
    let (status, headers, body) =
        get(state.clone(), "/v1/cities/ulm/parkapi/parking-sites", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        header_text(&headers, header::CONTENT_TYPE),
        "application/json"
    );
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["uid"], "ulm-p-1");
    assert_eq!(items[0]["realtime_free_capacity"], 25);
    assert_eq!(items[1]["realtime_opening_status"], "UNKNOWN");
    assert_eq!(items[2]["has_realtime_data"], false);
    let etag = header_text(&headers, header::ETAG).to_owned();
    let (status, _, _) = get(
        state.clone(),
        "/v1/cities/ulm/parkapi/parking-sites",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    let (status, _, body) = get(
        state.clone(),
        "/v1/cities/ulm/parkapi/parking-sites/ulm-p-1",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let item: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(item, items[0]);
    let (status, _, body) = get(state, "/v1/cities/ulm/parkapi/parking-sites/ulm-p-9", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("`ulm-p-9` is not a parking site of `ulm`"),
        "{body}"
    );
}

#[tokio::test]
async fn ngsi_ld_entities_by_type_and_id() {
    let live = Arc::new(LiveState::new(3_600_000));
    let state = state(live);
    let (status, headers, body) = get(
        state.clone(),
        "/ngsi-ld/v1/entities?type=OffStreetParking",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        header_text(&headers, header::CONTENT_TYPE),
        "application/ld+json"
    );
    let entities: serde_json::Value = serde_json::from_str(&body).expect("json");
    let entities = entities.as_array().expect("array");
    assert_eq!(entities.len(), 3);
    assert_eq!(
        entities[0]["id"],
        "urn:ngsi-ld:OffStreetParking:ulm:ulm-p-1"
    );
    assert_eq!(entities[0]["availableSpotNumber"]["type"], "Property");
    assert_eq!(entities[0]["availableSpotNumber"]["value"], 25);

    let (_, _, body) = get(
        state.clone(),
        "/ngsi-ld/v1/entities?type=OffStreetParking&options=keyValues",
        &[],
    )
    .await;
    let key_values: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(key_values[0]["availableSpotNumber"], 25);

    let (status, _, body) = get(
        state.clone(),
        "/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:ulm:ulm-p-2?options=keyValues",
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let one: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(one["availableSpotNumber"], 5);

    // No traffic window closed yet: no TrafficFlowObserved entity; unknown ids and cities 404.
    let (status, _, body) = get(
        state.clone(),
        "/ngsi-ld/v1/entities?type=TrafficFlowObserved",
        &[],
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "[]"));
    for uri in [
        "/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:ulm:nope",
        "/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:atlantis:ulm-p-1",
        "/ngsi-ld/v1/entities/ulm-p-1",
    ] {
        let (status, _, _) = get(state.clone(), uri, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
    let (status, _, body) = get(state, "/ngsi-ld/v1/entities", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("`type` is required"), "{body}");
}
