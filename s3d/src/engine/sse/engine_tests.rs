//! The engine with encryption: what is stored is sealed, reads (whole, ranged, multipart) come back
//! as written, and the key rules (SSE-C key, disabled KMS key) hold.

use super::kms::Context;
use super::{CustomerKey, SseError, SseRequest};
use crate::engine::multipart::CreateUpload;
use crate::engine::object::{CopyRequest, PutRequest};
use crate::engine::read::{RangeSpec, ReadConditions};
use crate::engine::testing::*;
use crate::engine::{Engine, EngineError};
use crate::store::encryption::BucketEncryptionRecord;

/// An engine whose blobs are files under `dir`.
fn fs_engine(dir: &std::path::Path) -> Engine {
    let blobs = crate::store::FsBlobStore::open(dir).unwrap();
    Engine::new(crate::store::MetaStore::memory(), std::sync::Arc::new(blobs), common::clock::SystemClock::shared())
}

/// Every stored byte: the blob files under `dir` and the inline bodies of metadata records.
fn stored_bytes(e: &Engine, dir: &std::path::Path) -> Vec<u8> {
    let mut all = all_bytes(dir);
    for item in e.meta.scan_objects("bkt", b"", None).unwrap() {
        let (key, _) = item.unwrap();
        all.extend_from_slice(&e.meta.object("bkt", &key).unwrap().unwrap().1);
    }
    all
}

fn plain(n: usize) -> Vec<u8> {
    b"SECRET-PLAINTEXT-".iter().cycle().take(n).copied().collect()
}

#[tokio::test]
async fn every_mode_stores_ciphertext_and_reads_back_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let e = fs_engine(dir.path());
    e.create_bucket(&alice(), "bkt", None).await.unwrap();
    let ck = CustomerKey::new([3u8; 32]);
    let modes = [
        ("s3", SseRequest::S3),
        ("kms", SseRequest::Kms { key_id: None, context: Context::new(), bucket_key: false }),
        ("c", SseRequest::Customer(ck.clone())),
    ];
    for (name, mode) in modes {
        for n in [0usize, 100, 200_000] {
            let key = format!("{name}-{n}");
            let data = plain(n);
            let req = PutRequest { encryption: Some(mode.clone()), ..Default::default() };
            let info = e.put_object(&alice(), "bkt", &key, body(&data), req, None).await.unwrap();
            let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&data));
            assert_eq!(info.etag == md5, name == "s3", "{key}: only SSE-S3 ETags are the MD5");
            let k = (name == "c").then_some(&ck);
            assert_eq!(read_object(&e, &key, k, None, None).await.unwrap(), data, "{key}");
            if n > 70_000 {
                let r = RangeSpec::FromTo { first: 65_530, last: Some(70_000) };
                assert_eq!(read_object(&e, &key, k, Some(r), None).await.unwrap(), &data[65_530..=70_000]);
            }
        }
    }
    let stored = stored_bytes(&e, dir.path());
    assert!(stored.len() > 600_000 && !contains(&stored, b"SECRET-PLAINTEXT"), "no plaintext is stored");
    // SSE-C: missing and wrong keys; a key for an object that is not SSE-C.
    assert!(matches!(
        read_object(&e, "c-100", None, None, None).await,
        Err(EngineError::Sse(SseError::CustomerKeyRequired))
    ));
    let wrong = CustomerKey::new([4u8; 32]);
    assert!(matches!(
        read_object(&e, "c-100", Some(&wrong), None, None).await,
        Err(EngineError::Sse(SseError::WrongCustomerKey))
    ));
    assert!(matches!(
        read_object(&e, "s3-100", Some(&ck), None, None).await,
        Err(EngineError::Sse(SseError::NotApplicable))
    ));
}

#[tokio::test]
async fn a_disabled_kms_key_locks_its_objects_until_enabled() {
    let e = engine();
    e.create_bucket(&alice(), "bkt", None).await.unwrap();
    let key = e.kms().create_key(None, None, None).unwrap();
    let req = PutRequest {
        encryption: Some(SseRequest::Kms { key_id: Some(key.id.clone()), context: Context::new(), bucket_key: false }),
        ..Default::default()
    };
    e.put_object(&alice(), "bkt", "k", body(b"data"), req, None).await.unwrap();
    e.kms().set_enabled(&key.id, false).unwrap();
    assert!(matches!(
        read_object(&e, "k", None, None, None).await,
        Err(EngineError::Sse(SseError::Kms(super::kms::KmsError::Disabled(_))))
    ));
    e.kms().set_enabled(&key.id, true).unwrap();
    assert_eq!(read_object(&e, "k", None, None, None).await.unwrap(), b"data");
}

