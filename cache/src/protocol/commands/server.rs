//! Connection and server commands: PING, ECHO, QUIT, RESET, SELECT, AUTH, HELLO, CLIENT, COMMAND,
//! TIME, SAVE/BGSAVE/LASTSAVE/BGREWRITEAOF. INFO and CONFIG live in `admin`.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{ADMIN, Command, Ctx, FAST, LOADING, NOAUTH, NOSCRIPT, STALE, WRITE, eq, flag_names, plain, table, text};
use crate::engine::{CacheError, CacheResult, DATABASES};
use crate::protocol::conn::Replies;

pub use super::admin::{config_cmd, info};

pub fn commands() -> Vec<Command> {
    let (g, c) = ("server", "connection");
    vec![
        plain(c, "ping", -1, FAST | STALE, ping),
        plain(c, "echo", 2, FAST, echo),
        plain(c, "quit", -1, NOAUTH | FAST | LOADING | STALE | NOSCRIPT, quit),
        plain(c, "reset", 1, NOAUTH | FAST | LOADING | STALE | NOSCRIPT, reset),
        plain(c, "select", 2, FAST | LOADING | STALE, select),
        plain(c, "auth", -2, NOAUTH | FAST | LOADING | STALE | NOSCRIPT, auth),
        plain(c, "hello", -1, NOAUTH | FAST | LOADING | STALE | NOSCRIPT, hello),
        plain(c, "client", -2, ADMIN | LOADING | STALE | NOSCRIPT, client),
        plain(g, "command", -1, LOADING | STALE, command),
        plain(g, "info", -1, LOADING | STALE, info),
        plain(g, "config", -2, ADMIN | LOADING | STALE | NOSCRIPT, config_cmd),
        plain(g, "time", 1, FAST | LOADING | STALE, time),
        plain(g, "save", 1, ADMIN | NOSCRIPT, save),
        plain(g, "bgsave", -1, ADMIN | NOSCRIPT, bgsave),
        plain(g, "lastsave", 1, FAST | LOADING | STALE, lastsave),
        plain(g, "bgrewriteaof", 1, ADMIN | NOSCRIPT, bgrewriteaof),
        plain(g, "memory", -2, 0, memory),
        plain(g, "swapdb", 3, WRITE | FAST, unsupported),
    ]
}

fn unsupported(_c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    Err(CacheError::Other(format!("ERR '{}' is not supported by this server", text(&a[0]))))
}

fn ping(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    if a.len() > 2 {
        return Err(CacheError::WrongArity("ping".into()));
    }
    if !c.client.resp3 && c.client.subscriptions() > 0 {
        c.out.array(2);
        c.out.bulk(b"pong");
        c.out.bulk(a.get(1).map_or(&b""[..], |m| m));
        return Ok(());
    }
    match a.get(1) {
        Some(m) => c.out.bulk(m),
        None => c.out.simple("PONG"),
    }
    Ok(())
}

fn echo(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    c.out.bulk(&a[1]);
    Ok(())
}

fn quit(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    c.out.ok();
    c.client.close_after_reply = true;
    Ok(())
}

fn reset(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    super::cleanup_client(c.srv, c.client);
    c.client.multi = None;
    c.client.db = 0;
    c.client.info.db.store(0, Ordering::Relaxed);
    c.client.resp3 = false;
    c.out.resp3 = false;
    c.client.authed = !c.srv.auth.needed();
    c.out.simple("RESET");
    Ok(())
}

fn select(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let db = super::int(&a[1])?;
    if db < 0 || db as usize >= DATABASES {
        return Err(CacheError::Other("ERR DB index is out of range".into()));
    }
    c.client.db = db as usize;
    c.client.info.db.store(db as usize, Ordering::Relaxed);
    c.out.ok();
    Ok(())
}

