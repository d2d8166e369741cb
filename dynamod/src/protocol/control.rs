//! Control-plane operations: tables, limits, endpoints, tags.

use serde_json::{Value, json};

use super::Call;
use super::errors::ApiError;
use super::json::{Fields, null_error};
use crate::engine::Engine;
use crate::engine::tables::{Billing, CreateTable, TableDescription};

const OPERATIONS: &[&str] = &[
    "CreateTable",
    "DescribeTable",
    "ListTables",
    "UpdateTable",
    "DeleteTable",
    "DescribeLimits",
    "DescribeEndpoints",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
];

pub fn is_operation(op: &str) -> bool {
    OPERATIONS.contains(&op)
}

/// The account id in ARNs (one local account).
pub const ACCOUNT: &str = "000000000000";

pub fn dispatch(engine: &Engine, op: &str, f: Fields<'_>, call: &Call) -> Result<Value, ApiError> {
    match op {
        "CreateTable" => {
            let desc = engine.create_table(create_request(f)?)?;
            Ok(json!({ "TableDescription": describe(&desc, call) }))
        }
        "DescribeTable" => {
            let name = f.required_str("TableName", "tableName")?;
            Ok(json!({ "Table": describe(&engine.describe_table(&name)?, call) }))
        }
        "ListTables" => {
            let start = f.str("ExclusiveStartTableName")?;
            let limit = f.u64("Limit")?.unwrap_or(100) as usize;
            let (names, last) = engine.list_tables(start.as_deref(), limit)?;
            let mut out = json!({ "TableNames": names });
            if let Some(last) = last {
                out["LastEvaluatedTableName"] = json!(last);
            }
            Ok(out)
        }
        "UpdateTable" => {
            let name = f.required_str("TableName", "tableName")?;
            let desc = engine.update_table(&name, f.str("BillingMode")?.as_deref(), throughput(f)?)?;
            Ok(json!({ "TableDescription": describe(&desc, call) }))
        }
        "DeleteTable" => {
            let name = f.required_str("TableName", "tableName")?;
            Ok(json!({ "TableDescription": describe(&engine.delete_table(&name)?, call) }))
        }
        "DescribeLimits" => Ok(json!({
            "AccountMaxReadCapacityUnits": 80000,
            "AccountMaxWriteCapacityUnits": 80000,
            "TableMaxReadCapacityUnits": crate::engine::tables::TABLE_MAX_CAPACITY,
            "TableMaxWriteCapacityUnits": crate::engine::tables::TABLE_MAX_CAPACITY,
        })),
        "DescribeEndpoints" => Ok(json!({ "Endpoints": [{ "Address": call.host, "CachePeriodInMinutes": 1440 }] })),
        "TagResource" => {
            let arn = f.required_str("ResourceArn", "resourceArn")?;
            let tags = tags(f)?.ok_or_else(|| null_error("tags"))?;
            engine.tag_resource(&arn, tags)?;
            Ok(json!({}))
        }
        "UntagResource" => {
            let arn = f.required_str("ResourceArn", "resourceArn")?;
            let keys = f.strings("TagKeys")?.ok_or_else(|| null_error("tagKeys"))?;
            engine.untag_resource(&arn, &keys)?;
            Ok(json!({}))
        }
        "ListTagsOfResource" => {
            let arn = f.required_str("ResourceArn", "resourceArn")?;
            let tags: Vec<Value> =
                engine.list_tags(&arn)?.into_iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect();
            Ok(json!({ "Tags": tags }))
        }
        _ => Err(ApiError::UnknownOperation),
    }
}

fn throughput(f: Fields<'_>) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(pt) = f.object("ProvisionedThroughput")? else { return Ok(None) };
    let read = pt.u64("ReadCapacityUnits")?.ok_or_else(|| null_error("provisionedThroughput.readCapacityUnits"))?;
    let write = pt.u64("WriteCapacityUnits")?.ok_or_else(|| null_error("provisionedThroughput.writeCapacityUnits"))?;
    Ok(Some((read, write)))
}

