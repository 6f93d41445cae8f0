"""The oracle's other half: the request botocore's own rest-xml serializer builds.

Reads from stdin a JSON list of cases, each
    {"operation": AWS name, "params": {boto3 parameters}, "ours_body": {"text"|"base64": ...}}
and prints a JSON list, one result a case, in order:
    {"method", "url_path" (encoded, query part removed), "query" ([[k, v], ...] decoded),
     "query_encoded" (the query string as botocore would send it), "headers" (lowercase names),
     "header_params" (the headers, or header-map prefixes, that given parameters make),
     "body" ({"text"|"base64": ...}), "body_c14n", "ours_c14n"}
with "refused": why botocore's parameter validation refuses the parameters (null when it
accepts them: the rest is serialized all the same, members the model lacks left out), or
{"error": why} when the serializer fails.

Nothing but the serializer runs: no client, no event handlers (no checksums added, no
`Content-MD5`, no virtual hosting), no network. `body_c14n`/`ours_c14n` are both bodies as
canonical XML (C14N 2.0, `xml.etree.ElementTree.canonicalize`), so that the Rust side compares
XML documents by one canonicaliser instead of by bytes; `null` when a body is empty, and
`{"error": ...}` when it is not XML.
"""

import base64
import json
import sys
import urllib.parse
from xml.etree import ElementTree

import botocore.session
from botocore.serialize import create_serializer
from botocore.httpchecksum import Crc32Checksum, CrtCrc32cChecksum, CrtCrc64NvmeChecksum
from botocore.utils import percent_encode_sequence
from botocore.validate import ParamValidator


def body_json(data):
    """Bytes as text when they are UTF-8, else base64."""
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def c14n(data):
    if not data:
        return None
    try:
        # Parsed first, so that a body that is not XML is reported as such.
        ElementTree.fromstring(data)
        return ElementTree.canonicalize(xml_data=data.decode("utf-8"))
    except (ElementTree.ParseError, UnicodeDecodeError) as e:
        return {"error": f"not XML: {e}"}


def unquote(s):
    # Percent-decoding only: `+` is a plus sign in an S3 query, as in the SigV4 canonical form.
    return urllib.parse.unquote(s, errors="strict")


def query_pairs(fixed, query):
    """The fixed query of the request URI (`?uploads`, `?list-type=2`) plus the serialized
    parameters, as decoded (k, v) pairs."""
    pairs = []
    for item in fixed.split("&") if fixed else []:
        k, _, v = item.partition("=")
        pairs.append([unquote(k), unquote(v)])
    for k, v in query.items():
        for one in v if isinstance(v, list) else [v]:
            pairs.append([k, str(one)])
    return pairs


def refusal(op, params):
    """Why botocore's parameter validation refuses `params` (None when it accepts them), one
    line a problem, without the list of valid names botocore appends."""
    report = ParamValidator().validate(params, op.input_shape)
    if not report.has_errors():
        return None
    return "; ".join(line.split(", must be one of:")[0] for line in report.generate_report().splitlines())


def header_params(op, params):
    """The (lowercase) headers the given parameters are serialized to; a header map gives its
    prefix."""
    out = []
    for name in params:
        member = op.input_shape.members[name]
        if member.serialization.get("location") in ("header", "headers"):
            out.append(member.serialization.get("name", name).lower())
    return out


def serialize(model, serializer, case):
    op = model.operation_model(case["operation"])
    params = dict(case["params"])
    refused = refusal(op, params)
    # Members the model does not have are reported by `refusal`; the rest is still serialized,
    # so that the other fields are compared too.
    members = op.input_shape.members if op.input_shape else {}
    params = {k: v for k, v in params.items() if k in members}
    # A blob payload (an object's bytes) is given as bytes, as a boto3 caller gives `Body`.
    payload = op.input_shape.serialization.get("payload") if op.input_shape else None
    if payload and op.input_shape.members[payload].type_name == "blob":
        if isinstance(params.get(payload), str):
            params[payload] = params[payload].encode("utf-8")
    request = serializer.serialize_to_request(params, op)
    path, _, fixed = request["url_path"].partition("?")
    query = request["query_string"]
    encoded = "&".join(x for x in [fixed, percent_encode_sequence(query)] if x)
    body = request.get("body") or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    ours = case.get("ours_body") or {}
    ours = ours["text"].encode("utf-8") if "text" in ours else base64.b64decode(ours.get("base64", ""))
    # The flexible checksums of the body, by botocore's own checksum classes (CRC32C and
    # CRC64NVME through awscrt, as botocore[crt] computes them), for the connector's CRC header.
    checksums = {
        "x-amz-checksum-crc32": Crc32Checksum,
        "x-amz-checksum-crc32c": CrtCrc32cChecksum,
        "x-amz-checksum-crc64nvme": CrtCrc64NvmeChecksum,
    }
    crcs = {}
    for name, cls in checksums.items():
        c = cls()
        c.update(body)
        crcs[name] = c.b64digest()
    return {
        "checksums": crcs,
        "refused": refused,
        "method": request["method"],
        "url_path": path,
        "query": query_pairs(fixed, query),
        "query_encoded": encoded,
        "headers": {k.lower(): str(v) for k, v in request.get("headers", {}).items()},
        "header_params": header_params(op, params),
        "body": body_json(body),
        "body_c14n": c14n(body),
        "ours_c14n": c14n(ours),
    }


def main():
    model = botocore.session.get_session().get_service_model("s3")
    # Validation is run apart (`refusal`), so that a refused case is still compared.
    serializer = create_serializer(model.metadata["protocol"], include_validation=False)
    out = []
    for case in json.load(sys.stdin):
        try:
            out.append(serialize(model, serializer, case))
        except Exception as e:  # one refused case must not hide the others' results
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
