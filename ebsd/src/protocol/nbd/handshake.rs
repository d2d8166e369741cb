//! The fixed newstyle handshake: options until the client picks an export (GO or EXPORT_NAME),
//! asks for INFO / LIST, negotiates structured replies and the base:allocation meta context, or aborts.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::wire::*;
use crate::engine::volume::GIB;
use tokio_util::sync::CancellationToken;

use crate::engine::{Export, ExportError, VolumeEngine, VolumeHandle};

/// Each read of the handshake must arrive within this long.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest option payload we read; longer ones are discarded and refused.
const MAX_OPTION: u32 = 64 * 1024;
/// Options one connection may send before it must pick an export.
const MAX_OPTIONS: usize = 1_000;

/// What the handshake settled on.
pub struct Negotiated {
    pub handle: Arc<VolumeHandle>,
    /// Cancelled when the volume is detached.
    pub session: CancellationToken,
    /// Export size as told to the client: requests are checked against it.
    pub size: u64,
    pub structured: bool,
    pub base_allocation: bool,
}

async fn read_exact<S: AsyncRead + Unpin>(s: &mut S, buf: &mut [u8]) -> io::Result<()> {
    match tokio::time::timeout(READ_TIMEOUT, s.read_exact(buf)).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "handshake read timed out")),
    }
}

async fn read_u32<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<u32> {
    let mut b = [0u8; 4];
    read_exact(s, &mut b).await?;
    Ok(u32::from_be_bytes(b))
}

/// The transmission flags of an export.
pub fn transmission_flags(handle: &VolumeHandle) -> u16 {
    let mut flags = TF_HAS_FLAGS
        | TF_SEND_FLUSH
        | TF_SEND_FUA
        | TF_SEND_TRIM
        | TF_SEND_WRITE_ZEROES
        | TF_SEND_DF
        | TF_CAN_MULTI_CONN
        | TF_SEND_CACHE;
    if handle.rotational() {
        flags |= TF_ROTATIONAL;
    }
    flags
}

/// A reader over an option's payload.
struct Payload<'a> {
    data: &'a [u8],
}

impl Payload<'_> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.data.split_at_checked(4)?;
        self.data = rest;
        Some(u32::from_be_bytes(head.try_into().ok()?))
    }
    fn u16(&mut self) -> Option<u16> {
        let (head, rest) = self.data.split_at_checked(2)?;
        self.data = rest;
        Some(u16::from_be_bytes(head.try_into().ok()?))
    }
    fn string(&mut self, len: usize) -> Option<String> {
        let (head, rest) = self.data.split_at_checked(len)?;
        self.data = rest;
        String::from_utf8(head.to_vec()).ok()
    }
}

