"""Runs tests/ops/scenarios.json and tests/ops/round_trips.json with boto3 (the independent
client) against a moto and a SeaweedFS server on 127.0.0.1, and records per server whether each
scenario passed ("servers" in each entry). See tests/ops/README.md for the formats.

    .tools/venv/bin/python tests/ops/check_servers.py --moto http://127.0.0.1:PORT \
        --seaweedfs http://127.0.0.1:PORT [--write] [--only OP,...] [--mode boto3|md5|both]

Start the servers with scripts/s3-server (which holds the test credentials). Mode `boto3` is the
default client (flexible checksums: x-amz-checksum-crc32 where the model asks for a checksum);
mode `md5` sends what the connector sends instead: no x-amz-checksum-* headers and a Content-MD5
on every request whose operation has a Content-MD5 member or requires a checksum. `--write`
stores the `boto3` results in the JSON files (and, where `md5` differs, `servers_content_md5`).
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import sys
import uuid

import boto3
import botocore.session
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
ACCESS_KEY = "AKIDEXAMPLETEST"
SECRET_KEY = "fake/secret/for/tests/only"
MODEL = botocore.session.get_session().get_service_model("s3")
AWS_NAMES = {xform_name(n): n for n in MODEL.operation_names}
# The connector's own names for operations of the model (schemas/*.input.json).
AWS_NAMES.update({
    "upload_part_in_multipart": "UploadPart",
    "copy_part_in_multipart": "UploadPartCopy",
    "list_parts_for_multipart_upload": "ListParts",
    "create_bucket_in_region": "CreateBucket",
})
STATUS_CODES = {301: "PermanentRedirect", 304: "NotModified", 307: "TemporaryRedirect",
                400: "BadRequest", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
                409: "Conflict", 412: "PreconditionFailed", 416: "InvalidRange",
                429: "TooManyRequests", 500: "InternalError", 501: "NotImplemented",
                502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
VAR = re.compile(r"\$([A-Z][A-Z0-9_]*)")


class StepError(Exception):
    pass


# --- input: connector form -> boto3 parameters ----------------------------------------------
def wire_map(op_model):
    """connector input key -> (member name, shape)"""
    out = {}
    shape = op_model.input_shape
    payload = shape.serialization.get("payload")
    for name, m in shape.members.items():
        loc = m.serialization.get("location")
        if loc in ("uri", "header", "querystring", "headers"):
            out[m.serialization.get("name", name)] = (name, m)
        else:
            out[name] = (name, m)
            if name == payload and m.type_name == "blob":
                out["Body"] = (name, m)
    return out


def coerce(value, shape):
    t = shape.type_name
    if t in ("integer", "long") and isinstance(value, str):
        return int(value)
    if t == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if t == "blob" and isinstance(value, str):
        return value.encode()
    return value


def to_boto(op_name, inp):
    aws = AWS_NAMES[op_name]
    op_model = MODEL.operation_model(aws)
    wires = wire_map(op_model)
    params = {}
    for k, v in inp.items():
        if k in ("MaxItems", "OutputFile"):
            continue
        if k == "Parts" and aws == "CompleteMultipartUpload":
            params["MultipartUpload"] = {"Parts": v}
            continue
        if k == "Region" and aws == "CreateBucket":
            params["CreateBucketConfiguration"] = {"LocationConstraint": v}
            continue
        if k == "BodyBase64":
            name, _ = wires["Body"]
            params[name] = base64.b64decode(v)
            continue
        if k not in wires:
            raise StepError(f"scenario error: {op_name} has no input {k!r}")
        name, shape = wires[k]
        params[name] = coerce(v, shape)
    return aws, op_model, params


# --- output: boto3 -> connector/s3api form --------------------------------------------------------
def norm(v):
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if hasattr(v, "read"):
        v = v.read()
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode()
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(v).decode()
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return f"<unparsed {type(v).__name__}>"  # botocore leaves XML elements it cannot map


def subst(v, variables):
    if isinstance(v, dict):
        return {k: subst(x, variables) for k, x in v.items()}
    if isinstance(v, list):
        return [subst(x, variables) for x in v]
    if isinstance(v, str):
        def rep(m):
            if m.group(1) not in variables:
                raise StepError(f"scenario error: ${m.group(1)} is not set")
            return variables[m.group(1)]
        return VAR.sub(rep, v)
    return v


def get_path(v, path):
    for part in path.split("."):
        v = v[int(part)] if isinstance(v, list) else v[part]
    return v


# --- matching ---------------------------------------------------------------------------------
def match(expected, actual, where="output"):
    """None when `actual` contains `expected` (README: objects by subset, arrays by elements in
    any order, an empty array only an empty or absent one, null only null or absent)."""
    if expected is None:
        return None if actual is None else f"{where}: expected absent/null, got {json.dumps(actual)}"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {json.dumps(actual)}"
        for k, x in expected.items():
            if x is None:
                if actual.get(k) is not None:
                    return f"{where}.{k}: expected absent/null, got {json.dumps(actual[k])}"
                continue
            if k not in actual:
                return f"{where}.{k}: missing (have {sorted(actual)})"
            why = match(x, actual[k], f"{where}.{k}")
            if why:
                return why
        return None
    if isinstance(expected, list):
        if actual is None:
            actual = []
        if not isinstance(actual, list):
            return f"{where}: expected an array, got {json.dumps(actual)}"
        if not expected:
            return None if not actual else f"{where}: expected empty, got {json.dumps(actual)}"
        free = list(range(len(actual)))
        for i, x in enumerate(expected):
            hit = next((j for j in free if match(x, actual[j]) is None), None)
            if hit is None:
                return f"{where}: no element matches {json.dumps(x)} in {json.dumps(actual)}"
            free.remove(hit)
        return None
    if isinstance(expected, bool) or isinstance(actual, bool):
        ok = expected is actual
    elif isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        ok = expected == actual
    else:
        ok = expected == actual
    return None if ok else f"{where}: expected {json.dumps(expected)}, got {json.dumps(actual)}"


def check(expect, result):
    """None when `result` ((ok, output) or (False, error dict)) meets `expect`."""
    expect = expect or {}
    if "any_of" in expect:
        whys = [check(e, result) for e in expect["any_of"]]
        return None if any(w is None for w in whys) else " / ".join(whys)
    ok, out = result
    if "error" in expect:
        codes = expect["error"] if isinstance(expect["error"], list) else [expect["error"]]
        if ok:
            return f"expected error {'/'.join(codes)}, got success {json.dumps(out)[:200]}"
        return None if out["code"] in codes else f"expected error {'/'.join(codes)}, got {describe(out)}"
    if not ok:
        return describe(out)
    if "output_contains" in expect:
        why = match(expect["output_contains"], out)
        if why:
            return why
    for k, x in (expect.get("output_json") or {}).items():
        try:
            parsed = json.loads(out.get(k) or "")
        except ValueError:
            return f"output.{k} is not JSON: {out.get(k)!r}"
        why = match(x, parsed, f"output.{k}")
        if why:
            return why
    for k in expect.get("output_keys", []):
        if out.get(k) is None:
            return f"output has no {k} (keys: {sorted(out)})"
    if "output_excludes" in expect and match(expect["output_excludes"], out) is None:
        return f"output should not contain {json.dumps(expect['output_excludes'])}"
    return None


def describe(e):
    msg = (e.get("message") or "").replace("\n", " ").strip()
    return f"{e['code']} ({e['status']}){': ' + msg[:150] if msg else ''}"


# --- calling --------------------------------------------------------------------------------------
def md5_mode(request, operation_name, **_):
    op_model = MODEL.operation_model(operation_name)
    for h in list(request.headers.keys()):
        hl = h.lower()
        if hl.startswith("x-amz-checksum-") or hl in ("x-amz-sdk-checksum-algorithm", "x-amz-trailer"):
            del request.headers[h]
    members = op_model.input_shape.members if op_model.input_shape else {}
    needs = "ContentMD5" in members or op_model.http_checksum.get("requestChecksumRequired")
    if needs and "Content-MD5" not in request.headers:
        body = request.body
        if hasattr(body, "read"):
            pos = body.tell()
            data = body.read()
            body.seek(pos)
        else:
            data = body or b""
        if isinstance(data, str):
            data = data.encode()
        request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()


def client(endpoint, mode):
    cfg = dict(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
               connect_timeout=5, read_timeout=30)
    if mode == "md5":
        cfg.update(request_checksum_calculation="when_required", response_checksum_validation="when_required")
    c = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                     aws_secret_access_key=SECRET_KEY, config=Config(**cfg))
    if mode == "md5":
        c.meta.events.register("before-sign.s3", md5_mode)
    c.last_raw = {}
    session = c._endpoint.http_session
    send = session.send

    def keep_raw(request):
        response = send(request)
        body = b"<stream>" if request.stream_output else response.content[:120]
        c.last_raw.update(status=response.status_code, body=body)
        return response
    session.send = keep_raw
    return c


def call(c, op_name, inp):
    aws, op_model, params = to_boto(op_name, inp)
    c.last_raw.clear()
    try:
        out = getattr(c, xform_name(aws))(**params)
    except ClientError as e:
        err = e.response.get("Error", {})
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = err.get("Code") or ""
        if code.isdigit() or not code:
            code = STATUS_CODES.get(int(code or status or 0), "HttpError")
        msg = err.get("Message", "")
        raw = c.last_raw
        if raw.get("status") is not None and raw["status"] != status:
            # botocore turns a 200 whose body is not the expected XML into a 500
            msg = f"boto3 could not use the reply: HTTP {raw['status']}, body {raw['body']!r}"
        return False, {"code": code, "status": status, "message": msg}
    except StepError:
        raise
    except Exception as e:  # parse errors, connection resets, ...
        return False, {"code": type(e).__name__, "status": None, "message": str(e)}
    out.pop("ResponseMetadata", None)
    return True, norm(out)


def run_step(c, st, variables):
    inp = subst(st["input"], variables)
    result = call(c, st["op"], inp)
    if result[0]:
        for var, path in (st.get("save") or {}).items():
            try:
                variables[var] = str(get_path(result[1], path))
            except (KeyError, IndexError, TypeError):
                return result, f"output has no {path} to save as ${var}"
    return result, None


def cleanup(c, variables):
    """Empties and deletes the scenario's buckets (not part of any scenario): SeaweedFS gives
    every bucket that holds data its own volumes (7 of the 1,000 scripts/s3-server allows)."""
    for b in (variables["BUCKET"], variables["BUCKET2"]):
        try:
            for up in c.list_multipart_uploads(Bucket=b).get("Uploads", []):
                c.abort_multipart_upload(Bucket=b, Key=up["Key"], UploadId=up["UploadId"])
        except Exception:
            pass
        objects = []
        try:
            v = c.list_object_versions(Bucket=b)
            objects = [(o["Key"], o.get("VersionId")) for o in v.get("Versions", []) + v.get("DeleteMarkers", [])]
        except Exception:
            pass
        try:
            objects += [(o["Key"], None) for o in c.list_objects_v2(Bucket=b).get("Contents", [])]
        except Exception:
            pass
        for key, vid in objects:
            extra = {"VersionId": vid} if vid and vid != "null" else {}
            try:
                c.put_object_legal_hold(Bucket=b, Key=key, LegalHold={"Status": "OFF"}, **extra)
            except Exception:
                pass
            try:
                c.delete_object(Bucket=b, Key=key, BypassGovernanceRetention=True, **extra)
            except Exception:
                pass
        try:
            c.delete_bucket(Bucket=b)
        except Exception:
            pass


def stable(status, variables):
    """The status with this run's bucket names put back as $BUCKET/$BUCKET2, shortened."""
    status = status.replace(variables["BUCKET2"], "$BUCKET2").replace(variables["BUCKET"], "$BUCKET")
    return status if len(status) <= 400 else status[:397] + "..."


