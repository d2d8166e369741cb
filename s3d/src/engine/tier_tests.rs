//! Archiving encrypted multipart objects: the cold copy is the parts' sealed streams back to back,
//! and the restored copy is unsealed part by part (whole, ranges across part boundaries, partNumber).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::engine::multipart::{CreateUpload, MIN_PART_SIZE};
use crate::engine::read::{RangeSpec, ReadConditions};
use crate::engine::restore::RestoreTier;
use crate::engine::sse::kms::Context;
use crate::engine::sse::{CustomerKey, SseRequest};
use crate::engine::testing::*;
use crate::engine::tier::TierSettings;
use crate::engine::{Engine, EngineError};
use crate::store::cold::LocalColdTier;
use crate::store::lifecycle_meta::ArchiveRecord;

fn fast() -> TierSettings {
    TierSettings {
        expedited: Duration::ZERO,
        standard: Duration::ZERO,
        bulk: Duration::ZERO,
        deep_archive_factor: 1,
        day: Duration::from_secs(3600),
    }
}

/// An engine with file blobs under `dir/blobs` and a local cold tier under `dir/cold`.
fn tiered(dir: &std::path::Path) -> Engine {
    let blobs = crate::store::FsBlobStore::open(&dir.join("blobs")).unwrap();
    let cold = LocalColdTier::open_with_memory_index(&dir.join("cold")).unwrap();
    Engine::new(crate::store::MetaStore::memory(), Arc::new(blobs), common::clock::SystemClock::shared())
        .with_tiering(Arc::new(cold), fast())
}