/// Runs the handshake; `Ok(None)` when the client ends it without choosing an export.
pub async fn negotiate<S>(stream: &mut S, engine: &VolumeEngine) -> io::Result<Option<Negotiated>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut hello = Vec::with_capacity(18);
    hello.extend_from_slice(&NBDMAGIC.to_be_bytes());
    hello.extend_from_slice(&IHAVEOPT.to_be_bytes());
    hello.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    stream.write_all(&hello).await?;
    let client_flags = read_u32(stream).await?;
    if client_flags & !(CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES) != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "unknown client flags"));
    }
    let no_zeroes = client_flags & CLIENT_NO_ZEROES != 0;
    let mut structured = false;
    let mut base_allocation = false;
    for _ in 0..MAX_OPTIONS {
        let mut head = [0u8; 16];
        read_exact(stream, &mut head).await?;
        if u64::from_be_bytes(head[0..8].try_into().unwrap()) != IHAVEOPT {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "bad option magic"));
        }
        let option = u32::from_be_bytes(head[8..12].try_into().unwrap());
        let len = u32::from_be_bytes(head[12..16].try_into().unwrap());
        if len > MAX_OPTION {
            // Drain it (bounded memory) and refuse; EXPORT_NAME cannot be answered, so it ends the session.
            let mut sink = tokio::io::sink();
            let mut limited = (&mut *stream).take(u64::from(len));
            tokio::time::timeout(READ_TIMEOUT, tokio::io::copy(&mut limited, &mut sink))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "option drain timed out"))??;
            if option == OPT_EXPORT_NAME {
                return Ok(None);
            }
            stream.write_all(&option_reply(option, REP_ERR_TOO_BIG, b"option too long")).await?;
            continue;
        }
        let mut data = vec![0u8; len as usize];
        read_exact(stream, &mut data).await?;
        let reply = |kind: u32, msg: &str| option_reply(option, kind, msg.as_bytes());
        match option {
            OPT_EXPORT_NAME => {
                let name = String::from_utf8_lossy(&data).into_owned();
                let Ok(Export { handle, session }) = engine.open_export(&name) else {
                    // EXPORT_NAME has no error reply: the only answer is to close.
                    tracing::info!(export = %name, "nbd client asked for an unavailable export");
                    return Ok(None);
                };
                let size = handle.size();
                let mut out = Vec::with_capacity(10 + 124);
                out.extend_from_slice(&size.to_be_bytes());
                out.extend_from_slice(&transmission_flags(&handle).to_be_bytes());
                if !no_zeroes {
                    out.extend_from_slice(&[0u8; 124]);
                }
                stream.write_all(&out).await?;
                return Ok(Some(Negotiated { handle, session, size, structured, base_allocation }));
            }
            OPT_ABORT => {
                stream.write_all(&reply(REP_ACK, "")).await?;
                return Ok(None);
            }
            OPT_LIST => {
                if !data.is_empty() {
                    stream.write_all(&reply(REP_ERR_INVALID, "NBD_OPT_LIST takes no data")).await?;
                    continue;
                }
                let names = engine.list_exports().unwrap_or_default();
                let mut out = Vec::new();
                for name in names {
                    let mut entry = (name.len() as u32).to_be_bytes().to_vec();
                    entry.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(&option_reply(option, REP_SERVER, &entry));
                }
                out.extend_from_slice(&reply(REP_ACK, ""));
                stream.write_all(&out).await?;
            }
            OPT_STRUCTURED_REPLY => {
                if !data.is_empty() {
                    stream.write_all(&reply(REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data")).await?;
                    continue;
                }
                structured = true;
                stream.write_all(&reply(REP_ACK, "")).await?;
            }
            OPT_INFO | OPT_GO => {
                let mut p = Payload { data: &data };
                let parsed = (|| {
                    let name_len = p.u32()? as usize;
                    let name = p.string(name_len)?;
                    let n = p.u16()?;
                    let wanted: Option<Vec<u16>> = (0..n).map(|_| p.u16()).collect();
                    p.data.is_empty().then_some((name, wanted?))
                })();
                let Some((name, wanted)) = parsed else {
                    stream.write_all(&reply(REP_ERR_INVALID, "malformed NBD_OPT_INFO/GO request")).await?;
                    continue;
                };
                let Export { handle, session } = match engine.open_export(&name) {
                    Ok(export) => export,
                    Err(e @ ExportError::Unknown(_)) => {
                        stream.write_all(&reply(REP_ERR_UNKNOWN, &e.to_string())).await?;
                        continue;
                    }
                    Err(e @ ExportError::NotAttached(_)) => {
                        let msg = format!("{e}; attach it with AttachVolume first");
                        stream.write_all(&reply(REP_ERR_POLICY, &msg)).await?;
                        continue;
                    }
                };
                let size = handle.size();
                let mut out = Vec::new();
                let mut export = INFO_EXPORT.to_be_bytes().to_vec();
                export.extend_from_slice(&size.to_be_bytes());
                export.extend_from_slice(&transmission_flags(&handle).to_be_bytes());
                out.extend_from_slice(&option_reply(option, REP_INFO, &export));
                let mut block = INFO_BLOCK_SIZE.to_be_bytes().to_vec();
                for v in [MIN_BLOCK, PREFERRED_BLOCK, MAX_PAYLOAD] {
                    block.extend_from_slice(&v.to_be_bytes());
                }
                out.extend_from_slice(&option_reply(option, REP_INFO, &block));
                if wanted.contains(&INFO_NAME) {
                    let mut info = INFO_NAME.to_be_bytes().to_vec();
                    info.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(&option_reply(option, REP_INFO, &info));
                }
                if wanted.contains(&INFO_DESCRIPTION) {
                    let mut info = INFO_DESCRIPTION.to_be_bytes().to_vec();
                    info.extend_from_slice(format!("EBS volume {name}, {} GiB", size / GIB).as_bytes());
                    out.extend_from_slice(&option_reply(option, REP_INFO, &info));
                }
                out.extend_from_slice(&reply(REP_ACK, ""));
                stream.write_all(&out).await?;
                if option == OPT_GO {
                    return Ok(Some(Negotiated { handle, session, size, structured, base_allocation }));
                }
            }
            OPT_LIST_META_CONTEXT | OPT_SET_META_CONTEXT => {
                if !structured {
                    stream.write_all(&reply(REP_ERR_INVALID, "structured replies must be negotiated first")).await?;
                    continue;
                }
                let mut p = Payload { data: &data };
                let parsed = (|| {
                    let name_len = p.u32()? as usize;
                    let name = p.string(name_len)?;
                    let n = p.u32()?;
                    let mut queries = Vec::new();
                    for _ in 0..n {
                        let len = p.u32()? as usize;
                        queries.push(p.string(len)?);
                    }
                    p.data.is_empty().then_some((name, queries))
                })();
                let Some((name, queries)) = parsed else {
                    stream.write_all(&reply(REP_ERR_INVALID, "malformed meta context request")).await?;
                    continue;
                };
                if option == OPT_SET_META_CONTEXT && matches!(engine.open_export(&name), Err(ExportError::Unknown(_))) {
                    stream.write_all(&reply(REP_ERR_UNKNOWN, &format!("no volume named {name:?}"))).await?;
                    continue;
                }
                let selected = if option == OPT_LIST_META_CONTEXT {
                    queries.is_empty() || queries.iter().any(|q| q == "base:" || q == BASE_ALLOCATION)
                } else {
                    queries.iter().any(|q| q == BASE_ALLOCATION)
                };
                let mut out = Vec::new();
                if selected {
                    let mut ctx = BASE_ALLOCATION_ID.to_be_bytes().to_vec();
                    ctx.extend_from_slice(BASE_ALLOCATION.as_bytes());
                    out.extend_from_slice(&option_reply(option, REP_META_CONTEXT, &ctx));
                }
                if option == OPT_SET_META_CONTEXT {
                    base_allocation = selected;
                }
                out.extend_from_slice(&reply(REP_ACK, ""));
                stream.write_all(&out).await?;
            }
            _ => stream.write_all(&reply(REP_ERR_UNSUP, "option not supported")).await?,
        }
    }
    Ok(None)
}
