"""Drives s3d's ACLs and S3 Object Ownership with boto3: the default BucketOwnerEnforced errors,
ownership controls, canned / grant-header / XML ACLs on buckets and objects, ACLs by versionId, and
READ grants letting a second user read.

Usage: acl_suite.py ENDPOINT   (credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY;
BOB_ACCESS_KEY / BOB_SECRET_KEY name a second user). Exits non-zero on the first failed check.
"""
import os
import sys

import requests

import s3check
from s3check import check, expect_error

ENDPOINT = sys.argv[1]
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def client(ak=None, sk=None, **cfg):
    return s3check.client(ENDPOINT, ak, sk, **cfg)


s3 = client()
bob = client(os.environ["BOB_ACCESS_KEY"], os.environ["BOB_SECRET_KEY"])


def grants(resp):
    """The grants of a Get*Acl answer as (grantee, permission) pairs, in order."""
    out = []
    for g in resp["Grants"]:
        who = g["Grantee"]
        out.append((who.get("ID") or who.get("URI"), g["Permission"]))
    return out


owner = s3.list_buckets()["Owner"]
OWNER_ID = owner["ID"]
BOB_ID = bob.list_buckets()["Owner"]["ID"]
check(OWNER_ID != BOB_ID and len(OWNER_ID) == 64, f"canonical ids: {OWNER_ID} {BOB_ID}")
PRIVATE = [(OWNER_ID, "FULL_CONTROL")]


def ownership(bucket):
    return s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"][0]["ObjectOwnership"]


# --- New buckets: BucketOwnerEnforced, ACLs disabled -------------------------------------------
s3.create_bucket(Bucket="acl-enforced")
check(ownership("acl-enforced") == "BucketOwnerEnforced", "new buckets default to BucketOwnerEnforced")
e = expect_error(s3.put_object, "AccessControlListNotSupported", 400, Bucket="acl-enforced", Key="k", Body=b"x",
                 ACL="public-read")
check(e.response["Error"]["Message"] == "The bucket does not allow ACLs", f"message: {e.response['Error']}")
expect_error(s3.put_object, "AccessControlListNotSupported", 400, Bucket="acl-enforced", Key="k", Body=b"x",
             GrantRead=f'id="{BOB_ID}"')
s3.put_object(Bucket="acl-enforced", Key="k", Body=b"x", ACL="bucket-owner-full-control")
s3.put_object(Bucket="acl-enforced", Key="k2", Body=b"x", GrantFullControl=f'id="{OWNER_ID}"')
s3.put_object(Bucket="acl-enforced", Key="k3", Body=b"x")
expect_error(s3.copy_object, "AccessControlListNotSupported", 400, Bucket="acl-enforced", Key="c",
             CopySource={"Bucket": "acl-enforced", "Key": "k"}, ACL="authenticated-read")
expect_error(s3.create_multipart_upload, "AccessControlListNotSupported", 400, Bucket="acl-enforced", Key="m",
             ACL="public-read")
expect_error(s3.put_object_acl, "AccessControlListNotSupported", 400, Bucket="acl-enforced", Key="k",
             ACL="public-read")
expect_error(s3.put_bucket_acl, "AccessControlListNotSupported", 400, Bucket="acl-enforced", ACL="public-read")
acl = s3.get_bucket_acl(Bucket="acl-enforced")
check(grants(acl) == PRIVATE, f"enforced bucket ACL: {acl['Grants']}")
check(acl["Owner"]["ID"] == OWNER_ID and acl["Owner"].get("DisplayName") == owner.get("DisplayName"),
      f"bucket ACL owner is the ListBuckets owner: {acl['Owner']} vs {owner}")
acl = s3.get_object_acl(Bucket="acl-enforced", Key="k")
check(grants(acl) == PRIVATE and acl["Owner"]["ID"] == OWNER_ID, f"enforced object ACL: {acl}")
check(acl["Grants"][0]["Grantee"]["Type"] == "CanonicalUser", f"grantee type: {acl['Grants']}")
e = expect_error(s3.create_bucket, "InvalidBucketAclWithObjectOwnership", 400, Bucket="acl-public",
                 ACL="public-read")