#[tokio::test]
async fn multipart_parts_copies_and_bucket_defaults_are_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let e = fs_engine(dir.path());
    e.create_bucket(&alice(), "bkt", None).await.unwrap();
    let rule = BucketEncryptionRecord { algorithm: "AES256".into(), kms_key_id: None, bucket_key_enabled: false };
    e.set_bucket_encryption(&alice(), "bkt", Some(rule)).await.unwrap();
    let ck = CustomerKey::new([9u8; 32]);
    let create = CreateUpload { encryption: Some(SseRequest::Customer(ck.clone())), ..Default::default() };
    let id = e.create_multipart_upload(&alice(), "bkt", "mp", create).await.unwrap();
    let (p1, p2) = (plain(crate::engine::multipart::MIN_PART_SIZE as usize), plain(1000));
    let ingest = crate::engine::ingest::Integrity::default();
    assert!(matches!(
        e.upload_part(&alice(), "bkt", "mp", &id, 1, body(&p1), ingest.clone(), None).await,
        Err(EngineError::Sse(SseError::CustomerKeyRequired))
    ));
    let a = e.upload_part_sse(&alice(), "bkt", "mp", &id, 1, body(&p1), ingest.clone(), None, Some(&ck)).await.unwrap();
    let b = e.upload_part_sse(&alice(), "bkt", "mp", &id, 2, body(&p2), ingest, None, Some(&ck)).await.unwrap();
    let chosen = [(1, a.etag), (2, b.etag)];
    e.complete_multipart_upload(&alice(), "bkt", "mp", &id, &chosen, &Default::default()).await.unwrap();
    let whole = [p1.as_slice(), p2.as_slice()].concat();
    assert_eq!(read_object(&e, "mp", Some(&ck), None, None).await.unwrap(), whole);
    let at = p1.len() as u64;
    let r = RangeSpec::FromTo { first: at - 5, last: Some(at + 5) };
    assert_eq!(
        read_object(&e, "mp", Some(&ck), Some(r), None).await.unwrap(),
        &whole[at as usize - 5..=at as usize + 5]
    );
    // A copy without SSE headers takes the bucket default (SSE-S3), not the source's SSE-C.
    let copy = CopyRequest {
        source_conditions: ReadConditions { customer_key: Some(ck.clone()), ..Default::default() },
        ..Default::default()
    };
    let info = e.copy_object(&alice(), ("bkt", "mp", None), ("bkt", "copy"), copy).await.unwrap();
    assert_eq!(info.encryption, Some(super::EncryptionSummary::S3));
    assert_eq!(read_object(&e, "copy", None, None, None).await.unwrap(), whole);
    assert!(!contains(&stored_bytes(&e, dir.path()), b"SECRET-PLAINTEXT"));
}

#[tokio::test]
async fn completing_needs_the_uploads_kms_key_enabled_and_only_its_sse_c_key() {
    let e = engine();
    e.create_bucket(&alice(), "bkt", None).await.unwrap();
    let ingest = crate::engine::ingest::Integrity::default();
    // SSE-KMS: the parts are in, then the key is disabled; Complete fails until it is enabled again.
    let key = e.kms().create_key(None, None, None).unwrap();
    let kms = SseRequest::Kms { key_id: Some(key.id.clone()), context: Context::new(), bucket_key: false };
    let create = CreateUpload { encryption: Some(kms), ..Default::default() };
    let id = e.create_multipart_upload(&alice(), "bkt", "kms", create).await.unwrap();
    let part = e.upload_part(&alice(), "bkt", "kms", &id, 1, body(b"data"), ingest.clone(), None).await.unwrap();
    let chosen = [(1, part.etag)];
    e.kms().set_enabled(&key.id, false).unwrap();
    assert!(matches!(
        e.complete_multipart_upload(&alice(), "bkt", "kms", &id, &chosen, &Default::default()).await,
        Err(EngineError::Sse(SseError::Kms(super::kms::KmsError::Disabled(_))))
    ));
    e.kms().set_enabled(&key.id, true).unwrap();
    e.complete_multipart_upload(&alice(), "bkt", "kms", &id, &chosen, &Default::default()).await.unwrap();
    assert_eq!(read_object(&e, "kms", None, None, None).await.unwrap(), b"data");
    // SSE-C: Complete may present the key, but then it must be the upload's.
    let ck = CustomerKey::new([7u8; 32]);
    let create = CreateUpload { encryption: Some(SseRequest::Customer(ck.clone())), ..Default::default() };
    let id = e.create_multipart_upload(&alice(), "bkt", "c", create).await.unwrap();
    let part = e.upload_part_sse(&alice(), "bkt", "c", &id, 1, body(b"data"), ingest, None, Some(&ck)).await.unwrap();
    let chosen = [(1, part.etag)];
    let wrong = CustomerKey::new([8u8; 32]);
    let (caller, cond, claimed) = (alice(), Default::default(), Default::default());
    let complete = |key| e.complete_multipart_upload_sse(&caller, "bkt", "c", &id, &chosen, &cond, key, &claimed);
    assert!(matches!(complete(Some(&wrong)).await, Err(EngineError::Sse(SseError::WrongCustomerKey))));
    let info = complete(Some(&ck)).await.unwrap();
    assert_eq!(info.encryption, Some(super::EncryptionSummary::Customer));
    assert_eq!(read_object(&e, "c", Some(&ck), None, None).await.unwrap(), b"data");
}
