"""Storage classes, the cold tier, RestoreObject and lifecycle rules, driven through boto3 (issue #4).

Usage: lifecycle_suite.py ENDPOINT DAY_SECONDS PHASE
  basics  storage classes on every write path, restore flows, lifecycle configuration round trip and
          the configurations S3 refuses;
  setup   the course's two scenarios (and abort/expiry rules) plus a restore in flight — the caller
          kills s3d with SIGKILL afterwards and restarts it;
  verify  waits for the scenarios to play out (after the restart) and checks the usage report.
Credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Exits non-zero on the first failed check.
"""
import json
import os
import sys
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import s3check
from s3check import check, expect_error, wait_until

ENDPOINT, DAY, PHASE = sys.argv[1], float(sys.argv[2]), sys.argv[3]
KIB = 1024
s3 = boto3.client(
    "s3",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    config=Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60),
)


def body(n, seed):
    return bytes((i * 7 + seed) % 251 for i in range(n))


def head(bucket, key, **kw):
    try:
        return s3.head_object(Bucket=bucket, Key=key, **kw)
    except ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return None
        raise


def days(n):
    """Seconds of n lifecycle days, plus slack for the worker's pass."""
    return n * DAY + 10


def storage_classes():
    s3.create_bucket(Bucket="classes")
    classes = ["STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]
    for c in classes:
        s3.put_object(Bucket="classes", Key=f"obj-{c}", Body=body(1000, 1), StorageClass=c)
        got = s3.head_object(Bucket="classes", Key=f"obj-{c}").get("StorageClass", "STANDARD")
        check(got == c, f"HEAD shows {c}: {got}")
    for bad in ["REDUCED_REDUNDANCY_X", "FOO", "standard"]:
        expect_error(s3.put_object, "InvalidStorageClass", 400, Bucket="classes", Key="bad", Body=b"x", StorageClass=bad)
    expect_error(s3.copy_object, "InvalidStorageClass", 400, Bucket="classes", Key="bad",
                 CopySource="classes/obj-STANDARD", StorageClass="NOPE")
    expect_error(s3.create_multipart_upload, "InvalidStorageClass", 400, Bucket="classes", Key="bad", StorageClass="NOPE")
    listed = {o["Key"]: o["StorageClass"] for o in s3.list_objects_v2(Bucket="classes")["Contents"]}
    check(all(listed[f"obj-{c}"] == c for c in classes), f"ListObjectsV2 shows classes: {listed}")
    listed = {o["Key"]: o["StorageClass"] for o in s3.list_objects(Bucket="classes")["Contents"]}
    check(listed["obj-ONEZONE_IA"] == "ONEZONE_IA", f"ListObjects shows classes: {listed}")
    versions = {v["Key"]: v["StorageClass"] for v in s3.list_object_versions(Bucket="classes")["Versions"]}
    check(versions["obj-GLACIER_IR"] == "GLACIER_IR", f"ListObjectVersions shows classes: {versions}")
    got = s3.get_object(Bucket="classes", Key="obj-STANDARD_IA")
    check(got.get("StorageClass") == "STANDARD_IA" and got["Body"].read() == body(1000, 1), "GET shows the class")
    s3.copy_object(Bucket="classes", Key="copied", CopySource="classes/obj-STANDARD", StorageClass="INTELLIGENT_TIERING")
    check(s3.head_object(Bucket="classes", Key="copied")["StorageClass"] == "INTELLIGENT_TIERING", "copy sets the class")
    up = s3.create_multipart_upload(Bucket="classes", Key="mpu", StorageClass="STANDARD_IA")
    part = s3.upload_part(Bucket="classes", Key="mpu", UploadId=up["UploadId"], PartNumber=1, Body=body(3000, 2))
    s3.complete_multipart_upload(Bucket="classes", Key="mpu", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    check(s3.head_object(Bucket="classes", Key="mpu")["StorageClass"] == "STANDARD_IA", "multipart keeps the class")
    print("storage classes: ok")


def restores():
    s3.create_bucket(Bucket="archive")
    data = body(300 * KIB, 3)
    s3.put_object(Bucket="archive", Key="cold", Body=data, StorageClass="GLACIER")
    h = s3.head_object(Bucket="archive", Key="cold")
    check(h["StorageClass"] == "GLACIER" and h["ContentLength"] == len(data) and "Restore" not in h, f"HEAD works: {h}")
    expect_error(s3.get_object, "InvalidObjectState", 403, Bucket="archive", Key="cold")
    expect_error(s3.copy_object, "InvalidObjectState", 403, Bucket="archive", Key="copy", CopySource="archive/cold")
    r = s3.restore_object(Bucket="archive", Key="cold", RestoreRequest={"Days": 500, "GlacierJobParameters": {"Tier": "Standard"}})
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 202, f"restore accepted: {r['ResponseMetadata']}")
    check(s3.head_object(Bucket="archive", Key="cold").get("Restore") == 'ongoing-request="true"', "restore ongoing")
    expect_error(s3.restore_object, "RestoreAlreadyInProgress", 409, Bucket="archive", Key="cold",
                 RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})
    expect_error(s3.get_object, "InvalidObjectState", 403, Bucket="archive", Key="cold")
    wait_until(lambda: 'ongoing-request="false"' in s3.head_object(Bucket="archive", Key="cold").get("Restore", ""),
               "restore completes", 60)
    restore = s3.head_object(Bucket="archive", Key="cold")["Restore"]
    check('expiry-date="' in restore and restore.endswith('GMT"'), f"expiry date shown: {restore}")
    got = s3.get_object(Bucket="archive", Key="cold")
    check(got["Body"].read() == data and got["StorageClass"] == "GLACIER", "restored copy readable, still GLACIER")
    check(got.get("Restore", "").startswith('ongoing-request="false"'), "GET shows x-amz-restore")
    again = s3.restore_object(Bucket="archive", Key="cold", RestoreRequest={"Days": 600})
    check(again["ResponseMetadata"]["HTTPStatusCode"] == 200, "restoring a restored object extends it (200)")
    s3.put_object(Bucket="archive", Key="hot", Body=b"x")
    expect_error(s3.restore_object, "InvalidObjectState", 403, Bucket="archive", Key="hot", RestoreRequest={"Days": 1})
    s3.put_object(Bucket="archive", Key="deep", Body=body(50 * KIB, 4), StorageClass="DEEP_ARCHIVE")
    expect_error(s3.restore_object, "InvalidArgument", 400, Bucket="archive", Key="deep",
                 RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Expedited"}})
    # A short restore: the copy goes after Days and the object is archived-only again.
    s3.restore_object(Bucket="archive", Key="deep", RestoreRequest={"Days": 20, "GlacierJobParameters": {"Tier": "Bulk"}})
    wait_until(lambda: 'ongoing-request="false"' in s3.head_object(Bucket="archive", Key="deep").get("Restore", ""),
               "deep archive restore completes", 60)
    check(s3.get_object(Bucket="archive", Key="deep")["Body"].read() == body(50 * KIB, 4), "deep archive restored")
    wait_until(lambda: "Restore" not in s3.head_object(Bucket="archive", Key="deep"), "restored copy expires", days(20))
    expect_error(s3.get_object, "InvalidObjectState", 403, Bucket="archive", Key="deep")
    # Archived objects delete like any other.
    s3.delete_object(Bucket="archive", Key="deep")
    check(head("archive", "deep") is None, "deleted")
    print("restores: ok")


COURSE = {
    "Rules": [
        {
            "ID": "thumbnails",
            "Filter": {"Prefix": "thumbnails/"},
            "Status": "Enabled",
            "Transitions": [{"Days": 30, "StorageClass": "ONEZONE_IA"}],
            "Expiration": {"Days": 45},
        },
        {
            "ID": "source-images",
            "Filter": {"Prefix": "images/"},
            "Status": "Enabled",
            "Transitions": [{"Days": 45, "StorageClass": "GLACIER"}],
        },
    ]
}

NONCURRENT = {
    "Rules": [
        {
            "ID": "old-versions",
            "Filter": {},
            "Status": "Enabled",
            # S3 refuses NoncurrentDays < 30 for STANDARD_IA (checked below), so the course's "15 days"
            # becomes S3's minimum here.
            "NoncurrentVersionTransitions": [
                {"NoncurrentDays": 30, "StorageClass": "STANDARD_IA"},
                {"NoncurrentDays": 365, "StorageClass": "DEEP_ARCHIVE"},
            ],
        }
    ]
}


def put_lc(bucket, config, **kw):
    return s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=config, **kw)


