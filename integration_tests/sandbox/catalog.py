"""Record builders for the small list streams and their sub-resources.

Type drift kept on purpose, because the real API shows it and connectors must survive it:
- broadcast index 1 has ``"tags": "nil"`` (a string, as in the docs example) instead of a list;
- the campaign with id 17 sends ``"id": "17"`` (a string) in a list of integer ids;
- workspaces' and object types' ids are strings (``"130001"``, ``"1"``), as in the docs examples;
- suppression ``category`` is ``"spam"`` for the ``spam_reports`` path (the API's enum differs from the path).

Sender identities with index % 5 == 2 are hidden (left out of the list unless `hidden=true` is asked). Each
suppression belongs to one or both sending domains (`suppression_domains`): the same address can be
suppressed on several.
"""

from __future__ import annotations

from collections.abc import Callable

from .tables import Ctx, Record, Table
from .util import DAY, b64_id, ulid

PersonRef = Callable[[int], dict[str, "str | None"]]

WORDS = (
    "welcome",
    "onboarding",
    "winback",
    "product",
    "weekly",
    "trial",
    "renewal",
    "launch",
    "survey",
    "promo",
)
AUTHORS = ("ExamplePerson", "ops@example.com", "growth@example.com", "api")
ACTION_TYPES = ("email", "email", "push", "twilio", "webhook", "slack", "in_app")
TAGS = ("new", "welcome", "Product Updates", "billing", "beta")
CAMPAIGN_DRIFT_ID = 17
SUPPRESSION_TYPES = ("bounces", "blocks", "spam_reports", "invalid_emails")
SENDING_DOMAINS = ("mail.example.com", "news.example.com")
# Residues (index % 3) of the suppressions recorded on each sending domain: 0 on both.
_DOMAIN_RESIDUES = {SENDING_DOMAINS[0]: (0, 1), SENDING_DOMAINS[1]: (0, 2)}


def sender_hidden(index: int) -> bool:
    return index % 5 == 2


def suppression_domains(index: int) -> tuple[str, ...]:
    return tuple(d for d, residues in _DOMAIN_RESIDUES.items() if index % 3 in residues)


