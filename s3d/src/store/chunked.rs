//! Reading a blob as a run of fixed-size chunks, each handed to a function on the blocking pool the
//! moment it has been read (SSE opens sealed segments this way: the bytes are decrypted on the thread
//! that read them, while they are still in its cache, with no second hop), a few chunks ahead of the
//! consumer so that reading, mapping and sending overlap on both cores.

use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use super::blob::BlobReader;

/// What is done to each chunk: `(offset of the chunk from the start of the range read, its bytes)`.
pub type ChunkMap = Arc<dyn Fn(u64, BytesMut) -> io::Result<Bytes> + Send + Sync>;

/// Builds a [`ChunkMap`] from a few bytes of the blob read first (see `BlobStore::read_mapped_with_head`).
pub type HeadMap = Box<dyn FnOnce(&[u8]) -> io::Result<ChunkMap> + Send>;

/// Chunks read and mapped ahead of the one being consumed: enough to keep both cores busy on one
/// large read, bounded so that a slow client holds at most this many chunks.
pub const READ_AHEAD: usize = 2;

/// The map that changes nothing.
pub fn unchanged() -> ChunkMap {
    Arc::new(|_, chunk| Ok(chunk.freeze()))
}

/// `range` of `file`, in chunks of `chunk` bytes (the last may be shorter), each read with one
/// positional read and mapped on the blocking pool, [`READ_AHEAD`] at a time, in order.
pub fn read_file(file: std::fs::File, range: Range<u64>, chunk: usize, map: ChunkMap) -> BlobReader {
    let file = Arc::new(file);
    let offsets = (range.start..range.end).step_by(chunk.max(1));
    let stream = futures::stream::iter(offsets)
        .map(move |at| {
            let (file, map, len) = (file.clone(), map.clone(), (range.end - at).min(chunk as u64) as usize);
            let from = at - range.start;
            super::blocking(move || map(from, read_exact_at(&file, at, len)?))
        })
        .buffered(READ_AHEAD);
    Box::pin(stream)
}

/// `len` bytes of `file` at `offset`, read into a buffer that is not zeroed first (zeroing cost a
/// memset of every byte served); a file shorter than that is an error.
pub(crate) fn read_exact_at(file: &std::fs::File, offset: u64, len: usize) -> io::Result<BytesMut> {
    let mut buf = BytesMut::with_capacity(len);
    while buf.len() < len {
        let filled = buf.len();
        let spare = &mut buf.spare_capacity_mut()[..len - filled];
        // SAFETY: pread writes at most `spare.len()` bytes into the spare capacity, and exactly the
        // count it returns are initialised before `set_len` exposes them.
        let read = unsafe {
            libc::pread(
                file.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                (offset + filled as u64) as libc::off_t,
            )
        };
        match read {
            0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob is shorter than its metadata")),
            // SAFETY: see above.
            n if n > 0 => unsafe { buf.set_len(filled + n as usize) },
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(buf)
}

/// Any stream of chunks of any size, cut into chunks of exactly `chunk` bytes (the last may be
/// shorter) and mapped on the blocking pool, [`READ_AHEAD`] at a time: the same contract as
/// [`read_file`] for stores that cannot read positionally.
pub fn rechunk(input: BlobReader, chunk: usize, map: ChunkMap) -> BlobReader {
    let chunk = chunk.max(1);
    struct Cutter {
        input: BlobReader,
        buf: BytesMut,
        offset: u64,
        ended: bool,
    }
    let start = Cutter { input, buf: BytesMut::new(), offset: 0, ended: false };
    let cut = futures::stream::unfold(Some(start), move |state| async move {
        let mut st = state?;
        loop {
            if st.buf.len() >= chunk || (st.ended && !st.buf.is_empty()) {
                let piece = st.buf.split_to(chunk.min(st.buf.len()));
                let at = st.offset;
                st.offset += piece.len() as u64;
                return Some((Ok((at, piece)), Some(st)));
            }
            if st.ended {
                return None;
            }
            match st.input.next().await {
                Some(Ok(bytes)) => st.buf.extend_from_slice(&bytes),
                Some(Err(e)) => return Some((Err(e), None)),
                None => st.ended = true,
            }
        }
    });
    let mapped = cut
        .map(move |piece: io::Result<(u64, BytesMut)>| {
            let map = map.clone();
            async move {
                let (at, bytes) = piece?;
                super::blocking(move || map(at, bytes)).await
            }
        })
        .buffered(READ_AHEAD);
    Box::pin(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("runtime").block_on(f)
    }

    /// A map that records what it saw: each chunk becomes "offset:len;".
    fn describe() -> ChunkMap {
        Arc::new(|at, chunk| Ok(Bytes::from(format!("{at}:{};", chunk.len()))))
    }

    async fn collect(mut s: BlobReader) -> io::Result<String> {
        let mut out = String::new();
        while let Some(c) = s.next().await {
            out.push_str(std::str::from_utf8(&c?).expect("utf-8"));
        }
        Ok(out)
    }

    fn expected(len: u64, chunk: u64) -> String {
        (0..len).step_by(chunk as usize).map(|at| format!("{at}:{};", (len - at).min(chunk))).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever sizes the input arrives in, the map sees exact chunks at their offsets, in order.
        #[test]
        fn rechunked_input_is_mapped_in_exact_chunks(
            pieces in proptest::collection::vec(0usize..5_000, 0..20),
            chunk in 1usize..3_000,
        ) {
            let total: usize = pieces.iter().sum();
            let input: Vec<io::Result<Bytes>> = pieces.iter().map(|&n| Ok(Bytes::from(vec![7u8; n]))).collect();
            let got = run(collect(rechunk(Box::pin(futures::stream::iter(input)), chunk, describe()))).unwrap();
            prop_assert_eq!(got, expected(total as u64, chunk as u64));
        }
    }

    #[test]
    fn file_ranges_are_read_in_exact_chunks_and_short_files_fail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let open = || std::fs::File::open(&path).unwrap();
        let got = run(collect(read_file(open(), 1_000..91_000, 7_000, describe()))).unwrap();
        assert_eq!(got, expected(90_000, 7_000));
        let bytes = run(async {
            let mut s = read_file(open(), 5..80_005, 4_096, unchanged());
            let mut out = Vec::new();
            while let Some(c) = s.next().await {
                out.extend_from_slice(&c.unwrap());
            }
            out
        });
        assert_eq!(bytes, &data[5..80_005]);
        let err = run(collect(read_file(open(), 90_000..100_001, 4_096, describe()))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
