//! The control plane: creating, describing, listing, updating and deleting tables, and their tags.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

pub use super::backfill::GsiUpdate;
use super::error::{EngineError, Result, invalid};
use super::indexes::{IndexKind, IndexMeta, IndexSpec, MAX_GSI, MAX_LSI, parse_index};
use super::{Engine, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScalarType {
    S,
    N,
    B,
}

impl ScalarType {
    pub fn parse(s: &str) -> Option<ScalarType> {
        match s {
            "S" => Some(ScalarType::S),
            "N" => Some(ScalarType::N),
            "B" => Some(ScalarType::B),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ScalarType::S => "S",
            ScalarType::N => "N",
            ScalarType::B => "B",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttr {
    pub name: String,
    pub ty: ScalarType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Billing {
    PayPerRequest,
    Provisioned { read: u64, write: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableMeta {
    pub id: u64,
    pub name: String,
    pub uuid: String,
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    pub attribute_definitions: Vec<KeyAttr>,
    pub billing: Billing,
    /// Seconds since the epoch.
    pub created: f64,
    pub last_increase: Option<f64>,
    pub last_decrease: Option<f64>,
    pub decreases_today: u32,
    pub last_pay_per_request: Option<f64>,
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub indexes: Vec<IndexMeta>,
    /// The TTL attribute while Time to Live is enabled.
    #[serde(default)]
    pub ttl_attribute: Option<String>,
    /// The current stream (last, while enabled) and disabled ones still within their retention.
    #[serde(default)]
    pub streams: Vec<super::streams::StreamMeta>,
    /// Set on a table restored from a backup (CREATING until its items are in).
    #[serde(default)]
    pub restored: Option<super::backups::RestoreInfo>,
    /// Point-in-time recovery (UpdateContinuousBackups), required by exports.
    #[serde(default)]
    pub pitr: bool,
}

impl TableMeta {
    pub fn index(&self, name: &str) -> Option<&IndexMeta> {
        self.indexes.iter().find(|i| i.name == name)
    }
    /// The stream writes are recorded in, while one is enabled.
    pub fn active_stream(&self) -> Option<&super::streams::StreamMeta> {
        self.streams.last().filter(|s| s.disabled.is_none())
    }
}

/// What CreateTable asks for, already parsed from the wire.
#[derive(Debug, Clone)]
pub struct CreateTable {
    pub name: String,
    /// (attribute name, "HASH" | "RANGE") in request order.
    pub key_schema: Vec<(String, String)>,
    pub attribute_definitions: Vec<(String, String)>,
    pub billing_mode: Option<String>,
    pub throughput: Option<(u64, u64)>,
    pub tags: Vec<(String, String)>,
    pub local_indexes: Vec<IndexSpec>,
    pub global_indexes: Vec<IndexSpec>,
    pub stream: Option<super::streams::StreamSpec>,
}

/// A table as DescribeTable reports it.
#[derive(Debug, Clone)]
pub struct TableDescription {
    pub meta: TableMeta,
    pub status: &'static str,
    pub item_count: u64,
    pub size_bytes: u64,
    /// (ItemCount, IndexSizeBytes) of each of `meta.indexes`, in order.
    pub index_stats: Vec<(u64, u64)>,
}

pub const MAX_TABLES: usize = 2500;
pub const TABLE_MAX_CAPACITY: u64 = 40_000;

pub fn validate_table_name(name: &str, field: &str) -> Result<()> {
    if name.len() < 3 {
        return Err(invalid(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must have length greater than or equal to 3"
        )));
    }
    if name.len() > 255 {
        return Err(invalid(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to 255"
        )));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )));
    }
    Ok(())
}

pub(super) fn check_throughput(read: u64, write: u64) -> Result<()> {
    if read == 0 || write == 0 {
        let (field, v) = if read == 0 { ("readCapacityUnits", read) } else { ("writeCapacityUnits", write) };
        return Err(invalid(format!(
            "1 validation error detected: Value '{v}' at 'provisionedThroughput.{field}' failed to satisfy constraint: Member must have value greater than or equal to 1"
        )));
    }
    if read > TABLE_MAX_CAPACITY || write > TABLE_MAX_CAPACITY {
        return Err(EngineError::LimitExceeded(format!(
            "Subscriber limit exceeded: Provisioned throughput for a table cannot exceed {TABLE_MAX_CAPACITY} read and {TABLE_MAX_CAPACITY} write capacity units"
        )));
    }
    Ok(())
}

pub(super) fn billing_from(mode: Option<&str>, throughput: Option<(u64, u64)>) -> Result<Billing> {
    match (mode.unwrap_or("PROVISIONED"), throughput) {
        ("PROVISIONED", Some((r, w))) => {
            check_throughput(r, w)?;
            Ok(Billing::Provisioned { read: r, write: w })
        }
        ("PROVISIONED", None) => Err(invalid(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        )),
        ("PAY_PER_REQUEST", None) => Ok(Billing::PayPerRequest),
        ("PAY_PER_REQUEST", Some(_)) => Err(invalid(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        )),
        (other, _) => Err(invalid(format!(
            "1 validation error detected: Value '{other}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        ))),
    }
}

/// A new table's key schema, attribute definitions and secondary indexes (ids not yet allocated).
struct Schema {
    hash: KeyAttr,
    range: Option<KeyAttr>,
    defs: Vec<KeyAttr>,
    indexes: Vec<IndexMeta>,
}

fn parse_schema(req: &CreateTable, billing: &Billing) -> Result<Schema> {
    let mut defs = Vec::new();
    for (name, ty) in &req.attribute_definitions {
        let ty = ScalarType::parse(ty).ok_or_else(|| {
            invalid(format!(
                "1 validation error detected: Value '{ty}' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
            ))
        })?;
        if defs.iter().any(|d: &KeyAttr| d.name == *name) {
            return Err(invalid("Cannot have two attributes with the same name"));
        }
        defs.push(KeyAttr { name: name.clone(), ty });
    }
    let ks = &req.key_schema;
    let shape_ok = match ks.as_slice() {
        [(_, h)] => h == "HASH",
        [(_, h), (_, r)] => h == "HASH" && r == "RANGE",
        _ => false,
    };
    if ks.is_empty() || ks.len() > 2 {
        return Err(invalid(format!(
            "1 validation error detected: Value '[...]' at 'keySchema' failed to satisfy constraint: Member must have length {}",
            if ks.is_empty() { "greater than or equal to 1" } else { "less than or equal to 2" }
        )));
    }
    if !shape_ok {
        return Err(invalid("Invalid KeySchema: The first KeySchemaElement is not a HASH key type"));
    }
    if ks.len() == 2 && ks[0].0 == ks[1].0 {
        return Err(invalid("Both the Hash Key and the Range Key element in the KeySchema have the same name"));
    }
    let find = |name: &str| defs.iter().find(|d| d.name == name).cloned();
    let missing: Vec<&str> = ks.iter().filter(|(n, _)| find(n).is_none()).map(|(n, _)| n.as_str()).collect();
    if !missing.is_empty() {
        let def_names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        return Err(invalid(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            missing.join(", "),
            def_names.join(", ")
        )));
    }
    let hash = find(&ks[0].0).expect("checked");
    let range = ks.get(1).map(|(n, _)| find(n).expect("checked"));
    if req.local_indexes.len() > MAX_LSI || req.global_indexes.len() > MAX_GSI {
        return Err(EngineError::LimitExceeded(format!(
            "One or more parameter values were invalid: A table may have at most {MAX_LSI} local and {MAX_GSI} global secondary indexes"
        )));
    }
    let mut indexes: Vec<IndexMeta> = Vec::new();
    let specs = req.local_indexes.iter().map(|s| (s, IndexKind::Local));
    for (spec, kind) in specs.chain(req.global_indexes.iter().map(|s| (s, IndexKind::Global))) {
        if indexes.iter().any(|i| i.name == spec.name) {
            return Err(invalid(format!(
                "One or more parameter values were invalid: Duplicate index name: {}",
                spec.name
            )));
        }
        indexes.push(parse_index(spec, kind, &hash, range.as_ref(), &defs, billing)?);
    }
    let used: Vec<&str> = std::iter::once(&hash)
        .chain(range.as_ref())
        .chain(indexes.iter().flat_map(|i| std::iter::once(&i.hash).chain(i.range.as_ref())))
        .map(|a| a.name.as_str())
        .collect();
    if let Some(unused) = defs.iter().find(|d| !used.contains(&d.name.as_str())) {
        let def_names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        let _ = unused;
        return Err(invalid(if indexes.is_empty() {
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions".to_string()
        } else {
            format!(
                "One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [{}], keys used: [{}]",
                def_names.join(", "),
                used.join(", ")
            )
        }));
    }
    Ok(Schema { hash, range, defs, indexes })
}

impl Engine {
    fn now_secs(&self) -> f64 {
        let t = self.clock.wall();
        t.unix_timestamp() as f64 + f64::from(t.millisecond()) / 1000.0
    }

    pub fn describe(&self, table: &Table, status: &'static str) -> TableDescription {
        let meta = table.meta.read().expect("meta lock").clone();
        let index_stats = meta
            .indexes
            .iter()
            .map(|i| match table.index_state(&i.name) {
                Some(s) => (
                    s.item_count.load(Ordering::Relaxed).max(0) as u64,
                    s.size_bytes.load(Ordering::Relaxed).max(0) as u64,
                ),
                None => (0, 0),
            })
            .collect();
        TableDescription {
            meta,
            status,
            item_count: table.item_count.load(Ordering::Relaxed).max(0) as u64,
            size_bytes: table.size_bytes.load(Ordering::Relaxed).max(0) as u64,
            index_stats,
        }
    }

    pub fn create_table(&self, req: CreateTable) -> Result<TableDescription> {
        validate_table_name(&req.name, "tableName")?;
        let billing = billing_from(req.billing_mode.as_deref(), req.throughput)?;
        let Schema { hash, range, defs, mut indexes } = parse_schema(&req, &billing)?;
        let mut tables = self.tables.write().expect("tables lock");
        if tables.contains_key(&req.name) {
            return Err(EngineError::ResourceInUse(format!("Table already exists: {}", req.name)));
        }
        if tables.len() >= MAX_TABLES {
            return Err(EngineError::LimitExceeded(format!(
                "Subscriber limit exceeded: Only {MAX_TABLES} tables may exist in this region"
            )));
        }
        // The table's key space, then one per index.
        let id = self.next_table_id.fetch_add(1 + indexes.len() as u64, Ordering::SeqCst);
        for (i, index) in indexes.iter_mut().enumerate() {
            index.id = id + 1 + i as u64;
        }
        let streams = match &req.stream {
            Some(spec) => self.new_stream(spec)?.into_iter().collect(),
            None => Vec::new(),
        };
        let next_id = self.next_table_id.load(Ordering::SeqCst);
        let meta = TableMeta {
            id,
            name: req.name.clone(),
            uuid: uuid_like(id, self.now_secs()),
            hash,
            range,
            attribute_definitions: defs,
            billing,
            created: self.now_secs(),
            last_increase: None,
            last_decrease: None,
            decreases_today: 0,
            last_pay_per_request: None,
            tags: req.tags.into_iter().collect(),
            indexes,
            ttl_attribute: None,
            streams,
            restored: None,
            pitr: false,
        };
        self.store.put_table(&meta, Some(next_id))?;
        let table = Arc::new(Table::new(meta, self.clock.clone()));
        let desc = self.describe(&table, "CREATING");
        tables.insert(req.name, table);
        Ok(desc)
    }

    pub fn describe_table(&self, name: &str) -> Result<TableDescription> {
        let table = self.table_named(name, true)?;
        let restoring = table.snapshot().restored.is_some_and(|r| r.in_progress);
        Ok(self.describe(&table, if restoring { "CREATING" } else { "ACTIVE" }))
    }

    /// Table names in order, from after `start`, at most `limit`; plus the last name when more follow.
    pub fn list_tables(&self, start: Option<&str>, limit: usize) -> Result<(Vec<String>, Option<String>)> {
        if !(1..=100).contains(&limit) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value {}",
                if limit < 1 { "greater than or equal to 1" } else { "less than or equal to 100" }
            )));
        }
        let tables = self.tables.read().expect("tables lock");
        let mut names: Vec<&String> = tables.keys().filter(|n| start.is_none_or(|s| n.as_str() > s)).collect();
        names.sort();
        let more = names.len() > limit;
        let page: Vec<String> = names.into_iter().take(limit).cloned().collect();
        let last = if more { page.last().cloned() } else { None };
        Ok((page, last))
    }

    pub fn update_table(
        &self,
        name: &str,
        billing_mode: Option<&str>,
        throughput: Option<(u64, u64)>,
        attribute_definitions: Vec<(String, String)>,
        gsi_updates: Vec<GsiUpdate>,
        stream: Option<super::streams::StreamSpec>,
    ) -> Result<TableDescription> {
        if let Some(spec) = &stream {
            let table = self.table_named(name, true)?;
            self.update_stream(&table, spec)?;
            if billing_mode.is_none() && throughput.is_none() && gsi_updates.is_empty() {
                return Ok(self.describe(&table, "UPDATING"));
            }
        }
        if !gsi_updates.is_empty() {
            self.update_indexes(name, &attribute_definitions, gsi_updates)?;
            if billing_mode.is_none() && throughput.is_none() {
                let table = self.table_named(name, true)?;
                return Ok(self.describe(&table, "UPDATING"));
            }
        }
        let table = self.table_named(name, true)?;
        let now = self.now_secs();
        // Held until the new description is published, so concurrent changes (a finishing backfill)
        // are not lost.
        let mut current = table.meta.write().expect("meta lock");
        let mut meta = current.clone();
        let current_mode = match meta.billing {
            Billing::PayPerRequest => "PAY_PER_REQUEST",
            Billing::Provisioned { .. } => "PROVISIONED",
        };
        let mode = billing_mode.unwrap_or(current_mode);
        if billing_mode.is_none() && throughput.is_none() {
            return Err(invalid(
                "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
            ));
        }
        if mode == "PAY_PER_REQUEST" && throughput.is_some() && billing_mode.is_none() {
            return Err(invalid(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ));
        }
        let new_billing = match (mode, throughput, meta.billing) {
            ("PROVISIONED", None, Billing::Provisioned { .. }) => meta.billing,
            (m, t, _) => billing_from(Some(m), t)?,
        };
        if let (Billing::Provisioned { read: r0, write: w0 }, Billing::Provisioned { read, write }) =
            (meta.billing, new_billing)
        {
            if r0 == read && w0 == write && billing_mode.is_none_or(|m| m == current_mode) {
                return Err(invalid(format!(
                    "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {r0}. Requested ReadCapacityUnits: {read}. Current WriteCapacityUnits provisioned for the table: {w0}. Requested WriteCapacityUnits: {write}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
                )));
            }
            if read > r0 || write > w0 {
                meta.last_increase = Some(now);
            }
            if read < r0 || write < w0 {
                meta.last_decrease = Some(now);
                meta.decreases_today += 1;
            }
        }
        if new_billing == Billing::PayPerRequest && meta.billing != Billing::PayPerRequest {
            meta.last_pay_per_request = Some(now);
        }
        meta.billing = new_billing;
        self.store.put_table(&meta, None)?;
        table.apply_billing(&meta.billing);
        *current = meta;
        drop(current);
        Ok(self.describe(&table, "UPDATING"))
    }

    pub fn delete_table(&self, name: &str) -> Result<TableDescription> {
        let table = {
            let mut tables = self.tables.write().expect("tables lock");
            let table = tables.get(name).cloned().ok_or_else(|| not_found_table(name))?;
            let meta = table.snapshot();
            let mut ids = vec![meta.id];
            ids.extend(meta.indexes.iter().map(|i| i.id));
            ids.extend(meta.streams.iter().map(|s| s.id));
            self.store.delete_table(name, &ids)?;
            tables.remove(name);
            table
        };
        let desc = self.describe(&table, "DELETING");
        spawn_purge(self.store.clone(), desc.meta.id);
        for id in desc.meta.indexes.iter().map(|i| i.id).chain(desc.meta.streams.iter().map(|s| s.id)) {
            spawn_purge(self.store.clone(), id);
        }
        Ok(desc)
    }

    fn table_for_arn(&self, arn: &str) -> Result<Arc<Table>> {
        let name = arn.rsplit_once(":table/").map(|(_, n)| n).filter(|n| !n.contains('/'));
        let not_found =
            || EngineError::ResourceNotFound(format!("Requested resource not found: ResourcArn: {arn} not found"));
        let Some(name) = name else {
            return Err(invalid(format!("Invalid TableArn: Invalid ResourceArn provided as input {arn}")));
        };
        self.table_named(name, false).map_err(|_| not_found())
    }

    pub fn tag_resource(&self, arn: &str, tags: Vec<(String, String)>) -> Result<()> {
        let table = self.table_for_arn(arn)?;
        // Held until the new description is published, so concurrent changes (a finishing backfill)
        // are not lost.
        let mut current = table.meta.write().expect("meta lock");
        let mut meta = current.clone();
        if meta.tags.len() + tags.iter().filter(|(k, _)| !meta.tags.contains_key(k)).count() > 50 {
            return Err(EngineError::LimitExceeded("The number of tags exceeds the limit of 50 per resource".into()));
        }
        meta.tags.extend(tags);
        self.store.put_table(&meta, None)?;
        *current = meta;
        drop(current);
        Ok(())
    }

    pub fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        let table = self.table_for_arn(arn)?;
        // Held until the new description is published, so concurrent changes (a finishing backfill)
        // are not lost.
        let mut current = table.meta.write().expect("meta lock");
        let mut meta = current.clone();
        for k in keys {
            meta.tags.remove(k);
        }
        self.store.put_table(&meta, None)?;
        *current = meta;
        drop(current);
        Ok(())
    }

    pub fn list_tags(&self, arn: &str) -> Result<Vec<(String, String)>> {
        let table = self.table_for_arn(arn)?;
        let meta = table.meta.read().expect("meta lock");
        Ok(meta.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// The table is gone once its record is; its items are unreachable and removed in the background
/// (and again after a restart if this is interrupted).
pub fn spawn_purge(store: crate::store::Store, id: u64) {
    std::thread::spawn(move || {
        if let Err(e) = store.purge_table(id) {
            tracing::warn!(table_id = id, error = %e, "purging a deleted table's items failed");
        }
    });
}

pub fn not_found_table(name: &str) -> EngineError {
    EngineError::ResourceNotFound(format!("Requested resource not found: Table: {name} not found"))
}

/// A table id in UUID shape, unique per table.
pub(super) fn uuid_like(seed: u64, now: f64) -> String {
    let a = super::super::store::keys::stable_hash(format!("{seed}-{now}").as_bytes());
    let b = super::super::store::keys::stable_hash(format!("{now}-{seed}").as_bytes());
    format!("{a:08x}-{:04x}-4{:03x}-8{:03x}-{:08x}{:04x}", b >> 16, b & 0xfff, (a >> 4) & 0xfff, a ^ b, seed & 0xffff)
}
