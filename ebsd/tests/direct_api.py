"""Drives the EBS direct APIs with boto3's `ebs` client.

usage: direct_api.py ENDPOINT ACCESS_KEY SECRET_KEY [FIRST_SNAPSHOT SECOND_SNAPSHOT EXPECTED_CHANGED]
Writes two snapshots block by block (the second a child of the first), checks ListSnapshotBlocks,
ListChangedBlocks and GetSnapshotBlock round trips with SHA-256 checksums, and error codes. With the
optional arguments, also checks ListChangedBlocks between two snapshots of a volume against the
comma-separated block indices expected. Prints "ok"."""
import base64
import hashlib
import sys

import boto3
import botocore
from botocore.config import Config

endpoint, key, secret = sys.argv[1:4]
ebs = boto3.client(
    "ebs",
    endpoint_url=endpoint,
    aws_access_key_id=key,
    aws_secret_access_key=secret,
    region_name="us-east-1",
    config=Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60),
)
BLOCK = 512 * 1024


def block(seed):
    return hashlib.sha256(str(seed).encode()).digest() * (BLOCK // 32)


def sha(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def put(snapshot, index, data):
    r = ebs.put_snapshot_block(
        SnapshotId=snapshot, BlockIndex=index, BlockData=data, DataLength=len(data),
        Checksum=sha(data), ChecksumAlgorithm="SHA256")
    assert r["Checksum"] == sha(data), r


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e}"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


def all_pages(fn, field, **kwargs):
    out, token = [], None
    while True:
        args = dict(kwargs, MaxResults=100)
        if token:
            args["NextToken"] = token
        r = fn(**args)
        out += r[field]
        token = r.get("NextToken")
        if not token:
            return out, r


# First snapshot: blocks 0, 1, 5 and 300 (300 so the listing needs a second page of 100).
first = ebs.start_snapshot(VolumeSize=1, Description="direct one", Tags=[{"Key": "k", "Value": "v"}])
assert first["Status"] == "pending" and first["BlockSize"] == BLOCK, first
s1 = first["SnapshotId"]
contents = {0: block(0), 1: block(1), 5: block(5)}
contents.update({100 + i: block(100 + i) for i in range(150)})
for index, data in contents.items():
    put(s1, index, data)
# Errors: a checksum that does not match, a block past the end, a short block.
expect_error("ValidationException", ebs.put_snapshot_block, SnapshotId=s1, BlockIndex=2, BlockData=block(2),
             DataLength=BLOCK, Checksum=sha(b"other"), ChecksumAlgorithm="SHA256")
expect_error("ValidationException", ebs.put_snapshot_block, SnapshotId=s1, BlockIndex=2048, BlockData=block(2),
             DataLength=BLOCK, Checksum=sha(block(2)), ChecksumAlgorithm="SHA256")
expect_error("ValidationException", ebs.put_snapshot_block, SnapshotId=s1, BlockIndex=2, BlockData=b"x" * 10,
             DataLength=10, Checksum=sha(b"x" * 10), ChecksumAlgorithm="SHA256")
expect_error("ValidationException", ebs.complete_snapshot, SnapshotId=s1, ChangedBlocksCount=3)
linear = base64.b64encode(hashlib.sha256(b"".join(
    hashlib.sha256(contents[i]).digest() for i in sorted(contents))).digest()).decode()
r = ebs.complete_snapshot(SnapshotId=s1, ChangedBlocksCount=len(contents), Checksum=linear,
                          ChecksumAlgorithm="SHA256", ChecksumAggregationMethod="LINEAR")
assert r["Status"] == "completed", r

blocks, r = all_pages(ebs.list_snapshot_blocks, "Blocks", SnapshotId=s1)
assert [b["BlockIndex"] for b in blocks] == sorted(contents), blocks[:5]
assert r["VolumeSize"] == 1 and r["BlockSize"] == BLOCK
for b in blocks[:5]:
    got = ebs.get_snapshot_block(SnapshotId=s1, BlockIndex=b["BlockIndex"], BlockToken=b["BlockToken"])
    data = got["BlockData"].read()
    assert data == contents[b["BlockIndex"]], b["BlockIndex"]
    assert got["Checksum"] == sha(data) and got["ChecksumAlgorithm"] == "SHA256" and got["DataLength"] == BLOCK
# A token of one block does not fetch another.
expect_error("ValidationException", ebs.get_snapshot_block, SnapshotId=s1, BlockIndex=1,
             BlockToken=blocks[0]["BlockToken"])
expect_error("ResourceNotFoundException", ebs.list_snapshot_blocks, SnapshotId="snap-0123456789abcdef0")

# Second snapshot, a child: block 1 changes, block 5 becomes zeros, block 7 is new.
second = ebs.start_snapshot(VolumeSize=1, ParentSnapshotId=s1, ClientToken="direct-two")
again = ebs.start_snapshot(VolumeSize=1, ParentSnapshotId=s1, ClientToken="direct-two")
assert again["SnapshotId"] == second["SnapshotId"], "the client token makes StartSnapshot idempotent"
s2 = second["SnapshotId"]
put(s2, 1, block(11))
put(s2, 5, bytes(BLOCK))
put(s2, 7, block(7))
assert ebs.complete_snapshot(SnapshotId=s2, ChangedBlocksCount=3)["Status"] == "completed"
changed, _ = all_pages(ebs.list_changed_blocks, "ChangedBlocks", FirstSnapshotId=s1, SecondSnapshotId=s2)
assert [c["BlockIndex"] for c in changed] == [1, 5, 7], changed
by_index = {c["BlockIndex"]: c for c in changed}
assert "SecondBlockToken" not in by_index[5] and "FirstBlockToken" not in by_index[7]
got = ebs.get_snapshot_block(SnapshotId=s2, BlockIndex=1, BlockToken=by_index[1]["SecondBlockToken"])
assert got["BlockData"].read() == block(11)
got = ebs.get_snapshot_block(SnapshotId=s1, BlockIndex=1, BlockToken=by_index[1]["FirstBlockToken"])
assert got["BlockData"].read() == block(1)
blocks2, _ = all_pages(ebs.list_snapshot_blocks, "Blocks", SnapshotId=s2)
assert [b["BlockIndex"] for b in blocks2] == sorted((set(contents) - {5}) | {7})

if len(sys.argv) > 6:
    a, b, expected = sys.argv[4], sys.argv[5], sys.argv[6]
    changed, _ = all_pages(ebs.list_changed_blocks, "ChangedBlocks", FirstSnapshotId=a, SecondSnapshotId=b)
    want = [int(i) for i in expected.split(",")]
    assert [c["BlockIndex"] for c in changed] == want, ([c["BlockIndex"] for c in changed], want)
    for c in changed[:3]:
        got = ebs.get_snapshot_block(SnapshotId=b, BlockIndex=c["BlockIndex"], BlockToken=c["SecondBlockToken"])
        data = got["BlockData"].read()
        assert got["Checksum"] == sha(data)
    expect_error("ValidationException", ebs.list_changed_blocks, FirstSnapshotId=s1, SecondSnapshotId=b)
print("ok")
