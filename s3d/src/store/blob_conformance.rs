//! One behaviour suite for every `BlobStore`: each check runs against the file store and the memory store.

use super::blob::*;
use bytes::Bytes;
use futures::StreamExt;

async fn read_all(store: &dyn BlobStore, id: &BlobId, range: std::ops::Range<u64>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut reader = store.read(id, range).await?;
    while let Some(chunk) = reader.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

async fn put(store: &dyn BlobStore, chunks: &[&[u8]]) -> BlobId {
    let mut w = store.create().await.unwrap();
    for c in chunks {
        w.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    w.commit().await.unwrap()
}

fn ids(store: &dyn BlobStore) -> Vec<BlobId> {
    let mut out = Vec::new();
    store.scan(&mut |id| out.push(id)).unwrap();
    out.sort();
    out
}

pub async fn written_chunks_read_back_whole_and_by_range(store: &dyn BlobStore) {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let id = put(store, &[b"hello ", b"world", &big]).await;
    let mut expected = b"hello world".to_vec();
    expected.extend_from_slice(&big);
    assert_eq!(read_all(store, &id, 0..expected.len() as u64).await.unwrap(), expected);
    assert_eq!(read_all(store, &id, 6..11).await.unwrap(), b"world");
    assert_eq!(read_all(store, &id, 1_000_000..2_600_000).await.unwrap(), &expected[1_000_000..2_600_000]);
    assert!(read_all(store, &id, 3..3).await.unwrap().is_empty());
}

pub async fn empty_blob_is_valid(store: &dyn BlobStore) {
    let id = put(store, &[]).await;
    assert!(read_all(store, &id, 0..0).await.unwrap().is_empty());
}

pub async fn dropped_writers_leave_no_blob(store: &dyn BlobStore) {
    let before = ids(store);
    let mut w = store.create().await.unwrap();
    w.write(Bytes::from_static(b"never committed")).await.unwrap();
    drop(w);
    assert_eq!(ids(store), before);
    store.remove_incomplete().unwrap();
    assert_eq!(ids(store), before);
}

pub async fn delete_removes_and_is_idempotent(store: &dyn BlobStore) {
    let a = put(store, &[b"a"]).await;
    let b = put(store, &[b"b"]).await;
    assert_eq!(ids(store).len(), 2);
    store.delete(&a).await.unwrap();
    store.delete(&a).await.unwrap();
    assert_eq!(ids(store), vec![b.clone()]);
    assert!(read_all(store, &a, 0..1).await.is_err());
    assert_eq!(read_all(store, &b, 0..1).await.unwrap(), b"b");
}

pub async fn blocking_delete_removes_and_is_idempotent(store: &dyn BlobStore) {
    let a = put(store, &[b"a"]).await;
    let b = put(store, &[b"b"]).await;
    // Blocking the test's runtime is harmless here: nothing else runs on it.
    store.delete_blocking(&a).unwrap();
    store.delete_blocking(&a).unwrap();
    assert_eq!(ids(store), vec![b.clone()]);
    assert!(read_all(store, &a, 0..1).await.is_err());
    assert_eq!(read_all(store, &b, 0..1).await.unwrap(), b"b");
}

pub async fn reading_past_the_end_fails(store: &dyn BlobStore) {
    let id = put(store, &[b"short"]).await;
    assert!(read_all(store, &id, 0..100).await.is_err());
}

/// `read_mapped` hands the map chunks of exactly the asked size (the last shorter) with their offsets
/// from the range's start, in order, whatever sizes the blob was written in.
pub async fn mapped_reads_see_exact_chunks_at_their_offsets(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let id = put(store, &[&data[..3], &data[3..700_001], &data[700_001..]]).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let map: super::ChunkMap = std::sync::Arc::new(move |at, chunk| {
        record.lock().unwrap().push((at, chunk.len()));
        Ok(chunk.freeze())
    });
    let mut reader = store.read_mapped(&id, 10..900_010, 65_536, map).await.unwrap();
    let mut got = Vec::new();
    while let Some(chunk) = reader.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, &data[10..900_010]);
    let expected: Vec<(u64, usize)> =
        (0..900_000u64).step_by(65_536).map(|at| (at, (900_000 - at).min(65_536) as usize)).collect();
    // Chunks are mapped concurrently: the calls may come in any order, each chunk exactly once.
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, expected);
}

/// `read_mapped_with_head` builds the map from exactly the head's bytes, then reads the range through
/// it; a missing blob fails before any map is built.
pub async fn mapped_reads_with_a_head_build_their_map_from_it(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let id = put(store, &[&data[..100], &data[100..]]).await;
    let make_map: super::HeadMap = Box::new(|head: &[u8]| {
        let mask = head.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        Ok(std::sync::Arc::new(move |_, mut chunk: bytes::BytesMut| {
            chunk.iter_mut().for_each(|b| *b ^= mask);
            Ok(chunk.freeze())
        }) as super::ChunkMap)
    });
    let mut reader = store.read_mapped_with_head(&id, 7..12, 1_000..250_000, 65_536, make_map).await.unwrap();
    let mut got = Vec::new();
    while let Some(chunk) = reader.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    let mask = data[7..12].iter().fold(0u8, |a, b| a.wrapping_add(*b));
    assert_ne!(mask, 0);
    assert_eq!(got, data[1_000..250_000].iter().map(|b| b ^ mask).collect::<Vec<_>>());
    let never: super::HeadMap = Box::new(|_| panic!("a map built for a missing blob"));
    assert!(store.read_mapped_with_head(&BlobId::generate(), 0..4, 0..8, 4, never).await.is_err());
}

macro_rules! for_each_blob_store {
    ($($check:ident),* $(,)?) => {
        mod file_store {
            $(#[tokio::test] async fn $check() {
                let dir = tempfile::tempdir().unwrap();
                super::$check(&super::FsBlobStore::open(dir.path()).unwrap()).await;
            })*
        }
        mod memory_store {
            $(#[tokio::test] async fn $check() { super::$check(&super::MemoryBlobStore::default()).await; })*
        }
    };
}

for_each_blob_store!(
    written_chunks_read_back_whole_and_by_range,
    empty_blob_is_valid,
    dropped_writers_leave_no_blob,
    delete_removes_and_is_idempotent,
    blocking_delete_removes_and_is_idempotent,
    reading_past_the_end_fails,
    mapped_reads_see_exact_chunks_at_their_offsets,
    mapped_reads_with_a_head_build_their_map_from_it,
);

#[tokio::test]
async fn file_store_start_up_removes_temporaries_of_interrupted_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsBlobStore::open(dir.path()).unwrap();
    std::fs::write(dir.path().join("tmp").join("0123.tmp"), b"half a body").unwrap();
    assert_eq!(store.remove_incomplete().unwrap(), 1);
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}
