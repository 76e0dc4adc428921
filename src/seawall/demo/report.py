"""The demo's figures and invariants: gathered from the provider, the sender and the store.

Every figure comes from the party that can prove it: charges and duplicate charges from the
provider's own ledger, webhooks sent and acknowledged from the sender, webhooks received and
rejected from the receiver, processing outcomes and dead letters from the store, and payment
states from the command records. `check_invariants` says which promises held; the demo exits
non-zero when any did not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from seawall.commands import CommandApi
from seawall.payments.state import record_status_for_provider
from seawall.store import Store
from seawall.testing import FakeProvider
from seawall.testing.fake_webhooks import WebhookSender
from seawall.webhooks import inbox
from seawall.webhooks.receiver import WebhookStats

__all__ = [
    "Consistency",
    "build_report",
    "check_consistency",
    "check_invariants",
    "inbox_counts",
    "load_records",
    "percentiles",
    "render_summary",
]

_MAX_MISMATCHES = 20


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 and p99 (nearest rank) of `values`, None when empty."""
    if not values:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        index = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
        return round(ordered[index], 3)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(ordered[-1], 3)}


async def load_records(commands: CommandApi, tenant: str) -> dict[str, dict[str, Any]]:
    """Every payment record of `tenant`, by order id (the projected latest versions)."""
    records: dict[str, dict[str, Any]] = {}
    last_sk: str | None = None
    while True:
        page = await commands.list_items_by_pk(
            f"PAYMENT#{tenant}", sk_prefix="ORDER#", limit=1000, start_from_sk=last_sk
        )
        for item in page.items:
            records[item.code] = dict(item.attributes)
        last_sk = page.last_sk
        if last_sk is None:
            return records


async def inbox_counts(store: Store) -> dict[str, int]:
    """Stored webhook events by inbox status."""
    return await inbox.counts_by_status(store)


async def inbox_ids(store: Store, source: str) -> set[str]:
    """The event ids stored for `source`."""
    return await inbox.event_ids(store, source)


@dataclass(slots=True)
class Consistency:
    """The final check: each order's record against the provider's final state."""

    orders: int = 0
    consistent: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "orders": self.orders,
            "consistent": self.consistent,
            "inconsistent": self.orders - self.consistent,
            "mismatches": self.mismatches[:_MAX_MISMATCHES],
        }


def check_consistency(
    orders: list[str],
    records: dict[str, dict[str, Any]],
    provider_payments: list[dict[str, Any]],
) -> Consistency:
    """Compare status, transaction id and refunded amount of every order with the provider."""
    by_order: dict[str, list[dict[str, Any]]] = {}
    for payment in provider_payments:
        order = str((payment.get("metadata") or {}).get("order_id"))
        by_order.setdefault(order, []).append(payment)
    result = Consistency(orders=len(orders))
    for order in orders:
        record = records.get(order)
        charges = by_order.get(order, [])
        problem: str | None = None
        if record is None:
            problem = "no payment record"
        elif len(charges) != 1:
            problem = f"{len(charges)} charges at the provider"
        else:
            paid = charges[0]
            expected = record_status_for_provider(
                str(paid["status"]), int(paid["amount"]), int(paid["amount_refunded"])
            )
            if record.get("status") != expected:
                problem = f"record says {record.get('status')}, provider says {expected}"
            elif record.get("transaction_id") != paid["id"]:
                problem = f"record has transaction {record.get('transaction_id')}, not {paid['id']}"
            elif int(record.get("amount_refunded") or 0) != int(paid["amount_refunded"]):
                problem = (
                    f"record refunded {record.get('amount_refunded')}, "
                    f"provider {paid['amount_refunded']}"
                )
        if problem is None:
            result.consistent += 1
        else:
            result.mismatches.append({"order_id": order, "problem": problem})
    return result


