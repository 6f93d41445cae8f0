"""Runs the example's Dagster jobs against a real S3 endpoint and checks what Dagster recorded.

    python test_job.py --endpoint http://127.0.0.1:8333 --bucket my-bucket \
        [--access-key-id ... --secret-access-key ...] [--binary path/to/s3-connector] [--keep]

Every option also comes from the environment: S3_ENDPOINT (or AWS_ENDPOINT_URL), S3_BUCKET,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, S3_CONNECTOR. The bucket is created when
missing.

Scenarios, each one `execute_in_process` run on an ephemeral instance (in memory, nothing
written to DAGSTER_HOME; its artifacts go to the work directory):

1. round_trip: upload → list → download → verify succeed, each step once; boto3 reads the
   same bytes back.
2. missing_key: fetch_object on a key that is not there: the download step fails once, not
   retried, and its failure metadata carries the connector's kind=service, code=NoSuchKey,
   status=404, retryable=false.
3. transient: round_trip through a loopback proxy that answers the first requests with
   `503 SlowDown` (slowdown_proxy.py), with the connection's max_attempts 1, so the connector
   does not retry: the upload step fails retryably, Dagster's RetryPolicy runs it again
   (STEP_UP_FOR_RETRY), it then succeeds, and boto3 finds the object at the server itself.

Prints each run's events to stderr and a JSON summary to stdout; exits 1 on any unmet
expectation.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from dagster import DagsterEventType, DagsterInstance

from s3_connector_job import S3_RETRIES, fetch_object, round_trip
from slowdown_proxy import SlowDownProxy

ET = DagsterEventType
# Step-level events whose order the checks read.
STEP_LIFECYCLE = {
    ET.STEP_START,
    ET.STEP_SUCCESS,
    ET.STEP_FAILURE,
    ET.STEP_UP_FOR_RETRY,
    ET.STEP_RESTARTED,
}


def parse_args() -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default=env("S3_ENDPOINT") or env("AWS_ENDPOINT_URL"))
    p.add_argument("--bucket", default=env("S3_BUCKET"))
    p.add_argument("--region", default=env("AWS_REGION") or "us-east-1")
    p.add_argument("--access-key-id", default=env("AWS_ACCESS_KEY_ID"))
    p.add_argument("--secret-access-key", default=env("AWS_SECRET_ACCESS_KEY"))
    p.add_argument("--addressing", default="path", choices=["auto", "path", "virtual"])
    p.add_argument("--binary", default=env("S3_CONNECTOR") or "s3-connector")
    p.add_argument("--slowdowns", type=int, default=2, help="503s the proxy sends first")
    p.add_argument("--work-dir", help="default: a new temporary directory, removed at the end")
    p.add_argument("--keep", action="store_true", help="keep the objects and the work directory")
    a = p.parse_args()
    if not a.endpoint or not a.bucket:
        p.error("--endpoint and --bucket (or S3_ENDPOINT and S3_BUCKET) are required")
    if not 1 <= a.slowdowns <= S3_RETRIES.max_retries:
        limit = S3_RETRIES.max_retries  # more 503s than retries and the step fails
        p.error(f"--slowdowns must be 1..{limit}, within the ops' RetryPolicy")
    if urlsplit(a.endpoint).scheme != "http":
        p.error("the 503 proxy speaks plain HTTP: give an http:// endpoint")
    return a


def log(line: str = "") -> None:
    print(line, file=sys.stderr, flush=True)


class Expectations:
    """Collects checks; every unmet one is reported, the run goes on."""

    def __init__(self) -> None:
        self.unmet: list[str] = []

    def check(self, scenario: dict, name: str, ok: bool, detail: Any = None) -> None:
        scenario["checks"][name] = bool(ok)
        mark = "ok  " if ok else "FAIL"
        log(f"  [{mark}] {name}" + ("" if ok or detail is None else f": {detail}"))
        if not ok:
            suffix = "" if detail is None else f" ({detail})"
            self.unmet.append(f"{scenario['name']}: {name}{suffix}")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metadata_values(md: dict) -> dict:
    """Dagster MetadataValues as plain JSON values."""
    out = {}
    for k, v in (md or {}).items():
        out[k] = getattr(v, "value", v)
    return out


def failure_cause(err) -> str:
    """The message of the exception behind a retry (Dagster wraps it: RetryRequestedFromPolicy)."""
    messages = []
    while err is not None:  # bounded: the chain of causes is finite
        messages.append(err.message.strip())
        err = err.cause or err.context
    ours = [m for m in messages if "RetryRequested" not in m]
    return ours[-1] if ours else (messages[-1] if messages else "")


def run_job(job, run_config: dict, instance: DagsterInstance, name: str) -> tuple[Any, dict]:
    """Runs a job in process, prints its events, returns (result, a summary of its events)."""
    result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
    outcome = "SUCCESS" if result.success else "FAILURE"
    log(f"== {name}: job {job.name}, run {result.run_id}: {outcome}")
    steps: dict[str, list[str]] = {}
    failures: dict[str, dict] = {}
    retry_errors: dict[str, list[str]] = {}
    for e in result.all_events:
        etype = e.event_type
        line = f"  {e.event_type_value:<22} {e.step_key or '-':<16} {e.message or ''}"
        if etype in STEP_LIFECYCLE:
            steps.setdefault(e.step_key, []).append(e.event_type_value)
        if etype == ET.STEP_OUTPUT and e.step_output_data.metadata:
            line += f"  {json.dumps(metadata_values(e.step_output_data.metadata), default=str)}"
        if etype == ET.STEP_FAILURE:
            data = e.step_failure_data
            md = metadata_values(data.user_failure_data.metadata) if data.user_failure_data else {}
            failures[e.step_key] = {
                "metadata": md,
                "error": data.error.message.strip() if data.error else None,
            }
            line += f"\n{'':42}{failures[e.step_key]['error']}"
            line += f"\n{'':42}metadata {json.dumps(md, default=str)}"
        if etype == ET.STEP_UP_FOR_RETRY:
            msg = failure_cause(e.event_specific_data.error)
            retry_errors.setdefault(e.step_key, []).append(msg)
            line += f"\n{'':42}{msg}"
        log(line)
    return result, {
        "job": job.name,
        "run_id": result.run_id,
        "success": result.success,
        "steps": steps,
        "failures": failures,
        "retry_errors": retry_errors,
    }


def main() -> int:
    a = parse_args()
    # The keys reach the connector through the environment it inherits; run config names the
    # variables ({"env": ...}), so no secret is stored with the run.
    if a.access_key_id:
        os.environ["AWS_ACCESS_KEY_ID"] = a.access_key_id
    if a.secret_access_key:
        os.environ["AWS_SECRET_ACCESS_KEY"] = a.secret_access_key
    # The resource finds the binary as a deployment would: S3_CONNECTOR, else the PATH.
    os.environ["S3_CONNECTOR"] = a.binary
    work = a.work_dir or tempfile.mkdtemp(prefix="s3-connector-dagster-")
    os.makedirs(work, exist_ok=True)
    prefix = f"dagster-example/{uuid.uuid4().hex[:12]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=a.endpoint,
        region_name=a.region,
        aws_access_key_id=a.access_key_id,
        aws_secret_access_key=a.secret_access_key,
        config=Config(s3={"addressing_style": a.addressing}, retries={"max_attempts": 1}),
    )
    try:
        s3.head_bucket(Bucket=a.bucket)
    except s3.exceptions.ClientError:
        s3.create_bucket(Bucket=a.bucket)

    def connection(endpoint: str, **extra) -> dict:
        config = {
            "endpoint": endpoint,
            "region": a.region,
            "addressing": a.addressing,
            **extra,
        }
        if a.access_key_id:
            config["access_key_id"] = {"env": "AWS_ACCESS_KEY_ID"}
            config["secret_access_key"] = {"env": "AWS_SECRET_ACCESS_KEY"}
        return {"s3": {"config": config}}

    # Dagster's own console log is quiet here: the transcript below prints every event.
    quiet = {"console": {"config": {"log_level": "CRITICAL"}}}
    downloads = os.path.join(work, "downloads")
    exp = Expectations()
    scenarios: list[dict] = []
    created: list[str] = []
    summary: dict[str, Any] = {"bucket": a.bucket, "prefix": prefix, "scenarios": scenarios}

    def new_file(name: str, size: int) -> tuple[str, bytes]:
        data = os.urandom(size)
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(data)
        return path, data

    def stored_bytes(key: str) -> bytes | None:
        """The object as boto3 reads it from the server itself (not through the proxy)."""
        try:
            return s3.get_object(Bucket=a.bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    def round_trip_config(endpoint: str, key: str, source: str, **conn) -> dict:
        return {
            "resources": connection(endpoint, **conn),
            "ops": {
                "upload": {"config": {"bucket": a.bucket, "key": key, "source_file": source}},
                "download": {"config": {"output_dir": downloads}},
            },
            "loggers": quiet,
        }

    with DagsterInstance.ephemeral(tempdir=os.path.join(work, "dagster")) as instance:
        # 1. The round trip.
        key = f"{prefix}/data.bin"
        source, data = new_file("data.bin", 300_000)
        created.append(key)
        result, sc = run_job(
            round_trip, round_trip_config(a.endpoint, key, source), instance, "round_trip"
        )
        sc.update(name="round_trip", key=key, bytes=len(data), checks={})
        scenarios.append(sc)
        exp.check(sc, "run succeeded", result.success)
        for step in ("upload", "list_prefix", "download", "verify"):
            exp.check(
                sc,
                f"{step} ran once and succeeded",
                sc["steps"].get(step) == ["STEP_START", "STEP_SUCCESS"],
                sc["steps"].get(step),
            )
        if result.success:
            equal = result.output_for_node("verify") is True
            exp.check(sc, "verify says the bytes are equal", equal)
        got = stored_bytes(key)
        sc["stored_sha256"] = got and sha256(got)
        exp.check(sc, "boto3 reads the uploaded bytes", got == data)

        # 2. A missing key: a failed step carrying the connector's error, not retried.
        missing = f"{prefix}/missing.bin"
        result, sc = run_job(
            fetch_object,
            {
                "resources": connection(a.endpoint),
                "ops": {
                    "existing_object": {"config": {"bucket": a.bucket, "key": missing}},
                    "download": {"config": {"output_dir": downloads}},
                },
                "loggers": quiet,
            },
            instance,
            "missing_key",
        )
        sc.update(name="missing_key", key=missing, checks={})
        scenarios.append(sc)
        md = sc["failures"].get("download", {}).get("metadata", {})
        sc["failure_metadata"] = md
        exp.check(sc, "run failed", not result.success)
        exp.check(
            sc,
            "download failed once, not retried",
            sc["steps"].get("download") == ["STEP_START", "STEP_FAILURE"],
            sc["steps"].get("download"),
        )
        expected = {"kind": "service", "code": "NoSuchKey", "status": 404, "retryable": False}
        for field, want in expected.items():
            got = md.get(field)
            exp.check(sc, f"failure metadata {field} = {want!r}", got == want, got)

        # 3. A transient error: 503 SlowDown from the proxy, recovered by Dagster's retry.
        upstream = urlsplit(a.endpoint)
        retried = f"{prefix}/retried.bin"
        source, data = new_file("retried.bin", 200_000)
        created.append(retried)
        with SlowDownProxy(upstream.hostname, upstream.port or 80, a.slowdowns) as proxy:
            result, sc = run_job(
                round_trip,
                # max_attempts 1: the connector gives up at the first 503, Dagster retries.
                round_trip_config(proxy.endpoint, retried, source, max_attempts=1),
                instance,
                "transient",
            )
        sc.update(name="transient", key=retried, bytes=len(data), checks={})
        sc["proxy"] = {"refused_with_503": proxy.refused, "forwarded": proxy.forwarded}
        scenarios.append(sc)
        upload_events = sc["steps"].get("upload", [])
        exp.check(sc, "run succeeded", result.success)
        refused = proxy.refused
        exp.check(sc, f"the proxy refused {a.slowdowns} requests", refused == a.slowdowns, refused)
        exp.check(
            sc,
            f"upload went up for retry {a.slowdowns} times",
            upload_events.count("STEP_UP_FOR_RETRY") == a.slowdowns,
            upload_events,
        )
        exp.check(
            sc,
            "STEP_UP_FOR_RETRY came before upload's STEP_SUCCESS, which ended it",
            "STEP_UP_FOR_RETRY" in upload_events
            and upload_events[-1] == "STEP_SUCCESS"
            and upload_events.index("STEP_UP_FOR_RETRY") < upload_events.index("STEP_SUCCESS")
            and "STEP_FAILURE" not in upload_events,
            upload_events,
        )
        errors = sc["retry_errors"].get("upload", [])
        exp.check(
            sc,
            "each retry was for the connector's SlowDown",
            errors and all("SlowDown" in m for m in errors),
            errors,
        )
        for step in ("list_prefix", "download", "verify"):
            exp.check(
                sc,
                f"{step} ran once and succeeded",
                sc["steps"].get(step) == ["STEP_START", "STEP_SUCCESS"],
                sc["steps"].get(step),
            )
        got = stored_bytes(retried)
        sc["stored_sha256"] = got and sha256(got)
        exp.check(sc, "boto3 finds the object at the server, bytes equal", got == data)

    summary["ok"] = not exp.unmet
    summary["unmet"] = exp.unmet
    summary["objects"] = created
    if not a.keep:
        for k in created:
            s3.delete_object(Bucket=a.bucket, Key=k)
        if not a.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    log(f"== {'all expectations met' if not exp.unmet else f'{len(exp.unmet)} unmet expectations'}")
    print(json.dumps(summary, indent=2, default=str))
    return 0 if not exp.unmet else 1


if __name__ == "__main__":
    sys.exit(main())
