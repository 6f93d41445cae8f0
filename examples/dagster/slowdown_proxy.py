"""A loopback proxy in front of an S3 server that refuses its first N requests with `503 SlowDown`.

It exists to give the example's retry scenario a real transient failure: S3 answers
`503 SlowDown` when a prefix is hammered, and the connector reports it as
`{"kind": "service", "code": "SlowDown", "status": 503, "retryable": true}`.

- The first `fail_first` connections each get one `503` with S3's XML error body, then are
  closed. The request is read to its end first (its `Content-Length` body too, unless the
  client waits for `100 Continue`), so the client sees a clean reply, not a reset.
- Every later connection is forwarded byte for byte to the server, both ways. `Host` is
  forwarded unchanged, so SigV4 still verifies: the client signs for the proxy's
  `127.0.0.1:PORT` and the server checks the signature against the `Host` it receives.

Each `s3-connector run` is one process with its own connection, and a refused connection is
closed after its one reply, so "first N connections" is "first N requests" here.

Standard library only; threads; listens on 127.0.0.1 only; `stop()` closes everything.
"""

from __future__ import annotations

import socket
import threading

SLOW_DOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>SLOWDOWNPROXY</RequestId></Error>"
)
# Bounds: a request head larger than this, or a peer silent for this long, ends the connection.
MAX_HEAD = 64 * 1024
IO_TIMEOUT = 30.0


class SlowDownProxy:
    def __init__(self, upstream_host: str, upstream_port: int, fail_first: int):
        self.upstream = (upstream_host, upstream_port)
        self.fail_first = fail_first
        self.refused = 0  # 503s sent
        self.forwarded = 0  # connections passed through
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # the accept loop checks for stop() this often
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._accept_loop, name="slowdown-proxy", daemon=True
        )
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "SlowDownProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for s in list(self._sockets):
                _close(s)
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> "SlowDownProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(IO_TIMEOUT)
            with self._lock:
                refuse = self.refused < self.fail_first
                if refuse:
                    self.refused += 1
                else:
                    self.forwarded += 1
                self._sockets.add(client)
            handler = self._refuse if refuse else self._forward
            t = threading.Thread(target=handler, args=(client,), daemon=True)
            self._threads.append(t)
            t.start()

    def _refuse(self, client: socket.socket) -> None:
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            header_text, _, body_start = head.partition(b"\r\n\r\n")
            headers = _headers(header_text)
            # Read the body before answering (unless the client waits for `100 Continue`, to
            # which a final status is a valid answer): replying mid-upload and closing would
            # reset the connection under the client, a network error instead of the 503.
            if "100-continue" not in headers.get("expect", "").lower():
                remaining = int(headers.get("content-length", "0") or 0) - len(body_start)
                while remaining > 0:
                    chunk = client.recv(min(remaining, 1 << 20))
                    if not chunk:
                        return
                    remaining -= len(chunk)
            method = header_text.split(b" ", 1)[0]
            body = b"" if method == b"HEAD" else SLOW_DOWN_BODY
            client.sendall(
                b"HTTP/1.1 503 Slow Down\r\n"
                b"Content-Type: application/xml\r\n"
                b"x-amz-request-id: SLOWDOWNPROXY\r\n"
                + f"Content-Length: {len(SLOW_DOWN_BODY)}\r\n".encode()
                + b"Connection: close\r\n\r\n"
                + body
            )
        except OSError:
            pass
        finally:
            self._done(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=IO_TIMEOUT)
        except OSError:
            self._done(client)
            return
        with self._lock:
            self._sockets.add(server)
        back = threading.Thread(target=_pump, args=(server, client), daemon=True)
        back.start()
        _pump(client, server)
        back.join(timeout=IO_TIMEOUT)
        self._done(server)
        self._done(client)

    def _done(self, s: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(s)
        _close(s)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copies src to dst until src ends; then ends dst's sending side."""
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            dst.sendall(chunk)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _close(s: socket.socket) -> None:
    try:
        s.close()
    except OSError:
        pass
