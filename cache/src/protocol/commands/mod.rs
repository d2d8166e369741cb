//! The Redis command table and dispatcher: arity and auth checks, MULTI queueing, locking the keys'
//! shards, OOM checks, AOF propagation, and the one place engine errors become Redis error text.

pub mod admin;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod strings;
pub mod txn;
pub mod zsets;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::Server;
use super::conn::{Client, Replies};
use super::resp::Out;
use crate::engine::keyspace::Blob;
use crate::engine::{CacheError, CacheResult, View};

pub const WRITE: u32 = 1;
pub const READONLY: u32 = 1 << 1;
pub const DENYOOM: u32 = 1 << 2;
pub const FAST: u32 = 1 << 3;
pub const ADMIN: u32 = 1 << 4;
pub const PUBSUB: u32 = 1 << 5;
pub const NOAUTH: u32 = 1 << 6;
pub const BLOCKING: u32 = 1 << 7;
pub const LOADING: u32 = 1 << 8;
pub const STALE: u32 = 1 << 9;
/// The keys follow a count argument (ZUNION, SINTERCARD…): COMMAND INFO says so, GETKEYS reads it.
pub const MOVABLEKEYS: u32 = 1 << 10;
/// Refused inside a Lua script (`redis.call`), with Redis's "not allowed from script".
pub const NOSCRIPT: u32 = 1 << 11;
/// Only reported by COMMAND INFO (EVAL's flags in Redis).
pub const SKIP_MONITOR: u32 = 1 << 12;
pub const NO_MANDATORY_KEYS: u32 = 1 << 13;

const FLAG_NAMES: [(u32, &str); 14] = [
    (WRITE, "write"),
    (READONLY, "readonly"),
    (DENYOOM, "denyoom"),
    (FAST, "fast"),
    (ADMIN, "admin"),
    (PUBSUB, "pubsub"),
    (NOSCRIPT, "noscript"),
    (NOAUTH, "no_auth"),
    (BLOCKING, "blocking"),
    (LOADING, "loading"),
    (STALE, "stale"),
    (SKIP_MONITOR, "skip_monitor"),
    (NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (MOVABLEKEYS, "movablekeys"),
];

pub enum Flow {
    Done,
    Block(Blocked),
    /// A script for the Lua thread: the connection awaits its reply (see `crate::scripting`).
    Script(crate::scripting::Job),
}

/// A pop that found nothing and may wait.
pub struct Blocked {
    pub keys: Vec<Blob>,
    pub timeout: Option<Duration>,
    pub args: Vec<Bytes>,
    /// CLIENT REPLY OFF or SKIP was in force when it blocked: its eventual reply (the popped element
    /// or the timeout's nil) is dropped too, as Redis does.
    pub quiet: bool,
}

pub struct Ctx<'a> {
    pub srv: &'a Server,
    pub client: &'a mut Client,
    pub out: &'a mut Out,
    /// What the AOF records instead of the command itself (SPOP → SREM, relative → absolute TTLs).
    pub propagate: Option<Vec<Vec<Bytes>>>,
    pub in_exec: bool,
    pub block: Option<Blocked>,
    /// A script the connection must hand to the Lua thread.
    pub script: Option<crate::scripting::Job>,
}

