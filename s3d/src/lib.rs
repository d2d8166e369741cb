//! s3d: an S3-compatible object store.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use common::config::defaults;

pub mod engine;
pub mod protocol;
pub mod settings;
pub mod store;

#[derive(Parser, Debug, Clone)]
#[command(name = "s3d", about = "S3-compatible object store")]
pub struct Args {
    #[command(flatten)]
    pub common: common::CommonArgs,
    /// Extra base domain for virtual-hosted-style requests (`<bucket>.<domain>`); `localhost` always is one.
    #[arg(long, env = "STRATUS_S3_DOMAIN")]
    pub domain: Option<String>,
    /// Accept SSE-C keys over plain HTTP (S3 accepts them only over HTTPS).
    #[arg(long, env = "STRATUS_S3_ALLOW_SSE_C_OVER_HTTP")]
    pub allow_sse_c_over_http: bool,
    /// SSE-S3 master keyring (`<id> <base64 32-byte key>` per line, the last one current); default
    /// `<data-dir>/s3d/sse/master.keys`, created on first start (mode 0600).
    #[arg(long, env = "STRATUS_S3_SSE_MASTER_KEY_FILE")]
    pub sse_master_key_file: Option<std::path::PathBuf>,
    /// Add a new current SSE-S3 master key at start; objects sealed under older keys stay readable.
    #[arg(long)]
    pub rotate_sse_master_key: bool,
    /// Length of a lifecycle "day" in seconds (config `lifecycle.day_seconds`; default 86400).
    #[arg(long, env = "STRATUS_LIFECYCLE_DAY_SECONDS")]
    pub lifecycle_day_seconds: Option<f64>,
    /// Delay of an Expedited restore in seconds (config `restore.expedited_seconds`; default 1).
    #[arg(long, env = "STRATUS_RESTORE_EXPEDITED_SECONDS")]
    pub restore_expedited_seconds: Option<f64>,
    /// Delay of a Standard restore in seconds (config `restore.standard_seconds`; default 5).
    #[arg(long, env = "STRATUS_RESTORE_STANDARD_SECONDS")]
    pub restore_standard_seconds: Option<f64>,
    /// Delay of a Bulk restore in seconds (config `restore.bulk_seconds`; default 15). DEEP_ARCHIVE
    /// restores take 4 times as long.
    #[arg(long, env = "STRATUS_RESTORE_BULK_SECONDS")]
    pub restore_bulk_seconds: Option<f64>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut daemon = common::Daemon::start("s3d", &args.common, defaults::S3D, defaults::S3D_METRICS)?;
    let data = daemon.config.data_dir.clone();
    let meta = store::MetaStore::open(&data.join("meta")).context("cannot open the metadata store")?;
    let blobs = store::FsBlobStore::open(&data.join("blobs")).context("cannot open the blob store")?;
    let file = daemon.config.file.clone();
    let master_file = args.sse_master_key_file.clone().or(file.string("sse_master_key_file")?.map(Into::into));
    let keys = engine::sse::KeyService::open(&data.join("sse"), master_file, args.rotate_sse_master_key)
        .context("cannot open the SSE key store")?;
    let tiers = settings::tier_settings(
        &settings::TierFlags {
            day_seconds: args.lifecycle_day_seconds,
            expedited_seconds: args.restore_expedited_seconds,
            standard_seconds: args.restore_standard_seconds,
            bulk_seconds: args.restore_bulk_seconds,
        },
        args.common.config.as_deref(),
    )?;
    let cold = store::LocalColdTier::open(&data.join("cold")).context("cannot open the cold tier")?;
    let engine = Arc::new(
        engine::Engine::new(meta, Arc::new(blobs), common::clock::SystemClock::shared())
            .with_keys(keys)
            .with_tiering(Arc::new(cold), tiers),
    );
    let recovered = engine.recover().await.context("start-up recovery failed")?;
    tracing::info!(temporaries = recovered.temporaries, orphans = recovered.orphans, "recovered storage");
    tracing::info!(day = ?tiers.day, "lifecycle day length");
    let worker = engine::lifecycle::worker::LifecycleWorker::new(engine.clone());
    daemon.spawn(worker.run(daemon.shutdown.clone()));
    daemon.serve_metrics().await?;
    let options = protocol::Options {
        domain: args.domain,
        sse_c_allowed: daemon.config.tls != common::config::TlsMode::Off
            || args.allow_sse_c_over_http
            || file.boolean("allow_sse_c_over_http")?.unwrap_or(false),
    };
    daemon.serve_api(protocol::router(engine, daemon.credentials.clone(), options)).await?;
    daemon.run_until_shutdown().await
}
