"""`s3-connector mcp` driven by the official MCP Python SDK (PyPI `mcp`), an independent client.

Reads {"bin", "connection_file", "bucket", "big_file", "home"} as JSON on stdin. Connects in the
SDK's default mode ("auto": it probes `server/discover`, then falls back to the initialize
handshake), lists every tool page by page, checks one input schema with a 2020-12 validator,
calls put/get/list, a failing call, a transfer with progress, a cancelled transfer, and reads
the logs sent to it. Prints a transcript of the session on stderr and a JSON list of findings
on stdout; the Rust test (tests/mcp.rs) asserts on them.
"""

import json
import sys
import warnings

import anyio
import jsonschema
from mcp import types
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

# `logging/setLevel` is deprecated from revision 2026-07-28 on; this session speaks 2025-11-25.
warnings.filterwarnings("ignore", message="The logging capability is deprecated")

ARGS = json.load(sys.stdin)
FINDINGS = []


def say(text):
    print(text, file=sys.stderr, flush=True)


def found(name, **facts):
    FINDINGS.append({"check": name, **facts})
    say(f"  -> {name}: {json.dumps(facts)[:300]}")


def text_of(result):
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def main():
    logs = []

    async def on_log(params):
        logs.append({"level": params.level, "data": params.data})
        say(f"  <- notifications/message [{params.level}] {str(params.data)[:160]}")

    server = StdioServerParameters(
        command=ARGS["bin"],
        args=["mcp", "--connection", ARGS["connection_file"]],
        env={"HOME": ARGS["home"], "AWS_EC2_METADATA_DISABLED": "true", "RUST_LOG": "info"},
    )
    say("$ s3-connector mcp --connection connection.json   (client: mcp SDK, mode auto)")
    async with Client(server, logging_callback=on_log, read_timeout_seconds=120) as client:
        session = client.session
        found(
            "initialized",
            protocol=client.protocol_version,
            server=session.initialize_result.server_info.name,
            version=session.initialize_result.server_info.version,
            capabilities=sorted(
                k for k, v in session.initialize_result.capabilities.model_dump().items() if v is not None
            ),
        )

        # Every tool, page by page.
        tools, pages, cursor = [], 0, None
        while True:
            page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
            pages += 1
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None or pages > 20:
                break
        by_name = {t.name: t for t in tools}
        say(f"> tools/list: {len(tools)} tools in {pages} pages")
        found(
            "tools",
            count=len(tools),
            pages=pages,
            unique=len(by_name),
            all_typed=all(
                t.input_schema.get("type") == "object" and (t.output_schema or {}).get("type") == "object"
                for t in tools
            ),
            annotations={
                n: {
                    "readOnly": by_name[n].annotations.read_only_hint,
                    "destructive": by_name[n].annotations.destructive_hint,
                    "idempotent": by_name[n].annotations.idempotent_hint,
                }
                for n in ["get_object", "put_object", "delete_object", "create_multipart_upload", "list_objects_v2"]
            },
        )

        # One input schema, checked and applied by a 2020-12 validator.
        schema = by_name["put_object"].input_schema
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        good = {"Bucket": ARGS["bucket"], "Key": "mcp/hello.txt", "Body": "hello from MCP"}
        bad = {"Bucket": ARGS["bucket"], "Key": "", "x-amz-acl": "nonsense"}
        found(
            "input_schema",
            dialect=schema.get("$schema"),
            good_valid=validator.is_valid(good),
            bad_errors=sorted(e.json_path for e in validator.iter_errors(bad)),
        )

        say("> tools/call put_object")
        put = await client.call_tool("put_object", good)
        found("put", is_error=put.is_error, etag=(put.structured_content or {}).get("ETag"))

        say("> tools/call get_object")
        got = await client.call_tool("get_object", {"Bucket": ARGS["bucket"], "Key": "mcp/hello.txt"})
        found(
            "get",
            is_error=got.is_error,
            body=(got.structured_content or {}).get("Body"),
            text_matches=json.loads(text_of(got)) == got.structured_content,
        )

        say("> tools/call list_objects_v2")
        listed = await client.call_tool("list_objects_v2", {"Bucket": ARGS["bucket"], "prefix": "mcp/"})
        found(
            "list",
            is_error=listed.is_error,
            keys=[o["Key"] for o in (listed.structured_content or {}).get("Contents", [])],
        )

        await client.set_logging_level("warning")
        say("> logging/setLevel warning; tools/call get_object on a missing key")
        missing = await client.call_tool("get_object", {"Bucket": ARGS["bucket"], "Key": "mcp/missing"})
        envelope = json.loads(text_of(missing))
        found(
            "failed_call",
            is_error=missing.is_error,
            kind=envelope["error"]["kind"],
            code=envelope["error"]["code"],
            structured=missing.structured_content,
        )

        say("> tools/call get_object with an invalid input")
        invalid = await client.call_tool("get_object", {"Bucket": ARGS["bucket"], "Key": "", "Extra": 1})
        envelope = json.loads(text_of(invalid))
        found(
            "invalid_call",
            is_error=invalid.is_error,
            kind=envelope["error"]["kind"],
            pointers=sorted(d["pointer"] for d in envelope["error"]["details"]),
        )

        say("> tools/call of an unknown tool")
        try:
            await client.call_tool("no_such_tool", {})
            found("unknown_tool", raised=False)
        except MCPError as e:
            found("unknown_tool", raised=True, code=e.error.code)

        say("> tools/call upload_file with a progress token")
        progress = []

        async def on_progress(done, total, message):
            progress.append((done, total))

        up = await client.call_tool(
            "upload_file",
            {"Bucket": ARGS["bucket"], "Key": "mcp/big.bin", "BodyFile": ARGS["big_file"]},
            progress_callback=on_progress,
        )
        say(f"  <- {len(progress)} notifications/progress, last {progress[-1] if progress else None}")
        found(
            "progress",
            is_error=up.is_error,
            bytes=(up.structured_content or {}).get("Bytes"),
            notifications=len(progress),
            increasing=all(a[0] <= b[0] for a, b in zip(progress, progress[1:])),
            last=list(progress[-1]) if progress else None,
        )

        say("> tools/call upload_file, cancelled by the client at its first progress notification")
        started = anyio.Event()

        async def on_start(done, total, message):
            started.set()

        async def upload():
            await client.call_tool(
                "upload_file",
                {"Bucket": ARGS["bucket"], "Key": "mcp/cancelled.bin", "BodyFile": ARGS["big_file"]},
                progress_callback=on_start,
            )

        async with anyio.create_task_group() as tg:
            scope = anyio.CancelScope()

            async def cancellable():
                with scope:
                    await upload()

            tg.start_soon(cancellable)
            with anyio.move_on_after(60):
                await started.wait()
            # Cancelling the call's task makes the SDK send notifications/cancelled.
            scope.cancel()
        # The server aborts the upload it started (within its cleanup bound) and sends no reply.
        uploads = None
        for _ in range(40):
            await anyio.sleep(0.25)
            left = await client.call_tool("list_multipart_uploads", {"Bucket": ARGS["bucket"]})
            uploads = [u["Key"] for u in (left.structured_content or {}).get("Uploads", [])]
            if not uploads:
                break
        head = await client.call_tool("head_object", {"Bucket": ARGS["bucket"], "Key": "mcp/cancelled.bin"})
        found(
            "cancelled",
            cancelled=scope.cancelled_caught and started.is_set(),
            uploads_left=uploads,
            object_exists=not head.is_error,
        )
        found("logs", levels=sorted({l["level"] for l in logs}), count=len(logs),
              mentions_failure=any("NoSuchKey" in json.dumps(l["data"]) for l in logs))
    say("(session closed: stdin closed, server exited)")


anyio.run(main)
print(json.dumps(FINDINGS))
