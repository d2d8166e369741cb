//! PartiQL: ExecuteStatement, BatchExecuteStatement and ExecuteTransaction for DynamoDB's subset
//! (SELECT, INSERT, UPDATE, DELETE). Statements are parsed by hand ([`parser`]), then run as the
//! equivalent Query/Scan/GetItem/PutItem/UpdateItem/DeleteItem or transaction, with their conditions
//! rendered as expressions ([`render`]), so capacity, indexes and streams behave exactly as there.

pub mod lexer;
pub mod parser;
pub mod render;

use super::Engine;
use super::capacity::Consumed;
use super::error::{CancelReason, EngineError, Result, invalid};
use super::expr::ast::{CmpOp, Condition, Operand, PathElem};
use super::items::{Conditional, GetItem, ReturnValues};
use super::query::ReadRequest;
use super::tables::{KeyAttr, TableMeta};
use super::transact::TransactWrite;
use super::value::{AttrValue, Item};
use parser::{Statement, parse};
use render::Rendered;

pub const MAX_BATCH_STATEMENTS: usize = 25;

/// ExecuteTransaction's result: the items read (read transactions only) and the capacity consumed.
pub type TransactionOutcome = (Option<Vec<Option<Item>>>, Vec<Consumed>);
pub const MAX_TRANSACTION_STATEMENTS: usize = 100;

/// One statement with its `?` parameters.
#[derive(Debug, Clone)]
pub struct StatementRequest {
    pub statement: String,
    pub parameters: Vec<AttrValue>,
    pub consistent: bool,
}

#[derive(Debug, Default)]
pub struct StatementOutcome {
    pub items: Vec<Item>,
    /// Where the next page starts (SELECT only): NextToken.
    pub last_evaluated_key: Option<Item>,
    pub consumed: Consumed,
}

fn conjoin(parts: Vec<Condition>) -> Option<Condition> {
    parts.into_iter().reduce(|a, b| Condition::And(Box::new(a), Box::new(b)))
}

/// `attr = value` (either way round): the value.
fn equality<'a>(c: &'a Condition, attr: &str) -> Option<&'a AttrValue> {
    match c {
        Condition::Cmp(a, CmpOp::Eq, Operand::Value(v)) if a.top_attribute() == Some(attr) => Some(v),
        Condition::Cmp(Operand::Value(v), CmpOp::Eq, b) if b.top_attribute() == Some(attr) => Some(v),
        _ => None,
    }
}

/// Whether `c` can be (the sort-key part of) a key condition on `attr`.
fn is_sort_condition(c: &Condition, attr: &str) -> bool {
    match c {
        Condition::Cmp(a, op, Operand::Value(_)) => a.top_attribute() == Some(attr) && *op != CmpOp::Ne,
        Condition::Between(a, Operand::Value(_), Operand::Value(_)) => a.top_attribute() == Some(attr),
        Condition::BeginsWith(a, Operand::Value(_)) => a.top_attribute() == Some(attr),
        _ => false,
    }
}

/// Splits a WHERE clause into the full primary key (each key attribute compared with `=`) and the
/// remaining condition; UPDATE, DELETE and the reads of batches and transactions need one item.
fn split_key(meta: &TableMeta, filter: Condition) -> Result<(Item, Option<Condition>)> {
    let mut parts = filter.conjuncts();
    let mut key = Item::new();
    for attr in std::iter::once(&meta.hash).chain(meta.range.as_ref()) {
        let Some(i) = parts.iter().position(|c| equality(c, &attr.name).is_some()) else {
            return Err(invalid("Where clause does not contain a mandatory equality on all key attributes"));
        };
        let c = parts.remove(i);
        key.insert(attr.name.clone(), equality(&c, &attr.name).expect("found above").clone());
    }
    Ok((key, conjoin(parts)))
}

fn exists(attr: &KeyAttr) -> Condition {
    Condition::Exists(vec![PathElem::Attr(attr.name.clone())])
}

fn duplicate_item() -> EngineError {
    EngineError::DuplicateItem("Duplicate primary key exists in table".into())
}

