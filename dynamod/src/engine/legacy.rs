//! The pre-expression parameters older SDK code still sends (Expected, KeyConditions, QueryFilter,
//! ScanFilter, AttributeUpdates, AttributesToGet), translated into the same trees expressions parse to.

use super::error::{Result, invalid};
use super::expr::ast::{CmpOp, Condition, Operand, PathElem, Update, UpdateAction};
use super::value::{AttrValue, validate_value};

/// One entry of `Expected`.
#[derive(Debug, Clone, Default)]
pub struct ExpectedAttr {
    pub value: Option<AttrValue>,
    pub exists: Option<bool>,
    pub comparison_operator: Option<String>,
    pub attribute_value_list: Option<Vec<AttrValue>>,
}

/// One entry of KeyConditions / QueryFilter / ScanFilter.
#[derive(Debug, Clone)]
pub struct LegacyCondition {
    pub comparison_operator: String,
    pub attribute_value_list: Vec<AttrValue>,
}

/// One entry of AttributeUpdates.
#[derive(Debug, Clone)]
pub struct AttributeUpdate {
    pub action: Option<String>,
    pub value: Option<AttrValue>,
}

fn path(name: &str) -> Vec<PathElem> {
    vec![PathElem::Attr(name.to_string())]
}

fn combine(conds: Vec<Condition>, operator: Option<&str>) -> Result<Option<Condition>> {
    let or = match operator {
        None | Some("AND") => false,
        Some("OR") => true,
        Some(other) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'conditionalOperator' failed to satisfy constraint: Member must satisfy enum value set: [OR, AND]"
            )));
        }
    };
    Ok(balanced(conds, or))
}

/// Joins `conds` into a balanced tree (depth log2 n): a left-deep chain of thousands of filter
/// conditions overflowed the stack when evaluated or dropped.
fn balanced(mut conds: Vec<Condition>, or: bool) -> Option<Condition> {
    if conds.len() <= 1 {
        return conds.pop();
    }
    let right = conds.split_off(conds.len() / 2);
    let (a, b) = (Box::new(balanced(conds, or)?), Box::new(balanced(right, or)?));
    Some(if or { Condition::Or(a, b) } else { Condition::And(a, b) })
}

/// `ComparisonOperator` + `AttributeValueList` on attribute `name`.
pub fn comparison(name: &str, op: &str, values: &[AttrValue]) -> Result<Condition> {
    for v in values {
        validate_value(v, 0)?;
    }
    let p = || Operand::Path(path(name));
    let v = |i: usize| Operand::Value(values[i].clone());
    let want = match op {
        "NULL" | "NOT_NULL" => 0,
        "BETWEEN" => 2,
        "IN" => usize::MAX,
        "EQ" | "NE" | "LE" | "LT" | "GE" | "GT" | "CONTAINS" | "NOT_CONTAINS" | "BEGINS_WITH" => 1,
        other => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
            )));
        }
    };
    let ok = if want == usize::MAX { !values.is_empty() } else { values.len() == want };
    if !ok {
        return Err(invalid(format!(
            "One or more parameter values were invalid: Invalid number of argument(s) for the {op} ComparisonOperator"
        )));
    }
    if let Some(first) = values.first()
        && values.iter().any(|x| x.type_name() != first.type_name())
    {
        return Err(invalid(
            "One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type",
        ));
    }
    // EQ and NE take any type (lists and maps included); the others scalars only, BEGINS_WITH no numbers.
    let scalar = |x: &AttrValue| matches!(x, AttrValue::S(_) | AttrValue::N(_) | AttrValue::B(_));
    let allowed = |x: &AttrValue| match op {
        "EQ" | "NE" => true,
        "BEGINS_WITH" => matches!(x, AttrValue::S(_) | AttrValue::B(_)),
        _ => scalar(x),
    };
    if let Some(bad) = values.iter().find(|x| !allowed(x)) {
        return Err(invalid(format!(
            "One or more parameter values were invalid: ComparisonOperator {op} is not valid for {} AttributeValue type",
            bad.type_name()
        )));
    }
    if op == "BETWEEN" && values[0].compare(&values[1]) == Some(std::cmp::Ordering::Greater) {
        return Err(invalid(
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
        ));
    }
    let cmp = |o: CmpOp| Condition::Cmp(p(), o, v(0));
    Ok(match op {
        "EQ" => cmp(CmpOp::Eq),
        "NE" => cmp(CmpOp::Ne),
        "LE" => cmp(CmpOp::Le),
        "LT" => cmp(CmpOp::Lt),
        "GE" => cmp(CmpOp::Ge),
        "GT" => cmp(CmpOp::Gt),
        "NULL" => Condition::NotExists(path(name)),
        "NOT_NULL" => Condition::Exists(path(name)),
        "CONTAINS" => Condition::Contains(p(), v(0)),
        "NOT_CONTAINS" => Condition::And(
            Box::new(Condition::Exists(path(name))),
            Box::new(Condition::Not(Box::new(Condition::Contains(p(), v(0))))),
        ),
        "BEGINS_WITH" => Condition::BeginsWith(p(), v(0)),
        "BETWEEN" => Condition::Between(p(), v(0), v(1)),
        _ => Condition::In(p(), values.iter().cloned().map(Operand::Value).collect()),
    })
}

