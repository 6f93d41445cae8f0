"""10,000 server-side copies spread by Dask over a local cluster, each worker with one warm serve.

Reads {"bin", "endpoint", "bucket", "access_key_id", "secret_access_key", "count", "workdir"} as
JSON on stdin. Puts `count` small objects (through one serve), copies them all to `cluster/`
through a `distributed.LocalCluster` of two worker processes (each holding one
`s3-connector serve`), checks every id was answered once and every copy is exact (boto3 lists
both prefixes and compares ETags), then makes the same copies to `single/` through one serve
alone, for comparison. A transcript goes to stderr, a JSON summary to stdout; the Rust test
(tests/cluster.rs) asserts on it. Throughputs are reported, not asserted.
"""

import collections
import json
import os
import sys
import time

import boto3
from botocore.config import Config
from distributed import Client, LocalCluster

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bulk_copy import ServeClient, ServePlugin, fan_out  # noqa: E402

# Read in main(): Dask's worker processes import this module again (spawn), without stdin.
ARGS: dict = {}
BUCKET, COUNT, CONNECTION = "", 0, {}


def say(text):
    print(text, file=sys.stderr, flush=True)


def copies(prefix):
    return [
        {
            "id": f"{prefix}-{i}",
            "operation": "copy_object",
            "connection": CONNECTION,
            "input": {"Bucket": BUCKET, "Key": f"{prefix}/{i:05}", "x-amz-copy-source": f"{BUCKET}/src/{i:05}"},
        }
        for i in range(COUNT)
    ]


def etags(s3, prefix):
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            found[o["Key"].split("/", 1)[1]] = o["ETag"]
    return found


def check(responses, prefix):
    """Each id answered once, all ok."""
    ids = collections.Counter(r.get("id") for r in responses)
    expected = {f"{prefix}-{i}" for i in range(COUNT)}
    return {
        "answered": len(responses),
        "each_once": set(ids) == expected and all(n == 1 for n in ids.values()),
        "failed": [r for r in responses if not r.get("ok")][:5],
    }


def main():
    global BUCKET, COUNT, CONNECTION
    ARGS.update(json.load(sys.stdin))
    BUCKET, COUNT = ARGS["bucket"], ARGS["count"]
    CONNECTION = {
        "endpoint": ARGS["endpoint"],
        "region": "us-east-1",
        "access_key_id": ARGS["access_key_id"],
        "secret_access_key": ARGS["secret_access_key"],
        "addressing": "path",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=ARGS["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=ARGS["access_key_id"],
        aws_secret_access_key=ARGS["secret_access_key"],
        config=Config(s3={"addressing_style": "path"}),
    )
    summary = {"count": COUNT}

    say(f"$ {COUNT} source objects, put through one s3-connector serve")
    serve = ServeClient(ARGS["bin"])
    puts = serve.run_many(
        {"id": f"put-{i}", "operation": "put_object", "connection": CONNECTION,
         "input": {"Bucket": BUCKET, "Key": f"src/{i:05}", "Body": f"object {i}\n" * (1 + i % 7)}}
        for i in range(COUNT)
    )
    assert all(p["ok"] for p in puts), [p for p in puts if not p["ok"]][:3]

    say("$ LocalCluster(n_workers=2, threads_per_worker=2, processes=True) on 127.0.0.1")
    with LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        local_directory=ARGS["workdir"],
    ) as cluster, Client(cluster) as client:
        client.register_plugin(ServePlugin(ARGS["bin"]))
        workers = sorted(client.scheduler_info()["workers"])
        say(f"  workers: {', '.join(workers)} (one s3-connector serve each)")
        start = time.perf_counter()
        done = fan_out(client, copies("cluster"), batch=250)
        cluster_seconds = time.perf_counter() - start
    say(f"  {len(done['responses'])} copies in {cluster_seconds:.2f} s "
        f"({COUNT / cluster_seconds:,.0f}/s); per worker: {done['per_worker']}")
    summary["cluster"] = {
        **check(done["responses"], "cluster"),
        "workers": len(workers),
        "per_worker": sorted(done["per_worker"].values()),
        "seconds": round(cluster_seconds, 3),
        "per_second": round(COUNT / cluster_seconds, 1),
    }

    say("$ the same copies through one s3-connector serve alone")
    start = time.perf_counter()
    single = serve.run_many(copies("single"))
    single_seconds = time.perf_counter() - start
    summary["serve_exit"] = serve.close()
    say(f"  {len(single)} copies in {single_seconds:.2f} s ({COUNT / single_seconds:,.0f}/s)")
    summary["single"] = {
        **check(single, "single"),
        "seconds": round(single_seconds, 3),
        "per_second": round(COUNT / single_seconds, 1),
    }
    summary["ratio"] = round(single_seconds / cluster_seconds, 2)

    say("$ boto3 lists src/, cluster/ and single/ and compares ETags")
    src, by_cluster, by_single = etags(s3, "src"), etags(s3, "cluster"), etags(s3, "single")
    summary["exact"] = {
        "sources": len(src),
        "cluster": len(by_cluster),
        "single": len(by_single),
        "cluster_etags_equal": by_cluster == src,
        "single_etags_equal": by_single == src,
    }
    say(f"  {json.dumps(summary['exact'])}")
    say(f"  cluster of 2 workers: {summary['ratio']}x one serve's throughput")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
