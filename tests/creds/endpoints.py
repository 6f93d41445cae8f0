#!/usr/bin/env python3
"""Loopback emulator of the AWS credential endpoints SDKs call, for integration tests.

Emulated (all on one 127.0.0.1 port chosen by the OS):
  * EC2 Instance Metadata Service v2 (IMDSv2 only, v1 refused): PUT /latest/api/token,
    GET /latest/meta-data/iam/security-credentials/[<role>], GET .../placement/region.
    Shapes: Amazon EC2 User Guide, "Use the Instance Metadata Service to access instance
    metadata" (IMDSv2 session tokens) and "IAM roles for Amazon EC2" (security-credentials).
  * Container credentials (ECS task roles via AWS_CONTAINER_CREDENTIALS_RELATIVE_URI /
    _FULL_URI, EKS Pod Identity via AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]): GET /creds*.
    Shapes: AWS SDKs and Tools Reference Guide, "Container credential provider"; Amazon ECS
    Developer Guide, "Amazon ECS task IAM role"; Amazon EKS User Guide, "EKS Pod Identity".
  * IAM Identity Center (SSO) portal: GET /federation/credentials (GetRoleCredentials).
    Shape: AWS IAM Identity Center Portal API Reference, "GetRoleCredentials".

Usage: python3 endpoints.py --config FILE --log FILE [--verbose]
  Prints {"port": P} on stdout once listening, then serves until stdin reaches EOF.
  Config keys: credentials (list), imds_role, container_token, sso_token, sso_account_id,
  sso_role_name, region, fail {endpoint: K first fetches -> 500}, delay {endpoint: seconds}
  where endpoint is "imds" | "container" | "sso".
Credential fetches share one counter: the n-th successful fetch hands out
credentials[min(n, len-1)]; each entry's Expiration is fixed when it is first handed out.
Order per credential fetch: delay -> auth/validation (401/403/404) -> injected 500 -> 200.
Log: one JSON line per request {t, method, path (query dropped), endpoint, status, handed};
a client that hung up before the reply is logged with status null and "aborted": true (a
delayed fetch whose client timed out hands nothing out). Header values are never logged.
"""
import argparse, hmac, json, os, secrets, select, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

IMDS_CREDS = "/latest/meta-data/iam/security-credentials"


