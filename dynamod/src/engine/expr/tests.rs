//! Parser and evaluator tests, including properties that must hold for any input.

use std::collections::HashMap;

use proptest::prelude::*;

use super::eval::{evaluate, project};
use super::parser::{Placeholders, parse_condition, parse_projection, parse_update};
use super::update::apply;
use crate::engine::error::EngineError;
use crate::engine::number::Number;
use crate::engine::value::{AttrValue, Item};

fn n(s: &str) -> AttrValue {
    AttrValue::N(Number::parse(s).unwrap())
}
fn s(v: &str) -> AttrValue {
    AttrValue::S(v.into())
}

fn ph(values: &[(&str, AttrValue)], names: &[(&str, &str)]) -> Placeholders {
    Placeholders::new(
        names.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<HashMap<_, _>>(),
    )
}

fn msg(e: EngineError) -> String {
    e.to_string()
}

fn sample() -> Item {
    let mut inner = Item::new();
    inner.insert("c".into(), n("5"));
    let mut item = Item::new();
    item.insert("id".into(), s("k"));
    item.insert("price".into(), n("10"));
    item.insert("tags".into(), AttrValue::Ss(vec!["x".into(), "y".into()]));
    item.insert(
        "a".into(),
        AttrValue::M(Item::from([("b".into(), AttrValue::L(vec![n("1"), n("2"), AttrValue::M(inner)]))])),
    );
    item
}

fn eval(expr: &str, values: &[(&str, AttrValue)], names: &[(&str, &str)]) -> Result<bool, EngineError> {
    let mut p = ph(values, names);
    let c = parse_condition(expr, "ConditionExpression", &mut p)?;
    p.check_unused()?;
    evaluate(&c, &sample(), "ConditionExpression")
}

#[test]
fn conditions() {
    assert!(eval("price = :p", &[(":p", n("10.0"))], &[]).unwrap());
    assert!(eval("price BETWEEN :a AND :b", &[(":a", n("1")), (":b", n("10"))], &[]).unwrap());
    assert!(eval("price IN (:a, :b)", &[(":a", n("1")), (":b", n("10"))], &[]).unwrap());
    assert!(eval("NOT price < :a AND (attribute_exists(id) OR absent = :a)", &[(":a", n("5"))], &[]).unwrap());
    assert!(eval("a.b[2].c = :v", &[(":v", n("5"))], &[]).unwrap());
    assert!(eval("#s = :v", &[(":v", n("5"))], &[("#s", "status")]).is_ok());
    assert!(eval("size(tags) = :two AND contains(tags, :x)", &[(":two", n("2")), (":x", s("x"))], &[]).unwrap());
    assert!(eval("begins_with(id, :p) AND attribute_type(price, :t)", &[(":p", s("k")), (":t", s("N"))], &[]).unwrap());
    assert!(eval("attribute_not_exists(nope) AND nope <> :p", &[(":p", s("k"))], &[]).unwrap());
    assert!(!eval("price > :p", &[(":p", s("k"))], &[]).unwrap(), "different types never compare");
}

#[test]
fn condition_errors_match_dynamodb() {
    assert_eq!(
        msg(eval("status = :v", &[(":v", n("1"))], &[]).unwrap_err()),
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"
    );
    assert_eq!(
        msg(eval("a = :nope", &[], &[]).unwrap_err()),
        "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope"
    );
    assert_eq!(
        msg(eval("#x = :v", &[(":v", n("1"))], &[]).unwrap_err()),
        "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"
    );
    assert_eq!(
        msg(eval("a = :v", &[(":v", n("1")), (":w", n("1"))], &[]).unwrap_err()),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"
    );
    assert_eq!(
        msg(eval("a = ", &[], &[]).unwrap_err()),
        "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\""
    );
    assert!(msg(eval("foo(a)", &[], &[]).unwrap_err()).contains("Invalid function name; function: foo"));
    assert!(msg(eval("", &[], &[]).unwrap_err()).contains("The expression can not be empty"));
}

#[test]
fn updates() {
    let mut p = ph(
        &[
            (":one", n("1")),
            (":l", AttrValue::L(vec![n("9")])),
            (":s", AttrValue::Ss(vec!["z".into(), "x".into()])),
            (":d", AttrValue::Ss(vec!["y".into()])),
        ],
        &[],
    );
    let u = parse_update(
        "SET price = price + :one, a.b[0] = :one, newlist = list_append(if_not_exists(newlist, :l), :l) REMOVE a.b[1] ADD tags :s DELETE tags :d",
        &mut p,
    );
    assert!(u.is_err(), "tags in ADD and DELETE overlap");
    let mut p =
        ph(&[(":one", n("1")), (":l", AttrValue::L(vec![n("9")])), (":s", AttrValue::Ss(vec!["z".into()]))], &[]);
    let u = parse_update("SET price = price + :one, a.b[0] = :one, newlist = list_append(if_not_exists(newlist, :l), :l) REMOVE a.b[1] ADD tags :s", &mut p).unwrap();
    p.check_unused().unwrap();
    let out = apply(&u, &sample()).unwrap();
    assert_eq!(out["price"], n("11"));
    assert_eq!(out["newlist"], AttrValue::L(vec![n("9"), n("9")]));
    let AttrValue::M(a) = &out["a"] else { panic!() };
    let AttrValue::L(b) = &a["b"] else { panic!() };
    assert_eq!(b.len(), 2);
    assert_eq!(b[0], n("1"));
    assert_eq!(out["tags"], AttrValue::Ss(vec!["x".into(), "y".into(), "z".into()]));
    let mut p = ph(&[(":one", n("1"))], &[]);
    let u = parse_update("SET absent = nothere + :one", &mut p).map_err(|e| e.to_string()).unwrap();
    assert!(msg(apply(&u, &sample()).unwrap_err()).contains("does not exist in the item"));
}

