"""Shared by the benchmarks in this directory: start a `kindling serve` binary on a fresh data
dir, talk to its API over one keep-alive connection, read its CPU time, stop it.

Standard library only, so that any two builds (e.g. `main` and a change) can be compared on the
same machine in one run: every benchmark here takes `--kindling A [--kindling B ...]`.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `kindling serve` process with its own data dir (removed by `stop`)."""

    def __init__(self, binary, env=None, data_dir=None, optional_env=None):
        """`optional_env` holds settings that older builds may not know: a server that does not
        start with them is started without."""
        if optional_env:
            try:
                self.__init__(binary, dict(env or {}, **optional_env), data_dir)
                return
            except RuntimeError:
                pass
        self.binary = binary
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="kindling-bench-")
        self.port = free_port()
        environment = dict(os.environ, KINDLING_LOG="warn", **(env or {}))
        self.log = open(os.path.join(tempfile.gettempdir(), "kindling-bench-%d.log" % self.port), "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:%d" % self.port],
            env=environment, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                if self.call("GET", "/health", token=False)[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError("%s did not start (log: %s)" % (binary, self.log.name))
            time.sleep(0.05)
        with open(os.path.join(self.data_dir, "admin-token")) as f:
            self.token = f.read().strip()
        self.connection = None

    def call(self, method, path, body=None, token=True, headers=None):
        """(status, parsed JSON or text) over a kept-alive connection."""
        if getattr(self, "connection", None) is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        all_headers = dict(headers or {})
        if token is True:
            all_headers["Authorization"] = "Bearer " + self.token
        elif token:
            all_headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        try:
            self.connection.request(method, path, data, all_headers)
            response = self.connection.getresponse()
            text = response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = None
            raise
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text.decode("utf-8", "replace")

    def must(self, method, path, body=None, token=True):
        status, answer = self.call(method, path, body, token)
        if status >= 300:
            raise RuntimeError("%s %s: %s %s" % (method, path, status, answer))
        return answer

    def user(self, name):
        """Registers a user and returns their token."""
        password = name + "-password-1"
        self.must("POST", "/auth/register", {"username": name, "password": password})
        return self.must("POST", "/auth/login", {"username": name, "password": password},
                         token=False)["token"]

    def cpu_seconds(self):
        """CPU time the server's threads have used, to the nanosecond (each thread's schedstat;
        /proc/PID/stat counts in 10 ms ticks). A thread that exits between two readings takes
        its time with it: compare readings over spans where the server's threads stay."""
        total = 0
        task_dir = "/proc/%d/task" % self.process.pid
        for task in os.listdir(task_dir):
            try:
                with open(os.path.join(task_dir, task, "schedstat")) as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass
        return total / 1e9

    def stop(self):
        """SIGTERM, as an operator would; waits for the graceful shutdown."""
        if self.connection is not None:
            self.connection.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def remove(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)


def label(binary):
    """A short name for a binary in a report."""
    return os.path.relpath(binary) if len(binary) > 40 else binary
