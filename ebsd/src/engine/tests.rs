use std::sync::Arc;

use common::clock::SystemClock;
use common::kv::MemoryKv;

use super::*;
use crate::store::snapshots::DirSnapshotStore;

fn open(dir: &Path, kv: Arc<dyn KvStore>) -> Arc<VolumeEngine> {
    let store = Arc::new(DirSnapshotStore::open(&dir.join("snapshots")).unwrap());
    VolumeEngine::open(dir, kv, SystemClock::shared(), true, store, EngineOptions::default()).unwrap()
}

fn engine(dir: &Path) -> Arc<VolumeEngine> {
    open(dir, Arc::new(MemoryKv::new(crate::store::meta::COLUMN_FAMILIES)))
}

fn create(e: &VolumeEngine, t: &str, size: u64) -> Volume {
    let req = CreateVolume {
        spec: SpecRequest { volume_type: Some(t.into()), size_gib: Some(size), ..Default::default() },
        availability_zone: Some("us-east-1a".into()),
        ..Default::default()
    };
    e.create_volume(req, "us-east-1").unwrap()
}

#[test]
fn lifecycle_attach_detach_delete() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let v = create(&e, "gp3", 1);
    assert_eq!(e.open_export(&v.id).unwrap_err(), ExportError::NotAttached(v.id.clone()));
    e.attach_volume(&v.id, "i-0123456789abcdef0", "/dev/sdf").unwrap();
    assert!(matches!(e.attach_volume(&v.id, "i-0123456789abcdef1", "/dev/sdf"), Err(EngineError::VolumeInUse(_))));
    assert!(matches!(e.delete_volume(&v.id), Err(EngineError::VolumeInUse(_))));
    let Export { handle, session } = e.open_export(&v.id).unwrap();
    assert_eq!(e.list_exports().unwrap(), vec![v.id.clone()]);
    e.detach_volume(&v.id, None, None).unwrap();
    assert!(session.is_cancelled(), "detach ends the volume's NBD sessions");
    assert!(matches!(e.detach_volume(&v.id, None, None), Err(EngineError::IncorrectState(_))));
    e.delete_volume(&v.id).unwrap();
    assert!(matches!(
        e.describe_volumes(std::slice::from_ref(&v.id), &[], &Page::default()),
        Err(EngineError::VolumeNotFound(_))
    ));
    assert!(!handle.path().exists());
}

#[test]
fn multi_attach_io2() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let req = CreateVolume {
        spec: SpecRequest {
            volume_type: Some("io2".into()),
            size_gib: Some(10),
            iops: Some(1000),
            multi_attach: Some(true),
            ..Default::default()
        },
        availability_zone: Some("us-east-1b".into()),
        ..Default::default()
    };
    let v = e.create_volume(req, "us-east-1").unwrap();
    e.attach_volume(&v.id, "i-0123456789abcdef0", "/dev/sdf").unwrap();
    e.attach_volume(&v.id, "i-0123456789abcdef1", "/dev/sdf").unwrap();
    assert!(matches!(e.detach_volume(&v.id, None, None), Err(EngineError::InvalidParameterCombination(_))));
    e.detach_volume(&v.id, Some("i-0123456789abcdef1"), None).unwrap();
    assert!(e.open_export(&v.id).is_ok(), "still attached to one instance");
}

