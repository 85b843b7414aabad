"""Kindling's Python agent: loads one function and serves its invocations (docs/protocol.md).

The engine starts it as `python3 -u -c <this source>` with requests on fd 4 and replies on fd 3;
fds 1 and 2 carry the function's logs and fd 0 is /dev/null.
"""
import ast
import io
import json
import linecache
import os
import select
import sys
import time
import traceback
import types

REQUESTS = 4
REPLIES = 3
FILENAME = "/var/task/function.py"
MODULE_NAME = "function"
MAX_RESULT = 6 * 1024 * 1024
MAX_FRAME = 8 * 1024 * 1024
# inspect's code flags, without paying for importing inspect.
CO_VARARGS = 0x04
CO_COROUTINE = 0x80
AGENT_FILE = sys._getframe().f_code.co_filename
# Nested scopes: a name bound inside them is not bound at the module's top level.
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
          ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)

# Built once: json.dumps with non-default options builds a new encoder on every call.
encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


class Context:
    """The Lambda-style context; the function's fields are set once, at load."""

    function_name = ""
    function_version = ""
    memory_limit_in_mb = 0

    def __init__(self, request_id, deadline_ms):
        self.aws_request_id = self.request_id = self.invocation_id = request_id
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


class Capture(io.BytesIO):
    """A script's stdout; its content outlives the script closing sys.stdout."""

    def close(self):
        pass


_loop = None


def event_loop():
    """The agent's one asyncio loop, created on first use: importing asyncio takes ~25 ms."""
    global _loop
    if _loop is None or _loop.is_closed():
        import asyncio
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select((), (fd,), ())


def reply(frame):
    # "replace": a lone surrogate in user text must not make the frame invalid UTF-8.
    return (encode(frame) + "\n").encode("utf-8", "replace")


def protocol_error(message):
    os.write(2, ("kindling agent: %s\n" % message).encode("utf-8", "replace"))
    os._exit(70)


def reap_children():
    """Collect exited children: in the sandbox the agent is PID 1 and inherits every orphan."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def exit_status(exc):
    """The exit status SystemExit would give the interpreter; like CPython, prints a non-int code."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def stack_lines(exc):
    """The traceback from the first frame of the function's code on, one string per line."""
    tb = exc.__traceback__
    first = tb
    while first is not None and first.tb_frame.f_code.co_filename != FILENAME:
        first = first.tb_next
    if first is None:  # no frame of the function's file (e.g. a builtin raised): drop only ours
        first = tb
        while first is not None and first.tb_frame.f_code.co_filename == AGENT_FILE:
            first = first.tb_next
    lines = traceback.format_tb(first)
    if isinstance(exc, SyntaxError):  # file, line and caret of the bad syntax
        lines += traceback.format_exception_only(type(exc), exc)[:-1]
    return "".join(lines).splitlines()


def error_object(error_type, message, trace=()):
    return {"errorType": error_type, "errorMessage": message, "stackTrace": list(trace)}


def error_info(exc):
    if isinstance(exc, SystemExit):
        return error_object("Runtime.ExitError", "exit status %d" % exit_status(exc), stack_lines(exc))
    try:
        message = str(exc)
    except Exception:
        message = "<%s: str() failed>" % type(exc).__name__
    return error_object(type(exc).__name__, message, stack_lines(exc))


def error_frame(request_id, error):
    return reply({"type": "result", "id": request_id, "ok": False, "error": error})


def too_large(what, size):
    return error_object("Runtime.ResultTooLarge",
                        "%s is %d bytes, more than the %d-byte limit" % (what, size, MAX_RESULT))


def result_frame(request_id, value):
    try:
        body = encode(value).encode("utf-8")
    except Exception as exc:  # TypeError, ValueError (NaN, circular, lone surrogate), RecursionError
        return error_frame(request_id, error_object(
            "Runtime.SerializationError", "result is not JSON-serialisable: %s" % exc))
    if len(body) > MAX_RESULT:
        return error_frame(request_id, too_large("the result", len(body)))
    return b'{"type":"result","id":%s,"ok":true,"value":%s}\n' % (encode(request_id).encode(), body)


def handler_server(handler, nargs):
    def serve(req):
        request_id = req["id"]
        try:
            if nargs == 2:
                value = handler(req.get("event"), Context(request_id, req.get("deadline_ms") or 0))
            elif nargs == 1:
                value = handler(req.get("event"))
            else:
                value = handler()
            if hasattr(value, "__await__"):
                value = event_loop().run_until_complete(value)
        except BaseException as exc:  # the agent outlives SystemExit and KeyboardInterrupt too
            return error_frame(request_id, error_info(exc))
        return result_frame(request_id, value)

    return serve


