"""Seeded fuzzer for s3d's S3 REST API: botocore-signed raw requests with random methods, keys,
sub-resources and headers; CORS preflights and cross-origin requests; malformed XML bodies (garbage, deep nesting, entity expansion, oversized
lists) for batch delete, tagging, versioning, lifecycle, ACLs, encryption and CompleteMultipartUpload;
odd ranges and conditional headers; multipart part numbers and upload ids; aws-chunked bodies with bad
chunk sizes and trailers; presigned URLs and browser POST forms with garbage; bad signatures; plus HTTP
framing garbage (see fuzzlib), Expect: 100-continue and slow clients. Answers to garbage must be S3 XML
errors (or a close for framing errors), never a 500 or a hang. The health check is boto3 PutObject /
GetObject / HeadObject / ListObjectsV2. Usage: fuzz_s3.py --seed S --count N --pid PID HOST:PORT DATA_DIR"""
import base64
import hashlib
import os
import sys
import urllib.parse
import uuid


sys.path.insert(0, os.path.dirname(__file__))
import fuzzlib  # noqa: E402
from fuzzlib import HUGE_NUMBERS, junk_bytes, junk_text, mutate  # noqa: E402

opts = fuzzlib.args(__doc__, lambda p: (p.add_argument("addr"), p.add_argument("data_dir")))
HOST, ADDR, KEY, SECRET = fuzzlib.http_target(opts)
BUCKET = "fuzz"

s3 = fuzzlib.aws_client("s3", HOST, KEY, SECRET, s3={"addressing_style": "path"})
try:
    s3.create_bucket(Bucket=BUCKET)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
s3.put_object(Bucket=BUCKET, Key="obj", Body=b"0123456789" * 100)
s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [
    {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["x-amz-*"]},
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 5}]})
# The health check reads this one; no case names it.
s3.put_object(Bucket=BUCKET, Key="health-obj", Body=b"0123456789" * 100)
UPLOAD = s3.create_multipart_upload(Bucket=BUCKET, Key="mp")["UploadId"]
HEALTH = [0]


def health(fz):
    HEALTH[0] += 1
    key = f"health/{HEALTH[0]}"
    # An empty PUT then another on the same pooled connection (botocore sends Expect: 100-continue).
    s3.put_object(Bucket=BUCKET, Key=key + "-empty", Body=b"")
    s3.put_object(Bucket=BUCKET, Key=key + "-empty", Body=b"")
    body = uuid.uuid4().bytes * 100
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    got = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    if got != body:
        fz.fail(f"GetObject {key} returned {len(got)} bytes, not the {len(body)} put")
    if s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] != len(body):
        fz.fail("HeadObject length is wrong")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="health/").get("Contents", [])]
    if key not in keys:
        fz.fail(f"ListObjectsV2 does not list {key}")
    part = s3.get_object(Bucket=BUCKET, Key="health-obj", Range="bytes=5-14")["Body"].read()
    if part != b"5678901234":
        fz.fail(f"a ranged GET returned {part!r}")


def signed(method, path, query="", headers=(), body=b""):
    url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
    hs = [("Host", HOST)] + list(headers)
    hs = fuzzlib.sign("s3", "us-east-1", KEY, SECRET, method, url, hs, body)
    if body or method in ("PUT", "POST"):
        hs.append(("Content-Length", str(len(body))))
    return hs


def target(path, query):
    return path + (f"?{query}" if query else "")


def check_reply(fz, r, what, method):
    fuzzlib.check_status(fz, r, what)
    code = ""
    if r.status >= 400 and r.body and method != "HEAD":
        if b"<Error>" not in r.body and not r.body.startswith(b"{"):
            fz.fail(f"{what}: error reply is not an S3 error document: {r!r}")
        if b"<Code>" in r.body:
            code = r.body.split(b"<Code>")[1].split(b"</Code>")[0].decode("latin-1")
    fz.answer(f"{r.status} {code}".strip())


