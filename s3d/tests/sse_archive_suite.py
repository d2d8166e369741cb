"""Encrypted multipart objects in the cold tier, driven through boto3 (issue #4).

Usage: sse_archive_suite.py ENDPOINT METRICS_URL DATA_DIR DAY_SECONDS
SSE-S3, SSE-KMS and SSE-C multipart objects (two 5 MiB parts and a short last one) go to GLACIER /
DEEP_ARCHIVE both as written (StorageClass on CreateMultipartUpload) and by a lifecycle transition;
GET is refused until RestoreObject completes, then the restored copy reads back whole, by ranges across
part boundaries and by partNumber, and copies. The cold tier never holds the plaintext, and no object
is reported unarchivable. The daemon must run with --allow-sse-c-over-http. Exits non-zero on the first
failed check.
"""
import hashlib
import os
import sys
import urllib.request

import boto3
from botocore.client import Config

import s3check
from s3check import check, expect_error, wait_until

ENDPOINT, METRICS, DATA_DIR, DAY = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
cfg = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
s3 = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1", config=cfg)
kms = boto3.client("kms", endpoint_url=ENDPOINT, region_name="us-east-1", config=cfg)
MIB = 1024 * 1024
CANARY = b"GLACIER-OTTER-CANARY:"
PARTS = [5 * MIB, 5 * MIB, 1234]
KEY_C = hashlib.sha256(b"s3d archive sse-c key").digest()
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY_C}


def part_body(n, tag, number):
    """n bytes of recognisable plaintext, different at every offset (a misplaced part shows)."""
    out = b"".join(CANARY + f"{tag}/{number}/{i:08d}|".encode() for i in range(n // len(CANARY) + 1))
    return out[:n]


def files_containing(root, needle):
    found = []
    for d, _, files in os.walk(root):
        for f in files:
            try:
                with open(os.path.join(d, f), "rb") as fh:
                    if needle in fh.read():
                        found.append(os.path.join(d, f))
            except FileNotFoundError:
                pass  # a released blob left the trash meanwhile
    return found


def metrics():
    with urllib.request.urlopen(METRICS, timeout=30) as r:
        return r.read().decode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


# The modes: write parameters, read parameters, and what responses say about the encryption.
kms_key = kms.create_key(Description="archive suite")["KeyMetadata"]
kms.create_alias(AliasName="alias/archive", TargetKeyId=kms_key["KeyId"])
MODES = {
    "s3": ({"ServerSideEncryption": "AES256"}, {}, ("ServerSideEncryption", "AES256")),
    "kms": ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/archive"}, {},
            ("ServerSideEncryption", "aws:kms")),
    "c": (SSEC, SSEC, ("SSECustomerAlgorithm", "AES256")),
}
BUCKET = "sealed-archive"
s3.create_bucket(Bucket=BUCKET)
# Objects under moved/ go to GLACIER after a day, under deep/ to DEEP_ARCHIVE.
s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [
    {"ID": "moved", "Filter": {"Prefix": "moved/"}, "Status": "Enabled",
     "Transitions": [{"Days": 1, "StorageClass": "GLACIER"}]},
    {"ID": "deep", "Filter": {"Prefix": "deep/"}, "Status": "Enabled",
     "Transitions": [{"Days": 1, "StorageClass": "DEEP_ARCHIVE"}]},
]})


def upload(key, mode, storage_class=None):
    write, read, _ = MODES[mode]
    extra = {"StorageClass": storage_class} if storage_class else {}
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key, **write, **extra)
    parts, chosen = [], []
    for number, n in enumerate(PARTS, start=1):
        data = part_body(n, key, number)
        r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up["UploadId"], PartNumber=number, Body=data, **read)
        chosen.append({"PartNumber": number, "ETag": r["ETag"]})
        parts.append(data)
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": chosen}, **read)
    return parts


objects = {}  # key -> (mode, expected class, parts)
for mode in MODES:
    objects[f"direct/{mode}"] = (mode, "GLACIER", upload(f"direct/{mode}", mode, "GLACIER"))
    objects[f"direct-deep/{mode}"] = (mode, "DEEP_ARCHIVE", upload(f"direct-deep/{mode}", mode, "DEEP_ARCHIVE"))
    objects[f"moved/{mode}"] = (mode, "GLACIER", upload(f"moved/{mode}", mode))
    objects[f"deep/{mode}"] = (mode, "DEEP_ARCHIVE", upload(f"deep/{mode}", mode))


