//! Metadata records in the key-value store. Column families and key layouts (all ordered so that every
//! listing is a range scan):
//!
//! | cf | key | value |
//! |---|---|---|
//! | `buckets` | bucket name | [`BucketRecord`] |
//! | `objects` | `bucket/key` | [`ObjectRecord`], then the body if it is inline |
//! | `uploads` | `bucket/key \0 upload-id` | [`UploadRecord`] |
//! | `parts` | `upload-id / part number (u32 BE)` | [`PartRecord`] |
//! | `blobrefs` | blob id | empty: the blob is referenced (start-up GC deletes unreferenced blobs) |
//! | `versions` | `bucket/escaped key \0\0 sort key` | a noncurrent [`ObjectRecord`] (+ inline body) |
//!
//! `objects` always holds a key's current version (possibly a delete marker); a versioned bucket keeps
//! the older versions under `versions`, newest first (see [`version_prefix`]).
//!
//! Bucket names cannot contain `/`, so `bucket/` is a prefix that holds exactly one bucket's keys.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use common::kv::{Direction, KeyRange, KvError, KvStore, MemoryKv, RocksKv, WriteBatch};
use serde::{Deserialize, Serialize};

use super::blob::BlobId;
use super::encryption::{BucketEncryptionRecord, EncryptionRecord};
// The ACL model is stored as the engine defines it (plain data with serde derives).
use crate::engine::acl::{Acl, ObjectOwnership};
use crate::engine::cors::CorsRule;

pub const CF_BUCKETS: &str = "buckets";
pub const CF_OBJECTS: &str = "objects";
pub const CF_UPLOADS: &str = "uploads";
pub const CF_PARTS: &str = "parts";
pub const CF_BLOBREFS: &str = "blobrefs";
pub const CF_VERSIONS: &str = "versions";
const FAMILIES: &[&str] = &[
    CF_BUCKETS,
    CF_OBJECTS,
    CF_UPLOADS,
    CF_PARTS,
    CF_BLOBREFS,
    CF_VERSIONS,
    super::lifecycle_meta::CF_LIFECYCLE,
    super::lifecycle_meta::CF_RESTORES,
    super::lifecycle_meta::CF_LCSTATE,
];

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error("corrupt metadata record under {key:?}: {reason}")]
    Corrupt { key: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    pub owner: String,
    pub created_ms: i64,
    /// The LocationConstraint given at creation (`None` = us-east-1).
    #[serde(default)]
    pub location: Option<String>,
    /// `Enabled` or `Suspended` once versioning was configured; `None` = never versioned.
    #[serde(default)]
    pub versioning: Option<String>,
    /// Default encryption for new objects (PutBucketEncryption).
    #[serde(default)]
    pub encryption: Option<BucketEncryptionRecord>,
    /// S3 Object Ownership; a record from before it existed decodes as BucketOwnerEnforced, and
    /// `None` (stored as `null`) means the controls were deleted (ACLs enabled, as ObjectWriter).
    #[serde(default = "crate::engine::acl::default_ownership")]
    pub ownership: Option<ObjectOwnership>,
    /// The bucket ACL; `None` = private (the owner has FULL_CONTROL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// PutBucketTagging's tag set, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// PutBucketCors's rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<CorsRule>>,
}