pub type KeyedFn = fn(&mut Ctx<'_>, &mut View<'_>, &[Bytes]) -> CacheResult<()>;
pub type PlainFn = fn(&mut Ctx<'_>, &[Bytes]) -> CacheResult<()>;
/// EVAL and friends: given EXEC's view when inside one, else nothing locked (the script takes
/// every shard itself, on the Lua thread).
pub type ScriptFn = fn(&mut Ctx<'_>, Option<&mut View<'_>>, &[Bytes]) -> CacheResult<()>;

#[derive(Clone, Copy)]
pub enum Handler {
    Keyed(KeyedFn),
    Plain(PlainFn),
    Script(ScriptFn),
}

/// Which shards a command locks: its keys (first, last, step; last < 0 counts from the end), a whole
/// database, or everything.
#[derive(Clone, Copy)]
pub enum Lock {
    Keys(i32, i32, i32),
    Db,
    All,
    None,
}

pub struct Command {
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    pub lock: Lock,
    pub handler: Handler,
    pub group: &'static str,
    /// The (first, last, step) COMMAND INFO reports when it is not the lock's (a command locking
    /// more than its keys, or locking every shard).
    pub info_keys: Option<(i32, i32, i32)>,
}

impl Command {
    /// Reports `keys` as the command's key range in COMMAND INFO / GETKEYS.
    pub fn info_keys(mut self, keys: (i32, i32, i32)) -> Command {
        self.info_keys = Some(keys);
        self
    }

    /// The (first, last, step) of COMMAND INFO.
    pub fn key_range(&self) -> (i32, i32, i32) {
        if let Some(k) = self.info_keys {
            return k;
        }
        match self.lock {
            Lock::Keys(f, l, s) => (f, l, s),
            _ => (0, 0, 0),
        }
    }

    /// The key arguments of a request (COMMAND GETKEYS): a MOVABLEKEYS command's follow its count
    /// (after the destination of a *STORE, which its key range names).
    pub fn keys_of<'a>(&self, args: &'a [Bytes]) -> Vec<&'a Bytes> {
        let (first, last, step) = self.key_range();
        let mut keys: Vec<&Bytes> = if first > 0 { key_args(args, first, last, step).collect() } else { Vec::new() };
        if self.flags & MOVABLEKEYS != 0 {
            // The count follows the fixed keys, or (EVAL's) the script.
            let at = if self.group == "scripting" { 2 } else { keys.len() + 1 };
            let n = args.get(at).and_then(|n| crate::engine::strings::parse_int(n)).unwrap_or(0).max(0) as usize;
            keys.extend(args.iter().skip(at + 1).take(n));
        }
        keys
    }
}

pub fn keyed(
    group: &'static str,
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    f: KeyedFn,
) -> Command {
    Command {
        name,
        arity,
        flags,
        lock: Lock::Keys(keys.0, keys.1, keys.2),
        handler: Handler::Keyed(f),
        group,
        info_keys: None,
    }
}
pub fn whole_db(group: &'static str, name: &'static str, arity: i32, flags: u32, f: KeyedFn) -> Command {
    Command { name, arity, flags, lock: Lock::Db, handler: Handler::Keyed(f), group, info_keys: None }
}
pub fn everything(group: &'static str, name: &'static str, arity: i32, flags: u32, f: KeyedFn) -> Command {
    Command { name, arity, flags, lock: Lock::All, handler: Handler::Keyed(f), group, info_keys: None }
}
pub fn plain(group: &'static str, name: &'static str, arity: i32, flags: u32, f: PlainFn) -> Command {
    Command { name, arity, flags, lock: Lock::None, handler: Handler::Plain(f), group, info_keys: None }
}

pub struct Table {
    pub commands: Vec<Command>,
    by_name: HashMap<&'static [u8], usize, foldhash::fast::RandomState>,
}

pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut commands = Vec::new();
        commands.extend(strings::commands());
        commands.extend(keys::commands());
        commands.extend(hashes::commands());
        commands.extend(lists::commands());
        commands.extend(sets::commands());
        commands.extend(zsets::commands());
        commands.extend(server::commands());
        commands.extend(txn::commands());
        commands.extend(pubsub::commands());
        commands.extend(scripting::commands());
        let by_name = commands.iter().enumerate().map(|(i, c)| (c.name.as_bytes(), i)).collect();
        Table { commands, by_name }
    })
}

pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    let mut lower = [0u8; 32];
    if name.len() > lower.len() {
        return None;
    }
    for (d, s) in lower.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let t = table();
    t.by_name.get(&lower[..name.len()]).map(|&i| &t.commands[i])
}

/// Where `cmd` (a reference into the command table) sits in it.
fn table_index(cmd: &'static Command) -> usize {
    let base = table().commands.as_ptr() as usize;
    (cmd as *const Command as usize - base) / size_of::<Command>()
}

/// `argc` (the name included) fits `cmd`'s arity: exactly n when positive, at least -n when negative.
pub(crate) fn arity_ok(cmd: &Command, argc: usize) -> bool {
    let n = argc as i32;
    (cmd.arity > 0 && n == cmd.arity) || (cmd.arity < 0 && n >= -cmd.arity)
}

/// Records `cmd` as the client's last command (CLIENT LIST's `cmd=`, and the next lookup's guess).
fn remember(client: &mut Client, cmd: &'static Command) {
    client.info.last_cmd.store(table_index(cmd) + 1, Ordering::Relaxed);
    client.last_command = Some(cmd);
}