#[test]
fn projections() {
    let mut p = ph(&[], &[]);
    let paths = parse_projection("id, a.b[2].c", &mut p).unwrap();
    let out = project(&sample(), &paths);
    assert_eq!(out.len(), 2);
    let mut p = ph(&[], &[]);
    assert!(parse_projection("a, a.b", &mut p).unwrap_err().to_string().contains("overlap"));
}

proptest! {
    /// Comparison operators agree with numeric order for any two numbers, and NOT inverts.
    #[test]
    fn comparisons_follow_number_order(a in -1000i64..1000, b in -1000i64..1000) {
        let mut item = Item::new();
        item.insert("x".into(), n(&a.to_string()));
        for (op, expect) in [("<", a < b), ("<=", a <= b), (">", a > b), (">=", a >= b), ("=", a == b), ("<>", a != b)] {
            let mut p = ph(&[(":v", n(&b.to_string()))], &[]);
            let c = parse_condition(&format!("x {op} :v"), "FilterExpression", &mut p).unwrap();
            prop_assert_eq!(evaluate(&c, &item, "FilterExpression").unwrap(), expect);
            let mut p = ph(&[(":v", n(&b.to_string()))], &[]);
            let c = parse_condition(&format!("NOT (x {op} :v)"), "FilterExpression", &mut p).unwrap();
            prop_assert_eq!(evaluate(&c, &item, "FilterExpression").unwrap(), !expect);
        }
    }

    /// SET x = x + :d then SET x = x - :d leaves any number unchanged (exact decimal arithmetic).
    #[test]
    fn add_then_subtract_is_identity(x in "-?[1-9][0-9]{0,15}(\\.[0-9]{1,10})?", d in "[1-9][0-9]{0,15}(\\.[0-9]{1,10})?") {
        let mut item = Item::new();
        item.insert("x".into(), n(&x));
        let mut p = ph(&[(":d", n(&d))], &[]);
        let plus = parse_update("SET x = x + :d", &mut p).unwrap();
        let mut p = ph(&[(":d", n(&d))], &[]);
        let minus = parse_update("SET x = x - :d", &mut p).unwrap();
        let out = apply(&minus, &apply(&plus, &item).unwrap()).unwrap();
        prop_assert_eq!(&out["x"], &item["x"]);
    }

    /// The parser never panics on arbitrary input.
    #[test]
    fn parser_never_panics(src in "[a-z#:()<>=,. \\[\\]0-9]{0,30}") {
        let mut p = ph(&[(":a", n("1"))], &[("#a", "a")]);
        let _ = parse_condition(&src, "ConditionExpression", &mut p);
        let mut p = ph(&[(":a", n("1"))], &[("#a", "a")]);
        let _ = parse_update(&src, &mut p);
    }
}

/// Nesting, operator count and size are bounded as in DynamoDB, so no expression a client sends can
/// overflow the parser's (or the evaluator's) stack: each of these used to abort the process.
#[test]
fn limits_keep_deep_expressions_off_the_stack() {
    let v = [(":v", n("1"))];
    let err = |src: &str| msg(parse_condition(src, "FilterExpression", &mut ph(&v, &[])).unwrap_err());
    let parens = format!("{}x = :v{}", "(".repeat(1300), ")".repeat(1300));
    assert_eq!(err(&parens), "Invalid FilterExpression: The expression has redundant parentheses;");
    let nots = format!("{}x = :v", "NOT ".repeat(301));
    assert_eq!(err(&nots), "Invalid FilterExpression: The expression contains too many operators; operator count: 301");
    let ands = vec!["x = :v"; 151].join(" AND ");
    assert_eq!(err(&ands), "Invalid FilterExpression: The expression contains too many operators; operator count: 301");
    let long = vec!["x = :v"; 500].join(" OR ");
    assert_eq!(
        err(&long),
        "Invalid FilterExpression: Expression size has exceeded the maximum allowed size; expression size: 4996"
    );
    // Just within the limits: 150 comparisons joined by 149 ANDs, 100 nested groups.
    let mut within = ph(&v, &[]);
    assert!(parse_condition(&vec!["x = :v"; 150].join(" AND "), "FilterExpression", &mut within).is_ok());
    let nested = format!("{}x = :v{}", "(x = :v AND ".repeat(100), ")".repeat(100));
    assert!(parse_condition(&nested, "FilterExpression", &mut ph(&v, &[])).is_ok());
    let update = format!("SET x = {}:v{}", "if_not_exists(x, ".repeat(301), ")".repeat(301));
    assert!(msg(parse_update(&update, &mut ph(&v, &[])).unwrap_err()).contains("Expression size has exceeded"));
    let update = format!("SET x = {}:v{}", "if_not_exists(x, ".repeat(200), ")".repeat(200));
    assert!(parse_update(&update, &mut ph(&v, &[])).is_ok());
}
