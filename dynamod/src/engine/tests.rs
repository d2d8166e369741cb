//! Engine tests on the in-memory store: atomic read-modify-write, ranges, restart behaviour.

use std::collections::HashMap;
use std::sync::Arc;

use common::clock::SystemClock;

use super::Engine;
use super::items::{Conditional, GetItem};
use super::number::Number;
use super::query::ReadRequest;
use super::tables::CreateTable;
use super::value::{AttrValue, Item};
use crate::store::Store;

fn n(s: &str) -> AttrValue {
    AttrValue::N(Number::parse(s).unwrap())
}

fn create(engine: &Engine, name: &str, range: Option<&str>) {
    let mut key_schema = vec![("pk".to_string(), "HASH".to_string())];
    let mut defs = vec![("pk".to_string(), "S".to_string())];
    if let Some(ty) = range {
        key_schema.push(("sk".into(), "RANGE".into()));
        defs.push(("sk".into(), ty.into()));
    }
    engine
        .create_table(CreateTable {
            name: name.into(),
            key_schema,
            attribute_definitions: defs,
            billing_mode: Some("PAY_PER_REQUEST".into()),
            throughput: None,
            tags: vec![],
            local_indexes: vec![],
            global_indexes: vec![],
            stream: None,
        })
        .unwrap();
}

