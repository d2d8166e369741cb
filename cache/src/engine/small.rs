//! Byte strings stored inline when short: keys and string values up to 22 bytes (most keys, counters,
//! flags, short ids) live inside the table entry itself. That saves a heap allocation per write and,
//! more importantly on the read path, a dependent cache miss per lookup.

use super::keyspace::Blob;

/// Longest string kept inline; with the length byte and the enum tag it fills 24 bytes, the size of
/// the boxed form.
const INLINE: usize = 22;

#[derive(Clone)]
pub enum SmallBytes {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Blob),
}

impl SmallBytes {
    pub fn new(k: &[u8]) -> SmallBytes {
        if k.len() <= INLINE {
            let mut data = [0u8; INLINE];
            data[..k.len()].copy_from_slice(k);
            SmallBytes::Inline { len: k.len() as u8, data }
        } else {
            SmallBytes::Heap(k.into())
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self {
            SmallBytes::Heap(b) => b.into_vec(),
            inline => inline.to_vec(),
        }
    }
}

impl Default for SmallBytes {
    fn default() -> Self {
        SmallBytes::Inline { len: 0, data: [0; INLINE] }
    }
}

impl std::ops::Deref for SmallBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, data } => &data[..*len as usize],
            SmallBytes::Heap(b) => b,
        }
    }
}

impl std::ops::DerefMut for SmallBytes {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            SmallBytes::Inline { len, data } => &mut data[..*len as usize],
            SmallBytes::Heap(b) => b,
        }
    }
}

// Hash, equality and borrowing all go through the byte slice, so maps keyed by `SmallBytes` are
// looked up with plain `&[u8]`.
impl std::hash::Hash for SmallBytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for SmallBytes {}

impl std::borrow::Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(b: &[u8]) -> Self {
        SmallBytes::new(b)
    }
}

impl From<Blob> for SmallBytes {
    /// Short blobs move inline (their allocation is freed).
    fn from(b: Blob) -> Self {
        if b.len() <= INLINE { SmallBytes::new(&b) } else { SmallBytes::Heap(b) }
    }
}

impl From<Vec<u8>> for SmallBytes {
    fn from(v: Vec<u8>) -> Self {
        if v.len() <= INLINE { SmallBytes::new(&v) } else { SmallBytes::Heap(v.into_boxed_slice()) }
    }
}

impl From<SmallBytes> for Blob {
    fn from(k: SmallBytes) -> Blob {
        match k {
            SmallBytes::Heap(b) => b,
            inline => (*inline).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_inline_and_long_ones_boxed() {
        for n in [0usize, 1, 21, 22, 23, 100] {
            let data: Vec<u8> = (0..n as u8).collect();
            for s in [SmallBytes::new(&data), SmallBytes::from(data.clone()), SmallBytes::from(Blob::from(&data[..]))] {
                assert_eq!(&*s, &data[..]);
                assert_eq!(matches!(s, SmallBytes::Inline { .. }), n <= INLINE);
                assert_eq!(s.clone().into_vec(), data);
                assert_eq!(&*Blob::from(s), &data[..]);
            }
        }
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
        // Inline strings must not make every table entry bigger.
        assert_eq!(std::mem::size_of::<super::super::Value>(), 24);
    }
}
