//! The HTTP API's accept loop: hyper's HTTP/1.1 server with a header-read timeout, the
//! connection budget and a bounded drain (see [`super`]). `axum::serve` offers none of the
//! three: it sets no timer, so hyper enforces no header timeout, and its graceful shutdown
//! waits for every connection, a half-sent request included.

use std::future::Future;
use std::io;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::{Edge, Server, accept_failed, timed_out};
use crate::metrics;

/// What a connection over the budget reads before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
content-length: 33\r\n\
retry-after: 1\r\n\
connection: close\r\n\
\r\n\
{\"error\":\"too many connections\"}\n";

/// Serves `router` on `listener` until `shutdown` completes, then lets open connections
/// finish for at most `edge.drain` and closes the rest.
///
/// # Errors
/// None so far: accept failures are logged and retried (the signature leaves room).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    edge: Edge,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let server = Server::Api;
    metrics::register_server(server.as_str());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(edge.header_read_timeout)
        .keep_alive(true);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                if let Some(pause) = accept_failed(server, &error) {
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
                continue;
            }
        };
        let Some(admitted) = edge.connections.admit(server) else {
            refuse(&stream);
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "cannot set TCP_NODELAY");
        }
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _slot = admitted;
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stop.changed() => {
                    // Idle connections close now, busy ones after their response.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            match result {
                Ok(()) => {}
                Err(error) if error.is_timeout() => {
                    timed_out(server);
                    debug!("connection closed: no request head within the header read timeout");
                }
                Err(error) => debug!(%error, "connection ended with an error"),
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(edge.drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            connections = connections.len(),
            drain_s = edge.drain.as_secs_f64(),
            "connections still busy after the shutdown drain are closed"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Answers a connection over the budget with a 503 if its socket takes it at once (never
/// waiting: the client may not read), then closes it.
fn refuse(stream: &TcpStream) {
    if let Err(error) = stream.try_write(REFUSAL) {
        debug!(%error, "cannot write the refusal of a connection over the limit");
    }
    debug!("connection refused: api.max_connections are open");
}
