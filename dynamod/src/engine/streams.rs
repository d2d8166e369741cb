//! DynamoDB Streams: a per-table log of item changes.
//!
//! Each change that alters an item appends one record, staged into the same atomic batch as the item
//! write (so a record exists exactly when its write does). Records are numbered by one engine-wide
//! [`Sequencer`] while the item's lock is held, so one item's records are in write order. Because
//! concurrent writes commit out of number order (group commit), a reader only sees records below the
//! *watermark*: the lowest number still being committed. A record is thus never skipped by an
//! iterator that moved past a lower number still in flight. Records are kept 24 hours.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result, invalid};
use super::keys::key_attributes;
use super::tables::TableMeta;
use super::value::{Item, item_size};
use super::{Engine, Table};
use crate::store::ItemBatch;

/// How long records (and disabled streams) are kept.
pub const RETENTION_MILLIS: i64 = 24 * 3600 * 1000;
/// A shard iterator is valid this long after it was issued.
pub const ITERATOR_LIFETIME_MILLIS: i64 = 15 * 60 * 1000;
/// GetRecords returns at most this many records, and at most `MAX_RECORDS_BYTES` of them.
pub const MAX_RECORDS: usize = 1000;
pub const MAX_RECORDS_BYTES: usize = 1024 * 1024;
/// Records deleted per trimming batch.
const TRIM_CHUNK: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewType {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

impl ViewType {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "KEYS_ONLY" => Self::KeysOnly,
            "NEW_IMAGE" => Self::NewImage,
            "OLD_IMAGE" => Self::OldImage,
            "NEW_AND_OLD_IMAGES" => Self::NewAndOldImages,
            other => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{other}' at 'streamSpecification.streamViewType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]"
                )));
            }
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeysOnly => "KEYS_ONLY",
            Self::NewImage => "NEW_IMAGE",
            Self::OldImage => "OLD_IMAGE",
            Self::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }
    fn keeps_old(self) -> bool {
        matches!(self, Self::OldImage | Self::NewAndOldImages)
    }
    fn keeps_new(self) -> bool {
        matches!(self, Self::NewImage | Self::NewAndOldImages)
    }
}

/// One stream of a table (the current one, or an earlier one kept for its retention period).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamMeta {
    /// The records' key space, allocated from the table id counter (never reused).
    pub id: u64,
    /// StreamLabel: the creation time, `YYYY-MM-DDThh:mm:ss.sss`.
    pub label: String,
    pub view_type: ViewType,
    pub created_millis: i64,
    /// The watermark when the stream was enabled: its shard's first sequence number.
    pub start_seq: u64,
    /// When the stream was disabled, and the last sequence number it can hold.
    pub disabled: Option<(i64, u64)>,
}

impl StreamMeta {
    pub fn shard_id(&self) -> String {
        format!("shardId-{:020}-{:08x}", self.created_millis, crate::store::keys::stable_hash(self.label.as_bytes()))
    }
}

/// StreamSpecification as CreateTable / UpdateTable carry it.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub enabled: bool,
    pub view_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EventName {
    Insert = 1,
    Modify = 2,
    Remove = 3,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "INSERT",
            Self::Modify => "MODIFY",
            Self::Remove => "REMOVE",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub seq: u64,
    pub event: EventName,
    pub created_millis: i64,
    pub keys: Item,
    pub old_image: Option<Item>,
    pub new_image: Option<Item>,
    pub size_bytes: usize,
    /// Written by DynamoDB itself (a TTL deletion): userIdentity is the service principal.
    pub by_service: bool,
}

/// Hands out sequence numbers and tracks those not yet committed.
pub struct Sequencer {
    state: Mutex<SeqState>,
}

struct SeqState {
    next: u64,
    in_flight: BTreeSet<u64>,
}

/// A sequence number being committed; dropping it (after the commit, or on failure) lets readers
/// move past it.
pub struct SeqTicket {
    pub seq: u64,
    owner: Arc<Sequencer>,
}

impl Drop for SeqTicket {
    fn drop(&mut self) {
        self.owner.state.lock().unwrap_or_else(|e| e.into_inner()).in_flight.remove(&self.seq);
    }
}