check("BucketOwnerEnforced" in e.response["Error"]["Message"], f"message: {e.response['Error']}")
expect_error(s3.create_bucket, "InvalidBucketAclWithObjectOwnership", 400, Bucket="acl-public",
             ObjectOwnership="BucketOwnerEnforced", GrantRead=f'uri="{ALL_USERS}"')
expect_error(s3.put_object, "AccessControlListNotSupported", 400, Bucket="acl-enforced", Key="k", Body=b"x",
             ACL="private")
# `private` is the one ACL CreateBucket accepts without ObjectOwnership; S3 then enables ACLs
# (BucketOwnerPreferred), unless BucketOwnerEnforced is asked for.
s3.create_bucket(Bucket="acl-private", ACL="private")
check(grants(s3.get_bucket_acl(Bucket="acl-private")) == PRIVATE, "CreateBucket with ACL private")
check(ownership("acl-private") == "BucketOwnerPreferred", "private CreateBucket is BucketOwnerPreferred")
s3.create_bucket(Bucket="acl-private-enforced", ACL="private", ObjectOwnership="BucketOwnerEnforced")
check(ownership("acl-private-enforced") == "BucketOwnerEnforced", "private + BucketOwnerEnforced")
print("enforced: ok")

# --- Ownership controls round trip ----------------------------------------------------------------
for setting in ["ObjectWriter", "BucketOwnerPreferred", "BucketOwnerEnforced"]:
    s3.put_bucket_ownership_controls(Bucket="acl-private",
                                     OwnershipControls={"Rules": [{"ObjectOwnership": setting}]})
    check(ownership("acl-private") == setting, f"ownership {setting}")
s3.delete_bucket_ownership_controls(Bucket="acl-private")
expect_error(s3.get_bucket_ownership_controls, "OwnershipControlsNotFoundError", 404, Bucket="acl-private")
# Without controls, ACLs are enabled (the pre-2023 ObjectWriter behaviour).
s3.put_object(Bucket="acl-private", Key="open", Body=b"x", ACL="public-read")
check((ALL_USERS, "READ") in grants(s3.get_object_acl(Bucket="acl-private", Key="open")), "ACLs after delete")
expect_error(s3.put_bucket_ownership_controls, "MalformedXML", 400, Bucket="acl-private",
             OwnershipControls={"Rules": [{"ObjectOwnership": "Nobody"}]})
expect_error(s3.get_bucket_ownership_controls, "NoSuchBucket", 404, Bucket="acl-nonexistent")
expect_error(bob.get_bucket_ownership_controls, "AccessDenied", 403, Bucket="acl-private")
expect_error(bob.put_bucket_ownership_controls, "AccessDenied", 403, Bucket="acl-private",
             OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
print("ownership controls: ok")

# --- ACL-enabled buckets: canned, grant headers, XML --------------------------------------------
s3.create_bucket(Bucket="acl-open", ObjectOwnership="ObjectWriter", ACL="authenticated-read")
check(ownership("acl-open") == "ObjectWriter", "CreateBucket x-amz-object-ownership")
check(grants(s3.get_bucket_acl(Bucket="acl-open")) == PRIVATE + [(AUTH_USERS, "READ")], "CreateBucket canned ACL")
s3.put_bucket_acl(Bucket="acl-open", ACL="public-read-write")
check(grants(s3.get_bucket_acl(Bucket="acl-open")) == PRIVATE + [(ALL_USERS, "READ"), (ALL_USERS, "WRITE")],
      "PutBucketAcl canned")
s3.put_bucket_acl(Bucket="acl-open", ACL="log-delivery-write")
check(grants(s3.get_bucket_acl(Bucket="acl-open"))[1:] == [("http://acs.amazonaws.com/groups/s3/LogDelivery", "WRITE"),
                                                           ("http://acs.amazonaws.com/groups/s3/LogDelivery",
                                                            "READ_ACP")], "log-delivery-write")
s3.put_bucket_acl(Bucket="acl-open", AccessControlPolicy={
    "Owner": {"ID": OWNER_ID},
    "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": OWNER_ID}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "CanonicalUser", "ID": BOB_ID}, "Permission": "READ"},
        {"Grantee": {"Type": "Group", "URI": AUTH_USERS}, "Permission": "READ_ACP"},
    ]})