#[test]
fn filters_tags_pages_and_modify() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let a = create(&e, "gp2", 10);
    let b = create(&e, "gp3", 10);
    e.create_tags(std::slice::from_ref(&a.id), &[("env".into(), "prod".into())]).unwrap();
    let f = |name: &str, v: &str| Filter { name: name.into(), values: vec![v.into()] };
    let (found, _) = e.describe_volumes(&[], &[f("tag:env", "prod")], &Page::default()).unwrap();
    assert_eq!(found.iter().map(|v| &v.id).collect::<Vec<_>>(), vec![&a.id]);
    let (found, _) =
        e.describe_volumes(&[], &[f("volume-type", "gp*"), f("status", "available")], &Page::default()).unwrap();
    assert_eq!(found.len(), 2);
    assert!(e.describe_volumes(&[], &[f("bogus", "x")], &Page::default()).is_err());
    e.delete_tags(std::slice::from_ref(&a.id), &[("env".into(), Some("dev".into()))]).unwrap();
    assert_eq!(
        e.describe_volumes(std::slice::from_ref(&a.id), &[], &Page::default()).unwrap().0[0].tags.len(),
        1,
        "value must match"
    );
    e.delete_tags(std::slice::from_ref(&a.id), &[("env".into(), None)]).unwrap();
    assert!(e.describe_volumes(std::slice::from_ref(&a.id), &[], &Page::default()).unwrap().0[0].tags.is_empty());

    let (_, m) = e.modify_volume(&b.id, &SpecRequest { size_gib: Some(20), ..Default::default() }).unwrap();
    assert_eq!((m.original.size_gib, m.target.size_gib), (10, 20));
    assert_eq!(e.handle(&b.id).unwrap().size(), 20 * volume::GIB);
    let (mods, _) = e.describe_modifications(&[], &[], &Page::default()).unwrap();
    assert_eq!(mods.len(), 1);
}

#[test]
fn reopen_keeps_volumes_and_removes_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new(crate::store::meta::COLUMN_FAMILIES));
    let e = open(dir.path(), kv.clone());
    let v = create(&e, "gp2", 1);
    drop(e);
    let orphan = dir.path().join("volumes").join("vol-00000000000000000.img");
    std::fs::write(&orphan, b"x").unwrap();
    let e = open(dir.path(), kv);
    assert!(e.handle(&v.id).is_some());
    assert!(!orphan.exists());
}

#[test]
fn client_token_makes_create_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let req = CreateVolume {
        spec: SpecRequest { size_gib: Some(1), ..Default::default() },
        availability_zone: Some("us-east-1a".into()),
        client_token: Some("token-1".into()),
        ..Default::default()
    };
    let a = e.create_volume(req.clone(), "us-east-1").unwrap();
    let b = e.create_volume(req, "us-east-1").unwrap();
    assert_eq!(a.id, b.id, "a retried CreateVolume returns the same volume");
    assert_eq!(e.describe_volumes(&[], &[], &Page::default()).unwrap().0.len(), 1);
}

