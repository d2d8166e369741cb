//! ExportTableToPointInTime: a table's items as of one snapshot (taken during the request), written
//! in the background to an S3 bucket as DynamoDB JSON data files plus manifests, laid out as
//! DynamoDB does (`<prefix>/AWSDynamoDB/<export id>/…`). How files reach S3 and their format is the
//! [`ExportSink`]'s business; the engine only chunks items and tracks the export's state.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::Engine;
use super::error::{EngineError, Result, invalid};
use super::value::{Item, item_size};
use crate::store::Store;
use crate::store::backups::EXPORT_PREFIX;

/// Items per data file, and their bytes (as DynamoDB counts them): bounds the memory of an export.
const FILE_ITEMS: usize = 10_000;
const FILE_BYTES: usize = 4 * 1024 * 1024;
/// The present is the only point in time this store keeps: ExportTime may be at most this old.
const EXPORT_TIME_SLACK_MILLIS: i64 = 60_000;
pub const MAX_LIST_EXPORTS: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportStatus {
    InProgress,
    Completed,
    Failed,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportMeta {
    /// `<start millis>-<hash>`, the last part of the export's ARN.
    pub id: String,
    pub table_name: String,
    pub table_uuid: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub status: ExportStatus,
    pub start_millis: i64,
    pub end_millis: Option<i64>,
    pub export_millis: i64,
    pub item_count: u64,
    pub billed_bytes: u64,
    /// (FailureCode, FailureMessage)
    pub failure: Option<(String, String)>,
    pub client_token: Option<String>,
}

impl ExportMeta {
    /// Where the export's files go: `<prefix>/AWSDynamoDB/<id>`.
    pub fn base_key(&self) -> String {
        match self.prefix.as_deref().map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty()) {
            Some(p) => format!("{p}/AWSDynamoDB/{}", self.id),
            None => format!("AWSDynamoDB/{}", self.id),
        }
    }
    pub fn manifest_key(&self) -> String {
        format!("{}/manifest-summary.json", self.base_key())
    }
}

/// One data file written by an export.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub key: String,
    pub item_count: u64,
    pub etag: String,
}

/// A failure of the object store, as DynamoDB reports it (e.g. `S3NoSuchBucket`).
#[derive(Debug, Clone)]
pub struct SinkError {
    pub code: String,
    pub message: String,
}

/// Where exports are written (an S3 endpoint), and in which format.
pub trait ExportSink: Send + Sync {
    /// Writes data file number `n` of `export` holding `items`.
    fn put_data(&self, export: &ExportMeta, n: usize, items: &[Item]) -> std::result::Result<DataFile, SinkError>;
    /// Writes the manifests once every data file is in.
    fn put_manifests(&self, export: &ExportMeta, files: &[DataFile]) -> std::result::Result<(), SinkError>;
}

#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub table: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub export_millis: Option<i64>,
    pub client_token: Option<String>,
}

pub type Exports = Arc<RwLock<BTreeMap<String, ExportMeta>>>;

fn save(store: &Store, exports: &Exports, e: &ExportMeta) {
    if let Err(err) = store.put_record(EXPORT_PREFIX, &e.id, e) {
        tracing::warn!(export = %e.id, error = %err, "recording an export failed");
    }
    exports.write().expect("exports lock").insert(e.id.clone(), e.clone());
}

impl Engine {
    pub(super) fn load_exports(store: &Store) -> Result<BTreeMap<String, ExportMeta>> {
        let mut out = BTreeMap::new();
        for mut e in store.load_records::<ExportMeta>(EXPORT_PREFIX)? {
            if e.status == ExportStatus::InProgress {
                e.status = ExportStatus::Failed;
                e.failure = Some(("UNKNOWN".into(), "The export was interrupted by a restart".into()));
                store.put_record(EXPORT_PREFIX, &e.id, &e)?;
            }
            out.insert(e.id.clone(), e);
        }
        Ok(out)
    }

    /// Sets where exports are written (the daemon's `--export-s3-endpoint`).
    pub fn set_export_sink(&self, sink: Arc<dyn ExportSink>) {
        *self.export_sink.write().expect("sink lock") = Some(sink);
    }

    /// UpdateContinuousBackups; returns the restorable window (millis) when enabled.
    pub fn set_point_in_time_recovery(&self, name: &str, enabled: bool) -> Result<Option<(i64, i64)>> {
        let table =
            self.table_named(name, true).map_err(|_| EngineError::TableNotFound(format!("Table not found: {name}")))?;
        let mut current = table.meta.write().expect("meta lock");
        let mut meta = current.clone();
        meta.pitr = enabled;
        self.store.put_table(&meta, None)?;
        *current = meta;
        drop(current);
        self.point_in_time_recovery(name)
    }

    pub fn point_in_time_recovery(&self, name: &str) -> Result<Option<(i64, i64)>> {
        let table =
            self.table_named(name, true).map_err(|_| EngineError::TableNotFound(format!("Table not found: {name}")))?;
        let now = self.now_millis();
        Ok(table.snapshot().pitr.then_some((now, now)))
    }

