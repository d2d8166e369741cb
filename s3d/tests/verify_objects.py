"""Reads back objects and compares their MD5 with what was acknowledged.

Usage: verify_objects.py ENDPOINT BUCKET < lines of `key md5`
"""
import hashlib
import sys

import boto3
from botocore.client import Config

s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30))
bucket = sys.argv[2]
n = 0
for line in sys.stdin:
    key, md5 = line.split()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.md5(body).hexdigest() == md5, f"{key}: content differs after restart"
    n += 1
listed = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    listed += page.get("KeyCount", 0)
assert listed >= n, f"listing shows {listed} objects, {n} were acknowledged"
print(f"verified {n} acknowledged objects ({listed} listed)")