def configurations():
    s3.create_bucket(Bucket="rules")
    expect_error(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", 404, Bucket="rules")
    full = {
        "Rules": COURSE["Rules"] + [
            {
                "ID": "everything",
                "Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "tmp", "Value": "1"}], "ObjectSizeGreaterThan": 10}},
                "Status": "Disabled",
                "Expiration": {"Date": "2030-01-01T00:00:00Z"},
            },
            {
                "ID": "versions",
                "Filter": {"ObjectSizeLessThan": 1000000},
                "Status": "Enabled",
                "NoncurrentVersionTransitions": [{"NoncurrentDays": 30, "StorageClass": "STANDARD_IA", "NewerNoncurrentVersions": 2}],
                "NoncurrentVersionExpiration": {"NoncurrentDays": 400, "NewerNoncurrentVersions": 3},
            },
            {
                "ID": "uploads",
                "Prefix": "",
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                "Expiration": {"ExpiredObjectDeleteMarker": True},
            },
        ]
    }
    out = put_lc("rules", full)
    check(out.get("TransitionDefaultMinimumObjectSize") == "all_storage_classes_128K", f"default min size: {out}")
    got = s3.get_bucket_lifecycle_configuration(Bucket="rules")
    rules = {r["ID"]: r for r in got["Rules"]}
    check(list(rules) == ["thumbnails", "source-images", "everything", "versions", "uploads"], f"rule order: {list(rules)}")
    check(rules["thumbnails"]["Transitions"] == [{"Days": 30, "StorageClass": "ONEZONE_IA"}], f"{rules['thumbnails']}")
    check(rules["thumbnails"]["Expiration"] == {"Days": 45} and rules["thumbnails"]["Filter"] == {"Prefix": "thumbnails/"}, "round trip")
    check(rules["everything"]["Status"] == "Disabled", "status")
    check(rules["everything"]["Filter"]["And"]["Tags"] == [{"Key": "tmp", "Value": "1"}], f"{rules['everything']}")
    check(rules["everything"]["Expiration"]["Date"].year == 2030, "date")
    check(rules["versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 400, "NewerNoncurrentVersions": 3}, "noncurrent")
    check(rules["uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7} and rules["uploads"]["Prefix"] == "", "abort")
    check(got.get("TransitionDefaultMinimumObjectSize") == "all_storage_classes_128K", "policy returned")

    def rule(**kw):
        r = {"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled"}
        r.update(kw)
        return {"Rules": [r]}

    bad = [
        (rule(Transitions=[{"Days": 10, "StorageClass": "STANDARD_IA"}]), "InvalidArgument"),
        (rule(NoncurrentVersionTransitions=[{"NoncurrentDays": 15, "StorageClass": "STANDARD_IA"}]), "InvalidArgument"),
        (rule(Transitions=[{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 40, "StorageClass": "GLACIER"}]), "InvalidArgument"),
        (rule(Transitions=[{"Days": 90, "StorageClass": "DEEP_ARCHIVE"}, {"Days": 100, "StorageClass": "GLACIER"}]), "InvalidArgument"),
        (rule(Transitions=[{"Days": 60, "StorageClass": "GLACIER"}], Expiration={"Days": 30}), "InvalidArgument"),
        (rule(Transitions=[{"Days": 60, "StorageClass": "STANDARD"}]), "MalformedXML"),
        (rule(Expiration={"Days": 0}), "InvalidArgument"),
        (rule(Expiration={"Days": 3, "Date": "2030-01-01T00:00:00Z"}), "MalformedXML"),
        (rule(Expiration={"Date": "2030-01-01T12:00:00Z"}), "InvalidArgument"),
        (rule(Status="Sometimes", Expiration={"Days": 3}), "MalformedXML"),
        (rule(Filter={"Prefix": "a", "Tag": {"Key": "k", "Value": "v"}}, Expiration={"Days": 3}), "MalformedXML"),
        (rule(), "InvalidRequest"),
        (rule(NoncurrentVersionExpiration={"NoncurrentDays": 5, "NewerNoncurrentVersions": 101}), "InvalidArgument"),
        (rule(Filter={"Tag": {"Key": "k", "Value": "v"}}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1}), "InvalidRequest"),
        ({"Rules": [rule(Expiration={"Days": 3})["Rules"][0], rule(Expiration={"Days": 4})["Rules"][0]]}, "InvalidArgument"),
    ]
    for config, code in bad:
        expect_error(s3.put_bucket_lifecycle_configuration, code, 400, Bucket="rules", LifecycleConfiguration=config)
    check(len(s3.get_bucket_lifecycle_configuration(Bucket="rules")["Rules"]) == 5, "a refused configuration changes nothing")
    s3.delete_bucket_lifecycle(Bucket="rules")
    expect_error(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", 404, Bucket="rules")
    print("configurations: ok")


def setup():
    # Scenario 1: thumbnails to ONEZONE_IA, gone after 45 days; source images to GLACIER after 45 days.
    s3.create_bucket(Bucket="photos")
    put_lc("photos", COURSE)
    for i in range(3):
        s3.put_object(Bucket="photos", Key=f"images/{i}.png", Body=body(200 * KIB, i))
        s3.put_object(Bucket="photos", Key=f"thumbnails/{i}.png", Body=body(150 * KIB, i + 10))
    s3.put_object(Bucket="photos", Key="thumbnails/direct.png", Body=body(130 * KIB, 20), StorageClass="ONEZONE_IA")
    s3.put_object(Bucket="photos", Key="other/readme.txt", Body=body(200 * KIB, 30))
    s3.put_object(Bucket="photos", Key="images/tiny.png", Body=b"tiny")  # under 128 KiB: never transitions
    # An encrypted multipart object moves like the others: its sealed parts (separate streams) go to
    # the cold tier back to back and are unsealed part by part once restored.
    up = s3.create_multipart_upload(Bucket="photos", Key="images/!sealed.png", ServerSideEncryption="AES256")
    part = s3.upload_part(Bucket="photos", Key="images/!sealed.png", UploadId=up["UploadId"], PartNumber=1,
                          Body=body(200 * KIB, 70))
    s3.complete_multipart_upload(Bucket="photos", Key="images/!sealed.png", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    # Scenario 2: noncurrent versions to STANDARD_IA, then DEEP_ARCHIVE.
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    put_lc("versioned", NONCURRENT)
    ids = [s3.put_object(Bucket="versioned", Key="doc", Body=body(200 * KIB, 40 + v))["VersionId"] for v in range(3)]
    s3.put_object(Bucket="versioned", Key="single", Body=body(200 * KIB, 50))
    # Abort, noncurrent expiration and expired delete markers.
    s3.create_bucket(Bucket="cleanup")
    s3.put_bucket_versioning(Bucket="cleanup", VersioningConfiguration={"Status": "Enabled"})
    put_lc("cleanup", {"Rules": [{
        "ID": "cleanup", "Filter": {"Prefix": ""}, "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 2},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    }]})
    s3.create_multipart_upload(Bucket="cleanup", Key="stale-upload")
    s3.put_object(Bucket="cleanup", Key="gone", Body=b"v1")
    s3.delete_object(Bucket="cleanup", Key="gone")
    # A restore in flight across the restart.
    s3.create_bucket(Bucket="inflight")
    s3.put_object(Bucket="inflight", Key="k", Body=body(100 * KIB, 60), StorageClass="GLACIER")
    s3.restore_object(Bucket="inflight", Key="k", RestoreRequest={"Days": 1000, "GlacierJobParameters": {"Tier": "Bulk"}})
    with open(os.environ["STATE_FILE"], "w") as f:
        json.dump({"doc": ids}, f)
    print("setup: ok")


def class_of(bucket, key):
    h = head(bucket, key)
    return None if h is None else h.get("StorageClass", "STANDARD")


def version_classes(bucket, key):
    out = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return {v["VersionId"]: v["StorageClass"] for v in out.get("Versions", []) if v["Key"] == key}


def usage_report():
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    req = AWSRequest(method="GET", url=ENDPOINT + "/_stratus/storage-usage")
    SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    with urllib.request.urlopen(urllib.request.Request(req.url, headers=dict(req.headers)), timeout=30) as r:
        return json.loads(r.read())


def verify():
    with open(os.environ["STATE_FILE"]) as f:
        state = json.load(f)
    # The restore asked for before the kill completes after the restart.
    wait_until(lambda: 'ongoing-request="false"' in s3.head_object(Bucket="inflight", Key="k").get("Restore", ""),
               "restore requested before the restart completes", 60)
    check(s3.get_object(Bucket="inflight", Key="k")["Body"].read() == body(100 * KIB, 60), "restored after restart")

    # Scenario 1.
    wait_until(lambda: all(class_of("photos", f"thumbnails/{i}.png") in ("ONEZONE_IA", None) for i in range(3)),
               "thumbnails move to ONEZONE_IA after 30 days", days(31))
    wait_until(lambda: all(head("photos", f"thumbnails/{i}.png") is None for i in range(3)) and
               head("photos", "thumbnails/direct.png") is None, "thumbnails expire after 45 days", days(46))
    wait_until(lambda: all(class_of("photos", f"images/{i}.png") == "GLACIER" for i in [0, 1, 2, "!sealed"]),
               "source images move to GLACIER after 45 days", days(46))
    for i in range(3):
        expect_error(s3.get_object, "InvalidObjectState", 403, Bucket="photos", Key=f"images/{i}.png")
    s3.restore_object(Bucket="photos", Key="images/1.png", RestoreRequest={"Days": 1000, "GlacierJobParameters": {"Tier": "Expedited"}})
    wait_until(lambda: 'ongoing-request="false"' in s3.head_object(Bucket="photos", Key="images/1.png").get("Restore", ""),
               "expedited restore of a transitioned image", 60)
    check(s3.get_object(Bucket="photos", Key="images/1.png")["Body"].read() == body(200 * KIB, 1), "image intact after archive")
    check(class_of("photos", "other/readme.txt") == "STANDARD", "objects outside the rules stay")
    check(class_of("photos", "images/tiny.png") == "STANDARD", "objects under 128 KiB do not transition")
    expect_error(s3.get_object, "InvalidObjectState", 403, Bucket="photos", Key="images/!sealed.png")
    s3.restore_object(Bucket="photos", Key="images/!sealed.png", RestoreRequest={"Days": 1000})
    wait_until(lambda: 'ongoing-request="false"' in s3.head_object(Bucket="photos", Key="images/!sealed.png").get("Restore", ""),
               "restore of the encrypted multipart image", 60)
    got = s3.get_object(Bucket="photos", Key="images/!sealed.png")
    check(got["Body"].read() == body(200 * KIB, 70) and got["ServerSideEncryption"] == "AES256",
          "the encrypted multipart image is intact after archive and restore")
    print("scenario 1 (thumbnails, source images): ok")

    # Scenario 2.
    doc = state["doc"]
    current = doc[-1]
    wait_until(lambda: all(version_classes("versioned", "doc").get(v) == "STANDARD_IA" for v in doc[:-1]),
               "noncurrent versions move to STANDARD_IA after 30 days", days(31))
    wait_until(lambda: all(version_classes("versioned", "doc").get(v) == "DEEP_ARCHIVE" for v in doc[:-1]),
               "noncurrent versions move to DEEP_ARCHIVE after 365 days", days(366))
    classes = version_classes("versioned", "doc")
    check(classes[current] == "STANDARD", f"the current version stays STANDARD: {classes}")
    check(class_of("versioned", "single") == "STANDARD", "a key with no older versions is untouched")
    expect_error(s3.get_object, "InvalidObjectState", 403, Bucket="versioned", Key="doc", VersionId=doc[0])
    check(s3.get_object(Bucket="versioned", Key="doc")["Body"].read() == body(200 * KIB, 42), "current readable")
    s3.restore_object(Bucket="versioned", Key="doc", VersionId=doc[0], RestoreRequest={"Days": 1000, "GlacierJobParameters": {"Tier": "Standard"}})
    wait_until(lambda: 'ongoing-request="false"' in s3.head_object(Bucket="versioned", Key="doc", VersionId=doc[0]).get("Restore", ""),
               "restore of a DEEP_ARCHIVE noncurrent version", 60)
    check(s3.get_object(Bucket="versioned", Key="doc", VersionId=doc[0])["Body"].read() == body(200 * KIB, 40), "old version back")
    print("scenario 2 (noncurrent versions): ok")

    # Abort, noncurrent expiration, expired delete marker.
    wait_until(lambda: not s3.list_multipart_uploads(Bucket="cleanup").get("Uploads"), "stale upload aborted", days(4))
    wait_until(lambda: not [v for v in s3.list_object_versions(Bucket="cleanup").get("Versions", [])],
               "noncurrent version expires", days(3))
    wait_until(lambda: not s3.list_object_versions(Bucket="cleanup").get("DeleteMarkers"),
               "the expired delete marker goes", days(2))
    print("cleanup rules: ok")

    # The usage report, once a pass has counted the final state.
    def photos_counted():
        u = usage_report()["buckets"].get("photos")
        return u if u and u["classes"].get("GLACIER", {}).get("objects") == 4 else None
    photos = wait_until(photos_counted, "usage report shows the archived images", 30)
    check(photos["classes"]["GLACIER"]["bytes"] == 4 * 200 * KIB, f"GLACIER bytes: {photos}")
    check(photos["classes"]["GLACIER"]["billable_bytes"] == 4 * (200 * KIB + 40 * KIB), f"GLACIER overhead billed: {photos}")
    check(photos["classes"]["STANDARD"]["objects"] == 2, f"STANDARD objects: {photos}")
    check("ONEZONE_IA" not in photos["classes"] or photos["classes"]["ONEZONE_IA"]["objects"] == 0, f"{photos}")
    report = usage_report()
    check(report["cold_tier"]["objects"] >= 5 and report["cold_tier"]["stored_bytes"] > 0, f"cold tier: {report['cold_tier']}")
    check(any(c["storage_class"] == "STANDARD_IA" and c["min_billable_bytes"] == 128 * KIB and c["min_storage_days"] == 30
              for c in report["classes"]), "class rules reported")
    print("usage report: ok")


if PHASE == "basics":
    storage_classes()
    restores()
    configurations()
elif PHASE == "setup":
    setup()
elif PHASE == "verify":
    verify()
else:
    raise SystemExit(f"unknown phase {PHASE}")
print(f"{s3check.checks} checks ok")
