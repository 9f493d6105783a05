//! `stadtpuls demo` as the browser, stream and region tests start it: 10 s and 1-minute
//! windows with 1 s out-of-orderness, so a window closes every ten seconds and a test sees
//! live updates within its timeouts.

use std::path::Path;

use super::{Stadtpuls, free_port, ready};

/// Starts `stadtpuls demo --backfill <backfill> --bad-ratio 0` with its history under
/// `dir/h` and its log in `dir/log`, plus `env` (e.g. a stream heartbeat), and waits until
/// `/readyz` answers 200.
pub async fn demo_ready(
    dir: &Path,
    backfill: &str,
    env: &[(&str, String)],
) -> (Stadtpuls, reqwest::Client) {
    let port = free_port();
    let mut all = vec![
        ("STADTPULS_API__BIND", format!("127.0.0.1:{port}")),
        (
            "STADTPULS_HISTORY__DIR",
            dir.join("h").display().to_string(),
        ),
        ("STADTPULS_WINDOWS__SIZES", "10s,1m".into()),
        ("STADTPULS_WINDOWS__HOPPING", String::new()),
        ("STADTPULS_WINDOWS__OUT_OF_ORDERNESS", "1s".into()),
    ];
    all.extend(env.iter().cloned());
    let app = Stadtpuls::start_with_env(
        &["demo", "--backfill", backfill, "--bad-ratio", "0"],
        &all,
        port,
        &dir.join("log"),
    );
    let client = ready(&app).await;
    (app, client)
}
