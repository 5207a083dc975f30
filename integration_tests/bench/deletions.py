"""Deletions: the state that the keys of the largest deletable list take, and the sync that finds some gone;
the same for a child stream (campaign actions under 200 campaigns).

On the large sandbox (the full-size run) its 5,000 newsletters, on the small one (`--smoke`) its 120:
one incremental read, `DELETED` newsletters deleted, a second incremental read from the first one's
state. Measured: the bytes of the stream state after the complete read (the keys and the cursor), the
largest checkpoint of the second read's pass (the last complete read's keys plus those seen so far),
the tombstones emitted against the newsletters deleted, and the second read's requests and wall time.
The sandbox's ids are consecutive, which the saved differences compress to almost nothing, so the same
count of ids scattered over a range 50 times wider is encoded too (computed, not synced).

Child streams keep a key set per parent: on a small sandbox with `CAMPAIGNS` campaigns (1 to 4 actions
each, 5 for the first), the campaign_actions state after a complete incremental read, with its keys and
without them (`emit_deletions: false`), the largest checkpoint of the next read, and that read's tombstones
after `DELETED_ACTIONS` actions and `DELETED_CAMPAIGNS` campaigns were deleted.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

from integration_tests.bench.processes import API_KEY, SandboxProcess
from integration_tests.connector import catalog, run_connector
from source_customerio.streams.deletions import DELETED_AT, encode_keys

DELETED = 50
STREAM = "newsletters"
CAMPAIGNS = 200
DELETED_ACTIONS = 20
DELETED_CAMPAIGNS = 5
CHILD = "campaign_actions"


@dataclass
class DeletionFigures:
    listed: int
    state_bytes: int
    checkpoint_bytes: int
    plain_json_bytes: int
    scattered_bytes: int
    deleted: int
    tombstones: int
    tombstones_right: bool
    requests: int
    rechecks: int
    wall: float
    exit_codes: tuple[int, int]


def _bytes(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def measure_deletions(size: str) -> DeletionFigures:
    with SandboxProcess(size=size, requests_per_second=0, latency_ms=0) as sandbox:
        config = {"access_token": API_KEY, "base_url": sandbox.base_url, "requests_per_second": 100}
        configured = catalog([STREAM], incremental=True)
        first = run_connector("read", config, configured)
        listed = sandbox.count(STREAM)
        deleted = set(sandbox.mutate(STREAM, "delete", min(DELETED, listed // 2))["keys"])
        sandbox.reset_stats()
        started = time.monotonic()
        second = run_connector("read", config, configured, state=first.final_states())
        wall = time.monotonic() - started
        stats = sandbox.stats()
    gone = {str(r["id"]) for r in second.records_of(STREAM) if r.get(DELETED_AT) is not None}
    checkpoints = [s["stream"]["stream_state"] for s in second.states]
    ids = [int(r["id"]) for r in first.records_of(STREAM)]
    spread = random.Random(7).sample(range(min(ids), min(ids) + 50 * len(ids)), len(ids))
    return DeletionFigures(
        listed=listed,
        state_bytes=_bytes(first.stream_state(STREAM)),
        checkpoint_bytes=max(_bytes(s) for s in checkpoints),
        plain_json_bytes=_bytes(sorted(ids)),
        scattered_bytes=_bytes(encode_keys({(n,) for n in spread})),
        deleted=len(deleted),
        tombstones=len(gone),
        tombstones_right=gone == deleted,
        requests=int(stats["total"]),
        rechecks=int(stats["by_endpoint"].get("GET /v1/newsletters/{id}", 0)),
        wall=wall,
        exit_codes=(first.exit_code, second.exit_code),
    )


def deletion_notes(figures: DeletionFigures) -> list[str]:
    f = figures
    right = "exactly the deleted ones" if f.tombstones_right else "NOT the deleted ones"
    return [
        f"Deletions, state: after a complete incremental read of {f.listed:,} {STREAM} the stream state "
        f"(cursor and keys) takes {f.state_bytes:,} bytes; the largest checkpoint of the next pass (the "
        f"last complete read's keys plus those seen so far) {f.checkpoint_bytes:,} bytes. The same ids as a "
        f"plain JSON list: {f.plain_json_bytes:,} bytes; as many ids scattered over a range 50 times wider "
        f"(computed): {f.scattered_bytes:,} bytes.",
        f"Deletions, sync: {f.deleted} {STREAM} deleted between two incremental reads; the second emitted "
        f"{f.tombstones} tombstones ({right}) in {f.wall:.1f} s and {f.requests} requests, "
        f"{f.rechecks} of them GET /v1/{STREAM}/{{id}} (exit codes {f.exit_codes[0]}, {f.exit_codes[1]}).",
    ]


@dataclass
class ChildDeletionFigures:
    campaigns: int
    actions: int
    state_bytes: int
    state_bytes_without_keys: int
    checkpoint_bytes: int
    gone: int
    tombstones: int
    tombstones_right: bool
    requests: int
    rechecks: int
    wall: float
    exit_codes: tuple[int, int, int]


def measure_child_deletions() -> ChildDeletionFigures:
    with SandboxProcess(requests_per_second=0, latency_ms=0, counts={"campaigns": CAMPAIGNS}) as sandbox:
        config = {"access_token": API_KEY, "base_url": sandbox.base_url, "requests_per_second": 100}
        configured = catalog([CHILD], incremental=True)
        first = run_connector("read", config, configured)
        without = run_connector("read", {**config, "emit_deletions": False}, configured)
        before = _keys(sandbox)
        sandbox.mutate(CHILD, "delete", DELETED_ACTIONS)
        sandbox.mutate("campaigns", "delete", DELETED_CAMPAIGNS)
        gone = before - _keys(sandbox)
        sandbox.reset_stats()
        started = time.monotonic()
        second = run_connector("read", config, configured, state=first.final_states())
        wall = time.monotonic() - started
        stats = sandbox.stats()
    told = {
        f"{r['campaign_id']}|{r['id']}" for r in second.records_of(CHILD) if r.get(DELETED_AT) is not None
    }
    return ChildDeletionFigures(
        campaigns=CAMPAIGNS,
        actions=len(before),
        state_bytes=_bytes(first.stream_state(CHILD)),
        state_bytes_without_keys=_bytes(without.stream_state(CHILD)),
        checkpoint_bytes=max(_bytes(s["stream"]["stream_state"]) for s in second.states),
        gone=len(gone),
        tombstones=len(told),
        tombstones_right=told == gone,
        requests=int(stats["total"]),
        rechecks=int(stats["by_endpoint"].get("GET /v1/campaigns/{id}/actions/{id}", 0)),
        wall=wall,
        exit_codes=(first.exit_code, without.exit_code, second.exit_code),
    )


def _keys(sandbox: SandboxProcess) -> set[str]:
    return set(sandbox.truth(CHILD)["keys"])


def child_deletion_notes(figures: ChildDeletionFigures) -> list[str]:
    f = figures
    right = "exactly the ones gone" if f.tombstones_right else "NOT the ones gone"
    return [
        f"Deletions, child state: after a complete incremental read of {f.actions:,} {CHILD} under "
        f"{f.campaigns} campaigns the stream state takes {f.state_bytes:,} bytes with each campaign's keys, "
        f"{f.state_bytes_without_keys:,} bytes without them (emit_deletions false); the largest checkpoint "
        f"of the next read {f.checkpoint_bytes:,} bytes.",
        f"Deletions, child sync: {DELETED_ACTIONS} {CHILD} and {DELETED_CAMPAIGNS} campaigns deleted "
        f"({f.gone} actions gone); the next read emitted {f.tombstones} tombstones ({right}) in "
        f"{f.wall:.1f} s and {f.requests} requests, {f.rechecks} of them GET /v1/campaigns/{{id}}/actions/"
        f"{{id}} (exit codes {', '.join(map(str, f.exit_codes))}).",
    ]
