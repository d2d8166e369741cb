"""Drives s3d with boto3 through every operation of issue #3 and the errors S3 returns.

Usage: boto3_suite.py ENDPOINT   (credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY;
BOB_ACCESS_KEY / BOB_SECRET_KEY name a second user). Exits non-zero on the first failed check.
"""
import base64
import datetime
import hashlib
import os
import socket
import subprocess
import sys
import time
import zlib

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import MissingDependencyException

import s3check
from s3check import check, expect_error

ENDPOINT = sys.argv[1]


def client(ak=None, sk=None, **cfg):
    return s3check.client(ENDPOINT, ak, sk, **cfg)


s3 = client()
bob = client(os.environ["BOB_ACCESS_KEY"], os.environ["BOB_SECRET_KEY"])


def md5hex(b):
    return hashlib.md5(b).hexdigest()


def buckets():
    s3.create_bucket(Bucket="suite")
    expect_error(s3.create_bucket, "BucketAlreadyOwnedByYou", 409, Bucket="suite")
    expect_error(bob.create_bucket, "BucketAlreadyExists", 409, Bucket="suite")
    for bad in ["ab", "UPPER", "bad_name", "-dash", "192.168.0.1", "a" * 64, "a..b"]:
        e = expect_error(s3.create_bucket, "InvalidBucketName", 400, Bucket=bad)
        check(e.response["Error"].get("Message"), f"InvalidBucketName for {bad!r} has a Message")
    e = expect_error(s3.get_object, "InvalidBucketName", 400, Bucket="bad_name", Key="k")
    check(e.response["Error"].get("Message") == "The specified bucket is not valid.", f"object op: {e.response}")
    s3.head_bucket(Bucket="suite")
    expect_error(s3.head_bucket, "404", 404, Bucket="no-such-bucket-here")
    expect_error(bob.head_bucket, "403", 403, Bucket="suite")
    expect_error(bob.list_objects_v2, "AccessDenied", 403, Bucket="suite")
    expect_error(bob.put_object, "AccessDenied", 403, Bucket="suite", Key="x", Body=b"x")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check("suite" in names, "ListBuckets shows the bucket")
    check("suite" not in [b["Name"] for b in bob.list_buckets()["Buckets"]], "other users do not see it")
    loc = s3.get_bucket_location(Bucket="suite")
    check(loc.get("LocationConstraint") in (None, ""), f"us-east-1 location is empty: {loc}")
    s3.create_bucket(Bucket="euro-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    check(s3.get_bucket_location(Bucket="euro-bucket")["LocationConstraint"] == "eu-west-1", "location kept")
    s3.put_object(Bucket="euro-bucket", Key="k", Body=b"x")
    expect_error(s3.delete_bucket, "BucketNotEmpty", 409, Bucket="euro-bucket")
    s3.delete_object(Bucket="euro-bucket", Key="k")
    s3.delete_bucket(Bucket="euro-bucket")
    expect_error(s3.delete_bucket, "NoSuchBucket", 404, Bucket="euro-bucket")
    # Bucket tagging: the owner's, replaced whole, NoSuchTagSet when there is none.
    expect_error(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket="suite")
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "cost-center", "Value": ""}]
    r = s3.put_bucket_tagging(Bucket="suite", Tagging={"TagSet": tags})
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 204, "PutBucketTagging is 204")
    check(s3.get_bucket_tagging(Bucket="suite")["TagSet"] == tags, "bucket tags read back in order")
    s3.put_bucket_tagging(Bucket="suite", Tagging={"TagSet": tags[:1]})
    check(s3.get_bucket_tagging(Bucket="suite")["TagSet"] == tags[:1], "PutBucketTagging replaces the set")
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    expect_error(s3.put_bucket_tagging, "InvalidTag", 400, Bucket="suite", Tagging={"TagSet": many})
    expect_error(s3.put_bucket_tagging, "InvalidTag", 400, Bucket="suite",
                 Tagging={"TagSet": [{"Key": "aws:owner", "Value": "me"}]})
    expect_error(s3.put_bucket_tagging, "InvalidTag", 400, Bucket="suite",
                 Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
    expect_error(bob.get_bucket_tagging, "AccessDenied", 403, Bucket="suite")
    expect_error(bob.put_bucket_tagging, "AccessDenied", 403, Bucket="suite", Tagging={"TagSet": tags})
    expect_error(s3.get_bucket_tagging, "NoSuchBucket", 404, Bucket="no-such-bucket-here")
    check(s3.delete_bucket_tagging(Bucket="suite")["ResponseMetadata"]["HTTPStatusCode"] == 204, "DeleteBucketTagging is 204")
    expect_error(s3.get_bucket_tagging, "NoSuchTagSet", 404, Bucket="suite")
    cors_rules()


def cors_rules():
    """Bucket CORS: a browser's preflight and its cross-origin requests, as S3 answers them."""
    base = s3.meta.endpoint_url
    preflight = lambda origin, method, headers=None: requests.options(
        f"{base}/suite/upload.txt", timeout=30,
        headers={k: v for k, v in {"Origin": origin, "Access-Control-Request-Method": method,
                                   "Access-Control-Request-Headers": headers}.items() if v})
    expect_error(s3.get_bucket_cors, "NoSuchCORSConfiguration", 404, Bucket="suite")
    r = preflight("https://app.example.com", "PUT")
    check(r.status_code == 403 and b"CORS is not enabled for this bucket" in r.content, f"no CORS: {r.status_code} {r.text}")
    rules = [{"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["PUT", "POST"],
              "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
             {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]}]
    s3.put_bucket_cors(Bucket="suite", CORSConfiguration={"CORSRules": rules})
    got = s3.get_bucket_cors(Bucket="suite")["CORSRules"]
    check(got[0]["AllowedOrigins"] == ["https://*.example.com"] and got[0]["MaxAgeSeconds"] == 600
          and got[1]["AllowedMethods"] == ["GET", "HEAD"], f"CORS rules read back: {got}")
    expect_error(bob.get_bucket_cors, "AccessDenied", 403, Bucket="suite")
    expect_error(s3.put_bucket_cors, "InvalidRequest", 400, Bucket="suite",
                 CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    r = preflight("https://app.example.com", "PUT", "Content-Type, X-Amz-Date")
    h = r.headers
    check(r.status_code == 200 and h.get("access-control-allow-origin") == "https://app.example.com"
          and h.get("access-control-allow-methods") == "PUT, POST"
          and h.get("access-control-allow-headers") == "Content-Type, X-Amz-Date"
          and h.get("access-control-max-age") == "600" and h.get("access-control-expose-headers") == "ETag"
          and h.get("access-control-allow-credentials") == "true", f"preflight allowed: {r.status_code} {dict(h)}")
    for origin, method, headers in [("https://evil.test", "PUT", None), ("https://app.example.com", "DELETE", None),
                                    ("https://app.example.com", "PUT", "authorization")]:
        r = preflight(origin, method, headers)
        check(r.status_code == 403 and b"AccessForbidden" in r.content, f"preflight refused {origin} {method}: {r.status_code}")
    r = requests.options(f"{base}/suite/upload.txt", timeout=30, headers={"Access-Control-Request-Method": "GET"})
    check(r.status_code == 400, f"preflight without Origin: {r.status_code}")
    r = preflight("https://x.test", "GET")
    check(r.status_code == 200 and r.headers.get("access-control-allow-origin") == "*"
          and "access-control-allow-credentials" not in r.headers, f"preflight for any origin: {dict(r.headers)}")
    # The browser's actual requests: a presigned PUT from the allowed origin, a GET from anywhere.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "suite", "Key": "upload.txt"}, ExpiresIn=300)
    r = requests.put(url, data=b"from a browser", headers={"Origin": "https://app.example.com"}, timeout=30)
    check(r.status_code == 200 and r.headers.get("access-control-allow-origin") == "https://app.example.com"
          and r.headers.get("access-control-expose-headers") == "ETag", f"cross-origin PUT: {r.status_code} {dict(r.headers)}")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "suite", "Key": "upload.txt"}, ExpiresIn=300)
    r = requests.get(url, headers={"Origin": "https://x.test"}, timeout=30)
    check(r.content == b"from a browser" and r.headers.get("access-control-allow-origin") == "*", "cross-origin GET")
    r = requests.get(url, timeout=30)
    check("access-control-allow-origin" not in r.headers, "no CORS headers without an Origin")
    check(s3.delete_bucket_cors(Bucket="suite")["ResponseMetadata"]["HTTPStatusCode"] == 204, "DeleteBucketCors is 204")
    expect_error(s3.get_bucket_cors, "NoSuchCORSConfiguration", 404, Bucket="suite")
    s3.delete_object(Bucket="suite", Key="upload.txt")


