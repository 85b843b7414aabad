#!/usr/bin/env python3
"""System calls and context switches of the server per warm invocation, A against B: steadier
than milliseconds on a shared machine.

Usage: syscalls.py A [B ...]   (paths of kindling binaries; needs strace)

For each binary, an ordinary user's echo function, warmed; then, alternating between the
binaries, 1,000 invocations counting the server's context switches (/proc, no tracer attached)
and 1,000 more under `strace -f -c` counting its system calls.
"""
import os
import signal
import subprocess
import sys
import time

from kindling_bench import Server
ECHO = "def handler(event, context):\n    return event\n"
N = 1000
def ctx(pid):
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            for line in open("/proc/%d/task/%s/status" % (pid, t)):
                if "ctxt_switches" in line: total += int(line.split()[1])
        except FileNotFoundError: pass
    return total
servers = {}
for b in sys.argv[1:]:
    s = Server(b); tok = s.user("alice")
    s.must("POST", "/functions", {"name": "echo", "language": "python", "code": ECHO}, tok)
    for _ in range(100): s.must("POST", "/functions/echo/invoke", {"n": 1}, tok)
    servers[b] = (s, tok)
for rnd in range(2):
    for b, (s, tok) in servers.items():
        c0 = ctx(s.process.pid)
        for _ in range(N): s.call("POST", "/functions/echo/invoke", {"n": 1}, token=tok)
        switches = (ctx(s.process.pid) - c0) / N
        st = subprocess.Popen(["strace", "-f", "-c", "-q", "-p", str(s.process.pid)], stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        for _ in range(N): s.call("POST", "/functions/echo/invoke", {"n": 1}, token=tok)
        time.sleep(0.3)
        st.send_signal(signal.SIGINT); out = st.communicate()[1]
        total = [l for l in out.splitlines() if l.strip().endswith("total")]
        calls = int(total[0].split()[3]) if total else -1
        print("round %d %s: %.1f context switches, %.1f syscalls per warm invocation" % (rnd + 1, os.path.basename(b), switches, calls / N), flush=True)
for s, _ in servers.values(): s.stop(); s.remove()
