//! INFO and CONFIG GET/SET/RESETSTAT.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{Ctx, text};
use crate::engine::config::{Policy, parse_memory};
use crate::engine::{CacheError, CacheResult};
use crate::protocol::Server;
use crate::store::FsyncPolicy;

/// The Redis version we report (what clients feature-detect on).
pub const VERSION: &str = "7.0.15";

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else {
        format!("{bytes}B")
    }
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

pub fn info_text(srv: &Server, sections: &[String], in_exec: bool) -> String {
    let eng = &srv.engine;
    let st = &eng.stats;
    let all = sections.is_empty() || sections.iter().any(|s| s == "all" || s == "everything" || s == "default");
    let want = |s: &str| all || sections.iter().any(|x| x == s);
    let mut out = String::new();
    if want("server") {
        let up = srv.uptime().as_secs();
        let _ = write!(
            out,
            "# Server\r\nredis_version:{VERSION}\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nhz:{}\r\nexecutable:stratus-cache\r\nconfig_file:\r\n\r\n",
            std::process::id(),
            srv.run_id,
            srv.port.load(Ordering::Relaxed),
            eng.now_ms() * 1000,
            up / 86400,
            eng.config.hz.load(Ordering::Relaxed),
        );
    }
    if want("clients") {
        let _ = write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\npubsub_clients:0\r\n\r\n",
            st.connected_clients.load(Ordering::Relaxed),
            crate::protocol::MAX_CLIENTS,
            eng.blocking.blocked_clients(),
        );
    }
    if want("memory") {
        let used = eng.used_memory() as u64;
        let rss = crate::alloc::rss_bytes() as u64;
        let max = eng.config.maxmemory.load(Ordering::Relaxed);
        let lua = srv.scripts.lua_memory.load(Ordering::Relaxed) as u64;
        let _ = write!(
            out,
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_lua:{lua}\r\nused_memory_lua_human:{}\r\nnumber_of_cached_scripts:{}\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\nlazyfree_pending_objects:0\r\n\r\n",
            human(used),
            human(rss),
            human(lua),
            srv.scripts.count(),
            human(max),
            eng.config.policy().name(),
            if used > 0 { rss as f64 / used as f64 } else { 0.0 },
        );
    }
    if want("persistence") {
        let p = &srv.persistence;
        let _ = write!(
            out,
            "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\naof_enabled:{}\r\naof_rewrite_in_progress:0\r\naof_last_write_status:ok\r\n\r\n",
            st.dirty.load(Ordering::Relaxed).saturating_sub(p.dirty_at_save()),
            p.bgsave_running() as u8,
            p.last_save(),
            if p.last_save_ok() { "ok" } else { "err" },
            p.aof_enabled() as u8,
        );
    }
    if want("stats") && !in_exec {
        let (hits, misses) = eng.hits_misses();
        let _ = write!(
            out,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\nrejected_connections:0\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\ntotal_oom_rejections:{}\r\n\r\n",
            st.connections_received.load(Ordering::Relaxed),
            st.commands.load(Ordering::Relaxed),
            st.expired_keys.load(Ordering::Relaxed),
            st.evicted_keys.load(Ordering::Relaxed),
            hits,
            misses,
            eng.pubsub.channels(None).len(),
            eng.pubsub.numpat(),
            st.rejected_oom.load(Ordering::Relaxed),
        );
    }
    if want("replication") {
        out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n\r\n");
    }
    if want("cpu") {
        let (sys, user) = cpu_times();
        let _ = write!(out, "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n\r\n");
    }
    // The keyspace walk locks shards one by one: not possible inside EXEC, which holds them all.
    if want("keyspace") && !in_exec {
        out.push_str("# Keyspace\r\n");
        for (db, (keys, expires)) in eng.keyspace_sizes().into_iter().enumerate().take(crate::engine::DATABASES) {
            if keys > 0 {
                let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
        }
        out.push_str("\r\n");
    }
    while out.ends_with("\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

pub fn info(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let sections: Vec<String> = a[1..].iter().map(|s| text(s).to_ascii_lowercase()).collect();
    let s = info_text(c.srv, &sections, c.in_exec);
    c.out.verbatim(&s);
    Ok(())
}

/// Every parameter CONFIG GET knows, with its current value.
fn params(srv: &Server) -> Vec<(&'static str, String)> {
    let cfg = &srv.engine.config;
    let p = &srv.persistence;
    vec![
        ("maxmemory", cfg.maxmemory.load(Ordering::Relaxed).to_string()),
        ("maxmemory-policy", cfg.policy().name().to_string()),
        ("maxmemory-samples", cfg.samples.load(Ordering::Relaxed).to_string()),
        ("lfu-log-factor", cfg.lfu_log_factor.load(Ordering::Relaxed).to_string()),
        ("lfu-decay-time", cfg.lfu_decay_time.load(Ordering::Relaxed).to_string()),
        ("hz", cfg.hz.load(Ordering::Relaxed).to_string()),
        ("appendonly", if p.aof_enabled() { "yes" } else { "no" }.to_string()),
        ("appendfsync", p.fsync_policy().name().to_string()),
        ("save", p.save_rules()),
        ("dir", p.dir().display().to_string()),
        ("dbfilename", crate::store::SNAPSHOT_FILE.to_string()),
        ("appendfilename", crate::store::AOF_FILE.to_string()),
        ("databases", crate::engine::DATABASES.to_string()),
        ("port", srv.port.load(Ordering::Relaxed).to_string()),
        ("bind", "127.0.0.1".to_string()),
        ("timeout", "0".to_string()),
        ("tcp-keepalive", "300".to_string()),
        ("maxclients", crate::protocol::MAX_CLIENTS.to_string()),
        ("requirepass", srv.auth.requirepass.read().clone().unwrap_or_default()),
        ("proto-max-bulk-len", crate::protocol::resp::MAX_BULK_LEN.to_string()),
        ("lazyfree-lazy-eviction", "no".to_string()),
        ("activedefrag", "no".to_string()),
        ("busy-reply-threshold", srv.scripts.busy_threshold_ms.load(Ordering::Relaxed).to_string()),
        ("lua-time-limit", srv.scripts.busy_threshold_ms.load(Ordering::Relaxed).to_string()),
    ]
}

/// `in_exec`: inside EXEC every shard is already held, so nothing here may lock one (eviction for a
/// lowered maxmemory then happens at the next write).
fn set_param(srv: &Server, name: &str, value: &str, in_exec: bool) -> Result<(), String> {
    let cfg = &srv.engine.config;
    let int = |v: &str| v.parse::<u32>().map_err(|_| "argument couldn't be parsed into an integer".to_string());
    match name {
        "maxmemory" => {
            let n = parse_memory(value).ok_or("argument must be a memory value")?;
            cfg.maxmemory.store(n, Ordering::Relaxed);
            // Shrinking below the current use evicts now, as Redis does.
            if !in_exec {
                let _ = srv.engine.ensure_memory();
            }
        }
        "maxmemory-policy" => {
            let p = Policy::parse(value).ok_or(
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction, allkeys-sieve",
            )?;
            cfg.set_policy(p);
        }
        "maxmemory-samples" => cfg.samples.store(int(value)?.clamp(1, 64), Ordering::Relaxed),
        "lfu-log-factor" => cfg.lfu_log_factor.store(int(value)?, Ordering::Relaxed),
        "lfu-decay-time" => cfg.lfu_decay_time.store(int(value)?, Ordering::Relaxed),
        "hz" => cfg.hz.store(int(value)?.clamp(1, 500), Ordering::Relaxed),
        "appendonly" if in_exec => return Err("cannot be changed inside a transaction".into()),
        "appendonly" => match value.to_ascii_lowercase().as_str() {
            "yes" => srv.persistence.enable_aof(&srv.engine).map_err(|e| e.to_string())?,
            "no" => srv.persistence.disable_aof(),
            _ => return Err("argument must be 'yes' or 'no'".into()),
        },
        "appendfsync" => {
            let p =
                FsyncPolicy::parse(value).ok_or("argument(s) must be one of the following: always, everysec, no")?;
            srv.persistence.set_fsync_policy(p);
        }
        "save" => srv.persistence.set_save_rules(value)?,
        "requirepass" => *srv.auth.requirepass.write() = if value.is_empty() { None } else { Some(value.to_string()) },
        "busy-reply-threshold" | "lua-time-limit" => {
            let ms = value.parse::<u64>().map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            srv.scripts.busy_threshold_ms.store(ms, Ordering::Relaxed);
        }
        "timeout" | "tcp-keepalive" | "lazyfree-lazy-eviction" | "activedefrag" => {}
        _ => return Err("__unknown__".into()),
    }
    Ok(())
}

pub fn config_cmd(c: &mut Ctx<'_>, a: &[Bytes]) -> CacheResult<()> {
    let sub = text(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "get" if a.len() >= 3 => {
            let all = params(c.srv);
            let mut found: Vec<(&str, String)> = Vec::new();
            for pat in &a[2..] {
                let pat = text(pat).to_ascii_lowercase();
                for (k, v) in &all {
                    if crate::engine::glob::matches(pat.as_bytes(), k.as_bytes()) && !found.iter().any(|(f, _)| f == k)
                    {
                        found.push((k, v.clone()));
                    }
                }
            }
            c.out.map(found.len());
            for (k, v) in found {
                c.out.bulk(k.as_bytes());
                c.out.bulk(v.as_bytes());
            }
        }
        "set" if a.len() >= 4 && a.len().is_multiple_of(2) => {
            for pair in a[2..].chunks(2) {
                let name = text(&pair[0]).to_ascii_lowercase();
                let value = text(&pair[1]);
                if let Err(reason) = set_param(c.srv, &name, &value, c.in_exec) {
                    if reason == "__unknown__" {
                        return Err(CacheError::Other(format!(
                            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                        )));
                    }
                    return Err(CacheError::Other(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
                    )));
                }
            }
            c.out.ok();
        }
        "resetstat" if a.len() == 2 => {
            let st = &c.srv.engine.stats;
            if !c.in_exec {
                c.srv.engine.reset_hits_misses();
            }
            for counter in [&st.expired_keys, &st.evicted_keys, &st.commands, &st.rejected_oom] {
                counter.store(0, Ordering::Relaxed);
            }
            c.out.ok();
        }
        "rewrite" if a.len() == 2 => {
            return Err(CacheError::Other("ERR The server is running without a config file".into()));
        }
        _ => {
            return Err(super::subcommand_error("config", &a[1], &["get", "set", "resetstat", "rewrite"]));
        }
    }
    Ok(())
}
