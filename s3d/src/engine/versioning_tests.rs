//! Versioning against a model: random sequences of PUT, DELETE, version DELETE and state changes must
//! leave exactly the versions the model predicts (in order, through every page size), GETs must see
//! the newest one, and exactly the blobs of surviving versions may remain.

use futures::StreamExt;
use proptest::prelude::*;

use super::EngineError;
use super::object::PutRequest;
use super::read::ReadConditions;
use super::testing::*;
use super::versioning::{VersionRef, Versioning};
use super::versions_list::VersionsQuery;

#[derive(Debug, Clone)]
enum Op {
    Put { key: usize, big: bool, byte: u8 },
    Delete { key: usize },
    DeleteVersion { key: usize, pick: usize },
    SetState { enabled: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, any::<bool>(), any::<u8>()).prop_map(|(key, big, byte)| Op::Put { key, big, byte }),
        2 => (0..2usize).prop_map(|key| Op::Delete { key }),
        2 => (0..2usize, 0..8usize).prop_map(|(key, pick)| Op::DeleteVersion { key, pick }),
        1 => any::<bool>().prop_map(|enabled| Op::SetState { enabled }),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    id: Option<String>,
    marker: bool,
    body: Vec<u8>,
}

const KEYS: [&str; 2] = ["a", "a/b"];

async fn run(ops: Vec<Op>) {
    let e = engine();
    let me = alice();
    e.create_bucket(&me, "bkt", None).await.unwrap();
    let mut state = Versioning::Unversioned;
    let mut model: [Vec<Entry>; 2] = [Vec::new(), Vec::new()];
    for op in ops {
        match op {
            Op::Put { key, big, byte } => {
                let body_bytes = vec![byte; if big { super::INLINE_MAX + 10 } else { 5 }];
                let info =
                    e.put_object(&me, "bkt", KEYS[key], body(&body_bytes), PutRequest::default(), None).await.unwrap();
                let versions = &mut model[key];
                if state == Versioning::Enabled {
                    assert!(info.version_id.is_some());
                } else {
                    // A versioned (here: suspended) bucket reports its null version as "null".
                    let reported = (state == Versioning::Suspended).then(|| "null".to_string());
                    assert_eq!(info.version_id, reported);
                    versions.retain(|v| v.id.is_some());
                }
                let id = info.version_id.filter(|v| v != "null");
                versions.insert(0, Entry { id, marker: false, body: body_bytes });
            }
            Op::Delete { key } => {
                let out = e.delete_object(&me, "bkt", KEYS[key], None).await.unwrap();
                let versions = &mut model[key];
                match state {
                    Versioning::Unversioned => versions.clear(),
                    Versioning::Enabled => {
                        versions.insert(0, Entry { id: out.version_id.clone(), marker: true, body: vec![] })
                    }
                    Versioning::Suspended => {
                        assert_eq!(out.version_id.as_deref(), Some("null"));
                        versions.retain(|v| v.id.is_some());
                        versions.insert(0, Entry { id: None, marker: true, body: vec![] });
                    }
                }
            }
            Op::DeleteVersion { key, pick } => {
                let versions = &mut model[key];
                if versions.is_empty() {
                    continue;
                }
                let victim = versions.remove(pick % versions.len());
                let v = victim.id.clone().map_or(VersionRef::Null, VersionRef::Id);
                let out = e.delete_object(&me, "bkt", KEYS[key], Some(&v)).await.unwrap();
                assert_eq!(out.delete_marker, victim.marker);
            }
            Op::SetState { enabled } => {
                state = if enabled { Versioning::Enabled } else { Versioning::Suspended };
                e.put_bucket_versioning(&me, "bkt", state).await.unwrap();
            }
        }
        check(&e, &model).await;
    }
}

async fn check(e: &super::Engine, model: &[Vec<Entry>; 2]) {
    let me = alice();
    let want: Vec<(String, Option<String>, bool, bool)> = KEYS
        .iter()
        .zip(model)
        .flat_map(|(k, vs)| vs.iter().enumerate().map(move |(i, v)| (k.to_string(), v.id.clone(), v.marker, i == 0)))
        .collect();
    for page_size in [1000, 1, 2, 3] {
        let mut got = Vec::new();
        let mut q = VersionsQuery { max_keys: page_size, ..Default::default() };
        loop {
            let page = e.list_object_versions(&me, "bkt", &q).unwrap();
            got.extend(
                page.versions.iter().map(|v| (v.key.clone(), v.version_id.clone(), v.delete_marker, v.is_latest)),
            );
            if !page.is_truncated {
                break;
            }
            q.key_marker = page.next_key_marker.clone();
            q.version_id_marker = page.next_version_id_marker.as_deref().map(|m| VersionRef::parse(m).unwrap());
        }
        assert_eq!(got, want, "page size {page_size}");
    }
    for (key, versions) in KEYS.iter().zip(model) {
        let got = e.get_object(&me, "bkt", key, None, &ReadConditions::default(), None, None).await;
        match versions.first() {
            None => assert!(matches!(got, Err(EngineError::NoSuchKey))),
            Some(v) if v.marker => assert!(matches!(got, Err(EngineError::LatestIsDeleteMarker { .. }))),
            Some(v) => {
                let mut body = got.unwrap().body;
                let mut bytes = Vec::new();
                while let Some(c) = body.next().await {
                    bytes.extend_from_slice(&c.unwrap());
                }
                assert_eq!(bytes, v.body);
            }
        }
    }
    let mut blobs = 0;
    e.blobs.scan(&mut |_| blobs += 1).unwrap();
    let expected = model.iter().flatten().filter(|v| v.body.len() > super::INLINE_MAX).count();
    assert_eq!(blobs, expected, "exactly the surviving versions' blobs remain");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn versions_follow_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run(ops));
    }
}

#[tokio::test]
async fn version_ids_are_opaque_sortable_and_validated() {
    let e = engine();
    e.create_bucket(&alice(), "bkt", None).await.unwrap();
    e.put_bucket_versioning(&alice(), "bkt", Versioning::Enabled).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(e.put_object(&alice(), "bkt", "k", body(b"x"), PutRequest::default(), None).await.unwrap().version_id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(ids, sorted, "later versions sort first");
    assert!(VersionRef::parse("null").is_ok());
    assert!(matches!(VersionRef::parse("../x"), Err(EngineError::InvalidArgument(_))));
    assert!(matches!(
        e.put_bucket_versioning(&alice(), "bkt", Versioning::Unversioned).await,
        Err(EngineError::MalformedXml)
    ));
}