/// A write statement as the transaction engine takes it; `true` when it is an INSERT (whose failed
/// condition DynamoDB reports as DuplicateItem).
fn transact_write(meta: &TableMeta, stmt: Statement) -> Result<(TransactWrite, bool)> {
    let mut r = Rendered::default();
    let (action, insert) = match stmt {
        Statement::Insert { table, item } => {
            let cond = r.condition(&Condition::NotExists(vec![PathElem::Attr(meta.hash.name.clone())]));
            (TransactWrite::Put { table, item, cond: conditional(&r, Some(cond), ReturnValues::None) }, true)
        }
        Statement::Update { table, update, filter, .. } => {
            let (key, extra) = split_key(meta, filter)?;
            let cond = conjoin(std::iter::once(exists(&meta.hash)).chain(extra).collect()).expect("non-empty");
            let (u, c) = (r.update(&update), r.condition(&cond));
            let cond = conditional(&r, Some(c), ReturnValues::None);
            (TransactWrite::Update { table, key, update_expression: u, cond }, false)
        }
        Statement::Delete { table, filter, .. } => {
            let (key, extra) = split_key(meta, filter)?;
            let c = extra.map(|e| r.condition(&e));
            (TransactWrite::Delete { table, key, cond: conditional(&r, c, ReturnValues::None) }, false)
        }
        Statement::Select { .. } => unreachable!("reads are handled apart"),
    };
    Ok((action, insert))
}

fn conditional(r: &Rendered, condition: Option<String>, return_values: ReturnValues) -> Conditional {
    Conditional {
        condition_expression: condition,
        names: r.names(),
        values: r.values(),
        return_values,
        ..Default::default()
    }
}

impl Engine {
    fn parse_statement(&self, req: &StatementRequest) -> Result<(Statement, TableMeta)> {
        let stmt = parse(&req.statement, &req.parameters)?;
        let meta = self.table_named(stmt.table(), false)?.snapshot();
        Ok((stmt, meta))
    }

    /// ExecuteStatement. A SELECT reads one page (Query when the WHERE clause fixes the partition
    /// key, else Scan), resuming after `next`.
    pub fn execute_statement(
        &self,
        req: StatementRequest,
        limit: Option<usize>,
        next: Option<Item>,
    ) -> Result<StatementOutcome> {
        let (stmt, meta) = self.parse_statement(&req)?;
        match stmt {
            Statement::Select { table, index, projection, filter } => {
                let (hash, range) = match index.as_deref() {
                    Some(name) => {
                        let idx = meta
                            .index(name)
                            .ok_or_else(|| invalid(format!("The table does not have the specified index: {name}")))?;
                        (idx.hash.clone(), idx.range.clone())
                    }
                    None => (meta.hash.clone(), meta.range.clone()),
                };
                let mut r = Rendered::default();
                let mut parts = filter.map(Condition::conjuncts).unwrap_or_default();
                let hash_at = parts.iter().position(|c| equality(c, &hash.name).is_some());
                let (key_condition, rest) = match hash_at {
                    Some(i) => {
                        let mut key = vec![parts.remove(i)];
                        if let Some(range) = &range
                            && let Some(j) = parts.iter().position(|c| is_sort_condition(c, &range.name))
                        {
                            key.push(parts.remove(j));
                        }
                        (conjoin(key), parts)
                    }
                    None => (None, parts),
                };
                let key_condition = key_condition.map(|k| r.condition(&k));
                let filter = conjoin(rest).map(|f| r.condition(&f));
                let projection = projection.map(|p| r.paths(&p));
                let read = ReadRequest {
                    table,
                    index,
                    consistent: req.consistent,
                    limit,
                    exclusive_start_key: next,
                    projection,
                    filter,
                    names: r.names(),
                    values: r.values(),
                    forward: true,
                    key_condition: key_condition.clone(),
                    ..Default::default()
                };
                let page = if key_condition.is_some() { self.query(read)? } else { self.scan(read)? };
                Ok(StatementOutcome {
                    items: page.items.unwrap_or_default(),
                    last_evaluated_key: page.last_evaluated_key,
                    consumed: page.consumed,
                })
            }
            write => {
                if req.consistent {
                    return Err(invalid("ConsistentRead is not supported for write statements"));
                }
                self.execute_write(&meta, write)
            }
        }
    }

    fn execute_write(&self, meta: &TableMeta, stmt: Statement) -> Result<StatementOutcome> {
        let mut r = Rendered::default();
        let outcome = match stmt {
            Statement::Insert { table, item } => {
                let cond = r.condition(&Condition::NotExists(vec![PathElem::Attr(meta.hash.name.clone())]));
                self.put_item(&table, item, conditional(&r, Some(cond), ReturnValues::None)).map_err(|e| match e {
                    EngineError::ConditionalCheckFailed { .. } => duplicate_item(),
                    other => other,
                })?
            }
            Statement::Update { table, update, filter, returning } => {
                let (key, extra) = split_key(meta, filter)?;
                // UPDATE never creates an item: the key must exist.
                let cond = conjoin(std::iter::once(exists(&meta.hash)).chain(extra).collect()).expect("non-empty");
                let (u, c) = (r.update(&update), r.condition(&cond));
                self.update_item(&table, key, Some(u), None, conditional(&r, Some(c), returning))?
            }
            Statement::Delete { table, filter, returning } => {
                let (key, extra) = split_key(meta, filter)?;
                let c = extra.map(|e| r.condition(&e));
                self.delete_item(&table, key, conditional(&r, c, returning))?
            }
            Statement::Select { .. } => unreachable!("handled by the caller"),
        };
        Ok(StatementOutcome {
            items: outcome.attributes.into_iter().collect(),
            consumed: outcome.consumed,
            ..Default::default()
        })
    }

