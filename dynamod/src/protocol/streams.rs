//! The DynamoDB Streams API (`X-Amz-Target: DynamoDBStreams_20120810.<Op>`): ListStreams,
//! DescribeStream, GetShardIterator, GetRecords. Streams are named by ARN
//! (`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`).

use serde_json::{Value, json};

use super::Call;
use super::control::stream_arn;
use super::errors::ApiError;
use super::json::{Fields, item_json};
use crate::engine::Engine;
use crate::engine::error::invalid;
use crate::engine::streams::{StreamRecord, ViewType, format_seq};

pub(super) const OPERATIONS: &[&str] = &["ListStreams", "DescribeStream", "GetShardIterator", "GetRecords"];

pub fn is_operation(op: &str) -> bool {
    OPERATIONS.contains(&op)
}

/// (table, label) of a stream ARN.
fn parse_arn(arn: &str) -> Result<(String, String), ApiError> {
    let rest = arn
        .strip_prefix("arn:aws:dynamodb:")
        .and_then(|r| r.split_once(":table/"))
        .and_then(|(_, r)| r.split_once("/stream/"))
        .filter(|(t, l)| !t.is_empty() && !l.is_empty() && !l.contains('/'));
    match rest {
        Some((table, label)) => Ok((table.to_string(), label.to_string())),
        None => Err(invalid(format!("Invalid StreamArn: {arn}")).into()),
    }
}

fn limit(f: Fields<'_>) -> Result<Option<usize>, ApiError> {
    Ok(f.u64("Limit")?.map(|l| l as usize))
}

pub fn dispatch(engine: &Engine, op: &str, f: Fields<'_>, call: &Call) -> Result<Value, ApiError> {
    match op {
        "ListStreams" => {
            let start = f.str("ExclusiveStartStreamArn")?.map(|a| parse_arn(&a)).transpose()?;
            let table = f.str("TableName")?;
            let (streams, last) = engine.list_streams(table.as_deref(), limit(f)?.unwrap_or(100), start)?;
            let list: Vec<Value> = streams
                .iter()
                .map(|s| {
                    json!({
                        "StreamArn": stream_arn(&call.region, &s.table, &s.label),
                        "TableName": s.table,
                        "StreamLabel": s.label,
                    })
                })
                .collect();
            let mut out = json!({ "Streams": list });
            if let Some(last) = last {
                out["LastEvaluatedStreamArn"] = json!(stream_arn(&call.region, &last.table, &last.label));
            }
            Ok(out)
        }
        "DescribeStream" => {
            let arn = f.required_str("StreamArn", "streamArn")?;
            let (table, label) = parse_arn(&arn)?;
            let page_limit = limit(f)?.unwrap_or(100);
            if !(1..=100).contains(&page_limit) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{page_limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100"
                ))
                .into());
            }
            let d = engine.describe_stream(&table, &label)?;
            let shard_id = d.stream.shard_id();
            let mut range = json!({ "StartingSequenceNumber": format_seq(d.starting_seq) });
            if let Some(end) = d.ending_seq {
                range["EndingSequenceNumber"] = json!(format_seq(end));
            }
            // One shard per stream: a page that starts after it is empty.
            let shards = if f.str("ExclusiveStartShardId")?.as_deref() == Some(shard_id.as_str()) {
                vec![]
            } else {
                vec![json!({ "ShardId": shard_id, "SequenceNumberRange": range })]
            };
            let mut key_schema = vec![json!({ "AttributeName": d.table.hash.name, "KeyType": "HASH" })];
            if let Some(r) = &d.table.range {
                key_schema.push(json!({ "AttributeName": r.name, "KeyType": "RANGE" }));
            }
            Ok(json!({ "StreamDescription": {
                "StreamArn": stream_arn(&call.region, &table, &label),
                "StreamLabel": label,
                "StreamStatus": if d.ending_seq.is_some() { "DISABLED" } else { "ENABLED" },
                "StreamViewType": d.stream.view_type.as_str(),
                "CreationRequestDateTime": d.stream.created_millis as f64 / 1000.0,
                "TableName": table,
                "KeySchema": key_schema,
                "Shards": shards,
            }}))
        }
        "GetShardIterator" => {
            let arn = f.required_str("StreamArn", "streamArn")?;
            let (table, label) = parse_arn(&arn)?;
            let shard = f.required_str("ShardId", "shardId")?;
            let kind = f.required_str("ShardIteratorType", "shardIteratorType")?;
            let seq = f.str("SequenceNumber")?;
            let it = engine.get_shard_iterator(&table, &label, &shard, &kind, seq.as_deref())?;
            Ok(json!({ "ShardIterator": it }))
        }
        "GetRecords" => {
            let it = f.required_str("ShardIterator", "shardIterator")?;
            let page = engine.get_records(&it, limit(f)?)?;
            let records: Vec<Value> =
                page.records.iter().map(|r| record_json(r, page.view_type, &call.region)).collect();
            let mut out = json!({ "Records": records });
            if let Some(next) = page.next {
                out["NextShardIterator"] = json!(next);
            }
            Ok(out)
        }
        _ => Err(ApiError::UnknownOperation),
    }
}

fn record_json(r: &StreamRecord, view: ViewType, region: &str) -> Value {
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": r.created_millis / 1000,
        "Keys": item_json(&r.keys),
        "SequenceNumber": format_seq(r.seq),
        "SizeBytes": r.size_bytes,
        "StreamViewType": view.as_str(),
    });
    if let Some(new) = &r.new_image {
        dynamodb["NewImage"] = item_json(new);
    }
    if let Some(old) = &r.old_image {
        dynamodb["OldImage"] = item_json(old);
    }
    let mut out = json!({
        "eventID": format!("{:032x}", u128::from(r.seq).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)),
        "eventName": r.event.as_str(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
    });
    if r.by_service {
        out["userIdentity"] = json!({ "Type": "Service", "PrincipalId": "dynamodb.amazonaws.com" });
    }
    out
}