fn tags(f: Fields<'_>) -> Result<Option<Vec<(String, String)>>, ApiError> {
    let Some(list) = f.array("Tags")? else { return Ok(None) };
    let mut out = Vec::new();
    for t in list {
        let t = Fields(t.as_object().ok_or_else(|| ApiError::Serialization("Tag must be an object".into()))?);
        out.push((t.required_str("Key", "tags.member.key")?, t.str("Value")?.unwrap_or_default()));
    }
    Ok(Some(out))
}

fn pairs(f: Fields<'_>, field: &str, a: &str, b: &str, wire: &str) -> Result<Vec<(String, String)>, ApiError> {
    let list = f.array(field)?.ok_or_else(|| null_error(wire))?;
    list.iter()
        .map(|e| {
            let e = Fields(
                e.as_object().ok_or_else(|| ApiError::Serialization(format!("{field} entries must be objects")))?,
            );
            Ok((e.required_str(a, wire)?, e.required_str(b, wire)?))
        })
        .collect()
}

fn create_request(f: Fields<'_>) -> Result<CreateTable, ApiError> {
    let name = f.required_str("TableName", "tableName")?;
    if f.get("GlobalSecondaryIndexes").is_some() || f.get("LocalSecondaryIndexes").is_some() {
        return Err(crate::engine::error::invalid("Secondary indexes are not supported by this server").into());
    }
    Ok(CreateTable {
        name,
        key_schema: pairs(f, "KeySchema", "AttributeName", "KeyType", "keySchema")?,
        attribute_definitions: pairs(
            f,
            "AttributeDefinitions",
            "AttributeName",
            "AttributeType",
            "attributeDefinitions",
        )?,
        billing_mode: f.str("BillingMode")?,
        throughput: throughput(f)?,
        tags: tags(f)?.unwrap_or_default(),
    })
}

pub fn table_arn(region: &str, name: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}")
}

fn describe(d: &TableDescription, call: &Call) -> Value {
    let m = &d.meta;
    let mut key_schema = vec![json!({ "AttributeName": m.hash.name, "KeyType": "HASH" })];
    if let Some(r) = &m.range {
        key_schema.push(json!({ "AttributeName": r.name, "KeyType": "RANGE" }));
    }
    let defs: Vec<Value> = m
        .attribute_definitions
        .iter()
        .map(|a| json!({ "AttributeName": a.name, "AttributeType": a.ty.as_str() }))
        .collect();
    let (read, write, mode) = match m.billing {
        Billing::Provisioned { read, write } => (read, write, "PROVISIONED"),
        Billing::PayPerRequest => (0, 0, "PAY_PER_REQUEST"),
    };
    let mut throughput =
        json!({ "NumberOfDecreasesToday": m.decreases_today, "ReadCapacityUnits": read, "WriteCapacityUnits": write });
    if let Some(t) = m.last_increase {
        throughput["LastIncreaseDateTime"] = json!(t);
    }
    if let Some(t) = m.last_decrease {
        throughput["LastDecreaseDateTime"] = json!(t);
    }
    let mut out = json!({
        "AttributeDefinitions": defs,
        "TableName": m.name,
        "KeySchema": key_schema,
        "TableStatus": d.status,
        "CreationDateTime": m.created,
        "ProvisionedThroughput": throughput,
        "TableSizeBytes": d.size_bytes,
        "ItemCount": d.item_count,
        "TableArn": table_arn(&call.region, &m.name),
        "TableId": m.uuid,
        "DeletionProtectionEnabled": false,
    });
    if m.billing == Billing::PayPerRequest || m.last_pay_per_request.is_some() {
        let mut summary = json!({ "BillingMode": mode });
        if let Some(t) = m.last_pay_per_request {
            summary["LastUpdateToPayPerRequestDateTime"] = json!(t);
        }
        out["BillingModeSummary"] = summary;
    }
    out
}
