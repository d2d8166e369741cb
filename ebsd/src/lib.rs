//! ebsd: EBS-style volumes served over NBD, managed through the EC2 Query API.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use common::config::defaults;
use common::kv::{KvStore, RocksKv};
use common::sigv4::Verifier;

pub mod engine;
pub mod protocol;
pub mod store;

#[derive(Parser, Debug, Clone)]
#[command(name = "ebsd", about = "EBS-style block volumes over NBD with the EC2 volume API")]
pub struct Args {
    #[command(flatten)]
    pub common: common::CommonArgs,
    /// Address of the NBD listener.
    #[arg(long, env = "STRATUS_NBD_LISTEN")]
    pub nbd_listen: Option<String>,
    /// Also serve NBD on this Unix socket (`nbd+unix:///vol-…?socket=PATH`).
    #[arg(long, env = "STRATUS_NBD_SOCKET")]
    pub nbd_socket: Option<PathBuf>,
    /// Do volume I/O with positioned reads and writes on a thread pool instead of io_uring.
    #[arg(long, env = "STRATUS_NO_IO_URING")]
    pub no_io_uring: bool,
    #[command(flatten)]
    pub snapshots: store::SnapshotStoreArgs,
    /// Pace background hydration of volumes restored from snapshots (MiB/s; 0 = unpaced).
    #[arg(long, env = "STRATUS_HYDRATE_MIB_PER_SEC", default_value_t = 0)]
    pub hydrate_mib_per_sec: u64,
    /// Scale the burst credit buckets of gp2 (5.4 M I/O credits) and st1/sc1 (1 TiB of throughput
    /// credits per TiB) by this factor: their initial and maximum balance. Burst and baseline rates are
    /// not scaled, so a gp2 volume still bursts to 3,000 IOPS and falls to 3 IOPS/GiB, only sooner
    /// (0.001 ends a 1 GiB volume's burst after ~1.9 s instead of ~31 min). 1.0 = AWS's sizes.
    #[arg(long, env = "STRATUS_BURST_CREDITS_SCALE", default_value = "1.0", value_name = "FACTOR")]
    pub burst_credits_scale: engine::perf::CreditScale,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut daemon = common::Daemon::start("ebsd", &args.common, defaults::EBSD, defaults::EBSD_METRICS)?;
    let nbd_addr =
        daemon.config.extra_addr("--nbd-listen", args.nbd_listen.as_deref(), "nbd_listen", defaults::EBSD_NBD)?;
    let nbd_socket = match args.nbd_socket.clone() {
        Some(p) => Some(p),
        None => daemon.config.file.string("nbd_socket")?.map(PathBuf::from),
    };
    let data_dir = daemon.config.data_dir.clone();
    let no_io_uring = args.no_io_uring || daemon.config.file.boolean("no_io_uring")?.unwrap_or(false);
    let kv: Arc<dyn KvStore> = Arc::new(
        RocksKv::open(&data_dir.join("meta"), store::meta::COLUMN_FAMILIES)
            .with_context(|| format!("cannot open the metadata store in {}", data_dir.display()))?,
    );
    let snapshot_store = args.snapshots.open(&data_dir, &daemon.config.file).await?;
    let hydrate_mib_per_sec = match daemon.config.file.integer("hydrate_mib_per_sec")? {
        Some(v) if args.hydrate_mib_per_sec == 0 => v.max(0) as u64,
        _ => args.hydrate_mib_per_sec,
    };
    let options = engine::EngineOptions { hydrate_mib_per_sec, burst_credits_scale: args.burst_credits_scale };
    if options.burst_credits_scale != engine::perf::CreditScale::AWS {
        tracing::warn!(
            scale = options.burst_credits_scale.factor(),
            "burst credit buckets are scaled: volumes reach their baseline sooner than on AWS"
        );
    }
    let engine = {
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || {
            engine::VolumeEngine::open(
                &data_dir,
                kv,
                common::clock::SystemClock::shared(),
                !no_io_uring,
                snapshot_store,
                options,
            )
        })
        .await?
        .context("cannot open the volumes")?
    };
    let ec2 = Arc::new(Verifier::new(daemon.credentials.clone(), &["ec2"]));
    let ebs = Arc::new(Verifier::new(daemon.credentials.clone(), &["ebs"]));
    daemon.serve_metrics().await?;
    daemon.serve_api(protocol::router(engine.clone(), ec2, ebs)).await?;
    let nbd = daemon.bind(nbd_addr, "--nbd-listen").await?;
    let nbd_local = nbd.local_addr()?;
    daemon.spawn(protocol::nbd::serve_tcp(nbd, engine.clone(), daemon.shutdown.clone()));
    daemon.announce(nbd_local, Some("nbd"));
    if let Some(path) = nbd_socket {
        // A socket file left by a killed daemon would make bind fail.
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove stale socket {}", path.display()))?;
        }
        let listener = tokio::net::UnixListener::bind(&path)
            .with_context(|| format!("ebsd: cannot listen on {} (--nbd-socket)", path.display()))?;
        println!("ebsd listening on unix:{} (nbd-unix)", path.display());
        daemon.spawn(protocol::nbd::serve_unix(listener, path, engine.clone(), daemon.shutdown.clone()));
    }
    daemon.run_until_shutdown().await?;
    tokio::task::spawn_blocking(move || engine.shutdown()).await?.context("cannot save the dirty maps")?;
    Ok(())
}