def script_server(code, argv0):
    def serve(req):
        request_id = req["id"]
        main = types.ModuleType("__main__")
        main.__file__ = FILENAME
        main.event = req.get("event")
        main.context = Context(request_id, req.get("deadline_ms") or 0)
        sys.argv = [argv0] + [str(arg) for arg in req.get("args") or ()]
        captured = Capture()
        saved = sys.stdout, sys.modules["__main__"]
        sys.stdout = io.TextIOWrapper(captured, "utf-8", "backslashreplace", "\n", write_through=True)
        sys.modules["__main__"] = main
        error = None
        try:
            exec(code, main.__dict__)
        except BaseException as exc:
            if not (isinstance(exc, SystemExit) and exc.code in (None, 0)):
                error = error_info(exc)
        finally:
            sys.stdout, sys.modules["__main__"] = saved
        output = captured.getvalue()
        if error is not None:
            write_all(2, output)  # what it printed before failing belongs in its logs
            return error_frame(request_id, error)
        if len(output) > MAX_RESULT:
            return error_frame(request_id, too_large("the script's output", len(output)))
        frame = reply({"type": "result", "id": request_id, "ok": True,
                       "stdout": output.decode("utf-8", "replace")})
        if len(frame) > MAX_FRAME:
            return error_frame(request_id, too_large("the script's JSON-escaped output", len(frame)))
        return frame

    return serve


def binds_at_top_level(tree, name):
    """Whether the module binds `name` in its own scope (def, class, assignment, import, ...)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, SCOPES):
            if getattr(node, "name", None) == name:
                return True
            continue
        if isinstance(node, ast.Name):
            if node.id == name and isinstance(node.ctx, ast.Store):
                return True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name.partition(".")[0]) == name for alias in node.names):
                return True
        stack.extend(ast.iter_child_nodes(node))
    return False


def handler_arity(handler):
    """How many of (event, context) the handler takes, from its positional parameters."""
    func, bound = handler, 0
    if isinstance(handler, types.MethodType):
        func, bound = handler.__func__, 1
    if isinstance(func, types.FunctionType):
        code = func.__code__
        if code.co_flags & CO_VARARGS:
            return 2
        return max(0, min(2, code.co_argcount - bound))
    import inspect  # only for callable objects, partials and builtins
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 2
    return min(2, sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params))


def load(req):
    """Specialises the instance; returns the reply and the invocation server (None on failure)."""
    try:
        os.environ.update(req.get("env") or {})
        function = req.get("function") or {}
        Context.function_name = str(function.get("name", ""))
        Context.function_version = str(function.get("version", ""))
        Context.memory_limit_in_mb = int(function.get("memory_mb", 0))
        sys.argv = [Context.function_name]
        name = req.get("handler") or "handler"
        source = req["code"]
        # Tracebacks show the function's source lines although no file holds it.
        linecache.cache[FILENAME] = (len(source), None, source.splitlines(True), FILENAME)
        tree = compile(source, FILENAME, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        code = compile(tree, FILENAME, "exec", dont_inherit=True)
        if not binds_at_top_level(tree, name):
            return reply({"type": "loaded", "mode": "script"}), script_server(code, Context.function_name)
        module = types.ModuleType(MODULE_NAME)
        module.__file__ = FILENAME
        sys.modules[MODULE_NAME] = module
        exec(code, module.__dict__)
        handler = module.__dict__.get(name)
        if not callable(handler):
            error = error_object("Runtime.HandlerNotFound",
                                 "%s does not define a callable %r" % (FILENAME, name))
            return reply({"type": "load_failed", "error": error}), None
        nargs = handler_arity(handler)
        handler_code = getattr(getattr(handler, "__func__", handler), "__code__", None)
        if handler_code is not None and handler_code.co_flags & CO_COROUTINE:
            event_loop()  # import asyncio during init rather than in the first invocation
    except BaseException as exc:
        return reply({"type": "load_failed", "error": error_info(exc)}), None
    return reply({"type": "loaded", "mode": "handler"}), handler_server(handler, nargs)


def main():
    # User code's child processes must not inherit the protocol channels.
    os.set_inheritable(REQUESTS, False)
    os.set_inheritable(REPLIES, False)
    requests = os.fdopen(REQUESTS, "rb", buffering=1 << 16)
    version = "%d.%d.%d" % sys.version_info[:3]
    write_all(REPLIES, reply({"type": "hello", "language": "python", "version": version}))
    serve = None
    log_end = b""
    agent = os.getpid()
    for line in requests:
        try:
            req = json.loads(line)
            kind = req["type"]
        except Exception as exc:
            protocol_error("unreadable frame: %s" % exc)
        if kind == "invoke" and serve is not None:
            frame = serve(req)
        elif kind == "load" and serve is None:
            frame, serve = load(req)
            log_end = str(req.get("log_end") or "").encode()
        else:
            protocol_error("unexpected %r frame" % (kind,))
        if os.getpid() != agent:  # a child the function forked came back here: only one may answer
            os._exit(0)
        if kind == "invoke" and log_end:
            try:
                write_all(2, log_end)  # everything the function printed comes before this
            except OSError:
                pass
        write_all(REPLIES, frame)
        reap_children()
    os._exit(0)


main()
