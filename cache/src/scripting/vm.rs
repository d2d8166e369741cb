//! One Lua VM set up as Redis 7.0 sets up its own: the sandboxed globals, the `redis` library, the
//! bundled libraries, and running a script whose `redis.call`s execute against a keyspace the
//! caller has locked.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use super::convert::{Reply, lua_to_arg, lua_to_reply, parse, reply_to_lua};
use super::libs::{self, PendingError};
use super::{Call, sha1_hex};
use crate::engine::View;
use crate::protocol::Server;
use crate::protocol::commands::{self, BLOCKING, DENYOOM, NOSCRIPT, WRITE};
use crate::protocol::conn::Client;
use crate::protocol::resp::Out;

/// Most memory one VM may allocate. Redis sets no limit; a script building an unbounded table
/// would otherwise take the daemon down with it. Scripts that hit it fail with "not enough memory".
pub const LUA_MEMORY_LIMIT: usize = 256 * 1024 * 1024;

/// The instruction count between two checks for SCRIPT KILL (Redis's hook uses the same).
const HOOK_EVERY: u32 = 100_000;

/// Compiled functions kept per VM before the cache is dropped and refilled on demand.
const MAX_COMPILED: usize = 1000;

pub const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The Lua half of the sandbox, run once per VM. `raw` holds the Rust functions, `G` the globals
/// table, `ctx` the slot where each run installs its `redis.call` implementation.
const PRELUDE: &str = r#"
local raw, G, ctx = ...
local dbg = debug
local type, tostring, select, pairs, setmetatable = type, tostring, select, pairs, setmetatable
local sub, take_error = string.sub, raw.take_error

-- Redis's __redis__err__handler: the error as an {err=...} table carrying the script line it was
-- raised at (the innermost frame of the script itself). An error raised by a Rust function arrives
-- as a userdata: the value it meant to raise is parked (see libs.rs).
local function handler(err)
  if type(err) == 'userdata' then
    local parked = take_error()
    if parked ~= nil then err = parked end
  end
  local info
  for level = 2, 200 do
    local i = dbg.getinfo(level, 'Sl')
    if not i then break end
    if i.source == '@user_script' then info = i break end
  end
  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  if info then err.source = info.source err.line = info.currentline end
  return err
end

local redis = {}
redis.call = raw.call
redis.pcall = raw.pcall
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return raw.error_table('wrong number or type of arguments')
  end
  if sub(e, 1, 1) ~= '-' then e = '-' .. e end
  return raw.error_table(e)
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or (type(s) ~= 'string' and type(s) ~= 'number') then
    return raw.error_table('wrong number or type of arguments')
  end
  return {ok = s}
end
redis.sha1hex = raw.sha1hex
redis.log = raw.log
redis.setresp = raw.setresp
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = raw.version, raw.version_num
G.redis = redis
G.cjson = raw.cjson
G.bit = raw.bit
G.math.random = raw.random
G.math.randomseed = raw.randomseed
G.__redis__err__handler = handler

-- Redis's pcall: an {err=...} error comes back as its message.
local raw_pcall = pcall
local function unwrap(ok, ...)
  if ok then return true, ... end
  local e = ...
  if type(e) == 'userdata' then
    local parked = take_error()
    if parked ~= nil then e = parked end
  end
  if type(e) == 'table' and type(e.err) == 'string' then e = e.err end
  return false, e
end
G.pcall = function(...) return unwrap(raw_pcall(...)) end
local raw_xpcall = xpcall
G.xpcall = function(f, h)
  return raw_xpcall(f, function(e)
    if type(e) == 'userdata' then
      local parked = take_error()
      if parked ~= nil then e = parked end
    end
    return h(e)
  end)
end

-- What Redis 7.0 leaves out of a script's reach.
for _, name in pairs({'debug', 'loadfile', 'dofile', 'print', 'getfenv', 'setfenv', 'newproxy', 'module',
                      'require', 'os', 'io', 'package'}) do
  G[name] = nil
end

-- Read-only globals and libraries: scripts see proxies whose writes fail, and reading an unknown
-- global fails, with Redis 7.0's messages.
local error, rawset, raw_setmetatable = error, rawset, setmetatable
local function readonly() error('Attempt to modify a readonly table', 2) end
local protected = setmetatable({}, {__mode = 'k'})
local function proxy(t)
  local p = setmetatable({}, {__index = t, __newindex = readonly, __metatable = false})
  protected[p] = true
  return p
end
-- rawset and setmetatable would get around the proxies: refuse them on a protected table.
G.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
G.setmetatable = function(t, mt)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return raw_setmetatable(t, mt)
end
for _, name in pairs({'string', 'math', 'table', 'coroutine', 'redis', 'cjson', 'bit'}) do
  G[name] = proxy(G[name])
