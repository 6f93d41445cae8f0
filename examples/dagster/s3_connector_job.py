"""Dagster ops that run `s3-connector` as their S3 step: upload a file, list, download, verify.

Each S3 call is one `s3-connector run` process: the op writes one JSON request envelope on the
process's stdin and reads one JSON response envelope from its stdout (docs/protocol.md). The
exit code says how it went: 0 ok, 1 sent and failed, 2 invalid request (nothing sent).

How the connector's errors become Dagster's:

- A failed call raises `dagster.Failure` whose metadata carries the connector's error `kind`,
  `code`, `status` and `retryable` (and `request_id`, `attempts` when present), so the failure
  is readable in the UI and in the event log without parsing messages.
- `allow_retries` is the error's `retryable`: a `503 SlowDown` or a network error lets the op's
  `RetryPolicy` run the step again; a `NoSuchKey` or an invalid request fails the step at once.

Configuration, as Dagster does it:

- The `S3Connector` resource holds the connection (`endpoint`, `region`, keys, `addressing`,
  `max_attempts`, ...). Set it in run config (`resources: s3: config: ...`; a secret as
  `{"env": "VAR"}`), or leave fields out: the connector then falls back to the AWS conventions
  itself (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profile
  files, a role attached to the worker).
- The binary is `S3_CONNECTOR` from the environment, else `s3-connector` on the `PATH`
  (or the resource's `binary` field).
- Each op's own settings (bucket, key, files) are its `Config`.

Run it (see README.md next to this file): `dagster dev -f s3_connector_job.py`, or in process:

    from dagster import DagsterInstance
    from s3_connector_job import round_trip
    round_trip.execute_in_process(run_config={...}, instance=DagsterInstance.ephemeral())
"""

import hashlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Any, Optional

import dagster as dg
from pydantic import Field

# --------------------------------------------------------------------------------------------
# The resource: one `s3-connector run` per call
# --------------------------------------------------------------------------------------------

# The connection fields of docs/protocol.md this resource passes on when set.
CONNECTION_FIELDS = (
    "endpoint",
    "region",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "profile",
    "role_arn",
    "addressing",
    "connect_timeout_seconds",
    "read_timeout_seconds",
    "timeout_seconds",
    "max_attempts",
)


class S3ConnectorFailure(dg.Failure):
    """A failed `s3-connector` call: a `dagster.Failure` that also keeps the error envelope."""

    def __init__(self, operation: str, error: dict[str, Any], exit_code: int):
        self.operation = operation
        self.error = error
        self.exit_code = exit_code
        metadata: dict[str, Any] = {"operation": operation, "exit_code": exit_code}
        # Stable fields first (match on these, not on the message), then what helps a person.
        for name in ("kind", "code", "status", "retryable", "request_id", "attempts"):
            if error.get(name) is not None:
                metadata[name] = error[name]
        if error.get("details"):  # invalid_request: every violation with its JSON pointer
            metadata["details"] = dg.MetadataValue.json(error["details"])
        super().__init__(
            description=f"s3-connector {operation} failed: {error.get('message', error)}",
            metadata=metadata,
            # The step's RetryPolicy applies only to errors the connector calls retryable.
            allow_retries=bool(error.get("retryable", False)),
        )