/// A stored checksum: algorithm name as S3 spells it (`CRC32`, …) and its base64 value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumRecord {
    pub algorithm: String,
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE` (multipart checksum of part checksums).
    pub kind: String,
    /// A multipart object's part checksums (same algorithm), in part order: GetObjectAttributes
    /// lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRef {
    pub blob: BlobId,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyRecord {
    /// The bytes follow the JSON record in the same value.
    Inline,
    Blob(BlobId),
    /// A completed multipart upload: the parts' blobs in order, never copied.
    Parts(Vec<PartRef>),
}

/// System headers stored with an object and returned as they were given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    /// Unix milliseconds.
    pub expires_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// `None` is S3's `null` version (unversioned buckets); versioning will fill it.
    #[serde(default)]
    pub version_id: Option<String>,
    pub size: u64,
    /// Without quotes: hex MD5, or `hex-N` for multipart.
    pub etag: String,
    pub last_modified_ms: i64,
    pub owner: String,
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub checksum: Option<ChecksumRecord>,
    /// The storage class as given (tiers behind it come with lifecycle support, issue #4).
    #[serde(default = "standard")]
    pub storage_class: String,
    /// Server-side encryption of the body (its wrapped data key); `None` = stored as given.
    #[serde(default)]
    pub encryption: Option<EncryptionRecord>,
    pub body: BodyRecord,
    /// A delete marker: no body, hides the key from GET and listings while it is the current version.
    #[serde(default)]
    pub delete_marker: bool,
    /// Orders a key's versions (microseconds, strictly increasing per key); 0 in records written
    /// before versioning existed, which order by `last_modified_ms`.
    #[serde(default)]
    pub seq: u64,
    /// Set once the body moved to the cold tier (GLACIER / DEEP_ARCHIVE), with any restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<super::lifecycle_meta::ArchiveRecord>,
    /// This version's ACL; `None` = private (the owner has FULL_CONTROL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
}

fn standard() -> String {
    "STANDARD".into()
}

impl ObjectRecord {
    /// Every blob this object's body lives in.
    pub fn blobs(&self) -> Vec<BlobId> {
        let mut blobs = match &self.body {
            BodyRecord::Inline => Vec::new(),
            BodyRecord::Blob(b) => vec![b.clone()],
            BodyRecord::Parts(parts) => parts.iter().map(|p| p.blob.clone()).collect(),
        };
        // An archived body's cold id and its restored copy go with the version like any blob.
        if let Some(a) = &self.archive {
            blobs.extend(a.blobs());
        }
        blobs
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub owner: String,
    pub initiated_ms: i64,
    pub headers: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub tags: Vec<(String, String)>,
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` or `FULL_OBJECT` when `checksum_algorithm` is set (uploads recorded before
    /// FULL_OBJECT existed have none: they are COMPOSITE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    pub storage_class: String,
    /// The encryption every part is sealed with (chosen at CreateMultipartUpload).
    #[serde(default)]
    pub encryption: Option<EncryptionRecord>,
    /// The ACL CreateMultipartUpload asked for, given to the object at Complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub size: u64,
    /// Hex MD5 of the part, without quotes.
    pub etag: String,
    pub last_modified_ms: i64,
    pub blob: BlobId,
    pub checksum: Option<ChecksumRecord>,
}

pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(b'/');
    k.extend_from_slice(key.as_bytes());
    k
}

pub fn bucket_prefix(bucket: &str) -> Vec<u8> {
    object_key(bucket, "")
}

pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(0);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

pub fn part_key(upload_id: &str, part: u32) -> Vec<u8> {
    let mut k = upload_id.as_bytes().to_vec();
    k.push(b'/');
    k.extend_from_slice(&part.to_be_bytes());
    k
}

/// `bucket/` + the key with `\0` escaped as `\0\x01`, then `\0\0`: one key's versions share exactly
/// this prefix (no other key's can, even keys containing `\0`), and prefixes keep keys' byte order.
pub fn version_prefix(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = bucket_prefix(bucket);
    for &b in key.as_bytes() {
        k.push(b);
        if b == 0 {
            k.push(1);
        }
    }
    k.extend_from_slice(&[0, 0]);
    k
}

pub fn version_key(bucket: &str, key: &str, sort_key: &str) -> Vec<u8> {
    let mut k = version_prefix(bucket, key);
    k.extend_from_slice(sort_key.as_bytes());
    k
}

fn encode_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("metadata records serialise")
}

fn decode_json<T: for<'de> Deserialize<'de>>(key: &[u8], bytes: &[u8]) -> Result<T, MetaError> {
    serde_json::from_slice(bytes)
        .map_err(|e| MetaError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), reason: e.to_string() })
}

