//! The snapshot file: every live key of every database, written to a temp file, fsynced, renamed over
//! the old one (and the directory fsynced), so a crash leaves either the old or the new snapshot.
//!
//! Layout: magic, then records `db:u8 type:u8 expire_ms:u64 key value`, then `0xFF` and a CRC-32 of
//! everything before it. Strings are `len:u32 bytes`; aggregates are `count:u32` elements.

use std::io::Write;
use std::path::Path;

use crate::engine::keyspace::{Blob, Map, Set};
use crate::engine::zset::ZSet;
use crate::engine::{Engine, Value};

const MAGIC: &[u8] = b"STRATUS-CACHE-SNAPSHOT\x01";
const END: u8 = 0xFF;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("snapshot file is corrupt: {0}")]
    Corrupt(&'static str),
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

pub fn encode_entry(out: &mut Vec<u8>, db: usize, key: &[u8], value: &Value, expire_at: u64) {
    let ty = match value {
        Value::Str(_) => 0u8,
        Value::Hash(_) => 1,
        Value::List(_) => 2,
        Value::Set(_) => 3,
        Value::ZSet(_) => 4,
    };
    out.push(db as u8);
    out.push(ty);
    out.extend_from_slice(&expire_at.to_le_bytes());
    put_bytes(out, key);
    match value {
        Value::Str(s) => put_bytes(out, s),
        Value::Hash(h) => {
            out.extend_from_slice(&(h.len() as u32).to_le_bytes());
            for (k, v) in h.iter() {
                put_bytes(out, k);
                put_bytes(out, v);
            }
        }
        Value::List(l) => {
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
            for i in l.iter() {
                put_bytes(out, i);
            }
        }
        Value::Set(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            for m in s.iter() {
                put_bytes(out, m);
            }
        }
        Value::ZSet(z) => {
            out.extend_from_slice(&(z.len() as u32).to_le_bytes());
            for (m, s) in z.members_scores() {
                put_bytes(out, m);
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
    }
}

/// Serialises the keyspace one shard at a time (writers wait only for the shard being copied).
pub fn encode(eng: &Engine) -> Vec<u8> {
    let now = eng.now_ms();
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(MAGIC);
    for slot in 0..eng.slot_count() {
        let db = slot / eng.shards_per_db;
        let shard = eng.lock_slot(slot);
        for (k, e) in shard.map.iter() {
            if e.expire_at != 0 && e.expire_at <= now {
                continue;
            }
            encode_entry(&mut out, db, k, &e.value, e.expire_at);
        }
    }
    out.push(END);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Writes `data` to `path` atomically (temp file, fsync, rename, fsync of the directory).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("snap"),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SnapshotError> {
        if self.pos + n > self.data.len() {
            return Err(SnapshotError::Corrupt("truncated record"));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<usize, SnapshotError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize)
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn blob(&mut self) -> Result<Blob, SnapshotError> {
        let n = self.u32()?;
        Ok(self.take(n)?.into())
    }
}

/// Parses a snapshot and calls `load(db, key, value, expire_at)` for each entry.
pub fn decode(data: &[u8], mut load: impl FnMut(usize, Blob, Value, u64)) -> Result<usize, SnapshotError> {
    if data.len() < MAGIC.len() + 5 || &data[..MAGIC.len()] != MAGIC {
        return Err(SnapshotError::Corrupt("bad magic"));
    }
    let body = &data[..data.len() - 4];
    let crc = u32::from_le_bytes(data[data.len() - 4..].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc || body.last() != Some(&END) {
        return Err(SnapshotError::Corrupt("checksum mismatch"));
    }
    let mut r = Reader { data: &body[..body.len() - 1], pos: MAGIC.len() };
    let mut n = 0;
    while r.pos < r.data.len() {
        let db = r.u8()? as usize;
        if db >= crate::engine::ALL_DATABASES {
            return Err(SnapshotError::Corrupt("database index out of range"));
        }
        let ty = r.u8()?;
        let expire_at = r.u64()?;
        let key = r.blob()?;
        let value = match ty {
            0 => Value::Str(r.blob()?.into()),
            1 => {
                let c = r.u32()?;
                let mut h = Map::default();
                for _ in 0..c {
                    let k = r.blob()?;
                    h.insert(k.into(), r.blob()?.into());
                }
                Value::Hash(Box::new(h))
            }
            2 => {
                let c = r.u32()?;
                let mut l = std::collections::VecDeque::new();
                for _ in 0..c {
                    l.push_back(r.blob()?.into());
                }
                Value::List(Box::new(l))
            }
            3 => {
                let c = r.u32()?;
                let mut s = Set::default();
                for _ in 0..c {
                    s.insert(r.blob()?);
                }
                Value::Set(Box::new(s))
            }
            4 => {
                let c = r.u32()?;
                let mut z = ZSet::default();
                for _ in 0..c {
                    let m = r.blob()?;
                    let s = f64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
                    z.insert(&m, s);
                }
                Value::ZSet(Box::new(z))
            }
            _ => return Err(SnapshotError::Corrupt("unknown value type")),
        };
        load(db, key, value, expire_at);
        n += 1;
    }
    Ok(n)
}

/// Loads `data` into the engine (expired entries are skipped).
pub fn load_into(eng: &Engine, data: &[u8]) -> Result<usize, SnapshotError> {
    let now = eng.now_ms();
    decode(data, |db, key, value, expire_at| {
        if expire_at != 0 && expire_at <= now {
            return;
        }
        let mut v = eng.lock_keys(db, [&key[..]]);
        v.insert(&key, value, expire_at);
    })
}

/// Rough serialized size of a value (MEMORY USAGE).
pub fn approx_size(v: &Value) -> usize {
    let mut buf = Vec::new();
    encode_entry(&mut buf, 0, b"", v, 0);
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineConfig};

    #[test]
    fn round_trip_every_type() {
        let eng = Engine::new(common::clock::SystemClock::shared(), 4, EngineConfig::default());
        {
            let mut v = eng.lock_all(0);
            v.insert(b"s", Value::Str(b"hello"[..].into()), 0);
            let mut h = Map::default();
            h.insert(b"f"[..].into(), b"v"[..].into());
            v.insert(b"h", Value::Hash(Box::new(h)), eng.now_ms() + 100_000);
            v.insert(b"l", Value::List(Box::new([b"a"[..].into(), b"b"[..].into()].into_iter().collect())), 0);
            let mut z = ZSet::default();
            z.insert(b"m", 1.5);
            v.insert(b"z", Value::ZSet(Box::new(z)), 0);
            v.db = 3;
            let mut s = Set::default();
            s.insert(b"x"[..].into());
            v.insert(b"set", Value::Set(Box::new(s)), 0);
        }
        let data = encode(&eng);
        let other = Engine::new(common::clock::SystemClock::shared(), 2, EngineConfig::default());
        assert_eq!(load_into(&other, &data).unwrap(), 5);
        let mut v = other.lock_all(0);
        assert_eq!(v.string(b"s").unwrap().unwrap(), b"hello");
        assert!(v.peek(b"h").unwrap().expire_at > 0);
        assert_eq!(v.zset(b"z", false).unwrap().unwrap().score(b"m"), Some(1.5));
        v.db = 3;
        assert!(v.set(b"set", false).unwrap().unwrap().contains(&b"x"[..]));
        let mut bad = data.clone();
        bad[30] ^= 1;
        assert!(decode(&bad, |_, _, _, _| {}).is_err());
    }
}