fn try_auth(c: &mut Ctx<'_>, user: Option<&[u8]>, pass: &[u8]) -> CacheResult<()> {
    if user.is_none() && !c.srv.auth.needed() {
        return Err(CacheError::Other(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
                .into(),
        ));
    }
    // Without a password the default user is `nopass`: any password logs it in, as in Redis.
    if user == Some(&b"default"[..]) && !c.srv.auth.needed() {
        c.client.authed = true;
        return Ok(());
    }
    if !c.srv.auth.check(user, pass) {
        return Err(CacheError::Other("WRONGPASS invalid username-password pair or user is disabled.".into()));
    }
    c.client.authed = true;
    Ok(())
}

fn auth(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    match a.len() {
        2 => try_auth(c, None, &a[1])?,
        3 => try_auth(c, Some(&a[1]), &a[2])?,
        _ => return Err(CacheError::Syntax),
    }
    c.out.ok();
    Ok(())
}

fn hello(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let mut proto = if c.client.resp3 { 3 } else { 2 };
    let mut i = 1;
    if a.len() > 1 {
        match super::int(&a[1]) {
            Ok(v @ 2..=3) => proto = v,
            Ok(_) => return Err(CacheError::Other("NOPROTO unsupported protocol version".into())),
            Err(_) => return Err(CacheError::Other("ERR Protocol version is not an integer or out of range".into())),
        }
        i = 2;
    }
    while i < a.len() {
        if eq(&a[i], "auth") && i + 2 < a.len() {
            let (u, p) = (a[i + 1].clone(), a[i + 2].clone());
            try_auth(c, Some(&u), &p)?;
            i += 3;
        } else if eq(&a[i], "setname") && i + 1 < a.len() {
            set_name(c, &a[i + 1])?;
            i += 2;
        } else {
            return Err(CacheError::Other(format!("ERR Syntax error in HELLO option '{}'", text(&a[i]))));
        }
    }
    if !c.client.authed {
        return Err(CacheError::Other("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()));
    }
    c.client.resp3 = proto == 3;
    c.out.resp3 = c.client.resp3;
    c.out.map(7);
    c.out.bulk(b"server");
    c.out.bulk(b"redis");
    c.out.bulk(b"version");
    c.out.bulk(super::admin::VERSION.as_bytes());
    c.out.bulk(b"proto");
    c.out.int(proto);
    c.out.bulk(b"id");
    c.out.int(c.client.info.id as i64);
    c.out.bulk(b"mode");
    c.out.bulk(b"standalone");
    c.out.bulk(b"role");
    c.out.bulk(b"master");
    c.out.bulk(b"modules");
    c.out.array(0);
    Ok(())
}

fn set_name(c: &mut Ctx<'_>, name: &[u8]) -> CacheResult<()> {
    if name.iter().any(|&b| b <= b' ' || b > b'~') {
        return Err(CacheError::Other(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        ));
    }
    *c.client.info.name.lock() = if name.is_empty() { None } else { Some(Bytes::copy_from_slice(name)) };
    Ok(())
}

fn client_line(srv: &crate::protocol::Server, info: &crate::protocol::ClientInfo) -> String {
    let name = info.name.lock().as_ref().map(|n| text(n)).unwrap_or_default();
    let age = info.created.elapsed().as_secs();
    let _ = srv;
    format!(
        "id={} addr={} laddr={} fd=0 name={} age={} idle=0 flags=N db={} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp=2\n",
        info.id,
        info.addr,
        info.laddr,
        name,
        age,
        info.db.load(Ordering::Relaxed),
        super::last_command_name(info)
    )
}

fn client(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let sub = text(&a[1]).to_ascii_lowercase();
    let bad = || {
        super::subcommand_error(
            "client",
            &a[1],
            &["id", "setname", "getname", "setinfo", "no-evict", "no-touch", "reply", "info", "list", "kill"],
        )
    };
    match sub.as_str() {
        "id" if a.len() == 2 => c.out.int(c.client.info.id as i64),
        "setname" if a.len() == 3 => {
            set_name(c, &a[2])?;
            c.out.ok();
        }
        "getname" if a.len() == 2 => {
            let n = c.client.info.name.lock().clone();
            c.out.opt_bulk(n.as_deref());
        }
        "setinfo" if a.len() == 4 => c.out.ok(),
        "no-evict" | "no-touch" if a.len() == 3 => c.out.ok(),
        "reply" if a.len() == 3 => match text(&a[2]).to_ascii_lowercase().as_str() {
            "on" => {
                c.client.replies = Replies::On;
                c.out.ok();
            }
            "off" => c.client.replies = Replies::Off,
            "skip" => c.client.replies = Replies::SkipNext,
            _ => return Err(CacheError::Syntax),
        },
        "info" if a.len() == 2 => {
            let line = client_line(c.srv, &c.client.info);
            c.out.verbatim(&line);
        }
        "list" => {
            let clients: Vec<_> = c.srv.clients.lock().values().cloned().collect();
            let mut s = String::new();
            for info in clients {
                s.push_str(&client_line(c.srv, &info));
            }
            c.out.verbatim(&s);
        }
        "kill" if a.len() >= 3 => {
            let clients: Vec<_> = c.srv.clients.lock().values().cloned().collect();
            let mut killed = 0;
            if a.len() == 3 {
                let addr = text(&a[2]);
                for info in &clients {
                    if info.addr.to_string() == addr {
                        kill(info);
                        killed += 1;
                    }
                }
                if killed == 0 {
                    return Err(CacheError::Other("ERR No such client".into()));
                }
                c.out.ok();
                return Ok(());
            }
            let mut skipme = true;
            let mut filters: Vec<(String, String)> = Vec::new();
            for pair in a[2..].chunks(2) {
                if pair.len() != 2 {
                    return Err(CacheError::Syntax);
                }
                let k = text(&pair[0]).to_ascii_lowercase();
                let v = text(&pair[1]);
                if k == "skipme" {
                    skipme = v.eq_ignore_ascii_case("yes");
                } else if matches!(k.as_str(), "id" | "addr" | "laddr" | "type" | "user") {
                    filters.push((k, v));
                } else {
                    return Err(CacheError::Syntax);
                }
            }
            for info in &clients {
                if skipme && info.id == c.client.info.id {
                    continue;
                }
                let ok = filters.iter().all(|(k, v)| match k.as_str() {
                    "id" => info.id.to_string() == *v,
                    "addr" => info.addr.to_string() == *v,
                    "laddr" => info.laddr.to_string() == *v,
                    "user" => v == "default",
                    _ => v == "normal" || v == "pubsub",
                });
                if ok {
                    kill(info);
                    killed += 1;
                }
            }
            c.out.int(killed);
        }
        _ => return Err(bad()),
    }
    Ok(())
}

fn kill(info: &crate::protocol::ClientInfo) {
    info.killed.store(true, Ordering::Release);
    // Every future the connection holds on `kill` wakes (its main loop and a blocked pop each keep
    // one registered for their whole life rather than re-registering per request).
    info.kill.notify_waiters();
}

fn command_info(c: &mut Ctx<'_>, cmd: &Command) {
    let flags = flag_names(cmd.flags);
    let (first, last, step) = cmd.key_range();
    c.out.array(10);
    c.out.bulk(cmd.name.as_bytes());
    c.out.int(cmd.arity as i64);
    c.out.set(flags.len());
    for f in flags {
        c.out.simple(f);
    }
    c.out.int(first as i64);
    c.out.int(last as i64);
    c.out.int(step as i64);
    c.out.set(1);
    // The ACL category of the command's documentation group (Redis spells a few differently).
    let category = match cmd.group {
        "sorted-set" => "sortedset",
        "generic" => "keyspace",
        "transactions" => "transaction",
        other => other,
    };
    c.out.simple(&format!("@{category}"));
    c.out.set(0);
    c.out.array(0);
    c.out.array(0);
}

fn command(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let t = table();
    if a.len() == 1 {
        c.out.array(t.commands.len());
        for cmd in &t.commands {
            command_info(c, cmd);
        }
        return Ok(());
    }
    let sub = text(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "count" => c.out.int(t.commands.len() as i64),
        "list" => {
            c.out.array(t.commands.len());
            for cmd in &t.commands {
                c.out.bulk(cmd.name.as_bytes());
            }
        }
        "info" => {
            let names: Vec<&Bytes> = if a.len() > 2 { a[2..].iter().collect() } else { Vec::new() };
            if names.is_empty() {
                c.out.array(t.commands.len());
                for cmd in &t.commands {
                    command_info(c, cmd);
                }
            } else {
                c.out.array(names.len());
                for n in names {
                    match super::lookup(n) {
                        Some(cmd) => command_info(c, cmd),
                        None => c.out.null_array(),
                    }
                }
            }
        }
        "docs" => {
            let cmds: Vec<&Command> = if a.len() > 2 {
                a[2..].iter().filter_map(|n| super::lookup(n)).collect()
            } else {
                t.commands.iter().collect()
            };
            c.out.map(cmds.len());
            for cmd in cmds {
                c.out.bulk(cmd.name.as_bytes());
                c.out.map(3);
                c.out.bulk(b"summary");
                c.out.bulk(format!("The {} command", cmd.name.to_ascii_uppercase()).as_bytes());
                c.out.bulk(b"since");
                c.out.bulk(b"1.0.0");
                c.out.bulk(b"group");
                c.out.bulk(cmd.group.as_bytes());
            }
        }
        "getkeys" if a.len() > 2 => {
            let cmd = super::lookup(&a[2]).ok_or(CacheError::Other("ERR Invalid command specified".into()))?;
            let keys = cmd.keys_of(&a[2..]);
            if keys.is_empty() && cmd.flags & super::NO_MANDATORY_KEYS == 0 {
                return Err(CacheError::Other("ERR The command has no key arguments".into()));
            }
            c.out.array(keys.len());
            for k in keys {
                c.out.bulk(k);
            }
        }
        _ => {
            return Err(super::subcommand_error("command", &a[1], &["count", "list", "info", "docs", "getkeys"]));
        }
    }
    Ok(())
}

fn time(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    let us = c.srv.engine.clock.wall().unix_timestamp_nanos() / 1000;
    c.out.array(2);
    c.out.bulk_int((us / 1_000_000) as i64);
    c.out.bulk_int((us % 1_000_000) as i64);
    Ok(())
}

fn save(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    if c.in_exec {
        return Err(CacheError::Other("ERR Command not allowed inside a transaction".into()));
    }
    c.srv.persistence.save(&c.srv.engine).map_err(|e| CacheError::Other(format!("ERR {e}")))?;
    c.out.ok();
    Ok(())
}

fn bgsave(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    if a.len() > 2 || (a.len() == 2 && !eq(&a[1], "schedule")) {
        return Err(CacheError::Syntax);
    }
    if c.in_exec {
        return Err(CacheError::Other("ERR Command not allowed inside a transaction".into()));
    }
    if !c.srv.persistence.bgsave(c.srv.engine.clone()) {
        return Err(CacheError::Other("ERR Background save already in progress".into()));
    }
    c.out.simple("Background saving started");
    Ok(())
}

fn lastsave(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    c.out.int(c.srv.persistence.last_save() as i64);
    Ok(())
}

fn bgrewriteaof(c: &mut Ctx<'_>, _a: &[Bytes]) -> CacheResult<()> {
    if c.in_exec {
        return Err(CacheError::Other("ERR Command not allowed inside a transaction".into()));
    }
    c.srv.persistence.rewrite_aof(&c.srv.engine).map_err(|e| CacheError::Other(format!("ERR {e}")))?;
    c.out.simple("Background append only file rewriting started");
    Ok(())
}

fn memory(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let sub = text(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "usage" if a.len() >= 3 && c.in_exec => {
            return Err(CacheError::Other("ERR Command not allowed inside a transaction".into()));
        }
        "usage" if a.len() >= 3 => {
            let mut v = c.srv.engine.lock_keys(c.client.db, [&a[2]]);
            match v.peek(&a[2]) {
                None => c.out.null(),
                Some(e) => {
                    let size = crate::store::snapshot::approx_size(&e.value) + a[2].len() + 64;
                    c.out.int(size as i64)
                }
            }
        }
        _ => {
            return Err(super::subcommand_error("memory", &a[1], &["usage"]));
        }
    }
    Ok(())
}