def send(fz, method, path, query="", headers=(), body=b"", what="request", raw_headers=None):
    hs = raw_headers if raw_headers is not None else signed(method, path, query, headers, body)
    raw = fuzzlib.build_request(method, target(path, query), hs, body)
    resps = fuzzlib.http_exchange(fz, ADDR, raw, what=what)
    if not resps:
        fz.fail(f"{what}: connection closed without a reply")
    for r in resps:
        check_reply(fz, r, what, method)
    return resps[0]


# -- generators ------------------------------------------------------------------------------------

def quote(s):
    return urllib.parse.quote(s, safe="/")


def obj_key(rng):
    return rng.choice(["obj", "k", "a/b/c", "missing", "x" * 1024, "x" * 1025, "é/ü", "../../x", "./.", "a//b",
                       "%00", "\x01", "k?x", "k#x", "k x", "~", "\u2028", junk_text(rng, 10)])


def path(rng):
    bucket = rng.choice([BUCKET] * 6 + ["missing-bucket", "", "A", "a" * 64, "xn--x", "192.168.1.1", "a..b",
                                        "_", "b" * 3])
    if rng.random() < 0.2:
        return "/" + quote(bucket)
    return "/" + quote(bucket) + "/" + quote(obj_key(rng))


SUBRESOURCES = ["", "acl", "tagging", "versioning", "lifecycle", "uploads", "delete", "policy", "cors",
                "encryption", "location", "versions", "list-type=2", "restore", "attributes", "ownershipControls",
                "object-lock", "select&select-type=2", "torrent", "website", "logging", "notification",
                "uploadId=" + "x" * 10, "partNumber=1&uploadId=x", "versionId=null", "versionId=" + "z" * 500]
PARAMS = ["max-keys", "prefix", "delimiter", "marker", "continuation-token", "start-after", "encoding-type",
          "fetch-owner", "partNumber", "uploadId", "versionId", "max-uploads", "key-marker", "upload-id-marker",
          "max-parts", "part-number-marker", "response-content-type", "response-expires", "list-type",
          "version-id-marker", "x-id", "X-Amz-Expires"]


def query(rng):
    q = [rng.choice(SUBRESOURCES)]
    for _ in range(rng.choice([0, 0, 1, 3])):
        v = rng.choice(HUGE_NUMBERS[:34] + ["", "url", "/", "%", "%zz", junk_text(rng, 5), "x" * 2000])
        q.append(f"{rng.choice(PARAMS)}={urllib.parse.quote(v, safe='%')}")
    return "&".join(x for x in q if x)


