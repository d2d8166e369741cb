"""A 5 GiB single PutObject (S3's maximum) streamed in and out of s3d while its memory is sampled.

Usage: big_object.py ENDPOINT S3D_PID [SIZE]. Credentials come from the environment. The body is
generated on the fly (never on disk on the client side) and sent to a presigned PUT URL (boto3's, so
UNSIGNED-PAYLOAD) with a fixed Content-Length, then read back with its MD5 checked against the ETag.
The daemon's resident memory must stay flat: it streams bodies, so its RSS may not grow with the size.
"""

import hashlib
import http.client
import sys
import threading
import time
import urllib.parse

import boto3

GIB = 1 << 30
# Issue #3: s3d's resident set stays under this while streaming a 5 GiB object (it holds a few
# buffers per request, the allocator's slack and RocksDB's memtable, whatever the object size).
MAX_RSS = 200 << 20
BLOCK = bytes((i * 31 + 7) & 0xFF for i in range(1 << 20))


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, rss(pid), False

    def run(self):
        while not self.done:
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.05)


def presigned(s3, method, key):
    """The path and query of a presigned `method` URL for big/`key`."""
    url = s3.generate_presigned_url(method, Params={"Bucket": "big", "Key": key}, ExpiresIn=3600)
    parts = urllib.parse.urlparse(url)
    return f"{parts.path}?{parts.query}"


def send_put(conn, target, size, chunks):
    conn.putrequest("PUT", target, skip_accept_encoding=True)
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    for chunk in chunks:
        conn.send(chunk)
    resp = conn.getresponse()
    return resp, resp.read()


def body(size):
    left = size
    while left:
        n = min(left, len(BLOCK))
        yield BLOCK[:n]
        left -= n


def main():
    endpoint, pid = sys.argv[1], int(sys.argv[2])
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 5 * GIB
    host = urllib.parse.urlparse(endpoint).netloc
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="big")
    conn = http.client.HTTPConnection(host, timeout=120)

    baseline = rss(pid)
    sampler = Sampler(pid)
    sampler.start()
    started = time.monotonic()
    sent = hashlib.md5()

    def hashed():
        for chunk in body(size):
            sent.update(chunk)
            yield chunk

    resp, answer = send_put(conn, presigned(s3, "put_object", "object"), size, hashed())
    assert resp.status == 200, (resp.status, answer)
    etag = resp.getheader("ETag").strip('"')
    put_secs = time.monotonic() - started

    started = time.monotonic()
    conn.request("GET", presigned(s3, "get_object", "object"))
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    assert int(resp.getheader("Content-Length")) == size
    h, got = hashlib.md5(), 0
    while chunk := resp.read(4 << 20):
        h.update(chunk)
        got += len(chunk)
    get_secs = time.monotonic() - started
    sampler.done = True
    sampler.join()

    assert got == size, (got, size)
    assert h.hexdigest() == etag == sent.hexdigest(), (h.hexdigest(), etag)
    growth = sampler.peak - baseline
    print(
        f"{size / GIB:.2f} GiB: PUT {size / put_secs / 1e6:.0f} MB/s, GET {size / get_secs / 1e6:.0f} MB/s, "
        f"RSS {baseline >> 20} MiB before, peak {sampler.peak >> 20} MiB (+{growth >> 20} MiB)"
    )
    assert sampler.peak < MAX_RSS, f"s3d peaked at {sampler.peak >> 20} MiB while streaming {size} bytes"

    # One byte more than S3 allows in a single PUT is refused before any of it is stored.
    conn = http.client.HTTPConnection(host, timeout=120)
    resp, answer = send_put(conn, presigned(s3, "put_object", "too-big"), 5 * GIB + 1, [])
    assert resp.status == 400 and b"<Code>EntityTooLarge</Code>" in answer, (resp.status, answer)
    print("big object: ok")


if __name__ == "__main__":
    main()
