"""Writes pseudo-random data over an NBD export: fill.py URI OFFSET LENGTH [SEED] [fua]. Flushes at the end,
or with `fua` makes each write durable by itself (FUA) and sends no flush."""
import random
import sys

import nbd

uri, offset, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
fua = len(sys.argv) > 5 and sys.argv[5] == "fua"
rng = random.Random(seed)
h = nbd.NBD()
h.connect_uri(uri)
chunk = 4 << 20
at = offset
while at < offset + length:
    n = min(chunk, offset + length - at)
    h.pwrite(rng.randbytes(n), at, nbd.CMD_FLAG_FUA if fua else 0)
    at += n
if not fua:
    h.flush()
h.shutdown()
print("ok")
