//! One sparse file per volume. Thin: unwritten ranges are holes that cost no disk and read as zeros;
//! TRIM punches holes; block status comes from SEEK_DATA / SEEK_HOLE. All I/O is positioned (pread /
//! pwrite), so every connection of a volume shares one file and sees one consistent volume, and one
//! fdatasync covers every write completed before it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A run of the volume that is either allocated data or a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub length: u64,
    pub hole: bool,
}

#[derive(Debug)]
pub struct VolumeFile {
    file: Arc<File>,
    path: PathBuf,
}

fn cvt(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

impl VolumeFile {
    /// Creates a thin file of `size` bytes and makes its existence durable (file and directory). On
    /// failure (a size beyond the file system's largest file, say) no file is left behind.
    pub fn create(path: &Path, size: u64) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        if let Err(e) = file.set_len(size).and_then(|()| file.sync_all()) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        sync_dir(path)?;
        Ok(Self { file: Arc::new(file), path: path.into() })
    }

    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Self { file: Arc::new(file), path: path.into() })
    }

    /// The open file, for I/O submitted elsewhere (io_uring).
    pub fn shared(&self) -> Arc<File> {
        self.file.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file_len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Grows the file (ModifyVolume); durable before it returns.
    pub fn grow(&self, size: u64) -> io::Result<()> {
        if size > self.file_len()? {
            self.file.set_len(size)?;
            self.file.sync_all()?;
        }
        Ok(())
    }

    /// Fills `buf` from `offset`; bytes past the end of the file read as zeros.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => {
                    buf[done..].fill(0);
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One `preadv2(RWF_NOWAIT)`: true if it filled `buf` from the page cache, false if that would
    /// have meant waiting for the disk (or it read short).
    pub fn read_cached(&self, buf: &mut [u8], offset: u64) -> io::Result<bool> {
        let iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: one iovec over `buf`, which outlives the call; the descriptor is ours and open.
        let n = unsafe { libc::preadv2(self.file.as_raw_fd(), &iov, 1, offset as libc::off_t, libc::RWF_NOWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EOPNOTSUPP) | Some(libc::EINTR) => Ok(false),
                _ => Err(e),
            };
        }
        Ok(n as usize == buf.len())
    }

    pub fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(data, offset)
    }

    /// Makes every completed write durable.
    pub fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Deallocates a range: it reads as zeros and costs no disk.
    pub fn punch_hole(&self, offset: u64, length: u64) -> io::Result<()> {
        if length == 0 {
            return Ok(());
        }
        // SAFETY: fallocate on an open descriptor we own; no memory is passed.
        cvt(unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                length as libc::off_t,
            )
        })
    }

    /// Zeroes a range while keeping it allocated (WRITE_ZEROES with NO_HOLE); falls back to writing
    /// zeros where the file system has no ZERO_RANGE.
    pub fn zero_allocated(&self, offset: u64, length: u64) -> io::Result<()> {
        if length == 0 {
            return Ok(());
        }
        // SAFETY: as above.
        let ret = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                length as libc::off_t,
            )
        };
        if ret == 0 {
            return Ok(());
        }
        let zeros = vec![0u8; 1 << 20];
        let mut at = offset;
        let end = offset + length;
        while at < end {
            let n = (end - at).min(zeros.len() as u64) as usize;
            self.write_at(&zeros[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }

    /// Hints the kernel to read a range into the page cache (NBD_CMD_CACHE).
    pub fn prefetch(&self, offset: u64, length: u64) -> io::Result<()> {
        // SAFETY: posix_fadvise on our descriptor.
        let ret = unsafe {
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                offset as libc::off_t,
                length as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            )
        };
        if ret != 0 { Err(io::Error::from_raw_os_error(ret)) } else { Ok(()) }
    }

    /// Data and hole runs covering `[offset, offset + length)`, at most `max` of them (the last one may
    /// be cut short).
    pub fn extents(&self, offset: u64, length: u64, max: usize) -> io::Result<Vec<Extent>> {
        let end = offset + length;
        let fd = self.file.as_raw_fd();
        let file_len = self.file_len()?;
        let mut out = Vec::new();
        let mut at = offset;
        while at < end && out.len() < max {
            if at >= file_len {
                out.push(Extent { offset: at, length: end - at, hole: true });
                break;
            }
            let next_data = seek(fd, at, libc::SEEK_DATA)?.unwrap_or(file_len);
            if next_data > at {
                let stop = next_data.min(end);
                out.push(Extent { offset: at, length: stop - at, hole: true });
                at = stop;
                continue;
            }
            let next_hole = seek(fd, at, libc::SEEK_HOLE)?.unwrap_or(file_len);
            let stop = next_hole.min(end).max(at + 1);
            out.push(Extent { offset: at, length: stop - at, hole: false });
            at = stop;
        }
        Ok(out)
    }

    /// Bytes of disk the file really uses.
    pub fn allocated_bytes(&self) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(self.file.metadata()?.blocks() * 512)
    }
}

/// `lseek` with SEEK_DATA / SEEK_HOLE; `None` when there is no more data (ENXIO).
fn seek(fd: libc::c_int, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    // SAFETY: lseek on our descriptor. It moves the shared file offset, which no I/O here uses
    // (all reads and writes are positioned).
    let ret = unsafe { libc::lseek(fd, offset as libc::off_t, whence) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENXIO) {
            return Ok(None);
        }
        return Err(err);
    }
    Ok(Some(ret as u64))
}

/// Makes a new or removed directory entry durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_file_reports_holes_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let f = VolumeFile::create(&dir.path().join("v.img"), 64 << 20).unwrap();
        assert!(f.allocated_bytes().unwrap() < 1 << 20, "a new volume costs no disk");
        assert_eq!(f.extents(0, 64 << 20, 16).unwrap(), vec![Extent { offset: 0, length: 64 << 20, hole: true }]);
        f.write_at(&[7u8; 1 << 20], 8 << 20).unwrap();
        let ext = f.extents(0, 64 << 20, 16).unwrap();
        assert_eq!(ext.len(), 3);
        assert_eq!(ext[1], Extent { offset: 8 << 20, length: 1 << 20, hole: false });
        let mut buf = vec![1u8; 4096];
        f.read_at(&mut buf, 0).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        f.punch_hole(8 << 20, 1 << 20).unwrap();
        f.read_at(&mut buf, 8 << 20).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        assert!(f.extents(0, 64 << 20, 16).unwrap().iter().all(|e| e.hole));
        let before = f.allocated_bytes().unwrap();
        f.zero_allocated(0, 1 << 20).unwrap();
        // ext4 keeps ZERO_RANGE as allocated-but-unwritten extents: disk is reserved, reads give zeros.
        assert!(f.allocated_bytes().unwrap() >= before + (1 << 20), "NO_HOLE zeroes stay allocated");
        f.read_at(&mut buf, 0).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        f.grow(128 << 20).unwrap();
        assert_eq!(f.file_len().unwrap(), 128 << 20);
    }
}