def odd_header(rng):
    date = rng.choice(["", "garbage", "Mon, 99 Foo 9999 99:99:99 GMT", "Thu, 01 Jan 1970 00:00:00 GMT",
                       "Fri, 31 Dec 9999 23:59:59 GMT", "2020-01-01T00:00:00Z", "0"])
    return rng.choice([
        ("Range", rng.choice(["bytes=0-", "bytes=-0", "bytes=5-1", "bytes=99999999999999999999-",
                              "bytes=0-18446744073709551616", "bytes=-18446744073709551615", "bytes=0-0,2-3",
                              "bytes=" + "0-1," * 1000 + "2-3", "items=0-1", "bytes=", "bytes=a-b", "bytes=1000-"])),
        ("If-Match", rng.choice(["*", '"x"', "", '"' * 100])), ("If-None-Match", rng.choice(["*", '"x"', ""])),
        ("If-Modified-Since", date), ("If-Unmodified-Since", date),
        ("x-amz-meta-" + rng.choice(["a", "é", "x" * 200]), rng.choice(["v", "é", "x" * 3000])),
        ("Content-MD5", rng.choice(["", "garbage", base64.b64encode(b"x" * 16).decode(), "=" * 24])),
        ("x-amz-checksum-" + rng.choice(["crc32", "crc32c", "sha1", "sha256", "crc64nvme", "md5"]),
         rng.choice(["", "AAAAAA==", "!!", "x" * 100])),
        ("x-amz-sdk-checksum-algorithm", rng.choice(["CRC32", "crc99", ""])),
        ("x-amz-storage-class", rng.choice(["GLACIER", "DEEP_ARCHIVE", "REDUCED", "", "x" * 100])),
        ("x-amz-server-side-encryption", rng.choice(["AES256", "aws:kms", "aws:kms:dsse", "rot13", ""])),
        ("x-amz-server-side-encryption-aws-kms-key-id", rng.choice(["", "alias/none", "x" * 2000])),
        ("x-amz-server-side-encryption-customer-algorithm", rng.choice(["AES256", "x"])),
        ("x-amz-server-side-encryption-customer-key", rng.choice(["", "AAAA", base64.b64encode(b"k" * 32).decode()])),
        ("x-amz-copy-source", rng.choice([f"/{BUCKET}/obj", "/", "", "%", f"{BUCKET}/missing", "a" * 3000,
                                          f"/{BUCKET}/obj?versionId=zz"])),
        ("x-amz-copy-source-range", rng.choice(["bytes=0-1", "bytes=5-1", "x"])),
        ("x-amz-metadata-directive", rng.choice(["COPY", "REPLACE", "MOVE"])),
        ("x-amz-tagging", rng.choice(["a=b", "=", "&&&", "a=" + "b" * 300, "&".join(f"k{i}=v" for i in range(20))])),
        ("x-amz-acl", rng.choice(["private", "public-read", "bogus"])),
        ("x-amz-grant-read", rng.choice(["id=x", "uri=http://acs.amazonaws.com/groups/global/AllUsers", "x"])),
        ("x-amz-object-ownership", rng.choice(["ObjectWriter", "BucketOwnerEnforced", "x"])),
        ("x-amz-decoded-content-length", rng.choice(HUGE_NUMBERS[:20])),
        ("x-amz-expected-bucket-owner", rng.choice(["", "123456789012", "x"])),
        ("x-amz-bucket-object-lock-enabled", "true"), ("x-amz-request-payer", "requester"),
        ("Cache-Control", "x" * 9000), ("x-amz-website-redirect-location", "/" + "x" * 3000),
        ("x-amz-restore-request-days", "-1"), ("x-amz-mfa", "x y"),
    ])


def xml_body(rng):
    n = rng.choice([10, 1001, 20000])
    kind = rng.randrange(10)
    if kind == 0:
        return junk_bytes(rng)
    if kind == 1:
        return b"<a>" * n + b"</a>" * n
    if kind == 2:  # entity expansion ("billion laughs")
        ents = "".join(f'<!ENTITY e{i} "{("&e" + str(i - 1) + ";") * 10 if i else "lol"}">' for i in range(10))
        return f'<?xml version="1.0"?><!DOCTYPE d [{ents}]><Delete><Object><Key>&e9;</Key></Object></Delete>'.encode()
    if kind == 3:  # external entity
        return b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Tagging><TagSet><Tag><Key>&x;</Key><Value>v</Value></Tag></TagSet></Tagging>'
    if kind == 4:
        return ("<Delete>" + "<Object><Key>k</Key></Object>" * n + "</Delete>").encode()
    if kind == 5:
        return ("<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{rng.choice(HUGE_NUMBERS[:20])}</PartNumber><ETag>\"x\"</ETag></Part>"
            for _ in range(rng.choice([1, 3, 10001]))) + "</CompleteMultipartUpload>").encode()
    if kind == 6:
        return ("<Tagging><TagSet>" + "<Tag><Key>k</Key><Value>v</Value></Tag>" * rng.choice([1, 11, 1000]) +
                "</TagSet></Tagging>").encode()
    if kind == 7:
        return ("<LifecycleConfiguration>" + "<Rule><ID>r</ID><Status>Enabled</Status><Filter><Prefix/></Filter>"
                f"<Expiration><Days>{rng.choice(HUGE_NUMBERS[:20])}</Days></Expiration></Rule>" * rng.choice([1, 1001])
                + "</LifecycleConfiguration>").encode()
    if kind == 8:
        return mutate(rng, b'<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration '
                           b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status>'
                           b'</VersioningConfiguration>')
    return rng.choice([b"", b"<", b"<?xml", b"<a", b"<a></b>", b"\xef\xbb\xbf<a/>", b"<a>\x00</a>",
                       b'<?xml version="1.0" encoding="UTF-16"?><a/>', b"<![CDATA[" + b"x" * 1000])


