//! Data-plane operations: items, Query/Scan, batches.

use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::json::{Fields, attr_value, item, item_json};
use crate::engine::Engine;
use crate::engine::batch::{KeysAndAttributes, WriteRequest};
use crate::engine::capacity::Consumed;
use crate::engine::error::invalid;
use crate::engine::items::{Conditional, GetItem, ReturnValues};
use crate::engine::legacy::{AttributeUpdate, ExpectedAttr, LegacyCondition};
use crate::engine::query::ReadRequest;
use crate::engine::transact::TransactWrite;

pub(super) const OPERATIONS: &[&str] = &[
    "PutItem",
    "GetItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
];

pub fn is_operation(op: &str) -> bool {
    OPERATIONS.contains(&op)
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum ReturnCapacity {
    None,
    Total,
    Indexes,
}

pub(super) fn return_capacity(f: Fields<'_>) -> Result<ReturnCapacity, ApiError> {
    Ok(match f.str("ReturnConsumedCapacity")?.as_deref() {
        None | Some("NONE") => ReturnCapacity::None,
        Some("TOTAL") => ReturnCapacity::Total,
        Some("INDEXES") => ReturnCapacity::Indexes,
        Some(other) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
            ))
            .into());
        }
    })
}

pub(super) fn capacity_json(c: &Consumed, mode: ReturnCapacity) -> Value {
    let mut out = json!({ "TableName": c.table, "CapacityUnits": c.total() });
    if mode == ReturnCapacity::Indexes {
        let mut table = json!({ "CapacityUnits": c.read + c.write });
        for index in &c.indexes {
            let field = if index.global { "GlobalSecondaryIndexes" } else { "LocalSecondaryIndexes" };
            let mut v = json!({ "CapacityUnits": index.read + index.write });
            if index.read > 0.0 {
                v["ReadCapacityUnits"] = json!(index.read);
            }
            if index.write > 0.0 {
                v["WriteCapacityUnits"] = json!(index.write);
            }
            if out.get(field).is_none() {
                out[field] = json!({});
            }
            out[field][&index.name] = v;
        }
        if c.read > 0.0 {
            out["ReadCapacityUnits"] = json!(c.read);
            table["ReadCapacityUnits"] = json!(c.read);
        }
        if c.write > 0.0 {
            out["WriteCapacityUnits"] = json!(c.write);
            table["WriteCapacityUnits"] = json!(c.write);
        }
        out["Table"] = table;
    }
    out
}

pub(super) fn add_capacity(out: &mut Value, c: &Consumed, mode: ReturnCapacity) {
    if mode != ReturnCapacity::None {
        out["ConsumedCapacity"] = capacity_json(c, mode);
    }
}

fn conditional(f: Fields<'_>) -> Result<Conditional, ApiError> {
    let return_values = match f.str("ReturnValues")? {
        None => ReturnValues::None,
        Some(s) => ReturnValues::parse(&s).ok_or_else(|| {
            invalid(format!(
                "1 validation error detected: Value '{s}' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
            ))
        })?,
    };
    let return_old_on_failure = match f.str("ReturnValuesOnConditionCheckFailure")?.as_deref() {
        None | Some("NONE") => false,
        Some("ALL_OLD") => true,
        Some(other) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
            ))
            .into());
        }
    };
    Ok(Conditional {
        condition_expression: f.str("ConditionExpression")?,
        names: f.names()?,
        values: f.values()?,
        expected: expected(f)?,
        conditional_operator: f.str("ConditionalOperator")?,
        return_values,
        return_old_on_failure,
    })
}

fn entries<'a>(f: Fields<'a>, name: &str) -> Result<Option<Vec<(String, Fields<'a>)>>, ApiError> {
    let Some(obj) = f.object(name)? else { return Ok(None) };
    obj.0
        .iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                Fields(v.as_object().ok_or_else(|| ApiError::Serialization(format!("{name}.{k} must be an object")))?),
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Some)
}

