"""The reply oracle's other half: canned S3 replies made from AWS's model, and what botocore's
own rest-xml parser reads from them.

Reads from stdin a JSON list of AWS operation names and prints a JSON list, one result an
operation, in order:
    {"operation", "status", "headers" ([[name, value], ...]), "body" (text),
     "payload" (the name of a streaming or text payload member, else null),
     "expected" (botocore's parsed output)}
or {"operation", "error": why} when a reply cannot be made or parsed.

Everything comes from botocore's model (`botocore.session.get_session().get_service_model`),
not from the connector's manifest: each output member is filled, by the rest-xml rules
botocore's serializers and parsers follow:
- `location: header` members as headers: timestamps as RFC 822 HTTP dates (or as the member's
  `timestampFormat` says), booleans `true`, numbers, lists comma-joined; a `headers` map as
  several `x-amz-meta-*` headers;
- the other members as an XML document. Its root is the output shape's element (S3's name for
  it, as S3 sends it: botocore's parser ignores the root's name), or the payload member's element
  when the output has a structure payload. Element names are the member's `locationName`, else
  the shape's, else the member's name; lists have two items, in a wrapper with items named by
  the list member's `locationName` (default `member`), or repeated under the member's name when
  flattened; `xmlAttribute` members are attributes under their prefixed name (`xsi:type`, with
  its namespace declared); nested structures are filled fully; timestamps are ISO 8601, blobs
  base64;
- a string payload (a bucket policy) is the raw text, a blob payload (an object's bytes) raw
  bytes.

The same reply (status 200, headers, body) is then parsed by
`botocore.parsers.create_parser('rest-xml').parse(...)` with the operation's output shape, then
given to the botocore handlers that change what a client returns for the same reply:
`parse_get_bucket_location` (`GetBucketLocation`'s bare `<LocationConstraint>` root), and the
URL decoding of listings the client asked to be encoded (`LISTING_DECODERS`). The parsed dict is printed with
timestamps as ISO 8601 `Z` strings (whole seconds), blobs as base64 text, and
`ResponseMetadata` removed.
"""

import base64
import datetime
import json
import sys
from xml.etree import ElementTree

import botocore.session
from botocore import handlers
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser

XSI = "http://www.w3.org/2001/XMLSchema-instance"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
WHEN = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
# The root element S3 sends for outputs that are not a payload, where it is not the shape's
# name (botocore's parser does not look at it; the connector only checks it is not `<Error>`).
S3_ROOTS = {
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "ListBuckets": "ListAllMyBucketsResult",
    "ListDirectoryBuckets": "ListAllMyDirectoryBucketsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CreateSession": "CreateSessionResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketLifecycle": "LifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketLogging": "BucketLoggingStatus",
    "GetBucketNotification": "NotificationConfiguration",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "GetBucketRequestPayment": "RequestPaymentConfiguration",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketWebsite": "WebsiteConfiguration",
    "GetBucketAccelerateConfiguration": "AccelerateConfiguration",
    "GetObjectAttributes": "GetObjectAttributesResponse",
    "ListBucketAnalyticsConfigurations": "ListBucketAnalyticsConfigurationResult",
    "ListBucketIntelligentTieringConfigurations": "ListBucketIntelligentTieringConfigurationsOutput",
    "ListBucketInventoryConfigurations": "ListInventoryConfigurationsResult",
    "ListBucketMetricsConfigurations": "ListMetricsConfigurationsResult",
}
# An object's bytes (a blob payload): non-ASCII and XML specials, as they are.
OBJECT_BODY = "reply oracle body: \u00fc & <text>\n"
POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}'
# Deeper than any S3 output; a guard against a recursive shape.
MAX_DEPTH = 12


def timestamp_text(shape, default):
    fmt = shape.serialization.get("timestampFormat") or default
    if fmt == "iso8601":
        return "2030-01-02T03:04:05.000Z"
    if fmt == "unixTimestamp":
        return str(int(WHEN.timestamp()))
    return "Wed, 02 Jan 2030 03:04:05 GMT"