def template(rng):
    method = rng.choice(["GET", "PUT", "HEAD", "DELETE", "POST"])
    p, q = path(rng), query(rng) if rng.random() < 0.5 else ""
    body = b"" if method in ("GET", "HEAD", "DELETE") else junk_bytes(rng, rng.choice([0, 10, 1000]))
    return method, target(p, q), signed(method, p, q, [], body), body


# -- cases -----------------------------------------------------------------------------------------

def case_random_request(rng, fz):
    method = rng.choice(["GET", "PUT", "HEAD", "DELETE", "POST", "OPTIONS", "PATCH"])
    p, q = path(rng), query(rng)
    headers = [odd_header(rng) for _ in range(rng.choice([0, 1, 2, 4]))]
    body = b"" if method in ("GET", "HEAD") else junk_bytes(rng, rng.choice([0, 10, 1000, 70000]))
    send(fz, method, p, q, headers, body, what=f"{method} {p[:40]}?{q[:40]}")


def case_xml(rng, fz):
    sub = rng.choice(["delete", "tagging", "versioning", "lifecycle", "acl", "encryption", "ownershipControls",
                      f"uploadId={UPLOAD}", "uploadId=bogus", "restore", "cors", "policy"])
    p = f"/{BUCKET}" if sub in ("delete", "versioning", "lifecycle", "encryption", "ownershipControls", "cors",
                                "policy") else f"/{BUCKET}/" + rng.choice(["obj", "mp", "missing"])
    if sub.startswith("uploadId"):
        p = f"/{BUCKET}/mp"
    if sub == "policy" or sub == "acl" and rng.random() < 0.5:
        sub = sub  # PUT as well
    method = "POST" if sub in ("delete", "restore") or sub.startswith("uploadId") else "PUT"
    body = xml_body(rng)
    headers = []
    if rng.random() < 0.7:
        headers.append(("Content-MD5", base64.b64encode(hashlib.md5(body).digest()).decode()))
    if sub == "lifecycle" and rng.random() < 0.5:
        sub = "lifecycle"
    send(fz, method, p, sub, headers, body, what=f"{method} ?{sub[:20]} with an XML body")


def case_create_bucket(rng, fz):
    # Names and configurations that must be refused (or a bucket we already own).
    name = rng.choice(["", "A", "ab", "a" * 64, "a..b", "-ab", "ab-", "192.168.1.1", "xn--ab", "ab-s3alias",
                       "a_b", "é" * 3, BUCKET])
    body = rng.choice([b"", xml_body(rng), b"<CreateBucketConfiguration><LocationConstraint>" +
                       rng.choice([b"us-west-2", b"", b"x" * 1000, b"EU"]) + b"</LocationConstraint></CreateBucketConfiguration>"])
    send(fz, "PUT", "/" + quote(name), "", [], body, what="CreateBucket")


def case_multipart(rng, fz):
    part = rng.choice(HUGE_NUMBERS[:24] + ["10000", "10001"])
    up = rng.choice([UPLOAD, "", "bogus", "x" * 3000, UPLOAD + "x", "../" + UPLOAD])
    method = rng.choice(["PUT", "GET", "DELETE", "POST"])
    q = rng.choice([f"partNumber={quote(part)}&uploadId={quote(up)}", f"uploadId={quote(up)}",
                    f"uploads&max-uploads={quote(part)}", f"uploadId={quote(up)}&max-parts={quote(part)}",
                    f"uploadId={quote(up)}&part-number-marker={quote(part)}"])
    if method == "DELETE" and up == UPLOAD:
        method = "GET"  # keep the upload for other cases
    if method == "POST" and up == UPLOAD:
        up = "bogus"
        q = f"uploadId={up}"
    body = junk_bytes(rng, rng.choice([0, 5, 1000])) if method == "PUT" else b""
    send(fz, method, f"/{BUCKET}/mp", q, [], body, what=f"multipart {method}")


