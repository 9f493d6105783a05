//! The push gateway's refusals and its 202, in-process with a sink that records what it
//! was handed (through the binary and a real broker: `tests/e2e_gateway.rs`): 401 without
//! or with an unknown key, 403 for another city or format, 413 over `push.max_body_bytes`,
//! 415 for an unknown `Content-Type`, 429 with `Retry-After` over the rate, 400 and 503
//! (with `Retry-After`) from the sink, 204 from the NGSI-LD upsert with the city taken
//! from the key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use stadtpuls_api::push::PushFuture;
use stadtpuls_api::{AppState, PushAck, PushError, PushGateway, PushRequest, PushSink, router};
use stadtpuls_config::{Config, FeedFormat};
use stadtpuls_processing::live::LiveState;
use tower::ServiceExt;

const KEY: &str = "e2e-kafka-sql-key";
const KEY_SHA256: &str = "73da54e4238c18d75be8b13fab47cca10fc40e92880315116dec1796fd6f1f68";
const OTHER_KEY: &str = "other-key";

/// Records every push; answers `answer` when set.
#[derive(Default)]
struct Recorder {
    pushed: Mutex<Vec<PushRequest>>,
    answer: Mutex<Option<PushError>>,
}

impl PushSink for Recorder {
    fn push(&self, request: PushRequest) -> PushFuture<'_> {
        Box::pin(async move {
            if let Some(error) = self.answer.lock().expect("lock").clone() {
                return Err(error);
            }
            let mut pushed = self.pushed.lock().expect("lock");
            pushed.push(request);
            Ok(PushAck {
                topic: "sensors.ulm.parking".into(),
                partition: 0,
                offset: pushed.len() as i64 - 1,
            })
        })
    }
}

fn hash(key: &str) -> String {
    stadtpuls_api::sql::access::hash_key(key)
}

fn config(burst: u32) -> Config {
    let text = stadtpuls_config::DEMO_TOML.to_owned()
        + &format!(
            "\n[push]\nmax_body_bytes = 100\nrate_per_s = 0.1\nburst = {burst}\n\
             [[push_keys]]\nprincipal = \"ulm-partner\"\nkey_sha256 = \"{KEY_SHA256}\"\ncity = \"ulm\"\nformats = [\"native\"]\n\
             [[push_keys]]\nprincipal = \"other\"\nkey_sha256 = \"{}\"\ncity = \"ulm\"\nformats = [\"native\"]\n",
            hash(OTHER_KEY)
        );
    Config::from_toml(
        &text,
        std::path::Path::new(stadtpuls_config::DEMO_ORIGIN),
        &HashMap::new(),
    )
    .unwrap_or_else(|e| panic!("config: {e}"))
}

fn state(burst: u32) -> (AppState, Arc<Recorder>) {
    let config = config(burst);
    let ulm = config.city("ulm").expect("ulm").clone();
    let csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
               ulm-p-01,parking_facility,Parkhaus,48.398,9.991,,100,,\n";
    let registries = [
        stadtpuls_config::parse_registry(&ulm, std::path::Path::new("ulm.csv"), csv)
            .expect("registry"),
    ];
    let recorder = Arc::new(Recorder::default());
    let state = AppState::new(
        Arc::new(LiveState::new(60_000)),
        &registries,
        vec![60],
        900_000,
        Arc::new(|| true),
    )
    .with_push(PushGateway::new(&config, recorder.clone()));
    (state, recorder)
}

