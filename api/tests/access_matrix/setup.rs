//! The matrix's world: five cities shared differently, the callers and what each sees
//! (written out by hand), the config, the real server, raw HTTP requests.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stadtpuls_api::access::Policy;
use stadtpuls_api::edge::{ConnectionLimit, Edge};
use stadtpuls_api::stream::{Hub, HubLimits, StreamDoor};
use stadtpuls_api::{AppState, SqlEngine, router};
use stadtpuls_config::Config;
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::FacilityLive;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) const NOW: i64 = 1_795_478_400_000;
pub(crate) use crate::access_world::CITIES;
use crate::access_world::world_toml;

/// Callers: (name, `Authorization` header, anonymous denied on the server).
pub(crate) const CALLERS: [(&str, Option<&str>, bool); 7] = [
    ("open-data anonymous", None, false),
    ("no key, anonymous denied", None, true),
    ("unknown key", Some("Bearer not-a-key"), false),
    ("ulm centre", Some("Bearer key-ulm"), false),
    ("karlsruhe centre", Some("Bearer key-karlsruhe"), false),
    ("region ulm+karlsruhe", Some("Bearer key-region"), false),
    ("everything", Some("Bearer key-all"), false),
];

/// Which cities' (traffic, parking) each caller that gets in sees.
pub(crate) const VISIBLE: [(&str, &[&str], &[&str]); 5] = [
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
pub(crate) enum Shows {
    Traffic,
    Parking,
    /// Either kind (the city list, zones).
    Any,
}

/// The `[[regions]]` of the matrix config: every city (its corridor sensors
/// `<city>-t-1`), and the two private cities alone.
const REGIONS: &str = "\n[[regions]]\nid = \"all\"\nname = \"All five\"\n\
    cities = [\"ettlingen\", \"karlsruhe\", \"neu-ulm\", \"pforzheim\", \"ulm\"]\n\
    corridors = [\"ettlingen/ettlingen-t-1\", \"karlsruhe/karlsruhe-t-1\", \"neu-ulm/neu-ulm-t-1\", \
    \"pforzheim/pforzheim-t-1\", \"ulm/ulm-t-1\"]\n\n\
    [[regions]]\nid = \"private-pair\"\nname = \"Ulm and Karlsruhe\"\ncities = [\"ulm\", \"karlsruhe\"]\n";

pub(crate) fn visible(caller: &str, shows: Shows) -> Option<BTreeSet<&'static str>> {
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
    let mut toml = format!("[api]\nanonymous = \"{anonymous}\"\n\n");
    toml.push_str(&world_toml(dir));
    toml.push_str(REGIONS);
    let path = dir.join("stadtpuls.toml");
    Config::from_toml(&toml, &path, &Default::default()).expect("the matrix config loads")
}

/// A matrix server: its address, and the live view and hub `GET /v1/stream` reads.
pub(crate) struct Served {
    pub addr: SocketAddr,
    pub live: Arc<LiveState>,
    pub hub: Arc<Hub>,
}

/// Serves the config's API on a port of its own; every facility has 10 free of 100.
pub(crate) async fn serve(dir: &Path, anonymous: &str) -> SocketAddr {
    serve_with_stream(dir, anonymous).await.addr
}

/// [`serve`], with the live view publishing to the push stream's hub (as `stadtpuls run`
/// wires it), so a test can publish events through the pipeline's port.
pub(crate) async fn serve_with_stream(dir: &Path, anonymous: &str) -> Served {
    let config = config(dir, anonymous);
    let registries = config.load_registries().expect("registries");
    let hub = Arc::new(Hub::new(
        HubLimits {
            ring: 1024,
            client_queue: 1024,
        },
        1,
    ));
    let live = Arc::new(LiveState::new(3_600_000).with_events(hub.clone()));
    for city in CITIES {
        live.set_facility(
            city,
            &format!("{city}-p-1"),
            FacilityLive::new(10, Some(100), NOW - 60_000),
        );
    }
    let engine = SqlEngine::new(&config, &registries, Some(live.clone())).expect("sql");
    let mut state = AppState::new(
        live.clone(),
        &registries,
        vec![60],
        900_000,
        Arc::new(|| true),
    )
    .with_sql(engine)
    .with_policy(Policy::from_config(&config))
    .with_regions(&config.regions)
    .with_stream(StreamDoor::new(hub.clone(), Duration::from_secs(15)));
    state.now_ms = Arc::new(|| NOW);
    tokio::spawn(hub.clone().dispatch());
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
    Served { addr, live, hub }
}

/// One HTTP/1.1 request over a fresh connection: status and JSON body.
pub(crate) async fn request(
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
