#!/usr/bin/env python3
"""What the metrics cost once retention has rolled a week of invocations up into per-minute
figures (a build with retention only).

Usage: rollups.py --kindling target/release/kindling [--records 1000000] [--functions 10]

`alice` owns --functions functions; --records invocation records of hers, spread over the last
7 days, are written straight into the database; the server is then restarted keeping one
record (`retention.max_invocations = 1`), so that retention rolls them all up. The table gives
the median time of alice's 7-day figures, read from the rollups.
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
    "/metrics/functions/f0?window=7d",
    "/metrics/summary?window=7d",
    "/metrics/timeseries?window=7d",
    "/metrics/activity?window=7d&buckets=24",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kindling", required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--functions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    server = Server(args.kindling)
    alice = server.user("alice")
    me = server.must("GET", "/auth/me", token=alice)["id"]
    ids = [server.must("POST", "/functions", {"name": "f%d" % i, "language": "python", "code": ECHO},
                       alice)["id"] for i in range(args.functions)]
    server.stop()
    now_ms, rnd = int(time.time() * 1000), random.Random(3)
    db = sqlite3.connect(os.path.join(server.data_dir, "kindling.db"))
    db.executemany(
        "INSERT INTO invocations (id, function_id, function_name, owner, version, runtime, start,"
        " status, result, error, logs, started_at, duration_ms, init_ms, peak_memory_bytes,"
        " cpu_time_ms) VALUES (?, ?, ?, ?, 1, 'sandbox', 'warm', ?, '1', NULL, '', ?, ?, NULL,"
        " 8388608, 0.3)",
        ((str(uuid.UUID(int=rnd.getrandbits(128))), ids[i % len(ids)], "f%d" % (i % len(ids)), me,
          "success" if i % 13 else "error", now_ms - rnd.randrange(7 * 24 * 3600 * 1000),
          rnd.random() * 5) for i in range(args.records)))
    db.commit()
    db.close()
    began = time.time()
    server = Server(args.kindling, data_dir=server.data_dir,
                    env={"KINDLING_RETENTION__MAX_INVOCATIONS": "1"})
    while len(server.must("GET", "/invocations?limit=10", token=alice)) > 1:
        time.sleep(0.5)
    rolled = time.time() - began
    db = sqlite3.connect(os.path.join(server.data_dir, "kindling.db"))
    minutes = db.execute("SELECT COUNT(*) FROM invocation_minutes").fetchone()[0]
    db.close()
    times = {r: [] for r in REQUESTS}
    for _ in range(args.rounds):
        for request in REQUESTS:
            began = time.perf_counter()
            status, answer = server.call("GET", request, token=alice)
            if status != 200:
                raise RuntimeError("%s: %s %s" % (request, status, answer))
            times[request].append((time.perf_counter() - began) * 1000)
    total = server.must("GET", "/metrics/summary?window=all", token=alice)["totals"]["invocations"]
    server.stop()
    server.remove()
    print("%s: %d records of %d functions over 7 days rolled up into %d per-minute rows in %.0f s "
          "(start-up included); alice's summary over all time counts %d of them.\n" % (
              label(args.kindling), args.records, args.functions, minutes, rolled, total))
    print("| request | p50 (ms) | max (ms) |")
    print("|---|---:|---:|")
    for request in REQUESTS:
        print("| `%s` | %.0f | %.0f |" % (request, statistics.median(times[request]), max(times[request])))


if __name__ == "__main__":
    main()
