//! The Flight SQL server's edge: its accepted connections, within the shared budget, each
//! given `api.header_read_timeout` for the HTTP/2 preface (see [`super`]).
//!
//! tonic offers per-request timeouts and limits but neither a connection budget nor a
//! deadline for the handshake: a client that connects and sends nothing holds its
//! connection for ever. After the preface, HTTP/2 keep-alive pings (set on the server in
//! `sql/flight.rs`) close connections whose peer stopped answering.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::debug;

use super::{Admitted, Edge, Server, accept_failed, timed_out};
use crate::metrics;

/// The client's first bytes on an HTTP/2 connection: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
const PREFACE_LEN: usize = 24;

/// The accepted connections of `listener` within `edge`'s budget, for
/// `tonic::transport::Server::serve_with_incoming_shutdown`. Connections over the budget
/// are closed at once (a gRPC client retries on its own); accept failures are skipped
/// here, so tonic never sees an error.
pub fn incoming(
    listener: TcpListener,
    edge: Edge,
) -> impl Stream<Item = io::Result<EdgeStream>> + Send + 'static {
    let server = Server::Flight;
    metrics::register_server(server.as_str());
    futures::stream::unfold((listener, edge), move |(listener, edge)| async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    if let Some(pause) = accept_failed(server, &error) {
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
            };
            let Some(slot) = edge.connections.admit(server) else {
                debug!("flight connection refused: api.max_connections are open");
                continue;
            };
            if let Err(error) = stream.set_nodelay(true) {
                debug!(%error, "cannot set TCP_NODELAY");
            }
            let stream = EdgeStream::new(stream, slot, edge.header_read_timeout);
            return Some((Ok(stream), (listener, edge)));
        }
    })
}

/// An accepted connection holding its slot of the budget, failing its reads once the
/// preface is overdue.
#[derive(Debug)]
pub struct EdgeStream {
    inner: TcpStream,
    /// Until the preface has arrived: its deadline and the bytes read so far.
    preface: Option<(Pin<Box<Sleep>>, usize)>,
    _slot: Admitted,
}

impl EdgeStream {
    fn new(inner: TcpStream, slot: Admitted, timeout: Duration) -> Self {
        Self {
            inner,
            preface: Some((Box::pin(tokio::time::sleep(timeout)), 0)),
            _slot: slot,
        }
    }
}

impl Connected for EdgeStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for EdgeStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let Some((deadline, read)) = this.preface.as_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) => {
                *read += buf.filled().len() - before;
                if *read >= PREFACE_LEN {
                    this.preface = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.preface = None;
                    timed_out(Server::Flight);
                    debug!(
                        "flight connection closed: no HTTP/2 preface within the header read timeout"
                    );
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no HTTP/2 preface within api.header_read_timeout",
                    )))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for EdgeStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
