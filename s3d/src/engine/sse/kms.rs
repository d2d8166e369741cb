//! A small local key management service: symmetric keys (enable/disable), aliases, data keys and
//! envelope encryption, as the KMS JSON API's subset that the aws cli and S3's SSE-KMS use. Key
//! material never leaves it except as a data key's plaintext handed to the caller that asked for it.
//! State is one 0600 file, rewritten on every change (these are rare administrative calls).

use std::collections::BTreeMap;
use std::sync::Mutex;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::store::keys::KmsFile;

/// The account id in our ARNs (one local account).
pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";
/// The alias of the AWS-managed key S3 uses when SSE-KMS names no key.
pub const S3_DEFAULT_ALIAS: &str = "alias/aws/s3";
const BLOB_MAGIC: &[u8; 4] = b"SKM1";
/// Largest plaintext `Encrypt` takes (as KMS).
pub const MAX_PLAINTEXT: usize = 4096;
/// Largest data key `GenerateDataKey` makes (its `NumberOfBytes` is 1..=1024).
pub const MAX_DATA_KEY: usize = 1024;
/// The encryption algorithms KMS knows, in the order its validation errors list them.
pub const ENCRYPTION_ALGORITHMS: [&str; 4] = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE", "SYMMETRIC_DEFAULT"];
/// The only algorithm of a symmetric key (every key here is one).
pub const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0} is disabled.")]
    Disabled(String),
    #[error("{0}")]
    InvalidCiphertext(String),
    #[error("{0}")]
    IncorrectKey(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("Invalid marker")]
    InvalidMarker,
    /// A key's policy does not allow the operation (an AWS managed key's, for key management).
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    Unsupported(String),
    /// The key cannot do what was asked of it (an asymmetric algorithm for a symmetric key).
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("cannot save KMS state: {0}")]
    Io(#[from] std::io::Error),
}

pub type KmsResult<T> = Result<T, KmsError>;

