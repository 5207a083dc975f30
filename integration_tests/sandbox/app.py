"""The request pipeline, independent of sockets: admin, downloads, and `/v1` with auth, rate limit, faults.

For `/v1/...`, in order: Bearer auth (401), the `burst_429` fault, the per-key sliding-window rate limit (429,
`Retry-After: 1` unless the daily-quota case omits it), latency, the other faults, forbidden paths (403),
then the route. `/_admin/...` and `/_downloads/...` never see auth, rate limits or faults.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .admin import Admin
from .api import Api, Req
from .data import World
from .faults import FaultInjector, Faults
from .ratelimit import SlidingWindowLimiter
from .stats import Stats
from .util import ApiError, Response, error_body, json_response

PROXY_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>cloudflare</center></body></html>\n"
)
MAINTENANCE_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Attention Required</title></head>\n<body><h1>Please wait while we"
    b" check your browser</h1><p>This request was held by a proxy.</p></body></html>\n"
)


@dataclass
class Knobs:
    api_key: str
    latency_ms: float = 0.0
    forbidden_paths: list[str] = field(default_factory=list)


class App:
    def __init__(
        self, world: World, knobs: Knobs, faults: Faults, rps: float, page_size_cap: int | None
    ) -> None:
        self.world = world
        self.knobs = knobs
        self.api = Api(world, page_size_cap)
        self.faults = FaultInjector(faults, world.ctx.seed)
        self.limiter = SlidingWindowLimiter(rps)
        self.stats = Stats()
        self.stopping = threading.Event()
        self.admin = Admin(self)

    def stats_snapshot(self) -> dict[str, Any]:
        return self.stats.snapshot(self.limiter.max_admitted_in_one_second)

    def reset_stats(self) -> None:
        self.stats.reset()
        self.limiter.reset_stats()

    def handle(self, req: Req) -> Response:
        if req.path.startswith("/_admin/"):
            return self.admin.handle(req)
        if req.path.startswith("/_downloads/"):
            return self._download(req)
        if not req.path.startswith("/v1/"):
            return json_response(404, error_body(404, f"not found: {req.path} (the API lives under /v1)"))
        return self._api(req)

    def _download(self, req: Req) -> Response:
        auth = "authorization" in req.headers
        token = req.path[len("/_downloads/") :]
        try:
            index = self.world.exports.verify(token, int(time.time()))
        except ApiError as exc:
            self.stats.record("GET /_downloads/{token}", str(exc.status), authorization=auth, download=True)
            body = f"<Error><Code>AccessDenied</Code><Message>{exc.detail}</Message></Error>".encode()
            return Response(exc.status, body, "application/xml")
        self.stats.record("GET /_downloads/{token}", "200", authorization=auth, download=True)
        chunks, content_type, headers = self.world.exports.download(index)
        return Response(200, chunks, content_type, headers)

    def _api(self, req: Req) -> Response:
        hit = self.api.match(req.method, req.path)
        endpoint = f"{req.method} {hit[0] if hit else req.path}"
        auth_header = req.headers.get("authorization")
        response = self._decide(req, hit, auth_header)
        if self.knobs.latency_ms > 0:
            self.stopping.wait(self.knobs.latency_ms / 1000.0)
        if response is None:
            response = self._route(req, hit)
        status = "reset" if response.reset else str(response.status)
        self.stats.record(endpoint, status, authorization=auth_header is not None)
        return response

    def _decide(self, req: Req, hit: Any, auth_header: str | None) -> Response | None:
        """Everything that is settled on arrival: auth, 429s, faults, 403. None = serve the route."""
        if auth_header != f"Bearer {self.knobs.api_key}":
            return json_response(401, error_body(401, "Unauthorized request: invalid or missing App API key"))
        key = self.knobs.api_key
        if self.faults.take_burst() or not self.limiter.admit(key):
            headers = {} if self.faults.omit_retry_after() else {"Retry-After": "1"}
            return json_response(429, error_body(429, self.limiter.detail), headers)
        kind = self.faults.draw()
        if kind is not None:
            self.stats.fault(kind)
            injected = self._fault(kind, req, hit)
            if injected is not None:
                return injected
        for prefix in self.knobs.forbidden_paths:
            if req.path.startswith(prefix):
                detail = "You are missing the following required scopes: read"
                return json_response(403, error_body(403, detail))
        return None

    def _fault(self, kind: str, req: Req, hit: Any) -> Response | None:
        if kind == "connection_reset":
            return Response(0, reset=True)
        if kind == "error_500":
            return json_response(500, error_body(500, "Internal Server Error"))
        if kind == "error_502":
            return Response(502, PROXY_PAGE, "text/html")
        if kind == "html_error":
            return Response(200, MAINTENANCE_PAGE, "text/html; charset=utf-8")
        if kind == "truncated_json":
            full = self._route(req, hit)
            if full.status == 200 and isinstance(full.body, bytes):
                cut = max(1, len(full.body) * 2 // 3)
                full.body = full.body[:cut]
            return full
        self.stopping.wait(self.faults.slow_seconds())  # "slow": then answer normally
        return None

    def _route(self, req: Req, hit: Any) -> Response:
        if hit is None:
            return json_response(404, error_body(404, f"no route for {req.method} {req.path}"))
        _, handler, groups = hit
        try:
            return json_response(200, handler(req, groups))
        except ApiError as exc:
            return json_response(exc.status, error_body(exc.status, exc.detail))
