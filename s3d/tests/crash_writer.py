"""Writes objects to s3d as fast as it can into a versioned bucket, until killed or the daemon dies.
Keys cycle over 40 names, so most PUTs add a version over older ones; sizes alternate between inline
(1 KiB) and blob-backed (100 KiB) bodies; every 7th step permanently deletes an acknowledged version.
Prints `ACK key version-id md5` after each acknowledged PUT and `DEL key version-id` after each
acknowledged version delete.

Usage: crash_writer.py ENDPOINT BUCKET
"""
import hashlib
import os
import sys

import boto3
from botocore.client import Config

s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30))
bucket = sys.argv[2]
s3.create_bucket(Bucket=bucket)
s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
print("READY", flush=True)
acked = []
i = 0
while True:
    try:
        if i % 7 == 6 and acked:
            key, vid = acked.pop(len(acked) // 2)
            s3.delete_object(Bucket=bucket, Key=key, VersionId=vid)
            print(f"DEL {key} {vid}", flush=True)
        else:
            body = os.urandom(1024 if i % 2 == 0 else 100 * 1024)
            key = f"obj-{i % 40:06d}"
            vid = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
            acked.append((key, vid))
            print(f"ACK {key} {vid} {hashlib.md5(body).hexdigest()}", flush=True)
    except Exception:
        break
    i += 1