acl = s3.get_bucket_acl(Bucket="acl-open")
check(grants(acl) == PRIVATE + [(BOB_ID, "READ"), (AUTH_USERS, "READ_ACP")], f"PutBucketAcl XML: {acl['Grants']}")
check(acl["Grants"][1]["Grantee"].get("DisplayName") == "bob", f"grantee display name: {acl['Grants'][1]}")
expect_error(s3.put_bucket_ownership_controls, "InvalidBucketAclWithObjectOwnership", 400, Bucket="acl-open",
             OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
s3.put_bucket_acl(Bucket="acl-open", GrantFullControl=f'id="{OWNER_ID}"', GrantRead=f'id="{BOB_ID}"',
                  GrantWrite=f'uri="{ALL_USERS}"')
check(grants(s3.get_bucket_acl(Bucket="acl-open")) == PRIVATE + [(BOB_ID, "READ"), (ALL_USERS, "WRITE")],
      "PutBucketAcl grant headers")

s3.put_object(Bucket="acl-open", Key="auth", Body=b"auth", ACL="authenticated-read")
check(grants(s3.get_object_acl(Bucket="acl-open", Key="auth")) == PRIVATE + [(AUTH_USERS, "READ")], "PUT canned")
s3.put_object(Bucket="acl-open", Key="granted", Body=b"granted", GrantRead=f'id="{BOB_ID}"',
              GrantReadACP=f'uri="{ALL_USERS}"')
check(grants(s3.get_object_acl(Bucket="acl-open", Key="granted")) == [(BOB_ID, "READ"), (ALL_USERS, "READ_ACP")],
      "PUT grant headers")
s3.put_object(Bucket="acl-open", Key="plain", Body=b"plain")
check(grants(s3.get_object_acl(Bucket="acl-open", Key="plain")) == PRIVATE, "no ACL is private")
s3.put_object_acl(Bucket="acl-open", Key="plain", AccessControlPolicy={
    "Owner": {"ID": OWNER_ID},
    "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": OWNER_ID}, "Permission": "FULL_CONTROL"},
               {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]})
check(grants(s3.get_object_acl(Bucket="acl-open", Key="plain")) == PRIVATE + [(ALL_USERS, "READ")], "PutObjectAcl XML")
s3.put_object_acl(Bucket="acl-open", Key="plain", ACL="bucket-owner-read")
check(grants(s3.get_object_acl(Bucket="acl-open", Key="plain")) == PRIVATE, "bucket-owner-read by the bucket owner")
s3.copy_object(Bucket="acl-open", Key="copy", CopySource={"Bucket": "acl-open", "Key": "auth"})
check(grants(s3.get_object_acl(Bucket="acl-open", Key="copy")) == PRIVATE, "a copy does not take the source's ACL")
s3.copy_object(Bucket="acl-open", Key="copy", CopySource={"Bucket": "acl-open", "Key": "plain"}, ACL="public-read")
check(grants(s3.get_object_acl(Bucket="acl-open", Key="copy")) == PRIVATE + [(ALL_USERS, "READ")], "CopyObject ACL")
up = s3.create_multipart_upload(Bucket="acl-open", Key="mp", ACL="public-read")["UploadId"]
part = s3.upload_part(Bucket="acl-open", Key="mp", UploadId=up, PartNumber=1, Body=b"multipart")
check(grants(s3.get_bucket_acl(Bucket="acl-open")) != [], "bucket ACL untouched")
expect_error(s3.get_object_acl, "NoSuchKey", 404, Bucket="acl-open", Key="mp")
s3.complete_multipart_upload(Bucket="acl-open", Key="mp", UploadId=up,
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
check(grants(s3.get_object_acl(Bucket="acl-open", Key="mp")) == PRIVATE + [(ALL_USERS, "READ")],
      "CreateMultipartUpload's ACL applied at Complete")

# Errors as S3 returns them.
expect_error(s3.put_object, "InvalidArgument", 400, Bucket="acl-open", Key="bad", Body=b"x", ACL="public")
expect_error(s3.put_object, "InvalidRequest", 400, Bucket="acl-open", Key="bad", Body=b"x", ACL="private",
             GrantRead=f'id="{BOB_ID}"')
expect_error(s3.put_object, "InvalidArgument", 400, Bucket="acl-open", Key="bad", Body=b"x", GrantRead='id="0000"')
expect_error(s3.put_object, "InvalidArgument", 400, Bucket="acl-open", Key="bad", Body=b"x", GrantRead="nonsense")
expect_error(s3.put_object, "InvalidArgument", 400, Bucket="acl-open", Key="bad", Body=b"x",
             GrantRead='uri="http://acs.amazonaws.com/groups/global/Nobody"')
expect_error(s3.put_object, "UnresolvableGrantByEmailAddress", 400, Bucket="acl-open", Key="bad", Body=b"x",
             GrantRead='emailAddress="someone@example.com"')
expect_error(s3.head_object, "404", 404, Bucket="acl-open", Key="bad")
expect_error(s3.put_object_acl, "MissingSecurityHeader", 400, Bucket="acl-open", Key="plain")
expect_error(s3.put_bucket_acl, "MissingSecurityHeader", 400, Bucket="acl-open")
expect_error(s3.put_object_acl, "MalformedACLError", 400, Bucket="acl-open", Key="plain", AccessControlPolicy={
    "Owner": {"ID": OWNER_ID},
    "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": OWNER_ID}, "Permission": "EVERYTHING"}]})
