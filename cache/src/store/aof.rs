//! The append-only file's format: RESP arrays of the write commands, as Redis writes them. A rewrite
//! stores the dataset as the shortest commands that rebuild it, with absolute expiry times.

use bytes::{Bytes, BytesMut};

use crate::engine::{Value, View};

pub fn encode_command(out: &mut Vec<u8>, args: &[Bytes]) {
    let mut b = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(b.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(b.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn cmd(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let args: Vec<Bytes> = parts.iter().map(|p| Bytes::copy_from_slice(p)).collect();
    encode_command(out, &args);
}

/// The whole keyspace as commands (the caller holds every shard).
pub fn dataset_as_commands(view: &mut View<'_>) -> Vec<u8> {
    let now = view.now;
    let mut out = Vec::new();
    let mut current_db = usize::MAX;
    for (db, shard) in view.all_shards() {
        for (k, e) in shard.map.iter() {
            if e.expire_at != 0 && e.expire_at <= now {
                continue;
            }
            if db != current_db {
                cmd(&mut out, &[b"SELECT", db.to_string().as_bytes()]);
                current_db = db;
            }
            match &e.value {
                Value::Str(s) => cmd(&mut out, &[b"SET", k, s]),
                Value::Hash(h) => {
                    let mut parts: Vec<&[u8]> = vec![b"HSET", k];
                    for (f, v) in h.iter() {
                        parts.push(f);
                        parts.push(v);
                    }
                    cmd(&mut out, &parts);
                }
                Value::List(l) => {
                    let mut parts: Vec<&[u8]> = vec![b"RPUSH", k];
                    parts.extend(l.iter().map(|i| &i[..]));
                    cmd(&mut out, &parts);
                }
                Value::Set(s) => {
                    let mut parts: Vec<&[u8]> = vec![b"SADD", k];
                    parts.extend(s.iter().map(|i| &i[..]));
                    cmd(&mut out, &parts);
                }
                Value::ZSet(z) => {
                    let scores: Vec<String> = z.members_scores().map(|(_, s)| format!("{s:?}")).collect();
                    let mut parts: Vec<&[u8]> = vec![b"ZADD", k];
                    for ((m, _), s) in z.members_scores().zip(&scores) {
                        parts.push(s.as_bytes());
                        parts.push(m);
                    }
                    cmd(&mut out, &parts);
                }
            }
            if e.expire_at != 0 {
                cmd(&mut out, &[b"PEXPIREAT", k, e.expire_at.to_string().as_bytes()]);
            }
        }
    }
    out
}

/// Splits an AOF into commands. Returns the commands and the length of the valid prefix: a command
/// cut short by a crash (or garbage after it) ends the replay there.
pub fn parse_commands(data: &[u8]) -> (Vec<Vec<Bytes>>, usize) {
    let frozen = BytesMut::from(data).freeze();
    let mut pos = 0;
    let mut ranges = Vec::new();
    let mut cmds = Vec::new();
    while pos < frozen.len() {
        if frozen[pos] != b'*' {
            break;
        }
        match crate::protocol::resp::parse_request(&frozen[pos..], &mut ranges) {
            Ok(Some(n)) => {
                let args: Vec<Bytes> = ranges.iter().map(|r| frozen.slice(pos + r.start..pos + r.end)).collect();
                if !args.is_empty() {
                    cmds.push(args);
                }
                pos += n;
            }
            _ => break,
        }
    }
    (cmds, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_tail_is_dropped() {
        let mut data = Vec::new();
        encode_command(&mut data, &[Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from_static(b"v")]);
        let good = data.len();
        encode_command(&mut data, &[Bytes::from_static(b"SET"), Bytes::from_static(b"k2"), Bytes::from_static(b"v2")]);
        data.truncate(data.len() - 3);
        let (cmds, valid) = parse_commands(&data);
        assert_eq!(cmds.len(), 1);
        assert_eq!(valid, good);
    }
}
