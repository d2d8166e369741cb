//! Applying an UpdateExpression (SET / REMOVE / ADD / DELETE) to an item. Every right-hand side is
//! evaluated against the item as it was before the update, as DynamoDB does.

use super::ast::*;
use super::eval::{operand_type_name, resolve};
use crate::engine::error::{Result, invalid};
use crate::engine::value::{AttrValue, Item};

const MISSING: &str = "The provided expression refers to an attribute that does not exist in the item";
const BAD_TYPE: &str = "An operand in the update expression has an incorrect data type";
const BAD_PATH: &str = "The document path provided in the update expression is invalid for update";

fn value_of(item: &Item, op: &Operand) -> Result<AttrValue> {
    match op {
        Operand::Path(p) => resolve(item, p).cloned().ok_or_else(|| invalid(MISSING)),
        Operand::Value(v) => Ok(v.clone()),
        Operand::IfNotExists(p, default) => match resolve(item, p) {
            Some(v) => Ok(v.clone()),
            None => value_of(item, default),
        },
        Operand::ListAppend(a, b) => match (value_of(item, a)?, value_of(item, b)?) {
            (AttrValue::L(mut a), AttrValue::L(b)) => {
                a.extend(b);
                Ok(AttrValue::L(a))
            }
            _ => Err(invalid(BAD_TYPE)),
        },
        Operand::Plus(a, b) | Operand::Minus(a, b) => match (value_of(item, a)?, value_of(item, b)?) {
            (AttrValue::N(a), AttrValue::N(b)) => {
                Ok(AttrValue::N(if matches!(op, Operand::Plus(..)) { a.add(&b)? } else { a.sub(&b)? }))
            }
            _ => Err(invalid(BAD_TYPE)),
        },
        Operand::Size(_) => Err(invalid(
            "Invalid UpdateExpression: The function is not allowed in an update expression; function: size",
        )),
    }
}

/// Where `path` lives: the container that holds its last element.
fn parent_mut<'a>(item: &'a mut Item, path: &Path) -> Result<Option<&'a mut AttrValue>> {
    if path.len() == 1 {
        return Ok(None);
    }
    let PathElem::Attr(first) = &path[0] else { return Err(invalid(BAD_PATH)) };
    let mut cur = item.get_mut(first).ok_or_else(|| invalid(BAD_PATH))?;
    for elem in &path[1..path.len() - 1] {
        cur = match (elem, cur) {
            (PathElem::Attr(a), AttrValue::M(m)) => m.get_mut(a).ok_or_else(|| invalid(BAD_PATH))?,
            (PathElem::Index(i), AttrValue::L(l)) => l.get_mut(*i).ok_or_else(|| invalid(BAD_PATH))?,
            _ => return Err(invalid(BAD_PATH)),
        };
    }
    Ok(Some(cur))
}

fn assign(item: &mut Item, path: &Path, value: AttrValue) -> Result<()> {
    let last = path.last().expect("paths are never empty");
    match (parent_mut(item, path)?, last) {
        (None, PathElem::Attr(a)) => {
            item.insert(a.clone(), value);
        }
        (Some(AttrValue::M(m)), PathElem::Attr(a)) => {
            m.insert(a.clone(), value);
        }
        (Some(AttrValue::L(l)), PathElem::Index(i)) => {
            if *i < l.len() {
                l[*i] = value;
            } else {
                l.push(value);
            }
        }
        _ => return Err(invalid(BAD_PATH)),
    }
    Ok(())
}

/// REMOVE: a missing map key or list index past the end is no error, but the path's parent must be there
/// and be a map (for `.name`) or a list (for `[n]`), as in DynamoDB.
fn remove(item: &mut Item, path: &Path) -> Result<()> {
    let last = path.last().expect("paths are never empty");
    match (parent_mut(item, path)?, last) {
        (None, PathElem::Attr(a)) => {
            item.remove(a);
        }
        (Some(AttrValue::M(m)), PathElem::Attr(a)) => {
            m.remove(a);
        }
        (Some(AttrValue::L(l)), PathElem::Index(i)) => {
            if *i < l.len() {
                l.remove(*i);
            }
        }
        _ => return Err(invalid(BAD_PATH)),
    }
    Ok(())
}

