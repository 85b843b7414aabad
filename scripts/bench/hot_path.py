#!/usr/bin/env python3
"""Warm invocation cost, A against B: latency over one keep-alive connection and the engine's
CPU time per invocation, in alternating blocks so that both see the same machine.

Usage: hot_path.py --kindling A --kindling B [--blocks 20] [--per-block 250] [--user]

The function is an echo; with --user it belongs to an ordinary user (held to quotas, which the
administrator is not).
"""
import argparse
import statistics
import time

from kindling_bench import Server, label

ECHO = "def handler(event, context):\n    return event\n"


def prepare(binary, as_user):
    server = Server(binary)
    token = server.user("alice") if as_user else server.token
    server.must("POST", "/functions", {"name": "echo", "language": "python", "code": ECHO}, token)
    for _ in range(200):
        server.must("POST", "/functions/echo/invoke", {"n": 1}, token)
    return server, token


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kindling", action="append", required=True)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--per-block", type=int, default=250)
    parser.add_argument("--user", action="store_true")
    args = parser.parse_args()
    servers = [prepare(binary, args.user) for binary in args.kindling]
    latencies = {b: [] for b in args.kindling}
    cpu = {b: [] for b in args.kindling}
    try:
        for _ in range(args.blocks):
            for binary, (server, token) in zip(args.kindling, servers):
                before = server.cpu_seconds()
                for _ in range(args.per_block):
                    began = time.perf_counter()
                    status, _ = server.call("POST", "/functions/echo/invoke", {"n": 1}, token=token)
                    latencies[binary].append((time.perf_counter() - began) * 1e6)
                    if status != 200:
                        raise RuntimeError("status %s" % status)
                cpu[binary].append((server.cpu_seconds() - before) / args.per_block * 1e6)
    finally:
        for server, _ in servers:
            server.stop()
            server.remove()
    print("%d blocks of %d warm invocations each, alternating%s.\n" % (
        args.blocks, args.per_block, ", as an ordinary user" if args.user else ""))
    print("| binary | latency p50 (µs) | p95 (µs) | engine CPU per invocation, median of blocks (µs) |")
    print("|---|---:|---:|---:|")
    rows = []
    for binary in args.kindling:
        values = sorted(latencies[binary])
        row = (statistics.median(values), values[int(len(values) * 0.95) - 1], statistics.median(cpu[binary]))
        rows.append(row)
        print("| %s | %.0f | %.0f | %.0f |" % ((label(binary),) + row))
    if len(rows) == 2:
        print("\nB − A: p50 %+.0f µs (ratio %.3f); engine CPU %+.0f µs (ratio %.3f)" % (
            rows[1][0] - rows[0][0], rows[1][0] / rows[0][0], rows[1][2] - rows[0][2], rows[1][2] / rows[0][2]))


if __name__ == "__main__":
    main()
