//! One Redis connection: read, frame and execute every complete request in the buffer (pipelining),
//! write the replies in one go; deliver pub/sub messages; park blocked pops until a push or timeout.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};

use super::commands::{self, Flow};
use super::resp::{NEEDS_UNESCAPING, Out, ProtocolError, parse_inline_unescaped, parse_request};
use super::{ClientInfo, Server};
use crate::engine::PREFETCH_MAX;
use crate::engine::keyspace::Blob;
use crate::engine::pubsub::{self, Message, Subscriber};

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
    /// The command this connection ran last (pipelines repeat one command; saves the table lookup).
    pub last_command: Option<&'static commands::Command>,
    /// CLIENT REPLY: whether this connection's replies are sent.
    pub replies: Replies,
    /// A script's own client collects the AOF lines of its writes here, (database, command), to log
    /// them as one transaction when it ends.
    pub script_effects: Option<Vec<(usize, Vec<Bytes>)>>,
}

/// CLIENT REPLY's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replies {
    On,
    Off,
    /// The next command's reply is dropped, then replies are on again.
    SkipNext,
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
            last_command: None,
            replies: Replies::On,
            script_effects: None,
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
    let mut scratch = Scratch::default();
    let info = client.info.clone();
    let mut executed = 0u64;
    // Created once: a fresh `notified()` / `cancelled()` per request took a lock to register and
    // another to deregister (~1.5 % of a -P 1 SET). `kill` is created before any request runs, so
    // `notify_waiters` reaches it.
    let kill = info.kill.notified();
    let cancelled = srv.shutdown.cancelled();
    tokio::pin!(kill, cancelled);
    loop {
        // Execute every complete request already buffered; await only between runs.
        loop {
            match execute_buffered(srv, client, &mut rbuf, &mut out, &mut scratch, &mut executed) {
                Step::NeedInput => break,
                Step::Flush => {
                    srv.persistence.commit_aof();
                    write_out(stream, &mut out).await?;
                }
                Step::Block(block) => {
                    srv.persistence.commit_aof();
                    write_out(stream, &mut out).await?;
                    if !wait_blocked(srv, stream, client, &mut rbuf, &mut out, block).await? {
                        return Ok(());
                    }
                }
                Step::WaitScript => {
                    srv.persistence.commit_aof();
                    write_out(stream, &mut out).await?;
                    srv.scripts.wait_turn().await;
                }
                Step::Script(job) => {
                    srv.persistence.commit_aof();
                    write_out(stream, &mut out).await?;
                    let quiet = job.quiet;
                    let reply = crate::scripting::Scripts::run_on_lua_thread(srv, job).await;
                    if !quiet {
                        out.raw(&reply);
                    }
                }
                Step::Close => {
                    write_out(stream, &mut out).await?;
                    return Ok(());
                }
                Step::ProtocolError(e) => {
                    out.raw(&e.reply());
                    write_out(stream, &mut out).await?;
                    return Ok(());
                }
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
            _ = &mut kill => return Ok(()),
            _ = &mut cancelled => return Ok(()),
        }
        if info.killed.load(Ordering::Acquire) {
            return Ok(());
        }
    }
}

/// Why [`execute_buffered`] stopped.
enum Step {
    /// No complete request left in the buffer.
    NeedInput,
    /// Enough replies are pending to write them before going on.
    Flush,
    Block(commands::Blocked),
    /// A script for the Lua thread, whose reply the connection awaits.
    Script(crate::scripting::Job),
    /// A script holds (or is taking) every shard: the next request waits for it without blocking
    /// this thread (it stays in the buffer).
    WaitScript,
    Close,
    ProtocolError(ProtocolError),
}

/// Re-read the clock after this many commands even if all were fast.
const REPIN_EVERY: u32 = 16;
/// A SET this small is as quick as a FAST command, so it keeps the pinned time.
const SMALL_FRAME: usize = 64 * 1024;