def case_chunked_upload(rng, fz):
    """aws-chunked bodies (unsigned streaming with trailers) with bad sizes and trailers."""
    data = b"hello world"
    size = rng.choice([len(data), len(data) + 1, 0, 2 ** 64, -1, 0x7fffffff])
    size_s = rng.choice([f"{size:x}" if size >= 0 else "-1", "zz", "", "0" * 100, "f" * 40])
    chunks = rng.choice([
        f"{size_s}\r\n".encode() + data + b"\r\n0\r\nx-amz-checksum-crc32:" + rng.choice([b"DUMMY", b"", b"!!"]) +
        b"\r\n\r\n",
        f"{size_s};chunk-signature={'0' * 64}\r\n".encode() + data + b"\r\n0\r\n\r\n",
        f"{size_s}\r\n".encode() + data,
        b"0\r\n" + b"x-amz-checksum-crc32:AAAAAA==\r\n" * rng.choice([1, 2, 1000]) + b"\r\n",
        mutate(rng, b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUMMY\r\n\r\n"),
    ])
    sha = rng.choice(["STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"])
    headers = [("Content-Encoding", "aws-chunked"), ("X-Amz-Content-Sha256", sha),
               ("X-Amz-Decoded-Content-Length", rng.choice([str(len(data)), "0", "18446744073709551616", "-1"])),
               ("X-Amz-Trailer", rng.choice(["x-amz-checksum-crc32", "x-amz-checksum-bogus", ""]))]
    url = f"http://{HOST}/{BUCKET}/chunked"
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="PUT", url=url, data=b"", headers=dict([("Host", HOST)] + headers))
    SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(req)
    hs = list(req.headers.items()) + [("Content-Length", str(len(chunks)))]
    send(fz, "PUT", f"/{BUCKET}/chunked", "", body=chunks, raw_headers=hs, what="aws-chunked upload")


def case_presigned(rng, fz):
    params = {"Bucket": BUCKET, "Key": rng.choice(["obj", "missing"])}
    url = s3.generate_presigned_url(rng.choice(["get_object", "put_object", "head_object"]), Params=params,
                                    ExpiresIn=rng.choice([1, 3600, 604800]))
    parsed = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    i = rng.randrange(len(q))
    q[i] = (q[i][0], rng.choice(HUGE_NUMBERS[:30] + ["", junk_text(rng, 10), q[i][1] + "x"]))
    if rng.random() < 0.2:
        q.append(("X-Amz-Signature", "0" * 64))
    query_s = urllib.parse.urlencode(q, safe="/")
    method = "GET" if "GetObject" in url or rng.random() < 0.5 else "PUT"
    raw = fuzzlib.build_request(method, parsed.path + "?" + query_s, [("Host", HOST), ("Content-Length", "0")])
    for r in fuzzlib.http_exchange(fz, ADDR, raw, what="tampered presigned URL"):
        check_reply(fz, r, "tampered presigned URL", method)
        if r.status < 300:
            fz.fail(f"a tampered presigned URL was accepted: {r!r}")


