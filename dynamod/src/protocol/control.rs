//! Control-plane operations: tables, limits, endpoints, tags.

use serde_json::{Value, json};

use super::Call;
use super::errors::ApiError;
use super::json::{Fields, null_error};
use crate::engine::Engine;
use crate::engine::indexes::{IndexMeta, IndexSpec};
use crate::engine::streams::StreamSpec;
use crate::engine::tables::{Billing, CreateTable, GsiUpdate, KeyAttr, TableDescription};

pub(super) const OPERATIONS: &[&str] = &[
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
    "UpdateTimeToLive",
    "DescribeTimeToLive",
];

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
            let defs = match f.get("AttributeDefinitions") {
                Some(_) => pairs(f, "AttributeDefinitions", "AttributeName", "AttributeType", "attributeDefinitions")?,
                None => Vec::new(),
            };
            let desc = engine.update_table(
                &name,
                f.str("BillingMode")?.as_deref(),
                throughput(f)?,
                defs,
                gsi_updates(f)?,
                stream_spec(f)?,
            )?;
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
        "UpdateTimeToLive" => {
            let name = f.required_str("TableName", "tableName")?;
            let spec = f.object("TimeToLiveSpecification")?.ok_or_else(|| null_error("timeToLiveSpecification"))?;
            let enabled = spec.bool("Enabled")?.ok_or_else(|| null_error("timeToLiveSpecification.enabled"))?;
            let attribute = spec.required_str("AttributeName", "timeToLiveSpecification.attributeName")?;
            engine.update_time_to_live(&name, enabled, &attribute)?;
            Ok(json!({ "TimeToLiveSpecification": { "Enabled": enabled, "AttributeName": attribute } }))
        }
        "DescribeTimeToLive" => {
            let name = f.required_str("TableName", "tableName")?;
            let description = match engine.describe_time_to_live(&name)? {
                Some(attr) => json!({ "TimeToLiveStatus": "ENABLED", "AttributeName": attr }),
                None => json!({ "TimeToLiveStatus": "DISABLED" }),
            };
            Ok(json!({ "TimeToLiveDescription": description }))
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
        local_indexes: index_specs(f, "LocalSecondaryIndexes", "localSecondaryIndexes")?,
        global_indexes: index_specs(f, "GlobalSecondaryIndexes", "globalSecondaryIndexes")?,
        stream: stream_spec(f)?,
    })
}

fn stream_spec(f: Fields<'_>) -> Result<Option<StreamSpec>, ApiError> {
    let Some(spec) = f.object("StreamSpecification")? else { return Ok(None) };
    Ok(Some(StreamSpec {
        enabled: spec.bool("StreamEnabled")?.ok_or_else(|| null_error("streamSpecification.streamEnabled"))?,
        view_type: spec.str("StreamViewType")?,
    }))
}

fn index_spec(e: Fields<'_>, wire: &str) -> Result<IndexSpec, ApiError> {
    let projection = e.object("Projection")?.ok_or_else(|| null_error(&format!("{wire}.member.projection")))?;
    Ok(IndexSpec {
        name: e.required_str("IndexName", &format!("{wire}.member.indexName"))?,
        key_schema: pairs(e, "KeySchema", "AttributeName", "KeyType", &format!("{wire}.member.keySchema"))?,
        projection_type: projection.str("ProjectionType")?,
        non_key_attributes: projection.strings("NonKeyAttributes")?,
        throughput: throughput(e)?,
    })
}

fn index_specs(f: Fields<'_>, field: &str, wire: &str) -> Result<Vec<IndexSpec>, ApiError> {
    let Some(list) = f.array(field)? else { return Ok(Vec::new()) };
    list.iter()
        .map(|e| {
            let e = Fields(
                e.as_object().ok_or_else(|| ApiError::Serialization(format!("{field} entries must be objects")))?,
            );
            index_spec(e, wire)
        })
        .collect()
}

