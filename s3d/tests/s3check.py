"""What every s3d python suite shares: a counted `check`, `expect_error` for the S3 error a call must
get, `wait_until` for what the daemon does in the background, and a boto3 S3 client for the endpoint with retries off (a retry would hide a wrong first answer).
The suites run as scripts from this directory, so `from s3check import ...` finds this file."""
import os
import time

import boto3
from botocore.client import Config
from botocore.exceptions import ClientError

checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        raise AssertionError(what)


def wait_until(cond, what, timeout):
    """Polls `cond` until it returns something true (returned), failing after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        time.sleep(0.05)


def expect_error(fn, code, status, *args, **kwargs):
    """Calls fn, which must fail with S3 error `code` and HTTP `status`; returns the error."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"].get("Code")
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(got == code and got_status == status,
              f"{fn.__name__} {kwargs}: expected {code}/{status}, got {got}/{got_status}: {e}")
        return e
    raise AssertionError(f"{fn.__name__} {kwargs}: expected {code}, call succeeded")


def client(endpoint, ak=None, sk=None, service="s3", read_timeout=60, **cfg):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ak or os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=sk or os.environ["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=read_timeout, **cfg),
    )
