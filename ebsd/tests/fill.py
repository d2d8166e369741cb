"""Writes pseudo-random data over an NBD export: fill.py URI OFFSET LENGTH [SEED]. Flushes at the end."""
import random
import sys

import nbd

uri, offset, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
rng = random.Random(seed)
h = nbd.NBD()
h.connect_uri(uri)
chunk = 4 << 20
at = offset
while at < offset + length:
    n = min(chunk, offset + length - at)
    h.pwrite(rng.randbytes(n), at)
    at += n
h.flush()
h.shutdown()
print("ok")