def case_post_form(rng, fz):
    boundary = rng.choice(["b", "x" * 100, "", "--", "é"])
    fields = [("key", rng.choice(["post/${filename}", "", "x" * 2000])),
              ("policy", rng.choice(["", "!!", base64.b64encode(b'{"expiration":"2099-01-01T00:00:00Z"}').decode()])),
              ("x-amz-algorithm", "AWS4-HMAC-SHA256"), ("x-amz-credential", f"{KEY}/20240101/us-east-1/s3/aws4_request"),
              ("x-amz-date", "20240101T000000Z"), ("x-amz-signature", "0" * 64)]
    rng.shuffle(fields)
    parts = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                     for k, v in fields[: rng.randrange(len(fields) + 1)])
    parts += f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n".encode()
    parts += junk_bytes(rng, rng.choice([0, 100])) + rng.choice([f"\r\n--{boundary}--\r\n".encode(), b""])
    if rng.random() < 0.3:
        parts = mutate(rng, parts)
    ct = rng.choice([f"multipart/form-data; boundary={boundary}", "multipart/form-data", "text/plain"])
    hs = [("Host", HOST), ("Content-Type", ct), ("Content-Length", str(len(parts)))]
    raw = fuzzlib.build_request("POST", f"/{BUCKET}", hs, parts)
    for r in fuzzlib.http_exchange(fz, ADDR, raw, what="browser POST form"):
        check_reply(fz, r, "browser POST form", "POST")
        if r.status < 300:
            fz.fail(f"an unsigned POST form was accepted: {r!r}")


def case_bad_signature(rng, fz):
    method, p, q = "GET", f"/{BUCKET}/obj", ""
    hs = signed(method, p, q)
    kind = rng.randrange(4)
    if kind == 0:
        hs = [(k, v) for k, v in hs if k.lower() != "authorization"]
    elif kind == 1:
        hs = [(k, v[:-1] + ("0" if v[-1] != "0" else "1")) if k.lower() == "authorization" else (k, v) for k, v in hs]
    elif kind == 2:
        hs = [(k, "20000101T000000Z") if k.lower() == "x-amz-date" else (k, v) for k, v in hs]
    else:
        p = f"/{BUCKET}/other"  # signed for obj
    raw = fuzzlib.build_request(method, p, hs)
    for r in fuzzlib.http_exchange(fz, ADDR, raw, what="badly signed request"):
        check_reply(fz, r, "badly signed request", method)
        if r.status < 400:
            fz.fail(f"a badly signed request was accepted: {r!r}")