impl Sequencer {
    /// Starts above every number used before: the largest stored one, and the current time in
    /// microseconds, which no earlier process can have reached (it allocates far fewer than one
    /// number per microsecond), so numbers allocated but never committed before a crash are not reused.
    pub fn new(largest_used: u64) -> Arc<Self> {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        Arc::new(Self {
            state: Mutex::new(SeqState { next: largest_used.max(micros) + 1, in_flight: BTreeSet::new() }),
        })
    }

    pub fn allocate(self: &Arc<Self>) -> SeqTicket {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let seq = s.next;
        s.next += 1;
        s.in_flight.insert(seq);
        SeqTicket { seq, owner: self.clone() }
    }

    /// The last number handed out.
    pub fn last_allocated(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).next - 1
    }

    /// Every number below this is committed or abandoned.
    pub fn watermark(&self) -> u64 {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.in_flight.first().copied().unwrap_or(s.next)
    }
}

/// Where a shard iterator points: the next sequence number to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIterator {
    pub table: String,
    pub label: String,
    pub next_seq: u64,
    pub issued_millis: i64,
}

impl ShardIterator {
    /// An opaque token: the stream, the position and the issue time, hex-encoded.
    pub fn encode(&self) -> String {
        let hex: String = self.table.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{hex}|{}|{:x}|{:x}", self.label, self.next_seq, self.issued_millis)
    }

    pub fn decode(s: &str) -> Result<Self> {
        let bad = || invalid("Invalid ShardIterator");
        let mut parts = s.split('|');
        let (Some(hex), Some(label), Some(seq), Some(issued), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if hex.len() % 2 != 0 {
            return Err(bad());
        }
        let bytes: Option<Vec<u8>> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        let table = bytes.and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
        Ok(Self {
            table,
            label: label.to_string(),
            next_seq: u64::from_str_radix(seq, 16).map_err(|_| bad())?,
            issued_millis: i64::from_str_radix(issued, 16).map_err(|_| bad())?,
        })
    }
}

pub fn format_seq(seq: u64) -> String {
    format!("{seq:021}")
}

fn parse_seq(s: &str) -> Result<u64> {
    s.parse::<u64>().map_err(|_| {
        invalid(format!(
            "1 validation error detected: Value '{s}' at 'sequenceNumber' failed to satisfy constraint: Member must have length less than or equal to 40, Member must have length greater than or equal to 21"
        ))
    })
}

/// The record of replacing `old` by `new` as `view` shows it; `None` when the item did not change.
pub fn record_for(
    meta: &TableMeta,
    view: ViewType,
    old: Option<&Item>,
    new: Option<&Item>,
    created_millis: i64,
    by_service: bool,
) -> Option<StreamRecord> {
    let event = match (old, new) {
        (None, Some(_)) => EventName::Insert,
        (Some(o), Some(n)) if o != n => EventName::Modify,
        (Some(_), None) => EventName::Remove,
        _ => return None,
    };
    let keys = key_attributes(meta, new.or(old)?);
    let old_image = old.filter(|_| view.keeps_old()).cloned();
    let new_image = new.filter(|_| view.keeps_new()).cloned();
    let size_bytes =
        item_size(&keys) + old_image.as_ref().map_or(0, item_size) + new_image.as_ref().map_or(0, item_size);
    Some(StreamRecord { seq: 0, event, created_millis, keys, old_image, new_image, size_bytes, by_service })
}

/// A summary row of ListStreams.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    pub table: String,
    pub label: String,
}

/// What DescribeStream reports.
#[derive(Debug, Clone)]
pub struct StreamDescription {
    pub table: TableMeta,
    pub stream: StreamMeta,
    /// The shard's sequence number range (ending only once the stream is disabled).
    pub starting_seq: u64,
    pub ending_seq: Option<u64>,
}

pub struct RecordsPage {
    pub records: Vec<StreamRecord>,
    pub view_type: ViewType,
    pub next: Option<String>,
}

fn stream_not_found(table: &str, label: &str) -> EngineError {
    EngineError::ResourceNotFound(format!("Requested resource not found: Stream: {table}/stream/{label} not found"))
}

