"""The HTTP server (stdlib, HTTP/1.1 keep-alive, a daemon thread per connection) and the `Sandbox` handle."""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .api import Req
from .app import App, Knobs
from .data import DEFAULT_PAGE_CAP, World
from .faults import Faults
from .quirks import Quirks
from .util import Response, error_body, json_response

SANDBOX_API_KEY = "test-key"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait for a "slow" fault or an idle keep-alive connection on stop
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 drops SYNs under a burst of new connections

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.to_reset: set[socket.socket] = set()
        self.lock = threading.Lock()
        super().__init__(address, _Handler)

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.connections.discard(request)
            reset = request in self.to_reset
            self.to_reset.discard(request)
        if reset:
            # No FIN first: with SO_LINGER 0 the close sends an RST, i.e. "connection reset by peer".
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def drop_all(self) -> None:
        with self.lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as separate writes; without this, Nagle + delayed ACK add ~40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.connections.add(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = self._read_body()
        except ValueError:
            self._send(json_response(400, error_body(400, "malformed request body")))
            return
        req = Req(method, unquote(split.path), parse_qs(split.query, keep_blank_values=True), body, headers)
        try:
            response = self.server.app.handle(req)
        except Exception:  # a sandbox bug must show up as a 500 with a traceback, not a hung client
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, error_body(500, "sandbox internal error"))
        if response.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with self.server.lock:
                self.server.to_reset.add(self.connection)
            self.close_connection = True
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if isinstance(response.body, bytes):
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in response.body:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class Sandbox:
    """A Customer.io App API look-alike on loopback.

    seed: all data and fault draws derive from it. size: "tiny" | "small" | "large" (see data.py);
    people / deliveries override the size's counts. api_key: the only Bearer token accepted.
    requests_per_second: per-key sliding 1-second window, 0 = unlimited. latency_ms: added to every API
    answer. faults: a Faults of per-request probabilities. page_size_cap: lowers every documented page cap
    (None = the size's default, 3 at tiny; 0 = no extra cap). now: fix the data's "now" (unix seconds) to make
    timestamps reproducible too. forbidden_paths: path prefixes answered with 403. export_ready_after_*:
    when a customer export turns done. quirks: the undocumented API behaviours, each set to its default
    reading or to the alternative (see quirks.py). counts: records per stream (e.g. {"campaigns": 200}) over
    the size's. All knobs but seed/size/counts can change later via
    configure().
    """

    def __init__(
        self,
        seed: int = 1,
        size: str = "tiny",
        api_key: str = SANDBOX_API_KEY,
        requests_per_second: float = 10.0,
        latency_ms: float = 0,
        faults: Faults | None = None,
        people: int | None = None,
        deliveries: int | None = None,
        page_size_cap: int | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        now: int | None = None,
        forbidden_paths: list[str] | None = None,
        export_ready_after_polls: int = 3,
        export_ready_after_seconds: float = 1.0,
        quirks: Quirks | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        self.world = World(
            seed, size, people=people, deliveries=deliveries, now=now, quirks=quirks, counts=counts
        )
        cap = DEFAULT_PAGE_CAP[size] if page_size_cap is None else (page_size_cap or None)
        knobs = Knobs(api_key, float(latency_ms), list(forbidden_paths or []))
        self.app = App(self.world, knobs, faults or Faults(), requests_per_second, cap)
        self.world.exports.ready_after_polls = export_ready_after_polls
        self.world.exports.ready_after_seconds = export_ready_after_seconds
        self.api_key = api_key
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------------------
    def start(self, port: int | None = None) -> Sandbox:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port if port is None else port), self.app)
        self.port = server.server_address[1]
        self.app.api.public_url = self.url
        self.app.stopping.clear()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.app.stopping.set()
        server.shutdown()
        server.drop_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("the sandbox is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # admin ---------------------------------------------------------------------------------------------
    def truth(self, stream: str, keys: bool = True) -> dict[str, Any]:
        return self.world.truth(stream, keys)

    def stats(self) -> dict[str, Any]:
        return self.app.stats_snapshot()

    def reset_stats(self) -> None:
        self.app.reset_stats()

    def mutate(self, stream: str, op: str, count: int = 1) -> dict[str, Any]:
        return self.world.mutate(stream, op, count)

    def configure(self, **knobs: Any) -> dict[str, Any]:
        return self.app.admin.configure(**knobs)

    def prepare_export(self, filters: Any, attributes: list[str] | None = None) -> dict[str, Any]:
        return self.app.admin.prepare_export(filters, attributes)
