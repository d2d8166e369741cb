//! Key material at rest: the SSE-S3 master keyring and the local KMS's state, each one file readable
//! by the owner only (0600), replaced atomically (temp file, fsync, rename, fsync of the directory) so
//! a crash leaves either the old or the new version, never a torn one.

use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Writes `bytes` to `path` (mode 0600) atomically and durably.
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("secret file has no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("secret")));
    {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        // An existing temp file keeps its mode: make sure it is ours only before the key goes in.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Reads a secret file; `None` when it does not exist. Warns when others may read it.
pub fn read_secret_file(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(path = %path.display(), "key file is readable by other users; chmod 600 it");
            }
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// SSE-S3 master keys: one `<id> <base64 key>` line each, the last one current. Older keys stay so
/// that data keys wrapped by them can still be unwrapped after a rotation.
pub struct Keyring {
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("ids", &self.keys.iter().map(|(id, _)| id).collect::<Vec<_>>()).finish()
    }
}

fn new_key() -> (String, [u8; 32]) {
    (format!("mk-{:012x}", rand::random::<u64>() >> 16), rand::random())
}

impl Keyring {
    /// One random key held in memory only (engine unit tests).
    pub fn ephemeral() -> Self {
        Self { keys: vec![new_key()] }
    }

    /// Loads the keyring at `path`, creating it with one new key when missing; `rotate` appends a new
    /// current key (and saves the file) first.
    pub fn open(path: &Path, rotate: bool) -> io::Result<Self> {
        let mut keys = match read_secret_file(path)? {
            Some(bytes) => Self::parse(&String::from_utf8_lossy(&bytes))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?,
            None => Vec::new(),
        };
        if keys.is_empty() || rotate {
            keys.push(new_key());
            let ring = Self { keys };
            write_secret_file(path, ring.render().as_bytes())?;
            if rotate {
                tracing::info!(key = ring.current().0, "rotated the SSE-S3 master key");
            }
            return Ok(ring);
        }
        Ok(Self { keys })
    }

    fn parse(text: &str) -> Result<Vec<(String, [u8; 32])>, String> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, key) = line.split_once(char::is_whitespace).ok_or(format!("line {}: want `<id> <key>`", n + 1))?;
            let raw = B64.decode(key.trim()).map_err(|_| format!("line {}: key is not base64", n + 1))?;
            let key: [u8; 32] = raw.try_into().map_err(|_| format!("line {}: key is not 32 bytes", n + 1))?;
            keys.push((id.to_string(), key));
        }
        Ok(keys)
    }

    fn render(&self) -> String {
        let mut s = String::from("# s3d SSE-S3 master keys: `<id> <base64 32-byte key>`, the last line is current.\n");
        for (id, key) in &self.keys {
            s.push_str(&format!("{id} {}\n", B64.encode(key)));
        }
        s
    }

    /// The key new data keys are wrapped with.
    pub fn current(&self) -> (&str, &[u8; 32]) {
        let (id, key) = self.keys.last().expect("a keyring always holds a key");
        (id, key)
    }

    pub fn get(&self, id: &str) -> Option<&[u8; 32]> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }
}

/// Where the local KMS keeps its state (`None`: memory only).
#[derive(Debug, Clone, Default)]
pub struct KmsFile {
    pub path: Option<PathBuf>,
}

impl KmsFile {
    pub fn load(&self) -> io::Result<Option<Vec<u8>>> {
        match &self.path {
            Some(p) => read_secret_file(p),
            None => Ok(None),
        }
    }

    pub fn save(&self, bytes: &[u8]) -> io::Result<()> {
        match &self.path {
            Some(p) => write_secret_file(p, bytes),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyring_is_created_private_and_rotation_keeps_old_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sse/master.keys");
        let first = Keyring::open(&path, false).unwrap();
        let (id1, key1) = (first.current().0.to_string(), *first.current().1);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let again = Keyring::open(&path, false).unwrap();
        assert_eq!(again.current().0, id1, "reopening keeps the key");
        let rotated = Keyring::open(&path, true).unwrap();
        assert_ne!(rotated.current().0, id1);
        assert_eq!(rotated.get(&id1), Some(&key1), "the old key stays for unwrapping");
        assert_eq!(Keyring::open(&path, false).unwrap().current().0, rotated.current().0);
        std::fs::write(&path, "k1 notbase64!\n").unwrap();
        assert!(Keyring::open(&path, false).is_err());
    }
}
