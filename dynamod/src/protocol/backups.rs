//! Backup operations on the wire: CreateBackup, DescribeBackup, ListBackups, DeleteBackup,
//! RestoreTableFromBackup, Update/DescribeContinuousBackups, and the S3 exports
//! (ExportTableToPointInTime, DescribeExport, ListExports).

use serde_json::{Value, json};

use super::Call;
use super::control::{describe, key_schema_json, table_arn};
use super::errors::ApiError;
use super::json::{Fields, null_error};
use crate::engine::Engine;
use crate::engine::backups::{BackupMeta, BackupStatus, RestoreRequest};
use crate::engine::error::invalid;
use crate::engine::export::{ExportMeta, ExportRequest, ExportStatus};
use crate::engine::tables::Billing;

pub(super) const OPERATIONS: &[&str] = &[
    "CreateBackup",
    "DescribeBackup",
    "ListBackups",
    "DeleteBackup",
    "RestoreTableFromBackup",
    "UpdateContinuousBackups",
    "DescribeContinuousBackups",
    "ExportTableToPointInTime",
    "DescribeExport",
    "ListExports",
];

pub fn is_operation(op: &str) -> bool {
    OPERATIONS.contains(&op)
}

pub fn backup_arn(region: &str, b: &BackupMeta) -> String {
    format!("{}/backup/{}", table_arn(region, &b.table.name), b.id)
}

fn backup_id(arn: &str) -> Result<String, ApiError> {
    match arn.rsplit_once("/backup/") {
        Some((_, id)) if !id.is_empty() && !id.contains('/') => Ok(id.to_string()),
        _ => Err(invalid(format!("Invalid BackupArn: {arn}")).into()),
    }
}

fn export_arn(region: &str, e: &ExportMeta) -> String {
    format!("{}/export/{}", table_arn(region, &e.table_name), e.id)
}

fn export_id(arn: &str) -> Result<String, ApiError> {
    match arn.rsplit_once("/export/") {
        Some((_, id)) if !id.is_empty() && !id.contains('/') => Ok(id.to_string()),
        _ => Err(invalid(format!("Invalid ExportArn: {arn}")).into()),
    }
}

fn table_of_arn(arn: &str) -> Result<String, ApiError> {
    match arn.rsplit_once(":table/") {
        Some((_, name)) if !name.is_empty() && !name.contains('/') => Ok(name.to_string()),
        _ => Err(invalid(format!("Invalid TableArn: {arn}")).into()),
    }
}

fn secs(millis: i64) -> f64 {
    millis as f64 / 1000.0
}

fn details(b: &BackupMeta, region: &str, status: &str) -> Value {
    json!({
        "BackupArn": backup_arn(region, b),
        "BackupName": b.name,
        "BackupSizeBytes": b.size_bytes,
        "BackupStatus": status,
        "BackupType": "USER",
        "BackupCreationDateTime": secs(b.created_millis),
    })
}

fn status_name(b: &BackupMeta) -> &'static str {
    match b.status {
        BackupStatus::Creating => "CREATING",
        BackupStatus::Available => "AVAILABLE",
    }
}

fn backup_description(b: &BackupMeta, region: &str, status: &str) -> Value {
    let t = &b.table;
    let (mode, (read, write)) = match t.billing {
        Billing::PayPerRequest => ("PAY_PER_REQUEST", (0, 0)),
        Billing::Provisioned { read, write } => ("PROVISIONED", (read, write)),
    };
    let mut features = json!({});
    let index = |i: &crate::engine::indexes::IndexMeta| {
        let mut v = json!({
            "IndexName": i.name,
            "KeySchema": key_schema_json(&i.hash, i.range.as_ref()),
            "Projection": { "ProjectionType": i.projection.type_name() },
        });
        if let crate::engine::indexes::Projection::Include(attrs) = &i.projection {
            v["Projection"]["NonKeyAttributes"] = json!(attrs);
        }
        if i.is_global() {
            let (r, w) = i.throughput.unwrap_or((0, 0));
            v["ProvisionedThroughput"] = json!({ "ReadCapacityUnits": r, "WriteCapacityUnits": w });
        }
        v
    };
    let lsis: Vec<Value> = t.indexes.iter().filter(|i| !i.is_global()).map(index).collect();
    let gsis: Vec<Value> = t.indexes.iter().filter(|i| i.is_global()).map(index).collect();
    if !lsis.is_empty() {
        features["LocalSecondaryIndexes"] = json!(lsis);
    }
    if !gsis.is_empty() {
        features["GlobalSecondaryIndexes"] = json!(gsis);
    }
    if let Some(attr) = &t.ttl_attribute {
        features["TimeToLiveDescription"] = json!({ "TimeToLiveStatus": "ENABLED", "AttributeName": attr });
    }
    json!({
        "BackupDetails": details(b, region, status),
        "SourceTableDetails": {
            "TableName": t.name,
            "TableId": t.uuid,
            "TableArn": table_arn(region, &t.name),
            "TableSizeBytes": b.size_bytes,
            "KeySchema": key_schema_json(&t.hash, t.range.as_ref()),
            "TableCreationDateTime": t.created,
            "ProvisionedThroughput": { "ReadCapacityUnits": read, "WriteCapacityUnits": write },
            "ItemCount": b.item_count,
            "BillingMode": mode,
        },
        "SourceTableFeatureDetails": features,
    })
}