def scalar_text(shape, name, nth, where):
    """The text of a scalar member: `where` is `header` or `xml`."""
    t = shape.type_name
    if t == "boolean":
        return "true"
    if t in ("integer", "long"):
        return str(7 + nth)
    if t in ("double", "float"):
        return "1.5"
    if t == "timestamp":
        return timestamp_text(shape, "rfc822" if where == "header" else "iso8601")
    if t == "blob":
        return base64.b64encode(f"{name}-{nth} blob".encode()).decode("ascii")
    if shape.enum:
        return shape.enum[nth % len(shape.enum)]
    if shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps({name: nth}).encode()).decode("ascii")
    if where == "header":
        return f"{name}-value-{nth}"
    # XML text: escaped characters, non-ASCII, and a URL escape (`%C3%A9`, `é`), which the
    # fields of a listing that S3 URL-encodes are decoded from (`LISTING_DECODERS`); no `+`,
    # which `unquote_str` keeps and a form decoder reads as a space.
    return f"{name}-{nth} & <x> \u00fc %C3%A9"


def key_tag(member, name):
    """The element name botocore's parser looks a member up by (`_member_key_name`)."""
    if member.type_name == "list" and member.serialization.get("flattened"):
        tag = member.member.serialization.get("name")
        if tag is not None:
            return tag
    return element_name(member, name)


def fill_structure(el, shape, depth, nth=0):
    """Every member of `shape` not in a header, into the element `el` (the `nth` item of a
    list gives its members' `nth` values, so that the items differ).

    Two members may be read from the same elements (`TopicConfigurationDeprecated` has a
    flattened list `Events` of `<Event>` and a string `Event`): the shared element is written
    once, the list then having one item, so that both members read it (with two, botocore's
    parser hands the string member a list of nodes)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{shape.name}: nested deeper than {MAX_DEPTH}")
    body_members = {
        name: member
        for name, member in shape.members.items()
        if member.serialization.get("location") is None
        and not member.serialization.get("xmlAttribute")
    }
    tags = [key_tag(m, n) for n, m in body_members.items()]
    written = set()
    for name, member in shape.members.items():
        loc = member.serialization.get("location")
        if loc in ("header", "headers", "statusCode", "querystring", "uri"):
            continue
        if not member.serialization.get("xmlAttribute"):
            tag = key_tag(member, name)
            if tag in written:
                continue
            written.add(tag)
            if tags.count(tag) > 1:
                if member.type_name == "list" and member.serialization.get("flattened"):
                    write_value(el, tag, member.member, name, nth, depth)
                else:
                    write_member(el, name, member, nth, depth)
                continue
        if member.serialization.get("xmlAttribute"):
            attr = member.serialization["name"]
            prefix = attr.split(":")[0] if ":" in attr else None
            if prefix == "xsi":
                el.set("xmlns:xsi", XSI)
            el.set(attr, scalar_text(member, name, nth, "xml"))
            continue
        write_member(el, name, member, nth, depth)


def element_name(member, name):
    return member.serialization.get("name", name)


def write_member(parent, name, member, nth, depth):
    t = member.type_name
    if t == "list":
        item = member.member
        if member.serialization.get("flattened"):
            tag = item.serialization.get("name") or element_name(member, name)
            for i in range(2):
                write_value(parent, tag, item, name, i, depth)
        else:
            wrapper = ElementTree.SubElement(parent, element_name(member, name))
            tag = item.serialization.get("name", "member")
            for i in range(2):
                write_value(wrapper, tag, item, name, i, depth)
        return
    write_value(parent, element_name(member, name), member, name, nth, depth)


def write_value(parent, tag, shape, name, nth, depth):
    el = ElementTree.SubElement(parent, tag)
    t = shape.type_name
    if t == "structure":
        fill_structure(el, shape, depth + 1, nth)
    elif t == "map":
        # S3's XML outputs have none (metadata maps are headers).
        raise ValueError(f"{shape.name}: an XML map")
    elif t == "list":
        item_tag = shape.member.serialization.get("name", "member")
        for i in range(2):
            write_value(el, item_tag, shape.member, name, i, depth + 1)
    else:
        el.text = scalar_text(shape, name, nth, "xml")


def reply_for(op):
    """The canned reply for `op`: (method, headers, body bytes, payload member or None)."""
    shape = op.output_shape
    headers = []
    payload = shape.serialization.get("payload")
    body = b""
    text_payload = None
    root = None
    if payload:
        pshape = shape.members[payload]
        if pshape.type_name == "string":
            body = POLICY.encode()
            text_payload = payload
        elif pshape.type_name == "blob":
            body = OBJECT_BODY.encode()
            text_payload = payload
        else:
            root = ElementTree.Element(element_name(pshape, payload))
            root.set("xmlns", S3_NS)
            fill_structure(root, pshape, 0)
    else:
        has_xml = any(
            m.serialization.get("location") is None for m in shape.members.values()
        )
        if has_xml:
            name = shape.serialization.get("name") or S3_ROOTS.get(op.name, shape.name)
            root = ElementTree.Element(name)
            root.set("xmlns", S3_NS)
            fill_structure(root, shape, 0)
    if root is not None:
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(
            root, encoding="unicode"
        ).encode("utf-8")
    if op.name == "GetBucketLocation":
        # S3's form: the constraint is the root's text (botocore's handler reads it).
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<LocationConstraint xmlns="{S3_NS}">eu-west-1</LocationConstraint>'
        ).encode()
    for name, member in shape.members.items():
        loc = member.serialization.get("location")
        if loc == "header":
            header = member.serialization.get("name", name)
            if header.lower() == "content-length":
                # The real length (hyper reads exactly that many bytes), but a HEAD reply's.
                value = "7" if op.http["method"] == "HEAD" else str(len(body))
            elif member.type_name == "list":
                value = ", ".join(
                    scalar_text(member.member, name, i, "header") for i in range(2)
                )
            else:
                value = scalar_text(member, name, 0, "header")
            if any(h.lower() == header.lower() for h, _ in headers):
                raise ValueError(f"two members in header {header}")
            headers.append([header, value])
        elif loc == "headers":
            prefix = member.serialization.get("name", "")
            for k, v in [("color", "blue"), ("shape", "round"), ("oracle-key", "v 3")]:
                headers.append([prefix + k, v])
    return op.http["method"], headers, body, text_payload


def plain(value):
    """botocore's parsed values as JSON."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


