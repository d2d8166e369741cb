//! Redis and memcached wire layers over the engine: listeners, connections, the command table.

pub mod commands;
pub mod conn;
pub mod memcached;
pub mod resp;
pub mod workers;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::store::Persistence;

/// Open client connections per listener; more wait in the kernel's accept queue.
pub const MAX_CLIENTS: usize = 10_000;

/// A client that takes none of its replies for this long is dropped.
pub const WRITE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes all of `buf`, failing only when the client takes nothing for [`WRITE_IDLE_TIMEOUT`]: a
/// slow reader still gets a large reply whole (a bound on the whole write cut a 16 MB GET read at
/// 200 KB/s short, where Redis delivers it).
pub async fn write_all_or_idle(stream: &mut tokio::net::TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    while !buf.is_empty() {
        match tokio::time::timeout(WRITE_IDLE_TIMEOUT, stream.write(buf)).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => buf = &buf[n..],
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "client not reading replies")),
        }
    }
    Ok(())
}

/// What CLIENT LIST shows about a connection, shared with CLIENT KILL.
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    pub name: Mutex<Option<Bytes>>,
    pub db: AtomicUsize,
    /// The last command run, as its index in the command table + 1 (0: none yet). An atomic, not
    /// a lock: every connection writes it whenever its command changes.
    pub last_cmd: AtomicUsize,
    pub last_active: AtomicU64,
    pub killed: AtomicBool,
    pub kill: Notify,
}

/// Who may connect: `requirepass` (the `default` user) and the suite's users (`AUTH <name> <secret>`).
pub struct Auth {
    pub requirepass: RwLock<Option<String>>,
    pub credentials: Arc<common::CredentialStore>,
    /// Listening beyond loopback: every connection must authenticate.
    pub required: bool,
}

impl Auth {
    pub fn needed(&self) -> bool {
        self.required || self.requirepass.read().is_some()
    }
    pub fn check(&self, user: Option<&[u8]>, password: &[u8]) -> bool {
        let user = user.unwrap_or(b"default");
        if user == b"default"
            && let Some(p) = self.requirepass.read().as_ref()
        {
            return constant_eq(p.as_bytes(), password);
        }
        self.credentials.users().iter().any(|u| {
            (u.name.as_bytes() == user || u.access_key.as_bytes() == user)
                && constant_eq(u.secret_key.expose().as_bytes(), password)
        })
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub struct Server {
    pub engine: Arc<Engine>,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    pub auth: Auth,
    pub persistence: Persistence,
    pub started: Instant,
    pub port: AtomicU64,
    pub run_id: String,
    pub shutdown: CancellationToken,
    pub scripts: crate::scripting::Scripts,
}

impl Server {
    pub fn new(engine: Arc<Engine>, auth: Auth, persistence: Persistence, shutdown: CancellationToken) -> Self {
        let run_id: String = (0..40).map(|_| format!("{:x}", crate::engine::eviction::fast_rand() % 16)).collect();
        Server {
            engine,
            clients: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            auth,
            persistence,
            started: Instant::now(),
            port: AtomicU64::new(0),
            run_id,
            shutdown,
            scripts: crate::scripting::Scripts::default(),
        }
    }

    pub fn register_client(&self, addr: SocketAddr, laddr: SocketAddr) -> Arc<ClientInfo> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(None),
            db: AtomicUsize::new(0),
            last_cmd: AtomicUsize::new(0),
            last_active: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
        });
        self.clients.lock().insert(id, info.clone());
        self.engine.stats.connected_clients.fetch_add(1, Ordering::Relaxed);
        self.engine.stats.connections_received.fetch_add(1, Ordering::Relaxed);
        info
    }

    pub fn unregister_client(&self, id: u64) {
        if self.clients.lock().remove(&id).is_some() {
            self.engine.stats.connected_clients.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Accepts connections until shutdown (at most [`MAX_CLIENTS`] at once); `handle` serves one connection.
pub async fn serve<F, Fut>(listener: TcpListener, shutdown: CancellationToken, handle: F)
where
    F: FnMut(tokio::net::TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    common::server::accept_loop("cache", listener, MAX_CLIENTS, shutdown, handle).await
}

/// Replays AOF commands through the dispatcher as a loading client; returns how many ran.
pub fn replay(srv: &Arc<Server>, cmds: Vec<Vec<Bytes>>) -> usize {
    let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
    let info = srv.register_client(addr, addr);
    let (mut client, _rx) = conn::Client::new(info.clone(), true);
    client.loading = true;
    let mut out = resp::Out::new(false);
    let n = cmds.len();
    for args in cmds {
        let _ = commands::dispatch(srv, &mut client, &mut out, &args);
        out.buf.clear();
    }
    srv.unregister_client(info.id);
    n
}