fn value_list(f: Fields<'_>) -> Result<Option<Vec<crate::engine::value::AttrValue>>, ApiError> {
    f.array("AttributeValueList")?.map(|a| a.iter().map(attr_value).collect()).transpose()
}

fn expected(f: Fields<'_>) -> Result<Option<Vec<(String, ExpectedAttr)>>, ApiError> {
    let Some(list) = entries(f, "Expected")? else { return Ok(None) };
    list.into_iter()
        .map(|(name, e)| {
            Ok((
                name,
                ExpectedAttr {
                    value: e.get("Value").map(attr_value).transpose()?,
                    exists: e.bool("Exists")?,
                    comparison_operator: e.str("ComparisonOperator")?,
                    attribute_value_list: value_list(e)?,
                },
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Some)
}

fn legacy_conditions(f: Fields<'_>, name: &str) -> Result<Option<Vec<(String, LegacyCondition)>>, ApiError> {
    let Some(list) = entries(f, name)? else { return Ok(None) };
    list.into_iter()
        .map(|(attr, c)| {
            Ok((
                attr,
                LegacyCondition {
                    comparison_operator: c.required_str("ComparisonOperator", "comparisonOperator")?,
                    attribute_value_list: value_list(c)?.unwrap_or_default(),
                },
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Some)
}

fn attribute_updates(f: Fields<'_>) -> Result<Option<Vec<(String, AttributeUpdate)>>, ApiError> {
    let Some(list) = entries(f, "AttributeUpdates")? else { return Ok(None) };
    list.into_iter()
        .map(|(attr, u)| {
            Ok((attr, AttributeUpdate { action: u.str("Action")?, value: u.get("Value").map(attr_value).transpose()? }))
        })
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Some)
}

/// ItemCollectionMetrics when the request asked for SIZE (tables with local secondary indexes).
fn add_collection_metrics(
    out: &mut Value,
    metrics: Option<&crate::engine::collections::CollectionMetrics>,
    f: Fields<'_>,
) -> Result<(), ApiError> {
    match f.str("ReturnItemCollectionMetrics")?.as_deref() {
        None | Some("NONE") => Ok(()),
        Some("SIZE") => {
            if let Some(m) = metrics {
                let (lo, hi) = m.range_gb();
                out["ItemCollectionMetrics"] =
                    json!({ "ItemCollectionKey": item_json(&m.key), "SizeEstimateRangeGB": [lo, hi] });
            }
            Ok(())
        }
        Some(other) => Err(invalid(format!(
            "1 validation error detected: Value '{other}' at 'returnItemCollectionMetrics' failed to satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]"
        ))
        .into()),
    }
}

fn with_attributes(mut out: Value, attributes: Option<crate::engine::value::Item>) -> Value {
    if let Some(a) = attributes {
        out["Attributes"] = item_json(&a);
    }
    out
}

/// AttributesToGet: when given, one to 255 names.
fn attributes_to_get(f: Fields<'_>, wire: &str) -> Result<Option<Vec<String>>, ApiError> {
    let names = f.strings("AttributesToGet")?;
    if names.as_ref().is_some_and(|n| n.is_empty()) {
        return Err(invalid(format!(
            "1 validation error detected: Value '[]' at '{wire}' failed to satisfy constraint: Member must have length greater than or equal to 1"
        ))
        .into());
    }
    Ok(names)
}

fn read_request(f: Fields<'_>, query: bool) -> Result<ReadRequest, ApiError> {
    let limit = f.u64("Limit")?.map(|l| l as usize);
    if limit == Some(0) {
        return Err(invalid("1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1").into());
    }
    Ok(ReadRequest {
        table: f.required_str("TableName", "tableName")?,
        index: f.str("IndexName")?,
        consistent: f.bool("ConsistentRead")?.unwrap_or(false),
        limit,
        exclusive_start_key: f.item("ExclusiveStartKey")?,
        select: f.str("Select")?,
        projection: f.str("ProjectionExpression")?,
        attributes_to_get: attributes_to_get(f, "attributesToGet")?,
        filter: f.str("FilterExpression")?,
        legacy_filter: legacy_conditions(f, if query { "QueryFilter" } else { "ScanFilter" })?,
        conditional_operator: f.str("ConditionalOperator")?,
        names: f.names()?,
        values: f.values()?,
        key_condition: f.str("KeyConditionExpression")?,
        key_conditions: if query { legacy_conditions(f, "KeyConditions")? } else { None },
        forward: f.bool("ScanIndexForward")?.unwrap_or(true),
        segment: at_most(f.u64("Segment")?, "segment", 999_999)?,
        total_segments: at_most(f.u64("TotalSegments")?, "totalSegments", 1_000_000)?,
    })
}

/// A Scan's Segment / TotalSegments, within DynamoDB's bounds (the engine checks the pair).
fn at_most(value: Option<u64>, member: &str, max: u32) -> Result<Option<u32>, ApiError> {
    match value {
        Some(v) if v > u64::from(max) => Err(invalid(format!(
            "1 validation error detected: Value '{v}' at '{member}' failed to satisfy constraint: Member must have value less than or equal to {max}"
        ))
        .into()),
        other => Ok(other.map(|v| v as u32)),
    }
}

pub fn dispatch(engine: &Engine, op: &str, f: Fields<'_>) -> Result<Value, ApiError> {
    let rc = return_capacity(f)?;
    match op {
        "PutItem" => {
            let table = f.required_str("TableName", "tableName")?;
            let item = f.required_item("Item", "item")?;
            let outcome = engine.put_item(&table, item, conditional(f)?)?;
            let mut out = with_attributes(json!({}), outcome.attributes);
            add_capacity(&mut out, &outcome.consumed, rc);
            add_collection_metrics(&mut out, outcome.collection.as_ref(), f)?;
            Ok(out)
        }
        "DeleteItem" => {
            let table = f.required_str("TableName", "tableName")?;
            let key = f.required_item("Key", "key")?;
            let outcome = engine.delete_item(&table, key, conditional(f)?)?;
            let mut out = with_attributes(json!({}), outcome.attributes);
            add_capacity(&mut out, &outcome.consumed, rc);
            add_collection_metrics(&mut out, outcome.collection.as_ref(), f)?;
            Ok(out)
        }
        "UpdateItem" => {
            let table = f.required_str("TableName", "tableName")?;
            let key = f.required_item("Key", "key")?;
            let outcome =
                engine.update_item(&table, key, f.str("UpdateExpression")?, attribute_updates(f)?, conditional(f)?)?;
            let mut out = with_attributes(json!({}), outcome.attributes);
            add_capacity(&mut out, &outcome.consumed, rc);
            add_collection_metrics(&mut out, outcome.collection.as_ref(), f)?;
            Ok(out)
        }
        "GetItem" => {
            let req = GetItem {
                table: f.required_str("TableName", "tableName")?,
                key: f.required_item("Key", "key")?,
                consistent: f.bool("ConsistentRead")?.unwrap_or(false),
                projection: f.str("ProjectionExpression")?,
                attributes_to_get: attributes_to_get(f, "attributesToGet")?,
                names: f.names()?,
            };
            let (found, consumed) = engine.get_item(req)?;
            let mut out = json!({});
            if let Some(item) = found {
                out["Item"] = item_json(&item);
            }
            add_capacity(&mut out, &consumed, rc);
            Ok(out)
        }
        "Query" | "Scan" => {
            let req = read_request(f, op == "Query")?;
            let page = if op == "Query" { engine.query(req)? } else { engine.scan(req)? };
            let mut out = json!({ "Count": page.count, "ScannedCount": page.scanned });
            if let Some(items) = &page.items {
                out["Items"] = Value::Array(items.iter().map(item_json).collect());
            }
            if let Some(k) = &page.last_evaluated_key {
                out["LastEvaluatedKey"] = item_json(k);
            }
            add_capacity(&mut out, &page.consumed, rc);
            Ok(out)
        }
        "BatchGetItem" => batch_get(engine, f, rc),
        "BatchWriteItem" => batch_write(engine, f, rc),
        "TransactWriteItems" => transact_write(engine, f, rc),
        "TransactGetItems" => transact_get(engine, f, rc),
        _ => Err(ApiError::UnknownOperation),
    }
}

fn batch_get(engine: &Engine, f: Fields<'_>, rc: ReturnCapacity) -> Result<Value, ApiError> {
    let tables = entries(f, "RequestItems")?.ok_or_else(|| super::json::null_error("requestItems"))?;
    let mut request = Vec::new();
    for (name, t) in tables {
        let keys = t.array("Keys")?.ok_or_else(|| super::json::null_error("requestItems.keys"))?;
        let attributes_to_get = attributes_to_get(t, &format!("requestItems.{name}.member.attributesToGet"))?;
        request.push((
            name,
            KeysAndAttributes {
                keys: keys.iter().map(item).collect::<Result<_, _>>()?,
                consistent: t.bool("ConsistentRead")?.unwrap_or(false),
                projection: t.str("ProjectionExpression")?,
                attributes_to_get,
                names: t.names()?,
            },
        ));
    }
    let outcome = engine.batch_get(request)?;
    let responses: Map<String, Value> = outcome
        .responses
        .iter()
        .map(|(t, items)| (t.clone(), Value::Array(items.iter().map(item_json).collect())))
        .collect();
    let unprocessed: Map<String, Value> = outcome
        .unprocessed
        .iter()
        .map(|(t, ka)| {
            let mut v = json!({ "Keys": ka.keys.iter().map(item_json).collect::<Vec<_>>() });
            if ka.consistent {
                v["ConsistentRead"] = json!(true);
            }
            if let Some(p) = &ka.projection {
                v["ProjectionExpression"] = json!(p);
            }
            if let Some(a) = &ka.attributes_to_get {
                v["AttributesToGet"] = json!(a);
            }
            if let Some(n) = &ka.names {
                v["ExpressionAttributeNames"] = json!(n);
            }
            (t.clone(), v)
        })
        .collect();
    let mut out = json!({ "Responses": responses, "UnprocessedKeys": unprocessed });
    if rc != ReturnCapacity::None {
        out["ConsumedCapacity"] = Value::Array(outcome.consumed.iter().map(|c| capacity_json(c, rc)).collect());
    }
    Ok(out)
}

fn batch_write(engine: &Engine, f: Fields<'_>, rc: ReturnCapacity) -> Result<Value, ApiError> {
    let tables = f.object("RequestItems")?.ok_or_else(|| super::json::null_error("requestItems"))?;
    let mut request = Vec::new();
    for (name, writes) in tables.0 {
        let writes =
            writes.as_array().ok_or_else(|| ApiError::Serialization("RequestItems values must be lists".into()))?;
        let mut ops = Vec::new();
        for w in writes {
            let w =
                Fields(w.as_object().ok_or_else(|| ApiError::Serialization("WriteRequest must be an object".into()))?);
            let op = match (w.object("PutRequest")?, w.object("DeleteRequest")?) {
                (Some(p), None) => WriteRequest::Put(p.required_item("Item", "requestItems.member.putRequest.item")?),
                (None, Some(d)) => WriteRequest::Delete(d.required_item("Key", "requestItems.member.deleteRequest.key")?),
                _ => return Err(invalid("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes").into()),
            };
            ops.push(op);
        }
        request.push((name.clone(), ops));
    }
    let outcome = engine.batch_write(request)?;
    let unprocessed: Map<String, Value> = outcome
        .unprocessed
        .iter()
        .map(|(t, ops)| {
            let list: Vec<Value> = ops
                .iter()
                .map(|op| match op {
                    WriteRequest::Put(i) => json!({ "PutRequest": { "Item": item_json(i) } }),
                    WriteRequest::Delete(k) => json!({ "DeleteRequest": { "Key": item_json(k) } }),
                })
                .collect();
            (t.clone(), Value::Array(list))
        })
        .collect();
    let mut out = json!({ "UnprocessedItems": unprocessed });
    if rc != ReturnCapacity::None {
        out["ConsumedCapacity"] = Value::Array(outcome.consumed.iter().map(|c| capacity_json(c, rc)).collect());
    }
    Ok(out)
}

fn transact_items<'a>(f: Fields<'a>) -> Result<Vec<(String, Fields<'a>)>, ApiError> {
    let list = f.array("TransactItems")?.ok_or_else(|| super::json::null_error("transactItems"))?;
    let mut out = Vec::new();
    for entry in list {
        let obj =
            entry.as_object().ok_or_else(|| ApiError::Serialization("TransactItems entries must be objects".into()))?;
        let mut kinds = obj.iter().filter(|(_, v)| !v.is_null());
        let (Some((kind, body)), None) = (kinds.next(), kinds.next()) else {
            return Err(invalid("TransactItems can only contain one of Check, Put, Update or Delete").into());
        };
        let body =
            Fields(body.as_object().ok_or_else(|| ApiError::Serialization(format!("{kind} must be an object")))?);
        out.push((kind.clone(), body));
    }
    Ok(out)
}

fn transact_write(engine: &Engine, f: Fields<'_>, rc: ReturnCapacity) -> Result<Value, ApiError> {
    let mut actions = Vec::new();
    for (kind, a) in transact_items(f)? {
        let table = a.required_str("TableName", "transactItems.member.tableName")?;
        let cond = conditional(a)?;
        actions.push(match kind.as_str() {
            "Put" => {
                TransactWrite::Put { table, item: a.required_item("Item", "transactItems.member.put.item")?, cond }
            }
            "Update" => TransactWrite::Update {
                table,
                key: a.required_item("Key", "transactItems.member.update.key")?,
                update_expression: a
                    .required_str("UpdateExpression", "transactItems.member.update.updateExpression")?,
                cond,
            },
            "Delete" => {
                TransactWrite::Delete { table, key: a.required_item("Key", "transactItems.member.delete.key")?, cond }
            }
            "ConditionCheck" => TransactWrite::ConditionCheck {
                table,
                key: a.required_item("Key", "transactItems.member.conditionCheck.key")?,
                cond,
            },
            other => return Err(ApiError::Serialization(format!("Unknown transact action {other}"))),
        });
    }
    let token = match f.str("ClientRequestToken")? {
        Some(t) => {
            let items = f.get("TransactItems").map(|v| v.to_string()).unwrap_or_default();
            Some((t, crate::engine::idempotency::fingerprint(&items)))
        }
        None => None,
    };
    let consumed = engine.transact_write_once(actions, token)?;
    let mut out = json!({});
    if rc != ReturnCapacity::None {
        out["ConsumedCapacity"] = Value::Array(consumed.iter().map(|c| capacity_json(c, rc)).collect());
    }
    Ok(out)
}

fn transact_get(engine: &Engine, f: Fields<'_>, rc: ReturnCapacity) -> Result<Value, ApiError> {
    let mut gets = Vec::new();
    for (kind, g) in transact_items(f)? {
        if kind != "Get" {
            return Err(invalid("TransactGetItems can only contain Get actions").into());
        }
        gets.push(GetItem {
            table: g.required_str("TableName", "transactItems.member.get.tableName")?,
            key: g.required_item("Key", "transactItems.member.get.key")?,
            consistent: true,
            projection: g.str("ProjectionExpression")?,
            attributes_to_get: None,
            names: g.names()?,
        });
    }
    let (items, consumed) = engine.transact_get(gets)?;
    let responses: Vec<Value> =
        items.iter().map(|i| i.as_ref().map_or(json!({}), |i| json!({ "Item": item_json(i) }))).collect();
    let mut out = json!({ "Responses": responses });
    if rc != ReturnCapacity::None {
        out["ConsumedCapacity"] = Value::Array(consumed.iter().map(|c| capacity_json(c, rc)).collect());
    }
    Ok(out)
}