/// UpdateTable's GlobalSecondaryIndexUpdates.
fn gsi_updates(f: Fields<'_>) -> Result<Vec<GsiUpdate>, ApiError> {
    let Some(list) = f.array("GlobalSecondaryIndexUpdates")? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for e in list {
        let e =
            Fields(e.as_object().ok_or_else(|| {
                ApiError::Serialization("GlobalSecondaryIndexUpdates entries must be objects".into())
            })?);
        let wire = "globalSecondaryIndexUpdates.member";
        out.push(match (e.object("Create")?, e.object("Delete")?, e.object("Update")?) {
            (Some(c), None, None) => GsiUpdate::Create(index_spec(c, &format!("{wire}.create"))?),
            (None, Some(d), None) => GsiUpdate::Delete(d.required_str("IndexName", &format!("{wire}.delete.indexName"))?),
            (None, None, Some(u)) => GsiUpdate::Update(
                u.required_str("IndexName", &format!("{wire}.update.indexName"))?,
                throughput(u)?.ok_or_else(|| null_error(&format!("{wire}.update.provisionedThroughput")))?,
            ),
            _ => {
                return Err(crate::engine::error::invalid(
                    "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Update, or GlobalSecondaryIndexUpdate.Delete must be specified",
                )
                .into());
            }
        });
    }
    Ok(out)
}

fn index_json(
    index: &IndexMeta,
    table: &crate::engine::tables::TableMeta,
    count: u64,
    bytes: u64,
    call: &Call,
) -> Value {
    let mut key_schema = vec![json!({ "AttributeName": index.hash.name, "KeyType": "HASH" })];
    if let Some(r) = &index.range {
        key_schema.push(json!({ "AttributeName": r.name, "KeyType": "RANGE" }));
    }
    let mut projection = json!({ "ProjectionType": index.projection.type_name() });
    if let crate::engine::indexes::Projection::Include(attrs) = &index.projection {
        projection["NonKeyAttributes"] = json!(attrs);
    }
    json!({
        "IndexName": index.name,
        "KeySchema": key_schema,
        "Projection": projection,
        "IndexSizeBytes": bytes,
        "ItemCount": count,
        "IndexArn": format!("{}/index/{}", table_arn(&call.region, &table.name), index.name),
    })
}

pub fn table_arn(region: &str, name: &str) -> String {
    format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}")
}

pub fn stream_arn(region: &str, table: &str, label: &str) -> String {
    format!("{}/stream/{label}", table_arn(region, table))
}

pub(super) fn key_schema_json(hash: &KeyAttr, range: Option<&KeyAttr>) -> Value {
    let mut key_schema = vec![json!({ "AttributeName": hash.name, "KeyType": "HASH" })];
    if let Some(r) = range {
        key_schema.push(json!({ "AttributeName": r.name, "KeyType": "RANGE" }));
    }
    Value::Array(key_schema)
}

pub(super) fn describe(d: &TableDescription, call: &Call) -> Value {
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
    let (mut lsis, mut gsis) = (Vec::new(), Vec::new());
    for (index, (count, bytes)) in m.indexes.iter().zip(&d.index_stats) {
        let mut v = index_json(index, m, *count, *bytes, call);
        if index.is_global() {
            v["IndexStatus"] = json!(if index.backfilling { "CREATING" } else { "ACTIVE" });
            if index.backfilling {
                v["Backfilling"] = json!(true);
            }
            let (r, w) = index.throughput.unwrap_or((0, 0));
            v["ProvisionedThroughput"] =
                json!({ "NumberOfDecreasesToday": 0, "ReadCapacityUnits": r, "WriteCapacityUnits": w });
            gsis.push(v);
        } else {
            lsis.push(v);
        }
    }
    if !lsis.is_empty() {
        out["LocalSecondaryIndexes"] = json!(lsis);
    }
    if !gsis.is_empty() {
        out["GlobalSecondaryIndexes"] = json!(gsis);
    }
    if let Some(r) = &m.restored {
        out["RestoreSummary"] = json!({
            "SourceBackupArn": format!("{}/backup/{}", table_arn(&call.region, &r.source_table), r.backup_id),
            "SourceTableArn": table_arn(&call.region, &r.source_table),
            "RestoreDateTime": r.millis as f64 / 1000.0,
            "RestoreInProgress": r.in_progress,
        });
    }
    if let Some(stream) = m.active_stream() {
        out["StreamSpecification"] = json!({ "StreamEnabled": true, "StreamViewType": stream.view_type.as_str() });
    }
    if let Some(latest) = m.streams.last() {
        out["LatestStreamLabel"] = json!(latest.label);
        out["LatestStreamArn"] = json!(stream_arn(&call.region, &m.name, &latest.label));
    }
    if m.billing == Billing::PayPerRequest || m.last_pay_per_request.is_some() {
        let mut summary = json!({ "BillingMode": mode });
        if let Some(t) = m.last_pay_per_request {
            summary["LastUpdateToPayPerRequestDateTime"] = json!(t);
        }
        out["BillingModeSummary"] = summary;
    }
    out
}
