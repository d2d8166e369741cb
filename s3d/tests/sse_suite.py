"""Server-side encryption end to end with boto3 (issue #4): SSE-S3, SSE-KMS against s3d's local KMS,
SSE-C, default bucket encryption, multipart and copies between modes, plus the versioning details
that ride along (null version ids, ListObjectVersions order).

Usage: sse_suite.py ENDPOINT write|verify
  write   runs every check and leaves `persist/*` objects behind (s3d runs with --allow-sse-c-over-http)
  verify  (after a restart and a master-key rotation) reads them back and writes new ones
Every body written here contains CANARY, so the caller can prove it is nowhere on disk.
"""
import base64
import hashlib
import os
import re
import sys
import time

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import Config
from botocore.credentials import Credentials

import s3check
from s3check import check, expect_error

ENDPOINT, PHASE = sys.argv[1], sys.argv[2]
CANARY = b"ZEBRA-QUARTZ-CANARY:"
cfg = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
s3 = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1", config=cfg)
kms = boto3.client("kms", endpoint_url=ENDPOINT, region_name="us-east-1", config=cfg)
# botocore refuses NumberOfBytes < 1 itself; this client lets the server answer.
kms_unchecked = boto3.client("kms", endpoint_url=ENDPOINT, region_name="us-east-1",
                             config=cfg.merge(Config(parameter_validation=False)))
MIB = 1024 * 1024


