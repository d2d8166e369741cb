//! A hand-written recursive-descent parser for DynamoDB's expressions, resolving `#name` / `:value`
//! placeholders and reporting errors with DynamoDB's messages.
//!
//! Precedence (low to high): OR, AND, NOT, comparisons / BETWEEN / IN / functions, parentheses.

use std::collections::{BTreeSet, HashMap};

use super::ast::*;
use super::lexer::{Tok, Token, tokenize};
use super::reserved::is_reserved;
use crate::engine::error::{EngineError, Result, invalid};
use crate::engine::value::AttrValue;

/// The placeholders of one request, and which of them its expressions used.
#[derive(Debug, Default)]
pub struct Placeholders {
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttrValue>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Placeholders {
    pub fn new(names: HashMap<String, String>, values: HashMap<String, AttrValue>) -> Self {
        Self { names, values, ..Default::default() }
    }

    /// DynamoDB rejects placeholders that no expression used.
    pub fn check_unused(&self) -> Result<()> {
        let unused_names: Vec<&String> =
            sorted(self.names.keys()).into_iter().filter(|k| !self.used_names.contains(*k)).collect();
        if !unused_names.is_empty() {
            return Err(invalid(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                join(&unused_names)
            )));
        }
        let unused_values: Vec<&String> =
            sorted(self.values.keys()).into_iter().filter(|k| !self.used_values.contains(*k)).collect();
        if !unused_values.is_empty() {
            return Err(invalid(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                join(&unused_values)
            )));
        }
        Ok(())
    }
}

fn sorted<'a>(keys: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut v: Vec<&String> = keys.collect();
    v.sort();
    v
}

fn join(keys: &[&String]) -> String {
    keys.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

pub struct Parser<'a> {
    src: &'a str,
    kind: &'static str,
    toks: Vec<Token>,
    pos: usize,
    ph: &'a mut Placeholders,
    /// Operators and functions so far (DynamoDB allows [`MAX_OPERATORS`] per expression).
    operators: usize,
    /// Parentheses open around the current position.
    depth: usize,
}

/// DynamoDB's largest expression string (4 KB).
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// DynamoDB's limit on operators and functions in one expression. With it (and the nesting bound
/// below) every parse and every walk of the tree stays a few hundred frames deep: 1,300 nested
/// parentheses in a 2.6 KB expression used to overflow the stack.
pub const MAX_OPERATORS: usize = 300;
/// Deeper than this, some pair of parentheses is redundant: a group that is not just another group
/// holds an operator, and there are at most [`MAX_OPERATORS`].
const MAX_NESTING: usize = MAX_OPERATORS;

const CONDITION_FUNCTIONS: &[&str] =
    &["attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"];

impl<'a> Parser<'a> {
    /// `kind` names the request parameter ("ConditionExpression", …) for error messages.
    pub fn new(src: &'a str, kind: &'static str, ph: &'a mut Placeholders) -> Result<Self> {
        if src.trim().is_empty() {
            return Err(invalid(format!("Invalid {kind}: The expression can not be empty;")));
        }
        if src.len() > MAX_EXPRESSION_BYTES {
            return Err(invalid(format!(
                "Invalid {kind}: Expression size has exceeded the maximum allowed size; expression size: {}",
                src.len()
            )));
        }
        let toks = tokenize(src).map_err(|at| {
            let ch = src[at..].chars().next().unwrap_or(' ');
            invalid(format!("Invalid {kind}: Syntax error; token: \"{ch}\", near: \"{}\"", near_text(src, at)))
        })?;
        Ok(Self { src, kind, toks, pos: 0, ph, operators: 0, depth: 0 })
    }