/// `[json length: u32 LE][json][inline body]`: the body stays raw bytes (no base64 inflation).
pub fn encode_object(record: &ObjectRecord, inline: &[u8]) -> Vec<u8> {
    let json = encode_json(record);
    let mut v = Vec::with_capacity(4 + json.len() + inline.len());
    v.extend_from_slice(&(json.len() as u32).to_le_bytes());
    v.extend_from_slice(&json);
    v.extend_from_slice(inline);
    v
}

pub fn decode_object(key: &[u8], value: &[u8]) -> Result<(ObjectRecord, Bytes), MetaError> {
    let corrupt =
        |reason: &str| MetaError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), reason: reason.into() };
    let len = value.get(..4).ok_or_else(|| corrupt("short record"))?;
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    let json = value.get(4..4 + len).ok_or_else(|| corrupt("truncated record"))?;
    let record = decode_json(key, json)?;
    Ok((record, Bytes::copy_from_slice(&value[4 + len..])))
}

/// Changes to commit atomically (the commit point of every engine operation).
#[derive(Debug, Default)]
pub struct MetaBatch {
    pub(super) batch: WriteBatch,
}

impl MetaBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put_bucket(&mut self, name: &str, rec: &BucketRecord) -> &mut Self {
        self.batch.put(CF_BUCKETS, name.as_bytes(), encode_json(rec));
        self
    }
    pub fn delete_bucket(&mut self, name: &str) -> &mut Self {
        self.batch.delete(CF_BUCKETS, name.as_bytes());
        self
    }
    pub fn put_object(&mut self, bucket: &str, key: &str, rec: &ObjectRecord, inline: &[u8]) -> &mut Self {
        self.batch.put(CF_OBJECTS, object_key(bucket, key), encode_object(rec, inline));
        self
    }
    pub fn delete_object(&mut self, bucket: &str, key: &str) -> &mut Self {
        self.batch.delete(CF_OBJECTS, object_key(bucket, key));
        self
    }
    pub fn put_version(
        &mut self,
        bucket: &str,
        key: &str,
        sort_key: &str,
        rec: &ObjectRecord,
        inline: &[u8],
    ) -> &mut Self {
        self.batch.put(CF_VERSIONS, version_key(bucket, key, sort_key), encode_object(rec, inline));
        self
    }
    pub fn delete_version(&mut self, bucket: &str, key: &str, sort_key: &str) -> &mut Self {
        self.batch.delete(CF_VERSIONS, version_key(bucket, key, sort_key));
        self
    }
    pub fn put_upload(&mut self, bucket: &str, key: &str, upload_id: &str, rec: &UploadRecord) -> &mut Self {
        self.batch.put(CF_UPLOADS, upload_key(bucket, key, upload_id), encode_json(rec));
        self
    }
    pub fn delete_upload(&mut self, bucket: &str, key: &str, upload_id: &str) -> &mut Self {
        self.batch.delete(CF_UPLOADS, upload_key(bucket, key, upload_id));
        self
    }
    pub fn put_part(&mut self, upload_id: &str, part: u32, rec: &PartRecord) -> &mut Self {
        self.batch.put(CF_PARTS, part_key(upload_id, part), encode_json(rec));
        self
    }
    pub fn delete_part(&mut self, upload_id: &str, part: u32) -> &mut Self {
        self.batch.delete(CF_PARTS, part_key(upload_id, part));
        self
    }
    pub fn reference_blob(&mut self, id: &BlobId) -> &mut Self {
        self.batch.put(CF_BLOBREFS, id.as_str().as_bytes(), Vec::new());
        self
    }
    pub fn release_blob(&mut self, id: &BlobId) -> &mut Self {
        self.batch.delete(CF_BLOBREFS, id.as_str().as_bytes());
        self
    }
}

/// Typed access to the metadata column families.
#[derive(Clone)]
pub struct MetaStore {
    pub(super) kv: Arc<dyn KvStore>,
}

