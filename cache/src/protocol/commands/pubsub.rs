//! SUBSCRIBE / PSUBSCRIBE / UNSUBSCRIBE / PUNSUBSCRIBE / PUBLISH / PUBSUB.

use bytes::Bytes;

use super::super::Server;
use super::super::conn::Client;
use super::super::resp::Out;
use super::{Command, Ctx, FAST, LOADING, NOSCRIPT, PUBSUB, STALE, plain};
use crate::engine::pubsub::Message;
use crate::engine::{CacheError, CacheResult};

pub fn commands() -> Vec<Command> {
    let g = "pubsub";
    vec![
        plain(g, "subscribe", -2, PUBSUB | LOADING | STALE | NOSCRIPT, subscribe),
        plain(g, "psubscribe", -2, PUBSUB | LOADING | STALE | NOSCRIPT, subscribe),
        plain(g, "unsubscribe", -1, PUBSUB | LOADING | STALE | NOSCRIPT, unsubscribe),
        plain(g, "punsubscribe", -1, PUBSUB | LOADING | STALE | NOSCRIPT, unsubscribe),
        plain(g, "publish", 3, PUBSUB | LOADING | STALE | FAST, publish),
        plain(g, "pubsub", -2, PUBSUB | LOADING | STALE, pubsub_cmd),
    ]
}

pub fn allowed_in_subscribe(name: &str) -> bool {
    matches!(name, "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ping" | "quit" | "reset")
}

fn ack(out: &mut Out, kind: &str, channel: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(kind.as_bytes());
    out.opt_bulk(channel);
    out.int(count as i64);
}

fn subscribe(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    if c.in_exec {
        return Err(CacheError::Other(format!(
            "ERR {} isn't allowed in this context",
            super::text(&a[0]).to_ascii_uppercase()
        )));
    }
    let pattern = super::eq(&a[0], "psubscribe");
    for ch in &a[1..] {
        c.srv.engine.pubsub.subscribe(c.client.info.id, ch.clone(), &c.client.subscriber, pattern);
        if pattern {
            c.client.patterns.insert(ch.clone());
        } else {
            c.client.channels.insert(ch.clone());
        }
        let n = c.client.subscriptions();
        ack(c.out, if pattern { "psubscribe" } else { "subscribe" }, Some(ch), n);
    }
    Ok(())
}

fn unsubscribe(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let pattern = super::eq(&a[0], "punsubscribe");
    let kind = if pattern { "punsubscribe" } else { "unsubscribe" };
    let targets: Vec<Bytes> = if a.len() > 1 {
        a[1..].to_vec()
    } else if pattern {
        c.client.patterns.iter().cloned().collect()
    } else {
        c.client.channels.iter().cloned().collect()
    };
    if targets.is_empty() {
        let n = c.client.subscriptions();
        ack(c.out, kind, None, n);
        return Ok(());
    }
    for ch in targets {
        c.srv.engine.pubsub.unsubscribe(c.client.info.id, &ch, pattern);
        if pattern {
            c.client.patterns.remove(&ch);
        } else {
            c.client.channels.remove(&ch);
        }
        let n = c.client.subscriptions();
        ack(c.out, kind, Some(&ch), n);
    }
    Ok(())
}

fn publish(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = c.srv.engine.pubsub.publish(&a[1], &a[2]);
    c.out.int(n as i64);
    Ok(())
}

fn pubsub_cmd(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let sub = super::text(&a[1]).to_ascii_lowercase();
    let ps = &c.srv.engine.pubsub;
    match sub.as_str() {
        "channels" if a.len() <= 3 => {
            let list = ps.channels(a.get(2).map(|p| p.as_ref()));
            c.out.array(list.len());
            for ch in list {
                c.out.bulk(&ch);
            }
        }
        "numsub" => {
            c.out.map(a.len() - 2);
            for ch in &a[2..] {
                c.out.bulk(ch);
                c.out.int(ps.numsub(ch) as i64);
            }
        }
        "numpat" if a.len() == 2 => c.out.int(ps.numpat() as i64),
        _ => {
            return Err(super::subcommand_error("pubsub", &a[1], &["channels", "numsub", "numpat"]));
        }
    }
    Ok(())
}

/// Writes a delivered message (a RESP3 push, or a RESP2 array).
pub fn write_message(out: &mut Out, m: &Message) {
    match m {
        Message::Message { channel, payload } => {
            out.push(3);
            out.bulk(b"message");
            out.bulk(channel);
            out.bulk(payload);
        }
        Message::PMessage { pattern, channel, payload } => {
            out.push(4);
            out.bulk(b"pmessage");
            out.bulk(pattern);
            out.bulk(channel);
            out.bulk(payload);
        }
    }
}

pub fn unsubscribe_all(srv: &Server, client: &mut Client) {
    for ch in client.channels.drain() {
        srv.engine.pubsub.unsubscribe(client.info.id, &ch, false);
    }
    for p in client.patterns.drain() {
        srv.engine.pubsub.unsubscribe(client.info.id, &p, true);
    }
}
