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
    spawn_ttl_sweeper(engine.clone(), args.ttl_sweep_seconds);
    let app = protocol::App {
        engine,
        verifier: Arc::new(Verifier::new(daemon.credentials.clone(), &["dynamodb"])),
        fake_clock,
    };
    daemon.serve_metrics().await?;
    daemon.serve_api(protocol::router(app)).await?;
    daemon.run_until_shutdown().await
}

/// Runs the TTL sweeper every `period_secs` on the blocking pool, one pass at a time, so sweeping
/// never holds up the request workers (it takes item locks a chunk at a time).
fn spawn_ttl_sweeper(engine: Arc<engine::Engine>, period_secs: f64) {
    let period = std::time::Duration::from_secs_f64(period_secs.max(0.05));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let engine = engine.clone();
            match tokio::task::spawn_blocking(move || engine.sweep_expired()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::debug!(deleted = n, "TTL sweep"),
                Ok(Err(e)) => tracing::warn!(error = %e, "TTL sweep failed"),
                Err(e) => tracing::warn!(error = %e, "TTL sweep task failed"),
            }
        }
    });
}
