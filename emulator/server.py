"""HTTP plumbing: a threaded listener, a tiny regex router and the request log."""
from __future__ import annotations

import re
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .common import Headers, HttpError, Request, Response, json_response


class LoggedRequest:
    """One request as the emulator saw it (logged before auth); `status` is filled in after."""

    __slots__ = ("method", "path", "query", "query_all", "headers", "body", "status", "at")

    def __init__(self, method, path, query, query_all, headers, body):
        self.method, self.path, self.query, self.query_all = method, path, query, query_all
        self.headers, self.body, self.status = headers, body, None
        self.at = time.monotonic()   # arrival, for counting calls per rate-limit period

    def __repr__(self):
        return f"<{self.method} {self.path} {self.query} -> {self.status}>"


class RequestLog:
    """Thread-safe, list-like log. Iterating/indexing works on a snapshot."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items: list[LoggedRequest] = []

    def append(self, item):
        with self._lock:
            self._items.append(item)

    def clear(self):
        with self._lock:
            self._items.clear()

    def snapshot(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._items)

    def matching(self, path_contains: str = "", method: str | None = None) -> list[LoggedRequest]:
        """Requests whose path contains the string (and method, if given)."""
        return [r for r in self.snapshot()
                if path_contains in r.path and (method is None or r.method == method)]

    def count(self, path: str = "", method: str | None = None, status: int | None = None,
              within: float | None = None, exact: bool = False) -> int:
        """How many requests hit `path` (a substring, or the whole path with exact=True), optionally only those of
        `method`, answered `status` (429 to count refusals), or that arrived in the last `within` seconds."""
        since = None if within is None else time.monotonic() - within
        return sum(1 for r in self.snapshot()
                   if (r.path == path if exact else path in r.path) and (method is None or r.method == method)
                   and (status is None or r.status == status) and (since is None or r.at >= since))

    def __iter__(self):
        return iter(self.snapshot())

    def __len__(self):
        with self._lock:
            return len(self._items)

    def __getitem__(self, index):
        return self.snapshot()[index]

    def __repr__(self):
        return repr(self.snapshot())


class Router:
    """Maps (method, path regex) to handler(request) -> Response."""

    def __init__(self):
        self._routes = []

    def add(self, method: str, pattern: str, handler):
        self._routes.append((method, re.compile(pattern + r"\Z"), handler))

    def dispatch(self, req: Request) -> Response:
        path_matched = False
        for method, rx, handler in self._routes:
            m = rx.match(req.path)
            if not m:
                continue
            path_matched = True
            if method == req.method:
                req.params = m.groupdict()
                return handler(req)
        if path_matched:
            return json_response({"message": f"Method {req.method} not allowed on {req.path}"}, 405)
        return json_response({"message": f"No route for {req.method} {req.path}"}, 404)


class _QuietServer(ThreadingHTTPServer):
    """A client that drops its connection (its read timed out, or it gave up on a stalled body) is normal here."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Listener:
    """One ThreadingHTTPServer on 127.0.0.1 whose requests are handed to `app(request, log_entry)`."""

    def __init__(self, app, log: RequestLog, host="127.0.0.1", port=0):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"   # keep-alive: clients reuse connections across pages

            def setup(self):
                super().setup()
                with outer._conn_lock:
                    outer._conns.add(self.connection)

            def finish(self):
                with outer._conn_lock:
                    outer._conns.discard(self.connection)
                super().finish()

            def _handle(self):
                outer._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

            def log_message(self, format, *args):  # noqa: A002 - keep test output clean
                pass

        self._app = app
        self._log = log
        self._conns = set()             # open keep-alive connections, closed on stop()
        self._conn_lock = threading.Lock()
        self._stopped = threading.Event()   # releases handlers that hang or stall on purpose
        self._server = _QuietServer((host, port), Handler)
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"emulator{self.url}", daemon=True)
        self._thread.start()

    def stop(self):
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None
        # Idle keep-alive connections would otherwise park their handler threads forever.
        with self._conn_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _serve(self, h: BaseHTTPRequestHandler):
        parts = urlsplit(h.path)
        query_all = parse_qs(parts.query, keep_blank_values=True)
        query = {k: v[-1] for k, v in query_all.items()}
        headers = Headers(h.headers.items())
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        req = Request(h.command, parts.path, query, query_all, headers, body, self.url)
        entry = LoggedRequest(h.command, parts.path, query, query_all, headers, body)
        self._log.append(entry)
        try:
            resp = self._app(req)
        except HttpError as e:
            resp = e.response
        except Exception as e:  # a bug in the emulator should surface as a 500, not a hang
            resp = json_response({"message": f"emulator error: {type(e).__name__}: {e}"}, 500)
        if resp.delivery == "hang":   # read and never answered (the log keeps status None)
            self._stopped.wait()
            h.close_connection = True
            return
        entry.status = resp.status
        h.send_response(resp.status)
        for k, v in resp.headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(resp.body)))
        h.end_headers()
        if h.command == "HEAD":
            return
        if resp.delivery == "whole":
            h.wfile.write(resp.body)
            return
        # "stall" or "reset": half the body, then nothing more, or a TCP reset.
        h.wfile.write(resp.body[: len(resp.body) // 2])
        h.wfile.flush()
        h.close_connection = True
        if resp.delivery == "stall":
            self._stopped.wait()
        else:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