/// An encryption context: sorted, so that its canonical form is stable.
pub type Context = BTreeMap<String, String>;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyEntry {
    description: String,
    enabled: bool,
    created: i64,
    /// `CUSTOMER` or `AWS` (the `aws/s3` key).
    manager: String,
    material: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AliasEntry {
    target: String,
    created: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    keys: BTreeMap<String, KeyEntry>,
    aliases: BTreeMap<String, AliasEntry>,
}

/// A key as DescribeKey / CreateKey report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: String,
    pub arn: String,
    pub description: String,
    pub enabled: bool,
    pub created: i64,
    pub manager: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasInfo {
    pub name: String,
    pub arn: String,
    pub target: String,
    pub created: i64,
}

pub fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

fn alias_arn(name: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:{name}")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn aad(context: &Context) -> Vec<u8> {
    serde_json::to_vec(context).expect("a string map serialises")
}

pub struct Kms {
    state: Mutex<State>,
    file: KmsFile,
}

impl Kms {
    /// Loads the state from `file` (empty when there is none yet).
    pub fn open(file: KmsFile) -> std::io::Result<Self> {
        let state = match file.load()? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("corrupt KMS state: {e}")))?,
            None => State::default(),
        };
        Ok(Self { state: Mutex::new(state), file })
    }

    pub fn memory() -> Self {
        Self { state: Mutex::new(State::default()), file: KmsFile::default() }
    }

    fn save(&self, state: &State) -> KmsResult<()> {
        Ok(self.file.save(&serde_json::to_vec_pretty(state).expect("state serialises"))?)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A key id from an id, key ARN, alias name or alias ARN.
    fn resolve(state: &State, key: &str) -> KmsResult<String> {
        let key = key.trim();
        if key.is_empty() {
            return Err(KmsError::Validation("KeyId is required".into()));
        }
        let alias = if let Some(rest) = key.strip_prefix("arn:aws:kms:") {
            let mut fields = rest.splitn(3, ':');
            let (region, account) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
            let resource = fields.next().unwrap_or_default();
            // A key of another region or account is not one of ours (KMS looks only in its own).
            if region != REGION {
                return Err(KmsError::NotFound(format!("Invalid arn {region}")));
            }
            if account != ACCOUNT {
                return Err(KmsError::NotFound(if resource.starts_with("alias/") {
                    format!("Alias '{key}' is not found.")
                } else {
                    format!("Key '{key}' does not exist")
                }));
            }
            if let Some(id) = resource.strip_prefix("key/") {
                return state
                    .keys
                    .contains_key(id)
                    .then(|| id.to_string())
                    .ok_or_else(|| KmsError::NotFound(format!("Key '{}' does not exist", key_arn(id))));
            }
            resource.to_string()
        } else if key.starts_with("alias/") {
            key.to_string()
        } else {
            return state
                .keys
                .contains_key(key)
                .then(|| key.to_string())
                .ok_or_else(|| KmsError::NotFound(format!("Key '{}' does not exist", key_arn(key))));
        };
        state
            .aliases
            .get(&alias)
            .map(|a| a.target.clone())
            .ok_or_else(|| KmsError::NotFound(format!("Alias '{}' is not found.", alias_arn(&alias))))
    }

    fn info(id: &str, k: &KeyEntry) -> KeyInfo {
        KeyInfo {
            id: id.into(),
            arn: key_arn(id),
            description: k.description.clone(),
            enabled: k.enabled,
            created: k.created,
            manager: k.manager.clone(),
        }
    }

    fn insert_key(state: &mut State, description: String, manager: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let material: [u8; 32] = rand::random();
        state.keys.insert(
            id.clone(),
            KeyEntry {
                description,
                enabled: true,
                created: now(),
                manager: manager.into(),
                material: B64.encode(material),
            },
        );
        id
    }

    pub fn create_key(
        &self,
        description: Option<String>,
        usage: Option<&str>,
        spec: Option<&str>,
    ) -> KmsResult<KeyInfo> {
        if usage.is_some_and(|u| u != "ENCRYPT_DECRYPT") {
            return Err(KmsError::Unsupported(format!(
                "KeyUsage {} is not supported by this KMS",
                usage.unwrap_or("")
            )));
        }
        if spec.is_some_and(|s| s != "SYMMETRIC_DEFAULT") {
            return Err(KmsError::Unsupported(format!("KeySpec {} is not supported by this KMS", spec.unwrap_or(""))));
        }
        let description = description.unwrap_or_default();
        if description.len() > 8192 {
            return Err(KmsError::Validation("Description must be at most 8192 characters".into()));
        }
        let mut state = self.lock();
        let id = Self::insert_key(&mut state, description, "CUSTOMER");
        self.save(&state)?;
        Ok(Self::info(&id, &state.keys[&id]))
    }

    pub fn describe_key(&self, key: &str) -> KmsResult<KeyInfo> {
        let state = self.lock();
        let id = Self::resolve(&state, key)?;
        Ok(Self::info(&id, &state.keys[&id]))
    }

    /// Keys in id order after `marker` (the last id of the previous page); the bool says more follow.
    pub fn list_keys(&self, limit: usize, marker: Option<&str>) -> KmsResult<(Vec<KeyInfo>, bool)> {
        let state = self.lock();
        let mut out = Vec::new();
        for (id, k) in &state.keys {
            if marker.is_some_and(|m| id.as_str() <= m) {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(Self::info(id, k));
        }
        Ok((out, false))
    }

    /// EnableKey / DisableKey: by key id or key ARN only (not an alias, as in AWS KMS), and never on
    /// an AWS managed key (`alias/aws/s3`), which every default-encrypted object depends on.
    pub fn set_enabled(&self, key: &str, enabled: bool) -> KmsResult<()> {
        let mut state = self.lock();
        if key.trim().starts_with("alias/") || key.contains(":alias/") {
            return Err(KmsError::NotFound(format!("Invalid keyId '{key}'")));
        }
        let id = Self::resolve(&state, key)?;
        let k = state.keys.get_mut(&id).expect("resolved");
        if k.manager == "AWS" {
            let op = if enabled { "kms:EnableKey" } else { "kms:DisableKey" };
            return Err(KmsError::AccessDenied(format!(
                "Not authorized to perform: {op} on resource: {} because no resource-based policy allows the {op} action",
                key_arn(&id)
            )));
        }
        k.enabled = enabled;
        self.save(&state)
    }

    pub fn create_alias(&self, name: &str, target: &str) -> KmsResult<()> {
        let valid = name.strip_prefix("alias/").is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 250
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
        });
        if !valid {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
            )));
        }
        if name.starts_with("alias/aws/") {
            return Err(KmsError::InvalidAliasName(format!("Alias must not begin with 'alias/aws/': {name}")));
        }
        let mut state = self.lock();
        if state.aliases.contains_key(name) {
            return Err(KmsError::AlreadyExists(format!("An alias with the name {} already exists", alias_arn(name))));
        }
        if target.starts_with("alias/") || target.contains(":alias/") {
            return Err(KmsError::Validation("TargetKeyId must be a key id or key ARN".into()));
        }
        let id = Self::resolve(&state, target)?;
        state.aliases.insert(name.into(), AliasEntry { target: id, created: now() });
        self.save(&state)
    }

    /// Aliases in name order after `marker`, only those of `key` if given.
    pub fn list_aliases(
        &self,
        key: Option<&str>,
        limit: usize,
        marker: Option<&str>,
    ) -> KmsResult<(Vec<AliasInfo>, bool)> {
        let state = self.lock();
        let only = key.map(|k| Self::resolve(&state, k)).transpose()?;
        let mut out = Vec::new();
        for (name, a) in &state.aliases {
            if marker.is_some_and(|m| name.as_str() <= m) || only.as_ref().is_some_and(|id| *id != a.target) {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(AliasInfo {
                name: name.clone(),
                arn: alias_arn(name),
                target: a.target.clone(),
                created: a.created,
            });
        }
        Ok((out, false))
    }

    /// The enabled key's id and cipher.
    fn usable(state: &State, key: &str) -> KmsResult<(String, Aes256Gcm)> {
        let id = Self::resolve(state, key)?;
        let entry = &state.keys[&id];
        if !entry.enabled {
            return Err(KmsError::Disabled(key_arn(&id)));
        }
        let material = B64.decode(&entry.material).map_err(|_| KmsError::Io(std::io::Error::other("corrupt key")))?;
        let cipher =
            Aes256Gcm::new_from_slice(&material).map_err(|_| KmsError::Io(std::io::Error::other("corrupt key")))?;
        Ok((id, cipher))
    }

    /// Encrypt: a ciphertext blob of `plaintext` under `key`, bound to `context`.
    pub fn encrypt(&self, key: &str, plaintext: &[u8], context: &Context) -> KmsResult<(Vec<u8>, String)> {
        self.encrypt_with(key, plaintext, context, None)
    }

    /// Encrypt with the request's `EncryptionAlgorithm` (one of [`ENCRYPTION_ALGORITHMS`]; `None` =
    /// `SYMMETRIC_DEFAULT`). The key is found and checked enabled first, as KMS does; an asymmetric
    /// algorithm is then refused, every key here being symmetric.
    pub fn encrypt_with(
        &self,
        key: &str,
        plaintext: &[u8],
        context: &Context,
        algorithm: Option<&str>,
    ) -> KmsResult<(Vec<u8>, String)> {
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and {MAX_PLAINTEXT}"
            )));
        }
        let (id, cipher) = Self::usable(&self.lock(), key)?;
        symmetric_algorithm(algorithm)?;
        let nonce: [u8; 12] = rand::random();
        let sealed = cipher
            .encrypt(&nonce.into(), aes_gcm::aead::Payload { msg: plaintext, aad: &aad(context) })
            .expect("small plaintexts encrypt");
        let mut blob = BLOB_MAGIC.to_vec();
        blob.push(id.len() as u8);
        blob.extend_from_slice(id.as_bytes());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok((blob, key_arn(&id)))
    }

    /// Decrypt: the plaintext of a blob from [`Kms::encrypt`], given the same context; with `key`,
    /// the blob must be under that key.
    pub fn decrypt(&self, blob: &[u8], context: &Context, key: Option<&str>) -> KmsResult<(Vec<u8>, String)> {
        self.decrypt_with(blob, context, key, None)
    }

    /// Decrypt with the request's `EncryptionAlgorithm` (as [`Kms::encrypt_with`]).
    pub fn decrypt_with(
        &self,
        blob: &[u8],
        context: &Context,
        key: Option<&str>,
        algorithm: Option<&str>,
    ) -> KmsResult<(Vec<u8>, String)> {
        let invalid = || KmsError::InvalidCiphertext(String::new());
        let rest = blob.strip_prefix(BLOB_MAGIC.as_slice()).ok_or_else(invalid)?;
        let (&len, rest) = rest.split_first().ok_or_else(invalid)?;
        if rest.len() < len as usize + 12 + 16 {
            return Err(invalid());
        }
        let (id, rest) = rest.split_at(len as usize);
        let id = std::str::from_utf8(id).map_err(|_| invalid())?;
        let (nonce, sealed) = rest.split_at(12);
        let state = self.lock();
        if let Some(k) = key
            && Self::resolve(&state, k)? != id
        {
            return Err(KmsError::IncorrectKey(
                "The key ID in the request does not identify a CMK that can perform this operation.".into(),
            ));
        }
        let (id, cipher) = Self::usable(&state, id)?;
        symmetric_algorithm(algorithm)?;
        let nonce: [u8; 12] = nonce.try_into().expect("12 bytes");
        let plain = cipher
            .decrypt(&nonce.into(), aes_gcm::aead::Payload { msg: sealed, aad: &aad(context) })
            .map_err(|_| invalid())?;
        Ok((plain, key_arn(&id)))
    }

    /// GenerateDataKey: `bytes` random bytes, in plaintext and as a blob under `key`.
    pub fn generate_data_key(
        &self,
        key: &str,
        bytes: usize,
        context: &Context,
    ) -> KmsResult<(Vec<u8>, Vec<u8>, String)> {
        if let Some(message) = number_of_bytes_error(bytes as i64) {
            return Err(KmsError::Validation(format!("1 validation error detected: {message}")));
        }
        let plain: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
        let (blob, arn) = self.encrypt(key, &plain, context)?;
        Ok((plain, blob, arn))
    }

    /// The key S3 uses when SSE-KMS names none: `aws/s3`, created on first use.
    pub fn s3_default_key(&self) -> KmsResult<String> {
        let mut state = self.lock();
        if let Some(a) = state.aliases.get(S3_DEFAULT_ALIAS) {
            return Ok(a.target.clone());
        }
        let id = Self::insert_key(
            &mut state,
            "Default key that protects my S3 objects when no other key is defined".into(),
            "AWS",
        );
        state.aliases.insert(S3_DEFAULT_ALIAS.into(), AliasEntry { target: id.clone(), created: now() });
        self.save(&state)?;
        Ok(id)
    }
}