fn wait_completed(e: &VolumeEngine, id: &str) -> snapshot::Snapshot {
    for _ in 0..1000 {
        let req = DescribeSnapshots { ids: vec![id.to_string()], ..Default::default() };
        let (found, _) = e.describe_snapshots(&req).unwrap();
        if found[0].0.state == snapshot::SnapshotState::Completed {
            return found[0].0.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("snapshot {id} did not complete");
}

const BLOCK: usize = blocks::BLOCK_SIZE as usize;

#[test]
fn incremental_snapshots_dedup_refcount_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let v = create(&e, "gp3", 1);
    let h = e.handle(&v.id).unwrap();
    h.write(&vec![1u8; 3 * BLOCK], 0, false).unwrap();
    let s1 = e.create_snapshot(&v.id, Some("one".into()), &[]).unwrap();
    let s1 = wait_completed(&e, &s1.id);
    assert_eq!(s1.stored_bytes, blocks::BLOCK_SIZE, "three equal blocks are stored once");
    assert_eq!(s1.full_size_bytes, 3 * blocks::BLOCK_SIZE);
    assert_eq!(h.dirty_blocks(), 0, "the snapshot took the dirty map");
    h.write(&vec![2u8; 4096], blocks::BLOCK_SIZE + 100, false).unwrap();
    let s2 = wait_completed(&e, &e.create_snapshot(&v.id, None, &[]).unwrap().id);
    assert_eq!(s2.stored_bytes, blocks::BLOCK_SIZE, "only the changed block");
    e.delete_snapshot(&s1.id).unwrap();
    assert_eq!(e.snapshot_store_bytes().unwrap(), 2 * blocks::BLOCK_SIZE, "both blocks are still needed");

    let req = CreateVolume {
        spec: SpecRequest { volume_type: Some("gp2".into()), size_gib: Some(2), ..Default::default() },
        availability_zone: Some("us-east-1a".into()),
        snapshot_id: Some(s2.id.clone()),
        ..Default::default()
    };
    let r = e.create_volume(req, "us-east-1").unwrap();
    let rh = e.handle(&r.id).unwrap();
    let mut buf = vec![0u8; 2 * BLOCK];
    rh.read(&mut buf, 0).unwrap();
    let mut want = vec![1u8; 2 * BLOCK];
    want[BLOCK + 100..BLOCK + 100 + 4096].fill(2);
    assert_eq!(buf, want);
    let mut tail = vec![1u8; 4096];
    rh.read(&mut tail, volume::GIB + 4096).unwrap();
    assert!(tail.iter().all(|&b| b == 0));
    // Until hydration is over the snapshot is in use.
    for _ in 0..1000 {
        match e.delete_snapshot(&s2.id) {
            Err(EngineError::SnapshotInUse { .. }) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => {
                other.unwrap();
                break;
            }
        }
    }
    assert_eq!(e.snapshot_store_bytes().unwrap(), 0, "no snapshot left: no block left");
    assert!(matches!(e.create_snapshot("vol-0123456789abcdef0", None, &[]), Err(EngineError::VolumeNotFound(_))));
}

#[test]
fn copy_on_write_keeps_the_snapshot_point_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let v = create(&e, "gp3", 1);
    let h = e.handle(&v.id).unwrap();
    // 64 blocks of distinct content, so the copier takes a while.
    for i in 0..64u8 {
        h.write(&vec![i + 1; BLOCK], u64::from(i) * blocks::BLOCK_SIZE, false).unwrap();
    }
    let s = e.create_snapshot(&v.id, None, &[]).unwrap();
    // Overwrite every block at once, racing the copier.
    for i in (0..64u8).rev() {
        h.write(&vec![0xEE; BLOCK], u64::from(i) * blocks::BLOCK_SIZE, false).unwrap();
    }
    wait_completed(&e, &s.id);
    assert_eq!(h.dirty_blocks(), 64, "the overwrites are in the next snapshot");
    let manifest = e.meta.manifest(&s.id).unwrap().unwrap();
    assert_eq!(manifest.blocks.len(), 64);
    for (i, hash) in &manifest.blocks {
        let data = e.store.get_block(hash).unwrap().unwrap();
        assert!(data.iter().all(|&b| b == *i as u8 + 1), "block {i} is from before the snapshot");
    }
}

#[test]
fn dirty_maps_survive_a_clean_shutdown_and_are_all_dirty_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new(crate::store::meta::COLUMN_FAMILIES));
    let e = open(dir.path(), kv.clone());
    let v = create(&e, "gp3", 1);
    e.handle(&v.id).unwrap().write(&[1u8; 10], 0, false).unwrap();
    e.shutdown().unwrap();
    drop(e);
    let e = open(dir.path(), kv.clone());
    assert_eq!(e.handle(&v.id).unwrap().dirty_blocks(), 1, "kept across a clean restart");
    drop(e); // no shutdown: as after kill -9
    let e = open(dir.path(), kv);
    assert_eq!(e.handle(&v.id).unwrap().dirty_blocks(), 2048, "unknown after a crash: all dirty");
}

#[test]
fn snapshot_of_a_volume_still_hydrating_after_a_crash_keeps_unfetched_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new(crate::store::meta::COLUMN_FAMILIES));
    let slow = |kv: Arc<dyn KvStore>| {
        let store = Arc::new(DirSnapshotStore::open(&dir.path().join("snapshots")).unwrap());
        let options = EngineOptions { hydrate_mib_per_sec: 1, ..Default::default() };
        VolumeEngine::open(dir.path(), kv, SystemClock::shared(), true, store, options).unwrap()
    };
    let e = slow(kv.clone());
    let v = create(&e, "gp3", 1);
    for i in 0..8u8 {
        e.handle(&v.id).unwrap().write(&vec![i + 1; BLOCK], u64::from(i) * blocks::BLOCK_SIZE, false).unwrap();
    }
    let s1 = wait_completed(&e, &e.create_snapshot(&v.id, None, &[]).unwrap().id);
    let req = CreateVolume {
        spec: SpecRequest { size_gib: Some(1), ..Default::default() },
        availability_zone: Some("us-east-1a".into()),
        snapshot_id: Some(s1.id.clone()),
        ..Default::default()
    };
    let r = e.create_volume(req, "us-east-1").unwrap();
    drop(e); // a crash: the restored volume's dirty map becomes all-dirty, hydration resumes
    let e = slow(kv);
    assert!(e.handle(&r.id).unwrap().hydration().is_some(), "still hydrating at 1 MiB/s");
    let s2 = wait_completed(&e, &e.create_snapshot(&r.id, None, &[]).unwrap().id);
    assert_eq!(e.meta.manifest(&s2.id).unwrap().unwrap().blocks, e.meta.manifest(&s1.id).unwrap().unwrap().blocks);
}