/// What CLIENT LIST shows as `cmd=` for a connection.
pub fn last_command_name(info: &super::ClientInfo) -> &'static str {
    match info.last_cmd.load(Ordering::Relaxed) {
        0 => "NULL",
        i => table().commands.get(i - 1).map_or("NULL", |c| c.name),
    }
}

pub fn flag_names(flags: u32) -> Vec<&'static str> {
    FLAG_NAMES.iter().filter(|(f, _)| flags & f != 0).map(|(_, n)| *n).collect()
}

/// The Redis text of every engine error (the only place this mapping lives).
pub fn wire_error(e: &CacheError, cmd: &str) -> String {
    match e {
        CacheError::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value".into(),
        CacheError::NotInteger => "ERR value is not an integer or out of range".into(),
        CacheError::NotFloat => "ERR value is not a valid float".into(),
        CacheError::Overflow => "ERR increment or decrement would overflow".into(),
        CacheError::NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
        CacheError::Syntax => "ERR syntax error".into(),
        CacheError::WrongArity(name) => format!("ERR wrong number of arguments for '{name}' command"),
        CacheError::NoSuchKey => "ERR no such key".into(),
        CacheError::IndexOutOfRange => "ERR index out of range".into(),
        CacheError::OutOfMemory => "OOM command not allowed when used memory > 'maxmemory'.".into(),
        CacheError::StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into(),
        CacheError::InvalidExpire => format!("ERR invalid expire time in '{cmd}' command"),
        CacheError::NotPositive => "ERR value is out of range, must be positive".into(),
        CacheError::BadTimeout => "ERR timeout is not a float or out of range".into(),
        CacheError::Other(s) => s.clone(),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Where the first key of a request named `name` with `argc` arguments is, if the command has keys
/// (used to prefetch a pipelined batch's keys; the previous command is tried before the table).
pub fn first_key_index(last: Option<&'static Command>, name: &[u8], argc: usize) -> Option<usize> {
    let cmd = last.filter(|c| name.eq_ignore_ascii_case(c.name.as_bytes())).or_else(|| lookup(name))?;
    match cmd.lock {
        Lock::Keys(first, _, _) if first >= 1 && (first as usize) < argc => Some(first as usize),
        _ => None,
    }
}

/// Runs one request from a client, dropping its reply while CLIENT REPLY says so (CLIENT REPLY ON
/// itself answers; OFF and SKIP do not).
pub fn dispatch(srv: &Server, client: &mut Client, out: &mut Out, args: &[Bytes]) -> Flow {
    let mark = out.buf.len();
    let skip = client.replies == Replies::SkipNext;
    if skip {
        client.replies = Replies::On;
    }
    let mut flow = dispatch_one(srv, client, out, args);
    if skip || client.replies == Replies::Off {
        out.buf.truncate(mark);
        match &mut flow {
            Flow::Block(block) => block.quiet = true,
            Flow::Script(job) => job.quiet = true,
            Flow::Done => {}
        }
    }
    flow
}

fn dispatch_one(srv: &Server, client: &mut Client, out: &mut Out, args: &[Bytes]) -> Flow {
    // Pipelines repeat one command: compare with the previous one before hashing the name.
    let cached = client.last_command.filter(|c| args[0].eq_ignore_ascii_case(c.name.as_bytes()));
    let Some(cmd) = cached.or_else(|| lookup(&args[0])) else {
        let mut msg = format!("ERR unknown command '{}', with args beginning with: ", lossy(&args[0]));
        for a in args.iter().skip(1).take(16) {
            msg.push_str(&format!("'{}' ", lossy(a)));
        }
        if client.multi.is_some() {
            client.multi_failed = true;
        }
        out.error(&msg);
        return Flow::Done;
    };
    if !arity_ok(cmd, args.len()) {
        let error = wire_error(&CacheError::WrongArity(cmd.name.into()), cmd.name);
        if client.multi.is_some() {
            if cmd.name == "exec" {
                // A malformed EXEC ends the transaction, as in Redis 7.
                client.multi = None;
                client.multi_failed = false;
                txn::unwatch_all(srv, client);
                out.error(&format!(
                    "EXECABORT Transaction discarded because of: {}",
                    error.strip_prefix("ERR ").unwrap_or(&error)
                ));
                return Flow::Done;
            }
            client.multi_failed = true;
        }
        out.error(&error);
        return Flow::Done;
    }
    if !client.authed && cmd.flags & NOAUTH == 0 {
        out.error("NOAUTH Authentication required.");
        return Flow::Done;
    }
    if crate::scripting::refused_while_busy(srv, args) {
        if client.multi.is_some() {
            client.multi_failed = true;
        }
        out.error(crate::scripting::BUSY);
        return Flow::Done;
    }
    if !client.resp3 && client.subscriptions() > 0 && !pubsub::allowed_in_subscribe(cmd.name) {
        out.error(&format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.name
        ));
        return Flow::Done;
    }
    if let Some(queue) = client.multi.as_mut()
        && !matches!(cmd.name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
    {
        if cmd.flags & DENYOOM != 0 && srv.engine.ensure_memory().is_err() {
            client.multi_failed = true;
            out.error(&wire_error(&CacheError::OutOfMemory, cmd.name));
            return Flow::Done;
        }
        queue.push(args.to_vec());
        out.simple("QUEUED");
        return Flow::Done;
    }
    if cached.is_none() {
        remember(client, cmd);
    }
    execute(srv, client, out, cmd, args, None)
}

/// The command a run of pipelined requests with this name, argument count and one same key may
/// execute under one lock of that key's shard (see `conn.rs`), if it is safe to: a quick single-key
/// command that cannot block, for an authenticated client outside MULTI and subscriptions, with no
/// `maxmemory` (its eviction would lock shards, and one is held). Anything else goes through
/// [`dispatch`], which also reports the errors.
pub fn holdable(srv: &Server, client: &Client, name: &[u8], argc: usize) -> Option<&'static Command> {
    if client.multi.is_some()
        || !client.authed
        || client.loading
        || client.subscriptions() > 0
        || client.replies != Replies::On
    {
        return None;
    }
    if srv.engine.config.maxmemory.load(Ordering::Relaxed) != 0 {
        return None;
    }
    let cmd = client.last_command.filter(|c| name.eq_ignore_ascii_case(c.name.as_bytes())).or_else(|| lookup(name))?;
    let quick = cmd.flags & FAST != 0 && cmd.flags & BLOCKING == 0;
    (arity_ok(cmd, argc)
        && quick
        && matches!(cmd.lock, Lock::Keys(1, 1, _))
        && matches!(cmd.handler, Handler::Keyed(_)))
    .then_some(cmd)
}

/// Runs one request of such a run against `view`, which holds its key's shard: what [`dispatch`]
/// does once [`holdable`] passed (the memory check is the one skipped: there is no `maxmemory`).
pub fn execute_held(
    srv: &Server,
    client: &mut Client,
    out: &mut Out,
    cmd: &'static Command,
    args: &[Bytes],
    view: &mut View<'_>,
) {
    if client.last_command.is_none_or(|c| !std::ptr::eq(c, cmd)) {
        remember(client, cmd);
    }
    let _ = run(srv, client, out, cmd, args, Some(view), false);
}

/// Executes `cmd`; within EXEC (or a script) `view` is the all-shards view. Returns what the
/// connection must still do: wait for a blocked pop, or hand a script to the Lua thread.
pub fn execute(
    srv: &Server,
    client: &mut Client,
    out: &mut Out,
    cmd: &Command,
    args: &[Bytes],
    view: Option<&mut View<'_>>,
) -> Flow {
    let in_exec = view.is_some();
    run(srv, client, out, cmd, args, view, in_exec)
}

/// [`execute`]; a given `view` already holds the command's shards (EXEC's, or a held run's), so no
/// memory check runs then: eviction would lock shards.
fn run(
    srv: &Server,
    client: &mut Client,
    out: &mut Out,
    cmd: &Command,
    args: &[Bytes],
    view: Option<&mut View<'_>>,
    in_exec: bool,
) -> Flow {
    if cmd.flags & DENYOOM != 0
        && !client.loading
        && view.is_none()
        && let Err(e) = srv.engine.ensure_memory()
    {
        out.error(&wire_error(&e, cmd.name));
        return Flow::Done;
    }
    let mut ctx = Ctx { srv, client, out, propagate: None, in_exec, block: None, script: None };
    let result = match cmd.handler {
        Handler::Plain(f) => f(&mut ctx, args),
        // A script logs its own commands' effects (see `crate::scripting`).
        Handler::Script(f) => f(&mut ctx, view, args),
        Handler::Keyed(f) => match view {
            Some(v) => {
                v.db = ctx.client.db;
                let r = f(&mut ctx, v, args);
                propagate(&mut ctx, cmd, args, v, &r);
                r
            }
            None => {
                let eng = &srv.engine;
                let db = ctx.client.db;
                let mut v = match cmd.lock {
                    Lock::Keys(first, last, _) if first == last && first >= 1 && (first as usize) < args.len() => {
                        eng.lock_key(db, &args[first as usize])
                    }
                    Lock::Keys(first, last, step) => eng.lock_keys(db, key_args(args, first, last, step)),
                    Lock::Db => eng.lock_db(db),
                    Lock::All | Lock::None => eng.lock_all(db),
                };
                let r = f(&mut ctx, &mut v, args);
                propagate(&mut ctx, cmd, args, &v, &r);
                r
            }
        },
    };
    if let Err(e) = result {
        ctx.out.error(&wire_error(&e, cmd.name));
    }
    match (ctx.block.take(), ctx.script.take()) {
        (Some(b), _) => Flow::Block(b),
        (None, Some(job)) => Flow::Script(job),
        (None, None) => Flow::Done,
    }
}

fn propagate(ctx: &mut Ctx<'_>, cmd: &Command, args: &[Bytes], view: &View<'_>, r: &CacheResult<()>) {
    if cmd.flags & WRITE == 0 || r.is_err() || ctx.client.loading || ctx.block.is_some() {
        return;
    }
    ctx.client.dirty += 1;
    let p = &ctx.srv.persistence;
    if !p.aof_enabled() {
        return;
    }
    // A script's writes are logged together when it ends.
    if let Some(effects) = ctx.client.script_effects.as_mut() {
        match ctx.propagate.take() {
            Some(lines) => effects.extend(lines.into_iter().map(|l| (view.db, l))),
            None => effects.push((view.db, args.to_vec())),
        }
        return;
    }
    match ctx.propagate.take() {
        Some(lines) => {
            for line in lines {
                p.append(view.db, &line);
            }
        }
        None => p.append(view.db, args),
    }
}

/// The key arguments per a (first, last, step) spec.
pub fn key_args(args: &[Bytes], first: i32, last: i32, step: i32) -> impl Iterator<Item = &Bytes> {
    let n = args.len() as i32;
    let last = if last < 0 { n + last } else { last.min(n - 1) };
    let (first, step) = (first.max(1), step.max(1));
    (first..=last).step_by(step as usize).filter_map(move |i| args.get(i as usize))
}

/// Re-runs a blocked command after a wake-up; true if it completed (its reply is written).
pub fn retry_blocked(srv: &Server, client: &mut Client, out: &mut Out, args: &[Bytes]) -> bool {
    let Some(cmd) = lookup(&args[0]) else { return true };
    out.resp3 = client.resp3;
    !matches!(execute(srv, client, out, cmd, args, None), Flow::Block(_))
}

/// Releases what a closing connection holds (WATCHes, subscriptions).
pub fn cleanup_client(srv: &Server, client: &mut Client) {
    txn::unwatch_all(srv, client);
    pubsub::unsubscribe_all(srv, client);
}

/// Redis 7's reply to a bad subcommand: unknown ones name the subcommand, known ones used with the
/// wrong arguments get the arity error of `cmd|sub`.
pub fn subcommand_error(cmd: &str, sub: &[u8], known: &[&str]) -> CacheError {
    let s = lossy(sub);
    let lower = s.to_ascii_lowercase();
    if known.contains(&lower.as_str()) {
        CacheError::Other(format!("ERR wrong number of arguments for '{cmd}|{lower}' command"))
    } else {
        CacheError::Other(format!("ERR unknown subcommand '{s}'. Try {} HELP.", cmd.to_ascii_uppercase()))
    }
}

// ---- argument helpers shared by the command families ----

pub fn eq(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

pub fn int(arg: &[u8]) -> CacheResult<i64> {
    crate::engine::strings::parse_int(arg).ok_or(CacheError::NotInteger)
}

pub fn float(arg: &[u8]) -> CacheResult<f64> {
    crate::engine::strings::parse_float(arg).ok_or(CacheError::NotFloat)
}

pub fn text(arg: &[u8]) -> String {
    lossy(arg)
}

/// Non-negative count argument of LPOP/RPOP/SPOP/ZPOPMIN/ZPOPMAX: Redis's
/// `getPositiveLongFromObjectOrReply` says "value is out of range, must be positive" both below
/// zero and for a non-integer.
pub fn count(arg: &[u8]) -> CacheResult<usize> {
    match crate::engine::strings::parse_int(arg) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(CacheError::NotPositive),
    }
}