fn export_description(e: &ExportMeta, region: &str) -> Value {
    let mut v = json!({
        "ExportArn": export_arn(region, e),
        "ExportStatus": e.status.as_str(),
        "StartTime": secs(e.start_millis),
        "TableArn": table_arn(region, &e.table_name),
        "TableId": e.table_uuid,
        "ExportTime": secs(e.export_millis),
        "S3Bucket": e.bucket,
        "ExportFormat": "DYNAMODB_JSON",
        "ExportType": "FULL_EXPORT",
        "ItemCount": e.item_count,
        "BilledSizeBytes": e.billed_bytes,
    });
    if let Some(prefix) = &e.prefix {
        v["S3Prefix"] = json!(prefix);
    }
    if let Some(token) = &e.client_token {
        v["ClientToken"] = json!(token);
    }
    if let Some(end) = e.end_millis {
        v["EndTime"] = json!(secs(end));
    }
    if e.status == ExportStatus::Completed {
        v["ExportManifest"] = json!(e.manifest_key());
    }
    if let Some((code, message)) = &e.failure {
        v["FailureCode"] = json!(code);
        v["FailureMessage"] = json!(message);
    }
    v
}

/// A timestamp field (boto3 sends epoch seconds as a number) in milliseconds.
fn millis(f: Fields<'_>, name: &str) -> Result<Option<i64>, ApiError> {
    match f.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|s| Some((s * 1000.0) as i64))
            .ok_or_else(|| ApiError::Serialization(format!("{name}: expected a timestamp, got {v}"))),
    }
}

