//! Micro-benchmarks of dynamod's per-request CPU hot paths (issue #10):
//! - key encoding: every GetItem/PutItem/UpdateItem/Query turns its S/N/B key attributes into the
//!   order-preserving RocksDB key (`store::keys::item_key`), and every item read or written goes
//!   through the item codec (`store::codec`), so a composite key encode and a 1 KB item
//!   encode+decode are paid on each request;
//! - expressions: ConditionExpression / FilterExpression are parsed per request (DynamoDB has no
//!   prepared statements) and evaluated against the stored item (for Scan/Query, against every item
//!   read), and UpdateItem parses and applies its UpdateExpression on every call.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dynamod::engine::expr::eval::evaluate;
use dynamod::engine::expr::update::apply;
use dynamod::engine::expr::{Placeholders, parse_condition, parse_update};
use dynamod::engine::number::Number;
use dynamod::engine::value::{AttrValue, Item};
use dynamod::store::codec::{decode_item, encode_item};
use dynamod::store::keys::item_key;

fn n(text: &str) -> AttrValue {
    AttrValue::N(Number::parse(text).expect("valid number"))
}

/// A YCSB-like ~1 KB item: a string key, ten 100-byte fields, plus a few typed attributes that the
/// expressions below touch.
fn item_1kb() -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), AttrValue::S("user6284781860667377211".into()));
    for i in 0..10 {
        item.insert(format!("field{i}"), AttrValue::S("x".repeat(90) + &format!("{i:010}")));
    }
    item.insert("price".into(), n("129.95"));
    item.insert("stock".into(), n("42"));
    item.insert("status".into(), AttrValue::S("ACTIVE".into()));
    item.insert("tags".into(), AttrValue::Ss(vec!["blue".into(), "sale".into(), "summer".into()]));
    let mut dims = Item::new();
    dims.insert("w".into(), n("10"));
    dims.insert("h".into(), n("20"));
    item.insert("dims".into(), AttrValue::M(dims));
    item.insert("history".into(), AttrValue::L(vec![n("1"), n("2"), n("3")]));
    item
}

fn placeholders() -> Placeholders {
    let names = HashMap::from([("#s".to_string(), "status".to_string()), ("#p".to_string(), "price".to_string())]);
    let values = HashMap::from([
        (":active".to_string(), AttrValue::S("ACTIVE".into())),
        (":lo".to_string(), n("100")),
        (":hi".to_string(), n("200")),
        (":tag".to_string(), AttrValue::S("sale".into())),
        (":min".to_string(), n("5")),
        (":one".to_string(), n("1")),
        (":now".to_string(), n("1700000000")),
        (":more".to_string(), AttrValue::L(vec![n("4")])),
    ]);
    Placeholders::new(names, values)
}

const CONDITION: &str = "#s = :active AND #p BETWEEN :lo AND :hi AND contains(tags, :tag) \
                         AND attribute_exists(dims.w) AND (stock >= :min OR attribute_not_exists(pk)) \
                         AND size(field3) > :one";
const UPDATE: &str = "SET stock = stock - :one, updated_at = :now, dims.h = if_not_exists(dims.h, :one), \
                      history = list_append(history, :more) ADD visits :one REMOVE field9";

fn keys(c: &mut Criterion) {
    let mut g = c.benchmark_group("keys");
    let s = AttrValue::S("user6284781860667377211".into());
    let num = n("-12345.6789e10");
    let bin = AttrValue::B(vec![0, 1, 2, 0, 255, 7, 0, 9, 42, 0, 0, 13]);
    g.bench_function("item_key S+N", |b| b.iter(|| item_key(black_box(7), black_box(&s), Some(black_box(&num)))));
    g.bench_function("item_key B+S", |b| b.iter(|| item_key(black_box(7), black_box(&bin), Some(black_box(&s)))));
    let item = item_1kb();
    let encoded = encode_item(&item);
    g.bench_function("item encode 1KB", |b| b.iter(|| encode_item(black_box(&item))));
    g.bench_function("item decode 1KB", |b| b.iter(|| decode_item(black_box(&encoded)).expect("decodes")));
    g.finish();
}

fn expressions(c: &mut Criterion) {
    let mut g = c.benchmark_group("expressions");
    let item = item_1kb();
    g.bench_function("condition parse", |b| {
        b.iter(|| {
            let mut ph = placeholders();
            parse_condition(black_box(CONDITION), "ConditionExpression", &mut ph).expect("parses")
        })
    });
    let mut ph = placeholders();
    let cond = parse_condition(CONDITION, "ConditionExpression", &mut ph).expect("parses");
    assert!(evaluate(&cond, &item, "ConditionExpression").expect("evaluates"));
    g.bench_function("condition evaluate 1KB item", |b| {
        b.iter(|| evaluate(black_box(&cond), black_box(&item), "ConditionExpression").expect("evaluates"))
    });
    g.bench_function("condition parse+evaluate", |b| {
        b.iter(|| {
            let mut ph = placeholders();
            let cond = parse_condition(black_box(CONDITION), "ConditionExpression", &mut ph).expect("parses");
            evaluate(&cond, black_box(&item), "ConditionExpression").expect("evaluates")
        })
    });
    let mut ph = placeholders();
    let update = parse_update(UPDATE, &mut ph).expect("parses");
    g.bench_function("update parse", |b| {
        b.iter(|| {
            let mut ph = placeholders();
            parse_update(black_box(UPDATE), &mut ph).expect("parses")
        })
    });
    g.bench_function("update apply 1KB item", |b| {
        b.iter(|| apply(black_box(&update), black_box(&item)).expect("applies"))
    });
    // Placeholder map construction is part of every parse above; measure it alone so it can be
    // subtracted when reading the numbers.
    g.bench_function("placeholders build (baseline)", |b| b.iter(placeholders));
    g.finish();
}

criterion_group!(benches, keys, expressions);
criterion_main!(benches);
