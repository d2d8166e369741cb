//! dynamod: a DynamoDB-compatible table store.
//!
//! `protocol` (JSON 1.0 wire, SigV4) → `engine` (tables, items, expressions, capacity) → `store`
//! (RocksDB through `common::kv`).

use std::sync::Arc;

use clap::Parser;
use common::clock::{FakeClock, SharedClock, SystemClock};
use common::config::defaults;
use common::sigv4::Verifier;

pub mod engine;
pub mod protocol;
pub mod store;

#[derive(Parser, Debug, Clone)]
#[command(name = "dynamod", about = "DynamoDB-compatible table store")]
pub struct Args {
    #[command(flatten)]
    pub common: common::CommonArgs,
    /// Tests only: capacity buckets follow a clock that moves only when POSTed seconds at
    /// `/_stratus/advance-clock`.
    #[arg(long, hide = true)]
    pub fake_clock: bool,
    /// Seconds between two passes of the Time to Live sweeper (expired items are deleted within
    /// about this delay).
    #[arg(long, env = "STRATUS_TTL_SWEEP_SECONDS", default_value_t = 60.0)]
    pub ttl_sweep_seconds: f64,
    /// The S3 endpoint ExportTableToPointInTime writes to (e.g. our s3d at http://127.0.0.1:9000).
    #[arg(long, env = "STRATUS_EXPORT_S3_ENDPOINT")]
    pub export_s3_endpoint: Option<String>,
    /// Access key for the export endpoint (default: this suite's root user).
    #[arg(long, env = "STRATUS_EXPORT_S3_ACCESS_KEY")]
    pub export_s3_access_key: Option<String>,
    /// Secret key for the export endpoint (default: this suite's root user).
    #[arg(long, env = "STRATUS_EXPORT_S3_SECRET_KEY", hide_env_values = true)]
    pub export_s3_secret_key: Option<String>,
    /// Region the export endpoint signs for.
    #[arg(long, env = "STRATUS_EXPORT_S3_REGION", default_value = "us-east-1")]
    pub export_s3_region: String,
    /// Tests only: the size limit of an item collection (a partition key's items and local
    /// secondary index entries), 10 GB as in DynamoDB by default.
    #[arg(long, hide = true, default_value_t = engine::collections::ITEM_COLLECTION_LIMIT)]
    pub item_collection_limit: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut daemon = common::Daemon::start("dynamod", &args.common, defaults::DYNAMOD, defaults::DYNAMOD_METRICS)?;
    let (clock, fake_clock): (SharedClock, _) = if args.fake_clock {
        let fake = FakeClock::new(time::OffsetDateTime::now_utc());
        (fake.clone(), Some(fake))
    } else {
        (SystemClock::shared(), None)
    };
    let data_dir = daemon.config.data_dir.join("db");
    let engine = tokio::task::spawn_blocking(move || -> anyhow::Result<engine::Engine> {
        let store = store::Store::open(&data_dir)
            .map_err(|e| anyhow::anyhow!("dynamod: cannot open {}: {e}", data_dir.display()))?;
        Ok(engine::Engine::open(store, clock)?)
    })
    .await??;
    let engine = Arc::new(engine);
    engine.set_item_collection_limit(args.item_collection_limit);
    if let Some(endpoint) = &args.export_s3_endpoint {
        let root = daemon.credentials.root();
        let access = args.export_s3_access_key.clone().unwrap_or_else(|| root.access_key.clone());
        let secret = args.export_s3_secret_key.clone().unwrap_or_else(|| root.secret_key.expose().to_string());
        let client = common::s3client::S3Client::new(endpoint, &access, &secret, &args.export_s3_region)
            .map_err(|e| anyhow::anyhow!("dynamod: --export-s3-endpoint: {e}"))?;
        engine.set_export_sink(protocol::export_sink::S3Sink::new(
            client,
            &args.export_s3_region,
            tokio::runtime::Handle::current(),
        ));
    }
    spawn_ttl_sweeper(engine.clone(), args.ttl_sweep_seconds);
    let verifier = Arc::new(Verifier::new(daemon.credentials.clone(), &["dynamodb"]));
    let app = protocol::App::new(engine, verifier, fake_clock);
    daemon.serve_metrics().await?;
    daemon.serve_api(protocol::router(app)).await?;
    daemon.run_until_shutdown().await
}

/// Runs the TTL sweeper (and the trimming of stream records past their 24 hours) every
/// `period_secs` on the blocking pool, one pass at a time, so sweeping never holds up the request
/// workers (it takes item locks a chunk at a time).
fn spawn_ttl_sweeper(engine: Arc<engine::Engine>, period_secs: f64) {
    let period = std::time::Duration::from_secs_f64(period_secs.max(0.05));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let engine = engine.clone();
            let pass = move || engine.sweep_expired().and_then(|n| Ok((n, engine.trim_streams()?)));
            match tokio::task::spawn_blocking(pass).await {
                Ok(Ok((0, 0))) => {}
                Ok(Ok((n, t))) => tracing::debug!(deleted = n, trimmed_batches = t, "TTL sweep and stream trim"),
                Ok(Err(e)) => tracing::warn!(error = %e, "TTL sweep failed"),
                Err(e) => tracing::warn!(error = %e, "TTL sweep task failed"),
            }
        }
    });
}
