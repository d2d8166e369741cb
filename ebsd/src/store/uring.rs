//! Volume I/O through io_uring: one ring, driven by one thread, shared by every volume. Callers hand it
//! an operation with an owned buffer and await a oneshot with the result; the thread keeps the SQ full,
//! resubmits short transfers and wakes through an eventfd when new work arrives. Where the kernel has no
//! io_uring (or forbids it), `Uring::new` fails and callers use positioned I/O on the blocking pool.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use io_uring::{IoUring, opcode, types};
use tokio::sync::oneshot;

/// Submission queue entries; also the most operations in the kernel at once.
const ENTRIES: u32 = 256;
/// `user_data` of the eventfd read that wakes the thread.
const WAKE: u64 = u64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Sync,
}

struct Op {
    kind: Kind,
    /// Keeps the descriptor open while the kernel uses it.
    file: Arc<File>,
    buf: Vec<u8>,
    offset: u64,
    done: usize,
    reply: oneshot::Sender<io::Result<Vec<u8>>>,
}

pub struct Uring {
    queue: Sender<Op>,
    wake: Arc<OwnedFd>,
}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Uring")
    }
}

impl Uring {
    /// Sets up the ring and its thread.
    pub fn new() -> io::Result<Self> {
        let ring = IoUring::new(ENTRIES)?;
        // SAFETY: eventfd(2) returns a new descriptor we own, or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh, valid descriptor owned by nobody else.
        let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(fd) });
        let (queue, rx) = channel();
        let thread_wake = wake.clone();
        std::thread::Builder::new().name("ebsd-uring".into()).spawn(move || run(ring, rx, thread_wake))?;
        Ok(Self { queue, wake })
    }

    fn submit(&self, kind: Kind, file: Arc<File>, buf: Vec<u8>, offset: u64) -> oneshot::Receiver<io::Result<Vec<u8>>> {
        let (reply, rx) = oneshot::channel();
        if self.queue.send(Op { kind, file, buf, offset, done: 0, reply }).is_ok() {
            ring_bell(&self.wake);
        }
        rx
    }

    async fn wait(rx: oneshot::Receiver<io::Result<Vec<u8>>>) -> io::Result<Vec<u8>> {
        rx.await.unwrap_or_else(|_| Err(io::Error::other("io_uring thread stopped")))
    }

    /// Reads `len` bytes at `offset`; bytes past the end of the file read as zeros.
    pub async fn read(&self, file: Arc<File>, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        Self::wait(self.submit(Kind::Read, file, vec![0u8; len], offset)).await
    }

    pub async fn write(&self, file: Arc<File>, data: Vec<u8>, offset: u64) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        Self::wait(self.submit(Kind::Write, file, data, offset)).await.map(|_| ())
    }

    /// fdatasync: covers every write whose completion was seen before it was submitted.
    pub async fn sync_data(&self, file: Arc<File>) -> io::Result<()> {
        Self::wait(self.submit(Kind::Sync, file, Vec::new(), 0)).await.map(|_| ())
    }
}

fn entry(op: &mut Op, slot: u64) -> io_uring::squeue::Entry {
    let fd = types::Fd(op.file.as_raw_fd());
    let rest = op.buf.len() - op.done;
    let at = op.offset + op.done as u64;
    match op.kind {
        // SAFETY (all three): the buffer lives in `op`, which stays in the in-flight table until its
        // completion arrives; the descriptor is kept open by `op.file`.
        Kind::Read => opcode::Read::new(fd, op.buf[op.done..].as_mut_ptr(), rest as u32).offset(at).build(),
        Kind::Write => opcode::Write::new(fd, op.buf[op.done..].as_ptr(), rest as u32).offset(at).build(),
        Kind::Sync => opcode::Fsync::new(fd).flags(types::FsyncFlags::DATASYNC).build(),
    }
    .user_data(slot)
}

impl Drop for Uring {
    fn drop(&mut self) {
        // Disconnect the queue, then wake the thread so it sees it and exits once idle.
        let (closed, _) = channel();
        drop(std::mem::replace(&mut self.queue, closed));
        ring_bell(&self.wake);
    }
}

