//! On-demand backups: CreateBackup copies a table's items, as of one RocksDB snapshot taken during the
//! request, into a key space of its own (in the background, so neither the request nor the table's
//! writers wait for the copy); RestoreTableFromBackup creates a new table from it and rebuilds its
//! indexes; DescribeBackup / ListBackups / DeleteBackup manage them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result, invalid};
use super::tables::{Billing, TableDescription, TableMeta, validate_table_name};
use super::{Engine, Table, indexes};
use crate::store::backups::BACKUP_PREFIX;
use crate::store::{ItemBatch, Store};

/// Items restored per write batch.
const RESTORE_BATCH: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupStatus {
    Creating,
    Available,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupMeta {
    /// `<creation millis>-<hash>`, the last part of the backup's ARN.
    pub id: String,
    pub name: String,
    pub key_space: u64,
    /// The source table's description when the backup was taken.
    pub table: TableMeta,
    pub created_millis: i64,
    pub status: BackupStatus,
    pub item_count: u64,
    pub size_bytes: u64,
}

/// Where a restored table came from (DescribeTable's RestoreSummary).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreInfo {
    pub backup_id: String,
    pub source_table: String,
    pub millis: i64,
    pub in_progress: bool,
}

/// RestoreTableFromBackup's overrides.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    pub target: String,
    pub backup_id: String,
    pub billing_mode: Option<String>,
    pub throughput: Option<(u64, u64)>,
}

fn backup_not_found(id: &str) -> EngineError {
    EngineError::BackupNotFound(format!("Backup not found: {id}"))
}

impl Engine {
    pub(super) fn load_backups(store: &Store) -> Result<BTreeMap<String, BackupMeta>> {
        let mut out = BTreeMap::new();
        for b in store.load_records::<BackupMeta>(BACKUP_PREFIX)? {
            if b.status == BackupStatus::Creating {
                // The snapshot it was copied from died with the process: the copy cannot be finished.
                tracing::warn!(backup = %b.id, "dropping a backup interrupted by a restart");
                store.delete_backup(&b.id, b.key_space)?;
                super::tables::spawn_purge(store.clone(), b.key_space);
                continue;
            }
            out.insert(b.id.clone(), b);
        }
        Ok(out)
    }

    pub fn create_backup(&self, table_name: &str, backup_name: &str) -> Result<BackupMeta> {
        validate_table_name(backup_name, "backupName")?;
        let table = self
            .table_named(table_name, true)
            .map_err(|_| EngineError::TableNotFound(format!("Table not found: {table_name}")))?;
        let now = self.now_millis();
        let key_space = self.next_table_id.fetch_add(1, Ordering::SeqCst);
        let hash = crate::store::keys::stable_hash(format!("{table_name}/{backup_name}/{now}/{key_space}").as_bytes());
        let meta = BackupMeta {
            id: format!("{now:014}-{hash:08x}"),
            name: backup_name.to_string(),
            key_space,
            table: table.snapshot(),
            created_millis: now,
            status: BackupStatus::Creating,
            item_count: 0,
            size_bytes: 0,
        };
        self.store.put_next_id(self.next_table_id.load(Ordering::SeqCst))?;
        self.store.put_record(BACKUP_PREFIX, &meta.id, &meta)?;
        self.backups.write().expect("backups lock").insert(meta.id.clone(), meta.clone());
        // The copy finishes before the request returns. A backup still CREATING cannot outlive the
        // process (the snapshot it copies from dies with it, and start-up drops it), so an acknowledged
        // backup must already be complete: it used to vanish on any restart, even a clean one.
        let mut meta = meta;
        match self.store.copy_snapshot(meta.table.id, key_space) {
            Ok((count, bytes)) => {
                meta.status = BackupStatus::Available;
                meta.item_count = count;
                meta.size_bytes = bytes;
                self.store.put_record(BACKUP_PREFIX, &meta.id, &meta)?;
                self.backups.write().expect("backups lock").insert(meta.id.clone(), meta.clone());
            }
            Err(e) => {
                self.backups.write().expect("backups lock").remove(&meta.id);
                self.store.delete_backup(&meta.id, key_space)?;
                super::tables::spawn_purge(self.store.clone(), key_space);
                return Err(e);
            }
        }
        Ok(meta)
    }

    pub fn describe_backup(&self, id: &str) -> Result<BackupMeta> {
        self.backups.read().expect("backups lock").get(id).cloned().ok_or_else(|| backup_not_found(id))
    }