    /// A SELECT of one item by its full key, as a GetItem.
    fn get_request(&self, meta: &TableMeta, stmt: Statement, consistent: bool) -> Result<GetItem> {
        let Statement::Select { table, index: None, projection, filter: Some(filter) } = stmt else {
            return Err(invalid("Where clause does not contain a mandatory equality on all key attributes"));
        };
        let (key, extra) = split_key(meta, filter)?;
        if extra.is_some() {
            return Err(invalid("Only key attributes may be compared in this SELECT statement"));
        }
        let mut r = Rendered::default();
        let projection = projection.map(|p| r.paths(&p));
        Ok(GetItem { table, key, consistent, projection, attributes_to_get: None, names: r.names() })
    }

    /// BatchExecuteStatement: up to 25 reads (each of one item by key) or writes, each succeeding or
    /// failing on its own. Returns, per statement, its table and item or its error.
    pub fn batch_execute(&self, statements: Vec<StatementRequest>) -> Result<Vec<(String, Result<Option<Item>>)>> {
        if statements.is_empty() || statements.len() > MAX_BATCH_STATEMENTS {
            return Err(invalid(format!(
                "1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_STATEMENTS}"
            )));
        }
        let parsed: Vec<Result<(Statement, TableMeta)>> = statements.iter().map(|s| self.parse_statement(s)).collect();
        let reads = parsed.iter().filter(|p| matches!(p, Ok((s, _)) if s.is_read())).count();
        if reads > 0 && reads < parsed.iter().filter(|p| p.is_ok()).count() {
            return Err(invalid("Batch requests can contain either only read statements or only write statements"));
        }
        let mut out = Vec::new();
        for (p, req) in parsed.into_iter().zip(&statements) {
            let table = p.as_ref().map(|(s, _)| s.table().to_string()).unwrap_or_default();
            let result = p.and_then(|(stmt, meta)| {
                if stmt.is_read() {
                    let get = self.get_request(&meta, stmt, req.consistent)?;
                    Ok(self.get_item(get)?.0)
                } else {
                    self.execute_write(&meta, stmt).map(|_| None)
                }
            });
            out.push((table, result));
        }
        Ok(out)
    }

    /// ExecuteTransaction: all reads (as TransactGetItems) or all writes (as TransactWriteItems).
    pub fn execute_transaction(
        &self,
        statements: Vec<StatementRequest>,
        token: Option<(String, u64)>,
    ) -> Result<TransactionOutcome> {
        if statements.is_empty() || statements.len() > MAX_TRANSACTION_STATEMENTS {
            return Err(invalid(format!(
                "1 validation error detected: Value at 'transactStatements' failed to satisfy constraint: Member must have length less than or equal to {MAX_TRANSACTION_STATEMENTS}"
            )));
        }
        let parsed = statements.iter().map(|s| self.parse_statement(s)).collect::<Result<Vec<_>>>()?;
        let reads = parsed.iter().filter(|(s, _)| s.is_read()).count();
        if reads == parsed.len() {
            let gets =
                parsed.into_iter().map(|(s, meta)| self.get_request(&meta, s, true)).collect::<Result<Vec<_>>>()?;
            let (items, consumed) = self.transact_get(gets)?;
            return Ok((Some(items), consumed));
        }
        if reads > 0 {
            return Err(invalid("Transactions can contain either only read statements or only write statements"));
        }
        let mut actions = Vec::new();
        let mut inserts = Vec::new();
        for (stmt, meta) in parsed {
            let (action, insert) = transact_write(&meta, stmt)?;
            actions.push(action);
            inserts.push(insert);
        }
        match self.transact_write_once(actions, token) {
            Ok(consumed) => Ok((None, consumed)),
            Err(EngineError::TransactionCanceled { reasons }) => {
                let reasons = reasons
                    .into_iter()
                    .zip(inserts)
                    .map(|(r, insert)| {
                        if insert && r.code == "ConditionalCheckFailed" {
                            CancelReason {
                                code: "DuplicateItem",
                                message: Some("Duplicate primary key exists in table".into()),
                                item: None,
                            }
                        } else {
                            r
                        }
                    })
                    .collect();
                Err(EngineError::TransactionCanceled { reasons })
            }
            Err(e) => Err(e),
        }
    }
}