/// What is wrong with a `NumberOfBytes` (KMS's 1..=1024), as one clause of a ValidationException.
pub fn number_of_bytes_error(n: i64) -> Option<String> {
    let bound = if n < 1 {
        "greater than or equal to 1".to_string()
    } else if n > MAX_DATA_KEY as i64 {
        format!("less than or equal to {MAX_DATA_KEY}")
    } else {
        return None;
    };
    Some(format!("Value '{n}' at 'numberOfBytes' failed to satisfy constraint: Member must have value {bound}"))
}

/// A symmetric key takes only `SYMMETRIC_DEFAULT`; any other (valid) algorithm is for asymmetric keys.
fn symmetric_algorithm(algorithm: Option<&str>) -> KmsResult<()> {
    match algorithm {
        None | Some(SYMMETRIC_DEFAULT) => Ok(()),
        Some(other) => Err(KmsError::InvalidKeyUsage(format!(
            "Algorithm {other} is incompatible with key spec {SYMMETRIC_DEFAULT}."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_aliases_and_envelope_encryption() {
        let dir = tempfile::tempdir().unwrap();
        let file = KmsFile { path: Some(dir.path().join("kms.json")) };
        let kms = Kms::open(file.clone()).unwrap();
        let k = kms.create_key(Some("mine".into()), None, None).unwrap();
        kms.create_alias("alias/photos", &k.id).unwrap();
        assert!(matches!(kms.create_alias("alias/photos", &k.id), Err(KmsError::AlreadyExists(_))));
        assert!(matches!(kms.create_alias("alias/aws/x", &k.id), Err(KmsError::InvalidAliasName(_))));
        assert!(matches!(kms.create_alias("nope", &k.id), Err(KmsError::Validation(_))));
        for r in [k.id.as_str(), k.arn.as_str(), "alias/photos", &alias_arn("alias/photos")] {
            assert_eq!(kms.describe_key(r).unwrap().id, k.id, "{r}");
        }
        assert!(matches!(kms.describe_key("alias/none"), Err(KmsError::NotFound(_))));
        let ctx: Context = [("a".to_string(), "1".to_string())].into();
        let (plain, blob, arn) = kms.generate_data_key("alias/photos", 32, &ctx).unwrap();
        assert_eq!((plain.len(), arn.as_str()), (32, k.arn.as_str()));
        assert_eq!(kms.decrypt(&blob, &ctx, None).unwrap().0, plain);
        assert!(matches!(kms.decrypt(&blob, &Context::new(), None), Err(KmsError::InvalidCiphertext(_))));
        kms.set_enabled(&k.id, false).unwrap();
        assert!(matches!(kms.decrypt(&blob, &ctx, None), Err(KmsError::Disabled(_))));
        assert!(matches!(kms.generate_data_key(&k.id, 32, &ctx), Err(KmsError::Disabled(_))));
        // State survives a restart.
        let again = Kms::open(file).unwrap();
        assert!(!again.describe_key(&k.id).unwrap().enabled);
        assert!(matches!(again.set_enabled("alias/photos", true), Err(KmsError::NotFound(_))), "key id or ARN only");
        again.set_enabled(&k.arn, true).unwrap();
        assert_eq!(again.decrypt(&blob, &ctx, Some(&k.arn)).unwrap().0, plain);
        let other = again.create_key(None, None, None).unwrap();
        assert!(matches!(again.decrypt(&blob, &ctx, Some(&other.id)), Err(KmsError::IncorrectKey(_))));
        let s3 = again.s3_default_key().unwrap();
        assert_eq!(again.s3_default_key().unwrap(), s3);
        assert!(matches!(again.set_enabled(&s3, false), Err(KmsError::AccessDenied(_))), "AWS managed");
        let (page, more) = again.list_keys(2, None).unwrap();
        assert!(more && page.len() == 2);
        let (rest, more) = again.list_keys(2, Some(&page[1].id)).unwrap();
        assert!(!more && rest.len() == 1);
        assert_eq!(again.list_aliases(None, 10, None).unwrap().0.len(), 2);
        assert_eq!(again.list_aliases(Some(&k.id), 10, None).unwrap().0[0].name, "alias/photos");
    }

    #[test]
    fn foreign_arns_algorithms_and_data_key_lengths() {
        let kms = Kms::memory();
        let k = kms.create_key(None, None, None).unwrap();
        kms.create_alias("alias/mine", &k.id).unwrap();
        let ctx = Context::new();
        // Another account's or region's key or alias is not ours, even with our key's id.
        let other_account = k.arn.replace(ACCOUNT, "111122223333");
        let other_region = k.arn.replace(REGION, "eu-west-1");
        let alias_elsewhere = alias_arn("alias/mine").replace(ACCOUNT, "111122223333");
        for arn in [&other_account, &other_region, &alias_elsewhere] {
            assert!(matches!(kms.encrypt(arn, b"x", &ctx), Err(KmsError::NotFound(_))), "{arn}");
            assert!(matches!(kms.describe_key(arn), Err(KmsError::NotFound(_))), "{arn}");
        }
        assert!(matches!(kms.describe_key(&other_region), Err(KmsError::NotFound(m)) if m == "Invalid arn eu-west-1"));
        assert!(
            matches!(kms.describe_key(&other_account), Err(KmsError::NotFound(m)) if m == format!("Key '{other_account}' does not exist"))
        );
        // A symmetric key takes SYMMETRIC_DEFAULT only; the key is checked first.
        let (blob, _) = kms.encrypt_with(&k.arn, b"x", &ctx, Some(SYMMETRIC_DEFAULT)).unwrap();
        for alg in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
            let e = kms.encrypt_with(&k.id, b"x", &ctx, Some(alg)).unwrap_err();
            assert_eq!(e.to_string(), format!("Algorithm {alg} is incompatible with key spec SYMMETRIC_DEFAULT."));
            assert!(matches!(e, KmsError::InvalidKeyUsage(_)));
            assert!(matches!(kms.decrypt_with(&blob, &ctx, None, Some(alg)), Err(KmsError::InvalidKeyUsage(_))));
            assert!(matches!(kms.encrypt_with("alias/none", b"x", &ctx, Some(alg)), Err(KmsError::NotFound(_))));
        }
        assert_eq!(kms.decrypt_with(&blob, &ctx, None, Some(SYMMETRIC_DEFAULT)).unwrap().0, b"x");
        // NumberOfBytes is 1..=1024.
        assert_eq!(kms.generate_data_key(&k.id, 1024, &ctx).unwrap().0.len(), 1024);
        assert_eq!(number_of_bytes_error(1), None);
        assert_eq!(
            number_of_bytes_error(1025).unwrap(),
            "Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"
        );
        assert_eq!(
            number_of_bytes_error(0).unwrap(),
            "Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert!(matches!(kms.generate_data_key(&k.id, 1025, &ctx), Err(KmsError::Validation(_))));
    }
}
