//! The credential store every daemon reads: a users file (`<data-dir>/users.toml`, mode 0600) holding one
//! or more users, each with an access key and a secret key. The first start generates the root user.
//! `STRATUS_ACCESS_KEY` / `STRATUS_SECRET_KEY` replace the root user's keys without touching the file.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};

pub const USERS_FILE: &str = "users.toml";
pub const ROOT_USER: &str = "root";

/// A secret key. Its `Debug` and `Display` never show the value, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself: only for signing and for showing the user their own credentials.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub access_key: String,
    pub secret_key: SecretKey,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct UsersFile {
    #[serde(default, rename = "user")]
    users: Vec<User>,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot access credential store {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("credential store {path} is malformed: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// All users known to the suite, looked up by access key.
#[derive(Debug, Clone)]
pub struct CredentialStore {
    users: Vec<User>,
}

impl CredentialStore {
    /// Opens the store under `root_dir`, creating it with a fresh root user on first start, then applies
    /// the environment override. Safe when several daemons start at once: the file appears atomically
    /// and the loser of a creation race reads the winner's file.
    pub fn open(root_dir: &Path) -> Result<Self, CredentialError> {
        let root_override = match (std::env::var("STRATUS_ACCESS_KEY"), std::env::var("STRATUS_SECRET_KEY")) {
            (Ok(ak), Ok(sk)) => Some((ak, SecretKey::new(sk))),
            _ => None,
        };
        Self::open_with_override(root_dir, root_override)
    }

    /// [`CredentialStore::open`] with the root override given explicitly instead of read from the environment.
    pub fn open_with_override(root_dir: &Path, root: Option<(String, SecretKey)>) -> Result<Self, CredentialError> {
        let mut store = Self::open_file(&root_dir.join(USERS_FILE))?;
        if let Some((access_key, secret_key)) = root {
            store.set_root(access_key, secret_key);
        }
        Ok(store)
    }

    fn open_file(path: &Path) -> Result<Self, CredentialError> {
        let io = |source| CredentialError::Io { path: path.into(), source };
        if !path.exists() {
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(io)?;
            let file = UsersFile { users: vec![generate_user(ROOT_USER)] };
            write_private(path, &toml::to_string(&file).expect("users serialise"), Mode::CreateOnly).map_err(io)?;
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let file: UsersFile = toml::from_str(&text)
            .map_err(|e| CredentialError::Malformed { path: path.into(), reason: e.to_string() })?;
        if file.users.is_empty() {
            return Err(CredentialError::Malformed { path: path.into(), reason: "no [[user]] entries".into() });
        }
        Ok(Self { users: file.users })
    }

    /// A store holding exactly these users (tests, embedded use).
    pub fn from_users(users: Vec<User>) -> Self {
        Self { users }
    }

    /// Adds a user to the file under `root_dir` (creating the store if needed) and returns it.
    pub fn add_user(root_dir: &Path, name: &str) -> Result<User, CredentialError> {
        let path = root_dir.join(USERS_FILE);
        let store = Self::open_file(&path)?;
        let user = generate_user(name);
        let mut users = store.users;
        users.push(user.clone());
        let text = toml::to_string(&UsersFile { users }).expect("users serialise");
        write_private(&path, &text, Mode::Replace).map_err(|source| CredentialError::Io { path, source })?;
        Ok(user)
    }

    fn set_root(&mut self, access_key: String, secret_key: SecretKey) {
        let root = User { name: ROOT_USER.into(), access_key, secret_key };
        match self.users.iter_mut().find(|u| u.name == ROOT_USER) {
            Some(existing) => *existing = root,
            None => self.users.insert(0, root),
        }
    }

    pub fn root(&self) -> &User {
        self.users.iter().find(|u| u.name == ROOT_USER).unwrap_or(&self.users[0])
    }

    pub fn by_access_key(&self, access_key: &str) -> Option<&User> {
        self.users.iter().find(|u| u.access_key == access_key)
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }
}

/// A user with AWS-shaped keys: a 20-character access key starting `AKIA` and a 40-character secret.
pub fn generate_user(name: &str) -> User {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    let access: String = (0..16).map(|_| UPPER[rng.gen_range(0..UPPER.len())] as char).collect::<String>();
    let secret: String = (0..40).map(|_| SECRET[rng.gen_range(0..SECRET.len())] as char).collect();
    User { name: name.into(), access_key: format!("AKIA{access}"), secret_key: SecretKey::new(secret) }
}

enum Mode {
    /// Keep an existing file: a concurrent creator's store is never replaced.
    CreateOnly,
    Replace,
}

/// Writes `text` to a temp file with mode 0600, fsyncs it, then puts it at `path` atomically.
fn write_private(path: &Path, text: &str, mode: Mode) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}.{:x}", std::process::id(), rand::random::<u64>()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    match mode {
        Mode::Replace => std::fs::rename(&tmp, path),
        Mode::CreateOnly => {
            // link(2) fails if `path` exists, unlike rename(2).
            let linked = std::fs::hard_link(&tmp, path);
            std::fs::remove_file(&tmp)?;
            match linked {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_open_creates_private_root_user_and_reopen_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = CredentialStore::open_file(&dir.path().join(USERS_FILE)).unwrap();
        let b = CredentialStore::open_file(&dir.path().join(USERS_FILE)).unwrap();
        assert_eq!(a.root(), b.root());
        assert!(a.root().access_key.starts_with("AKIA") && a.root().access_key.len() == 20);
        assert_eq!(a.root().secret_key.expose().len(), 40);
        let mode = std::fs::metadata(dir.path().join(USERS_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn several_users_are_found_by_access_key() {
        let dir = tempfile::tempdir().unwrap();
        let alice = CredentialStore::add_user(dir.path(), "alice").unwrap();
        let store = CredentialStore::open_file(&dir.path().join(USERS_FILE)).unwrap();
        assert_eq!(store.users().len(), 2);
        assert_eq!(store.by_access_key(&alice.access_key).unwrap().name, "alice");
        assert!(store.by_access_key("AKIANOSUCHKEY").is_none());
    }

    #[test]
    fn environment_override_replaces_root_keys_but_not_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let alice = CredentialStore::add_user(dir.path(), "alice").unwrap();
        let over = Some(("AKIAOVERRIDEOVERRIDE".to_string(), SecretKey::new("s3cr3t")));
        let store = CredentialStore::open_with_override(dir.path(), over).unwrap();
        assert_eq!(store.root().access_key, "AKIAOVERRIDEOVERRIDE");
        assert_eq!(store.by_access_key("AKIAOVERRIDEOVERRIDE").unwrap().secret_key.expose(), "s3cr3t");
        assert!(store.by_access_key(&alice.access_key).is_some(), "other users stay");
        let plain = CredentialStore::open_with_override(dir.path(), None).unwrap();
        assert_ne!(plain.root().access_key, "AKIAOVERRIDEOVERRIDE", "the file is untouched");
    }

    #[test]
    fn secrets_never_print() {
        let user = generate_user("x");
        let shown = format!("{user:?}");
        assert!(!shown.contains(user.secret_key.expose()));
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_root() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(USERS_FILE);
        let roots: Vec<User> = std::thread::scope(|s| {
            let handles: Vec<_> =
                (0..8).map(|_| s.spawn(|| CredentialStore::open_file(&path).unwrap().root().clone())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(roots.windows(2).all(|w| w[0] == w[1]));
    }
}
