//! gRPC over one byte stream: the plugin serves exactly one HTTP/2 connection made of its stdin
//! (read) and stdout (write) and returns when the host closes it; a host (or a test acting as
//! one) connects a tonic channel to a child process's pipes. Nothing else may write to stdout.

use std::sync::{Arc, Mutex};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::service::Routes;

use crate::error::{Error, Result};

/// Serves `routes` over `io` until the peer closes the connection. A peer that goes away (EOF,
/// broken pipe, reset, a stream cut mid-message) ends the connection cleanly; anything else
/// (garbage on the wire) is an error.
pub async fn serve<IO>(io: IO, routes: Routes) -> Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = TowerToHyperService::new(routes);
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), svc);
    match conn.await {
        Ok(()) => Ok(()),
        Err(e) if peer_went_away(&e) => {
            tracing::info!("host closed the connection: {e}");
            Ok(())
        }
        Err(e) => Err(Error::Transport(e.to_string())),
    }
}

fn peer_went_away(e: &hyper::Error) -> bool {
    use std::error::Error as _;
    if e.is_closed() || e.is_incomplete_message() || e.is_canceled() {
        return true;
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(
                io.kind(),
                BrokenPipe | UnexpectedEof | ConnectionReset | ConnectionAborted
            );
        }
        source = s.source();
    }
    false
}

/// Serves `routes` on this process's stdin/stdout.
pub async fn serve_stdio(routes: Routes) -> Result<()> {
    serve(
        tokio::io::join(tokio::io::stdin(), tokio::io::stdout()),
        routes,
    )
    .await
}

/// A tonic channel over one already-open byte stream (e.g. a child's stdout + stdin): what a
/// host does to talk to a plugin it started.
pub async fn channel<IO>(io: IO) -> Result<tonic::transport::Channel>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = Arc::new(Mutex::new(Some(io)));
    tonic::transport::Endpoint::from_static("http://plugin.stdio")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let io = slot.lock().expect("stdio slot").take();
            async move {
                io.map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("the plugin's stdio is already in use"))
            }
        }))
        .await
        .map_err(|e| Error::Transport(e.to_string()))
}