end
local env = proxy(G)
G._G = env
setmetatable(G, {
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __newindex = readonly,
  __metatable = false,
})

return function(f) return raw_xpcall(f, handler) end, env
"#;

/// What a run's `redis.call` executes against.
pub struct Exec<'a, 'v> {
    pub srv: &'a Server,
    /// The script's own client (its database, its AOF effects).
    pub client: &'a mut Client,
    pub view: &'a mut View<'v>,
    /// `maxmemory` was exceeded when the script started: DENYOOM commands are refused.
    pub oom: bool,
    pub kill: Arc<AtomicBool>,
}

pub struct Vm {
    lua: Lua,
    /// The script cache generation this VM was built for (SCRIPT FLUSH starts a new VM).
    pub generation: u64,
    functions: HashMap<String, Function>,
    /// The prelude's `run(f)`: f under xpcall with Redis's error handler.
    run: Function,
    /// The environment scripts run in (the read-only proxy of the globals).
    env: Table,
    globals: Table,
    ctx: Table,
    /// `redis.setresp`: whether the current run gets RESP3 replies.
    resp3: Rc<Cell<bool>>,
}

impl Vm {
    pub fn new(generation: u64) -> mlua::Result<Vm> {
        // SAFETY: `unsafe_new_with` is only needed for the debug library, which the prelude keeps
        // for its error handler and removes from the globals before any script runs.
        let lua = unsafe {
            Lua::unsafe_new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG, LuaOptions::new())
        };
        lua.set_memory_limit(LUA_MEMORY_LIMIT)?;
        lua.set_app_data(PendingError::default());
        let resp3 = Rc::new(Cell::new(false));
        let ctx = lua.create_table()?;
        let raw = lua.create_table()?;
        raw.set("cjson", libs::cjson(&lua)?)?;
        raw.set("bit", libs::bit(&lua)?)?;
        let rng = lua.create_table()?;
        libs::install_random(&lua, &rng)?;
        raw.set("random", rng.get::<Function>("random")?)?;
        raw.set("randomseed", rng.get::<Function>("randomseed")?)?;
        raw.set("version", commands::admin::VERSION)?;
        raw.set("version_num", version_num(commands::admin::VERSION))?;
        raw.set(
            "take_error",
            lua.create_function(|lua, ()| {
                Ok(lua.app_data_ref::<PendingError>().and_then(|p| p.0.borrow_mut().take()).unwrap_or(Value::Nil))
            })?,
        )?;
        raw.set("error_table", lua.create_function(|lua, s: mlua::LuaString| error_table(lua, &s.as_bytes()))?)?;
        // redis.call / redis.pcall forward to the run's implementation (installed in `ctx` per run).
        let c = ctx.clone();
        raw.set(
            "call",
            lua.create_function(move |lua, args: MultiValue| {
                let (ok, v): (bool, Value) = c.raw_get::<Function>("call")?.call(args)?;
                if ok { Ok(v) } else { Err(libs::raise(lua, v)) }
            })?,
        )?;
        let c = ctx.clone();
        raw.set(
            "pcall",
            lua.create_function(move |_, args: MultiValue| {
                let (_, v): (bool, Value) = c.raw_get::<Function>("call")?.call(args)?;
                Ok(v)
            })?,
        )?;
        raw.set("sha1hex", lua.create_function(sha1hex)?)?;
        raw.set("log", lua.create_function(log)?)?;
        let r = resp3.clone();
        raw.set(
            "setresp",
            lua.create_function(move |lua, args: MultiValue| {
                let msg: &[u8] = match (args.len(), args.front()) {
                    (1, Some(Value::Integer(v @ 2..=3))) => {
                        r.set(*v == 3);
                        return Ok(());
                    }
                    (1, Some(Value::Number(v))) if *v == 2.0 || *v == 3.0 => {
                        r.set(*v == 3.0);
                        return Ok(());
                    }
                    (1, _) => b"RESP version must be 2 or 3.",
                    _ => b"redis.setresp() requires one argument.",
                };
                Err(libs::raise(lua, error_table(lua, msg)?))
            })?,
        )?;
        let globals = lua.globals();
        let (run, env): (Function, Table) =
            lua.load(PRELUDE).set_name("=prelude").call((raw, globals.clone(), ctx.clone()))?;
        Ok(Vm { lua, generation, functions: HashMap::new(), run, env, globals, ctx, resp3 })
    }

    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Compiles a script body as Redis does (a chunk named `@user_script`, text only), keeping the
    /// function for later runs.
    pub fn compile(&mut self, sha: &str, body: &[u8]) -> Result<Function, String> {
        if let Some(f) = self.functions.get(sha) {
            return Ok(f.clone());
        }
        // The shebang line (its flags were read by the caller) is left out; its newline is kept.
        let skip = super::shebang(body)?.len;
        let f = self
            .lua
            .load(&body[skip..])
            .set_name("@user_script")
            .set_mode(ChunkMode::Text)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                format!("ERR Error compiling script (new function): {msg}")
            })?;
        if self.functions.len() >= MAX_COMPILED {
            self.functions.clear();
        }
        self.functions.insert(sha.to_string(), f.clone());
        Ok(f)
    }

    /// Runs a script and writes its reply (or its error) to `out`.
    pub fn run(&mut self, call: &Call, exec: Exec<'_, '_>, out: &mut Out) {
        let f = match self.compile(&call.sha, &call.body) {
            Ok(f) => f,
            Err(e) => return out.error(&e),
        };
        exec.srv.scripts.remember(&call.sha, &call.body, false);
        let kill = exec.kill.clone();
        self.resp3.set(false);
        let result = self.run_compiled(f, call, exec, out);
        self.lua.remove_hook();
        let _ = self.ctx.raw_set("call", Value::Nil);
        if let Err(e) = result {
            // Errors outside the script's own xpcall (memory exhausted while converting, say).
            let msg = if kill.load(Ordering::Acquire) { KILLED.to_string() } else { format!("ERR {e}") };
            out.error(&format!("{msg} script: {}", call.sha));
        }
        if self.lua.used_memory() > LUA_MEMORY_LIMIT / 2 {
            // Without the limit for the while: a full collection allocates (it resizes the string
            // table), so at the limit it would fail and leave the VM full for good.
            let _ = self.lua.set_memory_limit(0);
            let _ = self.lua.gc_collect();
            let _ = self.lua.set_memory_limit(LUA_MEMORY_LIMIT);
        }
    }

    fn run_compiled(&mut self, f: Function, call: &Call, mut exec: Exec<'_, '_>, out: &mut Out) -> mlua::Result<()> {
        let lua = &self.lua;
        self.globals.raw_set("KEYS", strings(lua, &call.keys)?)?;
        self.globals.raw_set("ARGV", strings(lua, &call.argv)?)?;
        let kill = exec.kill.clone();
        lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
            if kill.load(Ordering::Acquire) {
                return Err(mlua::Error::runtime(KILLED));
            }
            Ok(VmState::Continue)
        })?;
        let resp3 = self.resp3.clone();
        let read_only = call.read_only;
        let mut scratch = Out::new(false);
        let killed = exec.kill.clone();
        lua.scope(|scope| {
            let call_fn = scope.create_function_mut(|lua, args: MultiValue| {
                redis_call(lua, &mut exec, &mut scratch, resp3.get(), read_only, args)
            })?;
            self.ctx.raw_set("call", call_fn)?;
            let (ok, v): (bool, Value) = self.run.call(f)?;
            if ok {
                lua_to_reply(&v, out, self.resp3.get());
            } else {
                failure_reply(&v, &call.sha, killed.load(Ordering::Acquire), out);
            }
            Ok(())
        })
    }
}

