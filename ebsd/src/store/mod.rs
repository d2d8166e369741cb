//! ebsd's persistence: volume and snapshot metadata in the key-value store, volume data in one sparse
//! file each, snapshot blocks in a `SnapshotStore` (a directory, or an S3 endpoint).

pub mod file;
pub mod meta;
pub mod s3;
pub mod snapshots;
pub mod uring;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use common::config::FileConfig;

pub use file::{Extent, VolumeFile};
pub use meta::MetaStore;
use snapshots::{DirSnapshotStore, SnapshotStore};
pub use uring::Uring;

/// Where snapshots are kept: `DIR/snapshots` unless told otherwise; an S3 endpoint when
/// `--snapshot-s3-endpoint` is given.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SnapshotStoreArgs {
    /// Directory of the local snapshot store (default: `<data dir>/snapshots`).
    #[arg(long, env = "STRATUS_SNAPSHOT_DIR")]
    pub snapshot_dir: Option<PathBuf>,
    /// Keep snapshots in this S3 endpoint instead (`http://host:port`).
    #[arg(long, env = "STRATUS_SNAPSHOT_S3_ENDPOINT")]
    pub snapshot_s3_endpoint: Option<String>,
    #[arg(long, env = "STRATUS_SNAPSHOT_S3_BUCKET", default_value = "ebs-snapshots")]
    pub snapshot_s3_bucket: String,
    #[arg(long, env = "STRATUS_SNAPSHOT_S3_PREFIX", default_value = "")]
    pub snapshot_s3_prefix: String,
    #[arg(long, env = "STRATUS_SNAPSHOT_S3_REGION", default_value = "us-east-1")]
    pub snapshot_s3_region: String,
    /// Access key for the S3 endpoint.
    #[arg(long, env = "STRATUS_SNAPSHOT_S3_ACCESS_KEY")]
    pub snapshot_s3_access_key: Option<String>,
    /// Secret key for the S3 endpoint (prefer the environment variable: flags show in `ps`).
    #[arg(long, env = "STRATUS_SNAPSHOT_S3_SECRET_KEY", hide_env_values = true)]
    pub snapshot_s3_secret_key: Option<String>,
}

impl SnapshotStoreArgs {
    /// Opens the configured store (flags and env first, then the TOML file's keys of the same names).
    pub async fn open(&self, data_dir: &Path, file: &FileConfig) -> anyhow::Result<Arc<dyn SnapshotStore>> {
        let pick = |cli: &Option<String>, key: &str| -> anyhow::Result<Option<String>> {
            Ok(match cli {
                Some(v) => Some(v.clone()),
                None => file.string(key)?,
            })
        };
        if let Some(endpoint) = pick(&self.snapshot_s3_endpoint, "snapshot_s3_endpoint")? {
            let key = pick(&self.snapshot_s3_access_key, "snapshot_s3_access_key")?
                .context("--snapshot-s3-endpoint needs --snapshot-s3-access-key (or STRATUS_SNAPSHOT_S3_ACCESS_KEY)")?;
            let secret = pick(&self.snapshot_s3_secret_key, "snapshot_s3_secret_key")?
                .context("--snapshot-s3-endpoint needs STRATUS_SNAPSHOT_S3_SECRET_KEY")?;
            let client = common::s3client::S3Client::new(&endpoint, &key, &secret, &self.snapshot_s3_region)
                .with_context(|| format!("bad --snapshot-s3-endpoint {endpoint}"))?;
            let store = s3::S3SnapshotStore::open(client, &self.snapshot_s3_bucket, &self.snapshot_s3_prefix)
                .await
                .with_context(|| format!("cannot reach the snapshot store at {endpoint}"))?;
            return Ok(Arc::new(store));
        }
        let dir = match &self.snapshot_dir {
            Some(d) => d.clone(),
            None => file.string("snapshot_dir")?.map(PathBuf::from).unwrap_or_else(|| data_dir.join("snapshots")),
        };
        let store = DirSnapshotStore::open(&dir)
            .with_context(|| format!("cannot open the snapshot store in {}", dir.display()))?;
        Ok(Arc::new(store))
    }
}