def fresh_vars(idx, run):
    b = f"ops-{run}-{idx:03d}"
    return {"BUCKET": b, "BUCKET2": b + "-b"}


def run_scenario(c, name, sc, variables):
    for st in sc.get("setup", []):
        result, why = run_step(c, st, variables)
        why = why or (None if result[0] else describe(result[1]))
        if why:
            return f"unsupported: setup {st['op']} failed: {why}"
    main = {"op": name, "input": sc["input"]}
    result, why = run_step(c, main, variables)
    if not result[0] and "error" not in (sc.get("expect") or {}):
        return f"unsupported: {describe(result[1])}"
    why = why or check(subst(sc.get("expect"), variables), result)
    if why:
        return f"unsupported: answered, but {why}"
    for st in sc.get("then", []):
        result, why2 = run_step(c, st, variables)
        why2 = why2 or check(subst(st.get("expect"), variables), result)
        if why2:
            return f"unsupported: answered, but then {st['op']}: {why2}"
    return "pass"


def body_of(op_name, out, from_output):
    if from_output:
        return out.get(from_output)
    shape = MODEL.operation_model(AWS_NAMES[op_name]).output_shape
    return {k: v for k, v in out.items()
            if v is not None and k in shape.members and not shape.members[k].serialization.get("location")}