def build_report(
    *,
    options: dict[str, Any],
    store: str,
    duration_s: float,
    order_ids: list[str],
    refunds_submitted: int,
    records: dict[str, dict[str, Any]],
    provider: FakeProvider,
    sender: WebhookSender,
    receiver: WebhookStats,
    inbox: dict[str, int],
    stored_ids: set[str],
    jobs_left: int,
    jobs_dead: int,
    worker: dict[str, Any],
    gateway: dict[str, Any],
) -> dict[str, Any]:
    """The run's report (as `--report` writes it) with its invariants, from what each party
    holds: the provider's ledger, the sender's log, the receiver's counters, the inbox, the
    records and the queues."""
    counters = provider.counters()
    payments = provider.payments()
    sent = sender.stats()
    consistency = check_consistency(order_ids, records, payments)
    statuses = [str(records[o].get("status")) for o in order_ids if o in records]
    rejected = {reason: n for (_, reason), n in receiver.rejected.items()}
    requests = counters["requests"]
    provider_requests = sum(
        sum(requests.get(route, {}).values()) for route in ("POST /v1/payments", "POST /v1/refunds")
    )
    charges_by_order = counters["charges_by_order"]
    accepted = sum(receiver.accepted.values())
    duplicates = sum(receiver.duplicates.values())
    report: dict[str, Any] = {
        "options": options,
        "store": store,
        "duration_s": round(duration_s, 2),
        "payments": {
            "submitted": len(order_ids),
            "recorded": sum(1 for o in order_ids if o in records),
            "succeeded": statuses.count("success") + statuses.count("refunded"),
            "failed": statuses.count("failed"),
            "pending": statuses.count("pending"),
            "refunded": statuses.count("refunded"),
            "partially_refunded": sum(
                1
                for o in order_ids
                if records.get(o, {}).get("status") == "success"
                and int(records[o].get("amount_refunded") or 0) > 0
            ),
            "refunds_submitted": refunds_submitted,
        },
        "gateway": {
            **gateway,
            "provider_requests": provider_requests,
            "provider_charges": counters["charges"],
            "provider_refunds": counters["refunds"],
            "duplicate_charges": counters["duplicate_charges"],
            "max_charges_per_order": max(charges_by_order.values(), default=0),
        },
        "webhooks": {
            "events": sent.events,
            "sent": sent.requests,
            "redeliveries": sent.redeliveries,
            "received": accepted + duplicates + sum(rejected.values()),
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": rejected,
            "rejected_forged": rejected.get("bad_signature", 0),
            "rejected_stale": rejected.get("stale_timestamp", 0),
            "forged_sent": sent.forged_sent,
            "stale_sent": sent.stale_sent,
            "forged_accepted": sent.forged_accepted,
            "stale_accepted": sent.stale_accepted,
            "acknowledged": sent.acknowledged,
            "acknowledged_not_stored": len(sender.acknowledged() - stored_ids),
            "gave_up": sent.gave_up,
            "stored": sum(inbox.values()),
            "processed": inbox.get("processed", 0),
            "dead_lettered": inbox.get("dead", 0) + inbox.get("failed", 0),
            "inbox": inbox,
        },
        "jobs": {"remaining": jobs_left, "dead_lettered": jobs_dead},
        "worker": worker,
        "consistency": consistency.to_dict(),
        "latency_ms": {
            "end_to_end": percentiles(
                [float(r["latency_ms"]) for r in records.values() if "latency_ms" in r]
            ),
            "gateway_call": percentiles(
                [float(r["charge_call_ms"]) for r in records.values() if "charge_call_ms" in r]
            ),
        },
    }
    report["invariants"] = check_invariants(report)
    report["ok"] = all(report["invariants"].values())
    return report