def case_kms(rng, fz):
    # The local KMS on the same port: JSON 1.1 with X-Amz-Target.
    op = rng.choice(["Encrypt", "Decrypt", "DescribeKey", "GenerateDataKey", "CreateAlias", "Bogus"])
    body = rng.choice([junk_bytes(rng), b"{}", b'{"KeyId":' + b'[' * 10000 + b"]" * 10000 + b"}",
                       b'{"KeyId":"alias/aws/s3","NumberOfBytes":' + rng.choice(HUGE_NUMBERS[:20]).encode() + b"}",
                       b'{"CiphertextBlob":"' + base64.b64encode(junk_bytes(rng, 100)) + b'"}'])
    hs = [("Host", HOST), ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", f"TrentService.{op}")]
    url = f"http://{HOST}/"
    hs = fuzzlib.sign("kms", "us-east-1", KEY, SECRET, "POST", url, hs, body) + [("Content-Length", str(len(body)))]
    raw = fuzzlib.build_request("POST", "/", hs, body)
    for r in fuzzlib.http_exchange(fz, ADDR, raw, what=f"KMS {op}"):
        fuzzlib.check_status(fz, r, f"KMS {op}")
        fz.answer(f"kms {r.status}")


# XML bodies s3s reads itself: one that ends (the client half-closes) before its Content-Length is
# S3's 400 IncompleteBody, not a 500.
SHORT_XML_BODIES = [("PUT", f"/{BUCKET}", ""), ("POST", f"/{BUCKET}/mp", "uploadId=bogus"), ("POST", f"/{BUCKET}", "delete")]


def case_short_xml_body(rng, fz):
    method, p, q = rng.choice(SHORT_XML_BODIES)
    body = b"<a>"
    hs = [(k, "10") if k == "Content-Length" else (k, v) for k, v in signed(method, p, q, [], body)]
    raw = fuzzlib.build_request(method, target(p, q), hs, body)
    r = fuzzlib.http_exchange(fz, ADDR, raw, shut=True, what="body shorter than Content-Length")[0]
    if r.status != 400 or b"IncompleteBody" not in r.body:
        fz.fail(f"{method} {p}?{q}: a body cut short answered {r!r}, not 400 IncompleteBody")
    fz.answer("short body 400")


def case_wrong_payload_hash(rng, fz):
    # Signed for one body, sent with another of the same length: S3's 400 XAmzContentSHA256Mismatch,
    # for the XML bodies s3s reads whole and for object uploads small and large.
    method, p, q = rng.choice(SHORT_XML_BODIES + [("PUT", f"/{BUCKET}/hashed", ""), ("PUT", f"/{BUCKET}/hashed", "x")])
    size = 200_000 if q == "x" else 40
    q = "" if q == "x" else q
    body = bytes(rng.getrandbits(8) for _ in range(size)) if size > 1000 else b"<a>" + b"b" * (size - 7) + b"</a>"
    hs = signed(method, p, q, [], body)
    other = body[:-1] + bytes([body[-1] ^ 1])
    r = fuzzlib.http_exchange(fz, ADDR, fuzzlib.build_request(method, target(p, q), hs, other), what="wrong hash")[0]
    if r.status != 400 or b"XAmzContentSHA256Mismatch" not in r.body:
        fz.fail(f"{method} {p}?{q} ({size} bytes): a body not matching its x-amz-content-sha256 answered {r!r}")
    fz.answer("wrong hash 400")


def case_cors(rng, fz):
    # Browser preflights (never signed) and cross-origin requests with odd Origin / method / header lists.
    origin = rng.choice(["https://a.example.com", "https://example.com", "*", "", "null", "https://" + "x" * 5000,
                         junk_text(rng, 20), "https://é.example.com"])
    method = rng.choice(["GET", "PUT", "HEAD", "DELETE", "PATCH", "", "get", junk_text(rng, 8)])
    requested = rng.choice(["", "x-amz-date", "X-Amz-Date, x-amz-content-sha256", ",,,", "a," * 3000,
                            junk_text(rng, 30)])
    headers = [(k, v) for k, v in [("Origin", origin), ("Access-Control-Request-Method", method),
                                   ("Access-Control-Request-Headers", requested)] if v and rng.random() < 0.85]
    p = rng.choice([f"/{BUCKET}/obj", f"/{BUCKET}", "/missing-bucket/x", "/", f"/{BUCKET}/" + "k" * 1100])
    if rng.random() < 0.7:
        hs = [("Host", HOST)] + headers
        send(fz, "OPTIONS", p, headers=headers, what=f"preflight {p[:30]}", raw_headers=hs)
    else:
        send(fz, rng.choice(["GET", "HEAD", "PUT"]), p, headers=[h for h in headers if h[0] == "Origin"],
             body=b"x" if rng.random() < 0.3 else b"", what=f"cross-origin request {p[:30]}")


CASES = [
    (25, "random_request", case_random_request),
    (4, "cors", case_cors),
    (12, "xml", case_xml),
    (2, "create_bucket", case_create_bucket),
    (6, "multipart", case_multipart),
    (5, "chunked_upload", case_chunked_upload),
    (3, "presigned", case_presigned),
    (3, "post_form", case_post_form),
    (3, "bad_signature", case_bad_signature),
    (2, "kms", case_kms),
    (1, "short_xml_body", case_short_xml_body),
    (1, "wrong_payload_hash", case_wrong_payload_hash),
] + fuzzlib.http_garbage_cases(ADDR, HOST, template)

# Known bugs, not run by the fuzz test (--known-failures runs them). None now.
KNOWN_FAILURES = []

if opts.known_failures:
    print("known failures pass")
else:
    fuzzlib.Fuzzer("s3", opts, health).run(CASES)