async fn post(
    state: &AppState,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::post(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        retry_after,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const BEARER: (&str, &str) = ("authorization", "Bearer e2e-kafka-sql-key");
const JSON: (&str, &str) = ("content-type", "application/json");
const BODY: &str = r#"{"city":"ulm","kind":"facility","id":"ulm-p-01"}"#;

#[tokio::test]
async fn an_accepted_push_is_answered_202_with_where_it_went() {
    let (state, recorder) = state(10);
    let (status, _, body) = post(&state, "/v1/ingest/ulm", &[BEARER, JSON], BODY).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["accepted_bytes"], BODY.len());
    assert_eq!(body["format"], "native");
    assert_eq!(body["topic"], "sensors.ulm.parking");
    assert_eq!(body["offset"], 0);
    // X-Push-Key works as well as a bearer token
    let (status, _, _) = post(&state, "/v1/ingest/ulm", &[("x-push-key", KEY), JSON], BODY).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let pushed = recorder.pushed.lock().expect("lock");
    assert_eq!(pushed.len(), 2);
    assert_eq!(pushed[0].city, "ulm");
    assert_eq!(pushed[0].format, FeedFormat::Native);
    assert_eq!(pushed[0].principal, "ulm-partner");
    assert_eq!(pushed[0].content_type, "application/json");
    assert_eq!(&pushed[0].body[..], BODY.as_bytes());
}

#[tokio::test]
async fn refusals_have_their_status_and_reason() {
    let (state, recorder) = state(10);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String, StatusCode);
    let cases: [Case<'_>; 7] = [
        (
            "/v1/ingest/ulm",
            vec![JSON],
            BODY.into(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/v1/ingest/ulm",
            vec![("authorization", "Bearer nope"), JSON],
            BODY.into(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/v1/ingest/karlsruhe",
            vec![BEARER, JSON],
            BODY.into(),
            StatusCode::FORBIDDEN,
        ),
        (
            "/v1/ingest/ulm",
            vec![BEARER, ("content-type", "application/ld+json")],
            BODY.into(),
            StatusCode::FORBIDDEN,
        ),
        (
            "/v1/ingest/ulm",
            vec![BEARER, ("content-type", "text/csv")],
            BODY.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "/v1/ingest/ulm",
            vec![BEARER],
            BODY.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "/v1/ingest/ulm",
            vec![BEARER, JSON],
            "x".repeat(101),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (uri, headers, body, expected) in cases {
        let (status, _, answer) = post(&state, uri, &headers, &body).await;
        assert_eq!(status, expected, "{uri} {headers:?}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    assert!(
        recorder.pushed.lock().expect("lock").is_empty(),
        "nothing refused was pushed"
    );
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
    let (state, _) = state(2);
    for _ in 0..2 {
        let (status, _, _) = post(&state, "/v1/ingest/ulm", &[BEARER, JSON], BODY).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, retry_after, body) = post(&state, "/v1/ingest/ulm", &[BEARER, JSON], BODY).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // 0.1 tokens per second: the next one in 10 s
    assert_eq!(retry_after.as_deref(), Some("10"));
    let (status, _, _) = post(
        &state,
        "/v1/ingest/ulm",
        &[("x-push-key", OTHER_KEY), JSON],
        BODY,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "buckets are per key");
}

#[tokio::test]
async fn sink_refusals_become_400_and_503_with_retry_after() {
    let (state, recorder) = state(10);
    *recorder.answer.lock().expect("lock") = Some(PushError::Unparseable("not JSON".into()));
    let (status, _, _) = post(&state, "/v1/ingest/ulm", &[BEARER, JSON], "{").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    *recorder.answer.lock().expect("lock") = Some(PushError::Unavailable("down".into()));
    let (status, retry_after, body) = post(&state, "/v1/ingest/ulm", &[BEARER, JSON], BODY).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(retry_after.as_deref(), Some("5"));
}

#[tokio::test]
async fn the_ngsi_ld_upsert_takes_the_city_from_the_key() {
    let (state, recorder) = state(10);
    let uri = "/ngsi-ld/v1/entityOperations/upsert";
    // this key may push native only
    let (status, _, _) = post(
        &state,
        uri,
        &[BEARER, ("content-type", "application/ld+json")],
        "[]",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(
        &state,
        uri,
        &[BEARER, ("content-type", "application/xml")],
        "[]",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(recorder.pushed.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn without_a_gateway_the_routes_answer_404() {
    let (mut state, _) = state(10);
    state.push = None;
    let (status, _, _) = post(&state, "/v1/ingest/ulm", &[BEARER, JSON], BODY).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_format_path_takes_any_content_type_but_another_formats() {
    let (state, recorder) = state(10);
    // A webhook that posts generic JSON, or nothing at all: the path names the format,
    // and the record says so, so the Kafka side decodes it as that format on any topic.
    for content_type in [Some("application/json"), None] {
        let headers: Vec<(&str, &str)> = std::iter::once(BEARER)
            .chain(content_type.map(|c| ("content-type", c)))
            .collect();
        let (status, _, body) = post(&state, "/v1/ingest/ulm/native", &headers, BODY).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{content_type:?}: {body}");
        assert_eq!(body["format"], "native");
    }
    {
        let pushed = recorder.pushed.lock().expect("lock");
        assert_eq!(pushed.len(), 2);
        assert!(pushed.iter().all(|p| p.format == FeedFormat::Native));
        assert!(
            pushed
                .iter()
                .all(|p| p.content_type == "application/vnd.stadtpuls.native+json"),
            "{:?}",
            pushed.iter().map(|p| &p.content_type).collect::<Vec<_>>()
        );
    }
    // A Content-Type naming another format contradicts the path.
    let (status, _, body) = post(
        &state,
        "/v1/ingest/ulm/native",
        &[BEARER, ("content-type", "application/xml")],
        "<d/>",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    // The key's formats still bind: this key may push native only.
    let (status, _, body) = post(&state, "/v1/ingest/ulm/ttn", &[BEARER, JSON], "{}").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A path that names no format is no door.
    let (status, _, body) = post(&state, "/v1/ingest/ulm/csv", &[BEARER, JSON], BODY).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("ttn")),
        "{body}"
    );
    assert_eq!(recorder.pushed.lock().expect("lock").len(), 2);
}

#[test]
fn openapi_lists_every_push_door_and_every_format() {
    let spec: Value = serde_json::from_str(stadtpuls_api::OPENAPI).expect("openapi");
    for path in [
        "/v1/ingest/{city}",
        "/v1/ingest/{city}/{format}",
        "/ngsi-ld/v1/entityOperations/upsert",
    ] {
        assert!(spec["paths"][path]["post"].is_object(), "{path}");
    }
    let parameters = spec["paths"]["/v1/ingest/{city}/{format}"]["post"]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let listed = parameters
        .iter()
        .find(|p| p["name"] == "format")
        .map(|p| p["schema"]["enum"].clone());
    let formats: Vec<&str> = FeedFormat::ALL.iter().map(|f| f.as_str()).collect();
    assert_eq!(listed, Some(serde_json::json!(formats)));
    // Every specific media type of the Kafka side is listed for the city door.
    let content = &spec["paths"]["/v1/ingest/{city}"]["post"]["requestBody"]["content"];
    for format in FeedFormat::ALL {
        assert!(
            content[format.media_type()].is_object(),
            "{}",
            format.media_type()
        );
    }
}

#[test]
fn the_demo_push_key_is_in_the_built_in_demo_only() {
    assert_eq!(
        hash(stadtpuls_config::DEMO_PUSH_KEY),
        stadtpuls_config::DEMO_PUSH_KEY_SHA256
    );
    let demo = Config::demo(&HashMap::new()).expect("demo");
    let key = demo
        .push_keys
        .iter()
        .find(|k| k.key_sha256 == stadtpuls_config::DEMO_PUSH_KEY_SHA256)
        .expect("the demo push key");
    assert_eq!(
        (key.city.as_str(), key.formats.as_slice()),
        ("ulm", &[FeedFormat::Native][..])
    );
    // The file is also `stadtpuls run`'s example config: a published key must not write there.
    assert!(!stadtpuls_config::DEMO_TOML.contains(stadtpuls_config::DEMO_PUSH_KEY_SHA256));
}

#[tokio::test]
async fn a_body_refused_unread_or_read_to_the_limit_only_closes_the_connection() {
    let (state, _) = state(10);
    let answer = |request: Request<Body>| {
        let state = state.clone();
        async move {
            let response = router(state).oneshot(request).await.expect("response");
            let connection = response
                .headers()
                .get("connection")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (response.status(), connection)
        }
    };
    // No Content-Length (as chunked): read up to push.max_body_bytes (100), then refused.
    let over = Request::post("/v1/ingest/ulm")
        .header("authorization", BEARER.1)
        .header("content-type", JSON.1)
        .body(Body::from("x".repeat(500)))
        .expect("request");
    assert_eq!(
        answer(over).await,
        (StatusCode::PAYLOAD_TOO_LARGE, Some("close".to_owned()))
    );
    // Refused before reading a declared body.
    let unknown = Request::post("/v1/ingest/ulm")
        .header("authorization", "Bearer nope")
        .header("content-length", BODY.len())
        .body(Body::from(BODY))
        .expect("request");
    assert_eq!(
        answer(unknown).await,
        (StatusCode::UNAUTHORIZED, Some("close".to_owned()))
    );
    // Read and answered: the connection stays.
    let fine = Request::post("/v1/ingest/ulm")
        .header("authorization", BEARER.1)
        .header("content-type", JSON.1)
        .header("content-length", BODY.len())
        .body(Body::from(BODY))
        .expect("request");
    assert_eq!(answer(fine).await, (StatusCode::ACCEPTED, None));
}