fn values(pairs: &[(&str, AttrValue)]) -> Option<HashMap<String, AttrValue>> {
    Some(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

#[test]
fn concurrent_updates_are_atomic() {
    let engine = Arc::new(Engine::open(Store::memory(), SystemClock::shared()).unwrap());
    create(&engine, "counters", None);
    std::thread::scope(|s| {
        for _ in 0..8 {
            let engine = engine.clone();
            s.spawn(move || {
                for _ in 0..100 {
                    let key = Item::from([("pk".to_string(), AttrValue::S("c".into()))]);
                    let c = Conditional { values: values(&[(":one", n("1"))]), ..Default::default() };
                    engine.update_item("counters", key, Some("ADD hits :one".into()), None, c).unwrap();
                }
            });
        }
    });
    let key = Item::from([("pk".to_string(), AttrValue::S("c".into()))]);
    let (item, _) = engine
        .get_item(GetItem {
            table: "counters".into(),
            key,
            consistent: true,
            projection: None,
            attributes_to_get: None,
            names: None,
        })
        .unwrap();
    assert_eq!(item.unwrap()["hits"], n("800"));
}

#[test]
fn query_ranges_and_restart() {
    let store = Store::memory();
    let engine = Engine::open(store.clone(), SystemClock::shared()).unwrap();
    create(&engine, "ranges", Some("B"));
    for sk in [vec![0u8], vec![0, 0], vec![0, 1], vec![1], vec![1, 0, 5], vec![2]] {
        let item = Item::from([("pk".to_string(), AttrValue::S("p".into())), ("sk".to_string(), AttrValue::B(sk))]);
        engine.put_item("ranges", item, Conditional::default()).unwrap();
    }
    let query = |cond: &str, vals: &[(&str, AttrValue)]| -> Vec<Vec<u8>> {
        let mut all = vals.to_vec();
        all.push((":p", AttrValue::S("p".into())));
        let page = engine
            .query(ReadRequest {
                table: "ranges".into(),
                key_condition: Some(format!("pk = :p AND {cond}")),
                values: values(&all),
                forward: true,
                ..Default::default()
            })
            .unwrap();
        page.items
            .unwrap()
            .into_iter()
            .map(|i| if let AttrValue::B(b) = &i["sk"] { b.clone() } else { panic!() })
            .collect()
    };
    assert_eq!(query("begins_with(sk, :b)", &[(":b", AttrValue::B(vec![0]))]), vec![vec![0], vec![0, 0], vec![0, 1]]);
    assert_eq!(query("sk > :b", &[(":b", AttrValue::B(vec![0, 1]))]), vec![vec![1], vec![1, 0, 5], vec![2]]);
    assert_eq!(
        query("sk BETWEEN :a AND :b", &[(":a", AttrValue::B(vec![0, 0])), (":b", AttrValue::B(vec![1]))]),
        vec![vec![0, 0], vec![0, 1], vec![1]]
    );
    // Dropped tables' ids are never reused, so their items cannot reappear in a new table.
    engine.delete_table("ranges").unwrap();
    drop(engine);
    let engine = Engine::open(store, SystemClock::shared()).unwrap();
    create(&engine, "ranges", Some("B"));
    let page = engine.scan(ReadRequest { table: "ranges".into(), ..Default::default() }).unwrap();
    assert_eq!(page.count, 0);
    assert_eq!(engine.describe_table("ranges").unwrap().item_count, 0);
}

#[test]
fn expired_items_are_returned_until_the_sweeper_deletes_them() {
    use common::clock::{Clock, FakeClock};
    let clock = FakeClock::new(time::OffsetDateTime::now_utc());
    let engine = Engine::open(Store::memory(), clock.clone()).unwrap();
    create(&engine, "ttl_t", None);
    engine.update_time_to_live("ttl_t", true, "exp").unwrap();
    let now = clock.wall().unix_timestamp();
    for (pk, exp) in [("old", now - 1), ("new", now + 60)] {
        let item = Item::from([("pk".to_string(), AttrValue::S(pk.into())), ("exp".to_string(), n(&exp.to_string()))]);
        engine.put_item("ttl_t", item, Conditional::default()).unwrap();
    }
    let get = |pk: &str| {
        let key = Item::from([("pk".to_string(), AttrValue::S(pk.into()))]);
        let req = GetItem {
            table: "ttl_t".into(),
            key,
            consistent: true,
            projection: None,
            attributes_to_get: None,
            names: None,
        };
        engine.get_item(req).unwrap().0
    };
    assert!(get("old").is_some(), "expired but not yet swept: still returned");
    assert_eq!(engine.sweep_expired().unwrap(), 1);
    assert!(get("old").is_none() && get("new").is_some());
    clock.advance(std::time::Duration::from_secs(61));
    assert_eq!(engine.sweep_expired().unwrap(), 1);
    assert!(get("new").is_none());
}

#[test]
fn index_entries_follow_base_writes_and_survive_restart() {
    use super::indexes::IndexSpec;
    let store = Store::memory();
    let engine = Engine::open(store.clone(), SystemClock::shared()).unwrap();
    let gsi = IndexSpec {
        name: "by_g".into(),
        key_schema: vec![("g".into(), "HASH".into())],
        projection_type: Some("KEYS_ONLY".into()),
        ..Default::default()
    };
    engine
        .create_table(CreateTable {
            name: "ixt".into(),
            key_schema: vec![("pk".into(), "HASH".into())],
            attribute_definitions: vec![("pk".into(), "S".into()), ("g".into(), "N".into())],
            billing_mode: Some("PAY_PER_REQUEST".into()),
            throughput: None,
            tags: vec![],
            local_indexes: vec![],
            global_indexes: vec![gsi],
            stream: None,
        })
        .unwrap();
    for (pk, g) in [("a", "1"), ("b", "1"), ("c", "2")] {
        let item = Item::from([("pk".to_string(), AttrValue::S(pk.into())), ("g".to_string(), n(g))]);
        engine.put_item("ixt", item, Conditional::default()).unwrap();
    }
    let key = Item::from([("pk".to_string(), AttrValue::S("b".into()))]);
    let c = Conditional { values: values(&[(":g", n("2"))]), ..Default::default() };
    engine.update_item("ixt", key, Some("SET g = :g".into()), None, c).unwrap();
    let count = |engine: &Engine, g: &str| {
        engine
            .query(ReadRequest {
                table: "ixt".into(),
                index: Some("by_g".into()),
                key_condition: Some("g = :g".into()),
                values: values(&[(":g", n(g))]),
                forward: true,
                ..Default::default()
            })
            .unwrap()
            .count
    };
    assert_eq!((count(&engine, "1"), count(&engine, "2")), (1, 2));
    drop(engine);
    let engine = Engine::open(store, SystemClock::shared()).unwrap();
    assert_eq!((count(&engine, "1"), count(&engine, "2")), (1, 2));
}

/// Every change appears once in the stream, in order; no-op writes and failed conditions add nothing;
/// a backup restores exactly the items present when it was taken.
#[test]
fn stream_records_follow_the_writes_and_backups_restore_a_point_in_time() {
    use super::streams::{EventName, StreamSpec};
    let engine = Engine::open(Store::memory(), SystemClock::shared()).unwrap();
    create(&engine, "stt", None);
    let table = engine.table_named("stt", true).unwrap();
    let spec = StreamSpec { enabled: true, view_type: Some("NEW_AND_OLD_IMAGES".into()) };
    engine.update_stream(&table, &spec).unwrap();
    let item = |v: &str| Item::from([("pk".to_string(), AttrValue::S("a".into())), ("v".to_string(), n(v))]);
    let key = Item::from([("pk".to_string(), AttrValue::S("a".into()))]);
    engine.put_item("stt", item("1"), Conditional::default()).unwrap();
    engine.put_item("stt", item("1"), Conditional::default()).unwrap(); // unchanged: no record
    engine.put_item("stt", item("2"), Conditional::default()).unwrap();
    let failing = Conditional { condition_expression: Some("attribute_not_exists(pk)".into()), ..Default::default() };
    assert!(engine.put_item("stt", item("3"), failing).is_err());
    let backup = engine.create_backup("stt", "snap").unwrap();
    engine.delete_item("stt", key.clone(), Conditional::default()).unwrap();
    engine.delete_item("stt", key, Conditional::default()).unwrap(); // absent: no record

    let meta = table.snapshot();
    let stream = meta.streams.last().unwrap();
    let it = engine.get_shard_iterator("stt", &stream.label, &stream.shard_id(), "TRIM_HORIZON", None).unwrap();
    let page = engine.get_records(&it, None).unwrap();
    let events: Vec<EventName> = page.records.iter().map(|r| r.event).collect();
    assert_eq!(events, [EventName::Insert, EventName::Modify, EventName::Remove]);
    assert_eq!(page.records[1].old_image.as_ref().unwrap()["v"], n("1"));
    assert_eq!(page.records[1].new_image.as_ref().unwrap()["v"], n("2"));
    assert!(page.records.windows(2).all(|w| w[0].seq < w[1].seq));
    let next = engine.get_records(page.next.as_deref().unwrap(), None).unwrap();
    assert!(next.records.is_empty(), "nothing is read twice");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while engine.describe_backup(&backup.id).unwrap().status != super::backups::BackupStatus::Available {
        assert!(std::time::Instant::now() < deadline, "backup never finished");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let restored = super::backups::RestoreRequest { target: "stt2".into(), backup_id: backup.id, ..Default::default() };
    engine.restore_table(restored).unwrap();
    let get = GetItem {
        table: "stt2".into(),
        key: Item::from([("pk".to_string(), AttrValue::S("a".into()))]),
        consistent: true,
        projection: None,
        attributes_to_get: None,
        names: None,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let (Some(found), _) = engine.get_item(get.clone()).unwrap() {
            assert_eq!(found["v"], n("2"), "the backup holds the item as it was");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "restore never finished");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_client_token_is_committed_with_its_transaction() {
    use super::indexes::IndexSpec;
    use super::transact::TransactWrite;
    use crate::store::backups::TOKEN_PREFIX;
    let store = Store::memory();
    let engine = Engine::open(store.clone(), SystemClock::shared()).unwrap();
    engine
        .create_table(CreateTable {
            name: "tok".into(),
            key_schema: vec![("pk".into(), "HASH".into())],
            attribute_definitions: vec![("pk".into(), "S".into()), ("g".into(), "S".into())],
            billing_mode: Some("PAY_PER_REQUEST".into()),
            throughput: None,
            tags: vec![],
            local_indexes: vec![],
            global_indexes: vec![IndexSpec {
                name: "by_g".into(),
                key_schema: vec![("g".into(), "HASH".into())],
                projection_type: Some("ALL".into()),
                non_key_attributes: None,
                throughput: None,
            }],
            stream: None,
        })
        .unwrap();
    let put = |pk: &str, cond: Option<&str>| TransactWrite::Put {
        table: "tok".into(),
        item: Item::from([("pk".to_string(), AttrValue::S(pk.into())), ("g".to_string(), AttrValue::S("x".into()))]),
        cond: Conditional { condition_expression: cond.map(str::to_string), ..Default::default() },
    };
    // A cancelled transaction leaves no record (its token may be retried).
    engine
        .put_item("tok", Item::from([("pk".to_string(), AttrValue::S("taken".into()))]), Conditional::default())
        .unwrap();
    let cancelled =
        engine.transact_write_once(vec![put("taken", Some("attribute_not_exists(pk)"))], Some(("t0".into(), 1)));
    assert!(cancelled.is_err());
    let consumed = engine.transact_write_once(vec![put("a", None)], Some(("t1".into(), 7))).unwrap();
    let records: Vec<super::idempotency::TokenRecord> = store.load_records(TOKEN_PREFIX).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].token.as_str(), records[0].fingerprint), ("t1", 7));
    // The stored answer is the full one, the index's write units included.
    assert_eq!(records[0].consumed, consumed);
    assert_eq!(consumed[0].indexes.len(), 1);
    // After a restart the retry is answered from the record and applies nothing.
    drop(engine);
    let engine = Engine::open(store, SystemClock::shared()).unwrap();
    engine
        .delete_item("tok", Item::from([("pk".to_string(), AttrValue::S("a".into()))]), Conditional::default())
        .unwrap();
    let replay = engine.transact_write_once(vec![put("a", None)], Some(("t1".into(), 7))).unwrap();
    assert_eq!(replay, consumed);
    assert_eq!(engine.scan(ReadRequest { table: "tok".into(), ..Default::default() }).unwrap().count, 1);
}
