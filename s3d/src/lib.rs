//! s3d: an S3-compatible object store.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use common::config::defaults;

pub mod engine;
pub mod protocol;
pub mod store;

#[derive(Parser, Debug, Clone)]
#[command(name = "s3d", about = "S3-compatible object store")]
pub struct Args {
    #[command(flatten)]
    pub common: common::CommonArgs,
    /// Extra base domain for virtual-hosted-style requests (`<bucket>.<domain>`); `localhost` always is one.
    #[arg(long, env = "STRATUS_S3_DOMAIN")]
    pub domain: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut daemon = common::Daemon::start("s3d", &args.common, defaults::S3D, defaults::S3D_METRICS)?;
    let data = daemon.config.data_dir.clone();
    let meta = store::MetaStore::open(&data.join("meta")).context("cannot open the metadata store")?;
    let blobs = store::FsBlobStore::open(&data.join("blobs")).context("cannot open the blob store")?;
    let engine = Arc::new(engine::Engine::new(meta, Arc::new(blobs), common::clock::SystemClock::shared()));
    let recovered = engine.recover().await.context("start-up recovery failed")?;
    tracing::info!(temporaries = recovered.temporaries, orphans = recovered.orphans, "recovered storage");
    daemon.serve_metrics().await?;
    daemon.serve_api(protocol::router(engine, daemon.credentials.clone(), args.domain)).await?;
    daemon.run_until_shutdown().await
}
