//! What DynamoDB refuses in a well-formed expression before it reads any item: overlapping or
//! conflicting document paths, an operator comparing a path with itself, and constant operands of
//! the wrong type. The parser calls these once an expression has parsed.

use super::ast::*;
use crate::engine::error::{Result, invalid};
use crate::engine::value::AttrValue;

/// Two paths in one projection or update may not be equal or one a prefix of the other.
pub fn overlaps(paths: &[Path]) -> std::result::Result<(), String> {
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            let show = |p: &Path| {
                p.iter()
                    .map(|e| match e {
                        PathElem::Attr(s) => s.clone(),
                        PathElem::Index(i) => format!("[{i}]"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // Where they first differ: a map key against a list index (`a.b` and `a[0]`) cannot both hold.
            match a.iter().zip(b.iter()).find(|(x, y)| x != y) {
                Some((PathElem::Attr(_), PathElem::Index(_)) | (PathElem::Index(_), PathElem::Attr(_))) => {
                    return Err(format!(
                        "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [{}], path two: [{}]",
                        show(a),
                        show(b)
                    ));
                }
                Some(_) => {}
                None => {
                    return Err(format!(
                        "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [{}], path two: [{}]",
                        show(a),
                        show(b)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The complaint about condition `c`, if any (the "distinct operands" one wins over an operand type).
pub fn condition(c: &Condition) -> Option<String> {
    let mut errors = (None, None);
    check(c, &mut errors);
    errors.0.or(errors.1)
}

/// What DynamoDB refuses before reading any item: an operator whose first operand is the same path as
/// its second (`a = a`), and constant operands of the wrong type (`begins_with(a, :number)`, BETWEEN
/// bounds of two types or in the wrong order, an unknown attribute_type name). `errors` holds the
/// first "distinct" and the first operand-type complaint; the former wins.
fn check(c: &Condition, errors: &mut (Option<String>, Option<String>)) {
    fn short(v: &AttrValue) -> &'static str {
        v.type_name()
    }
    fn ty(o: &Operand) -> Option<&'static str> {
        match o {
            Operand::Value(v) => Some(short(v)),
            Operand::Size(_) => Some("N"),
            _ => None,
        }
    }
    fn show(v: &AttrValue) -> String {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let body = match v {
            AttrValue::S(s) => s.clone(),
            AttrValue::N(n) => n.to_string(),
            AttrValue::B(b) => b64(b),
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Null => "true".to_string(),
            AttrValue::Ss(s) => s.join(","),
            AttrValue::Ns(s) => s.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(","),
            AttrValue::Bs(s) => s.iter().map(|b| b64(b)).collect::<Vec<_>>().join(","),
            AttrValue::L(_) | AttrValue::M(_) => return v.type_name().to_string(),
        };
        format!("{}:{body}", v.type_name())
    }
    let mut distinct = |name: &str, a: &Operand, b: &Operand| {
        if let (Operand::Path(x), Operand::Path(y)) = (a, b)
            && x == y
            && errors.0.is_none()
        {
            let parts: Vec<String> = x
                .iter()
                .map(|e| match e {
                    PathElem::Attr(a) => a.clone(),
                    PathElem::Index(i) => format!("[{i}]"),
                })
                .collect();
            errors.0 = Some(format!(
                "The first operand must be distinct from the remaining operands for this operator or function; operator: {name}, first operand: [{}]",
                parts.join(", ")
            ));
        }
    };
    match c {
        Condition::And(a, b) | Condition::Or(a, b) => {
            check(a, errors);
            check(b, errors);
        }
        Condition::Not(a) => check(a, errors),
        Condition::Cmp(a, op, b) => {
            let name = op.symbol();
            distinct(name, a, b);
        }
        Condition::Contains(a, b) => distinct("contains", a, b),
        Condition::BeginsWith(a, b) => {
            distinct("begins_with", a, b);
            if errors.1.is_none()
                && let Some(t) = [a, b].into_iter().filter_map(ty).find(|t| *t != "S" && *t != "B")
            {
                errors.1 = Some(format!(
                    "Incorrect operand type for operator or function; operator or function: begins_with, operand type: {t}"
                ));
            }
        }
        Condition::AttrType(_, Operand::Path(_)) if errors.1.is_none() => {
            errors.1 = Some(
                "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}"
                    .to_string(),
            );
        }
        Condition::AttrType(_, Operand::Value(t)) if errors.1.is_none() => match t {
            AttrValue::S(name)
                if !["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"].contains(&name.as_str()) =>
            {
                errors.1 = Some(format!(
                    "Invalid attribute type name found; type: {name}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
                ));
            }
            AttrValue::S(_) => {}
            other => {
                errors.1 = Some(format!(
                    "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {}",
                    short(other)
                ));
            }
        },
        Condition::Between(_, Operand::Value(lo), Operand::Value(hi)) if errors.1.is_none() => {
            if lo.type_name() != hi.type_name() {
                errors.1 = Some(format!(
                    "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {{{}}}, upper bound operand: AttributeValue: {{{}}}",
                    show(lo),
                    show(hi)
                ));
            } else if lo.compare(hi).is_some_and(|o| o.is_gt()) {
                errors.1 = Some(format!(
                    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{{}}}, upper bound operand: AttributeValue: {{{}}}",
                    show(lo),
                    show(hi)
                ));
            }
        }
        _ => {}
    }
}

/// What DynamoDB refuses in an update before reading the item: constants of the wrong type for
/// list_append, `+` / `-`, ADD and DELETE.
pub fn update(update: &Update) -> Result<()> {
    // list_append takes lists and + / - numbers: a constant of another type is refused up front.
    fn operand_types(op: &Operand) -> Result<()> {
        let (name, a, b, ok): (&str, &Operand, &Operand, fn(&AttrValue) -> bool) = match op {
            Operand::ListAppend(a, b) => ("list_append", a, b, |v| matches!(v, AttrValue::L(_))),
            Operand::Plus(a, b) => ("+", a, b, |v| matches!(v, AttrValue::N(_))),
            Operand::Minus(a, b) => ("-", a, b, |v| matches!(v, AttrValue::N(_))),
            Operand::IfNotExists(_, d) => return operand_types(d),
            _ => return Ok(()),
        };
        for o in [a, b] {
            if let Operand::Value(v) = o
                && !ok(v)
            {
                return Err(invalid(format!(
                    "Invalid UpdateExpression: Incorrect operand type for operator or function; operator or function: {name}, operand type: {}",
                    v.type_name()
                )));
            }
            operand_types(o)?;
        }
        Ok(())
    }
    for action in &update.actions {
        if let UpdateAction::Set(_, op) = action {
            operand_types(op)?;
        }
    }
    // ADD takes a number or a set, DELETE a set: a constant of another type is refused up front.
    for action in &update.actions {
        let (op, v, ok) = match action {
            UpdateAction::Add(_, v) => {
                ("ADD", v, matches!(v, AttrValue::N(_) | AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)))
            }
            UpdateAction::Delete(_, v) => {
                ("DELETE", v, matches!(v, AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)))
            }
            _ => continue,
        };
        if !ok {
            return Err(invalid(format!(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: {op}, operand type: {}",
                super::eval::operand_type_name(v)
            )));
        }
    }
    Ok(())
}