pub fn dispatch(engine: &Engine, op: &str, f: Fields<'_>, call: &Call) -> Result<Value, ApiError> {
    let region = call.region.as_str();
    match op {
        "CreateBackup" => {
            let table = f.required_str("TableName", "tableName")?;
            let name = f.required_str("BackupName", "backupName")?;
            let b = engine.create_backup(&table, &name)?;
            Ok(json!({ "BackupDetails": details(&b, region, status_name(&b)) }))
        }
        "DescribeBackup" => {
            let b = engine.describe_backup(&backup_id(&f.required_str("BackupArn", "backupArn")?)?)?;
            Ok(json!({ "BackupDescription": backup_description(&b, region, status_name(&b)) }))
        }
        "DeleteBackup" => {
            let b = engine.delete_backup(&backup_id(&f.required_str("BackupArn", "backupArn")?)?)?;
            Ok(json!({ "BackupDescription": backup_description(&b, region, "DELETED") }))
        }
        "ListBackups" => {
            if let Some(t) = f.str("BackupType")?
                && !matches!(t.as_str(), "USER" | "ALL")
            {
                return Ok(json!({ "BackupSummaries": [] }));
            }
            let start = f.str("ExclusiveStartBackupArn")?.map(|a| backup_id(&a)).transpose()?;
            let bounds = (millis(f, "TimeRangeLowerBound")?, millis(f, "TimeRangeUpperBound")?);
            let limit = f.u64("Limit")?.unwrap_or(100) as usize;
            let table = f.str("TableName")?;
            let (page, last) = engine.list_backups(table.as_deref(), limit, start.as_deref(), bounds)?;
            let summaries: Vec<Value> = page
                .iter()
                .map(|b| {
                    let mut v = details(b, region, status_name(b));
                    v["TableName"] = json!(b.table.name);
                    v["TableId"] = json!(b.table.uuid);
                    v["TableArn"] = json!(table_arn(region, &b.table.name));
                    v
                })
                .collect();
            let mut out = json!({ "BackupSummaries": summaries });
            if let Some(id) = last
                && let Some(b) = page.iter().find(|b| b.id == id)
            {
                out["LastEvaluatedBackupArn"] = json!(backup_arn(region, b));
            }
            Ok(out)
        }
        "RestoreTableFromBackup" => {
            let throughput = match f.object("ProvisionedThroughputOverride")? {
                Some(pt) => Some((
                    pt.u64("ReadCapacityUnits")?
                        .ok_or_else(|| null_error("provisionedThroughputOverride.readCapacityUnits"))?,
                    pt.u64("WriteCapacityUnits")?
                        .ok_or_else(|| null_error("provisionedThroughputOverride.writeCapacityUnits"))?,
                )),
                None => None,
            };
            let req = RestoreRequest {
                target: f.required_str("TargetTableName", "targetTableName")?,
                backup_id: backup_id(&f.required_str("BackupArn", "backupArn")?)?,
                billing_mode: f.str("BillingModeOverride")?,
                throughput,
            };
            let desc = engine.restore_table(req)?;
            Ok(json!({ "TableDescription": describe(&desc, call) }))
        }
        "UpdateContinuousBackups" | "DescribeContinuousBackups" => {
            let table = f.required_str("TableName", "tableName")?;
            let enabled = if op == "UpdateContinuousBackups" {
                let spec = f
                    .object("PointInTimeRecoverySpecification")?
                    .ok_or_else(|| null_error("pointInTimeRecoverySpecification"))?;
                let on = spec
                    .bool("PointInTimeRecoveryEnabled")?
                    .ok_or_else(|| null_error("pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled"))?;
                engine.set_point_in_time_recovery(&table, on)?
            } else {
                engine.point_in_time_recovery(&table)?
            };
            let mut pitr =
                json!({ "PointInTimeRecoveryStatus": if enabled.is_some() { "ENABLED" } else { "DISABLED" } });
            if let Some((earliest, latest)) = enabled {
                pitr["EarliestRestorableDateTime"] = json!(secs(earliest));
                pitr["LatestRestorableDateTime"] = json!(secs(latest));
            }
            Ok(json!({ "ContinuousBackupsDescription": {
                "ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": pitr,
            }}))
        }
        "ExportTableToPointInTime" => {
            let format = f.str("ExportFormat")?.unwrap_or_else(|| "DYNAMODB_JSON".into());
            if format != "DYNAMODB_JSON" {
                return Err(invalid(format!(
                    "Unsupported ExportFormat {format}: this endpoint exports DYNAMODB_JSON only"
                ))
                .into());
            }
            if f.str("ExportType")?.is_some_and(|t| t != "FULL_EXPORT") {
                return Err(invalid("Only FULL_EXPORT exports are supported").into());
            }
            let req = ExportRequest {
                table: table_of_arn(&f.required_str("TableArn", "tableArn")?)?,
                bucket: f.required_str("S3Bucket", "s3Bucket")?,
                prefix: f.str("S3Prefix")?,
                export_millis: millis(f, "ExportTime")?,
                client_token: f.str("ClientToken")?,
            };
            let e = engine.export_table(req)?;
            Ok(json!({ "ExportDescription": export_description(&e, region) }))
        }
        "DescribeExport" => {
            let e = engine.describe_export(&export_id(&f.required_str("ExportArn", "exportArn")?)?)?;
            Ok(json!({ "ExportDescription": export_description(&e, region) }))
        }
        "ListExports" => {
            let table = f.str("TableArn")?.map(|a| table_of_arn(&a)).transpose()?;
            let limit = f.u64("MaxResults")?.unwrap_or(25) as usize;
            let start = f.str("NextToken")?;
            let (page, next) = engine.list_exports(table.as_deref(), limit, start.as_deref())?;
            let summaries: Vec<Value> = page
                .iter()
                .map(|e| json!({ "ExportArn": export_arn(region, e), "ExportStatus": e.status.as_str(), "ExportType": "FULL_EXPORT" }))
                .collect();
            let mut out = json!({ "ExportSummaries": summaries });
            if let Some(n) = next {
                out["NextToken"] = json!(n);
            }
            Ok(out)
        }
        _ => Err(ApiError::UnknownOperation),
    }
}
