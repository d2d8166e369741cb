use std::sync::Arc;

use common::clock::SystemClock;
use common::kv::MemoryKv;

use super::*;

fn engine(dir: &Path) -> VolumeEngine {
    VolumeEngine::open(dir, Arc::new(MemoryKv::new(crate::store::meta::COLUMN_FAMILIES)), SystemClock::shared(), true)
        .unwrap()
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
    let e = VolumeEngine::open(dir.path(), kv.clone(), SystemClock::shared(), true).unwrap();
    let v = create(&e, "gp2", 1);
    drop(e);
    let orphan = dir.path().join("volumes").join("vol-00000000000000000.img");
    std::fs::write(&orphan, b"x").unwrap();
    let e = VolumeEngine::open(dir.path(), kv, SystemClock::shared(), true).unwrap();
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
