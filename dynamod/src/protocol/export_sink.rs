//! Writes table exports to an S3 endpoint (our s3d or any other) with common's S3 client: data files
//! as gzipped DynamoDB JSON lines (`{"Item": {...}}`), then `manifest-files.json` (one line per data
//! file) and `manifest-summary.json`, as DynamoDB lays them out.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use common::s3client::{S3Client, S3ClientError};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;

use super::control::table_arn;
use super::json::item_json;
use crate::engine::export::{DataFile, ExportMeta, ExportSink, SinkError};
use crate::engine::value::Item;

pub struct S3Sink {
    client: S3Client,
    region: String,
    runtime: tokio::runtime::Handle,
}

impl S3Sink {
    pub fn new(client: S3Client, region: &str, runtime: tokio::runtime::Handle) -> Arc<Self> {
        Arc::new(Self { client, region: region.to_string(), runtime })
    }

    fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<String, SinkError> {
        self.runtime.block_on(self.client.put_object(bucket, key, Bytes::from(body))).map_err(sink_error)
    }
}

/// S3's answer as DynamoDB's export FailureCode.
fn sink_error(e: S3ClientError) -> SinkError {
    let code = match e.code() {
        Some("NoSuchBucket") => "S3NoSuchBucket",
        Some("AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") => "S3AccessDenied",
        _ => "UNKNOWN",
    };
    SinkError { code: code.into(), message: e.to_string() }
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, SinkError> {
    let mut gz = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    gz.write_all(data)
        .and_then(|_| gz.finish())
        .map_err(|e| SinkError { code: "UNKNOWN".into(), message: e.to_string() })
}

impl ExportSink for S3Sink {
    fn put_data(&self, export: &ExportMeta, n: usize, items: &[Item]) -> Result<DataFile, SinkError> {
        let mut lines = Vec::new();
        for item in items {
            lines.extend_from_slice(json!({ "Item": item_json(item) }).to_string().as_bytes());
            lines.push(b'\n');
        }
        let key = format!("{}/data/{n:05}-{}.json.gz", export.base_key(), &export.id[15..]);
        let etag = self.put(&export.bucket, &key, gzip(&lines)?)?;
        Ok(DataFile { key, item_count: items.len() as u64, etag })
    }

    fn put_manifests(&self, export: &ExportMeta, files: &[DataFile]) -> Result<(), SinkError> {
        let base = export.base_key();
        let mut listing = String::new();
        for f in files {
            listing.push_str(&json!({ "itemCount": f.item_count, "etag": f.etag, "dataFileS3Key": f.key }).to_string());
            listing.push('\n');
        }
        let files_key = format!("{base}/manifest-files.json");
        self.put(&export.bucket, &files_key, listing.into_bytes())?;
        let arn = table_arn(&self.region, &export.table_name);
        let secs = |ms: i64| ms as f64 / 1000.0;
        let summary = json!({
            "version": "2020-06-30",
            "exportArn": format!("{arn}/export/{}", export.id),
            "startTime": secs(export.start_millis),
            "endTime": secs(export.end_millis.unwrap_or(export.start_millis)),
            "tableArn": arn,
            "tableId": export.table_uuid,
            "exportTime": secs(export.export_millis),
            "s3Bucket": export.bucket,
            "s3Prefix": export.prefix,
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": export.billed_bytes,
            "itemCount": export.item_count,
            "outputFormat": "DYNAMODB_JSON",
            "exportType": "FULL_EXPORT",
        });
        self.put(&export.bucket, &export.manifest_key(), summary.to_string().into_bytes())?;
        Ok(())
    }
}
