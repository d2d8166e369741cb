"""Writes objects to s3d as fast as it can, printing `ACK key md5` after each PUT is acknowledged, until
killed or the daemon dies. Sizes alternate between inline (1 KiB) and blob-backed (100 KiB) bodies.

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
print("READY", flush=True)
i = 0
while True:
    body = os.urandom(1024 if i % 2 == 0 else 100 * 1024)
    key = f"obj-{i:06d}"
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except Exception:
        break
    print(f"ACK {key} {hashlib.md5(body).hexdigest()}", flush=True)
    i += 1
