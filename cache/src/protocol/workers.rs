//! Connection threads: each client connection lives on one of a few threads, each running its own
//! single-threaded runtime with its own epoll (the memcached / Redis io-threads model).
//!
//! Why not the daemon's work-stealing runtime: there one worker owns the epoll and the others park
//! on a condition variable, so a request that arrives while that worker is busy waits for it (or for
//! a futex wake-up of a sibling) before anyone reads it. With short requests from many clients that
//! wait was most of the gap to memcached on its get/set mix (and showed in the p99). Here every
//! thread sleeps in its own `epoll_wait` and is woken by the kernel straight onto its connections.
//! The cost is that a connection never migrates: connections are dealt round-robin, which balances
//! the many similar clients this daemon serves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::Server;

/// Which protocol a handed-over connection speaks.
#[derive(Clone, Copy)]
pub enum Protocol {
    Resp,
    Memcached,
}

struct Job {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    protocol: Protocol,
    /// Dropped when the connection ends (the accept loop holds its connection slot until then).
    done: oneshot::Sender<()>,
}

pub struct Workers {
    queues: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

impl Workers {
    /// Starts `threads` connection threads (at least one).
    pub fn start(srv: &Arc<Server>, threads: usize) -> std::io::Result<Arc<Workers>> {
        let mut queues = Vec::new();
        for i in 0..threads.max(1) {
            // Bounded by the accept loop: each queued job holds one of its `max_connections` slots.
            let (tx, rx) = mpsc::unbounded_channel();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let srv = srv.clone();
            std::thread::Builder::new().name(format!("cache-conn-{i}")).spawn(move || rt.block_on(run(srv, rx)))?;
            queues.push(tx);
        }
        Ok(Arc::new(Workers { queues, next: AtomicUsize::new(0) }))
    }

    /// Moves an accepted connection to the next thread; the returned future ends with the connection.
    pub fn hand_over(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        protocol: Protocol,
    ) -> impl std::future::Future<Output = ()> + Send + use<> {
        let (done, finished) = oneshot::channel();
        // `into_std` leaves the socket non-blocking, as the receiving runtime needs it.
        let sent = stream.into_std().ok().and_then(|stream| {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
            self.queues[i].send(Job { stream, peer, protocol, done }).ok()
        });
        async move {
            if sent.is_some() {
                let _ = finished.await;
            }
        }
    }
}

/// One connection thread: serves what it is handed until every sender is gone (the listeners
/// stopped at shutdown); connections still open then see the shutdown token themselves.
async fn run(srv: Arc<Server>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = rx.recv().await {
        let stream = match TcpStream::from_std(job.stream) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(peer = %job.peer, error = %e, "cannot register a handed-over connection");
                continue;
            }
        };
        let srv = srv.clone();
        tokio::spawn(async move {
            match job.protocol {
                Protocol::Resp => super::conn::serve_client(srv, stream, job.peer).await,
                Protocol::Memcached => super::memcached::serve_client(srv, stream, job.peer).await,
            }
            drop(job.done);
        });
    }
    // Give open connections the drain time the daemon grants its own tasks before the runtime (and
    // with it every connection still open) is dropped.
    srv.shutdown.cancelled().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}
