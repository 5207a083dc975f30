"""Fault injection for `/v1/...` requests: probabilities per request, drawn from one seeded generator.

Every admitted API request consumes the same number of draws whatever the probabilities are, so a run with
a given seed and request sequence injects the same faults every time.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

# The order in which fault kinds are tried; the first that fires wins.
KINDS = ("connection_reset", "error_500", "error_502", "html_error", "truncated_json", "slow")


@dataclass
class Faults:
    error_500: float = 0.0
    error_502: float = 0.0
    connection_reset: float = 0.0  # close the socket without answering
    truncated_json: float = 0.0  # 200 whose JSON body stops part-way (Content-Length matches the cut body)
    html_error: float = 0.0  # 200 text/html page, as a captive proxy or CDN maintenance page sends
    slow: float = 0.0  # answer only after slow_seconds
    slow_seconds: float = 30.0
    burst_429: int = 0  # the next N API requests get 429
    retry_after_missing: float = 0.0  # a 429 without Retry-After, as when a daily quota is hit

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


class FaultInjector:
    def __init__(self, faults: Faults, seed: int) -> None:
        self._faults = Faults(**asdict(faults))
        self._burst = faults.burst_429
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def faults(self) -> Faults:
        with self._lock:
            return Faults(**{**asdict(self._faults), "burst_429": self._burst})

    def configure(self, **knobs: Any) -> None:
        unknown = set(knobs) - Faults.field_names()
        if unknown:
            raise ValueError(f"unknown fault knob(s): {sorted(unknown)}")
        with self._lock:
            for name, value in knobs.items():
                if name == "burst_429":
                    self._burst = int(value)
                elif name == "slow_seconds":
                    self._faults.slow_seconds = float(value)
                else:
                    p = float(value)
                    if not 0.0 <= p <= 1.0:
                        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
                    setattr(self._faults, name, p)
            self._faults.burst_429 = self._burst

    def take_burst(self) -> bool:
        with self._lock:
            if self._burst > 0:
                self._burst -= 1
                return True
            return False

    def draw(self) -> str | None:
        with self._lock:
            rolls = [self._rng.random() for _ in KINDS]
            for kind, roll in zip(KINDS, rolls, strict=True):
                if roll < getattr(self._faults, kind):
                    return kind
            return None

    def omit_retry_after(self) -> bool:
        with self._lock:
            return self._rng.random() < self._faults.retry_after_missing

    def slow_seconds(self) -> float:
        with self._lock:
            return self._faults.slow_seconds
