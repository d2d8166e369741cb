//! Reading sealed bodies: only the segments a range touches are read and decrypted, from inline
//! bytes, one blob, each part of a multipart manifest (each part is a sealed stream of its own), or
//! the restored copy of an archived multipart body (those parts' streams back to back in one blob).

use std::io;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use super::DataKey;
use super::segment::{HEADER, SEALED_BATCH, batch_opener, locate, open_all, sealed_len, stream_key, trim};
use crate::engine::ByteStream;
use crate::store::meta::{BodyRecord, ObjectRecord};
use crate::store::{BlobId, BlobStore, HeadMap};

fn once(b: Bytes) -> ByteStream {
    Box::pin(futures::stream::iter((!b.is_empty()).then_some(Ok(b))))
}

/// The plaintext `range` of the sealed stream of `n` plaintext bytes that starts at byte `base` of a
/// blob. The blob is opened before this returns, so a missing blob is reported here (the caller may
/// retry with a newer record).
async fn open_blob(
    blobs: Arc<dyn BlobStore>,
    id: BlobId,
    base: u64,
    n: u64,
    range: Range<u64>,
    data_key: DataKey,
) -> io::Result<ByteStream> {
    if range.is_empty() {
        return Ok(once(Bytes::new()));
    }
    let (first, stored, skip) = locate(range.start, range.end, n);
    let stored = base + stored.start..base + stored.end;
    let opener: HeadMap = Box::new(move |header| Ok(batch_opener(stream_key(&data_key, header)?, first, n)));
    let opened = blobs.read_mapped_with_head(&id, base..base + HEADER as u64, stored, SEALED_BATCH, opener).await?;
    Ok(trim(opened, skip, range.end - range.start))
}

/// The plaintext `range` of an encrypted object's body.
pub(crate) async fn sealed_body(
    blobs: Arc<dyn BlobStore>,
    rec: &ObjectRecord,
    inline: &Bytes,
    range: Range<u64>,
    data_key: DataKey,
) -> io::Result<ByteStream> {
    match &rec.body {
        BodyRecord::Inline => Ok(once(open_all(&data_key, inline, rec.size, range)?)),
        BodyRecord::Blob(id) => open_blob(blobs, id.clone(), 0, rec.size, range, data_key).await,
        BodyRecord::Parts(parts) => {
            let streams = parts.iter().map(|p| (p.blob.clone(), 0, p.size));
            Ok(open_each(blobs, touched(streams, &range).into_iter(), data_key))
        }
    }
}

/// A sealed stream to open: its blob, where it starts in the blob, its plaintext size, and the
/// plaintext range wanted from it.
type Piece = (BlobId, u64, u64, Range<u64>);

/// Of sealed streams `(blob, base, plaintext size)` laid end to end in plaintext, those `range`
/// touches, each with the part of `range` that falls in it (relative to its own start).
fn touched(streams: impl Iterator<Item = (BlobId, u64, u64)>, range: &Range<u64>) -> Vec<Piece> {
    let mut offset = 0u64;
    let mut pieces = Vec::new();
    for (id, base, n) in streams {
        let (start, end) = (offset, offset + n);
        offset = end;
        if end <= range.start || start >= range.end {
            continue;
        }
        pieces.push((id, base, n, range.start.max(start) - start..range.end.min(end) - start));
    }
    pieces
}

/// The pieces' plaintext one after the other; each is opened only when the previous one has been
/// streamed.
fn open_each(blobs: Arc<dyn BlobStore>, pieces: std::vec::IntoIter<Piece>, data_key: DataKey) -> ByteStream {
    let stream = futures::stream::iter(pieces)
        .then(move |(id, base, n, inner)| open_blob(blobs.clone(), id, base, n, inner, data_key))
        .map(|opened| match opened {
            Ok(s) => s,
            Err(e) => Box::pin(futures::stream::iter([Err(e)])) as ByteStream,
        })
        .flatten();
    Box::pin(stream)
}

/// The plaintext `range` of an object of `size` bytes whose parts (plaintext sizes `parts`) are
/// sealed streams stored back to back in blob `id`: part i's stream starts after the sealed lengths
/// of the parts before it, and is unsealed with its own header exactly as the part was on its own.
/// Only the parts, and in them the segments, that the range touches are read. The first of them is
/// opened before this returns (a missing blob is reported here); the others as the body streams, so
/// the caller keeps the blob leased.
pub(crate) async fn packed_parts_body(
    blobs: Arc<dyn BlobStore>,
    id: &BlobId,
    parts: &[u64],
    size: u64,
    range: Range<u64>,
    data_key: DataKey,
) -> io::Result<ByteStream> {
    if parts.iter().sum::<u64>() != size {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the archived part sizes do not add up to the object"));
    }
    let streams = parts.iter().scan(0u64, |base, &n| {
        let at = *base;
        *base += sealed_len(n);
        Some((id.clone(), at, n))
    });
    let mut pieces = touched(streams, &range).into_iter();
    let Some((first_id, at, n, inner)) = pieces.next() else { return Ok(once(Bytes::new())) };
    let first = open_blob(blobs.clone(), first_id, at, n, inner, data_key).await?;
    Ok(Box::pin(first.chain(open_each(blobs, pieces, data_key))))
}