fn ring_bell(wake: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writing 8 bytes from a valid u64 to our eventfd.
    unsafe { libc::write(wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

fn run(mut ring: IoUring, rx: Receiver<Op>, wake: Arc<OwnedFd>) {
    // The eventfd read's buffer must outlive the ring (the kernel may still hold the read).
    let mut wake_buf = Box::new([0u8; 8]);
    drive(&mut ring, &rx, &wake, &mut wake_buf);
    drop(ring);
    drop(wake_buf);
}

fn drive(ring: &mut IoUring, rx: &Receiver<Op>, wake: &OwnedFd, wake_buf: &mut [u8; 8]) {
    let mut in_flight: Vec<Option<Op>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut waiting: VecDeque<Op> = VecDeque::new();
    let mut armed = false;
    let mut open = true;
    loop {
        if !armed && open {
            let e = opcode::Read::new(types::Fd(wake.as_raw_fd()), wake_buf.as_mut_ptr(), 8).build().user_data(WAKE);
            // SAFETY: `wake_buf` outlives the loop; the eventfd is kept open by `wake`.
            if unsafe { ring.submission().push(&e) }.is_ok() {
                armed = true;
            }
        }
        while let Some(mut op) = waiting.pop_front() {
            let slot = free.pop().unwrap_or_else(|| {
                in_flight.push(None);
                in_flight.len() - 1
            });
            let e = entry(&mut op, slot as u64);
            in_flight[slot] = Some(op);
            // SAFETY: see `entry`.
            if unsafe { ring.submission().push(&e) }.is_err() {
                waiting.push_front(in_flight[slot].take().expect("just stored"));
                free.push(slot);
                break;
            }
        }
        if !open && in_flight.iter().all(Option::is_none) && waiting.is_empty() {
            return;
        }
        if let Err(e) = ring.submit_and_wait(1)
            && e.raw_os_error() != Some(libc::EINTR)
            && e.raw_os_error() != Some(libc::EBUSY)
        {
            tracing::error!(error = %e, "io_uring submit failed");
            for op in waiting.drain(..) {
                let _ = op.reply.send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            for op in in_flight.iter_mut().filter_map(Option::take) {
                let Op { buf, file, reply, .. } = op;
                // The kernel may still own these: leak them rather than free memory it could write.
                std::mem::forget((buf, file));
                let _ = reply.send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            return;
        }
        let done: Vec<(u64, i32)> = ring.completion().map(|c| (c.user_data(), c.result())).collect();
        for (slot, result) in done {
            if slot == WAKE {
                armed = false;
                loop {
                    match rx.try_recv() {
                        Ok(op) => waiting.push_back(op),
                        Err(std::sync::mpsc::TryRecvError::Empty) => break,
                        Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                }
                continue;
            }
            let Some(mut op) = in_flight.get_mut(slot as usize).and_then(Option::take) else { continue };
            free.push(slot as usize);
            if result == -libc::EINTR || result == -libc::EAGAIN {
                waiting.push_back(op);
                continue;
            }
            if result < 0 {
                let _ = op.reply.send(Err(io::Error::from_raw_os_error(-result)));
                continue;
            }
            match op.kind {
                Kind::Sync => {
                    let _ = op.reply.send(Ok(Vec::new()));
                }
                Kind::Read if result == 0 => {
                    // End of file: the rest of a thin volume reads as zeros.
                    let done = op.done;
                    op.buf[done..].fill(0);
                    let _ = op.reply.send(Ok(op.buf));
                }
                Kind::Write if result == 0 => {
                    let _ = op.reply.send(Err(io::Error::new(io::ErrorKind::WriteZero, "write made no progress")));
                }
                Kind::Read | Kind::Write => {
                    op.done += result as usize;
                    if op.done < op.buf.len() {
                        waiting.push_back(op);
                    } else {
                        let buf = if op.kind == Kind::Read { op.buf } else { Vec::new() };
                        let _ = op.reply.send(Ok(buf));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_writes_and_syncs_through_the_ring() {
        let Ok(ring) = Uring::new() else {
            eprintln!("io_uring unavailable here; the blocking-pool path is used instead");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(dir.path().join("f"))
                .unwrap(),
        );
        file.set_len(1 << 20).unwrap();
        let writes: Vec<_> = (0..64u64).map(|i| ring.write(file.clone(), vec![i as u8; 4096], i * 4096)).collect();
        for w in writes {
            w.await.unwrap();
        }
        ring.sync_data(file.clone()).await.unwrap();
        for i in 0..64u64 {
            assert_eq!(ring.read(file.clone(), 4096, i * 4096).await.unwrap(), vec![i as u8; 4096]);
        }
        let tail = ring.read(file.clone(), 8192, (1 << 20) - 4096).await.unwrap();
        assert_eq!(tail, vec![0u8; 8192], "past the end reads zeros");
    }
}
