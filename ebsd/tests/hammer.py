"""Hammers an NBD export with random writes until told to stop; can be paused at a quiet point.

usage: hammer.py URI CONTROL_DIR REGION_BYTES
Files in CONTROL_DIR: the test creates `pause` (the writer finishes its write, flushes, creates
`paused` and waits until `pause` is gone, then removes `paused`) and `stop`. The writer creates
`started` once connected, and prints how many writes it made."""
import os
import random
import sys
import time

import nbd

uri, control, region = sys.argv[1], sys.argv[2], int(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
open(os.path.join(control, "started"), "w").close()
rng = random.Random(42)
writes = 0
deadline = time.time() + 300
while not os.path.exists(os.path.join(control, "stop")) and time.time() < deadline:
    if os.path.exists(os.path.join(control, "pause")):
        h.flush()
        open(os.path.join(control, "paused"), "w").close()
        while os.path.exists(os.path.join(control, "pause")) and time.time() < deadline:
            time.sleep(0.01)
        os.remove(os.path.join(control, "paused"))
        continue
    length = rng.choice([4096, 16384, 65536, 200000])
    offset = rng.randrange(0, region - length)
    h.pwrite(os.urandom(length), offset)
    writes += 1
h.flush()
h.shutdown()
print(writes)