expect_error(s3.put_bucket_acl, "InvalidArgument", 400, Bucket="acl-open", ACL="public")
expect_error(s3.put_object_acl, "NoSuchKey", 404, Bucket="acl-open", Key="missing", ACL="private")
expect_error(s3.get_object_acl, "NoSuchKey", 404, Bucket="acl-open", Key="missing")
expect_error(s3.get_bucket_acl, "NoSuchBucket", 404, Bucket="acl-nonexistent")
print("canned, grant and XML ACLs: ok")

# --- ACLs by versionId ---------------------------------------------------------------------------
s3.create_bucket(Bucket="acl-versions", ObjectOwnership="BucketOwnerPreferred")
s3.put_bucket_versioning(Bucket="acl-versions", VersioningConfiguration={"Status": "Enabled"})
v1 = s3.put_object(Bucket="acl-versions", Key="k", Body=b"one", ACL="public-read")["VersionId"]
v2 = s3.put_object(Bucket="acl-versions", Key="k", Body=b"two")["VersionId"]
check(grants(s3.get_object_acl(Bucket="acl-versions", Key="k")) == PRIVATE, "current version private")
check(grants(s3.get_object_acl(Bucket="acl-versions", Key="k", VersionId=v1)) == PRIVATE + [(ALL_USERS, "READ")],
      "v1 kept its own ACL")
s3.put_object_acl(Bucket="acl-versions", Key="k", VersionId=v1, ACL="authenticated-read")
check(grants(s3.get_object_acl(Bucket="acl-versions", Key="k", VersionId=v1)) == PRIVATE + [(AUTH_USERS, "READ")],
      "PutObjectAcl by versionId")
check(grants(s3.get_object_acl(Bucket="acl-versions", Key="k", VersionId=v2)) == PRIVATE, "v2 untouched")
unknown = "f" * 24
expect_error(s3.get_object_acl, "NoSuchVersion", 404, Bucket="acl-versions", Key="k", VersionId=unknown)
expect_error(s3.put_object_acl, "NoSuchVersion", 404, Bucket="acl-versions", Key="k", VersionId=unknown,
             ACL="private")
expect_error(s3.get_object_acl, "InvalidArgument", 400, Bucket="acl-versions", Key="k", VersionId="not-a-version")
marker = s3.delete_object(Bucket="acl-versions", Key="k")["VersionId"]
expect_error(s3.get_object_acl, "MethodNotAllowed", 405, Bucket="acl-versions", Key="k", VersionId=marker)
expect_error(s3.put_object_acl, "MethodNotAllowed", 405, Bucket="acl-versions", Key="k", VersionId=marker,
             ACL="private")
expect_error(s3.get_object_acl, "NoSuchKey", 404, Bucket="acl-versions", Key="k")
check(grants(s3.get_object_acl(Bucket="acl-versions", Key="k", VersionId=v1)) == PRIVATE + [(AUTH_USERS, "READ")],
      "noncurrent version ACL behind a delete marker")
print("ACL by versionId: ok")