/// `redis.call` / `redis.pcall`: `(true, reply)` or `(false, {err=…})`, checked the way Redis 7.0's
/// `scriptCall` checks, then run through the dispatcher's `execute` with the script's view.
fn redis_call(
    lua: &Lua,
    exec: &mut Exec<'_, '_>,
    scratch: &mut Out,
    resp3: bool,
    read_only: bool,
    args: MultiValue,
) -> mlua::Result<(bool, Value)> {
    let fail = |msg: &[u8]| Ok((false, error_table(lua, msg)?));
    if args.is_empty() {
        return fail(b"Please specify at least one argument for this redis lib call");
    }
    let Some(argv) = args.iter().map(lua_to_arg).collect::<Option<Vec<Bytes>>>() else {
        return fail(b"Lua redis lib command arguments must be strings or integers");
    };
    let Some(cmd) = commands::lookup(&argv[0]) else {
        return fail(b"Unknown Redis command called from script");
    };
    if !commands::arity_ok(cmd, argv.len()) {
        return fail(b"Wrong number of args calling Redis command from script");
    }
    if cmd.flags & (NOSCRIPT | BLOCKING) != 0 {
        return fail(b"This Redis command is not allowed from script");
    }
    if cmd.flags & WRITE != 0 && read_only {
        return fail(b"Write commands are not allowed from read-only scripts.");
    }
    if cmd.flags & DENYOOM != 0 && exec.oom {
        return fail(b"-OOM command not allowed when used memory > 'maxmemory'.");
    }
    scratch.buf.clear();
    scratch.resp3 = resp3;
    exec.client.resp3 = resp3;
    let dirty = exec.client.dirty;
    let _ = commands::execute(exec.srv, exec.client, scratch, cmd, &argv, Some(exec.view));
    exec.view.db = exec.client.db;
    if exec.client.dirty != dirty {
        super::note_write(exec.srv);
    }
    match parse(&scratch.buf) {
        Some((Reply::Error(e), _)) => {
            let mut text = Vec::with_capacity(e.len() + 1);
            text.push(b'-');
            text.extend_from_slice(&e);
            fail(&text)
        }
        Some((r, _)) => Ok((true, reply_to_lua(lua, &r)?)),
        None => fail(b"internal error: unreadable reply"),
    }
}

