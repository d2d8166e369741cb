//! The NBD server: TCP and Unix socket listeners, the fixed newstyle handshake, then transmission.
//! Export names are volume ids; only attached volumes can be opened.

mod handshake;
mod transmission;
pub mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::engine::VolumeEngine;

/// Open NBD connections per listener; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 1024;

/// Accepts TCP clients until shutdown.
pub async fn serve_tcp(listener: TcpListener, engine: Arc<VolumeEngine>, shutdown: CancellationToken) {
    let connections = shutdown.clone();
    common::server::accept_loop("ebsd", listener, MAX_CONNECTIONS, shutdown, move |stream, peer| {
        let (engine, shutdown) = (engine.clone(), connections.clone());
        async move {
            let (r, w) = stream.into_split();
            serve_connection(r, w, &engine, shutdown, &peer.to_string()).await;
        }
    })
    .await
}

/// Accepts clients on a Unix socket until shutdown, then removes the socket file.
pub async fn serve_unix(listener: UnixListener, path: PathBuf, engine: Arc<VolumeEngine>, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("never closed"),
            _ = shutdown.cancelled() => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let (engine, shutdown) = (engine.clone(), shutdown.clone());
                    tokio::spawn(async move {
                        let (r, w) = stream.into_split();
                        serve_connection(r, w, &engine, shutdown, "unix").await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "nbd unix accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.cancelled() => break,
        }
    }
    let _ = std::fs::remove_file(&path);
}

async fn serve_connection<R, W>(reader: R, writer: W, engine: &VolumeEngine, shutdown: CancellationToken, peer: &str)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut stream = tokio::io::join(reader, writer);
    let negotiated = tokio::select! {
        n = handshake::negotiate(&mut stream, engine) => n,
        _ = shutdown.cancelled() => return,
    };
    match negotiated {
        Ok(Some(negotiated)) => {
            let volume = negotiated.handle.id.clone();
            tracing::info!(peer, %volume, size = negotiated.size, structured = negotiated.structured, "nbd client opened export");
            metrics::gauge!("nbd_connections").increment(1.0);
            let (reader, writer) = stream.into_inner();
            let result = transmission::run(reader, writer, negotiated, shutdown).await;
            metrics::gauge!("nbd_connections").decrement(1.0);
            match result {
                Ok(()) => tracing::info!(peer, %volume, "nbd client disconnected"),
                Err(e) => tracing::info!(peer, %volume, error = %e, "nbd connection ended"),
            }
        }
        Ok(None) => tracing::debug!(peer, "nbd client left during the handshake"),
        Err(e) => tracing::info!(peer, error = %e, "nbd handshake failed"),
    }
}