def head(key, **kw):
    return s3.head_object(Bucket=BUCKET, Key=key, **kw)


for key, (mode, cls, parts) in objects.items():
    read = MODES[mode][1]
    wait_until(lambda: head(key, **read).get("StorageClass") == cls, f"{key} moves to {cls}", 10 * DAY + 20)
    h = head(key, **read)
    check(h["ContentLength"] == sum(PARTS) and "Restore" not in h, f"{key}: HEAD of the archived object: {h}")
    field, value = MODES[mode][2]
    check(h.get(field) == value, f"{key}: HEAD reports the encryption {field}={value}: {h}")
    expect_error(s3.get_object, "InvalidObjectState", 403, Bucket=BUCKET, Key=key, **read)
    expect_error(s3.get_object, "InvalidObjectState", 403, Bucket=BUCKET, Key=key, Range="bytes=0-9", **read)
print("archived: ok")

# The cold tier holds the objects, sealed: not one plaintext byte pattern of them.
cold = os.path.join(DATA_DIR, "s3d", "cold")
pack_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(cold, "packs")) for f in fs)
check(pack_bytes >= len(objects) * sum(PARTS) * 0.9, f"the packs hold the sealed bodies: {pack_bytes} bytes")
leaks = files_containing(cold, CANARY)
check(not leaks, f"plaintext in the cold tier: {leaks}")
print("cold tier holds ciphertext only: ok")

for key, (mode, cls, _) in objects.items():
    tier = "Standard" if cls == "DEEP_ARCHIVE" else "Expedited"
    r = s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 100000, "GlacierJobParameters": {"Tier": tier}})
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 202, f"{key}: restore accepted")
for key, (mode, cls, parts) in objects.items():
    read = MODES[mode][1]
    wait_until(lambda: 'ongoing-request="false"' in head(key, **read).get("Restore", ""), f"{key} restored", 60)
    whole = b"".join(parts)
    got = s3.get_object(Bucket=BUCKET, Key=key, **read)
    check(got["Body"].read() == whole, f"{key}: the restored copy reads back whole")
    check(got["StorageClass"] == cls, f"{key}: still {cls} when restored")
    b1, b2 = PARTS[0], PARTS[0] + PARTS[1]
    for first, last in [(b1 - 10, b1 + 9), (b1 - 100_000, b2 + 99), (b2 - 1, b2), (b2, len(whole) - 1),
                        (65_530, 65_545), (b1 + 3 * 65_536 - 1, b1 + 3 * 65_536)]:
        r = s3.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={first}-{last}", **read)
        check(r["Body"].read() == whole[first:last + 1], f"{key}: range {first}-{last}")
        check(r["ContentRange"] == f"bytes {first}-{last}/{len(whole)}", f"{key}: Content-Range {r['ContentRange']}")
    r = s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=-5000", **read)
    check(r["Body"].read() == whole[-5000:], f"{key}: suffix range across the last part boundary")
    for number in (1, 2, 3):
        r = s3.get_object(Bucket=BUCKET, Key=key, PartNumber=number, **read)
        check(r["Body"].read() == parts[number - 1] and r.get("PartsCount") == 3,
              f"{key}: partNumber {number} (PartsCount {r.get('PartsCount')})")
    expect_error(s3.get_object, "InvalidPartNumber", 416, Bucket=BUCKET, Key=key, PartNumber=4, **read)
print("restored copies read back whole, by range and by part: ok")

# A restored object can be copied out (it is decrypted and sealed again for the copy).
s3.copy_object(Bucket=BUCKET, Key="copied", CopySource={"Bucket": BUCKET, "Key": "moved/c"},
               CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=KEY_C,
               ServerSideEncryption="AES256", StorageClass="STANDARD")
check(s3.get_object(Bucket=BUCKET, Key="copied")["Body"].read() == b"".join(objects["moved/c"][2]),
      "a copy of a restored SSE-C multipart object")
expect_error(s3.get_object, "InvalidRequest", 400, Bucket=BUCKET, Key="direct/c")  # SSE-C key is still required

leaks = files_containing(DATA_DIR, CANARY)
check(not leaks, f"plaintext at rest after the restores: {leaks}")
m = metrics()
check(metric(m, "s3d_objects_unarchivable_total") == 0, "no object was reported unarchivable")
check((metric(m, "s3d_objects_archived_total") or 0) >= len(objects), "every object was archived")
print("metrics: ok")
print(f"{s3check.checks} checks ok")
