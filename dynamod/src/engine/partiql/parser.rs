//! A recursive-descent parser for DynamoDB's PartiQL subset. Conditions and updates are parsed into
//! the expression AST the rest of the engine evaluates, with `?` parameters substituted in order.
//!
//! ```text
//! SELECT * | path, … FROM table[."index"] [WHERE cond]
//! INSERT INTO table VALUE {'attr': value, …}
//! UPDATE table (SET path = value | REMOVE path)… WHERE cond [RETURNING (ALL|MODIFIED) (OLD|NEW) *]
//! DELETE FROM table WHERE cond [RETURNING ALL OLD *]
//! ```

use super::lexer::{Tok, syntax_error, tokenize};
use crate::engine::error::{Result, invalid};
use crate::engine::expr::ast::{CmpOp, Condition, Operand, Path, PathElem, Update, UpdateAction};
use crate::engine::items::ReturnValues;
use crate::engine::number::Number;
use crate::engine::value::{AttrValue, Item};

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Select { table: String, index: Option<String>, projection: Option<Vec<Path>>, filter: Option<Condition> },
    Insert { table: String, item: Item },
    Update { table: String, update: Update, filter: Condition, returning: ReturnValues },
    Delete { table: String, filter: Condition, returning: ReturnValues },
}

impl Statement {
    pub fn table(&self) -> &str {
        match self {
            Statement::Select { table, .. }
            | Statement::Insert { table, .. }
            | Statement::Update { table, .. }
            | Statement::Delete { table, .. } => table,
        }
    }
    pub fn is_read(&self) -> bool {
        matches!(self, Statement::Select { .. })
    }
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    params: &'a [AttrValue],
    used: usize,
    /// Parentheses, NOTs and literal lists / maps / sets open around the current position.
    depth: usize,
}

/// Deeper nesting is refused before the recursive descent overflows the stack (1,250 nested
/// parentheses fit in a statement's 8 KB). No item nests deeper than 32 levels anyway.
const MAX_NESTING: usize = 100;

