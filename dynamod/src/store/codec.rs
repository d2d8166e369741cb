//! How an item is laid out in a stored value: a compact binary form (tag bytes and varint lengths),
//! cheaper to write and read than JSON.

use crate::engine::number::Number;
use crate::engine::value::{AttrValue, Item};

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len());
    out.extend_from_slice(b);
}

pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_map(&mut out, item);
    out
}

fn encode_map(out: &mut Vec<u8>, map: &Item) {
    put_varint(out, map.len());
    for (k, v) in map {
        put_bytes(out, k.as_bytes());
        encode_value(out, v);
    }
}

fn encode_value(out: &mut Vec<u8>, v: &AttrValue) {
    match v {
        AttrValue::S(s) => {
            out.push(1);
            put_bytes(out, s.as_bytes());
        }
        AttrValue::N(n) => {
            out.push(2);
            put_bytes(out, n.to_string().as_bytes());
        }
        AttrValue::B(b) => {
            out.push(3);
            put_bytes(out, b);
        }
        AttrValue::Bool(b) => out.push(if *b { 5 } else { 4 }),
        AttrValue::Null => out.push(6),
        AttrValue::L(l) => {
            out.push(7);
            put_varint(out, l.len());
            l.iter().for_each(|v| encode_value(out, v));
        }
        AttrValue::M(m) => {
            out.push(8);
            encode_map(out, m);
        }
        AttrValue::Ss(s) => {
            out.push(9);
            put_varint(out, s.len());
            s.iter().for_each(|s| put_bytes(out, s.as_bytes()));
        }
        AttrValue::Ns(s) => {
            out.push(10);
            put_varint(out, s.len());
            s.iter().for_each(|n| put_bytes(out, n.to_string().as_bytes()));
        }
        AttrValue::Bs(s) => {
            out.push(11);
            put_varint(out, s.len());
            s.iter().for_each(|b| put_bytes(out, b));
        }
    }
}

/// A stored value that does not decode means on-disk corruption.
#[derive(Debug, thiserror::Error)]
#[error("corrupt item record")]
pub struct Corrupt;

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Corrupt> {
        let (&b, rest) = self.buf.split_first().ok_or(Corrupt)?;
        self.buf = rest;
        Ok(b)
    }
    fn varint(&mut self) -> Result<usize, Corrupt> {
        let mut n = 0usize;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Corrupt)
    }
    fn bytes(&mut self) -> Result<&'a [u8], Corrupt> {
        let len = self.varint()?;
        if len > self.buf.len() {
            return Err(Corrupt);
        }
        let (b, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(b)
    }
    fn string(&mut self) -> Result<String, Corrupt> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| Corrupt)
    }
    fn number(&mut self) -> Result<Number, Corrupt> {
        Number::parse(&self.string()?).map_err(|_| Corrupt)
    }
    fn map(&mut self) -> Result<Item, Corrupt> {
        let n = self.varint()?;
        let mut map = Item::new();
        for _ in 0..n {
            let k = self.string()?;
            map.insert(k, self.value()?);
        }
        Ok(map)
    }
    fn list<T>(&mut self, mut f: impl FnMut(&mut Self) -> Result<T, Corrupt>) -> Result<Vec<T>, Corrupt> {
        let n = self.varint()?;
        let mut out = Vec::with_capacity(n.min(self.buf.len()));
        for _ in 0..n {
            out.push(f(self)?);
        }
        Ok(out)
    }
    fn value(&mut self) -> Result<AttrValue, Corrupt> {
        Ok(match self.byte()? {
            1 => AttrValue::S(self.string()?),
            2 => AttrValue::N(self.number()?),
            3 => AttrValue::B(self.bytes()?.to_vec()),
            4 => AttrValue::Bool(false),
            5 => AttrValue::Bool(true),
            6 => AttrValue::Null,
            7 => AttrValue::L(self.list(|r| r.value())?),
            8 => AttrValue::M(self.map()?),
            9 => AttrValue::Ss(self.list(|r| r.string())?),
            10 => AttrValue::Ns(self.list(|r| r.number())?),
            11 => AttrValue::Bs(self.list(|r| Ok(r.bytes()?.to_vec()))?),
            _ => return Err(Corrupt),
        })
    }
}

pub fn decode_item(buf: &[u8]) -> Result<Item, Corrupt> {
    Reader { buf }.map()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut inner = Item::new();
        inner.insert("x".into(), AttrValue::Ns(vec![Number::parse("1.5").unwrap(), Number::parse("-2").unwrap()]));
        let mut item = Item::new();
        item.insert("s".into(), AttrValue::S("héllo".into()));
        item.insert("b".into(), AttrValue::B(vec![0, 1, 255]));
        item.insert("l".into(), AttrValue::L(vec![AttrValue::Null, AttrValue::Bool(true), AttrValue::M(inner)]));
        item.insert("ss".into(), AttrValue::Ss(vec!["a".into(), "b".into()]));
        item.insert("bs".into(), AttrValue::Bs(vec![vec![1], vec![2]]));
        assert_eq!(decode_item(&encode_item(&item)).unwrap(), item);
        assert!(decode_item(&[5, 1]).is_err());
    }
}
