//! The order-preserving encoding of key attributes (S, N, B) and the layout of item keys:
//! `table id (8 B) | hash of partition key (4 B) | enc(partition key) | enc(sort key)`.
//!
//! Each encoded component is self-delimiting, so one partition's keys never interleave with another's,
//! and bytewise order of encodings equals DynamoDB's order: S and B by bytes, N numerically.

use crate::engine::number::Number;
use crate::engine::value::AttrValue;

/// Escapes 0x00 as 0x00 0xFF and terminates with 0x00 0x01: order-preserving and prefix-free.
fn encode_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Numbers: a sign tag (negative < zero < positive), then for positives the exponent (offset, u16 BE)
/// and each digit as `digit + 1`, ended by 0x00 (a shorter mantissa is a smaller magnitude); negatives
/// store the bitwise complement of that, so larger magnitudes sort first.
fn encode_number(out: &mut Vec<u8>, n: &Number) {
    if n.is_zero() {
        out.push(0x02);
        return;
    }
    let (digits, exponent) = n.digits_and_exponent();
    let mut body = Vec::with_capacity(digits.len() + 3);
    body.extend_from_slice(&((exponent + 0x8000) as u16).to_be_bytes());
    body.extend(digits.bytes().map(|d| d - b'0' + 1));
    body.push(0x00);
    if n.is_negative() {
        out.push(0x01);
        out.extend(body.iter().map(|b| !b));
    } else {
        out.push(0x03);
        out.extend(body);
    }
}

/// Encodes one key attribute. Only S, N and B can be keys; the engine checks that before calling.
pub fn encode_component(out: &mut Vec<u8>, value: &AttrValue) {
    match value {
        AttrValue::S(s) => encode_bytes(out, s.as_bytes()),
        AttrValue::B(b) => encode_bytes(out, b),
        AttrValue::N(n) => encode_number(out, n),
        other => unreachable!("{} is not a key type", other.type_name()),
    }
}

/// FNV-1a: a stable hash (unlike std's), so keys written before a restart are found after it.
pub fn stable_hash(bytes: &[u8]) -> u32 {
    let h = fnv1a(bytes);
    (h ^ (h >> 32)) as u32
}

/// 64-bit FNV-1a, the same in every build and run.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Everything of a table's items starts with this.
pub fn table_prefix(table_id: u64) -> Vec<u8> {
    table_id.to_be_bytes().to_vec()
}

/// The prefix shared by every item of one partition.
pub fn partition_prefix(table_id: u64, partition: &AttrValue) -> Vec<u8> {
    let mut enc = Vec::new();
    encode_component(&mut enc, partition);
    let mut key = Vec::with_capacity(12 + enc.len());
    key.extend_from_slice(&table_id.to_be_bytes());
    key.extend_from_slice(&stable_hash(&enc).to_be_bytes());
    key.extend_from_slice(&enc);
    key
}

/// The full key of one item.
pub fn item_key(table_id: u64, partition: &AttrValue, sort: Option<&AttrValue>) -> Vec<u8> {
    let mut key = partition_prefix(table_id, partition);
    if let Some(sort) = sort {
        encode_component(&mut key, sort);
    }
    key
}

/// Start of the hash range `[segment/total, (segment+1)/total)` of a table's key space (parallel Scan).
pub fn segment_bounds(table_id: u64, segment: u32, total: u32) -> (Vec<u8>, Option<Vec<u8>>) {
    let bound = |s: u64| -> u64 { (s << 32) / u64::from(total) };
    let mut start = table_id.to_be_bytes().to_vec();
    start.extend_from_slice(&(bound(u64::from(segment)) as u32).to_be_bytes());
    let end_hash = bound(u64::from(segment) + 1);
    let end = if end_hash >= 1 << 32 {
        common::kv::prefix_successor(&table_id.to_be_bytes())
    } else {
        let mut end = table_id.to_be_bytes().to_vec();
        end.extend_from_slice(&(end_hash as u32).to_be_bytes());
        Some(end)
    };
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Ordering;

    fn enc(v: &AttrValue) -> Vec<u8> {
        let mut out = Vec::new();
        encode_component(&mut out, v);
        out
    }

    fn num(s: &str) -> AttrValue {
        AttrValue::N(Number::parse(s).unwrap())
    }

    #[test]
    fn numbers_sort_numerically() {
        let ordered = [
            "-1E+125", "-100", "-10", "-9.5", "-1", "-0.5", "-0.05", "-1E-130", "0", "1E-130", "0.05", "0.5", "1",
            "9.5", "10", "100", "1E+125",
        ];
        for pair in ordered.windows(2) {
            assert!(enc(&num(pair[0])) < enc(&num(pair[1])), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(enc(&num("1.50")), enc(&num("1.5")));
    }

    #[test]
    fn strings_with_zero_bytes_stay_ordered() {
        let a = AttrValue::B(vec![1, 0]);
        let b = AttrValue::B(vec![1, 0, 0]);
        let c = AttrValue::B(vec![1, 1]);
        assert!(enc(&a) < enc(&b) && enc(&b) < enc(&c));
    }

    #[test]
    fn segments_cover_the_table() {
        let (s0, e0) = segment_bounds(7, 0, 3);
        let (s1, _) = segment_bounds(7, 1, 3);
        let (_, e2) = segment_bounds(7, 2, 3);
        assert_eq!(s0, [table_prefix(7), vec![0, 0, 0, 0]].concat());
        assert_eq!(e0.unwrap(), s1);
        assert_eq!(e2, Some(table_prefix(8)));
    }

    fn number_strategy() -> impl Strategy<Value = Number> {
        (any::<bool>(), "[1-9][0-9]{0,37}", -120i64..80).prop_map(|(neg, digits, exp)| {
            let sign = if neg { "-" } else { "" };
            Number::parse(&format!("{sign}{digits}E{exp}")).unwrap()
        })
    }

    proptest! {
        #[test]
        fn number_encoding_order_equals_numeric_order(a in number_strategy(), b in number_strategy()) {
            let (ea, eb) = (enc(&AttrValue::N(a.clone())), enc(&AttrValue::N(b.clone())));
            prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
        }

        #[test]
        fn string_encoding_order_equals_byte_order(a in ".{0,12}", b in ".{0,12}") {
            let (ea, eb) = (enc(&AttrValue::S(a.clone())), enc(&AttrValue::S(b.clone())));
            prop_assert_eq!(ea.cmp(&eb), a.as_bytes().cmp(b.as_bytes()));
        }

        #[test]
        fn binary_encoding_is_ordered_and_prefix_free(a in proptest::collection::vec(any::<u8>(), 0..10), b in proptest::collection::vec(any::<u8>(), 0..10)) {
            let (ea, eb) = (enc(&AttrValue::B(a.clone())), enc(&AttrValue::B(b.clone())));
            prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
            if a != b {
                prop_assert!(!ea.starts_with(&eb) && !eb.starts_with(&ea));
            }
        }

        #[test]
        fn composite_keys_order_by_partition_then_sort(s1 in number_strategy(), s2 in number_strategy()) {
            let p = AttrValue::S("p".into());
            let k1 = item_key(1, &p, Some(&AttrValue::N(s1.clone())));
            let k2 = item_key(1, &p, Some(&AttrValue::N(s2.clone())));
            prop_assert_eq!(k1.cmp(&k2), s1.cmp(&s2));
            prop_assert!(k1.starts_with(&partition_prefix(1, &p)));
            let _ = Ordering::Equal;
        }
    }
}
