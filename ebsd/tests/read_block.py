"""Reads LENGTH bytes at OFFSET of an NBD export and prints their SHA-256 and whether they are all zeros.

usage: read_block.py URI OFFSET LENGTH"""
import hashlib
import sys

import nbd

uri, offset, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
data = h.pread(length, offset)
h.shutdown()
print(hashlib.sha256(data).hexdigest(), data == bytes(length))
