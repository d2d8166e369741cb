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
    let app = protocol::App {
        engine: Arc::new(engine),
        verifier: Arc::new(Verifier::new(daemon.credentials.clone(), &["dynamodb"])),
        fake_clock,
    };
    daemon.serve_metrics().await?;
    daemon.serve_api(protocol::router(app)).await?;
    daemon.run_until_shutdown().await
}
