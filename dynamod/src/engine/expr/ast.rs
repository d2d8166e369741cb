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