/// Recognisable plaintext, different at every offset (a misplaced part boundary shows).
fn plain(n: usize, seed: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    let mut i = 0u32;
    while out.len() < n {
        out.extend_from_slice(format!("SECRET{seed}:{i:09};").as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

/// Uploads parts of `sizes` bytes with `class` and `sse`; returns the whole plaintext.
async fn multipart(
    e: &Engine,
    key: &str,
    class: Option<&str>,
    sse: SseRequest,
    ck: Option<&CustomerKey>,
    sizes: &[u64],
) -> Vec<u8> {
    let create = CreateUpload { storage_class: class.map(String::from), encryption: Some(sse), ..Default::default() };
    let id = e.create_multipart_upload(&alice(), "bkt", key, create).await.unwrap();
    let mut whole = Vec::new();
    let mut chosen = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let data = plain(n as usize, i as u32);
        let integrity = crate::engine::ingest::Integrity::default();
        let n = i as i64 + 1;
        let p = e.upload_part_sse(&alice(), "bkt", key, &id, n, body(&data), integrity, None, ck).await.unwrap();
        chosen.push((n, p.etag));
        whole.extend_from_slice(&data);
    }
    e.complete_multipart_upload(&alice(), "bkt", key, &id, &chosen, &Default::default()).await.unwrap();
    whole
}

#[tokio::test]
async fn encrypted_multipart_objects_archive_and_restore_part_by_part() {
    let dir = tempfile::tempdir().unwrap();
    let e = tiered(dir.path());
    e.create_bucket(&alice(), "bkt", None).await.unwrap();
    let ck = CustomerKey::new([5u8; 32]);
    let sizes = [MIN_PART_SIZE, MIN_PART_SIZE + 70_001, 100_003];
    let modes = [
        ("s3", SseRequest::S3, None),
        ("kms", SseRequest::Kms { key_id: None, context: Context::new(), bucket_key: false }, None),
        ("c", SseRequest::Customer(ck.clone()), Some(&ck)),
    ];
    let mut objects = Vec::new();
    for (name, sse, key) in modes {
        // PUT (Complete) with GLACIER archives at once; a STANDARD one is moved as a lifecycle
        // transition does it.
        let direct = format!("{name}-direct");
        objects.push((direct.clone(), multipart(&e, &direct, Some("GLACIER"), sse.clone(), key, &sizes).await, key));
        let moved = format!("{name}-moved");
        let data = multipart(&e, &moved, None, sse, key, &sizes).await;
        let (rec, _) = e.meta.object("bkt", &moved).unwrap().unwrap();
        assert!(e.lifecycle_set_class("bkt", &moved, &rec, "DEEP_ARCHIVE").await.unwrap(), "{moved} transitions");
        objects.push((moved, data, key));
    }
    let mut hot = 0;
    e.blobs.scan(&mut |_| hot += 1).unwrap();
    assert_eq!(hot, 0, "no hot part is left");
    assert_eq!(e.cold_tier().usage().objects, 6);
    let cold = all_bytes(&dir.path().join("cold"));
    assert!(!cold.is_empty() && !contains(&cold, b"SECRET"), "the cold tier holds no plaintext");
    for (key, _, ck) in &objects {
        let (rec, _) = e.meta.object("bkt", key).unwrap().unwrap();
        assert_eq!(rec.archive.as_ref().unwrap().parts, sizes, "{key}: the part sizes are kept");
        assert!(matches!(read_object(&e, key, *ck, None, None).await, Err(EngineError::InvalidObjectState(_))));
        e.restore_object(&alice(), "bkt", key, None, 2, RestoreTier::Bulk).await.unwrap();
    }
    assert_eq!(e.process_restores(100).await.unwrap(), 6);
    let b1 = sizes[0];
    let b2 = sizes[0] + sizes[1];
    let total = b2 + sizes[2];
    for (key, data, ck) in &objects {
        assert_eq!(read_object(&e, key, *ck, None, None).await.unwrap(), *data, "{key}: whole");
        let ranges = [
            (b1 - 1, b1),                       // the last byte of part 1 and the first of part 2
            (b1 - 70_000, b2 + 10),             // part 1's tail, all of part 2, part 3's head
            (b2, total - 1),                    // exactly part 3
            (65_530, 65_540),                   // across a segment boundary inside part 1
            (b1 + 65_536 * 3, b1 + 65_536 * 3), // one byte at a segment start inside part 2
        ];
        for (first, last) in ranges {
            let r = RangeSpec::FromTo { first, last: Some(last) };
            let got = read_object(&e, key, *ck, Some(r), None).await.unwrap();
            assert!(got == data[first as usize..=last as usize], "{key}: range {first}-{last}");
        }
        let got = read_object(&e, key, *ck, Some(RangeSpec::Suffix(100_010)), None).await.unwrap();
        assert!(got == data[data.len() - 100_010..], "{key}: suffix across the last boundary");
        let got = read_object(&e, key, *ck, None, Some(2)).await.unwrap();
        assert!(got == data[b1 as usize..b2 as usize], "{key}: partNumber 2");
        assert!(matches!(read_object(&e, key, *ck, None, Some(4)).await, Err(EngineError::InvalidPartNumber)));
        let cond = ReadConditions { customer_key: ck.cloned(), ..Default::default() };
        let (info, _) = e.head_object(&alice(), "bkt", key, None, &cond, None, Some(3)).unwrap();
        assert_eq!(info.parts_count, Some(3), "{key}: parts count still reported");
    }
    // The restored copies are sealed too.
    assert!(!contains(&all_bytes(&dir.path().join("blobs")), b"SECRET"), "restored copies hold no plaintext");
}

#[tokio::test]
async fn a_damaged_restored_copy_fails_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let e = tiered(dir.path());
    e.create_bucket(&alice(), "bkt", None).await.unwrap();
    let sizes = [MIN_PART_SIZE, 1000];
    let data = multipart(&e, "k", Some("GLACIER"), SseRequest::S3, None, &sizes).await;
    e.restore_object(&alice(), "bkt", "k", None, 1, RestoreTier::Expedited).await.unwrap();
    e.process_restores(10).await.unwrap();
    assert_eq!(read_object(&e, "k", None, None, None).await.unwrap(), data);
    // Flip one byte of part 2's sealed stream in the restored copy: reading part 2 must fail, not
    // return wrong bytes.
    let (rec, _) = e.meta.object("bkt", "k").unwrap().unwrap();
    let copy = rec.archive.unwrap().restore.unwrap().copy.unwrap();
    let mut path = None;
    let mut stack = vec![dir.path().join("blobs")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else if entry.file_name().to_string_lossy().contains(copy.as_str()) {
                path = Some(entry.path());
            }
        }
    }
    let path = path.expect("the restored copy's file");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = crate::engine::sse::segment::sealed_len(MIN_PART_SIZE) as usize + 100;
    bytes[at] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert!(read_object(&e, "k", None, None, Some(1)).await.is_ok(), "part 1 is intact");
    assert!(read_object(&e, "k", None, None, Some(2)).await.is_err(), "part 2 fails authentication");
}

#[test]
fn archive_records_without_parts_still_load() {
    let old = r#"{"cold":"0123456789abcdef0123456789abcdef","restore":null}"#;
    let rec: ArchiveRecord = serde_json::from_str(old).unwrap();
    assert!(rec.parts.is_empty());
    let json = serde_json::to_string(&rec).unwrap();
    assert!(!json.contains("parts"), "a single-stream archive is stored as before: {json}");
}

#[tokio::test]
async fn cold_copy_is_the_sealed_parts_back_to_back() {
    let dir = tempfile::tempdir().unwrap();
    let e = tiered(dir.path());
    e.create_bucket(&alice(), "bkt", None).await.unwrap();
    let sizes = [MIN_PART_SIZE, 7];
    multipart(&e, "k", Some("GLACIER"), SseRequest::S3, None, &sizes).await;
    let (rec, _) = e.meta.object("bkt", "k").unwrap().unwrap();
    let mut r = e.cold_tier().read(&rec.archive.unwrap().cold).await.unwrap();
    let mut n = 0u64;
    while let Some(c) = r.next().await {
        n += c.unwrap().len() as u64;
    }
    let sealed: u64 = sizes.iter().map(|&s| crate::engine::sse::segment::sealed_len(s)).sum();
    assert_eq!(n, sealed);
}