/// EC2's largest volume (16,384 GiB) is 4 KiB more than ext4's largest file: where the data
/// directory cannot hold it, CreateVolume and ModifyVolume fail as a capacity error and leave
/// nothing behind (no record, no file, the old size); where it can, the volume is created.
#[test]
fn a_volume_larger_than_the_file_system_allows_is_a_capacity_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let files = || walkdir_count(dir.path());
    let before = files();
    let req = CreateVolume {
        spec: SpecRequest { volume_type: Some("gp2".into()), size_gib: Some(16_384), ..Default::default() },
        availability_zone: Some("us-east-1a".into()),
        ..Default::default()
    };
    match e.create_volume(req, "us-east-1") {
        Ok(v) => e.delete_volume(&v.id).unwrap(),
        Err(err) => {
            assert!(matches!(err, EngineError::InsufficientVolumeCapacity), "{err:?}");
            assert_eq!(e.describe_volumes(&[], &[], &Page::default()).unwrap().0.len(), 0);
            assert_eq!(files(), before, "a failed CreateVolume leaves no file");
        }
    }
    let small = create(&e, "gp2", 1);
    e.attach_volume(&small.id, "i-0123456789abcdef0", "/dev/sdf").unwrap();
    let _export = e.open_export(&small.id).unwrap();
    match e.modify_volume(&small.id, &SpecRequest { size_gib: Some(16_384), ..Default::default() }) {
        Ok(_) => {}
        Err(err) => {
            assert!(matches!(err, EngineError::InsufficientVolumeCapacity), "{err:?}");
            let (volumes, _) = e.describe_volumes(std::slice::from_ref(&small.id), &[], &Page::default()).unwrap();
            assert_eq!(volumes[0].spec.size_gib, 1);
            assert!(volumes[0].modification.is_none());
        }
    }
}

fn walkdir_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { 1 + walkdir_count(&p) } else { 1 })
        .sum()
}

/// A PutSnapshotBlock racing CompleteSnapshot is either in the completed snapshot or refused: never
/// acknowledged and then dropped (the check of the snapshot's state and the record of the block
/// used to be apart, and a put between them was lost).
#[test]
fn block_puts_racing_completion_are_kept_or_refused() {
    use super::direct::{StartSnapshot, sha256_b64};
    use std::sync::Mutex;
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    for round in 0..10u8 {
        let s = e.start_snapshot(&StartSnapshot { volume_size_gib: 1, ..Default::default() }).unwrap();
        let acked = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let (e, id, acked) = (&e, &s.id, &acked);
                scope.spawn(move || {
                    let data = vec![round + 1; super::blocks::BLOCK_SIZE as usize];
                    let checksum = sha256_b64(&data);
                    for i in 0..40 {
                        let index = t * 100 + i;
                        if e.put_snapshot_block(id, index, &data, &checksum, "SHA256").is_ok() {
                            acked.lock().unwrap().push(index);
                        }
                    }
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
            // Complete with however many blocks are recorded at that moment (retrying while puts land).
            loop {
                let pending = e.meta.pending_blocks(&s.id).unwrap().len() as u64;
                if e.complete_snapshot(&s.id, pending, None).is_ok() {
                    break;
                }
            }
        });
        let manifest = e.meta.manifest(&s.id).unwrap().unwrap();
        for index in acked.into_inner().unwrap() {
            assert!(manifest.blocks.contains_key(&index), "round {round}: block {index} acknowledged, then lost");
        }
    }
}
