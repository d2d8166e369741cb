//! cache: an ElastiCache-style in-memory cache speaking Redis (RESP2/RESP3) and memcached.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use common::config::defaults;

pub mod alloc;
pub mod engine;
pub mod protocol;
pub mod scripting;
pub mod store;

use engine::config::{Policy, parse_memory};
use engine::{Engine, EngineConfig};
use store::{FsyncPolicy, Persistence};

#[derive(Parser, Debug, Clone)]
#[command(name = "cache", about = "Redis- and memcached-compatible in-memory cache")]
pub struct Args {
    #[command(flatten)]
    pub common: common::CommonArgs,
    /// Address of the memcached text-protocol listener.
    #[arg(long, env = "STRATUS_MEMCACHED_LISTEN")]
    pub memcached_listen: Option<String>,
    /// Memory limit (`100mb`, `2gb`; 0 = none), as Redis's `maxmemory`.
    #[arg(long, env = "STRATUS_MAXMEMORY")]
    pub maxmemory: Option<String>,
    /// Eviction policy (`allkeys-lru`, `volatile-ttl`, `allkeys-sieve`, … default noeviction).
    #[arg(long, env = "STRATUS_MAXMEMORY_POLICY")]
    pub maxmemory_policy: Option<String>,
    /// Append-only persistence: `yes` or `no`.
    #[arg(long, env = "STRATUS_APPENDONLY")]
    pub appendonly: Option<String>,
    /// `always`, `everysec` (default) or `no`.
    #[arg(long, env = "STRATUS_APPENDFSYNC")]
    pub appendfsync: Option<String>,
    /// Snapshot rules as in redis.conf (`"3600 1 300 100"`; `""` disables).
    #[arg(long, env = "STRATUS_SAVE")]
    pub save: Option<String>,
    /// Password of the `default` user (AUTH <password>).
    #[arg(long, env = "STRATUS_REQUIREPASS")]
    pub requirepass: Option<String>,
    /// Keyspace shards per database (default: 16 per core).
    #[arg(long, env = "STRATUS_CACHE_SHARDS")]
    pub shards: Option<usize>,
}

/// A setting from the flag, else the TOML file (string, integer or boolean), else nothing.
fn setting(cli: &Option<String>, file: &common::config::FileConfig, key: &str) -> anyhow::Result<Option<String>> {
    if let Some(v) = cli {
        return Ok(Some(v.clone()));
    }
    if let Ok(Some(b)) = file.boolean(key) {
        return Ok(Some(if b { "yes" } else { "no" }.into()));
    }
    Ok(file.string(key)?)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut daemon = common::Daemon::start("cache", &args.common, defaults::CACHE, defaults::CACHE_METRICS)?;
    let mc_addr = daemon.config.extra_addr(
        "--memcached-listen",
        args.memcached_listen.as_deref(),
        "memcached_listen",
        defaults::CACHE_MEMCACHED,
    )?;
    let file = daemon.config.file.clone();
    let config = EngineConfig::default();
    if let Some(m) = setting(&args.maxmemory, &file, "maxmemory")? {
        config.maxmemory.store(
            parse_memory(&m).ok_or_else(|| anyhow::anyhow!("cache: invalid --maxmemory {m:?}"))?,
            Ordering::Relaxed,
        );
    }
    if let Some(p) = setting(&args.maxmemory_policy, &file, "maxmemory_policy")? {
        config.set_policy(Policy::parse(&p).ok_or_else(|| anyhow::anyhow!("cache: unknown --maxmemory-policy {p:?}"))?);
    }
    let fsync = match setting(&args.appendfsync, &file, "appendfsync")? {
        Some(f) => FsyncPolicy::parse(&f).ok_or_else(|| anyhow::anyhow!("cache: invalid --appendfsync {f:?}"))?,
        None => FsyncPolicy::EverySec,
    };
    let appendonly = setting(&args.appendonly, &file, "appendonly")?.is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let shards = args.shards.unwrap_or_else(Engine::default_shards);
    let engine = Arc::new(Engine::new(common::clock::SystemClock::shared(), shards, config));

    let persistence = Persistence::new(&daemon.config.data_dir, fsync);
    let save = setting(&args.save, &file, "save")?.unwrap_or_else(|| "3600 1 300 100 60 10000".into());
    persistence.set_save_rules(&save).map_err(|e| anyhow::anyhow!("cache: --save: {e}"))?;
    let requirepass = setting(&args.requirepass, &file, "requirepass")?.filter(|p| !p.is_empty());
    let auth = protocol::Auth {
        requirepass: parking_lot::RwLock::new(requirepass),
        credentials: daemon.credentials.clone(),
        required: !daemon.config.listen.ip().is_loopback(),
    };
    let srv = Arc::new(protocol::Server::new(engine.clone(), auth, persistence, daemon.shutdown.clone()));
    load_data(&srv, appendonly)?;
    srv.persistence.set_start_time(engine.now_ms() / 1000);

    daemon.serve_metrics().await?;
    let resp = daemon.bind(daemon.config.listen, "--listen").await?;
    let resp_addr = resp.local_addr()?;
    srv.port.store(resp_addr.port() as u64, Ordering::Relaxed);
    let memcached = daemon.bind(mc_addr, "--memcached-listen").await?;
    let memcached_addr = memcached.local_addr()?;
    let shutdown = daemon.shutdown.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let expire_thread = engine::expire::spawn(engine.clone(), stop.clone())?;
    let persist_thread = store::spawn_ticker(srv.clone(), stop.clone())?;

    // Connections run on their own threads, one per core (see protocol::workers for why).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = protocol::workers::Workers::start(&srv, threads)?;
    let w = workers.clone();
    daemon.spawn(protocol::serve(resp, shutdown.clone(), move |stream, peer| {
        w.hand_over(stream, peer, protocol::workers::Protocol::Resp)
    }));
    daemon.spawn(protocol::serve(memcached, shutdown.clone(), move |stream, peer| {
        workers.hand_over(stream, peer, protocol::workers::Protocol::Memcached)
    }));
    daemon.spawn(report_metrics(srv.clone(), shutdown));
    daemon.announce(resp_addr, None);
    daemon.announce(memcached_addr, Some("memcached"));
    let result = daemon.run_until_shutdown().await;
    stop.store(true, Ordering::Relaxed);
    // The expiry thread would wait forever for the shards of a script that cannot be killed.
    if !srv.scripts.pending() {
        let _ = expire_thread.join();
    }
    let _ = persist_thread.join();
    finish(&srv);
    result
}

