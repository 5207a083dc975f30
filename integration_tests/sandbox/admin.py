"""`/_admin/...`: ground truth, mutations, statistics and run-time knobs (no auth, no faults, not counted).

The Sandbox's Python methods call the same functions, so tests and a demo driving the HTTP interface see
the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from .api import Req
from .faults import Faults
from .quirks import Quirks
from .util import ApiError, Response, error_body, json_response

if TYPE_CHECKING:
    from .app import App

KEYS_PER_CHUNK = 10_000
KNOBS = (
    {
        "faults",
        "latency_ms",
        "requests_per_second",
        "forbidden_paths",
        "page_size_cap",
        "export_ready_after_polls",
        "export_ready_after_seconds",
    }
    | Faults.field_names()
    | Quirks.field_names()
)


class Admin:
    def __init__(self, app: App) -> None:
        self.app = app

    def configure(self, **knobs: Any) -> dict[str, Any]:
        unknown = set(knobs) - KNOBS
        if unknown:
            raise ValueError(f"unknown knob(s) {sorted(unknown)}; known: {sorted(KNOBS)}")
        app = self.app
        fault_knobs = {k: v for k, v in knobs.items() if k in Faults.field_names()}
        whole = knobs.get("faults")
        if whole is not None:
            fault_knobs = {**(vars(whole) if isinstance(whole, Faults) else dict(whole)), **fault_knobs}
        if fault_knobs:
            app.faults.configure(**fault_knobs)
        quirk_knobs = {k: v for k, v in knobs.items() if k in Quirks.field_names()}
        if quirk_knobs:
            app.world.quirks.configure(**quirk_knobs)
        if "latency_ms" in knobs:
            app.knobs.latency_ms = float(knobs["latency_ms"])
        if "requests_per_second" in knobs:
            app.limiter.set_rate(float(knobs["requests_per_second"]))
        if "forbidden_paths" in knobs:
            app.knobs.forbidden_paths = [str(p) for p in knobs["forbidden_paths"] or []]
        if "page_size_cap" in knobs:
            cap = knobs["page_size_cap"]
            app.api.page_size_cap = int(cap) if cap else None
        if "export_ready_after_polls" in knobs:
            app.world.exports.ready_after_polls = int(knobs["export_ready_after_polls"])
        if "export_ready_after_seconds" in knobs:
            app.world.exports.ready_after_seconds = float(knobs["export_ready_after_seconds"])
        return self.current()

    def prepare_export(self, filters: Any, attributes: list[str] | None = None) -> dict[str, Any]:
        """Write the file a customer export of `filters` would have (under the current quirks) now, so that
        an export made later finds it ready: a benchmark prepares it before its clock starts."""
        world = self.app.world
        predicate = world.people.compile(filters, world.segment_exists)
        return world.exports.prepare(filters, attributes, predicate)

    def current(self) -> dict[str, Any]:
        app = self.app
        return {
            "faults": vars(app.faults.faults),
            "quirks": app.world.quirks.as_dict(),
            "latency_ms": app.knobs.latency_ms,
            "requests_per_second": app.limiter.requests_per_second,
            "forbidden_paths": list(app.knobs.forbidden_paths),
            "page_size_cap": app.api.page_size_cap,
            "export_ready_after_polls": app.world.exports.ready_after_polls,
            "export_ready_after_seconds": app.world.exports.ready_after_seconds,
        }

    def handle(self, req: Req) -> Response:
        try:
            return self._handle(req)
        except ApiError as exc:
            return json_response(exc.status, error_body(exc.status, exc.detail))
        except (ValueError, TypeError) as exc:
            return json_response(400, error_body(400, str(exc)))

    def _handle(self, req: Req) -> Response:
        route = req.path[len("/_admin/") :].rstrip("/")
        world = self.app.world
        if req.method == "GET" and route.startswith("truth/"):
            stream = route[len("truth/") :]
            header = world.truth_header(stream)
            if req.arg("keys") in ("false", "0", "no"):
                return json_response(200, header)
            return Response(200, self._stream_truth(header, world.keys(stream)))
        if req.method == "POST" and route == "mutate":
            body = req.json()
            if not isinstance(body, dict):
                raise ApiError(400, 'body must be {"stream": ..., "op": ..., "count": n}')
            return json_response(
                200, world.mutate(str(body.get("stream")), str(body.get("op")), body.get("count", 1))
            )
        if req.method == "POST" and route == "prepare_export":
            body = req.json()
            if not isinstance(body, dict) or "filters" not in body:
                raise ApiError(400, 'body must be {"filters": {...}, "attributes": [...]?}')
            return json_response(200, self.prepare_export(body["filters"], body.get("attributes")))
        if req.method == "GET" and route == "stats":
            return json_response(200, self.app.stats_snapshot())
        if req.method == "POST" and route == "reset_stats":
            self.app.reset_stats()
            return json_response(200, {"ok": True})
        if route == "config":
            if req.method == "POST":
                body = req.json()
                if not isinstance(body, dict):
                    raise ApiError(400, "body must be a JSON object of knobs")
                return json_response(200, self.configure(**body))
            return json_response(200, self.current())
        raise ApiError(404, f"no admin route {req.method} {req.path}")

    @staticmethod
    def _stream_truth(header: dict[str, Any], keys: Iterator[str]) -> Iterator[bytes]:
        # A million keys are sent in slices rather than built into one list first.
        yield orjson.dumps(header)[:-1] + b',"keys":['
        first = True
        chunk: list[bytes] = []
        for key in keys:
            chunk.append(orjson.dumps(key))
            if len(chunk) >= KEYS_PER_CHUNK:
                yield (b"" if first else b",") + b",".join(chunk)
                first, chunk = False, []
        if chunk:
            yield (b"" if first else b",") + b",".join(chunk)
        yield b"]}"
