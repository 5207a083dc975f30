"""Small deterministic building blocks: hashing, draws, opaque cursors, permutations, errors.

Everything the sandbox generates comes from `mix(seed, ...)` over integers, so a record is a pure function
of (seed, stream, index) and nothing has to be materialised.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from math import gcd
from typing import Any, TypeVar

import orjson

MASK = (1 << 64) - 1
DAY = 86_400
# The API's "6 months" for /v1/messages windows; the connector walks 180-day windows inside it.
SIX_MONTHS = 183 * DAY

T = TypeVar("T")
JSON = "application/json"


def salt(name: str) -> int:
    return zlib.crc32(name.encode())


def _finalize(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def mix(*parts: int) -> int:
    """splitmix64 over a tuple of integers: cheap, stable across runs and Python versions."""
    h = 0
    for p in parts:
        h = _finalize((h + 0x9E3779B97F4A7C15 + (p & MASK)) & MASK)
    return h


class Draw:
    """A tiny counter-based random stream for one record: draw k is mix(base, k)."""

    __slots__ = ("_base", "_k")

    def __init__(self, *parts: int) -> None:
        self._base = mix(*parts)
        self._k = 0

    def next(self) -> int:
        self._k += 1
        return _finalize((self._base + self._k * 0x9E3779B97F4A7C15) & MASK)

    def below(self, n: int) -> int:
        return self.next() % n if n > 0 else 0

    def between(self, lo: int, hi: int) -> int:
        return lo + self.below(hi - lo + 1)

    def chance(self, p: float) -> bool:
        return (self.next() >> 11) * (1.0 / (1 << 53)) < p

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.below(len(seq))]

    def distinct_below(self, n: int, count: int) -> list[int]:
        """`min(n, count)` different numbers below `count` (the records a mutation picks)."""
        picked: list[int] = []
        while len(picked) < min(n, count):
            i = self.below(count)
            if i not in picked:
                picked.append(i)
        return picked


class Permutation:
    """An O(1)-memory bijection of range(n) (affine map), used as the 'no particular order' of lists."""

    def __init__(self, n: int, *parts: int) -> None:
        self.n = n
        d = Draw(*parts)
        a = d.below(max(n, 1)) | 1
        while n > 1 and gcd(a, n) != 1:
            a += 1
        self._a = a
        self._b = d.below(max(n, 1))

    def __call__(self, k: int) -> int:
        return (self._a * k + self._b) % self.n if self.n > 1 else k


class ApiError(ValueError):
    """Raised by route handlers; rendered in the API's current error shape."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def error_body(status: int, detail: str) -> dict[str, Any]:
    return {"errors": [{"detail": detail, "status": str(status)}]}


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(token: str, kind: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        state = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise ApiError(400, f"invalid start cursor: {token!r}") from exc
    if not isinstance(state, dict) or state.get("k") != kind:
        raise ApiError(400, f"invalid start cursor: {token!r}")
    return state


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(ms: int, rand: int) -> str:
    """ULID-shaped id like activities' ids: 26 Crockford base32 chars, 48-bit ms time + 80 random bits."""
    value = ((ms & ((1 << 48) - 1)) << 80) | (rand & ((1 << 80) - 1))
    out = []
    for _ in range(26):
        out.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def b64_id(*parts: int) -> str:
    """Delivery-style id: urlsafe base64 of 23 hash bytes, e.g. 'dgOq6QWq6QUBAAF4_CGoeVX7mFkDbRFu7ek='."""
    h = mix(*parts)
    raw = b"".join(_finalize((h + k * 0x9E3779B97F4A7C15) & MASK).to_bytes(8, "big") for k in (1, 2, 3))
    return base64.urlsafe_b64encode(raw[:23]).decode()


@dataclass
class Response:
    status: int
    body: bytes | Iterator[bytes] = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # drop the connection without answering


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(payload), JSON, headers or {})
