"""Drives one attached ebsd export with libnbd (python3-libnbd): flags, block size constraints,
read/write, FUA, flush, trim, zero (with and without NO_HOLE), block status, cache, clean errors for
out-of-range requests, and multi-conn consistency. Usage: nbd_checks.py URI. Exits non-zero on failure."""
import errno
import sys

import nbd

uri = sys.argv[1]
MiB = 1 << 20


def connect():
    h = nbd.NBD()
    h.add_meta_context("base:allocation")
    # Let requests reach the server even when libnbd would refuse them itself: the server's checks are
    # what is under test.
    h.set_strict_mode(0)
    h.connect_uri(uri)
    return h


def extents(h, length, offset, flags=0):
    out = []

    def cb(context, off, entries, err):
        assert context == "base:allocation", context
        out.extend(zip(entries[0::2], entries[1::2]))
        return 0

    h.block_status(length, offset, cb, flags)
    return out


h = connect()
size = h.get_size()
for can in ("can_multi_conn", "can_flush", "can_fua", "can_trim", "can_zero", "can_cache", "can_df"):
    assert getattr(h, can)(), can
assert h.can_meta_context("base:allocation")
assert h.get_structured_replies_negotiated()
assert h.get_block_size(nbd.SIZE_MINIMUM) == 1
assert h.get_block_size(nbd.SIZE_PREFERRED) == 4096
assert h.get_block_size(nbd.SIZE_MAXIMUM) == 32 * MiB

# A fresh volume is one hole that reads as zeros.
assert extents(h, 8 * MiB, 0) == [(8 * MiB, 3)], extents(h, 8 * MiB, 0)
assert h.pread(4096, 12345) == bytes(4096)

# Writes, FUA writes and flush; unaligned I/O is fine (minimum block size 1).
data = bytes(range(256)) * 256
h.pwrite(data, 0)
h.pwrite(b"fua!" * 1024, MiB + 3, nbd.CMD_FLAG_FUA)
h.flush()
assert h.pread(len(data), 0) == data
assert h.pread(4096, MiB + 3) == b"fua!" * 1024
ext = extents(h, 2 * MiB, 0)
assert ext[0][1] == 0 and ext[0][0] >= len(data), ext
assert len(extents(h, 2 * MiB, 0, nbd.CMD_FLAG_REQ_ONE)) == 1

# TRIM makes a hole; WRITE_ZEROES without NO_HOLE may too; with NO_HOLE the range stays allocated.
h.trim(65536, 0)
assert h.pread(65536, 0) == bytes(65536)
assert extents(h, 65536, 0) == [(65536, 3)], extents(h, 65536, 0)
h.pwrite(b"\xff" * MiB, 4 * MiB)
h.zero(MiB, 4 * MiB, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(MiB, 4 * MiB) == bytes(MiB)
assert extents(h, MiB, 4 * MiB)[0][1] == 0, "NO_HOLE zeroes stay allocated"
h.zero(MiB, 4 * MiB)
assert extents(h, MiB, 4 * MiB) == [(MiB, 3)]
h.cache(MiB, 0)

# Out-of-range and malformed requests get errors, and the connection keeps working.
def expect_errno(code, f, *args):
    try:
        f(*args)
    except nbd.Error as e:
        assert e.args[-1] == code, (e.args, code)
        return
    raise AssertionError(f"{f.__name__}{args[1:]} succeeded")

expect_errno(errno.EINVAL, h.pread, 4096, size)
expect_errno(errno.ENOSPC, h.pwrite, b"x" * 4096, size - 1024)
expect_errno(errno.ENOSPC, h.trim, 8192, size - 4096)
expect_errno(errno.EINVAL, h.pread, 33 * MiB, 0)
assert h.pread(4096, MiB + 3) == b"fua!" * 1024

# Multi-conn: a write completed on one connection is seen by another, and a flush on the other covers it.
h2 = connect()
h.pwrite(b"multi" * 100, 7 * MiB)
h2.flush()
assert h2.pread(500, 7 * MiB) == b"multi" * 100
h2.shutdown()
h.shutdown()
print("ok")
