//! Where snapshot data lives: content-addressed 512 KiB blocks (named by their BLAKE3 hash) and one
//! manifest per snapshot. The store only keeps bytes; which blocks are still needed (reference counts)
//! and which snapshots exist is the metadata store's business, whose commit is the point of truth.
//!
//! Two implementations: a local directory (the default) and any S3 endpoint (`store::s3`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A block's name: the BLAKE3 hash of its 512 KiB of content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockHash(pub [u8; 32]);

impl BlockHash {
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = hex::decode(s).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl std::fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockHash({})", &self.to_hex()[..16])
    }
}

/// Blocks and manifests, by name. Every `put` is durable when it returns and idempotent (the same
/// hash always names the same bytes). Calls block: callers run them on blocking threads.
pub trait SnapshotStore: Send + Sync {
    fn put_block(&self, hash: &BlockHash, data: &[u8]) -> io::Result<()>;
    /// The block's bytes, or `None` if the store does not have it.
    fn get_block(&self, hash: &BlockHash) -> io::Result<Option<Vec<u8>>>;
    fn has_block(&self, hash: &BlockHash) -> io::Result<bool>;
    /// Removing a block that is not there is not an error.
    fn delete_block(&self, hash: &BlockHash) -> io::Result<()>;
    /// Every block the store holds (start-up garbage collection).
    fn list_blocks(&self) -> io::Result<Vec<BlockHash>>;
    fn put_manifest(&self, snapshot_id: &str, manifest: &[u8]) -> io::Result<()>;
    fn get_manifest(&self, snapshot_id: &str) -> io::Result<Option<Vec<u8>>>;
    fn delete_manifest(&self, snapshot_id: &str) -> io::Result<()>;
    /// Snapshot ids with a manifest, sorted.
    fn list_manifests(&self) -> io::Result<Vec<String>>;
    /// Bytes of block data held (for metrics and tests of incremental snapshots).
    fn stored_bytes(&self) -> io::Result<u64>;
    /// A one-line description for the start-up log.
    fn describe(&self) -> String;
}

/// Blocks under `DIR/blocks/<first two hex digits>/<hash>`, manifests under `DIR/manifests/<id>`; every
/// file is written to a temporary name, fsynced and renamed, then its directory is fsynced.
pub struct DirSnapshotStore {
    root: PathBuf,
}

impl DirSnapshotStore {
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root.join("blocks"))?;
        fs::create_dir_all(root.join("manifests"))?;
        let me = Self { root: root.into() };
        me.remove_temp_files()?;
        Ok(me)
    }

    fn block_path(&self, hash: &BlockHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("blocks").join(&hex[..2]).join(hex)
    }

    fn manifest_path(&self, id: &str) -> io::Result<PathBuf> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad snapshot id {id:?}")));
        }
        Ok(self.root.join("manifests").join(id))
    }

    /// Temporary files of writes a crash interrupted.
    fn remove_temp_files(&self) -> io::Result<()> {
        let mut dirs = vec![self.root.join("manifests")];
        for entry in fs::read_dir(self.root.join("blocks"))? {
            dirs.push(entry?.path());
        }
        for dir in dirs {
            if !dir.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "tmp") {
                    fs::remove_file(&path)?;
                }
            }
        }
        Ok(())
    }
}