    /// Counts one operator or function against [`MAX_OPERATORS`].
    fn operator(&mut self) -> Result<()> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(
                self.err(format!("The expression contains too many operators; operator count: {}", self.operators))
            );
        }
        Ok(())
    }

    fn err(&self, what: impl std::fmt::Display) -> EngineError {
        invalid(format!("Invalid {}: {what}", self.kind))
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.pos].tok.clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn syntax_error(&self) -> EngineError {
        let cur = &self.toks[self.pos];
        let from = if self.pos > 0 { self.toks[self.pos - 1].start } else { cur.start };
        let to = self.toks.get(self.pos + 1).map(|t| t.end).unwrap_or(cur.end).max(cur.end);
        self.err(format!("Syntax error; token: \"{}\", near: \"{}\"", cur.text(self.src), self.src[from..to].trim()))
    }

    fn expect(&mut self, tok: Tok) -> Result<()> {
        if *self.peek() == tok {
            self.next();
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    pub fn expect_end(&mut self) -> Result<()> {
        if *self.peek() == Tok::Eof { Ok(()) } else { Err(self.syntax_error()) }
    }

    // ---- paths and operands ----

    fn name_part(&mut self) -> Result<String> {
        match self.next() {
            Tok::Word(w) => {
                if is_reserved(&w) {
                    return Err(self.err(format!("Attribute name is a reserved keyword; reserved keyword: {w}")));
                }
                Ok(w)
            }
            Tok::Name(n) => match self.ph.names.get(&n) {
                Some(v) => {
                    let v = v.clone();
                    self.ph.used_names.insert(n);
                    Ok(v)
                }
                None => Err(self.err(format!(
                    "An expression attribute name used in the document path is not defined; attribute name: {n}"
                ))),
            },
            _ => {
                self.pos -= 1;
                Err(self.syntax_error())
            }
        }
    }

    pub fn path(&mut self) -> Result<Path> {
        let mut path = vec![PathElem::Attr(self.name_part()?)];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.next();
                    path.push(PathElem::Attr(self.name_part()?));
                }
                Tok::LBracket => {
                    self.next();
                    let Tok::Int(n) = self.next() else {
                        self.pos -= 1;
                        return Err(self.syntax_error());
                    };
                    let index = n.parse::<usize>().map_err(|_| self.err("List index is too large"))?;
                    self.expect(Tok::RBracket)?;
                    path.push(PathElem::Index(index));
                }
                _ => return Ok(path),
            }
        }
    }

    fn value_ref(&mut self, name: String) -> Result<AttrValue> {
        match self.ph.values.get(&name) {
            Some(v) => {
                let v = v.clone();
                self.ph.used_values.insert(name);
                Ok(v)
            }
            None => Err(self.err(format!(
                "An expression attribute value used in expression is not defined; attribute value: {name}"
            ))),
        }
    }

    fn function_name(&self) -> Option<String> {
        match (self.peek(), self.peek_at(1)) {
            (Tok::Word(w), Tok::LParen) => Some(w.clone()),
            _ => None,
        }
    }

    /// An operand of a condition: a path, a `:value` or `size(path)`.
    fn operand(&mut self) -> Result<Operand> {
        if let Some(f) = self.function_name() {
            if f == "size" {
                self.operator()?;
                self.next();
                self.next();
                let p = self.path()?;
                self.expect(Tok::RParen)?;
                return Ok(Operand::Size(p));
            }
            if CONDITION_FUNCTIONS.contains(&f.as_str()) || f == "if_not_exists" || f == "list_append" {
                return Err(self
                    .err(format!("The function is not allowed to be used this way in an expression; function: {f}")));
            }
            return Err(self.err(format!("Invalid function name; function: {f}")));
        }
        match self.peek().clone() {
            Tok::Value(v) => {
                self.next();
                Ok(Operand::Value(self.value_ref(v)?))
            }
            Tok::Word(_) | Tok::Name(_) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.syntax_error()),
        }
    }

    // ---- conditions ----

    pub fn condition(&mut self) -> Result<Condition> {
        let mut left = self.and()?;
        while self.is_keyword("OR") {
            self.operator()?;
            self.next();
            let right = self.and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition> {
        let mut left = self.not()?;
        while self.is_keyword("AND") {
            self.operator()?;
            self.next();
            let right = self.not()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition> {
        if self.is_keyword("NOT") {
            self.operator()?;
            self.next();
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition> {
        if *self.peek() == Tok::LParen {
            self.depth += 1;
            if self.depth > MAX_NESTING {
                return Err(self.err("The expression has redundant parentheses;"));
            }
            self.next();
            let c = self.condition()?;
            self.expect(Tok::RParen)?;
            self.depth -= 1;
            return Ok(c);
        }
        if let Some(f) = self.function_name()
            && f != "size"
        {
            return self.condition_function(f);
        }
        let left = self.operand()?;
        self.operator()?;
        let op = match self.peek() {
            Tok::Eq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Word(w) if w.eq_ignore_ascii_case("BETWEEN") => {
                self.next();
                let low = self.operand()?;
                if !self.is_keyword("AND") {
                    return Err(self.syntax_error());
                }
                self.next();
                let high = self.operand()?;
                return Ok(Condition::Between(left, low, high));
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("IN") => {
                self.next();
                self.expect(Tok::LParen)?;
                let mut list = vec![self.operand()?];
                while *self.peek() == Tok::Comma {
                    self.next();
                    list.push(self.operand()?);
                }
                self.expect(Tok::RParen)?;
                if list.len() > 100 {
                    return Err(self.err(
                        "The IN operator is provided with too many operands; number of operands: ".to_string()
                            + &list.len().to_string(),
                    ));
                }
                return Ok(Condition::In(left, list));
            }
            _ => return Err(self.syntax_error()),
        };
        self.next();
        let right = self.operand()?;
        Ok(Condition::Cmp(left, op, right))
    }

    fn condition_function(&mut self, f: String) -> Result<Condition> {
        if !CONDITION_FUNCTIONS.contains(&f.as_str()) {
            if f == "if_not_exists" || f == "list_append" {
                return Err(self
                    .err(format!("The function is not allowed to be used this way in an expression; function: {f}")));
            }
            return Err(self.err(format!("Invalid function name; function: {f}")));
        }
        self.operator()?;
        self.next();
        self.next();
        let mut args = vec![self.operand()?];
        while *self.peek() == Tok::Comma {
            self.next();
            args.push(self.operand()?);
        }
        self.expect(Tok::RParen)?;
        let want = if f.starts_with("attribute_") && f != "attribute_type" { 1 } else { 2 };
        if args.len() != want {
            return Err(self.err(format!(
                "Incorrect number of operands for operator or function; operator or function: {f}, number of operands: {}",
                args.len()
            )));
        }
        let mut args = args.into_iter();
        let first = args.next().expect("checked");
        let path_arg = |op: Operand, this: &Self| match op {
            Operand::Path(p) => Ok(p),
            _ => Err(this.err(format!("Operator or function requires a document path; operator or function: {f}"))),
        };
        Ok(match f.as_str() {
            "attribute_exists" => Condition::Exists(path_arg(first, self)?),
            "attribute_not_exists" => Condition::NotExists(path_arg(first, self)?),
            "attribute_type" => Condition::AttrType(path_arg(first, self)?, args.next().expect("checked")),
            "begins_with" => Condition::BeginsWith(first, args.next().expect("checked")),
            _ => Condition::Contains(first, args.next().expect("checked")),
        })
    }

    // ---- projections ----

    pub fn projection(&mut self) -> Result<Vec<Path>> {
        let mut paths = vec![self.path()?];
        while *self.peek() == Tok::Comma {
            self.next();
            paths.push(self.path()?);
        }
        self.expect_end()?;
        super::checks::overlaps(&paths).map_err(|m| self.err(m))?;
        Ok(paths)
    }

    // ---- updates ----

    pub fn update(&mut self) -> Result<Update> {
        let mut update = Update::default();
        let mut seen: Vec<String> = Vec::new();
        while *self.peek() != Tok::Eof {
            let Tok::Word(w) = self.peek().clone() else { return Err(self.syntax_error()) };
            let clause = w.to_ascii_uppercase();
            if !matches!(clause.as_str(), "SET" | "REMOVE" | "ADD" | "DELETE") {
                return Err(self.syntax_error());
            }
            if seen.contains(&clause) {
                return Err(
                    self.err(format!("The \"{clause}\" section can only be used once in an update expression;"))
                );
            }
            seen.push(clause.clone());
            self.next();
            loop {
                let path = self.path()?;
                let action = match clause.as_str() {
                    "SET" => {
                        self.expect(Tok::Eq)?;
                        UpdateAction::Set(path, self.set_value()?)
                    }
                    "REMOVE" => UpdateAction::Remove(path),
                    _ => {
                        let Tok::Value(v) = self.next() else {
                            self.pos -= 1;
                            return Err(self.syntax_error());
                        };
                        let value = self.value_ref(v)?;
                        if clause == "ADD" { UpdateAction::Add(path, value) } else { UpdateAction::Delete(path, value) }
                    }
                };
                update.actions.push(action);
                if *self.peek() == Tok::Comma {
                    self.next();
                } else {
                    break;
                }
            }
        }
        super::checks::overlaps(&update.paths()).map_err(|m| self.err(m))?;
        Ok(update)
    }

    fn set_value(&mut self) -> Result<Operand> {
        let left = self.set_operand()?;
        match self.peek() {
            Tok::Plus => {
                self.operator()?;
                self.next();
                Ok(Operand::Plus(Box::new(left), Box::new(self.set_operand()?)))
            }
            Tok::Minus => {
                self.operator()?;
                self.next();
                Ok(Operand::Minus(Box::new(left), Box::new(self.set_operand()?)))
            }
            _ => Ok(left),
        }
    }

    fn set_operand(&mut self) -> Result<Operand> {
        if let Some(f) = self.function_name() {
            self.operator()?;
            self.next();
            self.next();
            let op = match f.as_str() {
                "if_not_exists" => {
                    let p = self.path()?;
                    self.expect(Tok::Comma)?;
                    Operand::IfNotExists(p, Box::new(self.set_value()?))
                }
                "list_append" => {
                    let a = self.set_value()?;
                    self.expect(Tok::Comma)?;
                    Operand::ListAppend(Box::new(a), Box::new(self.set_value()?))
                }
                f if CONDITION_FUNCTIONS.contains(&f) || f == "size" => {
                    return Err(self.err(format!("The function is not allowed in an update expression; function: {f}")));
                }
                f => return Err(self.err(format!("Invalid function name; function: {f}"))),
            };
            self.expect(Tok::RParen)?;
            return Ok(op);
        }
        match self.peek().clone() {
            Tok::Value(v) => {
                self.next();
                Ok(Operand::Value(self.value_ref(v)?))
            }
            Tok::Word(_) | Tok::Name(_) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.syntax_error()),
        }
    }
}

fn near_text(src: &str, at: usize) -> String {
    let from = src[..at].trim_end().rfind(char::is_whitespace).map(|i| i + 1).unwrap_or(0);
    let to = src[at..].find(char::is_whitespace).map(|i| at + i).unwrap_or(src.len());
    src[from..to].to_string()
}

/// Parses a whole condition-like expression (Condition, Filter, KeyCondition).
pub fn parse_condition(src: &str, kind: &'static str, ph: &mut Placeholders) -> Result<Condition> {
    let mut p = Parser::new(src, kind, ph)?;
    let c = p.condition()?;
    p.expect_end()?;
    if let Some(e) = super::checks::condition(&c) {
        return Err(invalid(format!("Invalid {kind}: {e}")));
    }
    Ok(c)
}

pub fn parse_update(src: &str, ph: &mut Placeholders) -> Result<Update> {
    let update = Parser::new(src, "UpdateExpression", ph)?.update()?;
    super::checks::update(&update)?;
    Ok(update)
}

pub fn parse_projection(src: &str, ph: &mut Placeholders) -> Result<Vec<Path>> {
    Parser::new(src, "ProjectionExpression", ph)?.projection()
}
