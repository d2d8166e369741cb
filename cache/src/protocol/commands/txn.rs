//! MULTI / EXEC / DISCARD / WATCH / UNWATCH: optimistic transactions. EXEC locks every shard, checks
//! that no WATCHed key changed (writers flag watchers under the shard lock), then runs the queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use super::super::Server;
use super::super::conn::Client;
use super::{Command, Ctx, FAST, LOADING, NOSCRIPT, STALE, execute, keyed, lookup, plain};
use crate::engine::{CacheError, CacheResult, View};

pub fn commands() -> Vec<Command> {
    let g = "transactions";
    vec![
        plain(g, "multi", 1, FAST | LOADING | STALE | NOSCRIPT, multi),
        plain(g, "exec", 1, LOADING | STALE | NOSCRIPT, exec),
        plain(g, "discard", 1, FAST | LOADING | STALE | NOSCRIPT, discard),
        keyed(g, "watch", -2, FAST | LOADING | STALE | NOSCRIPT, (1, -1, 1), watch),
        plain(g, "unwatch", 1, FAST | LOADING | STALE | NOSCRIPT, unwatch),
    ]
}

fn multi(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    if c.client.multi.is_some() {
        return Err(CacheError::Other("ERR MULTI calls can not be nested".into()));
    }
    c.client.multi = Some(Vec::new());
    c.client.multi_failed = false;
    c.out.ok();
    Ok(())
}

fn discard(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    if c.client.multi.take().is_none() {
        return Err(CacheError::Other("ERR DISCARD without MULTI".into()));
    }
    unwatch_all(c.srv, c.client);
    c.out.ok();
    Ok(())
}

fn exec(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    let Some(queue) = c.client.multi.take() else {
        return Err(CacheError::Other("ERR EXEC without MULTI".into()));
    };
    if c.client.multi_failed {
        unwatch_all(c.srv, c.client);
        return Err(CacheError::Other("EXECABORT Transaction discarded because of previous errors.".into()));
    }
    let srv = c.srv;
    {
        let mut view = srv.engine.lock_all(c.client.db);
        if c.client.watch_dirty.load(Ordering::Acquire) {
            drop(view);
            unwatch_all(srv, c.client);
            c.out.null_array();
            return Ok(());
        }
        c.out.array(queue.len());
        for args in &queue {
            let cmd = lookup(&args[0]).expect("queued commands are known");
            if cmd.name == "unwatch" {
                // EXEC unwatches every key once it is done (as Redis does); unwatching here would
                // lock a shard this thread already holds, and hang every client.
                c.out.ok();
                continue;
            }
            // Blocking commands never block inside a transaction.
            let _ = execute(srv, c.client, c.out, cmd, args, Some(&mut view));
            view.db = c.client.db;
        }
    }
    unwatch_all(srv, c.client);
    Ok(())
}

fn watch(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    if c.client.multi.is_some() {
        return Err(CacheError::Other("ERR WATCH inside MULTI is not allowed".into()));
    }
    let flag = c.client.watch_dirty.clone();
    for k in &a[1..] {
        // Touch expiry first, so a key that already expired is not "modified" later by its expiry.
        v.exists(k);
        let shard = v.shard(k);
        let list = shard.watchers.entry(k.as_ref().into()).or_default();
        if !list.iter().any(|f| Arc::ptr_eq(f, &flag)) {
            list.push(flag.clone());
            c.client.watched.push((v.db, k.as_ref().into()));
        }
    }
    c.out.ok();
    Ok(())
}

fn unwatch(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    unwatch_all(c.srv, c.client);
    c.out.ok();
    Ok(())
}

pub fn unwatch_all(srv: &Server, client: &mut Client) {
    let flag = client.watch_dirty.clone();
    for (db, key) in client.watched.drain(..) {
        let slot = srv.engine.slot(db, &key);
        let mut shard = srv.engine.lock_slot(slot);
        if let Some(list) = shard.watchers.get_mut(&key) {
            list.retain(|f| !Arc::ptr_eq(f, &flag));
            if list.is_empty() {
                shard.watchers.remove(&key);
            }
        }
    }
    client.watch_dirty = Arc::new(AtomicBool::new(false));
}