impl Engine {
    pub(super) fn now_millis(&self) -> i64 {
        (self.clock.wall().unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// Stages the stream record of a write into `batch`; the ticket must live until the batch is
    /// committed (or dropped).
    pub(super) fn stage_stream(
        &self,
        meta: &TableMeta,
        old: Option<&Item>,
        new: Option<&Item>,
        by_service: bool,
        batch: &mut ItemBatch,
    ) -> Option<SeqTicket> {
        let stream = meta.active_stream()?;
        let mut record = record_for(meta, stream.view_type, old, new, self.now_millis(), by_service)?;
        let ticket = self.sequencer.allocate();
        record.seq = ticket.seq;
        batch.stream_record(stream.id, ticket.seq, &record);
        Some(ticket)
    }

    /// A new stream's description (its key space id allocated now).
    pub(super) fn new_stream(&self, spec: &StreamSpec) -> Result<Option<StreamMeta>> {
        if !spec.enabled {
            if spec.view_type.is_some() {
                return Err(invalid(
                    "One or more parameter values were invalid: StreamViewType cannot be specified when StreamEnabled is false",
                ));
            }
            return Ok(None);
        }
        let view = spec.view_type.as_deref().ok_or_else(|| {
            invalid("One or more parameter values were invalid: StreamViewType is required when StreamEnabled is true")
        })?;
        let view_type = ViewType::parse(view)?;
        let now = self.clock.wall();
        let label = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            now.millisecond()
        );
        Ok(Some(StreamMeta {
            id: self.next_table_id.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            label,
            view_type,
            created_millis: self.now_millis(),
            start_seq: self.sequencer.watermark(),
            disabled: None,
        }))
    }

    /// UpdateTable's StreamSpecification: enable a new stream or disable the current one.
    pub(super) fn update_stream(&self, table: &Table, spec: &StreamSpec) -> Result<()> {
        let mut current = table.meta.write().expect("meta lock");
        let mut meta = current.clone();
        match (spec.enabled, meta.active_stream().is_some()) {
            (true, true) => {
                return Err(invalid(format!("Table already has an enabled stream: TableName: {}", meta.name)));
            }
            (false, false) => {
                return Err(invalid(format!("Table does not have an enabled stream: TableName: {}", meta.name)));
            }
            (true, false) => meta.streams.push(self.new_stream(spec)?.expect("enabled")),
            (false, true) => {
                if spec.view_type.is_some() {
                    return Err(invalid(
                        "One or more parameter values were invalid: StreamViewType cannot be specified when StreamEnabled is false",
                    ));
                }
                // Writes number their records under the table's meta lock (held here), so every
                // record of this stream has a number up to the last one handed out.
                let last = self.sequencer.last_allocated();
                let now = self.now_millis();
                let stream = meta.streams.last_mut().expect("active stream");
                stream.disabled = Some((now, last));
            }
        }
        self.store.put_table(&meta, Some(self.next_table_id.load(std::sync::atomic::Ordering::SeqCst)))?;
        *current = meta;
        Ok(())
    }

    fn find_stream(&self, table: &str, label: &str) -> Result<(TableMeta, StreamMeta)> {
        let meta = self.table_named(table, true).map_err(|_| stream_not_found(table, label))?.snapshot();
        let stream =
            meta.streams.iter().find(|s| s.label == label).cloned().ok_or_else(|| stream_not_found(table, label))?;
        Ok((meta, stream))
    }

    fn horizon(&self, stream: &StreamMeta) -> u64 {
        let trimmed = self.stream_horizons.lock().expect("horizons lock").get(&stream.id).copied().unwrap_or(0);
        trimmed.max(stream.start_seq)
    }

    /// ListStreams: every stream (of one table, or of all), ordered by table then label.
    pub fn list_streams(
        &self,
        table: Option<&str>,
        limit: usize,
        exclusive_start: Option<(String, String)>,
    ) -> Result<(Vec<StreamSummary>, Option<StreamSummary>)> {
        if !(1..=100).contains(&limit) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value {}",
                if limit < 1 { "greater than or equal to 1" } else { "less than or equal to 100" }
            )));
        }
        let metas: Vec<TableMeta> = match table {
            Some(name) => vec![self.table_named(name, true)?.snapshot()],
            None => self.tables.read().expect("tables lock").values().map(|t| t.snapshot()).collect(),
        };
        let mut all: Vec<(String, String)> =
            metas.iter().flat_map(|m| m.streams.iter().map(|s| (m.name.clone(), s.label.clone()))).collect();
        all.sort();
        let page: Vec<(String, String)> =
            all.into_iter().filter(|s| exclusive_start.as_ref().is_none_or(|start| s > start)).collect();
        let more = page.len() > limit;
        let page: Vec<StreamSummary> =
            page.into_iter().take(limit).map(|(table, label)| StreamSummary { table, label }).collect();
        let last = if more { page.last().cloned() } else { None };
        Ok((page, last))
    }

    pub fn describe_stream(&self, table: &str, label: &str) -> Result<StreamDescription> {
        let (meta, stream) = self.find_stream(table, label)?;
        Ok(StreamDescription {
            starting_seq: self.horizon(&stream),
            ending_seq: stream.disabled.map(|(_, last)| last),
            table: meta,
            stream,
        })
    }

    pub fn get_shard_iterator(
        &self,
        table: &str,
        label: &str,
        shard_id: &str,
        iterator_type: &str,
        sequence_number: Option<&str>,
    ) -> Result<String> {
        let (_, stream) = self.find_stream(table, label)?;
        if shard_id != stream.shard_id() {
            return Err(EngineError::ResourceNotFound(format!(
                "Requested resource not found: Shard does not exist: {shard_id}"
            )));
        }
        let horizon = self.horizon(&stream);
        let end = stream.disabled.map(|(_, last)| last + 1);
        let at = |seq: Option<&str>, after: bool| -> Result<u64> {
            let s = seq.ok_or_else(|| {
                invalid(format!("Must specify a SequenceNumber with ShardIteratorType {iterator_type}"))
            })?;
            let seq = parse_seq(s)?;
            if seq < horizon && horizon > stream.start_seq {
                return Err(EngineError::TrimmedDataAccess(format!(
                    "The operation attempted to read past the oldest stream record in a shard: {s}"
                )));
            }
            Ok(seq.max(stream.start_seq) + u64::from(after))
        };
        let next_seq = match iterator_type {
            "TRIM_HORIZON" => horizon,
            "LATEST" => end.unwrap_or_else(|| self.sequencer.watermark()),
            "AT_SEQUENCE_NUMBER" => at(sequence_number, false)?,
            "AFTER_SEQUENCE_NUMBER" => at(sequence_number, true)?,
            other => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{other}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"
                )));
            }
        };
        if matches!(iterator_type, "TRIM_HORIZON" | "LATEST") && sequence_number.is_some() {
            return Err(invalid(format!("Must not specify a SequenceNumber with ShardIteratorType {iterator_type}")));
        }
        let it = ShardIterator {
            table: table.to_string(),
            label: label.to_string(),
            next_seq,
            issued_millis: self.now_millis(),
        };
        Ok(it.encode())
    }

    /// GetRecords: the committed records from the iterator's position on, and the next iterator
    /// (none once a disabled stream has been read to its end).
    pub fn get_records(&self, iterator: &str, limit: Option<usize>) -> Result<RecordsPage> {
        let limit = limit.unwrap_or(MAX_RECORDS);
        if !(1..=MAX_RECORDS).contains(&limit) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value {}",
                if limit < 1 { "greater than or equal to 1" } else { "less than or equal to 1000" }
            )));
        }
        let it = ShardIterator::decode(iterator)?;
        let now = self.now_millis();
        if now - it.issued_millis > ITERATOR_LIFETIME_MILLIS {
            return Err(EngineError::ExpiredIterator(format!(
                "Iterator expired. The iterator was created at time {} while right now it's {}",
                it.issued_millis, now
            )));
        }
        let (_, stream) = self.find_stream(&it.table, &it.label)?;
        let horizon = self.horizon(&stream);
        if it.next_seq < horizon && horizon > stream.start_seq {
            return Err(EngineError::TrimmedDataAccess(
                "The operation attempted to read past the oldest stream record in a shard".into(),
            ));
        }
        let watermark = self.sequencer.watermark();
        let end = stream.disabled.map_or(watermark, |(_, last)| watermark.min(last + 1));
        let (mut records, mut bytes) = (Vec::new(), 0usize);
        self.store.scan_stream(stream.id, it.next_seq, |r| {
            if r.seq >= end
                || records.len() >= limit
                || (bytes + r.size_bytes > MAX_RECORDS_BYTES && !records.is_empty())
            {
                return false;
            }
            bytes += r.size_bytes;
            records.push(r);
            true
        })?;
        let next_seq = records.last().map_or(it.next_seq.max(horizon), |r| r.seq + 1);
        let closed_and_read = stream.disabled.is_some_and(|(_, last)| next_seq > last && watermark > last);
        let next = (!closed_and_read).then(|| ShardIterator { next_seq, issued_millis: now, ..it }.encode());
        Ok(RecordsPage { records, view_type: stream.view_type, next })
    }

    /// Deletes records older than the retention period, and streams disabled longer than it.
    pub fn trim_streams(&self) -> Result<usize> {
        let tables: Vec<Arc<Table>> = self.tables.read().expect("tables lock").values().cloned().collect();
        let cutoff = self.now_millis() - RETENTION_MILLIS;
        let mut trimmed = 0;
        for table in tables {
            for stream in table.snapshot().streams {
                while let Some(last) = self.store.trim_stream(stream.id, cutoff, TRIM_CHUNK)? {
                    let mut horizons = self.stream_horizons.lock().expect("horizons lock");
                    let h = horizons.entry(stream.id).or_insert(0);
                    *h = (*h).max(last + 1);
                    trimmed += 1;
                }
                if stream.disabled.is_some_and(|(at, _)| at < cutoff) {
                    let mut current = table.meta.write().expect("meta lock");
                    let mut meta = current.clone();
                    meta.streams.retain(|s| s.id != stream.id);
                    self.store.drop_index(&meta, stream.id)?;
                    *current = meta;
                    drop(current);
                    super::tables::spawn_purge(self.store.clone(), stream.id);
                }
            }
        }
        Ok(trimmed)
    }

    /// The largest sequence number stored in any stream, and the horizons of streams (after a
    /// restart the trimmed part of a stream is unknown, so its horizon is its first record).
    pub(super) fn stream_state(store: &crate::store::Store, metas: &[TableMeta]) -> Result<(u64, HashMap<u64, u64>)> {
        let mut largest = 0;
        for stream in metas.iter().flat_map(|m| m.streams.iter()) {
            largest = largest.max(stream.start_seq);
            if let Some(last) = store.last_stream_seq(stream.id)? {
                largest = largest.max(last);
            }
        }
        Ok((largest, HashMap::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_waits_for_the_lowest_uncommitted_number() {
        let seq = Sequencer::new(0);
        let a = seq.allocate();
        let b = seq.allocate();
        assert_eq!(seq.watermark(), a.seq);
        drop(b);
        assert_eq!(seq.watermark(), a.seq, "a later commit does not move the watermark past an earlier one");
        let a_seq = a.seq;
        drop(a);
        assert_eq!(seq.watermark(), a_seq + 2);
    }

    #[test]
    fn sequence_numbers_start_above_every_used_one() {
        let big = u64::MAX / 2;
        assert_eq!(Sequencer::new(big).allocate().seq, big + 1);
        assert!(Sequencer::new(0).allocate().seq > 1_600_000_000_000_000, "starts at the time in microseconds");
    }

    #[test]
    fn iterators_round_trip() {
        let it = ShardIterator {
            table: "a|b.c".into(),
            label: "2026-01-01T00:00:00.000".into(),
            next_seq: 42,
            issued_millis: 7,
        };
        assert_eq!(ShardIterator::decode(&it.encode()).unwrap(), it);
        assert!(ShardIterator::decode("nonsense").is_err());
        assert!(ShardIterator::decode("zz|l|1|1").is_err());
    }
}