/// Per-connection buffers reused by every batch (no allocation per request).
#[derive(Default)]
pub(super) struct Scratch {
    /// Argument ranges of the request being framed.
    ranges: Vec<Range<usize>>,
    /// The framed requests ahead: bytes each takes in the read buffer, and its arguments' span in
    /// `arg_ranges` (ranges relative to the request's first byte).
    batch: Vec<(usize, Range<usize>)>,
    arg_ranges: Vec<Range<usize>>,
    args: Vec<Bytes>,
    /// The arguments of an inline request that needed unescaping (see [`Scratch::frame_ahead`]).
    unescaped: Option<Vec<Bytes>>,
}

impl Scratch {
    /// Frames up to [`PREFETCH_MAX`] complete requests at the front of `buf` without consuming them.
    /// A framing error is returned only when it concerns the first request (the ones before it run
    /// first, as they would have one by one).
    fn frame_ahead(&mut self, buf: &[u8]) -> Result<(), ProtocolError> {
        self.batch.clear();
        self.arg_ranges.clear();
        self.unescaped = None;
        let mut off = 0;
        while self.batch.len() < PREFETCH_MAX {
            match parse_request(&buf[off..], &mut self.ranges) {
                Ok(Some(n)) => {
                    let first = self.arg_ranges.len();
                    self.arg_ranges.extend_from_slice(&self.ranges);
                    self.batch.push((n, first..self.arg_ranges.len()));
                    off += n;
                }
                Ok(None) => break,
                // An inline line with escapes: its arguments are copies, not ranges of the buffer.
                // It makes a batch of its own (it has no ranges for `hot_run` and `keys`).
                Err(e) if e == NEEDS_UNESCAPING => {
                    if self.batch.is_empty()
                        && let Some((n, args)) = parse_inline_unescaped(&buf[off..])?
                    {
                        self.unescaped = Some(args.into_iter().map(Bytes::from).collect());
                        self.batch.push((n, 0..0));
                    }
                    break;
                }
                Err(e) if self.batch.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// How many framed requests from the `i`-th on (at least two, at most [`REPIN_EVERY`]) are the
    /// same single-key command on the same key, with the same argument count, that may all run
    /// under one lock of the key's shard ([`commands::holdable`]); `buf` starts at request `i`.
    /// Benchmarks and real pipelines alike hammer one hot key this way (LPUSH to a queue, HSET
    /// into one hash, ZADD to a leaderboard): locking once instead of per command saves the lock's
    /// cache-line round trips between the cores, which both want that shard.
    fn hot_run(
        &self,
        srv: &Server,
        client: &Client,
        buf: &[u8],
        i: usize,
    ) -> Option<(&'static commands::Command, usize)> {
        let (first_len, span) = self.batch.get(i)?;
        let first = &self.arg_ranges[span.clone()];
        let (name, key) = match first {
            [name, key, ..] => (&buf[name.clone()], &buf[key.clone()]),
            _ => return None,
        };
        let same = |off: usize, span: &Range<usize>| {
            let args = &self.arg_ranges[span.clone()];
            if args.len() != first.len() {
                return false;
            }
            let k = &buf[off + args[1].start..off + args[1].end];
            // Keys of one pattern (key:000000012345) share a long prefix: the last byte tells most
            // of them apart without a call to memcmp.
            k.last() == key.last() && k == key && buf[off + args[0].start..off + args[0].end].eq_ignore_ascii_case(name)
        };
        // Check eligibility once the next request matches (most batches stop at that comparison)
        // and before counting further, so a refused run costs one comparison and one check per
        // request, not a scan of the run from each of its requests.
        let (_, next) = self.batch.get(i + 1)?;
        if !same(*first_len, next) {
            return None;
        }
        let cmd = commands::holdable(srv, client, name, first.len())?;
        let mut off = *first_len;
        let mut n = 1;
        for (len, span) in &self.batch[i + 1..] {
            if n == REPIN_EVERY as usize || !same(off, span) {
                break;
            }
            off += len;
            n += 1;
        }
        Some((cmd, n))
    }

    /// Whether the `i`-th framed request (at the front of `buf`) must wait for a running script
    /// ([`crate::scripting::Scripts::must_wait`]).
    fn waits_for_script(&self, srv: &Server, buf: &[u8], i: usize) -> bool {
        let scripts = &srv.scripts;
        match &self.arg_ranges[self.batch[i].1.clone()] {
            [name, rest @ ..] => scripts.must_wait(&buf[name.clone()], rest.first().map(|r| &buf[r.clone()])),
            [] => match self.unescaped.as_deref() {
                Some([name, rest @ ..]) => scripts.must_wait(name, rest.first().map(|a| &a[..])),
                _ => false,
            },
        }
    }

    /// The first key of each framed request, for [`crate::engine::Engine::prefetch`].
    fn keys<'a>(&'a self, buf: &'a [u8], last: Option<&'static commands::Command>) -> impl Iterator<Item = &'a [u8]> {
        self.batch
            .iter()
            .scan(0usize, move |off, (n, span)| {
                let start = *off;
                *off += n;
                let args = &self.arg_ranges[span.clone()];
                let Some(name) = args.first() else { return Some(None) };
                let k = commands::first_key_index(last, &buf[start + name.start..start + name.end], args.len());
                Some(k.map(|k| &buf[start + args[k].start..start + args[k].end]))
            })
            .flatten()
    }
}

/// Runs the complete requests at the front of `rbuf` synchronously (no await inside, so the pinned
/// time cannot leak to another task) until input runs out or the caller must do I/O. Requests are
/// framed a batch at a time so the keys of a pipelined batch can be prefetched together.
fn execute_buffered(
    srv: &Arc<Server>,
    client: &mut Client,
    rbuf: &mut BytesMut,
    out: &mut Out,
    scratch: &mut Scratch,
    executed: &mut u64,
) -> Step {
    let mut pinned = srv.engine.pin_time();
    let mut since_pin = 0u32;
    loop {
        if let Err(e) = scratch.frame_ahead(rbuf) {
            return Step::ProtocolError(e);
        }
        if scratch.batch.is_empty() {
            return Step::NeedInput;
        }
        // A batch that is one hot-key run has nothing to prefetch (that key's lines are hot).
        let mut first_run = scratch.hot_run(srv, client, rbuf, 0);
        if scratch.batch.len() > 1 && first_run.is_none_or(|(_, n)| n < scratch.batch.len()) {
            srv.engine.prefetch(client.db, scratch.keys(rbuf, client.last_command));
        }
        let mut i = 0;
        while i < scratch.batch.len() {
            if scratch.waits_for_script(srv, rbuf, i) {
                return Step::WaitScript;
            }
            let run = if i == 0 { first_run.take() } else { scratch.hot_run(srv, client, rbuf, i) };
            if let Some((cmd, n)) = run {
                // One lock for the run (re-pinned: its commands share the view's time, as the
                // pinned ones would).
                drop(pinned);
                pinned = srv.engine.pin_time();
                let (_, span) = &scratch.batch[i];
                let key = scratch.arg_ranges[span.start + 1].clone();
                let mut view = srv.engine.lock_keys(client.db, [&rbuf[key]]);
                for _ in 0..n {
                    let (consumed, span) = scratch.batch[i].clone();
                    let frame = rbuf.split_to(consumed).freeze();
                    scratch.args.extend(scratch.arg_ranges[span].iter().map(|r| frame.slice(r.clone())));
                    out.resp3 = client.resp3;
                    *executed += 1;
                    commands::execute_held(srv, client, out, cmd, &scratch.args, &mut view);
                    scratch.args.clear();
                    i += 1;
                    if out.buf.len() >= FLUSH_AT {
                        return Step::Flush;
                    }
                }
                drop(view);
                since_pin = n as u32;
                continue;
            }
            let (consumed, span) = scratch.batch[i].clone();
            i += 1;
            // Unexecuted requests stay in `rbuf` when this returns early; they are framed again.
            let frame = rbuf.split_to(consumed).freeze();
            scratch.args.clear();
            if span.is_empty() {
                match scratch.unescaped.take() {
                    Some(args) if !args.is_empty() => scratch.args.extend(args),
                    _ => continue,
                }
            } else {
                scratch.args.extend(scratch.arg_ranges[span].iter().map(|r| frame.slice(r.clone())));
            }
            if since_pin >= REPIN_EVERY {
                drop(pinned);
                pinned = srv.engine.pin_time();
                since_pin = 0;
            }
            out.resp3 = client.resp3;
            *executed += 1;
            let flow = commands::dispatch(srv, client, out, &scratch.args);
            // Release this request's slices of the read buffer now: while any is alive the buffer is
            // shared, and the `reserve` before the next read would allocate a new one every batch.
            scratch.args.clear();
            since_pin += 1;
            // A command that may have taken long (KEYS, SORT-like, big values) must not age the next
            // one's view of time: re-pin.
            let quick = client
                .last_command
                .is_some_and(|c| c.flags & commands::FAST != 0 || (c.name == "set" && consumed <= SMALL_FRAME));
            if !quick {
                since_pin = REPIN_EVERY;
            }
            match flow {
                Flow::Block(block) => return Step::Block(block),
                Flow::Script(job) => return Step::Script(job),
                Flow::Done => {}
            }
            if client.close_after_reply {
                return Step::Close;
            }
            if out.buf.len() >= FLUSH_AT {
                return Step::Flush;
            }
        }
    }
}

async fn write_out(stream: &mut TcpStream, out: &mut Out) -> std::io::Result<()> {
    if out.buf.is_empty() {
        return Ok(());
    }
    // The socket nearly always takes a batch's replies at once: try that before arming the write
    // timeout, whose timer (a clock read and a runtime-handle lookup per batch) cost more user time
    // than the send itself.
    let sent = match stream.try_write(&out.buf) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if sent == out.buf.len() {
        out.buf.clear();
        return Ok(());
    }
    super::write_all_or_idle(stream, &out.buf[sent..]).await?;
    out.buf.clear();
    Ok(())
}

/// Parks a blocked pop: retries it whenever one of its keys is pushed to, until it succeeds or times
/// out (its reply dropped if it blocked under CLIENT REPLY OFF or SKIP). Returns false if the client
/// went away meanwhile.
async fn wait_blocked(
    srv: &Arc<Server>,
    stream: &mut TcpStream,
    client: &mut Client,
    rbuf: &mut BytesMut,
    out: &mut Out,
    block: commands::Blocked,
) -> std::io::Result<bool> {
    let mark = out.buf.len();
    let served = wait_served(srv, stream, client, rbuf, out, &block).await;
    if block.quiet {
        out.buf.truncate(mark);
    }
    served
}

async fn wait_served(
    srv: &Arc<Server>,
    stream: &mut TcpStream,
    client: &mut Client,
    rbuf: &mut BytesMut,
    out: &mut Out,
    block: &commands::Blocked,
) -> std::io::Result<bool> {
    let notify = Arc::new(Notify::new());
    let db = client.db;
    srv.engine.blocking.register(db, &block.keys, &notify);
    let deadline = block.timeout.map(|t| tokio::time::Instant::now() + t);
    let info = client.info.clone();
    // Registered before the retry below, so a CLIENT KILL from then on is not missed.
    let kill = info.kill.notified();
    tokio::pin!(kill);
    if info.killed.load(Ordering::Acquire) {
        srv.engine.blocking.unregister(db, &block.keys, &notify);
        return Ok(false);
    }
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
                // A script's push woke us while it still holds the shards: do not block on them.
                srv.scripts.wait_turn().await;
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
            _ = &mut kill => break Ok(false),
            _ = srv.shutdown.cancelled() => break Ok(false),
        }
    };
    srv.engine.blocking.unregister(db, &block.keys, &notify);
    result
}
