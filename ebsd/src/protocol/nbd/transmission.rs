//! The transmission phase. One task reads requests in order; each request runs as its own task (so a
//! queue depth of 32 is 32 I/Os in flight, paced by the volume's performance model); one task writes
//! the replies, in completion order, flushing the socket when no more replies are ready.
//!
//! Bounds: at most `MAX_IN_FLIGHT` requests and `MAX_IN_FLIGHT_BYTES` of payload per connection; a
//! request that cannot be served gets an error reply (EINVAL, ENOSPC, EIO), never a dropped connection.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::handshake::Negotiated;
use super::wire::*;
use crate::engine::handle::Queued;
use crate::engine::handle::blocking;
use crate::engine::{IoKind, VolumeHandle};

const MAX_IN_FLIGHT: usize = 128;
/// Payload bytes buffered per connection, in MiB permits.
const MAX_IN_FLIGHT_MIB: u32 = 128;
/// A request's payload must arrive within this long once its header has.
const PAYLOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Most extents one BLOCK_STATUS reply carries.
const MAX_EXTENTS: usize = 2048;
/// Largest read or write served inline by the connection's reader (see `Conn::serve_inline`).
const INLINE_MAX: u32 = 64 * 1024;

/// A reply ready to be written.
enum Reply {
    /// Bytes to write as they are.
    Raw(Vec<u8>),
    /// A READ's header followed by its data.
    Data(Vec<u8>, Vec<u8>),
}

struct Conn {
    handle: Arc<VolumeHandle>,
    size: u64,
    structured: bool,
    base_allocation: bool,
    /// Lone small requests served by the reader itself, and those that could not be (the model made
    /// them wait, or a read's data was not in the page cache). Registered once per connection.
    inline: metrics::Counter,
    inline_missed: metrics::Counter,
}

fn errno(e: &io::Error) -> u32 {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => ENOSPC,
        Some(libc::EINVAL) => EINVAL,
        Some(libc::ENOMEM) => ENOMEM,
        _ => EIO,
    }
}

impl Conn {
    fn ok(&self, cookie: u64) -> Reply {
        if self.structured {
            Reply::Raw(chunk_header(REPLY_FLAG_DONE, REPLY_TYPE_NONE, cookie, 0).to_vec())
        } else {
            Reply::Raw(simple_reply_header(0, cookie).to_vec())
        }
    }

    fn error(&self, cookie: u64, error: u32, message: &str) -> Reply {
        if self.structured {
            Reply::Raw(error_chunk(cookie, error, message))
        } else {
            Reply::Raw(simple_reply_header(error, cookie).to_vec())
        }
    }

    fn data(&self, cookie: u64, offset: u64, data: Vec<u8>) -> Reply {
        if !self.structured {
            return Reply::Data(simple_reply_header(0, cookie).to_vec(), data);
        }
        if data.is_empty() {
            return self.ok(cookie);
        }
        let mut head = chunk_header(REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, cookie, 8 + data.len() as u32).to_vec();
        head.extend_from_slice(&offset.to_be_bytes());
        Reply::Data(head, data)
    }

    fn io_result(&self, cookie: u64, result: io::Result<()>) -> Reply {
        match result {
            Ok(()) => self.ok(cookie),
            Err(e) => {
                tracing::warn!(volume = %self.handle.id, error = %e, "volume I/O failed");
                self.error(cookie, errno(&e), &e.to_string())
            }
        }
    }

    /// Checks a request against the export; the error to reply with if it is out of bounds.
    fn check(&self, req: &Request) -> Result<(), (u32, String)> {
        let end = req.offset.checked_add(u64::from(req.length));
        let beyond = end.is_none_or(|end| end > self.size);
        match req.kind {
            CMD_READ | CMD_WRITE if req.length > MAX_PAYLOAD => {
                Err((EINVAL, format!("request of {} bytes exceeds the maximum of {MAX_PAYLOAD}", req.length)))
            }
            CMD_WRITE | CMD_WRITE_ZEROES | CMD_TRIM if beyond => {
                Err((ENOSPC, format!("request ends beyond the end of the {}-byte volume", self.size)))
            }
            CMD_READ | CMD_CACHE | CMD_BLOCK_STATUS if beyond => {
                Err((EINVAL, format!("request ends beyond the end of the {}-byte volume", self.size)))
            }
            CMD_BLOCK_STATUS if !self.base_allocation => Err((EINVAL, "no meta context was negotiated".into())),
            CMD_BLOCK_STATUS if req.length == 0 => Err((EINVAL, "block status of an empty range".into())),
            _ => Ok(()),
        }
    }