/// At start: the AOF if enabled (and present), else the snapshot.
fn load_data(srv: &Arc<protocol::Server>, appendonly: bool) -> anyhow::Result<()> {
    let p = &srv.persistence;
    std::fs::create_dir_all(p.dir())?;
    if appendonly && p.aof_path().exists() {
        let data = std::fs::read(p.aof_path())?;
        let (cmds, valid) = store::aof::parse_commands(&data);
        if valid < data.len() {
            tracing::warn!(
                dropped = data.len() - valid,
                "append-only file ends with an incomplete command; truncating it"
            );
            let f = std::fs::OpenOptions::new().write(true).open(p.aof_path())?;
            f.set_len(valid as u64)?;
            f.sync_all()?;
        }
        let n = protocol::replay(srv, cmds);
        tracing::info!(commands = n, "append-only file loaded");
        p.open_aof()?;
        return Ok(());
    }
    let n = p.load_snapshot(&srv.engine)?;
    if n > 0 {
        tracing::info!(keys = n, "snapshot loaded");
    }
    if appendonly {
        p.enable_aof(&srv.engine)?;
    }
    Ok(())
}

/// On SIGTERM: flush and fsync the AOF; snapshot if save rules are configured (as Redis does).
fn finish(srv: &protocol::Server) {
    let p = &srv.persistence;
    if p.aof_enabled() {
        p.commit_aof();
        p.set_fsync_policy(FsyncPolicy::EverySec);
        p.fsync_tick();
    }
    // A script still running (one that wrote cannot be killed) holds every shard: a snapshot would
    // wait for it forever, and would catch it halfway. Exit without one, like SHUTDOWN NOSAVE.
    if srv.scripts.pending() {
        tracing::warn!("a script is still running: exiting without the final snapshot");
        return;
    }
    if !p.save_rules().is_empty()
        && let Err(e) = p.save(&srv.engine)
    {
        tracing::error!(error = %e, "final snapshot failed");
    }
}

async fn report_metrics(srv: Arc<protocol::Server>, shutdown: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let st = &srv.engine.stats;
        metrics::gauge!("cache_used_memory_bytes").set(srv.engine.used_memory() as f64);
        metrics::gauge!("cache_connected_clients").set(st.connected_clients.load(Ordering::Relaxed) as f64);
        let (hits, misses) = srv.engine.hits_misses();
        metrics::gauge!("cache_keyspace_hits").set(hits as f64);
        metrics::gauge!("cache_keyspace_misses").set(misses as f64);
        metrics::gauge!("cache_evicted_keys").set(st.evicted_keys.load(Ordering::Relaxed) as f64);
        metrics::gauge!("cache_expired_keys").set(st.expired_keys.load(Ordering::Relaxed) as f64);
        metrics::gauge!("cache_commands_processed").set(st.commands.load(Ordering::Relaxed) as f64);
    }
}