/// Redis's `luaPushErrorBuff`: `-CODE message` (or a bare message, code ERR) as `{err="CODE message"}`,
/// newlines trimmed from the message's ends.
fn error_table(lua: &Lua, s: &[u8]) -> mlua::Result<Value> {
    let (code, msg): (&[u8], &[u8]) = match s.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", s),
    };
    let is_nl = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !is_nl(b)).unwrap_or(msg.len());
    let end = msg.iter().rposition(|b| !is_nl(b)).map_or(start, |e| e + 1);
    let mut text = code.to_vec();
    text.push(b' ');
    text.extend_from_slice(&msg[start..end.max(start)]);
    super::convert::single_field(lua, "err", lua.create_string(&text)?)
}

/// The reply of a script that raised an error: its message, then where it was raised, as
/// `ERR … script: <sha>, on @user_script:<line>.`.
fn failure_reply(v: &Value, sha: &str, killed: bool, out: &mut Out) {
    let Value::Table(t) = v else {
        // Not through the handler (Lua 5.1 does not call it for memory errors).
        let text = match v {
            Value::String(s) => s.to_string_lossy(),
            _ => "unknown error".to_string(),
        };
        let msg = if killed {
            KILLED.to_string()
        } else {
            format!("ERR Error running script (call to f_{sha}): @user_script: {text}")
        };
        return out.error(&msg);
    };
    let err = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        _ => "ERR unknown error".to_string(),
    };
    let msg = if killed { KILLED.to_string() } else { err };
    let source = t.raw_get::<Option<mlua::LuaString>>("source").ok().flatten();
    let line = t.raw_get::<Option<i64>>("line").ok().flatten();
    match (source, line) {
        (Some(src), Some(line)) => out.error(&format!("{msg} script: {sha}, on {}:{line}.", src.to_string_lossy())),
        _ => out.error(&msg),
    }
}

fn strings(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// `7.0.15` → 0x07000f, as `redis.REDIS_VERSION_NUM`.
fn version_num(v: &str) -> i64 {
    v.split('.').take(3).fold(0, |acc, part| (acc << 8) | part.parse::<i64>().unwrap_or(0))
}

fn text_of(lua: &Lua, v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(_) | Value::Number(_) => {
            lua.coerce_string(v.clone()).ok().flatten().map(|s| s.as_bytes().to_vec())
        }
        _ => None,
    }
}

fn sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let text = match (args.len(), args.front()) {
        (1, Some(v)) => text_of(lua, v),
        _ => None,
    };
    let out = match text {
        Some(t) => sha1_hex(&t),
        None if args.len() == 1 => sha1_hex(b""),
        None => return Err(libs::raise(lua, error_table(lua, b"wrong number of arguments")?)),
    };
    Ok(Value::String(lua.create_string(out)?))
}

fn log(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    let fail = |m: &str| Err(libs::raise(lua, error_table(lua, m.as_bytes())?));
    if args.len() < 2 {
        return fail("redis.log() requires two arguments or more.");
    }
    let level = match args.front() {
        Some(Value::Integer(i)) => *i,
        Some(Value::Number(n)) => *n as i64,
        _ => return fail("First argument must be a number (log level)."),
    };
    if !(0..=3).contains(&level) {
        return fail("Invalid debug level.");
    }
    let msg: Vec<String> =
        args.iter().skip(1).filter_map(|v| text_of(lua, v)).map(|b| String::from_utf8_lossy(&b).into_owned()).collect();
    let msg = msg.join(" ");
    match level {
        0 => tracing::debug!(target: "cache::script", "{msg}"),
        1 | 2 => tracing::info!(target: "cache::script", "{msg}"),
        _ => tracing::warn!(target: "cache::script", "{msg}"),
    }
    Ok(())
}
