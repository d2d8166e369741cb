//! Reading sealed bodies: only the segments a range touches are read and decrypted, from inline
//! bytes, one blob, or each part of a multipart manifest (each part is a sealed stream of its own).

use std::io;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use super::DataKey;
use super::segment::{HEADER, SEALED_BATCH, locate, open_all, open_stream, stream_key};
use crate::engine::ByteStream;
use crate::store::meta::{BodyRecord, ObjectRecord};
use crate::store::{BlobId, BlobStore};

fn once(b: Bytes) -> ByteStream {
    Box::pin(futures::stream::iter((!b.is_empty()).then_some(Ok(b))))
}

/// The plaintext `range` of a sealed blob holding `n` plaintext bytes. The blob is opened before
/// this returns, so a missing blob is reported here (the caller may retry with a newer record).
async fn open_blob(
    blobs: Arc<dyn BlobStore>,
    id: BlobId,
    n: u64,
    range: Range<u64>,
    data_key: DataKey,
) -> io::Result<ByteStream> {
    if range.is_empty() {
        return Ok(once(Bytes::new()));
    }
    let mut head = blobs.read(&id, 0..HEADER as u64).await?;
    let mut header = Vec::with_capacity(HEADER);
    while let Some(chunk) = head.next().await {
        header.extend_from_slice(&chunk?);
    }
    let key = stream_key(&data_key, &header)?;
    let (first, stored, skip) = locate(range.start, range.end, n);
    let sealed = blobs.read_in_chunks(&id, stored, SEALED_BATCH).await?;
    Ok(open_stream(sealed, key, first, n, skip, range.end - range.start))
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
        BodyRecord::Blob(id) => open_blob(blobs, id.clone(), rec.size, range, data_key).await,
        BodyRecord::Parts(parts) => {
            let mut pieces = Vec::new();
            let mut offset = 0u64;
            for p in parts {
                let (start, end) = (offset, offset + p.size);
                offset = end;
                if end <= range.start || start >= range.end {
                    continue;
                }
                let inner = range.start.max(start) - start..range.end.min(end) - start;
                pieces.push((p.blob.clone(), p.size, inner));
            }
            // Each part is opened only when the previous one has been streamed.
            let stream = futures::stream::iter(pieces)
                .then(move |(id, n, inner)| open_blob(blobs.clone(), id, n, inner, data_key))
                .map(|opened| match opened {
                    Ok(s) => s,
                    Err(e) => Box::pin(futures::stream::iter([Err(e)])) as ByteStream,
                })
                .flatten();
            Ok(Box::pin(stream))
        }
    }
}