/// Writes `data` to `path` durably: temp file, fsync, rename, fsync of the directory.
fn write_durably(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path.parent().expect("store paths have a parent");
    fs::create_dir_all(dir)?;
    // Unique per call: two copiers may store the same content (same name) at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn remove_optional(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl SnapshotStore for DirSnapshotStore {
    fn put_block(&self, hash: &BlockHash, data: &[u8]) -> io::Result<()> {
        let path = self.block_path(hash);
        if path.exists() {
            return Ok(());
        }
        write_durably(&path, data)
    }

    fn get_block(&self, hash: &BlockHash) -> io::Result<Option<Vec<u8>>> {
        read_optional(&self.block_path(hash))
    }

    fn has_block(&self, hash: &BlockHash) -> io::Result<bool> {
        Ok(self.block_path(hash).exists())
    }

    fn delete_block(&self, hash: &BlockHash) -> io::Result<()> {
        remove_optional(&self.block_path(hash))
    }

    fn list_blocks(&self) -> io::Result<Vec<BlockHash>> {
        let mut out = Vec::new();
        for dir in fs::read_dir(self.root.join("blocks"))? {
            let dir = dir?.path();
            if !dir.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&dir)? {
                if let Some(hash) = entry?.file_name().to_str().and_then(BlockHash::from_hex) {
                    out.push(hash);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn put_manifest(&self, snapshot_id: &str, manifest: &[u8]) -> io::Result<()> {
        write_durably(&self.manifest_path(snapshot_id)?, manifest)
    }

    fn get_manifest(&self, snapshot_id: &str) -> io::Result<Option<Vec<u8>>> {
        read_optional(&self.manifest_path(snapshot_id)?)
    }

    fn delete_manifest(&self, snapshot_id: &str) -> io::Result<()> {
        remove_optional(&self.manifest_path(snapshot_id)?)
    }

    fn list_manifests(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.root.join("manifests"))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".tmp") {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    fn stored_bytes(&self) -> io::Result<u64> {
        let mut total = 0;
        for dir in fs::read_dir(self.root.join("blocks"))? {
            let dir = dir?.path();
            if dir.is_dir() {
                for entry in fs::read_dir(&dir)? {
                    total += entry?.metadata()?.len();
                }
            }
        }
        Ok(total)
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }
}

/// One conformance suite every `SnapshotStore` must pass (the directory store here, the S3 store in
/// the integration tests against s3d).
pub fn conformance(store: &dyn SnapshotStore) {
    let a = vec![1u8; 512 * 1024];
    let b: Vec<u8> = (0..512 * 1024).map(|i| (i % 251) as u8).collect();
    let (ha, hb) = (BlockHash::of(&a), BlockHash::of(&b));
    assert_ne!(ha, hb);
    assert!(!store.has_block(&ha).unwrap());
    assert_eq!(store.get_block(&ha).unwrap(), None);
    store.put_block(&ha, &a).unwrap();
    store.put_block(&ha, &a).unwrap(); // idempotent
    store.put_block(&hb, &b).unwrap();
    assert!(store.has_block(&ha).unwrap());
    assert_eq!(store.get_block(&hb).unwrap().as_deref(), Some(&b[..]));
    let mut listed = store.list_blocks().unwrap();
    listed.retain(|h| *h == ha || *h == hb);
    assert_eq!(listed.len(), 2);
    assert!(store.stored_bytes().unwrap() >= 2 * 512 * 1024);
    store.delete_block(&ha).unwrap();
    store.delete_block(&ha).unwrap(); // absent: still fine
    assert!(!store.has_block(&ha).unwrap());
    assert!(store.has_block(&hb).unwrap());

    store.put_manifest("snap-0000000000000000a", b"first").unwrap();
    store.put_manifest("snap-0000000000000000b", b"second").unwrap();
    store.put_manifest("snap-0000000000000000a", b"first, again").unwrap();
    assert_eq!(store.get_manifest("snap-0000000000000000a").unwrap().as_deref(), Some(&b"first, again"[..]));
    assert_eq!(store.get_manifest("snap-0000000000000000c").unwrap(), None);
    let ids = store.list_manifests().unwrap();
    assert!(ids.contains(&"snap-0000000000000000a".to_string()) && ids.contains(&"snap-0000000000000000b".into()));
    store.delete_manifest("snap-0000000000000000a").unwrap();
    store.delete_manifest("snap-0000000000000000a").unwrap();
    assert!(!store.list_manifests().unwrap().contains(&"snap-0000000000000000a".to_string()));
    store.delete_manifest("snap-0000000000000000b").unwrap();
    store.delete_block(&hb).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirSnapshotStore::open(dir.path()).unwrap();
        conformance(&store);
    }

    #[test]
    fn interrupted_writes_are_cleaned_up_on_open() {
        let dir = tempfile::tempdir().unwrap();
        DirSnapshotStore::open(dir.path()).unwrap();
        let stray = dir.path().join("blocks").join("ab").join("abcd.123.tmp");
        fs::create_dir_all(stray.parent().unwrap()).unwrap();
        fs::write(&stray, b"partial").unwrap();
        DirSnapshotStore::open(dir.path()).unwrap();
        assert!(!stray.exists());
    }
}
