//! One Redis connection: read, frame and execute every complete request in the buffer (pipelining),
//! write the replies in one go; deliver pub/sub messages; park blocked pops until a push or timeout.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};

use super::commands::{self, Flow};
use super::resp::{Out, parse_request};
use super::{ClientInfo, Server};
use crate::engine::keyspace::Blob;
use crate::engine::pubsub::{self, Message, Subscriber};

/// A client that does not read its replies for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest unparsed input a client may accumulate (Redis's client-query-buffer-limit).
const MAX_QUERY_BUFFER: usize = 1024 * 1024 * 1024;
/// Replies are flushed once this much is pending, even mid-pipeline.
const FLUSH_AT: usize = 256 * 1024;

/// Per-connection state.
pub struct Client {
    pub info: Arc<ClientInfo>,
    pub db: usize,
    pub resp3: bool,
    pub authed: bool,
    pub multi: Option<Vec<Vec<Bytes>>>,
    pub multi_failed: bool,
    pub watched: Vec<(usize, Blob)>,
    pub watch_dirty: Arc<AtomicBool>,
    pub channels: HashSet<Bytes>,
    pub patterns: HashSet<Bytes>,
    pub subscriber: Subscriber,
    pub close_after_reply: bool,
    /// Set while replaying the AOF: no auth, no propagation.
    pub loading: bool,
    /// Writes executed since the connection last published them (INFO's changes since last save).
    pub dirty: u64,
}

impl Client {
    pub fn new(info: Arc<ClientInfo>, authed: bool) -> (Self, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(pubsub::QUEUE);
        let client = Client {
            info,
            db: 0,
            resp3: false,
            authed,
            multi: None,
            multi_failed: false,
            watched: Vec::new(),
            watch_dirty: Arc::new(AtomicBool::new(false)),
            channels: HashSet::new(),
            patterns: HashSet::new(),
            subscriber: Subscriber { tx, lagging: Arc::new(AtomicBool::new(false)) },
            close_after_reply: false,
            loading: false,
            dirty: 0,
        };
        (client, rx)
    }

    pub fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

pub async fn serve_client(srv: Arc<Server>, mut stream: TcpStream, addr: SocketAddr) {
    let laddr = stream.local_addr().unwrap_or(addr);
    let info = srv.register_client(addr, laddr);
    let (mut client, mut rx) = Client::new(info.clone(), !srv.auth.needed());
    let result = run(&srv, &mut stream, &mut client, &mut rx).await;
    if let Err(e) = result {
        tracing::debug!(%addr, error = %e, "client connection ended");
    }
    commands::cleanup_client(&srv, &mut client);
    srv.unregister_client(info.id);
}

async fn run(
    srv: &Arc<Server>,
    stream: &mut TcpStream,
    client: &mut Client,
    rx: &mut mpsc::Receiver<Message>,
) -> std::io::Result<()> {
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = Out::new(false);
    let mut ranges = Vec::with_capacity(8);
    let info = client.info.clone();
    let mut executed = 0u64;
    let mut args: Vec<Bytes> = Vec::with_capacity(8);
    loop {
        // Execute every complete request already buffered.
        loop {
            let parsed = match parse_request(&rbuf, &mut ranges) {
                Ok(p) => p,
                Err(e) => {
                    out.error(&format!("ERR {e}"));
                    write_out(stream, &mut out).await?;
                    return Ok(());
                }
            };
            let Some(consumed) = parsed else { break };
            let frame = rbuf.split_to(consumed).freeze();
            if ranges.is_empty() {
                continue;
            }
            args.clear();
            args.extend(ranges.iter().map(|r| frame.slice(r.clone())));
            out.resp3 = client.resp3;
            executed += 1;
            match commands::dispatch(srv, client, &mut out, &args) {
                Flow::Done => {}
                Flow::Block(block) => {
                    srv.persistence.commit_aof();
                    write_out(stream, &mut out).await?;
                    if !wait_blocked(srv, stream, client, &mut rbuf, &mut out, block).await? {
                        return Ok(());
                    }
                }
            }
            if client.close_after_reply {
                write_out(stream, &mut out).await?;
                return Ok(());
            }
            if out.buf.len() >= FLUSH_AT {
                srv.persistence.commit_aof();
                write_out(stream, &mut out).await?;
            }
        }
        if executed > 0 {
            srv.engine.stats.commands.fetch_add(std::mem::take(&mut executed), Ordering::Relaxed);
            let dirty = std::mem::take(&mut client.dirty);
            if dirty > 0 {
                srv.engine.stats.dirty.fetch_add(dirty, Ordering::Relaxed);
            }
        }
        if !out.buf.is_empty() {
            srv.persistence.commit_aof();
            write_out(stream, &mut out).await?;
        }
        if rbuf.len() > MAX_QUERY_BUFFER {
            return Ok(());
        }
        if client.subscriber.lagging.load(Ordering::Acquire) {
            return Ok(());
        }
        rbuf.reserve(16 * 1024);
        let subscribed = client.subscriptions() > 0;
        tokio::select! {
            n = stream.read_buf(&mut rbuf) => {
                if n? == 0 {
                    return Ok(());
                }
            }
            Some(msg) = rx.recv(), if subscribed => {
                out.resp3 = client.resp3;
                commands::pubsub::write_message(&mut out, &msg);
                while let Ok(m) = rx.try_recv() {
                    commands::pubsub::write_message(&mut out, &m);
                    if out.buf.len() >= FLUSH_AT { break; }
                }
            }
            _ = info.kill.notified() => return Ok(()),
            _ = srv.shutdown.cancelled() => return Ok(()),
        }
        if info.killed.load(Ordering::Acquire) {
            return Ok(());
        }
    }
}

async fn write_out(stream: &mut TcpStream, out: &mut Out) -> std::io::Result<()> {
    if out.buf.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&out.buf)).await {
        Ok(r) => r?,
        Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "client not reading replies")),
    }
    out.buf.clear();
    Ok(())
}

/// Parks a blocked pop: retries it whenever one of its keys is pushed to, until it succeeds or times
/// out. Returns false if the client went away meanwhile.
async fn wait_blocked(
    srv: &Arc<Server>,
    stream: &mut TcpStream,
    client: &mut Client,
    rbuf: &mut BytesMut,
    out: &mut Out,
    block: commands::Blocked,
) -> std::io::Result<bool> {
    let notify = Arc::new(Notify::new());
    let db = client.db;
    srv.engine.blocking.register(db, &block.keys, &notify);
    let deadline = block.timeout.map(|t| tokio::time::Instant::now() + t);
    let info = client.info.clone();
    // A push may have landed between the failed attempt and the registration.
    if commands::retry_blocked(srv, client, out, &block.args) {
        srv.engine.blocking.unregister(db, &block.keys, &notify);
        return Ok(true);
    }
    let result = loop {
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = notify.notified() => {
                if commands::retry_blocked(srv, client, out, &block.args) {
                    break Ok(true);
                }
            }
            _ = sleep => {
                out.resp3 = client.resp3;
                out.null_array();
                break Ok(true);
            }
            n = stream.read_buf(rbuf) => {
                // Pipelined input waits in the buffer; EOF means the client left.
                match n {
                    Ok(0) => break Ok(false),
                    Ok(_) if rbuf.len() > MAX_QUERY_BUFFER => break Ok(false),
                    Ok(_) => {}
                    Err(e) => break Err(e),
                }
            }
            _ = info.kill.notified() => break Ok(false),
            _ = srv.shutdown.cancelled() => break Ok(false),
        }
    };
    srv.engine.blocking.unregister(db, &block.keys, &notify);
    result
}