pub fn parse(src: &str, params: &[AttrValue]) -> Result<Statement> {
    let toks = tokenize(src)?;
    let mut p = Parser { toks, pos: 0, params, used: 0, depth: 0 };
    let stmt = p.statement()?;
    if let Some(t) = p.peek() {
        return Err(syntax_error(&describe(t)));
    }
    if p.used != params.len() {
        return Err(invalid("Number of parameters in request and statement don't match."));
    }
    Ok(stmt)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => w.clone(),
        Tok::Quoted(q) => format!("\"{q}\""),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(n) => n.clone(),
        Tok::Param => "?".into(),
        Tok::Punct(p) => (*p).into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Result<Tok> {
        let t = self.toks.get(self.pos).cloned().ok_or_else(|| syntax_error("<EOF>"))?;
        self.pos += 1;
        Ok(t)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) { Ok(()) } else { Err(self.unexpected()) }
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let yes = self.is_punct(p);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn punct(&mut self, p: &str) -> Result<()> {
        if self.eat_punct(p) { Ok(()) } else { Err(self.unexpected()) }
    }

    /// Runs `f` one nesting level deeper, refusing to go past [`MAX_NESTING`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_NESTING {
            return Err(invalid(format!(
                "Statement wasn't well formed, can't be processed: nesting exceeds {MAX_NESTING} levels"
            )));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn unexpected(&self) -> crate::engine::error::EngineError {
        syntax_error(&self.peek().map(describe).unwrap_or_else(|| "<EOF>".into()))
    }

    fn statement(&mut self) -> Result<Statement> {
        if self.eat_kw("SELECT") {
            let projection = if self.eat_punct("*") {
                None
            } else {
                let mut paths = vec![self.path()?];
                while self.eat_punct(",") {
                    paths.push(self.path()?);
                }
                Some(paths)
            };
            self.kw("FROM")?;
            let table = self.ident()?;
            let index = if self.eat_punct(".") { Some(self.ident()?) } else { None };
            let filter = if self.eat_kw("WHERE") { Some(self.condition()?) } else { None };
            return Ok(Statement::Select { table, index, projection, filter });
        }
        if self.eat_kw("INSERT") {
            self.kw("INTO")?;
            let table = self.ident()?;
            self.kw("VALUE")?;
            let AttrValue::M(item) = self.value()? else {
                return Err(invalid("Unsupported operation: INSERT VALUE must be a map of attribute names to values"));
            };
            return Ok(Statement::Insert { table, item });
        }
        if self.eat_kw("UPDATE") {
            let table = self.ident()?;
            let mut update = Update::default();
            loop {
                if self.eat_kw("SET") {
                    loop {
                        let action = self.set_action()?;
                        update.actions.push(action);
                        if !self.eat_punct(",") {
                            break;
                        }
                    }
                } else if self.eat_kw("REMOVE") {
                    loop {
                        let path = self.path()?;
                        update.actions.push(UpdateAction::Remove(path));
                        if !self.eat_punct(",") {
                            break;
                        }
                    }
                } else {
                    break;
                }
            }
            if update.actions.is_empty() {
                return Err(self.unexpected());
            }
            self.kw("WHERE")?;
            let filter = self.condition()?;
            let returning = self.returning()?;
            return Ok(Statement::Update { table, update, filter, returning });
        }
        if self.eat_kw("DELETE") {
            self.kw("FROM")?;
            let table = self.ident()?;
            self.kw("WHERE")?;
            let filter = self.condition()?;
            let returning = self.returning()?;
            if !matches!(returning, ReturnValues::None | ReturnValues::AllOld) {
                return Err(invalid("DELETE supports only RETURNING ALL OLD *"));
            }
            return Ok(Statement::Delete { table, filter, returning });
        }
        Err(self.unexpected())
    }

    fn returning(&mut self) -> Result<ReturnValues> {
        if !self.eat_kw("RETURNING") {
            return Ok(ReturnValues::None);
        }
        let all = if self.eat_kw("ALL") {
            true
        } else {
            self.kw("MODIFIED")?;
            false
        };
        let old = if self.eat_kw("OLD") {
            true
        } else {
            self.kw("NEW")?;
            false
        };
        self.punct("*")?;
        Ok(match (all, old) {
            (true, true) => ReturnValues::AllOld,
            (true, false) => ReturnValues::AllNew,
            (false, true) => ReturnValues::UpdatedOld,
            (false, false) => ReturnValues::UpdatedNew,
        })
    }

    fn ident(&mut self) -> Result<String> {
        match self.next()? {
            Tok::Word(w) | Tok::Quoted(w) => Ok(w),
            other => Err(syntax_error(&describe(&other))),
        }
    }

    fn path(&mut self) -> Result<Path> {
        let mut path = vec![PathElem::Attr(self.ident()?)];
        loop {
            if self.is_punct(".") && matches!(self.toks.get(self.pos + 1), Some(Tok::Word(_) | Tok::Quoted(_))) {
                self.pos += 1;
                path.push(PathElem::Attr(self.ident()?));
            } else if self.eat_punct("[") {
                let Tok::Num(n) = self.next()? else { return Err(self.unexpected()) };
                path.push(PathElem::Index(n.parse().map_err(|_| syntax_error(&n))?));
                self.punct("]")?;
            } else {
                return Ok(path);
            }
        }
    }

    fn param(&mut self) -> Result<AttrValue> {
        let v = self
            .params
            .get(self.used)
            .cloned()
            .ok_or_else(|| invalid("Number of parameters in request and statement don't match."))?;
        self.used += 1;
        Ok(v)
    }

    fn starts_value(&self) -> bool {
        match self.peek() {
            Some(Tok::Str(_) | Tok::Num(_) | Tok::Param) => true,
            Some(Tok::Punct(p)) => matches!(*p, "{" | "[" | "<<" | "-"),
            Some(Tok::Word(w)) => ["TRUE", "FALSE", "NULL"].iter().any(|k| w.eq_ignore_ascii_case(k)),
            _ => false,
        }
    }

    fn number(text: &str) -> Result<AttrValue> {
        Ok(AttrValue::N(Number::parse(text)?))
    }

    fn value(&mut self) -> Result<AttrValue> {
        match self.next()? {
            Tok::Str(s) => Ok(AttrValue::S(s)),
            Tok::Num(n) => Self::number(&n),
            Tok::Param => self.param(),
            Tok::Punct("-") => match self.next()? {
                Tok::Num(n) => Self::number(&format!("-{n}")),
                other => Err(syntax_error(&describe(&other))),
            },
            Tok::Word(w) if w.eq_ignore_ascii_case("TRUE") => Ok(AttrValue::Bool(true)),
            Tok::Word(w) if w.eq_ignore_ascii_case("FALSE") => Ok(AttrValue::Bool(false)),
            Tok::Word(w) if w.eq_ignore_ascii_case("NULL") => Ok(AttrValue::Null),
            Tok::Punct("{") => {
                let mut map = Item::new();
                if !self.eat_punct("}") {
                    loop {
                        let key = match self.next()? {
                            Tok::Str(s) | Tok::Quoted(s) => s,
                            other => return Err(syntax_error(&describe(&other))),
                        };
                        self.punct(":")?;
                        let v = self.nested(Self::value)?;
                        if map.insert(key.clone(), v).is_some() {
                            return Err(invalid(format!("Duplicate attribute name in map: {key}")));
                        }
                        if self.eat_punct("}") {
                            break;
                        }
                        self.punct(",")?;
                    }
                }
                Ok(AttrValue::M(map))
            }
            Tok::Punct("[") => {
                let mut list = Vec::new();
                if !self.eat_punct("]") {
                    loop {
                        list.push(self.nested(Self::value)?);
                        if self.eat_punct("]") {
                            break;
                        }
                        self.punct(",")?;
                    }
                }
                Ok(AttrValue::L(list))
            }
            Tok::Punct("<<") => {
                let mut members = Vec::new();
                loop {
                    members.push(self.nested(Self::value)?);
                    if self.eat_punct(">>") {
                        break;
                    }
                    self.punct(",")?;
                }
                set_of(members)
            }
            other => Err(syntax_error(&describe(&other))),
        }
    }

    /// An operand of a condition: a value, a path, or `size(path)`.
    fn operand(&mut self) -> Result<Operand> {
        if self.starts_value() {
            return Ok(Operand::Value(self.value()?));
        }
        if self.is_kw("size") && matches!(self.toks.get(self.pos + 1), Some(Tok::Punct("("))) {
            self.pos += 2;
            let p = self.path()?;
            self.punct(")")?;
            return Ok(Operand::Size(p));
        }
        Ok(Operand::Path(self.path()?))
    }

    fn condition(&mut self) -> Result<Condition> {
        let mut left = self.and()?;
        while self.eat_kw("OR") {
            left = Condition::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition> {
        let mut left = self.not()?;
        while self.eat_kw("AND") {
            left = Condition::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition> {
        if self.eat_kw("NOT") {
            return Ok(Condition::Not(Box::new(self.nested(Self::not)?)));
        }
        self.predicate()
    }

    fn function_args(&mut self) -> Result<(Operand, Operand)> {
        self.punct("(")?;
        let a = self.operand()?;
        self.punct(",")?;
        let b = self.operand()?;
        self.punct(")")?;
        Ok((a, b))
    }

    fn predicate(&mut self) -> Result<Condition> {
        if self.eat_punct("(") {
            let c = self.nested(Self::condition)?;
            self.punct(")")?;
            return Ok(c);
        }
        let calls = matches!(self.toks.get(self.pos + 1), Some(Tok::Punct("(")));
        for (name, build) in [
            ("begins_with", Condition::BeginsWith as fn(Operand, Operand) -> Condition),
            ("contains", Condition::Contains),
        ] {
            if calls && self.is_kw(name) {
                self.pos += 1;
                let (a, b) = self.function_args()?;
                return Ok(build(a, b));
            }
        }
        if calls && self.is_kw("attribute_type") {
            self.pos += 1;
            let (a, b) = self.function_args()?;
            let Operand::Path(p) = a else { return Err(invalid("attribute_type needs a path")) };
            return Ok(Condition::AttrType(p, b));
        }
        let left = self.operand()?;
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            let Operand::Path(p) = left else { return Err(self.unexpected()) };
            let cond = if self.eat_kw("MISSING") {
                Condition::NotExists(p)
            } else {
                self.kw("NULL")?;
                Condition::AttrType(p, Operand::Value(AttrValue::S("NULL".into())))
            };
            return Ok(if negated { negate(cond) } else { cond });
        }
        if self.eat_kw("BETWEEN") {
            let lo = self.operand()?;
            self.kw("AND")?;
            let hi = self.operand()?;
            return Ok(Condition::Between(left, lo, hi));
        }
        if self.eat_kw("IN") {
            let close = if self.eat_punct("[") {
                "]"
            } else {
                self.punct("(")?;
                ")"
            };
            let mut list = vec![self.operand()?];
            while self.eat_punct(",") {
                list.push(self.operand()?);
            }
            self.punct(close)?;
            return Ok(Condition::In(left, list));
        }
        let op = match self.next()? {
            Tok::Punct("=") => CmpOp::Eq,
            Tok::Punct("<>" | "!=") => CmpOp::Ne,
            Tok::Punct("<") => CmpOp::Lt,
            Tok::Punct("<=") => CmpOp::Le,
            Tok::Punct(">") => CmpOp::Gt,
            Tok::Punct(">=") => CmpOp::Ge,
            other => return Err(syntax_error(&describe(&other))),
        };
        Ok(Condition::Cmp(left, op, self.operand()?))
    }

    /// `path = value-expression`, or `path = set_add(path, set)` / `set_delete(…)` (ADD / DELETE).
    fn set_action(&mut self) -> Result<UpdateAction> {
        let path = self.path()?;
        self.punct("=")?;
        for (name, add) in [("set_add", true), ("set_delete", false)] {
            if self.is_kw(name) && matches!(self.toks.get(self.pos + 1), Some(Tok::Punct("("))) {
                self.pos += 1;
                let (target, value) = self.function_args()?;
                let (Operand::Path(target), Operand::Value(value)) = (target, value) else {
                    return Err(invalid(format!("{name} takes a path and a set")));
                };
                if target != path {
                    return Err(invalid(format!("{name} must update the attribute it reads")));
                }
                return Ok(if add { UpdateAction::Add(path, value) } else { UpdateAction::Delete(path, value) });
            }
        }
        let left = self.set_term()?;
        let value = if self.eat_punct("+") {
            Operand::Plus(Box::new(left), Box::new(self.set_term()?))
        } else if self.eat_punct("-") {
            Operand::Minus(Box::new(left), Box::new(self.set_term()?))
        } else {
            left
        };
        Ok(UpdateAction::Set(path, value))
    }

    fn set_term(&mut self) -> Result<Operand> {
        let calls = matches!(self.toks.get(self.pos + 1), Some(Tok::Punct("(")));
        if calls && self.is_kw("list_append") {
            self.pos += 1;
            let (a, b) = self.function_args()?;
            return Ok(Operand::ListAppend(Box::new(a), Box::new(b)));
        }
        if calls && self.is_kw("if_not_exists") {
            self.pos += 1;
            let (a, b) = self.function_args()?;
            let Operand::Path(p) = a else { return Err(invalid("if_not_exists needs a path")) };
            return Ok(Operand::IfNotExists(p, Box::new(b)));
        }
        self.operand()
    }
}

fn negate(c: Condition) -> Condition {
    match c {
        Condition::NotExists(p) => Condition::Exists(p),
        other => Condition::Not(Box::new(other)),
    }
}

/// `<<…>>`: a string, number or binary set, of one type and without duplicates.
fn set_of(members: Vec<AttrValue>) -> Result<AttrValue> {
    let mixed = || invalid("Set members must all be strings, all numbers or all binary values");
    let set = match members.first() {
        Some(AttrValue::S(_)) => AttrValue::Ss(
            members
                .into_iter()
                .map(|m| if let AttrValue::S(s) = m { Ok(s) } else { Err(mixed()) })
                .collect::<Result<_>>()?,
        ),
        Some(AttrValue::N(_)) => AttrValue::Ns(
            members
                .into_iter()
                .map(|m| if let AttrValue::N(n) = m { Ok(n) } else { Err(mixed()) })
                .collect::<Result<_>>()?,
        ),
        Some(AttrValue::B(_)) => AttrValue::Bs(
            members
                .into_iter()
                .map(|m| if let AttrValue::B(b) = m { Ok(b) } else { Err(mixed()) })
                .collect::<Result<_>>()?,
        ),
        _ => return Err(mixed()),
    };
    crate::engine::value::validate_value(&set, 0)?;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttrValue {
        AttrValue::S(v.into())
    }
    fn n(v: &str) -> AttrValue {
        AttrValue::N(Number::parse(v).unwrap())
    }
    fn path(a: &str) -> Path {
        vec![PathElem::Attr(a.into())]
    }

    #[test]
    fn select_with_key_and_filter() {
        let st =
            parse(r#"select pk, "a"."b"[1] FROM "T"."idx" WHERE pk = ? AND n > -2 OR x IS NOT MISSING"#, &[s("k")])
                .unwrap();
        let Statement::Select { table, index, projection, filter } = st else { panic!() };
        assert_eq!((table.as_str(), index.as_deref()), ("T", Some("idx")));
        assert_eq!(
            projection.unwrap()[1],
            vec![PathElem::Attr("a".into()), PathElem::Attr("b".into()), PathElem::Index(1)]
        );
        let want = Condition::Or(
            Box::new(Condition::And(
                Box::new(Condition::Cmp(Operand::Path(path("pk")), CmpOp::Eq, Operand::Value(s("k")))),
                Box::new(Condition::Cmp(Operand::Path(path("n")), CmpOp::Gt, Operand::Value(n("-2")))),
            )),
            Box::new(Condition::Exists(path("x"))),
        );
        assert_eq!(filter.unwrap(), want);
    }

    #[test]
    fn insert_values_of_every_kind() {
        let st = parse(
            "INSERT INTO t VALUE {'pk': 'a', 'n': 1.50, 'm': {'l': [TRUE, NULL]}, 'ss': <<'x', 'y'>>, 'p': ?}",
            &[n("7")],
        )
        .unwrap();
        let Statement::Insert { item, .. } = st else { panic!() };
        assert_eq!(item["n"], n("1.5"));
        assert_eq!(item["ss"], AttrValue::Ss(vec!["x".into(), "y".into()]));
        assert_eq!(item["p"], n("7"));
        assert!(
            matches!(&item["m"], AttrValue::M(m) if m["l"] == AttrValue::L(vec![AttrValue::Bool(true), AttrValue::Null]))
        );
        assert!(parse("INSERT INTO t VALUE {'a': <<1, 'x'>>}", &[]).is_err(), "mixed set");
        assert!(parse("INSERT INTO t VALUE {'a': <<1, 1>>}", &[]).is_err(), "duplicates");
    }

    #[test]
    fn deep_nesting_is_refused_before_it_overflows_the_stack() {
        let deep =
            |open: &str, inner: &str, close: &str, n: usize| format!("{}{inner}{}", open.repeat(n), close.repeat(n));
        let parens = format!("SELECT * FROM t WHERE {}", deep("(", "pk = 1", ")", 1250));
        let nots = format!("SELECT * FROM t WHERE {}", deep("NOT ", "pk = 1", "", 1500));
        let lists = format!("INSERT INTO t VALUE {{'pk': 'a', 'x': {}}}", deep("[", "", "]", 2000));
        let maps = format!("INSERT INTO t VALUE {{'pk': 'a', 'x': {}}}", deep("{'a': ", "1", "}", 1000));
        for statement in [parens, nots, lists, maps] {
            let e = parse(&statement, &[]).unwrap_err().to_string();
            assert!(e.contains("nesting exceeds 100 levels"), "{e}");
        }
        assert!(parse(&format!("SELECT * FROM t WHERE {}", deep("(", "pk = 1", ")", 50)), &[]).is_ok());
    }

    #[test]
    fn update_and_delete() {
        let st = parse(
            "UPDATE t SET a = a + 1 SET b = list_append(b, [1]) REMOVE c, d.e WHERE pk = 'k' RETURNING ALL NEW *",
            &[],
        )
        .unwrap();
        let Statement::Update { update, returning, .. } = st else { panic!() };
        assert_eq!(update.actions.len(), 4);
        assert_eq!(returning, ReturnValues::AllNew);
        let st = parse("UPDATE t SET tags = set_add(tags, <<'x'>>) WHERE pk = 'k'", &[]).unwrap();
        assert!(matches!(st, Statement::Update { update, .. } if matches!(update.actions[0], UpdateAction::Add(..))));
        assert!(matches!(
            parse("DELETE FROM t WHERE pk = 'a' RETURNING ALL OLD *", &[]).unwrap(),
            Statement::Delete { returning: ReturnValues::AllOld, .. }
        ));
        assert!(parse("DELETE FROM t WHERE pk = 'a' RETURNING ALL NEW *", &[]).is_err());
    }

    #[test]
    fn errors() {
        assert!(parse("SELECT * FROM t WHERE", &[]).is_err());
        assert!(parse("SELECT * FROM t extra", &[]).is_err());
        assert!(parse("SELECT * FROM t WHERE a = ?", &[]).is_err(), "missing parameter");
        assert!(parse("SELECT * FROM t", &[s("x")]).is_err(), "unused parameter");
        assert!(parse("UPDATE t WHERE a = 1", &[]).is_err(), "nothing to update");
        assert!(parse("DROP TABLE t", &[]).is_err());
    }
}
