"""Reads back every acknowledged version and compares its MD5 with what was acknowledged; versions whose
delete was acknowledged must be gone.

Usage: verify_objects.py ENDPOINT BUCKET < lines of `ACK key version-id md5` / `DEL key version-id`
"""
import hashlib
import sys

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30))
bucket = sys.argv[2]
expected = {}
for line in sys.stdin:
    fields = line.split()
    if fields[0] == "ACK":
        expected[(fields[1], fields[2])] = fields[3]
    elif fields[0] == "DEL":
        expected.pop((fields[1], fields[2]), None)
        try:
            s3.head_object(Bucket=bucket, Key=fields[1], VersionId=fields[2])
            raise AssertionError(f"{fields[1]} {fields[2]}: deleted version is back after restart")
        except ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e
for (key, vid), md5 in expected.items():
    body = s3.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"].read()
    assert hashlib.md5(body).hexdigest() == md5, f"{key} {vid}: content differs after restart"
listed = 0
for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
    listed += len(page.get("Versions", []))
assert listed >= len(expected), f"listing shows {listed} versions, {len(expected)} were acknowledged"
print(f"verified {len(expected)} acknowledged versions ({listed} listed)")
