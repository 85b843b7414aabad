#!/usr/bin/env python3
"""What a function that floods its stderr costs the engine, and its neighbours.

Usage: log_flood.py --kindling A [--kindling B] [--seconds 10] [--floods 8] [--rounds 2]

For each binary, alternating: one invocation that writes 64 KiB blocks to fd 2 for --seconds,
and the CPU time the server process (the engine) used meanwhile, as a share of one core; then
another user's warm invocations of an echo function, their median alone and while --floods such
floods run at once.
"""
import argparse
import http.client
import json
import statistics
import threading
import time

from kindling_bench import Server, label

FLOOD = '''import os, time
def handler(event, context):
    block = (b"x" * 1023 + b"\\n") * 64
    end = time.time() + event["secs"]
    writes = 0
    while time.time() < end:
        os.write(2, block)
        writes += 1
    return writes
'''
ECHO = "def handler(event, context):\n    return event\n"


def invoke(server, token, function, event):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    connection.request("POST", "/functions/%s/invoke" % function, json.dumps(event),
                       {"Authorization": "Bearer " + token})
    answer = json.loads(connection.getresponse().read())
    connection.close()
    return answer


def prepare(binary):
    server = Server(binary)
    server.must("POST", "/functions", {"name": "flood", "language": "python", "code": FLOOD,
                                        "timeout": 600, "max_concurrency": 20})
    bob = server.user("bob")
    server.must("POST", "/functions", {"name": "echo", "language": "python", "code": ECHO}, bob)
    invoke(server, server.token, "flood", {"secs": 0.2})
    server.must("POST", "/functions/echo/invoke", {}, bob)
    return server, bob


def engine_share(server, seconds):
    """The engine's CPU over one flood, as a share of a core; and what the flood wrote."""
    before, began = server.cpu_seconds(), time.time()
    answer = invoke(server, server.token, "flood", {"secs": seconds})
    used, wall = server.cpu_seconds() - before, time.time() - began
    return used / wall, answer.get("result"), answer.get("status")


def neighbour_p50(server, bob, floods, seconds):
    """Median latency of bob's echo while `floods` floods run (0: alone)."""
    threads = [threading.Thread(target=invoke, args=(server, server.token, "flood", {"secs": seconds}))
               for _ in range(floods)]
    for thread in threads:
        thread.start()
    time.sleep(0.5 if floods else 0)
    latencies = []
    end = time.time() + (seconds - 1 if floods else 3)
    while time.time() < end:
        began = time.perf_counter()
        status, answer = server.call("POST", "/functions/echo/invoke", {}, token=bob)
        latencies.append((time.perf_counter() - began) * 1000)
        if status != 200:
            raise RuntimeError("echo: %s %s" % (status, answer))
    for thread in threads:
        thread.join()
    return statistics.median(latencies), len(latencies)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kindling", action="append", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--floods", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    servers = {binary: prepare(binary) for binary in args.kindling}
    try:
        print("| round | binary | engine CPU during one %gs flood (share of a core) | flood writes | status |" % args.seconds)
        print("|---:|---|---:|---:|---|")
        for round_ in range(args.rounds):
            for binary, (server, _) in servers.items():
                share, writes, status = engine_share(server, args.seconds)
                print("| %d | %s | %.1f %% | %s | %s |" % (round_ + 1, label(binary), share * 100, writes, status),
                      flush=True)
        print("\n| binary | another user's warm p50 alone | with %d floods |" % args.floods)
        print("|---|---:|---:|")
        for binary, (server, bob) in servers.items():
            alone, n_alone = neighbour_p50(server, bob, 0, args.seconds)
            flooded, n_flooded = neighbour_p50(server, bob, args.floods, args.seconds)
            print("| %s | %.2f ms (%d) | %.2f ms (%d) |" % (label(binary), alone, n_alone, flooded, n_flooded),
                  flush=True)
    finally:
        for server, _ in servers.values():
            server.stop()
            server.remove()


if __name__ == "__main__":
    main()