def objects():
    body = b"hello world"
    r = s3.put_object(Bucket="suite", Key="hello.txt", Body=body, ContentType="text/plain", CacheControl="max-age=60",
                      ContentDisposition="attachment", ContentEncoding="identity",
                      Expires=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc),
                      Metadata={"Color": "blue", "x": "1"}, Tagging="a=1&b=2")
    check(r["ETag"] == f'"{md5hex(body)}"', "ETag is the hex MD5")
    check("VersionId" not in r, "no version id on an unversioned bucket")
    g = s3.get_object(Bucket="suite", Key="hello.txt")
    check(g["Body"].read() == body, "GET returns the body")
    check(g["ContentType"] == "text/plain" and g["CacheControl"] == "max-age=60", "system headers kept")
    check(g["ContentDisposition"] == "attachment" and g["ContentEncoding"] == "identity", "disposition/encoding kept")
    check(g["Expires"].year == 2030, "Expires kept")
    check(g["Metadata"] == {"color": "blue", "x": "1"}, f"user metadata kept: {g['Metadata']}")
    check(g.get("TagCount") == 2, "tag count returned")
    check("x-amz-version-id" not in g["ResponseMetadata"]["HTTPHeaders"], "no x-amz-version-id header")
    check("x-amz-request-id" in g["ResponseMetadata"]["HTTPHeaders"], "request id header")
    h = s3.head_object(Bucket="suite", Key="hello.txt", VersionId="null")
    check(h["ContentLength"] == len(body), "HEAD with versionId=null addresses the object")
    # Ranges
    for rng, want in [("bytes=0-4", body[0:5]), ("bytes=6-", body[6:]), ("bytes=-5", body[-5:]), ("bytes=3-100", body[3:])]:
        r = s3.get_object(Bucket="suite", Key="hello.txt", Range=rng)
        check(r["ResponseMetadata"]["HTTPStatusCode"] == 206 and r["Body"].read() == want, f"range {rng}")
    r = s3.get_object(Bucket="suite", Key="hello.txt", Range="bytes=0-4")
    check(r["ContentRange"] == f"bytes 0-4/{len(body)}", "Content-Range")
    expect_error(s3.get_object, "InvalidRange", 416, Bucket="suite", Key="hello.txt", Range="bytes=100-200")
    expect_error(s3.get_object, "InvalidRange", 416, Bucket="suite", Key="hello.txt", Range="bytes=-0")
    h = s3.head_object(Bucket="suite", Key="hello.txt", Range="bytes=1-3")
    check(h["ResponseMetadata"]["HTTPStatusCode"] == 206 and h["ContentLength"] == 3, "ranged HEAD is 206")
    check(h["ContentRange"] == f"bytes 1-3/{len(body)}", "ranged HEAD Content-Range")
    r = s3.get_object(Bucket="suite", Key="hello.txt", PartNumber=1)
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 206 and r["ContentRange"] == f"bytes 0-{len(body)-1}/{len(body)}"
          and r["Body"].read() == body, "part 1 of a single-part object is a 206 of all of it")
    s3.put_object(Bucket="suite", Key="empty.txt", Body=b"")
    r = s3.get_object(Bucket="suite", Key="empty.txt", Range="bytes=-5")
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 200 and r["Body"].read() == b"", "suffix of an empty object: 200")
    expect_error(s3.get_object, "InvalidRange", 416, Bucket="suite", Key="empty.txt", Range="bytes=0-")
    # S3 ignores a Range it cannot use (whole object, 200); a presigned URL leaves Range unsigned.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "suite", "Key": "hello.txt"}, ExpiresIn=300)
    for rng in ["bytes=5-3", "bytes=0-1,3-4", "bytes=abc", "bytes=-", "items=0-1"]:
        r = requests.get(url, headers={"Range": rng}, timeout=30)
        check(r.status_code == 200 and r.content == body and "content-range" not in r.headers, f"ignored range {rng}: {r.status_code}")
    r = requests.get(url, headers={"Range": "bytes=2-4"}, timeout=30)
    check(r.status_code == 206 and r.content == body[2:5], "presigned ranged GET")
    r = requests.get(url, headers={"Range": "bytes=99999999999999999999999-"}, timeout=30)
    check(r.status_code == 416 and b"InvalidRange" in r.content, f"range past any object: {r.status_code}")
    expect_error(s3.get_object, "NoSuchKey", 404, Bucket="suite", Key="missing")
    expect_error(s3.get_object, "NoSuchBucket", 404, Bucket="missing-bucket", Key="k")
    # Conditional reads
    etag = g["ETag"]
    check(s3.get_object(Bucket="suite", Key="hello.txt", IfMatch=etag)["Body"].read() == body, "If-Match hit")
    expect_error(s3.get_object, "PreconditionFailed", 412, Bucket="suite", Key="hello.txt", IfMatch='"nope"')
    expect_error(s3.get_object, "304", 304, Bucket="suite", Key="hello.txt", IfNoneMatch=etag)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    expect_error(s3.get_object, "304", 304, Bucket="suite", Key="hello.txt", IfModifiedSince=future)
    expect_error(s3.get_object, "PreconditionFailed", 412, Bucket="suite", Key="hello.txt", IfUnmodifiedSince=past)
    check(s3.get_object(Bucket="suite", Key="hello.txt", IfModifiedSince=past)["Body"].read() == body, "modified since 2000")
    # Conditional writes
    s3.put_object(Bucket="suite", Key="once", Body=b"1", IfNoneMatch="*")
    expect_error(s3.put_object, "PreconditionFailed", 412, Bucket="suite", Key="once", Body=b"2", IfNoneMatch="*")
    expect_error(s3.put_object, "PreconditionFailed", 412, Bucket="suite", Key="once", Body=b"2", IfMatch='"bad"')
    s3.put_object(Bucket="suite", Key="once", Body=b"2", IfMatch=f'"{md5hex(b"1")}"')
    # Content-MD5
    good = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    s3.put_object(Bucket="suite", Key="md5", Body=b"data", ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    expect_error(s3.put_object, "BadDigest", 400, Bucket="suite", Key="md5", Body=b"data", ContentMD5=bad)
    expect_error(s3.put_object, "InvalidDigest", 400, Bucket="suite", Key="md5", Body=b"data", ContentMD5="xx")
    check(s3.get_object(Bucket="suite", Key="md5")["Body"].read() == b"data", "failed PUTs leave the object alone")
    # Additional checksums
    for algo in ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]:
        try:
            r = s3.put_object(Bucket="suite", Key=f"sum-{algo}", Body=b"checksummed", ChecksumAlgorithm=algo)
        except MissingDependencyException:  # CRC32C / CRC64NVME need awscrt on the client side
            continue
        h = s3.head_object(Bucket="suite", Key=f"sum-{algo}", ChecksumMode="ENABLED")
        check(h.get(f"Checksum{algo}") == r.get(f"Checksum{algo}") and h.get(f"Checksum{algo}"), f"{algo} stored and returned")
    crc = base64.b64encode(zlib.crc32(b"checksummed").to_bytes(4, "big")).decode()
    h = s3.head_object(Bucket="suite", Key="sum-CRC32", ChecksumMode="ENABLED")
    check(h["ChecksumCRC32"] == crc, "CRC32 value is right")
    expect_error(s3.put_object, "BadDigest", 400, Bucket="suite", Key="badsum", Body=b"x", ChecksumCRC32="AAAAAA==")
    # A checksum in an aws-chunked trailer (what SDKs send over HTTPS) is verified once the body is in.
    # The announced trailer missing, or others sent with it, is MalformedTrailerError (as S3 answers).
    good = f"x-amz-checksum-crc32:{crc}\r\n"
    for trailers, status, code in [(good, 200, None), ("x-amz-checksum-crc32:AAAAAA==\r\n", 400, b"BadDigest"),
                                   ("", 400, b"MalformedTrailerError"),
                                   ("x-amz-checksum-sha1:2jmj7l5rSw0yVb/vlWAYkK/YBwk=\r\n", 400, b"MalformedTrailerError"),
                                   (good + "x-amz-meta-extra:1\r\n", 400, b"MalformedTrailerError")]:
        body = f"b\r\nchecksummed\r\n0\r\n{trailers}\r\n".encode()
        headers = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-trailer": "x-amz-checksum-crc32",
                   "content-encoding": "aws-chunked", "x-amz-decoded-content-length": "11"}
        req = AWSRequest(method="PUT", url=f"{ENDPOINT}/suite/trailer", data=body, headers=headers)
        SigV4Auth(Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]), "s3", "us-east-1").add_auth(req)
        r = requests.put(req.url, data=body, headers=dict(req.headers), timeout=30)
        check(r.status_code == status and (code is None or code in r.content), f"trailers {trailers!r}: {r.status_code} {r.text}")
    # boto3 sends `Expect: 100-continue` with an empty body too; the PUT after one must not stall
    # (it waited for botocore's 60 s read timeout when the connection was kept).
    fresh = client()
    started = time.time()
    fresh.put_object(Bucket="suite", Key="empty", Body=b"")
    fresh.put_object(Bucket="suite", Key="empty", Body=b"after")
    check(time.time() - started < 5, f"a PUT after an empty PUT took {time.time() - started:.1f} s")
    check(fresh.get_object(Bucket="suite", Key="empty")["Body"].read() == b"after", "PUT after an empty PUT")
    # Metadata limit
    expect_error(s3.put_object, "MetadataTooLarge", 400, Bucket="suite", Key="meta", Body=b"x", Metadata={"big": "v" * 2100})
    # Storage class
    expect_error(s3.put_object, "InvalidStorageClass", 400, Bucket="suite", Key="sc", Body=b"x", StorageClass="NOPE")
    # Large body goes through a blob and reads back by range
    big = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket="suite", Key="big.bin", Body=big)
    check(s3.get_object(Bucket="suite", Key="big.bin")["Body"].read() == big, "3 MiB round trip")
    check(s3.get_object(Bucket="suite", Key="big.bin", Range="bytes=1000000-2000000")["Body"].read() == big[1000000:2000001], "blob range")
    # Deletes
    s3.delete_object(Bucket="suite", Key="once")
    s3.delete_object(Bucket="suite", Key="once")
    expect_error(s3.head_object, "404", 404, Bucket="suite", Key="once")
    for i in range(5):
        s3.put_object(Bucket="suite", Key=f"del/{i}", Body=b"x")
    r = s3.delete_objects(Bucket="suite", Delete={"Objects": [{"Key": f"del/{i}"} for i in range(5)] + [{"Key": "del/none"}]})
    check(len(r["Deleted"]) == 6 and not r.get("Errors"), "DeleteObjects reports each key")
    s3.put_object(Bucket="suite", Key="del/q", Body=b"x")
    r = s3.delete_objects(Bucket="suite", Delete={"Objects": [{"Key": "del/q"}], "Quiet": True})
    check(not r.get("Deleted"), "quiet mode reports nothing on success")
    check(s3.list_objects_v2(Bucket="suite", Prefix="del/")["KeyCount"] == 0, "all deleted")