def body(n, tag):
    """n bytes of recognisable plaintext that contains CANARY many times."""
    unit = CANARY + tag.encode() + b"|" + bytes(range(32, 127))
    return (unit * (n // len(unit) + 1))[:n]


def md5hex(b):
    return hashlib.md5(b).hexdigest()


def get(bucket, key, **kw):
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


# Deterministic SSE-C keys, so that the verify phase can present them again.
KEY_C = hashlib.sha256(b"s3d sse-c test key").digest()
WRONG_C = hashlib.sha256(b"another key").digest()
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY_C}
SSEC_WRONG = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": WRONG_C}
COPY_SSEC = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": KEY_C}


def kms_key():
    for a in kms.list_aliases()["Aliases"]:
        if a["AliasName"] == "alias/suite":
            return kms.describe_key(KeyId=a["TargetKeyId"])["KeyMetadata"]
    raise AssertionError("alias/suite missing")


def kms_basics():
    k = kms.create_key(Description="suite key")["KeyMetadata"]
    check(k["Enabled"] and k["KeyState"] == "Enabled" and k["Arn"].endswith(k["KeyId"]), f"CreateKey: {k}")
    kms.create_alias(AliasName="alias/suite", TargetKeyId=k["KeyId"])
    check(kms.describe_key(KeyId="alias/suite")["KeyMetadata"]["KeyId"] == k["KeyId"], "alias resolves")
    check(k["KeyId"] in [x["KeyId"] for x in kms.list_keys()["Keys"]], "ListKeys")
    dk = kms.generate_data_key(KeyId="alias/suite", KeySpec="AES_256", EncryptionContext={"purpose": "test"})
    check(len(dk["Plaintext"]) == 32 and dk["KeyId"] == k["Arn"], "GenerateDataKey")
    back = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"purpose": "test"})
    check(back["Plaintext"] == dk["Plaintext"], "Decrypt round trip")
    expect_error(kms.decrypt, "InvalidCiphertextException", 400, CiphertextBlob=dk["CiphertextBlob"])
    expect_error(kms.describe_key, "NotFoundException", 400, KeyId="alias/nope")
    expect_error(kms.create_alias, "AlreadyExistsException", 400, AliasName="alias/suite", TargetKeyId=k["KeyId"])
    # Key management takes a key id or ARN, not an alias.
    expect_error(kms.disable_key, "NotFoundException", 400, KeyId="alias/suite")
    # A KMS-signed request with a target KMS does not know is UnknownOperation, not an S3 501.
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    for target in ["Foo.Encrypt", ""]:
        req = AWSRequest(method="POST", url=ENDPOINT + "/", data=b"{}",
                         headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
        SigV4Auth(creds, "kms", "us-east-1").add_auth(req)
        r = requests.post(req.url, data=b"{}", headers=dict(req.headers), timeout=30)
        check(r.status_code == 400 and "UnknownOperationException" in r.text, f"target {target!r}: {r.status_code} {r.text}")
    kms_validation(k)
    return k


def kms_validation(k):
    """GenerateDataKey's length and Encrypt's algorithm and key as KMS checks them."""
    def message(e):
        return e.response["Error"]["Message"]

    dk = kms.generate_data_key(KeyId="alias/suite", NumberOfBytes=1024)
    check(len(dk["Plaintext"]) == 1024, "NumberOfBytes=1024 is the largest data key")
    check(len(kms.generate_data_key(KeyId="alias/suite", NumberOfBytes=1)["Plaintext"]) == 1, "NumberOfBytes=1")
    check(len(kms.generate_data_key(KeyId="alias/suite", KeySpec="AES_128")["Plaintext"]) == 16, "AES_128")
    for n, bound in [(1025, "less than or equal to 1024"), (0, "greater than or equal to 1"),
                     (-5, "greater than or equal to 1")]:
        for op in [kms_unchecked.generate_data_key, kms_unchecked.generate_data_key_without_plaintext]:
            # Checked before the key is looked up: the missing alias does not matter.
            for key in ["alias/suite", "alias/nope"]:
                e = expect_error(op, "ValidationException", 400, KeyId=key, NumberOfBytes=n)
                want = (f"1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: "
                        f"Member must have value {bound}")
                check(message(e) == want, f"NumberOfBytes={n}: {message(e)}")
    e = expect_error(kms.generate_data_key, "ValidationException", 400, KeyId="alias/suite", KeySpec="AES_512",
                     NumberOfBytes=2000)
    check(message(e).startswith("2 validation errors detected: ") and "'2000' at 'numberOfBytes'" in message(e)
          and "'AES_512' at 'keySpec'" in message(e), f"both members invalid: {message(e)}")
    for extra in [{"KeySpec": "AES_256", "NumberOfBytes": 32}, {}]:
        e = expect_error(kms.generate_data_key, "ValidationException", 400, KeyId="alias/suite", **extra)
        check(message(e) == "Please specify either number of bytes or key spec.", f"{extra}: {message(e)}")
    # A symmetric key encrypts with SYMMETRIC_DEFAULT only.
    ct = kms.encrypt(KeyId="alias/suite", Plaintext=b"secret", EncryptionAlgorithm="SYMMETRIC_DEFAULT")
    check(ct["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT", f"Encrypt SYMMETRIC_DEFAULT: {ct}")
    back = kms.decrypt(CiphertextBlob=ct["CiphertextBlob"], EncryptionAlgorithm="SYMMETRIC_DEFAULT")
    check(back["Plaintext"] == b"secret", "Decrypt SYMMETRIC_DEFAULT")
    for alg in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]:
        e = expect_error(kms.encrypt, "InvalidKeyUsageException", 400, KeyId=k["KeyId"], Plaintext=b"secret",
                         EncryptionAlgorithm=alg)
        check(message(e) == f"Algorithm {alg} is incompatible with key spec SYMMETRIC_DEFAULT.", message(e))
        expect_error(kms.decrypt, "InvalidKeyUsageException", 400, CiphertextBlob=ct["CiphertextBlob"],
                     EncryptionAlgorithm=alg)
        expect_error(kms.encrypt, "NotFoundException", 400, KeyId="alias/nope", Plaintext=b"x", EncryptionAlgorithm=alg)
    e = expect_error(kms.encrypt, "ValidationException", 400, KeyId=k["KeyId"], Plaintext=b"x",
                     EncryptionAlgorithm="RSAES_PKCS1_V1_5")
    check("at 'encryptionAlgorithm' failed to satisfy constraint" in message(e), message(e))
    # Keys of another account or region are not this KMS's, even with one of its key ids.
    other_account = k["Arn"].replace(":000000000000:", ":111122223333:")
    other_region = k["Arn"].replace(":us-east-1:", ":eu-west-1:")
    check(other_account != k["Arn"] and other_region != k["Arn"], f"ARN layout: {k['Arn']}")
    for arn in [other_account, other_region, other_account.replace("key/" + k["KeyId"], "alias/suite")]:
        expect_error(kms.encrypt, "NotFoundException", 400, KeyId=arn, Plaintext=b"x")
        expect_error(kms.generate_data_key, "NotFoundException", 400, KeyId=arn, KeySpec="AES_256")
        expect_error(kms.describe_key, "NotFoundException", 400, KeyId=arn)
    e = expect_error(kms.encrypt, "NotFoundException", 400, KeyId=other_region, Plaintext=b"x")
    check(message(e) == "Invalid arn eu-west-1", message(e))
    e = expect_error(kms.encrypt, "NotFoundException", 400, KeyId=other_account, Plaintext=b"x")
    check(message(e) == f"Key '{other_account}' does not exist", message(e))
    check(kms.encrypt(KeyId=k["Arn"], Plaintext=b"x")["KeyId"] == k["Arn"], "this account's ARN still works")


def sse_s3():
    s3.create_bucket(Bucket="sse")
    for key, n in [("s3/small", 1000), ("s3/big", 300_000), ("s3/empty", 0)]:
        data = body(n, key)
        r = s3.put_object(Bucket="sse", Key=key, Body=data, ServerSideEncryption="AES256")
        check(r["ServerSideEncryption"] == "AES256", f"PUT answers AES256: {r}")
        check(r["ETag"] == f'"{md5hex(data)}"', "an SSE-S3 ETag is the plaintext MD5")
        g = s3.get_object(Bucket="sse", Key=key)
        check(g["Body"].read() == data and g["ServerSideEncryption"] == "AES256", f"GET {key}")
        check(s3.head_object(Bucket="sse", Key=key)["ServerSideEncryption"] == "AES256", "HEAD says AES256")
    data = body(300_000, "s3/big")
    seg = 64 * 1024
    for first, last in [(0, 0), (seg - 3, seg + 3), (seg, 2 * seg - 1), (5, 299_999), (2 * seg + 7, 3 * seg + 9)]:
        r = s3.get_object(Bucket="sse", Key="s3/big", Range=f"bytes={first}-{last}")
        check(r["Body"].read() == data[first:last + 1] and r["ContentRange"] == f"bytes {first}-{last}/300000",
              f"range {first}-{last}")
    check(get("sse", "s3/big", Range="bytes=-10") == data[-10:], "suffix range")
    check(get("sse", "s3/small", Range="bytes=10-20") == body(1000, "s3/small")[10:21], "inline range")
    expect_error(s3.put_object, "InvalidArgument", 400, Bucket="sse", Key="x", Body=b"x", ServerSideEncryption="AES512")
    expect_error(s3.put_object, "InvalidArgument", 400, Bucket="sse", Key="x", Body=b"x",
                 ServerSideEncryption="AES256", SSEKMSKeyId="alias/suite")


def sse_kms(k):
    data = body(200_000, "kms")
    r = s3.put_object(Bucket="sse", Key="kms/by-id", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=k["KeyId"])
    check(r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == k["Arn"], f"KMS PUT: {r}")
    check(r["ETag"] != f'"{md5hex(data)}"', "an SSE-KMS ETag is not the plaintext MD5")
    g = s3.get_object(Bucket="sse", Key="kms/by-id")
    check(g["Body"].read() == data and g["SSEKMSKeyId"] == k["Arn"] and g["ETag"] == r["ETag"], "KMS GET")
    r = s3.put_object(Bucket="sse", Key="kms/by-alias", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/suite")
    check(r["SSEKMSKeyId"] == k["Arn"], "an alias names its key")
    r = s3.put_object(Bucket="sse", Key="kms/default", Body=data, ServerSideEncryption="aws:kms")
    aws_s3 = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    check(r["SSEKMSKeyId"] == aws_s3["Arn"] and aws_s3["KeyManager"] == "AWS", "no key id: the aws/s3 key")
    # An AWS managed key cannot be disabled: every default-key object depends on it.
    expect_error(kms.disable_key, "AccessDeniedException", 400, KeyId=aws_s3["KeyId"])
    check(kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyState"] == "Enabled", "aws/s3 key stays enabled")
    check(get("sse", "kms/default", Range="bytes=70000-70100") == data[70000:70101], "KMS range")
    ctx = base64.b64encode(b'{"team":"blue"}').decode()
    s3.put_object(Bucket="sse", Key="kms/ctx", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=k["KeyId"],
                  SSEKMSEncryptionContext=ctx)
    check(get("sse", "kms/ctx") == data, "encryption context kept")
    expect_error(s3.put_object, "KMS.NotFoundException", 400, Bucket="sse", Key="x", Body=b"x",
                 ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/missing")
    # A disabled key makes its objects unreadable; enabling it again restores them.
    kms.disable_key(KeyId=k["KeyId"])
    check(kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled", "key disabled")
    e = expect_error(s3.get_object, "KMS.DisabledException", 400, Bucket="sse", Key="kms/by-id")
    check(k["Arn"] in e.response["Error"]["Message"], "the error names the key")
    check(s3.head_object(Bucket="sse", Key="kms/by-id")["SSEKMSKeyId"] == k["Arn"], "HEAD needs no decryption")
    expect_error(s3.put_object, "KMS.DisabledException", 400, Bucket="sse", Key="x", Body=b"x",
                 ServerSideEncryption="aws:kms", SSEKMSKeyId=k["KeyId"])
    check(get("sse", "kms/default") == data, "other keys' objects stay readable")
    kms.enable_key(KeyId=k["KeyId"])
    check(get("sse", "kms/by-id") == data, "re-enabled key restores access")


def sse_c():
    data = body(150_000, "ssec")
    r = s3.put_object(Bucket="sse", Key="c/obj", Body=data, **SSEC)
    key_md5 = base64.b64encode(hashlib.md5(KEY_C).digest()).decode()
    check(r["SSECustomerAlgorithm"] == "AES256" and r["SSECustomerKeyMD5"] == key_md5, f"SSE-C PUT: {r}")
    check(r["ETag"] != f'"{md5hex(data)}"', "an SSE-C ETag is not the plaintext MD5")
    g = s3.get_object(Bucket="sse", Key="c/obj", **SSEC)
    check(g["Body"].read() == data and g["SSECustomerKeyMD5"] == key_md5, "SSE-C GET with the key")
    check(get("sse", "c/obj", Range="bytes=65530-65560", **SSEC) == data[65530:65561], "SSE-C range")
    h = s3.head_object(Bucket="sse", Key="c/obj", **SSEC)
    check(h["ContentLength"] == len(data) and h["SSECustomerAlgorithm"] == "AES256", "SSE-C HEAD")
    expect_error(s3.get_object, "InvalidRequest", 400, Bucket="sse", Key="c/obj")
    expect_error(s3.head_object, "400", 400, Bucket="sse", Key="c/obj")
    expect_error(s3.get_object, "AccessDenied", 403, Bucket="sse", Key="c/obj", **SSEC_WRONG)
    expect_error(s3.head_object, "403", 403, Bucket="sse", Key="c/obj", **SSEC_WRONG)
    expect_error(s3.get_object, "InvalidRequest", 400, Bucket="sse", Key="s3/small", **SSEC)
    # With an explicit MD5 botocore sends the key as given (base64 text).
    expect_error(s3.put_object, "InvalidArgument", 400, Bucket="sse", Key="x", Body=b"x", SSECustomerAlgorithm="AES256",
                 SSECustomerKey=base64.b64encode(KEY_C).decode(), SSECustomerKeyMD5=base64.b64encode(b"0" * 16).decode())
    expect_error(s3.put_object, "InvalidArgument", 400, Bucket="sse", Key="x", Body=b"x", SSECustomerAlgorithm="AES256",
                 SSECustomerKey=b"short")
    # PUTs refused before their body is read must not leave it on a kept-alive connection (the next
    # request would be parsed from it: a bare "400 Bad Request" or SignatureDoesNotMatch, 1 in ~100).
    for _ in range(100):
        expect_error(s3.put_object, "InvalidArgument", 400, Bucket="sse", Key="x", Body=b"x",
                     SSECustomerAlgorithm="AES256", SSECustomerKey=b"short")
        expect_error(s3.head_object, "403", 403, Bucket="sse", Key="c/obj", **SSEC_WRONG)
    expect_error(s3.put_object, "InvalidEncryptionAlgorithmError", 400, Bucket="sse", Key="x", Body=b"x",
                 SSECustomerAlgorithm="AES128", SSECustomerKey=KEY_C)
    expect_error(s3.put_object, "InvalidArgument", 400, Bucket="sse", Key="x", Body=b"x", ServerSideEncryption="AES256",
                 **SSEC)
    # Nor may a read name an encryption method alongside its SSE-C key (botocore has no parameter for
    # it on GET/HEAD: the header is added to the request before it is signed).
    for method in ["AES256", "aws:kms"]:
        s3x = s3check.client(ENDPOINT)

        def add_sse(request, method=method, **_):
            request.headers["x-amz-server-side-encryption"] = method

        s3x.meta.events.register("before-sign.s3", add_sse)
        e = expect_error(s3x.get_object, "InvalidArgument", 400, Bucket="sse", Key="c/obj", **SSEC)
        check(e.response["Error"]["Message"] ==
              "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
              f"GET SSE-C + {method}: {e.response['Error']}")
        expect_error(s3x.head_object, "400", 400, Bucket="sse", Key="c/obj", **SSEC)
    check(get("sse", "c/obj", **SSEC) == data, "the SSE-C key alone still reads")
    # Without SSE-C, the headers that choose SSE-S3 / SSE-KMS have no place on a read either.
    s3.put_object(Bucket="sse", Key="plain-read", Body=b"p", ServerSideEncryption="AES256")
    for header, value in [("x-amz-server-side-encryption", "AES256"), ("x-amz-server-side-encryption", "aws:kms"),
                          ("x-amz-server-side-encryption-aws-kms-key-id", "alias/aws/s3")]:
        s3x = s3check.client(ENDPOINT)
        s3x.meta.events.register("before-sign.s3", lambda request, header=header, value=value, **_:
                                 request.headers.__setitem__(header, value))
        e = expect_error(s3x.get_object, "InvalidArgument", 400, Bucket="sse", Key="plain-read")
        check(e.response["Error"]["Message"] == f"{header} header is not supported for this operation.", str(e.response["Error"]))
        expect_error(s3x.head_object, "400", 400, Bucket="sse", Key="plain-read")
    check(get("sse", "plain-read") == b"p", "a plain GET of an SSE-S3 object reads")


def multipart(k):
    p1, p2 = body(5 * MIB, "mp1"), body(MIB + 5, "mp2")
    for mode, extra in [("kms", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": k["KeyId"]}), ("c", SSEC),
                        ("s3", {"ServerSideEncryption": "AES256"})]:
        key = f"mp/{mode}"
        up = s3.create_multipart_upload(Bucket="sse", Key=key, **extra)
        part_extra = SSEC if mode == "c" else {}
        if mode == "kms":
            check(up["ServerSideEncryption"] == "aws:kms" and up["SSEKMSKeyId"] == k["Arn"], f"create: {up}")
        if mode == "c":
            expect_error(s3.upload_part, "InvalidRequest", 400, Bucket="sse", Key=key, UploadId=up["UploadId"],
                         PartNumber=1, Body=p1)
            expect_error(s3.upload_part, "AccessDenied", 403, Bucket="sse", Key=key, UploadId=up["UploadId"],
                         PartNumber=1, Body=p1, **SSEC_WRONG)
        e1 = s3.upload_part(Bucket="sse", Key=key, UploadId=up["UploadId"], PartNumber=1, Body=p1, **part_extra)["ETag"]
        e2 = s3.upload_part(Bucket="sse", Key=key, UploadId=up["UploadId"], PartNumber=2, Body=p2, **part_extra)["ETag"]
        parts = {"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}
        if mode == "kms":
            # S3 decrypts the upload's data key to complete it: a key disabled since fails the completion.
            kms.disable_key(KeyId=k["KeyId"])
            e = expect_error(s3.complete_multipart_upload, "KMS.DisabledException", 400, Bucket="sse", Key=key,
                             UploadId=up["UploadId"], MultipartUpload=parts)
            check(k["Arn"] in e.response["Error"]["Message"], f"the error names the key: {e.response['Error']}")
            kms.enable_key(KeyId=k["KeyId"])
            check(s3.list_parts(Bucket="sse", Key=key, UploadId=up["UploadId"])["Parts"][1]["ETag"] == e2,
                  "the refused completion left the upload as it was")
        if mode == "c":
            expect_error(s3.complete_multipart_upload, "AccessDenied", 403, Bucket="sse", Key=key,
                         UploadId=up["UploadId"], MultipartUpload=parts, **SSEC_WRONG)
        done = s3.complete_multipart_upload(Bucket="sse", Key=key, UploadId=up["UploadId"], MultipartUpload=parts,
                                            **part_extra)
        check(done["ETag"].endswith('-2"'), f"multipart ETag: {done}")
        if mode != "c":
            check(done.get("ServerSideEncryption") == extra["ServerSideEncryption"], f"complete says SSE: {done}")
        else:
            # The SSE-C answer carries the customer key headers (botocore's output shape has no members
            # for them on CompleteMultipartUpload: read them from the HTTP headers).
            h = done["ResponseMetadata"]["HTTPHeaders"]
            key_md5 = base64.b64encode(hashlib.md5(KEY_C).digest()).decode()
            check(h.get("x-amz-server-side-encryption-customer-algorithm") == "AES256"
                  and h.get("x-amz-server-side-encryption-customer-key-md5") == key_md5,
                  f"SSE-C complete headers: {h}")
            check("x-amz-server-side-encryption" not in h, f"SSE-C complete names no other method: {h}")
        read_extra = SSEC if mode == "c" else {}
        check(get("sse", key, **read_extra) == p1 + p2, f"{mode} multipart reads back")
        rng = get("sse", key, Range=f"bytes={5 * MIB - 70000}-{5 * MIB + 70000}", **read_extra)
        check(rng == (p1 + p2)[5 * MIB - 70000:5 * MIB + 70001], f"{mode} range across parts")
        check(get("sse", key, PartNumber=2, **read_extra) == p2, f"{mode} GET partNumber")
    # UploadPartCopy from an SSE-C source into an SSE-S3 upload.
    up = s3.create_multipart_upload(Bucket="sse", Key="mp/copied", ServerSideEncryption="AES256")
    cp = s3.upload_part_copy(Bucket="sse", Key="mp/copied", UploadId=up["UploadId"], PartNumber=1,
                             CopySource="sse/mp/c", CopySourceRange=f"bytes=0-{5 * MIB - 1}", **COPY_SSEC)
    s3.complete_multipart_upload(Bucket="sse", Key="mp/copied", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": cp["CopyPartResult"]["ETag"]}]})
    check(get("sse", "mp/copied") == p1, "UploadPartCopy from an SSE-C source")


def copies(k):
    src = body(90_000, "copy")
    s3.put_object(Bucket="sse", Key="cp/s3", Body=src, ServerSideEncryption="AES256")
    r = s3.copy_object(Bucket="sse", Key="cp/c", CopySource="sse/cp/s3", **SSEC)
    check(r["SSECustomerAlgorithm"] == "AES256", f"SSE-S3 -> SSE-C: {r}")
    check(get("sse", "cp/c", **SSEC) == src, "copy to SSE-C reads back")
    expect_error(s3.copy_object, "InvalidRequest", 400, Bucket="sse", Key="cp/x", CopySource="sse/cp/c")
    r = s3.copy_object(Bucket="sse", Key="cp/kms", CopySource="sse/cp/c", ServerSideEncryption="aws:kms",
                       SSEKMSKeyId="alias/suite", **COPY_SSEC)
    check(r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == k["Arn"], f"SSE-C -> SSE-KMS: {r}")
    check(get("sse", "cp/kms") == src, "copy to SSE-KMS reads back")
    r = s3.copy_object(Bucket="sse", Key="cp/plain", CopySource="sse/cp/kms")
    check("ServerSideEncryption" not in r and "ServerSideEncryption" not in s3.head_object(Bucket="sse", Key="cp/plain"),
          "a copy without SSE headers takes the bucket's default, not the source's encryption")
    check(get("sse", "cp/plain") == src, "copy to plain reads back")
    r = s3.copy_object(Bucket="sse", Key="cp/plain", CopySource="sse/cp/plain", ServerSideEncryption="AES256")
    check(r["ServerSideEncryption"] == "AES256", "copying onto itself to change encryption is allowed")
    check(get("sse", "cp/plain") == src, "re-encrypted in place")


def bucket_default(k):
    s3.create_bucket(Bucket="sse-default")
    expect_error(s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", 404, Bucket="sse-default")
    s3.put_bucket_encryption(Bucket="sse-default", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    rule = s3.get_bucket_encryption(Bucket="sse-default")["ServerSideEncryptionConfiguration"]["Rules"][0]
    check(rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", f"GetBucketEncryption: {rule}")
    data = body(40_000, "default")
    check(s3.put_object(Bucket="sse-default", Key="a", Body=data)["ServerSideEncryption"] == "AES256", "default SSE-S3")
    s3.put_bucket_encryption(Bucket="sse-default", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/suite"},
                   "BucketKeyEnabled": True}]})
    r = s3.put_object(Bucket="sse-default", Key="b", Body=data)
    check(r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == k["Arn"] and r.get("BucketKeyEnabled"),
          f"default SSE-KMS: {r}")
    check(s3.put_object(Bucket="sse-default", Key="c", Body=data, **SSEC)["SSECustomerAlgorithm"] == "AES256",
          "an explicit SSE-C key overrides the default")
    up = s3.create_multipart_upload(Bucket="sse-default", Key="mp")
    check(up["ServerSideEncryption"] == "aws:kms", "uploads take the default too")
    s3.abort_multipart_upload(Bucket="sse-default", Key="mp", UploadId=up["UploadId"])
    check(s3.head_object(Bucket="sse-default", Key="a")["ServerSideEncryption"] == "AES256", "old objects unchanged")
    s3.delete_bucket_encryption(Bucket="sse-default")
    check("ServerSideEncryption" not in s3.put_object(Bucket="sse-default", Key="d", Body=b"plain"), "default removed")
    expect_error(s3.put_bucket_encryption, "InvalidArgument", 400, Bucket="sse-default",
                 ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {
                     "SSEAlgorithm": "AES256", "KMSMasterKeyID": "alias/suite"}}]})
    for key in ["a", "b", "d"]:
        s3.delete_object(Bucket="sse-default", Key=key)
    s3.delete_object(Bucket="sse-default", Key="c")
    s3.delete_bucket(Bucket="sse-default")


def raw_versions_xml(bucket):
    url = f"{ENDPOINT}/{bucket}?versions"
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    req = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
    SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    r = requests.get(url, headers=dict(req.headers), timeout=30)
    check(r.status_code == 200, f"raw ListObjectVersions: {r.status_code} {r.text}")
    return r.text


def versioning_details():
    s3.create_bucket(Bucket="vnull")
    check("VersionId" not in s3.put_object(Bucket="vnull", Key="k", Body=b"1"), "no version id before versioning")
    s3.put_bucket_versioning(Bucket="vnull", VersioningConfiguration={"Status": "Enabled"})
    g = s3.get_object(Bucket="vnull", Key="k")
    check(g.get("VersionId") == "null", f"GET of a null version says null once versioning is on: {g.get('VersionId')}")
    v1 = s3.put_object(Bucket="vnull", Key="k", Body=b"2")["VersionId"]
    d1 = s3.delete_object(Bucket="vnull", Key="k")["VersionId"]
    v2 = s3.put_object(Bucket="vnull", Key="k", Body=b"3")["VersionId"]
    d2 = s3.delete_object(Bucket="vnull", Key="k")["VersionId"]
    xml = raw_versions_xml("vnull")
    entries = re.findall(r"<(Version|DeleteMarker)>.*?<VersionId>([^<]*)</VersionId>", xml)
    check(entries == [("DeleteMarker", d2), ("Version", v2), ("DeleteMarker", d1), ("Version", v1), ("Version", "null")],
          f"versions and delete markers interleave newest first: {entries}")
    s3.put_bucket_versioning(Bucket="vnull", VersioningConfiguration={"Status": "Suspended"})
    r = s3.put_object(Bucket="vnull", Key="s", Body=b"suspended")
    check(r.get("VersionId") == "null", f"PUT to a Suspended bucket says null: {r.get('VersionId')}")
    check(s3.head_object(Bucket="vnull", Key="s").get("VersionId") == "null", "HEAD of the null version says null")
    check(s3.get_object(Bucket="vnull", Key="s").get("VersionId") == "null", "GET of the null version says null")
    r = s3.copy_object(Bucket="vnull", Key="s2", CopySource="vnull/s")
    check(r.get("VersionId") == "null", "a copy into a Suspended bucket says null")


def archived(k):
    """Encrypted objects archived to GLACIER stay sealed in the cold tier and come back through a restore."""
    cases = [("arch/s3", 200_000, {"ServerSideEncryption": "AES256"}, {}),
             ("arch/kms", 90_000, {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": k["KeyId"]}, {}),
             ("arch/c", 3000, SSEC, SSEC)]
    for key, n, put_args, get_args in cases:
        s3.put_object(Bucket="sse", Key=key, Body=body(n, key), StorageClass="GLACIER", **put_args)
        expect_error(s3.get_object, "InvalidObjectState", 403, Bucket="sse", Key=key, **get_args)
        s3.restore_object(Bucket="sse", Key=key, RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}})
    for key, n, _, get_args in cases:
        deadline = time.time() + 30
        while 'ongoing-request="false"' not in s3.head_object(Bucket="sse", Key=key, **get_args).get("Restore", ""):
            check(time.time() < deadline, f"{key}: restore finishes")
            time.sleep(0.2)
        check(get("sse", key, **get_args) == body(n, key), f"{key}: restored copy decrypts")
        check(get("sse", key, Range="bytes=100-2100", **get_args) == body(n, key)[100:2101], f"{key}: restored range")


def persist_write():
    s3.put_object(Bucket="sse", Key="persist/s3", Body=body(100_000, "p-s3"), ServerSideEncryption="AES256")
    s3.put_object(Bucket="sse", Key="persist/kms", Body=body(100_000, "p-kms"), ServerSideEncryption="aws:kms",
                  SSEKMSKeyId="alias/suite")
    s3.put_object(Bucket="sse", Key="persist/c", Body=body(5000, "p-c"), **SSEC)
    # An unencrypted control object: the at-rest scan must find its marker (so the scan works).
    s3.create_bucket(Bucket="plain")
    s3.put_object(Bucket="plain", Key="control", Body=b"PLAIN-CONTROL-MARKER:" * 5000)


def persist_verify():
    check(get("sse", "persist/s3") == body(100_000, "p-s3"), "SSE-S3 object survives restart and rotation")
    check(get("sse", "persist/kms") == body(100_000, "p-kms"), "SSE-KMS object survives restart")
    check(get("sse", "persist/c", **SSEC) == body(5000, "p-c"), "SSE-C object survives restart")
    check(get("sse", "s3/big", Range="bytes=100-200") == body(300_000, "s3/big")[100:201], "ranges after restart")
    check(kms_key()["Enabled"], "KMS keys and aliases survive restart")
    data = body(70_000, "after-rotation")
    s3.put_object(Bucket="sse", Key="persist/new", Body=data, ServerSideEncryption="AES256")
    check(get("sse", "persist/new") == data, "new SSE-S3 objects under the rotated key")


if PHASE == "write":
    k = kms_basics()
    for step in [sse_s3, lambda: sse_kms(k), sse_c, lambda: multipart(k), lambda: copies(k), lambda: bucket_default(k),
                 versioning_details, lambda: archived(k), persist_write]:
        step()
else:
    persist_verify()
print(f"sse suite ({PHASE}): {s3check.checks} checks ok", flush=True)