fn add_to_set<T: PartialEq + Clone>(set: &mut Vec<T>, more: &[T]) {
    for x in more {
        if !set.contains(x) {
            set.push(x.clone());
        }
    }
}

fn add(existing: Option<&AttrValue>, value: &AttrValue) -> Result<AttrValue> {
    Ok(match (existing, value) {
        (None, AttrValue::N(_) | AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)) => value.clone(),
        (Some(AttrValue::N(a)), AttrValue::N(b)) => AttrValue::N(a.add(b)?),
        (Some(AttrValue::Ss(a)), AttrValue::Ss(b)) => {
            let mut s = a.clone();
            add_to_set(&mut s, b);
            AttrValue::Ss(s)
        }
        (Some(AttrValue::Ns(a)), AttrValue::Ns(b)) => {
            let mut s = a.clone();
            add_to_set(&mut s, b);
            AttrValue::Ns(s)
        }
        (Some(AttrValue::Bs(a)), AttrValue::Bs(b)) => {
            let mut s = a.clone();
            add_to_set(&mut s, b);
            AttrValue::Bs(s)
        }
        (_, AttrValue::N(_) | AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)) => return Err(invalid(BAD_TYPE)),
        (_, other) => {
            return Err(invalid(format!(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: {}",
                operand_type_name(other)
            )));
        }
    })
}

/// The set left after DELETE, or `None` when it became empty (the attribute is then removed).
fn delete(existing: Option<&AttrValue>, value: &AttrValue) -> Result<Option<AttrValue>> {
    fn minus<T: PartialEq + Clone>(a: &[T], b: &[T]) -> Vec<T> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    }
    let out = match (existing, value) {
        (None, AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)) => return Ok(None),
        (Some(AttrValue::Ss(a)), AttrValue::Ss(b)) => AttrValue::Ss(minus(a, b)),
        (Some(AttrValue::Ns(a)), AttrValue::Ns(b)) => AttrValue::Ns(minus(a, b)),
        (Some(AttrValue::Bs(a)), AttrValue::Bs(b)) => AttrValue::Bs(minus(a, b)),
        (_, AttrValue::Ss(_) | AttrValue::Ns(_) | AttrValue::Bs(_)) => return Err(invalid(BAD_TYPE)),
        (_, other) => {
            return Err(invalid(format!(
                "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: {}",
                operand_type_name(other)
            )));
        }
    };
    let empty = matches!(&out, AttrValue::Ss(s) if s.is_empty())
        || matches!(&out, AttrValue::Ns(s) if s.is_empty())
        || matches!(&out, AttrValue::Bs(s) if s.is_empty());
    Ok(if empty { None } else { Some(out) })
}

/// The item after `update`.
pub fn apply(update: &Update, old: &Item) -> Result<Item> {
    let mut item = old.clone();
    let mut removals: Vec<&Path> = Vec::new();
    for action in &update.actions {
        match action {
            UpdateAction::Set(path, op) => {
                let v = value_of(old, op)?;
                assign(&mut item, path, v)?;
            }
            UpdateAction::Remove(path) => removals.push(path),
            UpdateAction::Add(path, value) => {
                let v = add(resolve(old, path), value)?;
                assign(&mut item, path, v)?;
            }
            UpdateAction::Delete(path, value) => match delete(resolve(old, path), value)? {
                Some(v) => assign(&mut item, path, v)?,
                None => remove(&mut item, path)?,
            },
        }
    }
    // List indexes refer to the list before the update: remove from the highest index down.
    removals.sort_by(|a, b| b.cmp(a));
    for path in removals {
        remove(&mut item, path)?;
    }
    Ok(item)
}

impl PartialOrd for PathElem {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PathElem {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (PathElem::Attr(a), PathElem::Attr(b)) => a.cmp(b),
            (PathElem::Index(a), PathElem::Index(b)) => a.cmp(b),
            (PathElem::Attr(_), PathElem::Index(_)) => std::cmp::Ordering::Less,
            (PathElem::Index(_), PathElem::Attr(_)) => std::cmp::Ordering::Greater,
        }
    }
}