def tagging():
    s3.put_object_tagging(Bucket="suite", Key="hello.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    t = s3.get_object_tagging(Bucket="suite", Key="hello.txt")["TagSet"]
    check(t == [{"Key": "k", "Value": "v"}], f"tags replaced: {t}")
    expect_error(s3.put_object_tagging, "InvalidTag", 400, Bucket="suite", Key="hello.txt",
                 Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    expect_error(s3.put_object, "InvalidTag", 400, Bucket="suite", Key="t", Body=b"x",
                 Tagging="&".join(f"k{i}=v" for i in range(11)))
    s3.delete_object_tagging(Bucket="suite", Key="hello.txt")
    check(s3.get_object_tagging(Bucket="suite", Key="hello.txt")["TagSet"] == [], "tags deleted")
    expect_error(s3.get_object_tagging, "NoSuchKey", 404, Bucket="suite", Key="missing")


def copies():
    s3.copy_object(Bucket="suite", Key="copy1", CopySource={"Bucket": "suite", "Key": "hello.txt"})
    c = s3.get_object(Bucket="suite", Key="copy1")
    check(c["Body"].read() == b"hello world" and c["Metadata"] == {"color": "blue", "x": "1"}, "COPY keeps metadata")
    check(c["ContentType"] == "text/plain", "COPY keeps content type")
    s3.copy_object(Bucket="suite", Key="copy2", CopySource="suite/hello.txt", MetadataDirective="REPLACE",
                   Metadata={"new": "yes"}, ContentType="application/x-new")
    c = s3.head_object(Bucket="suite", Key="copy2")
    check(c["Metadata"] == {"new": "yes"} and c["ContentType"] == "application/x-new", "REPLACE replaces")
    expect_error(s3.copy_object, "InvalidRequest", 400, Bucket="suite", Key="hello.txt", CopySource="suite/hello.txt")
    expect_error(s3.copy_object, "NoSuchKey", 404, Bucket="suite", Key="c", CopySource="suite/missing")
    expect_error(s3.copy_object, "PreconditionFailed", 412, Bucket="suite", Key="c", CopySource="suite/hello.txt",
                 CopySourceIfMatch='"nope"')
    big = os.urandom(100_000)
    s3.put_object(Bucket="suite", Key="bigsrc", Body=big)
    r = s3.copy_object(Bucket="suite", Key="bigcopy", CopySource="suite/bigsrc")
    check(r["CopyObjectResult"]["ETag"] == f'"{md5hex(big)}"', "copy ETag")
    check(s3.get_object(Bucket="suite", Key="bigcopy")["Body"].read() == big, "copied bytes")


def listing():
    s3.create_bucket(Bucket="listing")
    keys = ["a/1", "a/2", "a/b/3", "b", "c d", "c+e", "é/x", "z"]
    for k in keys:
        s3.put_object(Bucket="listing", Key=k, Body=b"x")
    r = s3.list_objects_v2(Bucket="listing")
    check([o["Key"] for o in r["Contents"]] == sorted(keys, key=lambda k: k.encode()), "byte order")
    r = s3.list_objects_v2(Bucket="listing", Delimiter="/")
    check([p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "é/"], f"common prefixes: {r.get('CommonPrefixes')}")
    check([o["Key"] for o in r["Contents"]] == ["b", "c d", "c+e", "z"], "top-level keys")
    r = s3.list_objects_v2(Bucket="listing", Prefix="a/", Delimiter="/")
    check([p["Prefix"] for p in r["CommonPrefixes"]] == ["a/b/"] and r["KeyCount"] == 3, "nested prefix")
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket="listing", MaxKeys=3, **kw)
        pages += 1
        seen += [o["Key"] for o in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    check(seen == sorted(keys, key=lambda k: k.encode()) and pages == 3, "pagination with continuation tokens")
    r = s3.list_objects_v2(Bucket="listing", StartAfter="b")
    check(r["Contents"][0]["Key"] == "c d", "start-after")
    r = s3.list_objects_v2(Bucket="listing", FetchOwner=True, MaxKeys=1)
    check("Owner" in r["Contents"][0], "fetch-owner")
    check("Owner" not in s3.list_objects_v2(Bucket="listing", MaxKeys=1)["Contents"][0], "no owner by default")
    raw = s3.list_objects_v2(Bucket="listing", EncodingType="url", Prefix="c")
    # botocore decodes only when it chose the encoding itself (as it does for every plain listing above).
    check([o["Key"] for o in raw["Contents"]] == ["c%20d", "c%2Be"], f"encoding-type=url: {raw['Contents']}")
    r = s3.list_objects(Bucket="listing", Marker="a/b/3", MaxKeys=2)
    check([o["Key"] for o in r["Contents"]] == ["b", "c d"] and r["IsTruncated"], "v1 marker")
    r = s3.list_objects(Bucket="listing", Delimiter="/", MaxKeys=1)
    check(r["NextMarker"] == "a/", "v1 NextMarker with delimiter")
    r = s3.list_objects_v2(Bucket="listing", MaxKeys=0)
    check(r["KeyCount"] == 0, "max-keys=0")
    expect_error(s3.list_objects_v2, "NoSuchBucket", 404, Bucket="nope-bucket")


def multipart():
    mib = 1024 * 1024
    up = s3.create_multipart_upload(Bucket="suite", Key="mp", ContentType="video/mp4", Metadata={"m": "1"})
    uid = up["UploadId"]
    p1, p2, p3 = os.urandom(5 * mib), os.urandom(5 * mib), os.urandom(1234)
    e1 = s3.upload_part(Bucket="suite", Key="mp", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket="suite", Key="mp", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
    e3 = s3.upload_part(Bucket="suite", Key="mp", UploadId=uid, PartNumber=3, Body=p3)["ETag"]
    parts = s3.list_parts(Bucket="suite", Key="mp", UploadId=uid)["Parts"]
    check([p["PartNumber"] for p in parts] == [1, 2, 3] and parts[2]["Size"] == 1234, "ListParts")
    lp = s3.list_parts(Bucket="suite", Key="mp", UploadId=uid, MaxParts=2)
    check(lp["IsTruncated"] and lp["NextPartNumberMarker"] == 2, "ListParts pages")
    ups = s3.list_multipart_uploads(Bucket="suite")["Uploads"]
    check([u["UploadId"] for u in ups] == [uid], "ListMultipartUploads")
    odd = s3.create_multipart_upload(Bucket="suite", Key="mu p+q/r")["UploadId"]
    raw = s3.list_multipart_uploads(Bucket="suite", EncodingType="url", Prefix="mu p", Delimiter="/")
    check(raw.get("EncodingType") == "url" and raw["Prefix"] == "mu%20p"
          and [c["Prefix"] for c in raw["CommonPrefixes"]] == ["mu%20p%2Bq/"], f"uploads encoding-type=url: {raw}")
    raw = s3.list_multipart_uploads(Bucket="suite", EncodingType="url", Prefix="mu")
    check([u["Key"] for u in raw["Uploads"]] == ["mu%20p%2Bq/r"], f"upload keys URL-encoded: {raw.get('Uploads')}")
    s3.abort_multipart_upload(Bucket="suite", Key="mu p+q/r", UploadId=odd)
    expect_error(s3.complete_multipart_upload, "InvalidPartOrder", 400, Bucket="suite", Key="mp", UploadId=uid,
                 MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    expect_error(s3.complete_multipart_upload, "InvalidPart", 400, Bucket="suite", Key="mp", UploadId=uid,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e2}]})
    r = s3.complete_multipart_upload(Bucket="suite", Key="mp", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in [(1, e1), (2, e2), (3, e3)]]})
    digests = b"".join(hashlib.md5(p).digest() for p in (p1, p2, p3))
    check(r["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-3"', "multipart ETag")
    g = s3.get_object(Bucket="suite", Key="mp")
    check(g["Body"].read() == p1 + p2 + p3 and g["ContentType"] == "video/mp4" and g["Metadata"] == {"m": "1"}, "manifest reads back")
    part2 = s3.get_object(Bucket="suite", Key="mp", PartNumber=2)
    check(part2["Body"].read() == p2 and part2["PartsCount"] == 3, "GET partNumber")
    check(s3.get_object(Bucket="suite", Key="mp", Range=f"bytes={5*mib-3}-{5*mib+2}")["Body"].read() == (p1 + p2)[5*mib-3:5*mib+3], "range across parts")
    every = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
    a = s3.get_object_attributes(Bucket="suite", Key="mp", ObjectAttributes=every)
    parts = a["ObjectParts"]
    check(a["ObjectSize"] == len(p1 + p2 + p3) and a["StorageClass"] == "STANDARD"
          and a["ETag"].strip('"') == r["ETag"].strip('"') and parts["TotalPartsCount"] == 3
          and [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, len(p1)), (2, len(p2)), (3, len(p3))],
          f"GetObjectAttributes of a multipart object: {a}")
    page = s3.get_object_attributes(Bucket="suite", Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2,
                                    PartNumberMarker=1)["ObjectParts"]
    check([p["PartNumber"] for p in page["Parts"]] == [2, 3] and not page["IsTruncated"]
          and page["NextPartNumberMarker"] == 3, f"parts page: {page}")
    page = s3.get_object_attributes(Bucket="suite", Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1)["ObjectParts"]
    check([p["PartNumber"] for p in page["Parts"]] == [1] and page["IsTruncated"], f"truncated parts page: {page}")
    a = s3.get_object_attributes(Bucket="suite", Key="hello.txt", ObjectAttributes=["ObjectSize", "ObjectParts"])
    check(a["ObjectSize"] == 11 and "ObjectParts" not in a and "ETag" not in a, f"only what was asked: {a}")
    expect_error(s3.get_object_attributes, "InvalidArgument", 400, Bucket="suite", Key="hello.txt", ObjectAttributes=["Colour"])
    expect_error(s3.get_object_attributes, "NoSuchKey", 404, Bucket="suite", Key="absent", ObjectAttributes=["ETag"])
    expect_error(bob.get_object_attributes, "AccessDenied", 403, Bucket="suite", Key="mp", ObjectAttributes=["ETag"])
    raw_etag = s3.get_object_attributes(Bucket="suite", Key="mp", ObjectAttributes=["ETag"])["ETag"]
    check(raw_etag == r["ETag"].strip('"'), f"GetObjectAttributes sends its ETag unquoted, as S3 does: {raw_etag}")
    multipart_checksums(p1, p2)
    expect_error(s3.list_parts, "NoSuchUpload", 404, Bucket="suite", Key="mp", UploadId=uid)
    # A GET streaming a manifest is not cut short by an overwrite of the key meanwhile: the parts
    # it has yet to open stay until it finishes, then go.
    sid = s3.create_multipart_upload(Bucket="suite", Key="mp-streamed")["UploadId"]
    bodies = [p1, p2, p1]
    done = [{"PartNumber": n + 1, "ETag": s3.upload_part(Bucket="suite", Key="mp-streamed", UploadId=sid,
                                                         PartNumber=n + 1, Body=b)["ETag"]} for n, b in enumerate(bodies)]
    s3.complete_multipart_upload(Bucket="suite", Key="mp-streamed", UploadId=sid, MultipartUpload={"Parts": done})
    for replace in [lambda: s3.put_object(Bucket="suite", Key="mp-streamed", Body=b"replaced"),
                    lambda: s3.delete_object(Bucket="suite", Key="mp-streamed")]:
        stream = s3.get_object(Bucket="suite", Key="mp-streamed")["Body"]
        first = stream.read(64 * 1024)
        replace()
        check(first + stream.read() == b"".join(bodies), "a streaming GET survives an overwrite/delete of its key")
        sid = s3.create_multipart_upload(Bucket="suite", Key="mp-streamed")["UploadId"]
        done = [{"PartNumber": n + 1, "ETag": s3.upload_part(Bucket="suite", Key="mp-streamed", UploadId=sid,
                                                             PartNumber=n + 1, Body=b)["ETag"]} for n, b in enumerate(bodies)]
        s3.complete_multipart_upload(Bucket="suite", Key="mp-streamed", UploadId=sid, MultipartUpload={"Parts": done})
    s3.delete_object(Bucket="suite", Key="mp-streamed")
    # Small non-last part
    uid = s3.create_multipart_upload(Bucket="suite", Key="small")["UploadId"]
    a = s3.upload_part(Bucket="suite", Key="small", UploadId=uid, PartNumber=1, Body=b"tiny")["ETag"]
    b = s3.upload_part(Bucket="suite", Key="small", UploadId=uid, PartNumber=2, Body=b"tiny")["ETag"]
    expect_error(s3.complete_multipart_upload, "EntityTooSmall", 400, Bucket="suite", Key="small", UploadId=uid,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": a}, {"PartNumber": 2, "ETag": b}]})
    expect_error(s3.upload_part, "InvalidArgument", 400, Bucket="suite", Key="small", UploadId=uid, PartNumber=10001, Body=b"x")
    # UploadPartCopy with a range
    src = os.urandom(6 * mib)
    s3.put_object(Bucket="suite", Key="copysrc", Body=src)
    cp = s3.upload_part_copy(Bucket="suite", Key="small", UploadId=uid, PartNumber=1, CopySource="suite/copysrc",
                             CopySourceRange=f"bytes=0-{5*mib-1}")
    r = s3.complete_multipart_upload(Bucket="suite", Key="small", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": cp["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": b}]})
    check(s3.get_object(Bucket="suite", Key="small")["Body"].read() == src[:5*mib] + b"tiny", "UploadPartCopy range")
    # Abort
    uid = s3.create_multipart_upload(Bucket="suite", Key="gone")["UploadId"]
    s3.upload_part(Bucket="suite", Key="gone", UploadId=uid, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="suite", Key="gone", UploadId=uid)
    expect_error(s3.abort_multipart_upload, "NoSuchUpload", 404, Bucket="suite", Key="gone", UploadId=uid)
    expect_error(s3.upload_part, "NoSuchUpload", 404, Bucket="suite", Key="gone", UploadId="nope", PartNumber=1, Body=b"x")


def crc32(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def crc64nvme(data):
    """CRC-64/NVME, table-driven (reflected polynomial 0x9A6C9329AC4BC9B5, init and xorout all ones)."""
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ (0x9A6C9329AC4BC9B5 if c & 1 else 0)
        table.append(c)
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return base64.b64encode((crc ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")).decode()


def default_checksums(p1, p2):
    """A body sent without any checksum gets the CRC64NVME S3 keeps by default (since 2024-12), whole
    for multipart objects too (combined from the parts')."""
    check(crc64nvme(b"123456789") == base64.b64encode(bytes.fromhex("ae8b14860a799888")).decode(), "CRC-64/NVME check value")
    plain = client(request_checksum_calculation="when_required")
    plain.put_object(Bucket="suite", Key="no-sum", Body=b"checksum me")
    h = s3.head_object(Bucket="suite", Key="no-sum", ChecksumMode="ENABLED")
    check(h.get("ChecksumCRC64NVME") == crc64nvme(b"checksum me") and h.get("ChecksumType") == "FULL_OBJECT",
          f"a PUT without a checksum keeps a CRC64NVME: {h}")
    uid = plain.create_multipart_upload(Bucket="suite", Key="no-sum-mp")["UploadId"]
    done = [{"PartNumber": n, "ETag": plain.upload_part(Bucket="suite", Key="no-sum-mp", UploadId=uid, PartNumber=n,
                                                         Body=b)["ETag"]} for n, b in [(1, p1), (2, p2)]]
    plain.complete_multipart_upload(Bucket="suite", Key="no-sum-mp", UploadId=uid, MultipartUpload={"Parts": done})
    plain.put_object(Bucket="suite", Key="no-sum-whole", Body=p1 + p2)
    whole = s3.head_object(Bucket="suite", Key="no-sum-whole", ChecksumMode="ENABLED").get("ChecksumCRC64NVME")
    h = s3.head_object(Bucket="suite", Key="no-sum-mp", ChecksumMode="ENABLED")
    check(whole and h.get("ChecksumCRC64NVME") == whole and h.get("ChecksumType") == "FULL_OBJECT",
          f"a multipart upload without a checksum keeps the whole body's CRC64NVME: {h.get('ChecksumCRC64NVME')} vs {whole}")
    for key in ["no-sum", "no-sum-mp", "no-sum-whole"]:
        s3.delete_object(Bucket="suite", Key=key)


def multipart_checksums(p1, p2):
    """FULL_OBJECT and COMPOSITE multipart checksums, and the parts' checksums in GetObjectAttributes."""
    def upload(key, **create):
        uid = s3.create_multipart_upload(Bucket="suite", Key=key, ChecksumAlgorithm="CRC32", **create)["UploadId"]
        parts = []
        for n, body in [(1, p1), (2, p2)]:
            got = s3.upload_part(Bucket="suite", Key=key, UploadId=uid, PartNumber=n, Body=body, ChecksumAlgorithm="CRC32")
            check(got["ChecksumCRC32"] == crc32(body), f"part {n} CRC32")
            parts.append({"PartNumber": n, "ETag": got["ETag"], "ChecksumCRC32": got["ChecksumCRC32"]})
        return uid, {"Parts": parts}

    whole = crc32(p1 + p2)
    uid, done = upload("mp-full", ChecksumType="FULL_OBJECT")
    listed = s3.list_parts(Bucket="suite", Key="mp-full", UploadId=uid)
    check(listed.get("ChecksumType") == "FULL_OBJECT", f"ListParts names the upload's checksum type: {listed.get('ChecksumType')}")
    expect_error(s3.complete_multipart_upload, "InvalidRequest", 400, Bucket="suite", Key="mp-full", UploadId=uid,
                 MultipartUpload=done, ChecksumType="COMPOSITE")
    expect_error(s3.complete_multipart_upload, "BadDigest", 400, Bucket="suite", Key="mp-full", UploadId=uid,
                 MultipartUpload=done, ChecksumType="FULL_OBJECT", ChecksumCRC32=crc32(b"something else"))
    r = s3.complete_multipart_upload(Bucket="suite", Key="mp-full", UploadId=uid, MultipartUpload=done,
                                     ChecksumType="FULL_OBJECT", ChecksumCRC32=whole)
    check(r.get("ChecksumCRC32") == whole and r.get("ChecksumType") == "FULL_OBJECT",
          f"a FULL_OBJECT multipart checksum is the whole body's CRC32, combined from the parts': {r}")
    h = s3.head_object(Bucket="suite", Key="mp-full", ChecksumMode="ENABLED")
    check(h.get("ChecksumCRC32") == whole and h.get("ChecksumType") == "FULL_OBJECT", f"HEAD of it: {h}")
    # boto3 validates a FULL_OBJECT checksum of a GET against the bytes it received.
    check(s3.get_object(Bucket="suite", Key="mp-full", ChecksumMode="ENABLED")["Body"].read() == p1 + p2, "validated GET")

    uid, done = upload("mp-composite")
    bare = {"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in done["Parts"]]}
    e = expect_error(s3.complete_multipart_upload, "InvalidRequest", 400, Bucket="suite", Key="mp-composite",
                     UploadId=uid, MultipartUpload=bare)
    check("must include the checksum for each part. It was missing for part 1" in e.response["Error"]["Message"],
          f"a COMPOSITE upload's Complete lists every part's checksum: {e.response['Error']['Message']}")
    wrong = {"Parts": [dict(done["Parts"][0], ChecksumCRC32=crc32(b"other")), done["Parts"][1]]}
    expect_error(s3.complete_multipart_upload, "InvalidPart", 400, Bucket="suite", Key="mp-composite", UploadId=uid,
                 MultipartUpload=wrong)
    r = s3.complete_multipart_upload(Bucket="suite", Key="mp-composite", UploadId=uid, MultipartUpload=done)
    composite = base64.b64encode(zlib.crc32(base64.b64decode(crc32(p1)) + base64.b64decode(crc32(p2))).to_bytes(4, "big")).decode()
    check(r.get("ChecksumCRC32") == f"{composite}-2" and r.get("ChecksumType") == "COMPOSITE", f"COMPOSITE checksum: {r}")
    for key in ["mp-full", "mp-composite"]:
        a = s3.get_object_attributes(Bucket="suite", Key=key, ObjectAttributes=["ObjectParts", "Checksum"])
        sums = [p.get("ChecksumCRC32") for p in a["ObjectParts"]["Parts"]]
        check(sums == [crc32(p1), crc32(p2)], f"GetObjectAttributes lists each part's CRC32 ({key}): {a['ObjectParts']}")

    for create, message in [
        ({"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"}, "cannot be used with the sha256"),
        ({"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "COMPOSITE"}, "cannot be used with the crc64nvme"),
        ({"ChecksumType": "FULL_OBJECT"}, "can only be used with the x-amz-checksum-algorithm header"),
    ]:
        e = expect_error(s3.create_multipart_upload, "InvalidRequest", 400, Bucket="suite", Key="mp-bad", **create)
        check(message in e.response["Error"]["Message"], f"{create}: {e.response['Error']['Message']}")
    default_checksums(p1, p2)
    up = s3.create_multipart_upload(Bucket="suite", Key="mp-nvme", ChecksumAlgorithm="CRC64NVME")
    check(up.get("ChecksumType") == "FULL_OBJECT", f"CRC64NVME uploads are FULL_OBJECT: {up}")
    s3.abort_multipart_upload(Bucket="suite", Key="mp-nvme", UploadId=up["UploadId"])
    for key in ["mp-full", "mp-composite"]:
        s3.delete_object(Bucket="suite", Key=key)


def presigned_and_post():
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "suite", "Key": "presigned"}, ExpiresIn=300)
    r = requests.put(url, data=b"via presigned PUT", timeout=30)
    check(r.status_code == 200, f"presigned PUT: {r.status_code} {r.text}")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "suite", "Key": "presigned"}, ExpiresIn=300)
    out = subprocess.run(["curl", "-sf", "--max-time", "30", url], capture_output=True, timeout=60)
    check(out.returncode == 0 and out.stdout == b"via presigned PUT", "presigned GET with curl")
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": "suite", "Key": "presigned"}, ExpiresIn=1)
    import time
    time.sleep(2)
    r = requests.get(expired, timeout=30)
    check(r.status_code == 403 and b"AccessDenied" in r.content, f"expired presigned URL refused: {r.status_code} {r.text}")
    tampered = url.replace("presigned", "presignee")
    check(requests.get(tampered, timeout=30).status_code == 403, "tampered URL refused")
    # Presigned subresource requests, with the bare form (`?tagging`, `?uploads`) some clients send
    # instead of botocore's `?tagging=`: both sign the same canonical query.
    s3.put_object_tagging(Bucket="suite", Key="presigned", Tagging={"TagSet": [{"Key": "via", "Value": "url"}]})
    v4 = client(signature_version="s3v4")
    sigv2 = s3.generate_presigned_url("get_object_tagging", Params={"Bucket": "suite", "Key": "presigned"}, ExpiresIn=300)
    url = v4.generate_presigned_url("get_object_tagging", Params={"Bucket": "suite", "Key": "presigned"}, ExpiresIn=300)
    check("?tagging=&" in url, f"a SigV4 presigned URL: {url}")
    for form in [sigv2, url, url.replace("?tagging=&", "?tagging&")]:
        out = subprocess.run(["curl", "-sf", "--max-time", "30", form], capture_output=True, timeout=60)
        check(out.returncode == 0 and b"<Key>via</Key><Value>url</Value>" in out.stdout, f"presigned {form[:60]}: {out}")
    swapped = url.replace("?tagging=&", "?acl&")
    check(requests.get(swapped, timeout=30).status_code == 403, "a presigned URL is bound to its subresource")
    url = v4.generate_presigned_url("create_multipart_upload", Params={"Bucket": "suite", "Key": "pre-mp"},
                                    ExpiresIn=300, HttpMethod="POST")
    out = subprocess.run(["curl", "-sf", "-X", "POST", "--max-time", "30", url.replace("?uploads=&", "?uploads&")],
                         capture_output=True, timeout=60)
    check(out.returncode == 0 and b"<UploadId>" in out.stdout, f"presigned bare ?uploads: {out}")
    uid = out.stdout.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    s3.abort_multipart_upload(Bucket="suite", Key="pre-mp", UploadId=uid)
    # Browser form upload with a signed policy
    post = v4.generate_presigned_post("suite", "uploads/form.txt", Conditions=[["content-length-range", 1, 100]], ExpiresIn=300)
    check(post["fields"].get("x-amz-algorithm") == "AWS4-HMAC-SHA256", "a SigV4 policy")
    r = requests.post(post["url"], data=post["fields"], files={"file": ("form.txt", b"posted by a form")}, timeout=30)
    check(r.status_code in (200, 204), f"POST object: {r.status_code} {r.text}")
    check(s3.get_object(Bucket="suite", Key="uploads/form.txt")["Body"].read() == b"posted by a form", "POST object stored")
    r = requests.post(post["url"], data=post["fields"], files={"file": ("big.txt", b"x" * 500)}, timeout=30)
    check(r.status_code >= 400, f"policy condition enforced: {r.status_code}")
    # `${filename}` in the key becomes the uploaded file's name.
    post = v4.generate_presigned_post("suite", "uploads/${filename}", Conditions=[["starts-with", "$key", "uploads/"]],
                                      ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("my photo.jpg", b"named by the form")}, timeout=30)
    check(r.status_code in (200, 204), f"POST object with ${{filename}}: {r.status_code} {r.text}")
    got = s3.get_object(Bucket="suite", Key="uploads/my photo.jpg")["Body"].read()
    check(got == b"named by the form", "${filename} replaced by the file's name")
    expect_error(s3.head_object, "404", 404, Bucket="suite", Key="uploads/${filename}")


def addressing_and_errors():
    # Virtual-hosted style: Host: suite.localhost:PORT, signed by curl itself.
    port = ENDPOINT.rsplit(":", 1)[1]
    ak, sk = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    out = subprocess.run(["curl", "-s", "--max-time", "30", "--resolve", f"suite.localhost:{port}:127.0.0.1",
                          "-H", "x-amz-content-sha256: " + hashlib.sha256(b"").hexdigest(),
                          "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{ak}:{sk}",
                          f"http://suite.localhost:{port}/hello.txt"], capture_output=True, timeout=60)
    check(out.stdout == b"hello world", f"virtual-hosted-style GET: {out.stdout[:200]}")
    # Error XML shape
    r = requests.get(f"{ENDPOINT}/suite/hello.txt", timeout=30)
    check(r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content, f"unsigned request refused: {r.text}")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "suite", "Key": "missing-key"}, ExpiresIn=60)
    r = requests.get(url, timeout=30)
    for part in [b"<Code>NoSuchKey</Code>", b"<Message>", b"<Resource>/suite/missing-key</Resource>", b"<RequestId>"]:
        check(part in r.content, f"error XML has {part}: {r.text}")
    check(r.headers.get("x-amz-request-id"), "x-amz-request-id on errors")
    expect_error(s3.get_bucket_website, "NotImplemented", 501, Bucket="suite")
    pipelined_answers_survive_a_close()


def pipelined_answers_survive_a_close():
    """A GET of 2 MiB, then a PUT refused before its body is read (the server closes after it): a
    client that reads late still gets the whole object and the error, not a connection reset (a close
    with unread bytes made the kernel drop what it had not sent yet)."""
    body = os.urandom(2 << 20)
    s3.put_object(Bucket="suite", Key="pipelined", Body=body)
    host = ENDPOINT.split("//", 1)[1]
    req = AWSRequest(method="GET", url=f"{ENDPOINT}/suite/pipelined", headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
    SigV4Auth(Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]), "s3", "us-east-1").add_auth(req)
    get = f"GET /suite/pipelined HTTP/1.1\r\nHost: {host}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in req.headers.items() if k.lower() != "host")
    refused = f"PUT /Bad_Bucket/x HTTP/1.1\r\nHost: {host}\r\nContent-Length: 400000\r\n\r\n".encode() + b"y" * 300000
    name, port = host.rsplit(":", 1)

    def exchange(raw, half_close, wait):
        sock = socket.create_connection((name, int(port)), timeout=30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        time.sleep(wait)
        got = b""
        try:
            while chunk := sock.recv(1 << 20):
                got += chunk
        except ConnectionResetError:
            pass
        finally:
            sock.close()
        return got

    got = exchange(get.encode() + b"\r\n" + refused, False, 0.5)
    check(body in got and b"<Code>InvalidBucketName</Code>" in got,
          f"both pipelined answers arrive whole before the close: {len(got)} bytes, {got[-200:]!r}")
    # A client that shuts its write side once its request is sent still gets the answer (it did only
    # when the answer was ready before the server saw the EOF: about every other time).
    for _ in range(10):
        got = exchange(get.encode() + b"\r\n", True, 0)
        check(got.startswith(b"HTTP/1.1 200") and got.endswith(body), f"answer to a half-closed client: {len(got)} bytes")


def versioning():
    """Issue #4: bucket versioning as S3 documents it."""
    b = "versioned"
    s3.create_bucket(Bucket=b)
    check("Status" not in s3.get_bucket_versioning(Bucket=b), "a new bucket has no versioning status")
    s3.put_object(Bucket=b, Key="doc", Body=b"before versioning")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    check(s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled", "versioning Enabled")
    expect_error(s3.put_bucket_versioning, "MalformedXML", 400, Bucket=b,
                 VersioningConfiguration={"Status": "Off"})
    expect_error(bob.get_bucket_versioning, "AccessDenied", 403, Bucket=b)
    v1 = s3.put_object(Bucket=b, Key="doc", Body=b"one")["VersionId"]
    big = os.urandom(40_000)  # a blob, not inline
    v2 = s3.put_object(Bucket=b, Key="doc", Body=big)["VersionId"]
    check(v1 != v2 and v1 != "null", f"each PUT makes a new version: {v1} {v2}")
    g = s3.get_object(Bucket=b, Key="doc")
    check(g["Body"].read() == big and g["VersionId"] == v2, "GET returns the newest version")
    check(s3.get_object(Bucket=b, Key="doc", VersionId=v1)["Body"].read() == b"one", "GET by versionId")
    check(s3.get_object(Bucket=b, Key="doc", VersionId="null")["Body"].read() == b"before versioning",
          "objects written before versioning are the null version")
    check(s3.head_object(Bucket=b, Key="doc", VersionId=v1)["ContentLength"] == 3, "HEAD by versionId")
    r = s3.get_object(Bucket=b, Key="doc", VersionId=v2, Range="bytes=10-19")
    check(r["Body"].read() == big[10:20], "ranged GET of a version")
    expect_error(s3.get_object, "InvalidArgument", 400, Bucket=b, Key="doc", VersionId="not-a-version")
    expect_error(s3.get_object, "NoSuchVersion", 404, Bucket=b, Key="doc", VersionId="0" * 24)
    # Tagging by version
    s3.put_object_tagging(Bucket=b, Key="doc", VersionId=v1, Tagging={"TagSet": [{"Key": "v", "Value": "1"}]})
    t = s3.get_object_tagging(Bucket=b, Key="doc", VersionId=v1)
    check(t["TagSet"] == [{"Key": "v", "Value": "1"}] and t["VersionId"] == v1, f"tagging by version: {t}")
    check(s3.get_object_tagging(Bucket=b, Key="doc")["TagSet"] == [], "other versions keep their tags")
    # CopyObject from an older version
    c = s3.copy_object(Bucket=b, Key="copy", CopySource={"Bucket": b, "Key": "doc", "VersionId": v1})
    check(c["CopySourceVersionId"] == v1 and c.get("VersionId"), f"copy reports versions: {c}")
    check(s3.get_object(Bucket=b, Key="copy")["Body"].read() == b"one", "copy of an older version")
    # DELETE without versionId: a delete marker
    d = s3.delete_object(Bucket=b, Key="doc")
    check(d["DeleteMarker"] is True and d["VersionId"] not in (None, "null", v1, v2), f"delete marker made: {d}")
    marker = d["VersionId"]
    e = expect_error(s3.get_object, "NoSuchKey", 404, Bucket=b, Key="doc")
    hdrs = e.response["ResponseMetadata"]["HTTPHeaders"]
    check(hdrs.get("x-amz-delete-marker") == "true" and hdrs.get("x-amz-version-id") == marker,
          f"404 says delete marker: {hdrs}")
    expect_error(s3.head_object, "404", 404, Bucket=b, Key="doc")
    e = expect_error(s3.get_object, "MethodNotAllowed", 405, Bucket=b, Key="doc", VersionId=marker)
    check(e.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true", "405 marks marker")
    check(s3.get_object(Bucket=b, Key="doc", VersionId=v2)["Body"].read() == big, "old versions stay readable")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]
    check(keys == ["copy"], f"ListObjects hides deleted keys: {keys}")
    lv = s3.list_object_versions(Bucket=b, Prefix="doc")
    got = [(v["VersionId"], v["IsLatest"]) for v in lv["Versions"]]
    check(got == [(v2, False), (v1, False), ("null", False)], f"versions newest first: {got}")
    dm = [(m["VersionId"], m["IsLatest"]) for m in lv["DeleteMarkers"]]
    check(dm == [(marker, True)], f"delete marker listed as latest: {dm}")
    # Deleting the delete marker undeletes
    d = s3.delete_object(Bucket=b, Key="doc", VersionId=marker)
    check(d["DeleteMarker"] is True and d["VersionId"] == marker, f"removed the marker: {d}")
    check(s3.get_object(Bucket=b, Key="doc")["Body"].read() == big, "undeleted: newest version is back")
    # Permanently deleting the current version promotes the next one
    d = s3.delete_object(Bucket=b, Key="doc", VersionId=v2)
    check(d["VersionId"] == v2 and "DeleteMarker" not in d, f"removed a version: {d}")
    g = s3.get_object(Bucket=b, Key="doc")
    check(g["Body"].read() == b"one" and g["VersionId"] == v1, "previous version is current again")
    expect_error(s3.get_object, "NoSuchVersion", 404, Bucket=b, Key="doc", VersionId=v2)
    # Suspended: writes replace the null version
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    check(s3.get_bucket_versioning(Bucket=b)["Status"] == "Suspended", "versioning Suspended")
    s3.put_object(Bucket=b, Key="doc", Body=b"suspended 1")
    s3.put_object(Bucket=b, Key="doc", Body=b"suspended 2")
    lv = s3.list_object_versions(Bucket=b, Prefix="doc")
    got = [(v["VersionId"], v["IsLatest"]) for v in lv["Versions"]]
    check(got == [("null", True), (v1, False)], f"suspended writes replace the null version: {got}")
    check(s3.get_object(Bucket=b, Key="doc", VersionId="null")["Body"].read() == b"suspended 2", "null replaced")
    d = s3.delete_object(Bucket=b, Key="doc")
    check(d["DeleteMarker"] is True and d["VersionId"] == "null", f"suspended delete makes a null marker: {d}")
    lv = s3.list_object_versions(Bucket=b, Prefix="doc")
    check([v["VersionId"] for v in lv["Versions"]] == [v1], "the null version was replaced by the marker")
    check([m["VersionId"] for m in lv["DeleteMarkers"]] == ["null"], "null delete marker listed")
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    e = expect_error(s3.head_object, "404", 404, Bucket=b, Key="doc")
    check(e.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true", "HEAD 404 marks marker")
    # Copying an older version onto its own key restores it as a new version
    c = s3.copy_object(Bucket=b, Key="doc", CopySource={"Bucket": b, "Key": "doc", "VersionId": v1})
    g = s3.get_object(Bucket=b, Key="doc")
    check(g["Body"].read() == b"one" and g["VersionId"] == c["VersionId"], "older version restored by copy")
    # Completing a multipart upload adds a version
    up = s3.create_multipart_upload(Bucket=b, Key="doc")["UploadId"]
    part = s3.upload_part(Bucket=b, Key="doc", UploadId=up, PartNumber=1, Body=b"multipart body")
    done = s3.complete_multipart_upload(Bucket=b, Key="doc", UploadId=up,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    check(done.get("VersionId") not in (None, "null"), f"multipart completion reports its version: {done}")
    lv = s3.list_object_versions(Bucket=b, Prefix="doc")
    check([v["VersionId"] for v in lv["Versions"]] == [done["VersionId"], c["VersionId"], v1],
          f"multipart and copy versions listed: {lv['Versions']}")
    check(s3.get_object(Bucket=b, Key="doc", VersionId=c["VersionId"])["Body"].read() == b"one", "copy version kept")
    # ListObjectVersions: pagination, delimiter, DeleteObjects with versions
    ids = {}
    for k in ["p/a", "p/b", "q/x", "r"]:
        ids[k] = [s3.put_object(Bucket=b, Key=k, Body=f"{k}{i}".encode())["VersionId"] for i in range(3)]
    seen, kw, pages = [], {}, 0
    while True:
        page = s3.list_object_versions(Bucket=b, Prefix="p/", MaxKeys=2, **kw)
        pages += 1
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        check(len(entries) <= 2, "max-keys bounds a page")
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    want = [("p/a", v) for v in reversed(ids["p/a"])] + [("p/b", v) for v in reversed(ids["p/b"])]
    check(seen == want and pages == 3, f"paged versions in order: {seen} in {pages} pages")
    page = s3.list_object_versions(Bucket=b, Delimiter="/")
    check([p["Prefix"] for p in page["CommonPrefixes"]] == ["p/", "q/"], f"delimiter: {page.get('CommonPrefixes')}")
    check({v["Key"] for v in page["Versions"]} == {"copy", "doc", "r"}, "top-level versions listed")
    page = s3.list_object_versions(Bucket=b, KeyMarker="q/x")
    check({v["Key"] for v in page["Versions"]} == {"r"}, "key-marker alone skips that key's versions")
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "r", "VersionId": ids["r"][0]}, {"Key": "q/x"}]})
    dl = {o["Key"]: o for o in r["Deleted"]}
    check(dl["r"]["VersionId"] == ids["r"][0] and dl["q/x"]["DeleteMarker"] is True
          and dl["q/x"]["DeleteMarkerVersionId"], f"DeleteObjects with versions: {r}")
    left = [v["VersionId"] for v in s3.list_object_versions(Bucket=b, Prefix="r")["Versions"]]
    check(left == [ids["r"][2], ids["r"][1]], f"one version of r removed: {left}")
    # A bucket holding only versions and delete markers is not empty; removing every version empties it
    expect_error(s3.delete_bucket, "BucketNotEmpty", 409, Bucket=b)
    while True:
        page = s3.list_object_versions(Bucket=b)
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        if not entries:
            break
        s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]}
                                                        for v in entries]})
    s3.delete_bucket(Bucket=b)


def sse_c_needs_https():
    """S3 takes SSE-C keys only over TLS; this daemon runs plain HTTP without --allow-sse-c-over-http."""
    expect_error(s3.put_object, "InvalidRequest", 400, Bucket="suite", Key="ssec", Body=b"x",
                 SSECustomerAlgorithm="AES256", SSECustomerKey=b"k" * 32)
    expect_error(s3.get_object, "InvalidRequest", 400, Bucket="suite", Key="hello.txt",
                 SSECustomerAlgorithm="AES256", SSECustomerKey=b"k" * 32)
    r = s3.put_object(Bucket="suite", Key="sse-s3", Body=b"fine over http", ServerSideEncryption="AES256")
    check(r["ServerSideEncryption"] == "AES256", "SSE-S3 needs no TLS")


for step in [buckets, objects, tagging, copies, listing, multipart, presigned_and_post, addressing_and_errors,
             versioning, sse_c_needs_https]:
    step()
    print(f"{step.__name__}: ok", flush=True)
print(f"boto3 suite: {s3check.checks} checks ok")