def run_round_trip(c, rt, variables):
    for st in rt.get("setup", []):
        result, why = run_step(c, st, variables)
        why = why or (None if result[0] else describe(result[1]))
        if why:
            return f"fail: setup {st['op']}: {why}"
    base = rt["input"]
    config = subst(rt["config"], variables)
    ok, out = call(c, rt["put"], {**subst(base, variables), rt["payload"]: config})
    if not ok:
        return f"fail: put: {describe(out)}"
    ok, out1 = call(c, rt["get"], subst(base, variables))
    if not ok:
        return f"fail: get: {describe(out1)}"
    got1 = body_of(rt["get"], out1, rt.get("from_output"))
    as_json = rt.get("compare") == "json"
    try:
        why = match(json.loads(config), json.loads(got1), "get") if as_json else match(config, got1, "get")
    except (TypeError, ValueError):
        why = f"get: not JSON: {got1!r}"
    if why:
        return f"fail: get does not return the config: {why}"
    ok, out = call(c, rt["put"], {**subst(base, variables), rt["payload"]: got1})
    if not ok:
        return f"fail: putting the get's output back: {describe(out)}"
    ok, out2 = call(c, rt["get"], subst(base, variables))
    if not ok:
        return f"fail: second get: {describe(out2)}"
    got2 = body_of(rt["get"], out2, rt.get("from_output"))
    if (json.loads(got2) != json.loads(got1)) if as_json else (got2 != got1):
        return f"fail: second get differs: {json.dumps(got1)} then {json.dumps(got2)}"
    return "pass"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moto")
    ap.add_argument("--seaweedfs")
    ap.add_argument("--only", default="")
    ap.add_argument("--mode", default="both", choices=["boto3", "md5", "both"])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    scen_path = os.path.join(HERE, "scenarios.json")
    rt_path = os.path.join(HERE, "round_trips.json")
    scenarios = json.load(open(scen_path))
    trips = json.load(open(rt_path))
    only = set(filter(None, args.only.split(",")))
    servers = {k: v for k, v in (("moto", args.moto), ("seaweedfs", args.seaweedfs)) if v}
    modes = ["boto3", "md5"] if args.mode == "both" else [args.mode]
    results = {}   # (server, mode) -> {name: status}
    rt_results = {}
    for server, endpoint in servers.items():
        for mode in modes:
            c = client(endpoint, mode)
            run = uuid.uuid4().hex[:6]
            res = results[(server, mode)] = {}
            for idx, (name, sc) in enumerate(scenarios.items()):
                if only and name not in only:
                    continue
                variables = fresh_vars(idx, run)
                try:
                    res[name] = stable(run_scenario(c, name, sc, variables), variables)
                except StepError as e:
                    res[name] = f"ERROR {e}"
                cleanup(c, variables)
                print(f"{server:9} {mode:5} {name}: {res[name]}", flush=True)
            rres = rt_results[(server, mode)] = {}
            for idx, rt in enumerate(trips):
                if only and rt["put"] not in only and rt["get"] not in only:
                    continue
                variables = fresh_vars(500 + idx, run)
                try:
                    rres[idx] = stable(run_round_trip(c, rt, variables), variables)
                except StepError as e:
                    rres[idx] = f"ERROR {e}"
                cleanup(c, variables)
                print(f"{server:9} {mode:5} round trip {rt['put']}: {rres[idx]}", flush=True)
    if args.write:
        for name, sc in scenarios.items():
            for server in servers:
                if name in results.get((server, "boto3"), {}):
                    sc.setdefault("servers", {})[server] = results[(server, "boto3")][name]
                    md5 = results.get((server, "md5"), {}).get(name)
                    if md5 is not None and md5 != sc["servers"][server]:
                        sc.setdefault("servers_content_md5", {})[server] = md5
                    elif "servers_content_md5" in sc:
                        sc["servers_content_md5"].pop(server, None)
                        if not sc["servers_content_md5"]:
                            del sc["servers_content_md5"]
        for idx, rt in enumerate(trips):
            for server in servers:
                if idx in rt_results.get((server, "boto3"), {}):
                    rt.setdefault("servers", {})[server] = rt_results[(server, "boto3")][idx]
                    md5 = rt_results.get((server, "md5"), {}).get(idx)
                    if md5 is not None and md5 != rt["servers"][server]:
                        rt.setdefault("servers_content_md5", {})[server] = md5
        with open(scen_path, "w") as f:
            json.dump(scenarios, f, indent=1, ensure_ascii=True)
            f.write("\n")
        with open(rt_path, "w") as f:
            json.dump(trips, f, indent=1, ensure_ascii=True)
            f.write("\n")
    for (server, mode), res in results.items():
        n = sum(1 for v in res.values() if v == "pass")
        print(f"{server} {mode}: {n} pass, {len(res) - n} not", file=sys.stderr)
    for (server, mode), res in rt_results.items():
        n = sum(1 for v in res.values() if v == "pass")
        print(f"{server} {mode} round trips: {n} pass, {len(res) - n} not", file=sys.stderr)


if __name__ == "__main__":
    main()
