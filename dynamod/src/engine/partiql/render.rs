//! Renders parsed PartiQL conditions and updates as DynamoDB expressions (every name and value a
//! placeholder), so statements run through exactly the code paths of the expression API.

use std::collections::HashMap;

use crate::engine::expr::ast::{Condition, Operand, Path, PathElem, Update, UpdateAction};
use crate::engine::value::AttrValue;

#[derive(Debug, Default)]
pub struct Rendered {
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttrValue>,
    by_name: HashMap<String, String>,
}

impl Rendered {
    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub fn values(&self) -> Option<HashMap<String, AttrValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    fn name(&mut self, attr: &str) -> String {
        if let Some(p) = self.by_name.get(attr) {
            return p.clone();
        }
        let p = format!("#p{}", self.by_name.len());
        self.by_name.insert(attr.to_string(), p.clone());
        self.names.insert(p.clone(), attr.to_string());
        p
    }

    fn value(&mut self, v: &AttrValue) -> String {
        let p = format!(":v{}", self.values.len());
        self.values.insert(p.clone(), v.clone());
        p
    }

    pub fn path(&mut self, path: &Path) -> String {
        let mut out = String::new();
        for (i, e) in path.iter().enumerate() {
            match e {
                PathElem::Attr(a) => {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(&self.name(a));
                }
                PathElem::Index(n) => out.push_str(&format!("[{n}]")),
            }
        }
        out
    }

    pub fn paths(&mut self, paths: &[Path]) -> String {
        paths.iter().map(|p| self.path(p)).collect::<Vec<_>>().join(", ")
    }

    pub fn operand(&mut self, o: &Operand) -> String {
        match o {
            Operand::Path(p) => self.path(p),
            Operand::Value(v) => self.value(v),
            Operand::Size(p) => format!("size({})", self.path(p)),
            Operand::IfNotExists(p, v) => format!("if_not_exists({}, {})", self.path(p), self.operand(v)),
            Operand::ListAppend(a, b) => format!("list_append({}, {})", self.operand(a), self.operand(b)),
            Operand::Plus(a, b) => format!("{} + {}", self.operand(a), self.operand(b)),
            Operand::Minus(a, b) => format!("{} - {}", self.operand(a), self.operand(b)),
        }
    }

    pub fn condition(&mut self, c: &Condition) -> String {
        match c {
            Condition::Cmp(a, op, b) => {
                let op = op.symbol();
                format!("{} {op} {}", self.operand(a), self.operand(b))
            }
            Condition::Between(a, lo, hi) => {
                format!("{} BETWEEN {} AND {}", self.operand(a), self.operand(lo), self.operand(hi))
            }
            Condition::In(a, list) => {
                let a = self.operand(a);
                let list: Vec<String> = list.iter().map(|o| self.operand(o)).collect();
                format!("{a} IN ({})", list.join(", "))
            }
            Condition::And(a, b) => format!("({}) AND ({})", self.condition(a), self.condition(b)),
            Condition::Or(a, b) => format!("({}) OR ({})", self.condition(a), self.condition(b)),
            Condition::Not(a) => format!("NOT ({})", self.condition(a)),
            Condition::Exists(p) => format!("attribute_exists({})", self.path(p)),
            Condition::NotExists(p) => format!("attribute_not_exists({})", self.path(p)),
            Condition::AttrType(p, t) => format!("attribute_type({}, {})", self.path(p), self.operand(t)),
            Condition::BeginsWith(a, b) => format!("begins_with({}, {})", self.operand(a), self.operand(b)),
            Condition::Contains(a, b) => format!("contains({}, {})", self.operand(a), self.operand(b)),
        }
    }

    pub fn update(&mut self, u: &Update) -> String {
        let (mut set, mut remove, mut add, mut delete) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for action in &u.actions {
            match action {
                UpdateAction::Set(p, v) => set.push(format!("{} = {}", self.path(p), self.operand(v))),
                UpdateAction::Remove(p) => remove.push(self.path(p)),
                UpdateAction::Add(p, v) => add.push(format!("{} {}", self.path(p), self.value(v))),
                UpdateAction::Delete(p, v) => delete.push(format!("{} {}", self.path(p), self.value(v))),
            }
        }
        let mut out = Vec::new();
        for (kw, parts) in [("SET", set), ("REMOVE", remove), ("ADD", add), ("DELETE", delete)] {
            if !parts.is_empty() {
                out.push(format!("{kw} {}", parts.join(", ")));
            }
        }
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::expr::{Placeholders, parse_condition, parse_update};
    use crate::engine::partiql::parser::{Statement, parse};

    /// A rendered statement parses back, through the expression parser, to the same AST.
    #[test]
    fn renders_round_trip_through_the_expression_parser() {
        let st = parse(
            "UPDATE t SET a.b[1] = if_not_exists(a.b[1], 0) + ?, c = list_append(c, [1]) REMOVE \"select\" WHERE pk = 'x' AND (size(l) BETWEEN 1 AND 3 OR NOT begins_with(s, 'p')) AND n IN [1, 2] AND z IS MISSING",
            // A number: `+` refuses a constant of another type when the expression is parsed.
            &[AttrValue::N(crate::engine::number::Number::parse("1").unwrap())],
        )
        .unwrap();
        let Statement::Update { update, filter, .. } = st else { panic!() };
        let mut r = Rendered::default();
        let (u, c) = (r.update(&update), r.condition(&filter));
        let mut ph = Placeholders::new(r.names.clone(), r.values.clone());
        assert_eq!(parse_update(&u, &mut ph).unwrap(), update);
        assert_eq!(parse_condition(&c, "ConditionExpression", &mut ph).unwrap(), filter);
        ph.check_unused().unwrap();
    }
}
