//! PartiQL operations on the wire: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::data::{ReturnCapacity, add_capacity, capacity_json, return_capacity};
use super::errors::{ApiError, batch_statement_code};
use super::json::{Fields, attr_value, item, item_json, null_error};
use crate::engine::Engine;
use crate::engine::error::invalid;
use crate::engine::partiql::StatementRequest;

pub(super) const OPERATIONS: &[&str] = &["ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"];
const MAX_STATEMENT_LENGTH: usize = 8192;

pub fn is_operation(op: &str) -> bool {
    OPERATIONS.contains(&op)
}

fn statement(f: Fields<'_>, wire: &str) -> Result<StatementRequest, ApiError> {
    let text = f.required_str("Statement", wire)?;
    if text.is_empty() || text.len() > MAX_STATEMENT_LENGTH {
        return Err(invalid(format!(
            "1 validation error detected: Value at '{wire}' failed to satisfy constraint: Member must have length less than or equal to {MAX_STATEMENT_LENGTH}"
        ))
        .into());
    }
    let parameters = match f.array("Parameters")? {
        Some(list) if list.is_empty() => {
            return Err(invalid(
                "1 validation error detected: Value '[]' at 'parameters' failed to satisfy constraint: Member must have length greater than or equal to 1",
            )
            .into());
        }
        Some(list) => list.iter().map(attr_value).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok(StatementRequest { statement: text, parameters, consistent: f.bool("ConsistentRead")?.unwrap_or(false) })
}

fn list<'a>(f: Fields<'a>, name: &str, wire: &str) -> Result<Vec<Fields<'a>>, ApiError> {
    let list = f.array(name)?.ok_or_else(|| null_error(wire))?;
    list.iter()
        .map(|v| {
            v.as_object().map(Fields).ok_or_else(|| ApiError::Serialization(format!("{name} entries must be objects")))
        })
        .collect()
}

pub fn dispatch(engine: &Engine, op: &str, f: Fields<'_>) -> Result<Value, ApiError> {
    let rc = return_capacity(f)?;
    match op {
        "ExecuteStatement" => {
            let req = statement(f, "statement")?;
            let next = match f.str("NextToken")? {
                Some(token) => Some(decode_token(&token)?),
                None => None,
            };
            let limit = f.u64("Limit")?.map(|l| l as usize);
            if limit == Some(0) {
                return Err(invalid("1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1").into());
            }
            let outcome = engine.execute_statement(req, limit, next)?;
            let mut out = json!({ "Items": outcome.items.iter().map(item_json).collect::<Vec<_>>() });
            if let Some(key) = &outcome.last_evaluated_key {
                out["NextToken"] = json!(B64.encode(item_json(key).to_string()));
                out["LastEvaluatedKey"] = item_json(key);
            }
            add_capacity(&mut out, &outcome.consumed, rc);
            Ok(out)
        }
        "BatchExecuteStatement" => {
            let statements =
                list(f, "Statements", "statements")?.into_iter().map(|s| statement(s, "statements.member.statement"));
            let results = engine.batch_execute(statements.collect::<Result<_, _>>()?)?;
            let responses: Vec<Value> = results
                .into_iter()
                .map(|(table, result)| {
                    let mut v = json!({});
                    if !table.is_empty() {
                        v["TableName"] = json!(table);
                    }
                    match result {
                        Ok(Some(item)) => v["Item"] = item_json(&item),
                        Ok(None) => {}
                        Err(e) => v["Error"] = json!({ "Code": batch_statement_code(&e), "Message": e.to_string() }),
                    }
                    v
                })
                .collect();
            Ok(json!({ "Responses": responses }))
        }
        "ExecuteTransaction" => {
            let statements = list(f, "TransactStatements", "transactStatements")?
                .into_iter()
                .map(|s| statement(s, "transactStatements.member.statement"))
                .collect::<Result<Vec<_>, _>>()?;
            let token = match f.str("ClientRequestToken")? {
                Some(t) => {
                    let body = f.get("TransactStatements").map(|v| v.to_string()).unwrap_or_default();
                    Some((t, crate::engine::idempotency::fingerprint(&body)))
                }
                None => None,
            };
            let (items, consumed) = engine.execute_transaction(statements, token)?;
            let mut out = json!({});
            if let Some(items) = items {
                out["Responses"] = Value::Array(
                    items.iter().map(|i| i.as_ref().map_or(json!({}), |i| json!({ "Item": item_json(i) }))).collect(),
                );
            }
            if rc != ReturnCapacity::None {
                out["ConsumedCapacity"] = Value::Array(consumed.iter().map(|c| capacity_json(c, rc)).collect());
            }
            Ok(out)
        }
        _ => Err(ApiError::UnknownOperation),
    }
}

/// NextToken carries the page's LastEvaluatedKey (base64 of its JSON).
fn decode_token(token: &str) -> Result<crate::engine::value::Item, ApiError> {
    let bad = || ApiError::from(invalid("Invalid NextToken"));
    let bytes = B64.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    item(&v).map_err(|_| bad())
}