    pub fn export_table(&self, req: ExportRequest) -> Result<ExportMeta> {
        let table = self
            .table_named(&req.table, true)
            .map_err(|_| EngineError::TableNotFound(format!("Table not found: {}", req.table)))?;
        let meta = table.snapshot();
        if let Some(token) = &req.client_token
            && let Some(e) =
                self.exports.read().expect("exports lock").values().find(|e| e.client_token.as_ref() == Some(token))
        {
            return Ok(e.clone());
        }
        if !meta.pitr {
            return Err(EngineError::PointInTimeRecoveryUnavailable(format!(
                "Point in time recovery is not enabled for table '{}'",
                meta.name
            )));
        }
        let now = self.now_millis();
        if let Some(at) = req.export_millis
            && (at > now || at < now - EXPORT_TIME_SLACK_MILLIS)
        {
            return Err(EngineError::InvalidExportTime(format!(
                "ExportTime must be the current time: this table keeps no earlier versions (requested {at}, now {now})"
            )));
        }
        if req.bucket.is_empty() {
            return Err(invalid("S3Bucket must not be empty"));
        }
        let sink = self.export_sink.read().expect("sink lock").clone().ok_or_else(|| {
            invalid("Exports are not configured: start dynamod with --export-s3-endpoint to export to S3")
        })?;
        let hash = crate::store::keys::stable_hash(format!("{}/{}/{now}", meta.name, req.bucket).as_bytes());
        let export = ExportMeta {
            id: format!("{now:014}-{hash:08x}"),
            table_name: meta.name.clone(),
            table_uuid: meta.uuid.clone(),
            bucket: req.bucket,
            prefix: req.prefix,
            status: ExportStatus::InProgress,
            start_millis: now,
            end_millis: None,
            export_millis: now,
            item_count: 0,
            billed_bytes: 0,
            failure: None,
            client_token: req.client_token,
        };
        save(&self.store, &self.exports, &export);
        let (taken_tx, taken_rx) = std::sync::mpsc::channel();
        let (store, exports, clock) = (self.store.clone(), self.exports.clone(), self.clock.clone());
        let mut job = export.clone();
        std::thread::spawn(move || {
            let outcome = write_export(&store, sink.as_ref(), &mut job, meta.id, move || {
                let _ = taken_tx.send(());
            });
            job.end_millis = Some((clock.wall().unix_timestamp_nanos() / 1_000_000) as i64);
            match outcome {
                Ok(()) => job.status = ExportStatus::Completed,
                Err(e) => {
                    tracing::warn!(export = %job.id, code = %e.code, error = %e.message, "export failed");
                    job.status = ExportStatus::Failed;
                    job.failure = Some((e.code, e.message));
                }
            }
            save(&store, &exports, &job);
        });
        let _ = taken_rx.recv();
        Ok(export)
    }

    pub fn describe_export(&self, id: &str) -> Result<ExportMeta> {
        self.exports
            .read()
            .expect("exports lock")
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::ExportNotFound(format!("Export not found: {id}")))
    }

    /// ListExports: oldest first, optionally of one table; the token is the last id returned.
    pub fn list_exports(
        &self,
        table: Option<&str>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<ExportMeta>, Option<String>)> {
        if !(1..=MAX_LIST_EXPORTS).contains(&limit) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to {MAX_LIST_EXPORTS}"
            )));
        }
        let all = self.exports.read().expect("exports lock");
        let matching: Vec<&ExportMeta> = all
            .values()
            .filter(|e| table.is_none_or(|t| e.table_name == t))
            .filter(|e| after.is_none_or(|a| e.id.as_str() > a))
            .collect();
        let more = matching.len() > limit;
        let page: Vec<ExportMeta> = matching.into_iter().take(limit).cloned().collect();
        let next = if more { page.last().map(|e| e.id.clone()) } else { None };
        Ok((page, next))
    }
}

/// Reads the table's snapshot in bounded chunks, one data file each, then writes the manifests.
fn write_export(
    store: &Store,
    sink: &dyn ExportSink,
    job: &mut ExportMeta,
    table_id: u64,
    taken: impl FnOnce(),
) -> std::result::Result<(), SinkError> {
    let internal = |e: EngineError| SinkError { code: "UNKNOWN".into(), message: e.to_string() };
    let mut files = Vec::new();
    let mut chunk: Vec<Item> = Vec::new();
    let mut chunk_bytes = 0usize;
    let mut failure = None;
    let scanned = store.snapshot_items(table_id, taken, |_, item| {
        chunk_bytes += item_size(&item);
        job.item_count += 1;
        job.billed_bytes += item_size(&item) as u64;
        chunk.push(item);
        if chunk.len() >= FILE_ITEMS || chunk_bytes >= FILE_BYTES {
            match sink.put_data(job, files.len(), &chunk) {
                Ok(f) => files.push(f),
                Err(e) => {
                    failure = Some(e);
                    return Err(EngineError::Internal("export stopped".into()));
                }
            }
            chunk.clear();
            chunk_bytes = 0;
        }
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    scanned.map_err(internal)?;
    if !chunk.is_empty() || files.is_empty() {
        files.push(sink.put_data(job, files.len(), &chunk)?);
    }
    sink.put_manifests(job, &files)
}
