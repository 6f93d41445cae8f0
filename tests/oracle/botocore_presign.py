"""The presigned URL botocore makes for the same request at the same moment.

Reads from stdin a JSON list of cases, each
    {"operation": boto3 client method (get_object, put_object, upload_part),
     "params": {boto3 parameters}, "expires": seconds, "time": "YYYYMMDDTHHMMSSZ",
     "endpoint": URL, "region": ..., "access_key": ..., "secret_key": ..., "token": ... or null}
and prints a JSON list, one result a case, in order: {"url": ...} or {"error": why}.

`generate_presigned_url` runs as a boto3 caller runs it (a path-style client, SigV4), with
botocore's clock fixed at `time`. Nothing is sent. An SSE-C key given without its MD5 is the
raw key, as a boto3 caller gives it (botocore encodes it and adds the MD5); the case carries it
base64-encoded.
"""

import base64
import os

# botocore signs with awscrt's signer when awscrt is installed (it is, for the CRC oracle), and
# that signer reads the clock itself; the pure-Python signer takes the frozen time below.
os.environ["BOTO_DISABLE_CRT"] = "true"
import datetime
import json
import sys
from unittest import mock

import boto3
from botocore.config import Config


def presign(case):
    at = datetime.datetime.strptime(case["time"], "%Y%m%dT%H%M%SZ")
    client = boto3.client(
        "s3",
        endpoint_url=case["endpoint"],
        region_name=case["region"],
        aws_access_key_id=case["access_key"],
        aws_secret_access_key=case["secret_key"],
        aws_session_token=case.get("token"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    params = dict(case["params"])
    for prefix in ("SSECustomer", "CopySourceSSECustomer"):
        if prefix + "Key" in params and prefix + "KeyMD5" not in params:
            params[prefix + "Key"] = base64.b64decode(params[prefix + "Key"])
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        return {
            "url": client.generate_presigned_url(
                case["operation"], Params=params, ExpiresIn=case["expires"]
            )
        }


def main():
    out = []
    for case in json.load(sys.stdin):
        try:
            out.append(presign(case))
        except Exception as e:  # one failed case must not hide the others' results
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