# --- Enforcement: READ grants let another user read -------------------------------------------------
body = bob.get_object(Bucket="acl-open", Key="auth")["Body"].read()
check(body == b"auth", "AuthenticatedUsers READ lets bob GET")
check(bob.head_object(Bucket="acl-open", Key="granted")["ContentLength"] == 7, "a READ grant to bob lets him HEAD")
check(bob.get_object(Bucket="acl-open", Key="granted", Range="bytes=0-2")["Body"].read() == b"gra", "ranged GET")
check(bob.get_object(Bucket="acl-open", Key="mp")["Body"].read() == b"multipart", "AllUsers READ (multipart)")
expect_error(bob.get_object, "AccessDenied", 403, Bucket="acl-open", Key="plain")
expect_error(bob.head_object, "403", 403, Bucket="acl-enforced", Key="k")
# The bucket ACL grants bob READ: a missing key is NoSuchKey for him, not AccessDenied.
expect_error(bob.get_object, "NoSuchKey", 404, Bucket="acl-open", Key="missing")
expect_error(bob.get_object, "AccessDenied", 403, Bucket="acl-versions", Key="missing")
# Only READ is granted: writes, ACL reads and deletes stay the owner's.
expect_error(bob.put_object, "AccessDenied", 403, Bucket="acl-open", Key="bobs", Body=b"x")
expect_error(bob.get_object_acl, "AccessDenied", 403, Bucket="acl-open", Key="granted")
expect_error(bob.delete_object, "AccessDenied", 403, Bucket="acl-open", Key="granted")
expect_error(bob.put_object_acl, "AccessDenied", 403, Bucket="acl-open", Key="granted", ACL="public-read")
# Grants are per version.
expect_error(bob.get_object, "NoSuchKey", 404, Bucket="acl-open", Key="missing")
check(bob.get_object(Bucket="acl-versions", Key="k", VersionId=v1)["Body"].read() == b"one", "bob reads v1")
expect_error(bob.get_object, "AccessDenied", 403, Bucket="acl-versions", Key="k", VersionId=v2)
# An overwrite without an ACL is private again.
s3.put_object(Bucket="acl-open", Key="auth", Body=b"private now")
expect_error(bob.get_object, "AccessDenied", 403, Bucket="acl-open", Key="auth")
# Anonymous requests never reach the engine: s3d answers every unsigned request AccessDenied.
r = requests.get(f"{ENDPOINT}/acl-open/mp", timeout=30)
check(r.status_code == 403 and b"AccessDenied" in r.content, f"anonymous GET: {r.status_code} {r.text}")
# READ on the bucket lets bob list it (V1, V2, versions) and HEAD it; without it he cannot.
keys = [o["Key"] for o in bob.list_objects_v2(Bucket="acl-open")["Contents"]]
check(keys == ["auth", "copy", "granted", "mp", "plain"], f"bob lists acl-open: {keys}")
check(len(bob.list_objects(Bucket="acl-open", Prefix="g")["Contents"]) == 1, "ListObjects V1 with READ")
check(len(bob.list_object_versions(Bucket="acl-open")["Versions"]) == 5, "ListObjectVersions with READ")
bob.head_bucket(Bucket="acl-open")
expect_error(bob.list_objects_v2, "AccessDenied", 403, Bucket="acl-versions")
expect_error(bob.list_object_versions, "AccessDenied", 403, Bucket="acl-versions")
expect_error(bob.head_bucket, "403", 403, Bucket="acl-versions")
expect_error(bob.get_bucket_location, "AccessDenied", 403, Bucket="acl-open")
# Disabling ACLs takes every grant away.
s3.put_bucket_acl(Bucket="acl-open", ACL="private")
expect_error(bob.list_objects_v2, "AccessDenied", 403, Bucket="acl-open")
s3.put_bucket_ownership_controls(Bucket="acl-open", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
expect_error(bob.get_object, "AccessDenied", 403, Bucket="acl-open", Key="mp")
check(grants(s3.get_object_acl(Bucket="acl-open", Key="mp")) == PRIVATE, "enforced hides the stored ACL")
s3.put_bucket_ownership_controls(Bucket="acl-open", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
check(bob.get_object(Bucket="acl-open", Key="mp")["Body"].read() == b"multipart", "stored ACLs come back")
print("enforcement: ok")

print(f"acl suite: ok ({s3check.checks} checks)")