def check_invariants(report: dict[str, Any]) -> dict[str, bool]:
    """Each promise the demo makes, and whether this run kept it."""
    gateway, hooks, jobs = report["gateway"], report["webhooks"], report["jobs"]
    consistency = report["consistency"]
    return {
        "no_duplicate_charges": gateway["duplicate_charges"] == 0
        and gateway["max_charges_per_order"] <= 1,
        "every_order_recorded": report["payments"]["recorded"] == report["payments"]["submitted"],
        "records_match_provider": consistency["inconsistent"] == 0,
        "no_forged_or_stale_webhook_accepted": hooks["forged_accepted"] == 0
        and hooks["stale_accepted"] == 0,
        "every_webhook_acknowledged": not hooks["gave_up"],
        "every_acknowledged_webhook_stored": hooks["acknowledged_not_stored"] == 0,
        "every_stored_webhook_processed": hooks["stored"] == hooks["processed"],
        "no_jobs_left_or_dead": jobs["remaining"] == 0 and jobs["dead_lettered"] == 0,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_summary(report: dict[str, Any], console: Console) -> None:
    """Print the summary table (the same figures as the JSON report)."""
    pay, gw, hooks, jobs = (
        report["payments"],
        report["gateway"],
        report["webhooks"],
        report["jobs"],
    )
    lat = report["latency_ms"]
    table = Table(title="seawall demo: summary", show_lines=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("figure", justify="right")
    table.add_column("what it means")
    rows: list[tuple[str, Any, str]] = [
        ("payments submitted", pay["submitted"], "orders charged through the durable outbox"),
        ("  succeeded", pay["succeeded"], "charged (refunded ones included)"),
        ("  failed", pay["failed"], "declined by the gateway"),
        ("  pending", pay["pending"], "still pending at the gateway"),
        ("  refunded (full/partial)", f"{pay['refunded']}/{pay['partially_refunded']}", ""),
        ("gateway calls", gw["calls"], "logical charge and refund calls"),
        ("  not sent (breaker open)", gw["rejected_by_breaker"], "failed fast, retried later"),
        ("  attempts", gw["attempts"], "HTTP requests the client made"),
        ("  retries", gw["retries"], "attempts after a transient failure"),
        ("  breaker trips", gw["breaker_trips"], "times the breaker opened"),
        ("  requests seen by gateway", gw["provider_requests"], "including injected faults"),
        ("duplicate charges", gw["duplicate_charges"], "at the provider; must be 0"),
        ("webhooks sent", hooks["sent"], "requests by the provider, redeliveries included"),
        ("  received", hooks["received"], "requests the receiver answered"),
        ("  accepted", hooks["accepted"], "new events stored durably"),
        ("  duplicates", hooks["duplicates"], "repeats answered 200 and not stored again"),
        ("  rejected forged", hooks["rejected_forged"], "bad signature"),
        ("  rejected stale", hooks["rejected_stale"], "timestamp outside the window"),
        ("  processed", hooks["processed"], "handlers committed"),
        ("  dead-lettered", hooks["dead_lettered"], "handlers gave up"),
        ("jobs dead-lettered", jobs["dead_lettered"], "all queues"),
        ("worker kills", report["worker"]["kills"], "SIGKILL mid-run, then restarted"),
        (
            "consistency",
            f"{report['consistency']['consistent']}/{report['consistency']['orders']}",
            "records matching the provider's final state",
        ),
        (
            "latency p50/p99 (ms)",
            f"{_fmt(lat['end_to_end']['p50'])}/{_fmt(lat['end_to_end']['p99'])}",
            "submit to recorded result",
        ),
        (
            "gateway call p50/p99 (ms)",
            f"{_fmt(lat['gateway_call']['p50'])}/{_fmt(lat['gateway_call']['p99'])}",
            "one charge call, retries included",
        ),
        ("duration (s)", report["duration_s"], ""),
    ]
    for label, value, meaning in rows:
        table.add_row(label, _fmt(value), meaning)
    console.print(table)
    failed = [name for name, ok in report["invariants"].items() if not ok]
    if failed:
        console.print(f"[bold red]FAILED invariants:[/] {', '.join(failed)}")
        for mismatch in report["consistency"]["mismatches"][:5]:
            console.print(f"  order {mismatch['order_id']}: {mismatch['problem']}")
    else:
        console.print(
            f"[bold green]All {len(report['invariants'])} invariants hold[/]: "
            + ", ".join(report["invariants"])
        )