    /// ListBackups: newest last, optionally of one table and within creation-time bounds (millis).
    pub fn list_backups(
        &self,
        table: Option<&str>,
        limit: usize,
        start_after: Option<&str>,
        bounds: (Option<i64>, Option<i64>),
    ) -> Result<(Vec<BackupMeta>, Option<String>)> {
        if !(1..=100).contains(&limit) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100"
            )));
        }
        let all = self.backups.read().expect("backups lock");
        let matching: Vec<&BackupMeta> = all
            .values()
            .filter(|b| table.is_none_or(|t| b.table.name == t))
            .filter(|b| {
                bounds.0.is_none_or(|lo| b.created_millis >= lo) && bounds.1.is_none_or(|hi| b.created_millis < hi)
            })
            .filter(|b| start_after.is_none_or(|s| b.id.as_str() > s))
            .collect();
        let more = matching.len() > limit;
        let page: Vec<BackupMeta> = matching.into_iter().take(limit).cloned().collect();
        let last = if more { page.last().map(|b| b.id.clone()) } else { None };
        Ok((page, last))
    }

    pub fn delete_backup(&self, id: &str) -> Result<BackupMeta> {
        let mut all = self.backups.write().expect("backups lock");
        let b = all.get(id).cloned().ok_or_else(|| backup_not_found(id))?;
        if b.status == BackupStatus::Creating {
            return Err(EngineError::BackupInUse(format!(
                "Backup is being created, and cannot be deleted until it is available: {id}"
            )));
        }
        self.store.delete_backup(id, b.key_space)?;
        all.remove(id);
        super::tables::spawn_purge(self.store.clone(), b.key_space);
        Ok(b)
    }

    pub fn restore_table(&self, req: RestoreRequest) -> Result<TableDescription> {
        validate_table_name(&req.target, "targetTableName")?;
        let backup = self.describe_backup(&req.backup_id)?;
        if backup.status != BackupStatus::Available {
            return Err(EngineError::BackupInUse(format!("Backup is not yet available: {}", req.backup_id)));
        }
        let billing = match (req.billing_mode.as_deref(), req.throughput) {
            (None, None) => backup.table.billing,
            (mode, t) => super::tables::billing_from(mode.or(Some("PROVISIONED")), t)?,
        };
        let mut tables = self.tables.write().expect("tables lock");
        if tables.contains_key(&req.target) {
            return Err(EngineError::TableAlreadyExists(format!("Table already exists: {}", req.target)));
        }
        let mut meta = backup.table.clone();
        let id = self.next_table_id.fetch_add(1 + meta.indexes.len() as u64, Ordering::SeqCst);
        for (i, index) in meta.indexes.iter_mut().enumerate() {
            index.id = id + 1 + i as u64;
            index.backfilling = false;
            if billing == Billing::PayPerRequest {
                index.throughput = None;
            } else if index.is_global() && index.throughput.is_none() {
                index.throughput = match billing {
                    Billing::Provisioned { read, write } => Some((read, write)),
                    Billing::PayPerRequest => None,
                };
            }
        }
        let now = self.now_millis();
        meta.id = id;
        meta.name = req.target.clone();
        meta.uuid = super::tables::uuid_like(id, now as f64);
        meta.billing = billing;
        meta.created = now as f64 / 1000.0;
        meta.tags.clear();
        meta.streams.clear();
        meta.ttl_attribute = None;
        meta.restored = Some(RestoreInfo {
            backup_id: backup.id.clone(),
            source_table: backup.table.name.clone(),
            millis: now,
            in_progress: true,
        });
        self.store.put_table(&meta, Some(self.next_table_id.load(Ordering::SeqCst)))?;
        let table = Arc::new(Table::new(meta, self.clock.clone()));
        tables.insert(req.target.clone(), table.clone());
        drop(tables);
        spawn_restore(self.store.clone(), table.clone(), backup.key_space);
        Ok(self.describe(&table, "CREATING"))
    }

    /// Restores interrupted by a restart start over (they only put items, so repeating is safe).
    pub(super) fn resume_restores(&self) {
        for table in self.tables.read().expect("tables lock").values() {
            let meta = table.snapshot();
            if let Some(info) = meta.restored.as_ref().filter(|r| r.in_progress) {
                match self.describe_backup(&info.backup_id) {
                    Ok(b) => spawn_restore(self.store.clone(), table.clone(), b.key_space),
                    Err(_) => tracing::warn!(table = %meta.name, "the backup of an interrupted restore is gone"),
                }
            }
        }
    }
}

/// Copies a backup's items into a restored table with their index entries, then marks it ACTIVE.
fn spawn_restore(store: Store, table: Arc<Table>, from: u64) {
    std::thread::spawn(move || {
        if let Err(e) = restore_items(&store, &table, from) {
            tracing::warn!(error = %e, "restoring a table failed");
        }
    });
}

fn restore_items(store: &Store, table: &Table, from: u64) -> Result<()> {
    let meta = table.snapshot();
    let mut batch = ItemBatch::default();
    let mut pending = Vec::new();
    let flush = |batch: &mut ItemBatch, pending: &mut Vec<(usize, Vec<indexes::IndexDelta>)>| -> Result<()> {
        store.commit(std::mem::take(batch))?;
        for (size, deltas) in pending.drain(..) {
            table.account(None, Some(size));
            table.settle_indexes(&deltas, 1, None);
        }
        Ok(())
    };
    // The backup is immutable, so a plain scan of it is consistent.
    store.snapshot_items(
        from,
        || {},
        |k, item| {
            let key = [&meta.id.to_be_bytes()[..], &k[8..]].concat();
            batch.put(key, &item);
            let deltas = indexes::stage(&meta, None, Some(&item), &mut batch);
            pending.push((super::value::item_size(&item), deltas));
            if pending.len() >= RESTORE_BATCH {
                flush(&mut batch, &mut pending)?;
            }
            Ok(())
        },
    )?;
    flush(&mut batch, &mut pending)?;
    let mut current = table.meta.write().expect("meta lock");
    let mut done = current.clone();
    if let Some(info) = done.restored.as_mut() {
        info.in_progress = false;
    }
    store.put_table(&done, None)?;
    *current = done;
    Ok(())
}