# The handlers botocore runs on a listing it asked to be URL-encoded without the caller asking
# (`set_list_objects_encoding_type_url`): the fields S3 encodes are decoded. The connector asks
# for `encoding-type=url` the same way when the input does not give it (`quirks.rs`).
LISTING_DECODERS = {
    "ListObjects": handlers.decode_list_object,
    "ListObjectsV2": handlers.decode_list_object_v2,
    "ListObjectVersions": handlers.decode_list_object_versions,
}


class FakeHttpResponse:
    """What `parse_get_bucket_location` reads of the HTTP response."""

    def __init__(self, body):
        self.raw = object()
        self.content = body


def one(model, parser, name):
    op = model.operation_model(name)
    method, headers, body, payload = reply_for(op)
    parsed = parser.parse(
        {"status_code": 200, "headers": HeadersDict(headers), "body": body},
        op.output_shape,
    )
    if name == "GetBucketLocation":
        handlers.parse_get_bucket_location(parsed, FakeHttpResponse(body))
    if name in LISTING_DECODERS:
        # The connector asks for `encoding-type=url` itself, as botocore's client does.
        LISTING_DECODERS[name](parsed, context={"encoding_type_auto_set": True})
    parsed.pop("ResponseMetadata", None)
    return {
        "operation": name,
        "method": method,
        "status": 200,
        "headers": headers,
        "body": body.decode("utf-8"),
        "payload": payload,
        "expected": plain(parsed),
    }


def main():
    model = botocore.session.get_session().get_service_model("s3")
    parser = create_parser("rest-xml")
    out = []
    for name in json.load(sys.stdin):
        try:
            out.append(one(model, parser, name))
        except Exception as e:  # one operation's failure must not hide the others' results
            out.append({"operation": name, "error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
