//! The HTTP API's accept loop: hyper's HTTP/1.1 server with a header-read timeout, the
//! connection budget and a bounded drain (see [`super`]). `axum::serve` offers none of the
//! three: it sets no timer, so hyper enforces no header timeout, and its graceful shutdown
//! waits for every connection, a half-sent request included.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::util::MapRequest;
use tracing::{debug, warn};

use super::{ConnectionAbort, Edge, Server, accept_failed, timed_out};
use crate::metrics;

/// What a connection over the budget reads before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
content-length: 33\r\n\
retry-after: 1\r\n\
connection: close\r\n\
\r\n\
{\"error\":\"too many connections\"}\n";

/// Refused connections being closed gracefully at the same time, at most ([`linger`]);
/// beyond that a refusal closes at once, so a flood of connections costs no more than this many tasks.
const LINGERING_MAX: usize = 64;

/// How long a refused connection's input is read and dropped before it is closed anyway.
const LINGER: Duration = Duration::from_secs(1);

/// Input of a refused connection read at most before it is closed anyway.
const LINGER_MAX_BYTES: usize = 64 * 1024;

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
    let mut lingering = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            Some(_) = lingering.join_next(), if !lingering.is_empty() => continue,
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
            if lingering.len() < LINGERING_MAX {
                lingering.spawn(linger(stream));
            }
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "cannot set TCP_NODELAY");
        }
        let abort = ConnectionAbort::default();
        let handle = abort.clone();
        let service = MapRequest::new(router.clone(), move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(handle.clone());
            request
        });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _slot = admitted;
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = abort.aborted() => {
                    debug!("connection closed by its handler");
                    return;
                }
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

/// Closes a refused connection so that its client can read the refusal: the write side is
/// shut (FIN) and what the client sends is read and dropped until it closes too, for at most
/// [`LINGER`] and [`LINGER_MAX_BYTES`]. Closing a socket with unread input makes the kernel
/// answer with a reset, and a client that had already sent its request would then see
/// "connection reset" instead of the 503.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    let mut read = 0;
    while read < LINGER_MAX_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A client whose request is already in the server's socket when it is refused: closing
    /// that socket with unread input resets the connection, and the client's read then
    /// fails ("connection reset by peer") instead of ending after the 503.
    #[tokio::test]
    async fn a_refused_client_that_sent_its_request_reads_the_refusal() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let (stream, _) = listener.accept().await.expect("accept");
        while stream.peek(&mut [0u8; 1]).await.expect("peek") == 0 {}
        refuse(&stream);
        let closing = tokio::spawn(linger(stream));
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let read = tokio::task::spawn_blocking(move || {
            let mut response = Vec::new();
            client.read_to_end(&mut response).map(|_| response)
        })
        .await
        .expect("join");
        let response = read.expect("the connection ends without a reset");
        assert!(response.starts_with(b"HTTP/1.1 503"));
        closing.await.expect("linger");
    }
}
