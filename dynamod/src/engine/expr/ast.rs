//! Parsed expressions, with placeholders already resolved.

use crate::engine::value::AttrValue;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathElem {
    Attr(String),
    Index(usize),
}

/// A document path such as `a.b[2].c`.
pub type Path = Vec<PathElem>;

pub fn path_to_string(path: &Path) -> String {
    let mut s = String::new();
    for (i, e) in path.iter().enumerate() {
        match e {
            PathElem::Attr(a) if i == 0 => s.push_str(a),
            PathElem::Attr(a) => {
                s.push('.');
                s.push_str(a)
            }
            PathElem::Index(n) => s.push_str(&format!("[{n}]")),
        }
    }
    s
}

/// Operands of conditions (and of SET's right-hand side).
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Path(Path),
    Value(AttrValue),
    Size(Path),
    /// SET only.
    IfNotExists(Path, Box<Operand>),
    /// SET only.
    ListAppend(Box<Operand>, Box<Operand>),
    /// SET only.
    Plus(Box<Operand>, Box<Operand>),
    /// SET only.
    Minus(Box<Operand>, Box<Operand>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// As written in an expression.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Cmp(Operand, CmpOp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    Exists(Path),
    NotExists(Path),
    AttrType(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

impl Operand {
    /// The attribute a one-element path names (`a`, not `a.b` or `a[0]`): how key attributes appear.
    pub fn top_attribute(&self) -> Option<&str> {
        match self {
            Operand::Path(p) if p.len() == 1 => match &p[0] {
                PathElem::Attr(a) => Some(a),
                PathElem::Index(_) => None,
            },
            _ => None,
        }
    }

    fn paths<'a>(&'a self, out: &mut Vec<&'a Path>) {
        match self {
            Operand::Path(p) | Operand::Size(p) => out.push(p),
            Operand::Value(_) => {}
            Operand::IfNotExists(p, o) => {
                out.push(p);
                o.paths(out);
            }
            Operand::ListAppend(a, b) | Operand::Plus(a, b) | Operand::Minus(a, b) => {
                a.paths(out);
                b.paths(out);
            }
        }
    }
}

impl Condition {
    /// The terms of a chain of ANDs, in order (a condition that is no AND is its one term).
    pub fn conjuncts(self) -> Vec<Condition> {
        let mut out = Vec::new();
        let mut pending = vec![self];
        while let Some(c) = pending.pop() {
            match c {
                Condition::And(a, b) => {
                    pending.push(*b);
                    pending.push(*a);
                }
                other => out.push(other),
            }
        }
        out
    }

    /// The document paths this condition refers to.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    /// The top-level attribute names this condition refers to.
    pub fn heads(&self) -> Vec<&str> {
        self.paths()
            .into_iter()
            .filter_map(|p| match p.first() {
                Some(PathElem::Attr(a)) => Some(a.as_str()),
                _ => None,
            })
            .collect()
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a Path>) {
        match self {
            Condition::Cmp(a, _, b) | Condition::BeginsWith(a, b) | Condition::Contains(a, b) => {
                a.paths(out);
                b.paths(out);
            }
            Condition::Between(a, b, c) => {
                a.paths(out);
                b.paths(out);
                c.paths(out);
            }
            Condition::In(a, list) => {
                a.paths(out);
                list.iter().for_each(|o| o.paths(out));
            }
            Condition::And(a, b) | Condition::Or(a, b) => {
                a.collect_paths(out);
                b.collect_paths(out);
            }
            Condition::Not(c) => c.collect_paths(out),
            Condition::Exists(p) | Condition::NotExists(p) => out.push(p),
            Condition::AttrType(p, o) => {
                out.push(p);
                o.paths(out);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateAction {
    Set(Path, Operand),
    Remove(Path),
    Add(Path, AttrValue),
    Delete(Path, AttrValue),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Update {
    pub actions: Vec<UpdateAction>,
}

impl Update {
    /// Paths this update writes or removes (for UPDATED_OLD / UPDATED_NEW).
    pub fn paths(&self) -> Vec<Path> {
        self.actions
            .iter()
            .map(|a| match a {
                UpdateAction::Set(p, _)
                | UpdateAction::Remove(p)
                | UpdateAction::Add(p, _)
                | UpdateAction::Delete(p, _) => p.clone(),
            })
            .collect()
    }
}
