"""People: identities, attributes and the search filter, all computed from the person's index.

Identity quirks mirrored from the API:
- ~10% of people are email-only (no ``id``): a search on ``id exists`` misses them, which is the classic way a
  connector loses people; ~5% have an id but no email. People 0, 1, 2 are both, email-only, id-only.
- ``cio_id`` is ``"3"`` + the 7-digit zero-padded index, so it is invertible and survives the API's habit of
  sending it as an integer elsewhere (``int("30000012")`` prints back the same).
- Attribute values are strings, including numbers and times (``"created_at": "1489014595"``).
- The attributes endpoint returns even-indexed people wrapped (``{"customer": {...}}``, as documented) and
  odd-indexed people flat (as seen in production).
- Attributes of every kind, for typed attribute columns: every third person (index divisible by 3) also has
  ``TYPED_ATTRIBUTE_NAMES``: whole numbers, decimals, booleans, a unix time, strings with leading zeros,
  numbers and words mixed, and hostile names (a space, a dot, a hyphen, capitals, a leading digit, an
  accent, two names that sanitise alike, names equal to record fields). Which kind each holds depends on
  the index only (``k = i // 3`` even or odd), so any sample of a few of them sees the mix. People inserted
  by the ``insert`` mutation (after a discover, typically) carry ``INSERTED_ATTRIBUTE_NAMES`` instead: an
  attribute nobody else has, and an ``age`` that is not a number.

People quirks (see quirks.py): ``search_refuses_cio_id`` (a filter naming ``cio_id`` is a 400),
``hydration_omits_once`` (a hydration leaves out up to N people the first time they are asked),
``hydration_deleted`` (N people were deleted: the search index still finds them, hydration and exports do not,
and the truth no longer holds them) and ``hydration_native_values`` (hydration sends whole numbers, decimals
and booleans as JSON numbers and booleans; the export file is text either way).
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import Callable, Iterable
from typing import Any

from .quirks import Quirks
from .tables import Ctx, Record
from .util import DAY, ApiError, Draw, mix, salt

ATTRIBUTE_NAMES = (
    "created_at",
    "first_name",
    "last_name",
    "plan",
    "country",
    "company",
    "score",
    "_last_emailed",
    "cio_subscription_preferences",
)
# name -> what its values are (every third person has them; see the module docstring).
TYPED_ATTRIBUTE_NAMES = (
    "age",  # whole numbers
    "ltv",  # decimals, and whole numbers for odd k: a number column
    "vip",  # true / false
    "last_login_at",  # unix seconds, named like a time
    "zip",  # five digits, a leading zero for even k: stays a string
    "lucky_number",  # whole numbers for even k, words for odd k: a string column
    "Signup Source",  # a space and capitals
    "signup-source",  # a hyphen: sanitises like "Signup Source"
    "plan.tier",  # a dot; whole numbers
    "9lives",  # a leading digit; whole numbers
    "Plan",  # sanitises like "plan"
    "prénom",  # an accent
    "attributes",  # the name of a record field
    "ID",  # not the identifier `id`: names are case sensitive
)
INSERTED_ATTRIBUTE_NAMES = ("onboarding_step",)
# The customer export file's attribute columns; `presence` knows them all.
FILE_ATTRIBUTE_NAMES = (*ATTRIBUTE_NAMES, *TYPED_ATTRIBUTE_NAMES, *INSERTED_ATTRIBUTE_NAMES)
SOURCES = ("web", "ios", "android", "partner")
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Lee")
PLANS = ("free", "pro", "enterprise")
COUNTRIES = ("US", "FR", "DE", "BR", "JP", "IN")
_EMAIL = re.compile(r"^person(\d+)@example\.com$")
_SALT = salt("people")
_UNKNOWN = 0xFFFFFFFF  # a presence mask not computed yet
_NATIVE_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)\Z")
_NATIVE_DECIMAL = re.compile(r"-?(?:0|[1-9]\d*)\.\d+\Z")
_IDENTIFIERS = ("id", "email", "cio_id")
_DELETED_DRAW = 77

Identity = dict[str, "str | None"]
Predicate = Callable[[int], bool]


class People:
    def __init__(self, ctx: Ctx, count: int, quirks: Quirks | None = None) -> None:
        self.ctx = ctx
        self.base_count = count
        self.quirks = quirks or Quirks()
        self._count = count
        self._born: dict[int, int] = {}
        self._updates: dict[int, tuple[int, str]] = {}
        self._lock = threading.Lock()
        self._mutations = 0
        # Which of FILE_ATTRIBUTE_NAMES each person has (bit k = FILE_ATTRIBUTE_NAMES[k]), filled as people
        # are looked at: an `exists` filter on an attribute then costs a lookup, not a person's generation.
        self._presence: array[int] | None = None
        self._asked: set[int] = set()  # by hydration, tracked only under `hydration_omits_once`
        self._deleted: tuple[tuple[int, int], frozenset[int]] = ((0, 0), frozenset())

    @property
    def count(self) -> int:
        return self._count

    @property
    def version(self) -> tuple[int, int, int]:
        """Changes whenever any person's identity, attributes or existence may have changed."""
        return self._count, self._mutations, self.quirks.hydration_deleted

    # existence ------------------------------------------------------------------------------------------
    def deleted(self) -> frozenset[int]:
        """The `hydration_deleted` people: a deterministic pick, the same for the same seed and count."""
        wanted = (self.quirks.hydration_deleted, self._count)
        cached_for, picked = self._deleted
        if cached_for != wanted:
            n, count = wanted
            picked = (
                frozenset(Draw(self.ctx.seed, _SALT, _DELETED_DRAW).distinct_below(n, count))
                if n
                else frozenset()
            )
            self._deleted = (wanted, picked)
        return picked

    def existing(self) -> Iterable[int]:
        """Every person who has not been deleted, in index order (the truth)."""
        gone = self.deleted()
        return (i for i in range(self._count) if i not in gone)

    # identities -----------------------------------------------------------------------------------------
    def kind(self, i: int) -> int:
        """0 = id and email, 1 = email-only, 2 = id-only (people 0, 1, 2 are one of each)."""
        if i < 3:
            return i
        r = mix(self.ctx.seed, _SALT, i) % 100
        return 1 if r < 10 else 2 if r < 15 else 0

    def cio_id(self, i: int) -> str:
        return f"3{i:07d}"

    def identity(self, i: int) -> Identity:
        k = self.kind(i)
        return {
            "id": None if k == 1 else str(i + 1),
            "email": None if k == 2 else f"person{i + 1}@example.com",
            "cio_id": self.cio_id(i),
        }

    def index_of(self, value: str, id_type: str) -> int | None:
        i: int | None = None
        if id_type == "cio_id":
            v = value[4:] if value.startswith("cio_") else value
            i = int(v[1:]) if len(v) >= 8 and v.isdigit() and v[0] == "3" else None
        elif id_type == "id":
            i = int(value) - 1 if value.isdigit() else None
        elif id_type == "email":
            m = _EMAIL.match(value)
            i = int(m.group(1)) - 1 if m else None
        if i is None or not 0 <= i < self._count:
            return None
        if id_type == "cio_id":
            return i if self.cio_id(i) == (value[4:] if value.startswith("cio_") else value) else None
        return i if self.identity(i)[id_type] == value else None

    # attributes -----------------------------------------------------------------------------------------
    def custom_attributes(self, i: int) -> tuple[dict[str, str], dict[str, int]]:
        d = Draw(self.ctx.seed, _SALT, i, 1)
        born = self._born.get(i)
        created = born if born is not None else self.ctx.anchor - 60 - d.between(DAY, 900 * DAY)
        attrs: dict[str, str] = {}
        if d.chance(0.95) or born is not None:
            attrs["created_at"] = str(created)
        if d.chance(0.9):
            attrs["first_name"] = d.choice(FIRST)
        if d.chance(0.8):
            attrs["last_name"] = d.choice(LAST)
        if d.chance(0.7):
            attrs["plan"] = d.choice(PLANS)
        if d.chance(0.6):
            attrs["country"] = d.choice(COUNTRIES)
        if d.chance(0.4):
            attrs["company"] = f"Company {d.below(50)}"
        if d.chance(0.5):
            attrs["score"] = str(d.below(100))
        if d.chance(0.5):
            attrs["_last_emailed"] = str(created + d.below(self.ctx.anchor - created))
        if d.chance(0.2):
            attrs["cio_subscription_preferences"] = '{"topics":{"topic_1":true}}'
        if born is not None:
            attrs["onboarding_step"] = "2"
            attrs["age"] = "unknown"
        elif i % 3 == 0:
            attrs.update(self.typed_attributes(i, created))
        stamps = {name: created + d.below(DAY) for name in attrs}
        update = self._updates.get(i)
        if update is not None:
            attrs["plan"] = update[1]
            stamps["plan"] = update[0]
        return attrs, stamps

    def typed_attributes(self, i: int, created: int) -> dict[str, str]:
        """TYPED_ATTRIBUTE_NAMES of person i (a multiple of 3), from a draw of their own."""
        d = Draw(self.ctx.seed, _SALT, i, 3)
        even = (i // 3) % 2 == 0
        units, cents = d.below(500), 1 + d.below(9) + 10 * d.below(10)  # no trailing zero: "12.05"
        return {
            "age": str(18 + d.below(60)),
            "ltv": f"{units}.{cents:02d}" if even else str(units),
            "vip": "true" if d.chance(0.3) else "false",
            "last_login_at": str(created + d.below(max(self.ctx.anchor - created, 1))),
            "zip": f"0{d.below(10_000):04d}" if even else str(10_000 + d.below(90_000)),
            "lucky_number": str(d.below(100)) if even else d.choice(("seven", "thirteen")),
            "Signup Source": d.choice(SOURCES),
            "signup-source": d.choice(("ads", "referral")),
            "plan.tier": str(1 + d.below(3)),
            "9lives": str(d.below(10)),
            "Plan": d.choice(("Gold", "Silver")),
            "prénom": d.choice(FIRST),
            "attributes": d.choice(("shadow", "mirror")),
            "ID": f"ext-{i}",
        }

    def record(self, i: int) -> Record:
        ident = self.identity(i)
        custom, stamps = self.custom_attributes(i)
        attributes: dict[str, Any] = {k: v for k, v in ident.items() if v is not None}
        attributes.update(custom)
        first = min(stamps.values(), default=self.ctx.anchor - DAY)
        timestamps = {k: first for k in ident if ident[k] is not None}
        timestamps.update(stamps)
        d = Draw(self.ctx.seed, _SALT, i, 2)
        devices = []
        if d.chance(0.2):
            for j in range(1 + d.below(2)):
                platform = d.choice(("ios", "android"))
                devices.append(
                    {
                        "id": f"dev{i:x}{j}{d.below(1 << 32):08x}",
                        "last_used": first + d.below(self.ctx.anchor - first),
                        "platform": platform,
                        "attributes": {
                            "device_os": "17.2" if platform == "ios" else "14",
                            "device_model": "iPhone15,2" if platform == "ios" else "Pixel 8",
                            "app_version": f"1.{d.below(9)}.0",
                            "cio_sdk_version": "3.1.0",
                            "_last_status": "bounced" if d.chance(0.1) else "",
                            "device_locale": "en-US",
                            "push_enabled": "true" if d.chance(0.7) else "false",
                        },
                    }
                )
        rec: Record = {
            "id": ident["id"],
            "identifiers": ident,
            "attributes": attributes,
            "timestamps": timestamps,
            "unsubscribed": d.chance(0.05),
            "devices": devices,
        }
        if ident["id"] is None:
            del rec["id"]  # email-only people come back without a top-level id at all
        return rec

    def wrapped(self, i: int) -> bool:
        return i % 2 == 0

    def hydrate(self, ids: list[Any], id_type: str) -> list[Record]:
        """POST /v1/customers/attributes: unknown (and deleted) ids are silently left out, as the API
        does; `hydration_omits_once` leaves out up to N more a request, among people asked for the first
        time."""
        gone = self.deleted()
        tracking = self.quirks.hydration_omits_once > 0
        omit = self.quirks.hydration_omits_once
        out: list[Record] = []
        for raw in ids:
            i = None if id_type == "phone" else self.index_of(str(raw), id_type)
            if i is None or i in gone:
                continue
            if tracking:
                with self._lock:
                    first_time = i not in self._asked
                    self._asked.add(i)
                if first_time and omit > 0:
                    omit -= 1
                    continue
            rec = self.record(i)
            if self.quirks.hydration_native_values:
                rec["attributes"] = {k: native(k, v) for k, v in rec["attributes"].items()}
            out.append({"customer": rec} if self.wrapped(i) else rec)
        return out

    def presence(self, i: int) -> int:
        """The bit mask of FILE_ATTRIBUTE_NAMES person i has."""
        masks = self._presence
        if masks is None or len(masks) < self._count:
            with self._lock:
                masks = self._presence
                if masks is None or len(masks) < self._count:
                    grown = array("I", [_UNKNOWN]) * self._count
                    if masks is not None:
                        grown[: len(masks)] = masks
                    self._presence = masks = grown
        mask = masks[i]
        if mask == _UNKNOWN:
            mask = self.note_presence(i, self.custom_attributes(i)[0])
        return mask

    def note_presence(self, i: int, attrs: dict[str, str]) -> int:
        mask = sum(1 << k for k, name in enumerate(FILE_ATTRIBUTE_NAMES) if name in attrs)
        masks = self._presence
        if masks is not None and i < len(masks):
            masks[i] = mask
        return mask

    # membership and filters --------------------------------------------------------------------------------
    def in_segment(self, segment_id: int, i: int) -> bool:
        # The first segment (id 7) holds most people, so its membership always spans several pages.
        share = 85 if segment_id == 7 else 20 + mix(self.ctx.seed, _SALT, segment_id) % 60
        return mix(self.ctx.seed, _SALT, segment_id, i) % 100 < share

    def compile(self, node: Any, segment_exists: Callable[[int], bool]) -> Predicate:
        if not isinstance(node, dict) or len(node) != 1:
            raise ApiError(
                400, "filter must be an object with exactly one of and, or, not, segment, attribute"
            )
        ((op, arg),) = node.items()
        if op in ("and", "or"):
            if not isinstance(arg, list):
                raise ApiError(400, f"filter '{op}' takes a list")
            parts = [self.compile(n, segment_exists) for n in arg]
            if op == "and":
                return lambda i: all(p(i) for p in parts)
            return lambda i: any(p(i) for p in parts)
        if op == "not":
            inner = self.compile(arg, segment_exists)
            return lambda i: not inner(i)
        if op == "segment":
            if not isinstance(arg, dict) or not isinstance(arg.get("id"), int):
                raise ApiError(400, "filter 'segment' takes {\"id\": <int>}")
            sid = arg["id"]
            if not segment_exists(sid):
                return lambda i: False
            return lambda i: self.in_segment(sid, i)
        if op == "attribute":
            return self._attribute(arg)
        raise ApiError(400, f"unknown filter operator {op!r}")

    def _attribute(self, arg: Any) -> Predicate:
        if not isinstance(arg, dict) or not isinstance(arg.get("field"), str):
            raise ApiError(400, "filter 'attribute' takes {field, operator, value}")
        field, operator = arg["field"], arg.get("operator")
        if operator not in ("eq", "exists"):
            raise ApiError(400, f"unsupported attribute operator {operator!r}")
        if operator == "eq" and "value" not in arg:
            raise ApiError(400, "operator 'eq' needs a value")
        wanted = str(arg.get("value"))

        if field == "cio_id" and self.quirks.search_refuses_cio_id:
            raise ApiError(400, "Filter attribute 'cio_id' is not supported; filter on id or email instead")
        if operator == "exists" and field in FILE_ATTRIBUTE_NAMES:
            bit = 1 << FILE_ATTRIBUTE_NAMES.index(field)
            return lambda i: bool(self.presence(i) & bit)

        get: Callable[[int], str | None]
        if field == "cio_id":
            get = self.cio_id  # identity(i)["cio_id"] without the rest of the identity: a search's hot path
        elif field in ("id", "email"):

            def get(i: int) -> str | None:
                return self.identity(i)[field]
        else:

            def get(i: int) -> str | None:
                return self.custom_attributes(i)[0].get(field)

        if operator == "exists":
            return lambda i: get(i) not in (None, "")
        return lambda i: get(i) == wanted

    # mutations -------------------------------------------------------------------------------------------
    def insert(self, n: int, now: int) -> list[int]:
        with self._lock:
            start = self._count
            for i in range(start, start + n):
                self._born[i] = now
            self._count = start + n
            return list(range(start, start + n))

    def update(self, n: int, now: int) -> list[int]:
        """People have no updated_at; an update changes `plan` and its timestamp, like an identify call."""
        with self._lock:
            self._mutations += 1
            d = Draw(self.ctx.seed, _SALT, 99, self._mutations)
            picked = d.distinct_below(n, self._count)
            for i in picked:
                self._updates[i] = (now, d.choice(PLANS))
                if self._presence is not None and i < len(self._presence):
                    self._presence[i] = _UNKNOWN
            return picked


def native(name: str, value: Any) -> Any:
    """An attribute value as `hydration_native_values` sends it: whole numbers and decimals (written without
    a leading zero) as JSON numbers, `true`/`false` as booleans; identifiers and other text as they are."""
    if name in _IDENTIFIERS or not isinstance(value, str):
        return value
    if _NATIVE_INTEGER.match(value):
        return int(value)
    if _NATIVE_DECIMAL.match(value):
        return float(value)
    if value in ("true", "false"):
        return value == "true"
    return value
