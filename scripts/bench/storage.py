#!/usr/bin/env python3
"""Bytes the database grows by per invocation whose function prints ~60 KB of logs.

Usage: storage.py --kindling target/release/kindling [--kindling OTHER] [--invocations 2000]
                  [--bounded N]

For each binary: a fresh server, two functions — `chatty` prints 540 log lines such as a web
handler writes (timestamps, request ids, figures; different every invocation), `repeats` prints
the same 60 KB line block — then the database file's growth over the invocations, measured with
the server stopped (its WAL checkpointed). With --bounded N the binaries are also run with
`retention.max_invocations = N` (binaries that have retention) to show the file stays bounded.
"""
import argparse
import os

from kindling_bench import Server, label

CHATTY = r'''import random
def handler(event, context):
    rnd = random.Random(event["seed"])
    for i in range(540):
        print(f"2026-12-06T10:{i // 60 % 60:02d}:{i % 60:02d}.{rnd.randrange(1000):03d}Z INFO  "
              f"handler request_id={rnd.getrandbits(64):016x} item={rnd.randrange(100000)} "
              f"status={rnd.choice((200, 200, 200, 201, 404))} took_ms={rnd.random() * 50:.3f}")
    return event["seed"]
'''

REPEATS = r'''def handler(event, context):
    for i in range(600):
        print("GET /api/items 200 OK served from cache in 0.4 ms; nothing to report")
    return event["seed"]
'''


def database_bytes(data_dir):
    return os.path.getsize(os.path.join(data_dir, "kindling.db"))


def run(binary, function, code, invocations, env=None):
    server = Server(binary, env=env)
    server.must("POST", "/functions", {"name": function, "language": "python", "code": code})
    logs = len(server.must("POST", "/functions/%s/invoke" % function, {"seed": 0})["logs"])
    server.stop()
    before = database_bytes(server.data_dir)
    server = Server(binary, env=env, data_dir=server.data_dir)
    for seed in range(1, invocations + 1):
        status, answer = server.call("POST", "/functions/%s/invoke" % function, {"seed": seed})
        if status != 200 or answer["status"] != "success":
            raise RuntimeError("invocation failed: %s %s" % (status, answer))
    server.stop()
    after = database_bytes(server.data_dir)
    server.remove()
    return logs, before, after


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kindling", action="append", required=True)
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--bounded", type=int, default=0,
                        help="also run with retention.max_invocations = N")
    args = parser.parse_args()
    print("| binary | function | logs per invocation | invocations | database growth | bytes per invocation |")
    print("|---|---|---:|---:|---:|---:|")
    for function, code in (("chatty", CHATTY), ("repeats", REPEATS)):
        for binary in args.kindling:
            logs, before, after = run(binary, function, code, args.invocations)
            print("| %s | %s | %d | %d | %d | %.0f |" % (
                label(binary), function, logs, args.invocations, after - before,
                (after - before) / args.invocations), flush=True)
    if args.bounded:
        env = {"KINDLING_RETENTION__MAX_INVOCATIONS": str(args.bounded),
               "KINDLING_RETENTION__INTERVAL_SECS": "1"}
        print("\nWith retention.max_invocations = %d:\n" % args.bounded)
        print("| binary | invocations | database file after |")
        print("|---|---:|---:|")
        for binary in args.kindling:
            try:
                _, _, after = run(binary, "chatty", CHATTY, args.invocations, env)
            except RuntimeError as e:
                print("| %s | — | cannot run: %s |" % (label(binary), str(e)[:60]))
                continue
            print("| %s | %d | %d |" % (label(binary), args.invocations, after), flush=True)


if __name__ == "__main__":
    main()
