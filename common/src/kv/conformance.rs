//! One behaviour suite for every `KvStore` implementation: each check below runs against the in-memory
//! store and RocksDB (and any engine added later: add it to `for_each_store!`).

use super::*;

const CFS: &[&str] = &["a", "b"];

fn keys(it: KvIter<'_>) -> Vec<Vec<u8>> {
    it.map(|r| r.unwrap().0).collect()
}

fn fill(kv: &dyn KvStore, cf: &str, ks: &[&[u8]]) {
    let mut batch = WriteBatch::new();
    for k in ks {
        batch.put(cf, *k, [b"v-", *k].concat());
    }
    kv.write(batch).unwrap();
}

pub fn get_put_delete(kv: &dyn KvStore) {
    assert_eq!(kv.get("a", b"k").unwrap(), None);
    kv.put("a", b"k", b"1").unwrap();
    assert_eq!(kv.get("a", b"k").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(kv.get("b", b"k").unwrap(), None, "column families are separate");
    kv.put("a", b"k", b"2").unwrap();
    assert_eq!(kv.get("a", b"k").unwrap().as_deref(), Some(&b"2"[..]));
    kv.delete("a", b"k").unwrap();
    assert_eq!(kv.get("a", b"k").unwrap(), None);
    kv.delete("a", b"never-there").unwrap();
}

pub fn batch_is_atomic_and_ordered(kv: &dyn KvStore) {
    let mut batch = WriteBatch::new();
    batch.put("a", b"x", b"1").put("b", b"y", b"2").delete("a", b"x").put("a", b"z", b"3");
    kv.write(batch).unwrap();
    assert_eq!(kv.get("a", b"x").unwrap(), None, "later ops in a batch win");
    assert_eq!(kv.get("b", b"y").unwrap().as_deref(), Some(&b"2"[..]));

    let mut bad = WriteBatch::new();
    bad.put("a", b"w", b"1").put("no-such-cf", b"k", b"v");
    assert!(matches!(kv.write(bad), Err(KvError::UnknownColumnFamily(_))));
    assert_eq!(kv.get("a", b"w").unwrap(), None, "a failed batch leaves nothing behind");
}

pub fn unknown_column_family_is_an_error(kv: &dyn KvStore) {
    assert!(matches!(kv.get("zz", b"k"), Err(KvError::UnknownColumnFamily(_))));
    assert!(kv.scan("zz", KeyRange::all(), Direction::Forward).is_err());
}

pub fn scans_respect_bounds_and_direction(kv: &dyn KvStore) {
    fill(kv, "a", &[b"a", b"b", b"ba", b"bb", b"c", b"\xff", b"\xff\xff"]);
    fill(kv, "b", &[b"b0"]);
    let all = keys(kv.scan("a", KeyRange::all(), Direction::Forward).unwrap());
    assert_eq!(
        all,
        vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"ba".to_vec(),
            b"bb".to_vec(),
            b"c".to_vec(),
            b"\xff".to_vec(),
            b"\xff\xff".to_vec()
        ]
    );
    let mut rev = keys(kv.scan("a", KeyRange::all(), Direction::Reverse).unwrap());
    rev.reverse();
    assert_eq!(rev, all);
    assert_eq!(
        keys(kv.scan("a", KeyRange::prefix(b"b"), Direction::Forward).unwrap()),
        vec![b"b".to_vec(), b"ba".to_vec(), b"bb".to_vec()]
    );
    assert_eq!(
        keys(kv.scan("a", KeyRange::prefix(b"b"), Direction::Reverse).unwrap()),
        vec![b"bb".to_vec(), b"ba".to_vec(), b"b".to_vec()]
    );
    assert_eq!(
        keys(kv.scan("a", KeyRange::between(&b"b"[..], &b"bb"[..]), Direction::Reverse).unwrap()),
        vec![b"ba".to_vec(), b"b".to_vec()]
    );
    assert_eq!(keys(kv.scan("a", KeyRange::prefix(b"\xff"), Direction::Forward).unwrap()).len(), 2);
    assert_eq!(keys(kv.scan("a", KeyRange::from(&b"bb"[..]), Direction::Forward).unwrap()).len(), 4);
    assert!(keys(kv.scan("a", KeyRange::prefix(b"q"), Direction::Reverse).unwrap()).is_empty());
    let first = kv.scan("a", KeyRange::prefix(b"c"), Direction::Forward).unwrap().next().unwrap().unwrap();
    assert_eq!(first, (b"c".to_vec(), b"v-c".to_vec()));
}

pub fn snapshot_is_a_point_in_time(kv: &dyn KvStore) {
    fill(kv, "a", &[b"1", b"2"]);
    let snap = kv.snapshot();
    kv.put("a", b"1", b"changed").unwrap();
    kv.put("a", b"3", b"new").unwrap();
    kv.delete("a", b"2").unwrap();
    assert_eq!(snap.get("a", b"1").unwrap().as_deref(), Some(&b"v-1"[..]));
    assert_eq!(snap.get("a", b"2").unwrap().as_deref(), Some(&b"v-2"[..]));
    assert_eq!(snap.get("a", b"3").unwrap(), None);
    assert_eq!(keys(snap.scan("a", KeyRange::all(), Direction::Forward).unwrap()), vec![b"1".to_vec(), b"2".to_vec()]);
    assert_eq!(kv.get("a", b"1").unwrap().as_deref(), Some(&b"changed"[..]));
}

pub fn writes_during_a_scan_do_not_break_it(kv: &dyn KvStore) {
    fill(kv, "a", &[b"k1", b"k2", b"k3"]);
    let mut seen = 0;
    for item in kv.scan("a", KeyRange::all(), Direction::Forward).unwrap() {
        let (k, _) = item.unwrap();
        kv.put("a", &[k.as_slice(), b"-x"].concat(), b"v").unwrap();
        seen += 1;
        assert!(seen < 100, "a scan must end");
    }
    assert!(seen >= 3);
}

macro_rules! for_each_store {
    ($($check:ident),* $(,)?) => {
        mod memory_store {
            $(#[test] fn $check() { super::$check(&super::MemoryKv::new(super::CFS)); })*
        }
        mod rocksdb_store {
            $(#[test] fn $check() {
                let dir = tempfile::tempdir().unwrap();
                super::$check(&super::RocksKv::open(dir.path(), super::CFS).unwrap());
            })*
        }
    };
}

for_each_store!(
    get_put_delete,
    batch_is_atomic_and_ordered,
    unknown_column_family_is_an_error,
    scans_respect_bounds_and_direction,
    snapshot_is_a_point_in_time,
    writes_during_a_scan_do_not_break_it,
);
