//! EVAL / EVALSHA / EVAL_RO / EVALSHA_RO and SCRIPT: argument checks and the script cache here, the
//! Lua runtime in `crate::scripting`.

use bytes::Bytes;

use super::{Command, Ctx, Handler, Lock, MOVABLEKEYS, NO_MANDATORY_KEYS, NOSCRIPT, READONLY, SKIP_MONITOR, STALE};
use super::{eq, plain, subcommand_error, text};
use crate::engine::{CacheError, CacheResult, View};
use crate::scripting::{self, Call, Job, NOSCRIPT_ERR};

pub fn commands() -> Vec<Command> {
    let g = "scripting";
    let flags = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | MOVABLEKEYS;
    let script = |name: &'static str, flags: u32, f: super::ScriptFn| Command {
        name,
        arity: -3,
        flags,
        lock: Lock::None,
        handler: Handler::Script(f),
        group: g,
        info_keys: None,
    };
    vec![
        script("eval", flags, eval),
        script("evalsha", flags, evalsha),
        script("eval_ro", flags | READONLY, eval_ro),
        script("evalsha_ro", flags | READONLY, evalsha_ro),
        plain(g, "script", -2, NOSCRIPT, script_cmd),
    ]
}

fn eval(c: &mut Ctx<'_>, v: Option<&mut View<'_>>, a: &[Bytes]) -> CacheResult<()> {
    run(c, v, a, false, false)
}
fn evalsha(c: &mut Ctx<'_>, v: Option<&mut View<'_>>, a: &[Bytes]) -> CacheResult<()> {
    run(c, v, a, true, false)
}
fn eval_ro(c: &mut Ctx<'_>, v: Option<&mut View<'_>>, a: &[Bytes]) -> CacheResult<()> {
    run(c, v, a, false, true)
}
fn evalsha_ro(c: &mut Ctx<'_>, v: Option<&mut View<'_>>, a: &[Bytes]) -> CacheResult<()> {
    run(c, v, a, true, true)
}

fn run(c: &mut Ctx<'_>, view: Option<&mut View<'_>>, a: &[Bytes], by_sha: bool, read_only: bool) -> CacheResult<()> {
    // EVALSHA checks the digest's length before anything else, as Redis does.
    if by_sha && a[1].len() != 40 {
        return Err(CacheError::Other(NOSCRIPT_ERR.into()));
    }
    let (keys, argv) = scripting::split_keys(a).map_err(|e| CacheError::Other(e.into()))?;
    let (sha, body) = if by_sha {
        let sha = text(&a[1]).to_ascii_lowercase();
        let body = c.srv.scripts.get(&sha).ok_or_else(|| CacheError::Other(NOSCRIPT_ERR.into()))?;
        (sha, body)
    } else {
        (scripting::sha1_hex(&a[1]), a[1].clone())
    };
    let flags = scripting::shebang(&body).map_err(CacheError::Other)?;
    if flags.present && read_only && !flags.no_writes {
        return Err(CacheError::Other("ERR Can not execute a script with write flag using *_ro command.".into()));
    }
    let call = Call {
        sha,
        body,
        keys,
        argv,
        read_only: read_only || flags.no_writes,
        allow_oom: flags.allow_oom,
        shebang: flags.present,
    };
    if view.is_some() || c.in_exec || c.client.loading {
        // Inside EXEC (or replaying the AOF): this thread already holds, or may take, the shards.
        scripting::run_script(c.srv, c.client, c.out, &call, view);
    } else {
        let info = c.client.info.clone();
        c.script = Some(Job { call, db: c.client.db, resp3: c.client.resp3, info, quiet: false });
    }
    Ok(())
}

fn script_cmd(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let sub = text(&a[1]).to_ascii_lowercase();
    let scripts = &c.srv.scripts;
    match sub.as_str() {
        "load" if a.len() == 3 => {
            let sha = scripting::sha1_hex(&a[2]);
            scripting::with_vm(scripts, |vm| vm.compile(&sha, &a[2]).map(|_| ()))
                .and_then(|compiled| compiled)
                .map_err(CacheError::Other)?;
            scripts.remember(&sha, &a[2], true);
            c.out.bulk(sha.as_bytes());
        }
        "exists" if a.len() >= 3 => {
            c.out.array(a.len() - 2);
            for sha in &a[2..] {
                c.out.int(scripts.exists(&text(sha).to_ascii_lowercase()) as i64);
            }
        }
        "flush" => {
            if a.len() > 3 || (a.len() == 3 && !eq(&a[2], "sync") && !eq(&a[2], "async")) {
                return Err(CacheError::Other("ERR SCRIPT FLUSH only support SYNC|ASYNC option".into()));
            }
            scripts.flush();
            c.out.ok();
        }
        "kill" if a.len() == 2 => {
            scripts.kill().map_err(|e| CacheError::Other(e.into()))?;
            c.out.ok();
        }
        "help" if a.len() == 2 => {
            let lines = [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Print this help.",
            ];
            c.out.array(lines.len());
            for l in lines {
                c.out.simple(l);
            }
        }
        _ => return Err(subcommand_error("script", &a[1], &["load", "exists", "flush", "kill", "help"])),
    }
    Ok(())
}
