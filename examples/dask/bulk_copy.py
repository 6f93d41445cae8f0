"""Bulk S3 work spread over a Dask cluster, each worker holding one warm `s3-connector serve`.

Dask's distributed scheduler does the fan-out: a list of request envelopes (copies, deletes,
tag updates: any operation of the connector) is cut into batches, the batches become tasks,
and the scheduler spreads them over its workers. On each worker a plugin starts one
`s3-connector serve` process when the worker starts and stops it when the worker closes, so a
task pays no process start: it writes its batch as JSON lines to that process and reads the
responses back by `id` (docs/protocol.md, "Serve mode"). One serve per worker runs up to
`--concurrency` requests at once over one HTTP connection pool; the cluster multiplies that by
the number of workers.

    from distributed import Client
    from bulk_copy import ServePlugin, fan_out

    client = Client("tcp://scheduler:8786")           # any Dask cluster
    client.register_plugin(ServePlugin("s3-connector"))
    responses = fan_out(client, envelopes, batch=250)   # {id: response}, each id once

Envelopes carry their own `id` (unique) and their `connection`, or leave it out and let the
connector find credentials on the worker (environment, profile, the worker's role).
"""

import itertools
import json
import os
import subprocess
import threading
from concurrent.futures import Future
from typing import Any, Iterable, Optional

from distributed import WorkerPlugin, get_worker


class ServeClient:
    """One `s3-connector serve` process, shared by the threads of one process.

    `request()` may be called from any thread: lines are written under a lock, and a reader
    thread hands each response to the future waiting for its `id`.
    """

    def __init__(self, binary: str, concurrency: int = 32, env: Optional[dict] = None):
        self._proc = subprocess.Popen(
            [binary, "serve", "--concurrency", str(concurrency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env={**os.environ, **(env or {})},
        )
        self._write = threading.Lock()
        self._waiting: dict[str, Future] = {}
        self._waiting_lock = threading.Lock()
        self._ids = itertools.count()
        self._reader = threading.Thread(target=self._read, name="s3-connector-serve", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            response = json.loads(line)
            if "event" in response:  # progress events (only with --progress)
                continue
            with self._waiting_lock:
                future = self._waiting.pop(json.dumps(response.get("id")), None)
            if future is not None:
                future.set_result(response)
        # The process ended: whatever still waits will get no answer.
        with self._waiting_lock:
            left, self._waiting = self._waiting, {}
        for future in left.values():
            future.set_exception(RuntimeError("s3-connector serve exited before answering"))

    def submit(self, envelope: dict[str, Any]) -> Future:
        """Sends one request; its future resolves to the response envelope."""
        envelope = dict(envelope)
        envelope.setdefault("id", f"auto-{next(self._ids)}")
        future: Future = Future()
        with self._waiting_lock:
            key = json.dumps(envelope["id"])
            if key in self._waiting:
                raise ValueError(f"id {envelope['id']!r} is already in flight")
            self._waiting[key] = future
        with self._write:
            self._proc.stdin.write(json.dumps(envelope) + "\n")
            self._proc.stdin.flush()
        return future

    def run_many(self, envelopes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Sends every request at once (the serve process bounds concurrency) and waits."""
        futures = [self.submit(e) for e in envelopes]
        return [f.result() for f in futures]

    def close(self) -> int:
        """Closes stdin: requests in flight finish, then serve exits (0)."""
        with self._write:
            if not self._proc.stdin.closed:
                self._proc.stdin.close()
        code = self._proc.wait()
        self._reader.join()
        return code


class ServePlugin(WorkerPlugin):
    """Starts one `s3-connector serve` per worker, kept warm for every task it runs."""

    name = "s3-connector-serve"

    def __init__(self, binary: str, concurrency: int = 32, env: Optional[dict] = None):
        self.binary, self.concurrency, self.env = binary, concurrency, env

    def setup(self, worker) -> None:
        worker.s3_connector_serve = ServeClient(self.binary, self.concurrency, self.env)

    def teardown(self, worker) -> None:
        serve = getattr(worker, "s3_connector_serve", None)
        if serve is not None:
            serve.close()


def run_batch(envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    """A task: one batch through this worker's serve. Returns the responses and the worker."""
    worker = get_worker()
    responses = worker.s3_connector_serve.run_many(envelopes)
    return {"worker": worker.address, "responses": responses}


def fan_out(client, envelopes: list[dict[str, Any]], batch: int = 250) -> dict[str, Any]:
    """Spreads `envelopes` (each with a unique `id`) over the cluster in batches.

    Returns {"responses": [...every response...], "per_worker": {address: requests}}.
    """
    batches = [envelopes[i : i + batch] for i in range(0, len(envelopes), batch)]
    # pure=False: two equal batches are still two tasks.
    futures = client.map(run_batch, batches, pure=False)
    responses, per_worker = [], {}
    for done in client.gather(futures):
        responses.extend(done["responses"])
        per_worker[done["worker"]] = per_worker.get(done["worker"], 0) + len(done["responses"])
    return {"responses": responses, "per_worker": per_worker}