    /// A lone small read or write (nothing else in flight on this connection, the model not asking it to
    /// wait) is served right here rather than handed through a task and the io_uring thread: at queue
    /// depth 1 those hand-offs, not the page cache, are most of the latency. A write is one buffered
    /// pwrite (page cache; FUA writes, which must sync, take the queued path); a read is served only if
    /// the page cache holds it (RWF_NOWAIT). `None`: take the queued path.
    fn serve_inline(&self, req: &Request, payload: &[u8]) -> Option<Reply> {
        match req.kind {
            CMD_WRITE => {
                let r = self.handle.write_inline(payload, req.offset)?;
                Some(self.io_result(req.cookie, r))
            }
            CMD_READ => {
                let mut buf = vec![0u8; req.length as usize];
                match self.handle.read_cached(&mut buf, req.offset) {
                    Ok(true) => Some(self.data(req.cookie, req.offset, buf)),
                    Ok(false) => None,
                    Err(e) => Some(self.io_result(req.cookie, Err(e))),
                }
            }
            _ => None,
        }
    }

    fn inline_candidate(req: &Request) -> Option<IoKind> {
        match req.kind {
            _ if req.length > INLINE_MAX || req.length == 0 => None,
            CMD_WRITE if req.flags & CMD_FLAG_FUA == 0 => Some(IoKind::Write),
            CMD_READ => Some(IoKind::Read),
            _ => None,
        }
    }

    /// Serves one request (its payload already read) and returns the reply. `admitted`: the request was
    /// already charged to the performance model and must wait this long before its I/O.
    async fn serve(self: Arc<Self>, req: Request, payload: Vec<u8>, admitted: Option<(Queued, Duration)>) -> Reply {
        if let Some((queued, wait)) = admitted {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let reply = self.clone().serve_io(req, payload).await;
            drop(queued);
            return reply;
        }
        let handle = self.handle.clone();
        let _queued = match req.kind {
            CMD_READ => Some(handle.throttle(IoKind::Read, u64::from(req.length)).await),
            CMD_WRITE | CMD_WRITE_ZEROES => Some(handle.throttle(IoKind::Write, u64::from(req.length)).await),
            _ => None,
        };
        self.serve_io(req, payload).await
    }

    /// The request's I/O, once the performance model has let it through.
    async fn serve_io(self: Arc<Self>, req: Request, payload: Vec<u8>) -> Reply {
        let (cookie, offset, length) = (req.cookie, req.offset, u64::from(req.length));
        let fua = req.flags & CMD_FLAG_FUA != 0;
        let handle = self.handle.clone();
        match req.kind {
            CMD_READ => match handle.read_async(length as usize, offset).await {
                Ok(buf) => self.data(cookie, offset, buf),
                Err(e) => self.io_result(cookie, Err(e)),
            },
            CMD_WRITE => {
                let r = handle.write_async(payload, offset, fua).await;
                self.io_result(cookie, r)
            }
            CMD_WRITE_ZEROES => {
                let may_trim = req.flags & CMD_FLAG_NO_HOLE == 0;
                let volume = handle.clone();
                let r = blocking(move || volume.write_zeroes(offset, length, may_trim, fua)).await;
                self.io_result(cookie, r)
            }
            CMD_TRIM => {
                let r = blocking(move || handle.trim(offset, length, fua)).await;
                self.io_result(cookie, r)
            }
            CMD_FLUSH => {
                let r = handle.flush_async().await;
                self.io_result(cookie, r)
            }
            CMD_CACHE => {
                let r = blocking(move || handle.prefetch(offset, length)).await;
                self.io_result(cookie, r)
            }
            CMD_BLOCK_STATUS => {
                let max = if req.flags & CMD_FLAG_REQ_ONE != 0 { 1 } else { MAX_EXTENTS };
                let r = blocking(move || handle.extents(offset, length, max)).await;
                match r {
                    Ok(extents) => {
                        let mut body = BASE_ALLOCATION_ID.to_be_bytes().to_vec();
                        for e in &extents {
                            body.extend_from_slice(&(e.length.min(u64::from(u32::MAX)) as u32).to_be_bytes());
                            let state = if e.hole { STATE_HOLE | STATE_ZERO } else { 0 };
                            body.extend_from_slice(&state.to_be_bytes());
                        }
                        let mut out =
                            chunk_header(REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, cookie, body.len() as u32).to_vec();
                        out.extend_from_slice(&body);
                        Reply::Raw(out)
                    }
                    Err(e) => self.io_result(cookie, Err(e)),
                }
            }
            other => self.error(cookie, EINVAL, &format!("unknown command {other}")),
        }
    }
}