def domain_count(domain: str, count: int) -> int:
    """How many of a list's first `count` suppressions are on `domain`."""
    residues = _DOMAIN_RESIDUES.get(domain, ())
    return (count // 3) * len(residues) + sum(1 for r in residues if r < count % 3)


def domain_index(domain: str, k: int) -> int:
    """The list index of the k-th suppression on `domain`."""
    residues = _DOMAIN_RESIDUES[domain]
    return 3 * (k // len(residues)) + residues[k % len(residues)]


SUPPRESSION_CATEGORY = {
    "bounces": "bounces",
    "blocks": "blocks",
    "spam_reports": "spam",
    "invalid_emails": "invalid_emails",
}


def _tags(ctx: Ctx, stream: str, i: int) -> list[str]:
    d = ctx.draw(stream, i, 5)
    return sorted({d.choice(TAGS) for _ in range(d.below(3))})


def _actions(ctx: Ctx, stream: str, parent_id: int, i: int) -> list[dict[str, object]]:
    d = ctx.draw(stream, i, 3)
    # Campaign index 0 always has enough actions to need two pages of /campaigns/{id}/actions.
    n = 5 if (stream == "campaigns" and i == 0) else 1 + d.below(4)
    return [{"id": parent_id * 100 + j + 1, "type": d.choice(ACTION_TYPES)} for j in range(n)]


def build_tables(ctx: Ctx, counts: dict[str, int], person: PersonRef, people_count: int) -> dict[str, Table]:
    def broadcasts(i: int, born: int | None) -> Record:
        d = ctx.draw("broadcasts", i)
        created, updated = ctx.times(d, born)
        bid = 2 + i
        active = d.chance(0.8)
        rec: Record = {
            "id": bid,
            "deduplicate_id": f"{bid}:{updated}",
            "name": f"{d.choice(WORDS)} broadcast {bid}",
            "type": "triggered_broadcast",
            "created": created,
            "updated": updated,
            "active": active,
            "state": "running" if active else d.choice(("draft", "stopped")),
            "actions": _actions(ctx, "broadcasts", bid, i),
            "first_started": created + d.below(DAY),
            "created_by": d.choice(AUTHORS),
            "tags": _tags(ctx, "broadcasts", i),
            "msg_template_ids": [],
        }
        if i == 1:
            rec["tags"] = "nil"
        return rec

    def transactional(i: int, born: int | None) -> Record:
        d = ctx.draw("transactional", i)
        created, updated = ctx.times(d, born)
        word = d.choice(WORDS)
        return {
            "id": 1 + i,
            "name": f"{word} receipt {1 + i}",
            "description": f"Transactional {word} message",
            "send_to_unsubscribed": d.chance(0.5),
            "link_tracking": d.chance(0.7),
            "open_tracking": d.chance(0.7),
            "hide_message_body": d.chance(0.1),
            "queue_drafts": d.chance(0.2),
            "trigger_name": f"{word}_{1 + i}",
            "created_at": created,
            "updated_at": updated,
        }

    def campaigns(i: int, born: int | None) -> Record:
        d = ctx.draw("campaigns", i)
        created, updated = ctx.times(d, born)
        cid = 15 + i
        kind = d.choice(("segment", "event", "date", "segment"))
        active = d.chance(0.7)
        actions = _actions(ctx, "campaigns", cid, i)
        return {
            "id": str(cid) if cid == CAMPAIGN_DRIFT_ID else cid,
            "deduplicate_id": f"{cid}:{updated}",
            "name": f"{d.choice(WORDS)} series {cid}",
            "description": "Sends a series of messages",
            "type": kind,
            "created": created,
            "updated": updated,
            "active": active,
            "state": "running" if active else d.choice(("draft", "stopped")),
            "actions": actions,
            "first_started": created + d.below(DAY) if active else 0,
            "created_by": d.choice(AUTHORS),
            "tags": _tags(ctx, "campaigns", i),
            "trigger_segment_ids": [7 + d.below(max(counts["segments"], 1))] if kind == "segment" else [],
            "filter_segment_ids": [7 + d.below(max(counts["segments"], 1))] if d.chance(0.4) else [],
            "msg_templates": [{"id": a["id"], "type": a["type"]} for a in actions],
            "event_name": "purchase" if kind == "event" else None,
            "timezone": d.choice(("UTC", "America/New_York", "Europe/Paris")),
            "use_customer_timezone": d.chance(0.3),
            "frequency": d.choice(("once", "multiple")),
            "start_hour": d.below(24),
            "start_minutes": d.choice((0, 15, 30, 45)),
        }

    def newsletters(i: int, born: int | None) -> Record:
        d = ctx.draw("newsletters", i)
        created, updated = ctx.times(d, born)
        nid = 128270 + i
        sent = d.chance(0.7)
        return {
            "id": nid,
            "deduplicate_id": f"{nid}:{updated}",
            "name": f"{d.choice(WORDS).title()} Update {nid}",
            "type": d.choice(("email", "email", "push", "in_app")),
            "content_ids": [nid * 10 + j for j in range(1 + d.below(3))],
            "sent_at": updated if sent else None,
            "created": created,
            "updated": updated,
            "recipient_segment_ids": sorted(
                {7 + d.below(max(counts["segments"], 1)) for _ in range(d.below(3))}
            ),
            "tags": _tags(ctx, "newsletters", i),
            "subscription_topic_id": 1 + d.below(max(counts["topics"], 1)) if d.chance(0.5) else None,
        }

    def segments(i: int, born: int | None) -> Record:
        d = ctx.draw("segments", i)
        created, updated = ctx.times(d, born)
        sid = 7 + i
        manual = d.chance(0.3)
        return {
            "id": sid,
            "deduplicate_id": f"{sid}:{updated}",
            "name": f"{'Manual' if manual else 'Dynamic'} segment {sid}",
            "description": f"People who {d.choice(WORDS)}",
            "state": d.choice(("events", "finished", "build")),
            "progress": None if d.chance(0.8) else d.below(100),
            "type": "manual" if manual else "dynamic",
            "tags": None if d.chance(0.5) else _tags(ctx, "segments", i),
            "created_at": created,
            "updated_at": updated,
        }

    def activities(i: int, born: int | None) -> Record:
        d = ctx.draw("activities", i)
        span = 30 * DAY - 120
        ts = born if born is not None else ctx.anchor - 60 - (i * span) // max(counts["activities"], 1)
        who = person(d.below(max(people_count, 1)))
        kind = d.choice(("event", "page", "attribute_change", "sent_email", "opened_email", "clicked_email"))
        rec: Record = {
            "id": ulid(ts * 1000 + d.below(1000), (i << 32) | d.below(1 << 32)),
            "customer_id": who["id"],
            "customer_identifiers": who,
            "type": kind,
            "timestamp": ts,
            "data": {},
        }
        if kind == "event":
            rec["name"] = d.choice(("purchase", "signup", "login"))
            rec["data"] = {"amount": d.below(500), "currency": "USD"}
        elif kind == "page":
            rec["url"] = f"https://example.com/{d.choice(WORDS)}"
        elif kind == "attribute_change":
            rec["name"] = "plan"
            rec["data"] = {"plan": {"from": "free", "to": d.choice(("pro", "enterprise"))}}
        else:
            delivery = b64_id(ctx.seed, 77, i)
            rec["delivery_id"] = delivery
            rec["delivery_type"] = "email"
            rec["data"] = {"delivery_id": delivery, "delivered": ts - 5, "opened": kind != "sent_email"}
        return rec

    def sender_identities(i: int, born: int | None) -> Record:
        d = ctx.draw("sender_identities", i)
        created, _ = ctx.times(d, born)
        sid = 4530 + i
        name = d.choice(("Cher Ami", "Support", "Billing", "Team", "News"))
        email = f"sender{sid}@example.com"
        phone = d.chance(0.15)
        return {
            "id": sid,
            "deduplicate_id": f"{sid}:{created}",
            "name": name,
            "email": "" if phone else email,
            "address": f"+1555{sid:07d}" if phone else f"{name} <{email}>",
            "template_type": "phone" if phone else "email",
            "auto_generated": d.chance(0.1),
        }

    def reporting_webhooks(i: int, born: int | None) -> Record:
        d = ctx.draw("reporting_webhooks", i)
        return {
            "id": 4 + i,
            "name": f"webhook {4 + i}",
            "endpoint": f"https://hooks.example.com/cio/{4 + i}",
            "disabled": d.chance(0.2),
            "full_resolution": d.chance(0.5),
            "with_content": d.chance(0.5),
            "events": sorted(
                {
                    d.choice(("email_sent", "email_opened", "email_clicked", "customer_subscribed"))
                    for _ in range(1 + d.below(3))
                }
            ),
            "type": "reporting",
        }

    def snippets(i: int, born: int | None) -> Record:
        d = ctx.draw("snippets", i)
        _, updated = ctx.times(d, born)
        return {
            "name": f"{d.choice(WORDS)}_snippet_{i}",
            "value": f"<p>{d.choice(WORDS)} footer {i}</p>",
            "updated_at": updated,
        }

    def ip_addresses(i: int, born: int | None) -> Record:
        return {"id": f"35.{188 + i // 250}.{196 + (i // 250) % 50}.{1 + i % 250}"}

    def collections(i: int, born: int | None) -> Record:
        d = ctx.draw("collections", i)
        created, updated = ctx.times(d, born)
        rows = d.below(500)
        return {
            "id": 1 + i,
            "name": f"{d.choice(WORDS)} events {1 + i}",
            "bytes": rows * 148,
            "rows": rows,
            "schema": ["date", "name", "location"][: 1 + d.below(3)],
            "created_at": created,
            "updated_at": updated,
        }

    def topics(i: int, born: int | None) -> Record:
        d = ctx.draw("topics", i)
        return {
            "id": 1 + i,
            "identifier": f"topic_{1 + i}",
            "name": f"{d.choice(WORDS).title()} news",
            "description": "Subscribe to hear about it",
            "subscribed_by_default": d.chance(0.5),
        }

    def workspaces(i: int, born: int | None) -> Record:
        d = ctx.draw("workspaces", i)
        sent = d.below(10_000_000)
        return {
            "id": str(130001 + i),
            "name": "Production" if i == 0 else f"Workspace {i}",
            "messages_sent": sent,
            "billable_messages_sent": sent - d.below(sent + 1) // 10,
            "people": people_count if i == 0 else d.below(100_000),
            "object_types": counts["types"] if i == 0 else d.below(5),
            "objects": d.below(10_000),
        }

    def types(i: int, born: int | None) -> Record:
        singular, plural = (("Company", "Companies"), ("Account", "Accounts"), ("Course", "Courses"))[i % 3]
        suffix = "" if i < 3 else f" {i}"
        return {
            "id": str(1 + i),
            "name": plural + suffix,
            "singular_name": singular + suffix,
            "slug": (plural + suffix).lower().replace(" ", "-"),
            "singular_slug": (singular + suffix).lower().replace(" ", "-"),
            "enabled": i % 4 != 3,
            "icon": ("building", "user", "book")[i % 3],
        }

    def suppression(kind: str, offset: int) -> Callable[[int, int | None], Record]:
        def build(i: int, born: int | None) -> Record:
            d = ctx.draw(kind, i)
            created, _ = ctx.times(d, born)
            # Addresses overlap between types: a person can be both bounced and blocked.
            return {
                "created": created,
                "email": f"person{offset + i + 1}@example.com",
                "reason": d.choice(("mailbox full", "550 5.1.1 user unknown", "complaint", "blocked")),
                "status": d.choice(("550", "550", "554", "421")),
            }

        return build

    t = {
        "broadcasts": Table(
            ctx, "broadcasts", counts["broadcasts"], broadcasts, cursor_field="updated", id_base=2
        ),
        "transactional_messages": Table(
            ctx,
            "transactional_messages",
            counts["transactional_messages"],
            transactional,
            cursor_field="updated_at",
        ),
        "campaigns": Table(
            ctx, "campaigns", counts["campaigns"], campaigns, cursor_field="updated", id_base=15
        ),
        "newsletters": Table(
            ctx, "newsletters", counts["newsletters"], newsletters, cursor_field="updated", id_base=128270
        ),
        "segments": Table(
            ctx, "segments", counts["segments"], segments, cursor_field="updated_at", id_base=7
        ),
        "activities": Table(
            ctx, "activities", counts["activities"], activities, cursor_field="timestamp", shuffle=False
        ),
        "sender_identities": Table(
            ctx, "sender_identities", counts["sender_identities"], sender_identities, id_base=4530
        ),
        "reporting_webhooks": Table(
            ctx, "reporting_webhooks", counts["reporting_webhooks"], reporting_webhooks, id_base=4
        ),
        "snippets": Table(
            ctx, "snippets", counts["snippets"], snippets, key_field="name", cursor_field="updated_at"
        ),
        "ip_addresses": Table(ctx, "ip_addresses", counts["ip_addresses"], ip_addresses, shuffle=False),
        "collections": Table(
            ctx, "collections", counts["collections"], collections, cursor_field="updated_at"
        ),
        "topics": Table(ctx, "topics", counts["topics"], topics),
        "workspaces": Table(ctx, "workspaces", counts["workspaces"], workspaces, id_base=130001),
        "types": Table(ctx, "types", counts["types"], types),
    }
    n = counts["suppressions"]
    for k, kind in enumerate(SUPPRESSION_TYPES):
        count = max(n - k * (n // 5), 0)
        t[f"suppression:{kind}"] = Table(
            ctx, kind, count, suppression(kind, k * max(n // 3, 1)), key_field="email", shuffle=False
        )
    return t
