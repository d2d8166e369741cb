"""Reads 4 KiB blocks of an NBD export as fast as the server admits them, with DEPTH requests in flight
(libnbd's async API), for SECONDS, and prints the completions of each whole second as a JSON list.

usage: burst_rate.py URI SECONDS [DEPTH]"""
import json
import sys
import time

import nbd

uri, seconds = sys.argv[1], int(sys.argv[2])
depth = int(sys.argv[3]) if len(sys.argv) > 3 else 16
BLOCK = 4096

h = nbd.NBD()
h.connect_uri(uri)
blocks = h.get_size() // BLOCK
counts = [0] * seconds
# One buffer for every read: it must outlive the commands, and the data is not looked at.
buf = nbd.Buffer(BLOCK)
start = time.monotonic()


errors = []


def done(err):
    if err:
        errors.append(err)
        return 1
    second = int(time.monotonic() - start)
    if second < seconds:
        counts[second] += 1
    # 1: libnbd retires the command itself.
    return 1


n = 0
while time.monotonic() - start < seconds:
    while h.aio_in_flight() < depth:
        # A stride that is prime to the block count walks the whole volume.
        h.aio_pread(buf, (n * 7919 % blocks) * BLOCK, completion=done)
        n += 1
    h.poll(-1)
while h.aio_in_flight() > 0:
    h.poll(-1)
h.shutdown()
if errors:
    sys.exit(f"{len(errors)} reads failed, first errno {errors[0]}")
print(json.dumps(counts))