/// Serves requests until the client disconnects, the volume is detached, or the daemon shuts down.
pub async fn run<R, W>(mut reader: R, writer: W, negotiated: Negotiated, shutdown: CancellationToken) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let session = negotiated.session;
    let conn = Arc::new(Conn {
        handle: negotiated.handle,
        size: negotiated.size,
        structured: negotiated.structured,
        base_allocation: negotiated.base_allocation,
        inline: metrics::counter!("ebsd_nbd_inline_total"),
        inline_missed: metrics::counter!("ebsd_nbd_inline_missed_total"),
    });
    let (tx, rx) = mpsc::channel::<Reply>(MAX_IN_FLIGHT);
    let writer_task = tokio::spawn(write_replies(writer, rx));
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let budget = Arc::new(Semaphore::new(MAX_IN_FLIGHT_MIB as usize));
    let result = loop {
        let mut head = [0u8; Request::LEN];
        let read = tokio::select! {
            r = reader.read_exact(&mut head) => r,
            _ = session.cancelled() => break Ok(()),
            _ = shutdown.cancelled() => break Ok(()),
        };
        if let Err(e) = read {
            break if e.kind() == io::ErrorKind::UnexpectedEof { Ok(()) } else { Err(e) };
        }
        let Some(req) = Request::parse(&head) else {
            break Err(io::Error::new(io::ErrorKind::InvalidData, "bad request magic"));
        };
        if req.kind == CMD_DISC {
            break Ok(());
        }
        let has_payload = req.kind == CMD_WRITE;
        if let Err((error, message)) = conn.check(&req) {
            if has_payload {
                drain(&mut reader, u64::from(req.length)).await?;
            }
            if tx.send(conn.error(req.cookie, error, &message)).await.is_err() {
                break Ok(());
            }
            continue;
        }
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        let mib = (req.length.div_ceil(1 << 20)).clamp(1, MAX_IN_FLIGHT_MIB);
        let bytes = budget.clone().acquire_many_owned(mib).await.expect("never closed");
        let mut payload = Vec::new();
        if has_payload {
            payload = vec![0u8; req.length as usize];
            match tokio::time::timeout(PAYLOAD_TIMEOUT, reader.read_exact(&mut payload)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => break Err(e),
                Err(_) => break Err(io::Error::new(io::ErrorKind::TimedOut, "write payload timed out")),
            }
        }
        let mut admitted = None;
        if let Some(kind) = Conn::inline_candidate(&req)
            && slots.available_permits() == MAX_IN_FLIGHT - 1
        {
            let (queued, wait) = conn.handle.admit(kind, u64::from(req.length));
            if wait.is_zero()
                && let Some(reply) = conn.serve_inline(&req, &payload)
            {
                conn.inline.increment(1);
                drop((queued, slot, bytes));
                if tx.send(reply).await.is_err() {
                    break Ok(());
                }
                continue;
            }
            conn.inline_missed.increment(1);
            admitted = Some((queued, wait));
        }
        let (conn, tx) = (conn.clone(), tx.clone());
        tokio::spawn(async move {
            let reply = conn.serve(req, payload, admitted).await;
            let _ = tx.send(reply).await;
            drop((slot, bytes));
        });
    };
    // Let in-flight requests finish and their replies go out before closing.
    let _ = slots.acquire_many(MAX_IN_FLIGHT as u32).await;
    drop(tx);
    let _ = writer_task.await;
    result
}

async fn drain<R: AsyncRead + Unpin>(reader: &mut R, len: u64) -> io::Result<()> {
    let mut limited = reader.take(len);
    let copied = tokio::time::timeout(PAYLOAD_TIMEOUT, tokio::io::copy(&mut limited, &mut tokio::io::sink()))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "payload drain timed out"))??;
    if copied < len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "client closed mid-payload"));
    }
    Ok(())
}

async fn write_replies<W: AsyncWrite + Unpin>(writer: W, mut rx: mpsc::Receiver<Reply>) {
    let mut out = BufWriter::with_capacity(256 * 1024, writer);
    while let Some(reply) = rx.recv().await {
        let mut next = Some(reply);
        while let Some(reply) = next.take() {
            let written = match reply {
                Reply::Raw(bytes) => out.write_all(&bytes).await,
                Reply::Data(head, data) => match out.write_all(&head).await {
                    Ok(()) => out.write_all(&data).await,
                    Err(e) => Err(e),
                },
            };
            if written.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if out.flush().await.is_err() {
            return;
        }
    }
    let _ = out.shutdown().await;
}
