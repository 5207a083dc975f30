"""Switches for the App API behaviours that Customer.io's documentation does not state (the 🔶 marks of
`customerio-api.md`). Each default is the reading the connector was first written for; the other value is
the plausible alternative, so a test can read every stream under it and compare with the truth.

Unlike `Faults`, which are random and transient, a quirk is a standing property of the API: it holds for
every request while it is set. Set them with `Sandbox(quirks=Quirks(...))`, `sandbox.configure(name=value)`
or `POST /_admin/config {"name": value}`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Quirks:
    # -- people: the customer export file -----------------------------------------------------------------
    # No document names the export file's columns: with False the file has no `cio_id` column.
    export_cio_id_column: bool = True
    # "fixed": cio_id, id, email, then attributes; "shuffled": the same columns in another order.
    export_column_order: str = "fixed"
    # Columns the connector does not know (segment ids, timestamps...) mixed in with the attributes.
    export_extra_columns: bool = False
    # `attributes` is documented as "extra columns": with True the file holds only the attributes the
    # export request named in its `attributes` list.
    export_attributes_only_when_asked: bool = False
    # "none"; "gzip" (gzip body with Content-Encoding: gzip); "gzip_no_header" (gzip body, no header).
    export_compression: str = "none"
    # A UTF-8 byte-order mark before the header row.
    export_bom: bool = False
    # The download answer's key for the signed link: "url" (the OpenAPI document) or "link".
    export_link_key: str = "url"
    # The file leaves out its last N people, while the export's `total` still counts them.
    export_drops_rows: int = 0
    # -- people: search and hydration ---------------------------------------------------------------------
    # POST /v1/customers answers 400 to a filter that names `cio_id`.
    search_refuses_cio_id: bool = False
    # Each hydration request leaves out up to N of the people it asks for the first time they are asked.
    hydration_omits_once: int = 0
    # N people that a search finds are deleted before hydration: no hydration ever returns them.
    hydration_deleted: int = 0
    # -- people: attribute values (typed attribute columns) -------------------------------------------------
    # The documented examples send every attribute value as a string ("created_at": "1489014595"); with True,
    # hydration sends whole numbers and decimals as JSON numbers and true/false as JSON booleans. The export
    # file is text either way.
    hydration_native_values: bool = False
    # -- paging, windows and cursors ------------------------------------------------------------------------
    # `end_ts` of GET /v1/messages: inclusive (False) or exclusive (True).
    end_ts_exclusive: bool = False
    # `start_ts` of GET /v1/messages: inclusive (False) or exclusive (True).
    start_ts_exclusive: bool = False
    # Cursor-paged lists may answer an empty page that still carries a `next` (here: before every page,
    # and once more after the last one).
    empty_pages_with_next: bool = False
    # The last page's `next`: "empty" (""), "null" or "absent".
    last_page_next: str = "empty"
    # The last page's `next` points back to the cursor the first page gave (a server loop). Cursors are
    # the same string each time only while cursor_ttl_seconds is 0.
    cursor_loop: bool = False
    # A `next` token older than this many seconds is refused with `expired_cursor_status` (0: never).
    cursor_ttl_seconds: float = 0.0
    expired_cursor_status: int = 400
    # Cursors are positions, so a deletion before one moves later records up a page. With N > 0, each
    # time the first page of a deletable paged list (newsletters) is served, its first N records are
    # deleted: the next page then starts N records further on, and N records still there go unlisted.
    deleted_while_paging: int = 0
    # A whole list (GET /v1/campaigns, ...) with no records answers `{}` instead of `{"campaigns": []}`.
    empty_list_omits_key: bool = False
    # -- sender identities and suppressions -----------------------------------------------------------------
    # What `GET /v1/sender_identities?hidden=true` lists: "all" senders, hidden ones included, or "only"
    # the hidden ones. Without `hidden`, the hidden ones are left out (documented).
    hidden_senders_listing: str = "all"
    # How an ESP suppression list answers a `domain` the workspace does not send from: 200 (an empty
    # list), or that error status (404, 400...).
    unknown_domain_status: int = 200
    # -- sub-resources --------------------------------------------------------------------------------------
    # The first N parents of each list (by index) are deleted between the listing and the request for their
    # sub-resources: they stay listed, their actions, contents, memberships and metrics answer 404.
    deleted_parents: int = 0
    # Newsletter contents carry `created`/`updated` (the OpenAPI document gives them neither).
    newsletter_contents_updated: bool = False
    # Version-2 metrics ignore `tz` and count EST days (their default), so the days cannot be the ones asked.
    metrics_tz_ignored: bool = False
    # Version-2 metrics leave out the newest N days of the range asked (not counted yet).
    metrics_newest_days_omitted: int = 0
    # -- child deletions ------------------------------------------------------------------------------------
    # Campaign actions' cursors are positions too: with N > 0, each time the first page of a campaign's
    # actions is served, its first N actions are deleted, so the next page starts N actions further on and
    # N actions still there go unlisted.
    actions_deleted_while_paging: int = 0

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def configure(self, **knobs: Any) -> None:
        unknown = set(knobs) - self.field_names()
        if unknown:
            raise ValueError(f"unknown quirk(s): {sorted(unknown)}; known: {sorted(self.field_names())}")
        for name, value in knobs.items():
            setattr(self, name, type(getattr(self, name))(value))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