impl MetaStore {
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        Ok(Self { kv: Arc::new(RocksKv::open(path, FAMILIES)?) })
    }

    pub fn memory() -> Self {
        Self { kv: Arc::new(MemoryKv::new(FAMILIES)) }
    }

    /// Blocks until the batch is durable (group-committed WAL): call from a blocking context.
    pub fn commit(&self, batch: MetaBatch) -> Result<(), MetaError> {
        Ok(self.kv.write(batch.batch)?)
    }

    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, MetaError> {
        self.kv.get(CF_BUCKETS, name.as_bytes())?.map(|v| decode_json(name.as_bytes(), &v)).transpose()
    }

    pub fn buckets(&self) -> Result<Vec<(String, BucketRecord)>, MetaError> {
        let mut out = Vec::new();
        for item in self.kv.scan(CF_BUCKETS, KeyRange::all(), Direction::Forward)? {
            let (k, v) = item?;
            let rec = decode_json(&k, &v)?;
            out.push((String::from_utf8_lossy(&k).into_owned(), rec));
        }
        Ok(out)
    }

    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<(ObjectRecord, Bytes)>, MetaError> {
        let k = object_key(bucket, key);
        self.kv.get(CF_OBJECTS, &k)?.map(|v| decode_object(&k, &v)).transpose()
    }

    /// Objects of `bucket` whose keys lie in `[start, end)` (full keys without the bucket prefix),
    /// in key order, lazily.
    pub fn scan_objects<'a>(
        &'a self,
        bucket: &str,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<impl Iterator<Item = Result<(String, ObjectRecord), MetaError>> + 'a, MetaError> {
        let prefix = bucket_prefix(bucket);
        let from = [prefix.as_slice(), start].concat();
        let to = match end {
            Some(end) => Some([prefix.as_slice(), end].concat()),
            None => common::kv::prefix_successor(&prefix),
        };
        let range = KeyRange { start: from, end: to };
        let skip = prefix.len();
        Ok(self.kv.scan(CF_OBJECTS, range, Direction::Forward)?.map(move |item| {
            let (k, v) = item?;
            let (rec, _) = decode_object(&k, &v)?;
            Ok((String::from_utf8_lossy(&k[skip..]).into_owned(), rec))
        }))
    }

    pub fn version(&self, bucket: &str, key: &str, sort_key: &str) -> Result<Option<(ObjectRecord, Bytes)>, MetaError> {
        let k = version_key(bucket, key, sort_key);
        self.kv.get(CF_VERSIONS, &k)?.map(|v| decode_object(&k, &v)).transpose()
    }

    /// The noncurrent versions of one key, newest first, after `after` (a sort key) if given:
    /// `(sort key, record, inline body)`.
    pub fn scan_versions<'a>(
        &'a self,
        bucket: &str,
        key: &str,
        after: Option<&str>,
    ) -> Result<impl Iterator<Item = Result<(String, ObjectRecord, Bytes), MetaError>> + 'a, MetaError> {
        let prefix = version_prefix(bucket, key);
        let start = match after {
            Some(a) => [version_key(bucket, key, a).as_slice(), &[0]].concat(),
            None => prefix.clone(),
        };
        let range = KeyRange { start, end: common::kv::prefix_successor(&prefix) };
        let skip = prefix.len();
        Ok(self.kv.scan(CF_VERSIONS, range, Direction::Forward)?.map(move |item| {
            let (k, v) = item?;
            let (rec, inline) = decode_object(&k, &v)?;
            Ok((String::from_utf8_lossy(&k[skip..]).into_owned(), rec, inline))
        }))
    }

    pub fn bucket_is_empty(&self, bucket: &str) -> Result<bool, MetaError> {
        Ok(self.kv.scan(CF_OBJECTS, KeyRange::prefix(&bucket_prefix(bucket)), Direction::Forward)?.next().is_none())
    }

    pub fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Option<UploadRecord>, MetaError> {
        let k = upload_key(bucket, key, upload_id);
        self.kv.get(CF_UPLOADS, &k)?.map(|v| decode_json(&k, &v)).transpose()
    }

    /// Uploads of `bucket` from `start` (a full object key; `\0 upload-id` may follow), in (key, upload
    /// id) order: `(key, upload id, record)`.
    pub fn scan_uploads<'a>(
        &'a self,
        bucket: &str,
        start: &[u8],
    ) -> Result<impl Iterator<Item = Result<(String, String, UploadRecord), MetaError>> + 'a, MetaError> {
        let prefix = bucket_prefix(bucket);
        let range = KeyRange { start: [prefix.as_slice(), start].concat(), end: common::kv::prefix_successor(&prefix) };
        let skip = prefix.len();
        Ok(self.kv.scan(CF_UPLOADS, range, Direction::Forward)?.map(move |item| {
            let (k, v) = item?;
            let rest = &k[skip..];
            let split = rest.iter().rposition(|&b| b == 0).unwrap_or(rest.len());
            let key = String::from_utf8_lossy(&rest[..split]).into_owned();
            let id = String::from_utf8_lossy(rest.get(split + 1..).unwrap_or_default()).into_owned();
            Ok((key, id, decode_json(&k, &v)?))
        }))
    }

    pub fn part(&self, upload_id: &str, part: u32) -> Result<Option<PartRecord>, MetaError> {
        let k = part_key(upload_id, part);
        self.kv.get(CF_PARTS, &k)?.map(|v| decode_json(&k, &v)).transpose()
    }

    /// Parts of an upload with numbers ≥ `from`, in order.
    pub fn scan_parts<'a>(
        &'a self,
        upload_id: &str,
        from: u32,
    ) -> Result<impl Iterator<Item = Result<(u32, PartRecord), MetaError>> + 'a, MetaError> {
        let mut prefix = upload_id.as_bytes().to_vec();
        prefix.push(b'/');
        let range = KeyRange { start: part_key(upload_id, from), end: common::kv::prefix_successor(&prefix) };
        Ok(self.kv.scan(CF_PARTS, range, Direction::Forward)?.map(|item| {
            let (k, v) = item?;
            let n =
                k.get(k.len().saturating_sub(4)..).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).unwrap_or(0);
            Ok((n, decode_json(&k, &v)?))
        }))
    }

    pub fn blob_is_referenced(&self, id: &BlobId) -> Result<bool, MetaError> {
        Ok(self.kv.get(CF_BLOBREFS, id.as_str().as_bytes())?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ObjectRecord {
        ObjectRecord {
            version_id: None,
            size: 3,
            etag: "abc".into(),
            last_modified_ms: 1,
            owner: "root".into(),
            headers: ContentHeaders::default(),
            user_metadata: BTreeMap::new(),
            tags: vec![],
            checksum: None,
            storage_class: "STANDARD".into(),
            encryption: None,
            body: BodyRecord::Inline,
            delete_marker: false,
            seq: 0,
            archive: None,
            acl: None,
        }
    }

    #[test]
    fn records_without_acl_fields_decode_as_private_and_enforced() {
        let old_bucket = br#"{"owner":"alice","created_ms":1,"location":null,"versioning":null,"encryption":null}"#;
        let b: BucketRecord = decode_json(b"b", old_bucket).unwrap();
        assert_eq!(b.ownership, Some(ObjectOwnership::BucketOwnerEnforced));
        assert_eq!(b.acl, None);
        let deleted = BucketRecord { ownership: None, ..b.clone() };
        let back: BucketRecord = decode_json(b"b", &encode_json(&deleted)).unwrap();
        assert_eq!(back.ownership, None, "deleted controls stay deleted");
        let mut json = serde_json::to_value(record()).unwrap();
        json.as_object_mut().unwrap().remove("acl");
        let rec: ObjectRecord = serde_json::from_value(json).unwrap();
        assert_eq!(rec.acl, None);
        let granted = ObjectRecord {
            acl: Some(crate::engine::acl::Acl::canned(crate::engine::acl::Canned::PublicRead, "root", "root")),
            ..record()
        };
        let (back, _) = decode_object(b"k", &encode_object(&granted, b"")).unwrap();
        assert_eq!(back, granted);
    }

    #[test]
    fn object_records_round_trip_with_inline_bodies() {
        let enc = encode_object(&record(), b"\x00\xffbody");
        let (rec, inline) = decode_object(b"k", &enc).unwrap();
        assert_eq!(rec, record());
        assert_eq!(&inline[..], b"\x00\xffbody");
        assert!(decode_object(b"k", &enc[..3]).is_err());
    }

    #[test]
    fn scans_stay_inside_one_bucket_and_in_byte_order() {
        let meta = MetaStore::memory();
        let mut b = MetaBatch::new();
        for (bucket, key) in [("a", "z"), ("a", "é"), ("a", "b/c"), ("ab", "x"), ("a-", "y")] {
            b.put_object(bucket, key, &record(), b"");
        }
        meta.commit(b).unwrap();
        let keys: Vec<String> = meta.scan_objects("a", b"", None).unwrap().map(|r| r.unwrap().0).collect();
        assert_eq!(keys, vec!["b/c", "z", "é"]);
        let keys: Vec<String> = meta.scan_objects("a", b"c", Some(b"zz")).unwrap().map(|r| r.unwrap().0).collect();
        assert_eq!(keys, vec!["z"]);
    }

    #[test]
    fn version_prefixes_never_overlap_and_keep_key_order() {
        let keys = ["a", "a\0", "a\0b", "a\u{1}", "ab", "b"];
        for (i, k1) in keys.iter().enumerate() {
            for k2 in &keys[i + 1..] {
                let (p1, p2) = (version_prefix("bk", k1), version_prefix("bk", k2));
                assert!(p1 < p2, "{k1:?} sorts before {k2:?}");
                assert!(!p2.starts_with(&p1) && !p1.starts_with(&p2), "{k1:?} / {k2:?} prefixes overlap");
            }
        }
        let meta = MetaStore::memory();
        let mut b = MetaBatch::new();
        for (key, sk) in [("a", "2"), ("a", "1"), ("a\0b", "0"), ("ab", "0")] {
            b.put_version("bk", key, sk, &record(), b"");
        }
        meta.commit(b).unwrap();
        let sks: Vec<String> = meta.scan_versions("bk", "a", None).unwrap().map(|r| r.unwrap().0).collect();
        assert_eq!(sks, vec!["1", "2"]);
        let sks: Vec<String> = meta.scan_versions("bk", "a", Some("1")).unwrap().map(|r| r.unwrap().0).collect();
        assert_eq!(sks, vec!["2"]);
    }

    #[test]
    fn upload_and_part_keys_sort_by_key_then_id_and_by_number() {
        let meta = MetaStore::memory();
        let up = UploadRecord {
            owner: "o".into(),
            initiated_ms: 0,
            headers: ContentHeaders::default(),
            user_metadata: BTreeMap::new(),
            tags: vec![],
            checksum_algorithm: None,
            checksum_type: None,
            storage_class: "STANDARD".into(),
            encryption: None,
            acl: None,
        };
        let part =
            PartRecord { size: 1, etag: "e".into(), last_modified_ms: 0, blob: BlobId::generate(), checksum: None };
        let mut b = MetaBatch::new();
        b.put_upload("bk", "a/b", "2", &up).put_upload("bk", "a", "9", &up).put_upload("bk", "a", "1", &up);
        for n in [256u32, 1, 10_000, 2] {
            b.put_part("u1", n, &part);
        }
        b.put_part("u10", 1, &part);
        meta.commit(b).unwrap();
        let ups: Vec<(String, String)> =
            meta.scan_uploads("bk", b"").unwrap().map(|r| r.map(|(k, i, _)| (k, i)).unwrap()).collect();
        assert_eq!(ups, vec![("a".into(), "1".into()), ("a".into(), "9".into()), ("a/b".into(), "2".into())]);
        let parts: Vec<u32> = meta.scan_parts("u1", 1).unwrap().map(|r| r.unwrap().0).collect();
        assert_eq!(parts, vec![1, 2, 256, 10_000]);
        let parts: Vec<u32> = meta.scan_parts("u1", 3).unwrap().map(|r| r.unwrap().0).collect();
        assert_eq!(parts, vec![256, 10_000]);
    }
}