def rfc3339(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class State:
    """Config plus the mutable, lock-protected bits shared by handler threads."""

    def __init__(self, cfg, log_path, verbose):
        self.cfg, self.log_path, self.verbose = cfg, log_path, verbose
        self.creds = cfg.get("credentials") or []
        self.fail = cfg.get("fail") or {}
        self.delay = cfg.get("delay") or {}
        self.lock = threading.Lock()
        self.handed = 0            # successful credential fetches so far (all endpoints)
        self.expiry = {}           # credentials index -> epoch seconds, fixed at first hand-out
        self.attempts = {}         # endpoint -> validated fetch attempts (for fail injection)
        self.tokens = {}           # IMDS session token -> monotonic deadline

    def hand_out(self):
        with self.lock:
            idx = min(self.handed, len(self.creds) - 1)
            self.handed += 1
            cred = self.creds[idx]
            if idx not in self.expiry:
                # "expiration" (Unix seconds) states a real session's own expiry as it is.
                self.expiry[idx] = int(cred.get("expiration") or
                                       int(time.time()) + int(cred.get("expires_in", 3600)))
            return idx, cred, self.expiry[idx]

    def should_fail(self, kind):
        with self.lock:
            self.attempts[kind] = self.attempts.get(kind, 0) + 1
            return self.attempts[kind] <= int(self.fail.get(kind, 0))

    def issue_token(self, ttl):
        tok = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self.lock:
            self.tokens = {t: d for t, d in self.tokens.items() if d > now}  # prune expired
            self.tokens[tok] = now + ttl
        return tok

    def token_valid(self, tok):
        with self.lock:
            return self.tokens.get(tok or "", 0) > time.monotonic()

    def log(self, rec):
        line = json.dumps(rec) + "\n"
        with self.lock:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(line); f.flush()


STATE = None  # set in main()


def classify(path):
    """Map a URL path (query stripped) to the endpoint name used in the log."""
    exact = {"/latest/api/token": "imds_token", IMDS_CREDS: "imds_role",
             IMDS_CREDS + "/": "imds_role", "/latest/meta-data/placement/region": "imds_region",
             "/federation/credentials": "sso"}
    if path in exact:
        return exact[path]
    if path.startswith(IMDS_CREDS + "/"):
        return "imds_creds"
    return "container" if path.startswith("/creds") else "other"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive; every reply carries Content-Length
    server_version = "CredEndpointsEmulator/1.0"
    timeout = 120                      # idle keep-alive connections are dropped eventually

    def log_message(self, fmt, *args):  # default access log -> stderr only with --verbose
        if STATE.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def _drain(self):
        """Consume any request body so the connection stays usable for keep-alive."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return
        n = self.headers.get("Content-Length", "0").strip()
        if n.isdigit() and int(n) > 0:
            self.rfile.read(int(n))

    def _reply(self, status, body="", headers=None, handed=None, ctype="text/plain"):
        if isinstance(body, dict):
            body, ctype = json.dumps(body), "application/json"
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:  # client went away mid-reply: note it, drop the connection quietly
            self.close_connection, status = True, None
        self._log(status, handed)

    def _log(self, status, handed):
        rec = {"t": time.time(), "method": self.command, "path": self.url_path,
               "endpoint": self.endpoint, "status": status, "handed": handed}
        STATE.log(rec if status is not None else dict(rec, aborted=True))

    def _client_gone(self):
        """True if the peer closed while we slept (e.g. an SDK timeout), so no hand-out."""
        if not select.select([self.connection], [], [], 0)[0]:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _begin(self):
        self._drain()
        self.url_path, _, self.query = self.path.partition("?")
        self.endpoint = classify(self.url_path)

    # ---- methods -------------------------------------------------------------------
    def do_PUT(self):
        self._begin()
        if self.endpoint != "imds_token":  # PUT only makes sense for the IMDS token
            return self._reply(404, "Not Found\n") if self.endpoint == "other" \
                else self._reply(405, "", {"Allow": "GET"})
        if "X-Forwarded-For" in self.headers:  # real IMDS refuses proxied token requests
            return self._reply(403, "Forbidden\n")
        try:
            ttl = int(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
        except ValueError:
            ttl = 0
        if not 1 <= ttl <= 21600:
            return self._reply(400, "Bad Request\n")
        self._reply(200, STATE.issue_token(ttl),
                    {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})

    def do_GET(self):
        self._begin()
        ep = self.endpoint
        kind = {"imds_creds": "imds", "container": "container", "sso": "sso"}.get(ep)
        if kind and STATE.delay.get(kind):
            time.sleep(float(STATE.delay[kind]))
            if self._client_gone():  # don't consume a credentials entry nobody will read
                self.close_connection = True
                return self._log(None, None)
        if ep == "imds_token":
            return self._reply(405, "", {"Allow": "PUT"})
        if self.url_path.startswith("/latest/meta-data"):
            return self._imds(ep)
        if ep == "container":
            return self._container()
        if ep == "sso":
            return self._sso()
        self._reply(404, "Not Found\n")

    def _other_method(self):
        self._begin()
        self._reply(405, "", {"Allow": "GET, PUT"})

    do_HEAD = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _other_method

    # ---- endpoints -----------------------------------------------------------------
    def _imds(self, ep):
        if not STATE.token_valid(self.headers.get("X-aws-ec2-metadata-token")):
            return self._reply(401, "Unauthorized\n")  # IMDSv1 (no token) refused
        role = STATE.cfg.get("imds_role", "test-role")
        if ep == "imds_role":
            return self._reply(200, role)
        if ep == "imds_region":
            return self._reply(200, STATE.cfg.get("region", "us-east-1"))
        if ep != "imds_creds" or self.url_path[len(IMDS_CREDS) + 1:].rstrip("/") != role:
            return self._reply(404, "Not Found\n")
        if STATE.should_fail("imds"):
            return self._reply(500, "Internal Server Error\n")
        idx, c, exp = STATE.hand_out()
        self._reply(200, json.dumps({
            "Code": "Success", "LastUpdated": rfc3339(time.time()), "Type": "AWS-HMAC",
            "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
            "Token": c.get("Token", ""), "Expiration": rfc3339(exp)}, indent=2), handed=idx)

    def _container(self):
        want = STATE.cfg.get("container_token")
        got = self.headers.get("Authorization")
        if want is not None and not (got and hmac.compare_digest(got.encode(), want.encode())):
            return self._reply(401, {"code": "AccessDenied",
                                     "message": "Authorization header missing or invalid"})
        if STATE.should_fail("container"):
            return self._reply(500, {"code": "InternalError", "message": "injected failure"})
        idx, c, exp = STATE.hand_out()
        self._reply(200, {"AccessKeyId": c["AccessKeyId"],
                          "SecretAccessKey": c["SecretAccessKey"],
                          "Token": c.get("Token", ""), "Expiration": rfc3339(exp),
                          "RoleArn": "arn:aws:iam::123456789012:role/test"}, handed=idx)

    def _sso(self):
        want = STATE.cfg.get("sso_token")
        got = self.headers.get("x-amz-sso_bearer_token")
        if not got or (want is not None and not hmac.compare_digest(got.encode(), want.encode())):
            return self._reply(401, {"message": "Session token not found or invalid"})
        q = parse_qs(self.query)
        acct, role = q.get("account_id", [""])[0], q.get("role_name", [""])[0]
        if (acct != STATE.cfg.get("sso_account_id", "123456789012")
                or role != STATE.cfg.get("sso_role_name", "ReadWrite")):
            return self._reply(403, {"message": "No access"})
        if STATE.should_fail("sso"):
            return self._reply(500, {"message": "An unknown error occurred"})
        idx, c, exp = STATE.hand_out()
        self._reply(200, {"roleCredentials": {
            "accessKeyId": c["AccessKeyId"], "secretAccessKey": c["SecretAccessKey"],
            "sessionToken": c.get("Token", ""), "expiration": exp * 1000}}, handed=idx)


def main():
    global STATE
    ap = argparse.ArgumentParser(description="AWS credential endpoints emulator")
    ap.add_argument("--config", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    with open(args.config, encoding="utf-8") as f:
        cfg = json.load(f)
    if not cfg.get("credentials"):
        sys.exit("config: 'credentials' must be a non-empty list")  # stderr, exit 1
    STATE = State(cfg, args.log, args.verbose)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.block_on_close = True, False  # never wait on idle conns
    if not args.verbose:  # socketserver prints tracebacks (e.g. reset connections) to stderr
        server.handle_error = lambda request, client_address: None

    def watchdog():  # the test process holds our stdin; EOF means "stop"
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        server.shutdown()

    threading.Thread(target=watchdog, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if args.verbose:
            sys.stderr.write("endpoints.py: stdin closed, exiting\n")


if __name__ == "__main__":
    main()