class S3Connector(dg.ConfigurableResource):
    """Runs S3 operations through the `s3-connector` binary, one process per call.

    Unset connection fields are left out of the request, and the connector applies the AWS
    fallbacks (environment variables, profile files, instance or container role).
    """

    binary: Optional[str] = Field(
        default=None,
        description="Path of s3-connector; default: $S3_CONNECTOR, else s3-connector on PATH.",
    )
    endpoint: Optional[str] = Field(default=None, description="S3 endpoint URL (default: AWS).")
    region: Optional[str] = None
    access_key_id: Optional[str] = None
    secret_access_key: Optional[str] = Field(
        default=None, description='Prefer {"env": "VAR"} in run config, or the AWS_* variables.'
    )
    session_token: Optional[str] = None
    profile: Optional[str] = None
    role_arn: Optional[str] = None
    addressing: Optional[str] = Field(default=None, description="auto, path or virtual.")
    connect_timeout_seconds: Optional[float] = None
    read_timeout_seconds: Optional[float] = None
    timeout_seconds: Optional[float] = None
    max_attempts: Optional[int] = Field(
        default=None,
        description="Attempts the connector makes per request (its default 3). Set 1 to leave "
        "all retrying to Dagster's RetryPolicy.",
    )
    process_timeout_seconds: float = Field(
        default=3600.0,
        description="Longest one s3-connector process may run before it is stopped (a backstop; "
        "the connection's timeout_seconds bounds the operation itself).",
    )

    def executable(self) -> str:
        return self.binary or os.environ.get("S3_CONNECTOR") or "s3-connector"

    def connection(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in CONNECTION_FIELDS if getattr(self, f) is not None}

    def run(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Runs one operation; returns its `output`, or raises `S3ConnectorFailure`."""
        request = {"operation": operation, "input": params, "connection": self.connection()}
        try:
            proc = subprocess.Popen(
                [self.executable(), "run"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as e:
            raise dg.Failure(
                description=f"cannot start {self.executable()!r}: {e} (set S3_CONNECTOR)",
                allow_retries=False,
            ) from e
        # SIGTERM makes the connector cancel cleanly (its multipart upload aborted, a partial
        # download removed) and still answer, with an error of kind `cancelled`.
        try:
            try:
                stdout, stderr = proc.communicate(
                    json.dumps(request), timeout=self.process_timeout_seconds
                )
            except subprocess.TimeoutExpired:  # past our limit: stop it, read its answer
                proc.send_signal(signal.SIGTERM)
                stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:  # the step was interrupted (run terminated), or it hung
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if stderr.strip():  # the connector's logs (RUST_LOG), into the step's event log
            dg.get_dagster_logger().debug(f"s3-connector {operation}: {stderr.strip()}")
        try:
            envelope = json.loads(stdout)
        except json.JSONDecodeError:
            raise dg.Failure(
                description=f"s3-connector {operation} exited {proc.returncode} without a "
                f"response envelope; stderr: {stderr.strip()[-2000:]}",
                allow_retries=False,
            )
        if proc.returncode == 0 and envelope.get("ok"):
            return envelope["output"]
        raise S3ConnectorFailure(operation, envelope.get("error", {}), proc.returncode)


# --------------------------------------------------------------------------------------------
# Ops
# --------------------------------------------------------------------------------------------

# Retry only what the connector calls retryable (see S3ConnectorFailure.allow_retries).
S3_RETRIES = dg.RetryPolicy(max_retries=3, delay=0.5, backoff=dg.Backoff.EXPONENTIAL)


@dataclass(frozen=True)
class StoredObject:
    """An object in S3, passed between ops (picklable, for any IO manager)."""

    bucket: str
    key: str
    etag: Optional[str] = None
    size: Optional[int] = None
    source_file: Optional[str] = None  # the local file it was uploaded from, if known


class UploadConfig(dg.Config):
    bucket: str
    key: str
    source_file: str = Field(description="Local file to upload.")


class ObjectConfig(dg.Config):
    bucket: str
    key: str


class DownloadConfig(dg.Config):
    output_dir: str = Field(description="Local directory to download into (created if needed).")


@dg.op(retry_policy=S3_RETRIES)
def upload(context: dg.OpExecutionContext, config: UploadConfig, s3: S3Connector) -> StoredObject:
    """Uploads a local file (`upload_file`: one PUT, or a parallel multipart upload if large)."""
    out = s3.run(
        "upload_file",
        {"Bucket": config.bucket, "Key": config.key, "BodyFile": config.source_file},
    )
    context.add_output_metadata({"etag": out["ETag"], "bytes": out["Bytes"], "parts": out["Parts"]})
    return StoredObject(config.bucket, config.key, out["ETag"], out["Bytes"], config.source_file)


@dg.op
def existing_object(config: ObjectConfig) -> StoredObject:
    """Names an object already in S3 (no request), for jobs that start from one."""
    return StoredObject(config.bucket, config.key)


@dg.op(retry_policy=S3_RETRIES)
def list_prefix(context: dg.OpExecutionContext, obj: StoredObject, s3: S3Connector) -> StoredObject:
    """Lists the key as a prefix (`list_objects_v2`, pages followed); fails if it is missing."""
    out = s3.run(
        "list_objects_v2", {"Bucket": obj.bucket, "prefix": obj.key, "MaxItems": 1000}
    )
    listed = {o["Key"]: o for o in out.get("Contents", [])}
    context.add_output_metadata(
        {"keys": dg.MetadataValue.json(sorted(listed)), "count": len(listed)}
    )
    if obj.key not in listed:
        raise dg.Failure(
            description=f"{obj.key} is not listed in {obj.bucket}", allow_retries=False
        )
    return obj


@dg.op(retry_policy=S3_RETRIES)
def download(
    context: dg.OpExecutionContext, config: DownloadConfig, obj: StoredObject, s3: S3Connector
) -> str:
    """Downloads the object (`download_file`: parallel ranged GETs, renamed when complete)."""
    run_dir = os.path.join(config.output_dir, context.run_id)
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, os.path.basename(obj.key) or "object")
    out = s3.run(
        "download_file", {"Bucket": obj.bucket, "Key": obj.key, "OutputFile": path}
    )
    context.add_output_metadata({"path": path, "bytes": out["Bytes"], "etag": out["ETag"]})
    return out["OutputFile"]


@dg.op
def verify(context: dg.OpExecutionContext, uploaded: StoredObject, downloaded: str) -> bool:
    """Checks the downloaded bytes equal the uploaded file's."""
    ours, theirs = _sha256(uploaded.source_file), _sha256(downloaded)
    context.add_output_metadata({"sha256": theirs, "bytes": os.path.getsize(downloaded)})
    if ours != theirs:
        raise dg.Failure(
            description=f"{downloaded} differs from {uploaded.source_file}",
            metadata={"expected_sha256": ours, "actual_sha256": theirs},
            allow_retries=False,
        )
    return True


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Jobs and definitions
# --------------------------------------------------------------------------------------------

# The connection comes from run config at launch (every field optional: what is left out falls
# back to the AWS environment inside the connector).
S3_RESOURCE = S3Connector.configure_at_launch()


@dg.job(resource_defs={"s3": S3_RESOURCE})
def round_trip():
    """upload → list → download → verify."""
    stored = upload()
    verify(stored, download(list_prefix(stored)))


@dg.job(resource_defs={"s3": S3_RESOURCE})
def fetch_object():
    """Downloads an existing object (a missing key fails the step with code NoSuchKey)."""
    download(existing_object())


defs = dg.Definitions(jobs=[round_trip, fetch_object])
