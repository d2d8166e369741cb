//! Stream records on disk: keyed `stream id | sequence number` (both big-endian, so one stream's
//! records are one ordered range), valued in a compact binary form that reuses the item codec.

use common::kv::{Direction, KeyRange, WriteBatch};

use super::codec::{self, Corrupt};
use super::{STREAMS, Store};
use crate::engine::error::{EngineError, Result};
use crate::engine::streams::{EventName, StreamRecord};
use crate::engine::value::Item;

pub fn record_key(stream_id: u64, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(16);
    key.extend_from_slice(&stream_id.to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

const HAS_OLD: u8 = 1;
const HAS_NEW: u8 = 2;
const BY_SERVICE: u8 = 4;

fn put_item(out: &mut Vec<u8>, item: &Item) {
    let bytes = codec::encode_item(item);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&bytes);
}

pub fn encode_record(r: &StreamRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(r.event as u8);
    let mut flags = 0;
    if r.old_image.is_some() {
        flags |= HAS_OLD;
    }
    if r.new_image.is_some() {
        flags |= HAS_NEW;
    }
    if r.by_service {
        flags |= BY_SERVICE;
    }
    out.push(flags);
    out.extend_from_slice(&r.created_millis.to_be_bytes());
    out.extend_from_slice(&(r.size_bytes as u32).to_be_bytes());
    put_item(&mut out, &r.keys);
    for image in [&r.old_image, &r.new_image].into_iter().flatten() {
        put_item(&mut out, image);
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], Corrupt> {
        if self.0.len() < n {
            return Err(Corrupt);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> std::result::Result<u32, Corrupt> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().map_err(|_| Corrupt)?))
    }
    fn item(&mut self) -> std::result::Result<Item, Corrupt> {
        let len = self.u32()? as usize;
        codec::decode_item(self.take(len)?)
    }
}

pub fn decode_record(seq: u64, buf: &[u8]) -> std::result::Result<StreamRecord, Corrupt> {
    let mut r = Reader(buf);
    let event = match r.take(1)?[0] {
        1 => EventName::Insert,
        2 => EventName::Modify,
        3 => EventName::Remove,
        _ => return Err(Corrupt),
    };
    let flags = r.take(1)?[0];
    let created_millis = i64::from_be_bytes(r.take(8)?.try_into().map_err(|_| Corrupt)?);
    let size_bytes = r.u32()? as usize;
    let keys = r.item()?;
    let old_image = if flags & HAS_OLD != 0 { Some(r.item()?) } else { None };
    let new_image = if flags & HAS_NEW != 0 { Some(r.item()?) } else { None };
    Ok(StreamRecord {
        seq,
        event,
        created_millis,
        keys,
        old_image,
        new_image,
        size_bytes,
        by_service: flags & BY_SERVICE != 0,
    })
}

fn seq_of(key: &[u8]) -> Result<u64> {
    key.get(8..16)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| EngineError::Internal("corrupt stream record key".into()))
}

impl Store {
    /// Calls `f` with each record of `stream_id` from sequence number `from` on, in order, until it
    /// returns false.
    pub fn scan_stream(&self, stream_id: u64, from: u64, mut f: impl FnMut(StreamRecord) -> bool) -> Result<()> {
        let end = record_key(stream_id, u64::MAX);
        let range = KeyRange::between(record_key(stream_id, from), end);
        for entry in self.kv.scan(STREAMS, range, Direction::Forward)? {
            let (k, v) = entry?;
            let record =
                decode_record(seq_of(&k)?, &v).map_err(|_| EngineError::Internal("corrupt stream record".into()))?;
            if !f(record) {
                break;
            }
        }
        Ok(())
    }

    /// The highest sequence number stored for `stream_id`.
    pub fn last_stream_seq(&self, stream_id: u64) -> Result<Option<u64>> {
        let range = KeyRange::between(record_key(stream_id, 0), record_key(stream_id, u64::MAX));
        match self.kv.scan(STREAMS, range, Direction::Reverse)?.next() {
            Some(entry) => Ok(Some(seq_of(&entry?.0)?)),
            None => Ok(None),
        }
    }

    /// Deletes the records of `stream_id` created before `cutoff_millis` (at most `max` of them);
    /// returns the sequence number of the last one deleted.
    pub fn trim_stream(&self, stream_id: u64, cutoff_millis: i64, max: usize) -> Result<Option<u64>> {
        let mut batch = WriteBatch::new();
        let mut last = None;
        self.scan_stream(stream_id, 0, |r| {
            if r.created_millis >= cutoff_millis || batch.len() >= max {
                return false;
            }
            batch.delete(STREAMS, record_key(stream_id, r.seq));
            last = Some(r.seq);
            true
        })?;
        if !batch.is_empty() {
            self.kv.write(batch)?;
        }
        Ok(last)
    }
}
