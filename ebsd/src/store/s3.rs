//! The snapshot store in any S3 endpoint (our s3d included), as EBS keeps snapshots in S3: blocks
//! under `<prefix>blocks/<hash>`, manifests under `<prefix>manifests/<snapshot id>`. Requests go
//! through common's small SigV4 client, each with a timeout; the engine calls the store from blocking
//! threads, which wait here on the daemon's runtime.

use std::io;

use bytes::Bytes;
use common::s3client::{S3Client, S3ClientError};
use tokio::runtime::Handle;

use super::snapshots::{BlockHash, SnapshotStore};
use crate::engine::blocks::BLOCK_SIZE;

/// Manifests of the largest volumes (16 TiB, 40 bytes per block) stay well below this.
const MAX_MANIFEST: usize = 2 << 30;
const LIST_PAGE: u32 = 1000;

pub struct S3SnapshotStore {
    client: S3Client,
    bucket: String,
    prefix: String,
    runtime: Handle,
}

fn io_err(e: S3ClientError) -> io::Error {
    io::Error::other(e.to_string())
}

impl S3SnapshotStore {
    /// Connects and creates the bucket if it does not exist yet. Call from an async context.
    pub async fn open(client: S3Client, bucket: &str, prefix: &str) -> io::Result<Self> {
        client.create_bucket(bucket).await.map_err(io_err)?;
        let mut prefix = prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        Ok(Self { client, bucket: bucket.into(), prefix, runtime: Handle::current() })
    }

    fn block_key(&self, hash: &BlockHash) -> String {
        format!("{}blocks/{}", self.prefix, hash.to_hex())
    }

    fn manifest_key(&self, id: &str) -> String {
        format!("{}manifests/{id}", self.prefix)
    }

    fn wait<T>(&self, f: impl std::future::Future<Output = Result<T, S3ClientError>>) -> io::Result<T> {
        self.runtime.block_on(f).map_err(io_err)
    }

    /// Every (key, size) under `prefix`.
    fn list(&self, prefix: &str) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.wait(self.client.list_objects_v2(&self.bucket, prefix, token.as_deref(), LIST_PAGE))?;
            out.extend(page.objects.into_iter().map(|o| (o.key, o.size)));
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }
}

impl SnapshotStore for S3SnapshotStore {
    fn put_block(&self, hash: &BlockHash, data: &[u8]) -> io::Result<()> {
        self.wait(self.client.put_object(&self.bucket, &self.block_key(hash), Bytes::copy_from_slice(data))).map(|_| ())
    }

    fn get_block(&self, hash: &BlockHash) -> io::Result<Option<Vec<u8>>> {
        let body = self.wait(self.client.get_object(&self.bucket, &self.block_key(hash), None, BLOCK_SIZE as usize))?;
        Ok(body.map(|b| b.to_vec()))
    }

    fn has_block(&self, hash: &BlockHash) -> io::Result<bool> {
        Ok(self.wait(self.client.head_object(&self.bucket, &self.block_key(hash)))?.is_some())
    }

    fn delete_block(&self, hash: &BlockHash) -> io::Result<()> {
        self.wait(self.client.delete_object(&self.bucket, &self.block_key(hash)))
    }

    fn list_blocks(&self) -> io::Result<Vec<BlockHash>> {
        let prefix = format!("{}blocks/", self.prefix);
        let mut out: Vec<BlockHash> =
            self.list(&prefix)?.iter().filter_map(|(k, _)| BlockHash::from_hex(&k[prefix.len()..])).collect();
        out.sort();
        Ok(out)
    }

    fn put_manifest(&self, snapshot_id: &str, manifest: &[u8]) -> io::Result<()> {
        self.wait(self.client.put_object(
            &self.bucket,
            &self.manifest_key(snapshot_id),
            Bytes::copy_from_slice(manifest),
        ))
        .map(|_| ())
    }

    fn get_manifest(&self, snapshot_id: &str) -> io::Result<Option<Vec<u8>>> {
        let body =
            self.wait(self.client.get_object(&self.bucket, &self.manifest_key(snapshot_id), None, MAX_MANIFEST))?;
        Ok(body.map(|b| b.to_vec()))
    }

    fn delete_manifest(&self, snapshot_id: &str) -> io::Result<()> {
        self.wait(self.client.delete_object(&self.bucket, &self.manifest_key(snapshot_id)))
    }

    fn list_manifests(&self) -> io::Result<Vec<String>> {
        let prefix = format!("{}manifests/", self.prefix);
        let mut out: Vec<String> =
            self.list(&prefix)?.into_iter().map(|(k, _)| k[prefix.len()..].to_string()).collect();
        out.sort();
        Ok(out)
    }

    fn stored_bytes(&self) -> io::Result<u64> {
        Ok(self.list(&format!("{}blocks/", self.prefix))?.iter().map(|(_, size)| size).sum())
    }

    fn describe(&self) -> String {
        format!("s3 {}/{}/{}", self.client.endpoint(), self.bucket, self.prefix)
    }
}
