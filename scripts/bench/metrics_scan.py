#!/usr/bin/env python3
"""How long one user's metrics take when the database holds a million invocations of others.

Usage: metrics_scan.py --kindling A [--kindling B] [--others 1000000] [--rounds 50]

For each binary: a server where `alice` owns `mine` with 200 invocations, then (server stopped)
`--others` invocation records of another user spread over the last 24 hours, written straight
into its database. Both servers then run side by side and alice's requests alternate between
them; the table gives each request's median and 95th percentile, and the ratio of the medians.
Retention is switched off where a build has it, so that both see the same rows.
"""
import argparse
import os
import random
import sqlite3
import statistics
import time
import uuid

from kindling_bench import Server, label

ECHO = "def handler(event, context):\n    return event\n"
REQUESTS = [
    "/metrics/functions/mine?window=24h",
    "/metrics/summary?window=24h",
    "/metrics/functions/mine/timeseries?window=24h",
    "/metrics/activity?window=24h&buckets=24",
    "/invocations?function=mine&limit=50",
]
NO_RETENTION = {"KINDLING_RETENTION__MAX_INVOCATIONS": "0"}


def add_others(data_dir, count):
    now_ms = int(time.time() * 1000)
    rnd = random.Random(7)
    db = sqlite3.connect(os.path.join(data_dir, "kindling.db"))
    rows = ((str(uuid.UUID(int=rnd.getrandbits(128))), "f-other-%d" % (i % 20), "other%d" % (i % 20),
             "someone-else", 1, "sandbox", "warm", "success" if i % 17 else "error", "1", None,
             "log line\n", now_ms - rnd.randrange(24 * 3600 * 1000), rnd.random() * 5, None,
             8 << 20, 0.3) for i in range(count))
    db.executemany(
        "INSERT INTO invocations (id, function_id, function_name, owner, version, runtime, start,"
        " status, result, error, logs, started_at, duration_ms, init_ms, peak_memory_bytes,"
        " cpu_time_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def prepare(binary, others):
    server = Server(binary, optional_env=NO_RETENTION)
    alice = server.user("alice")
    server.must("POST", "/functions", {"name": "mine", "language": "python", "code": ECHO}, alice)
    for i in range(200):
        server.must("POST", "/functions/mine/invoke", {"i": i}, alice)
    server.stop()
    add_others(server.data_dir, others)
    server = Server(binary, data_dir=server.data_dir, optional_env=NO_RETENTION)
    login = server.must("POST", "/auth/login", {"username": "alice", "password": "alice-password-1"},
                        token=False)
    return server, login["token"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kindling", action="append", required=True)
    parser.add_argument("--others", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    servers = [prepare(binary, args.others) for binary in args.kindling]
    times = {(b, r): [] for b in args.kindling for r in REQUESTS}
    try:
        for _ in range(args.rounds):
            for request in REQUESTS:
                for binary, (server, token) in zip(args.kindling, servers):
                    began = time.perf_counter()
                    status, answer = server.call("GET", request, token=token)
                    elapsed = time.perf_counter() - began
                    if status != 200:
                        raise RuntimeError("%s: %s %s" % (request, status, answer))
                    times[(binary, request)].append(elapsed * 1000)
    finally:
        for server, _ in servers:
            server.stop()
            server.remove()
    print("%d invocation records of another user; %d rounds, alternating.\n" % (args.others, args.rounds))
    print("| request | " + " | ".join("%s p50 / p95 (ms)" % label(b) for b in args.kindling)
          + (" | ratio of p50s |" if len(args.kindling) == 2 else " |"))
    print("|---|" + "---:|" * (len(args.kindling) + (len(args.kindling) == 2)))
    for request in REQUESTS:
        cells, medians = [], []
        for binary in args.kindling:
            values = sorted(times[(binary, request)])
            median = statistics.median(values)
            medians.append(median)
            cells.append("%.1f / %.1f" % (median, values[int(len(values) * 0.95) - 1]))
        ratio = " | %.2f" % (medians[1] / medians[0]) if len(medians) == 2 else ""
        print("| `%s` | %s%s |" % (request, " | ".join(cells), ratio))


if __name__ == "__main__":
    main()