pub fn expected_to_condition(expected: &[(String, ExpectedAttr)], operator: Option<&str>) -> Result<Option<Condition>> {
    let mut conds = Vec::new();
    for (name, e) in expected {
        let cond = match (&e.comparison_operator, &e.value, e.exists) {
            (Some(op), None, None) => comparison(name, op, e.attribute_value_list.as_deref().unwrap_or(&[]))?,
            (Some(op), Some(v), None) if e.attribute_value_list.is_none() => {
                comparison(name, op, std::slice::from_ref(v))?
            }
            (Some(_), _, _) => {
                return Err(invalid(
                    "One or more parameter values were invalid: Value or AttributeValueList must be used with ComparisonOperator, but not both",
                ));
            }
            (None, Some(v), None | Some(true)) => {
                validate_value(v, 0)?;
                Condition::Cmp(Operand::Path(path(name)), CmpOp::Eq, Operand::Value(v.clone()))
            }
            (None, None, Some(false)) => Condition::NotExists(path(name)),
            (None, Some(_), Some(false)) => {
                return Err(invalid("One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: ".to_string() + name));
            }
            (None, None, _) => {
                return Err(invalid(
                    "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: ".to_string() + name,
                ));
            }
        };
        conds.push(cond);
    }
    combine(conds, operator)
}

pub fn filter_to_condition(filter: &[(String, LegacyCondition)], operator: Option<&str>) -> Result<Option<Condition>> {
    let conds = filter
        .iter()
        .map(|(name, c)| comparison(name, &c.comparison_operator, &c.attribute_value_list))
        .collect::<Result<Vec<_>>>()?;
    combine(conds, operator)
}

pub fn attribute_updates_to_update(updates: &[(String, AttributeUpdate)]) -> Result<Update> {
    let mut actions = Vec::new();
    for (name, u) in updates {
        let action = match (u.action.as_deref().unwrap_or("PUT"), &u.value) {
            ("PUT", Some(v)) => UpdateAction::Set(path(name), Operand::Value(v.clone())),
            ("DELETE", None) => UpdateAction::Remove(path(name)),
            ("DELETE", Some(v)) => {
                if !matches!(v, AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)) {
                    return Err(invalid(format!(
                        "One or more parameter values were invalid: DELETE action with value is not supported for the type {}",
                        v.type_name()
                    )));
                }
                UpdateAction::Delete(path(name), v.clone())
            }
            // ADD of a list appends to the attribute's list (or starts one): undocumented, but DynamoDB does it.
            ("ADD", Some(v @ AttrValue::L(_))) => UpdateAction::Set(
                path(name),
                Operand::ListAppend(
                    Box::new(Operand::IfNotExists(path(name), Box::new(Operand::Value(AttrValue::L(Vec::new()))))),
                    Box::new(Operand::Value(v.clone())),
                ),
            ),
            ("ADD", Some(v)) => {
                if !matches!(v, AttrValue::N(_) | AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)) {
                    return Err(invalid(format!(
                        "One or more parameter values were invalid: ADD action is not supported for the type {}",
                        v.type_name()
                    )));
                }
                UpdateAction::Add(path(name), v.clone())
            }
            ("PUT" | "ADD", None) => {
                return Err(invalid(
                    "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified",
                ));
            }
            (other, _) => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )));
            }
        };
        actions.push(action);
    }
    Ok(Update { actions })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(c: &Condition) -> usize {
        match c {
            Condition::And(a, b) | Condition::Or(a, b) => 1 + depth(a).max(depth(b)),
            _ => 1,
        }
    }

    /// Thousands of ScanFilter / Expected conditions make a tree log2(n) deep, not n (which
    /// overflowed the stack at ~5,000 when the tree was evaluated or dropped).
    #[test]
    fn many_conditions_make_a_shallow_tree() {
        let conds: Vec<Condition> = (0..100_000).map(|i| Condition::Exists(path(&format!("a{i}")))).collect();
        let tree = combine(conds, Some("OR")).unwrap().unwrap();
        assert_eq!(depth(&tree), 18);
        assert!(combine(Vec::new(), None).unwrap().is_none());
        let one = combine(vec![Condition::Exists(path("a"))], None).unwrap().unwrap();
        assert!(matches!(one, Condition::Exists(_)));
    }
}
