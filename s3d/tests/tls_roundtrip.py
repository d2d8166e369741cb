"""Over HTTPS, botocore sends PUT bodies aws-chunked with the CRC32 in a trailer
(STREAMING-UNSIGNED-PAYLOAD-TRAILER): upload single and multipart objects that way and read them back.

Usage: tls_roundtrip.py https://127.0.0.1:PORT
"""
import hashlib
import io
import os
import sys
import zlib
import base64

import boto3
import urllib3
from botocore.client import Config

urllib3.disable_warnings()
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", verify=False,
                  config=Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60))
s3.create_bucket(Bucket="tls")
body = os.urandom(3 * 1024 * 1024 + 5)
r = s3.put_object(Bucket="tls", Key="single", Body=body)
crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
assert r.get("ChecksumCRC32") == crc, f"trailer checksum stored: {r.get('ChecksumCRC32')} != {crc}"
g = s3.get_object(Bucket="tls", Key="single", ChecksumMode="ENABLED")
assert g["Body"].read() == body and g.get("ChecksumCRC32") == crc
big = os.urandom(20 * 1024 * 1024)
s3.upload_fileobj(io.BytesIO(big), "tls", "multi")
got = s3.get_object(Bucket="tls", Key="multi")["Body"].read()
assert hashlib.md5(got).digest() == hashlib.md5(big).digest(), "multipart over TLS reads back"
# Over TLS SSE-C keys are accepted without any flag; the body arrives aws-chunked and is sealed.
key = os.urandom(32)
ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}
s3.put_object(Bucket="tls", Key="ssec", Body=body, **ssec)
assert s3.get_object(Bucket="tls", Key="ssec", **ssec)["Body"].read() == body, "SSE-C over TLS"
print("tls ok")
