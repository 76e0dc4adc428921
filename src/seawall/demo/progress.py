"""The demo's progress display: payments submitted and recorded, webhooks, queued work."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from seawall.testing.fake_webhooks import WebhookStats

__all__ = ["DemoProgress"]


class DemoProgress:
    """Four bars, shown while a demo runs; `work_label` names the queued work (jobs, messages)."""

    def __init__(self, console: Console, *, total: int, work_label: str, show: bool) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not show,
            transient=False,
        )
        add = self._progress.add_task
        self._submitted = add("payments submitted", total=total, note="")
        self._recorded = add("payments recorded", total=total, note="")
        self._hooks = add("webhooks acknowledged", total=None, note="")
        self._work = add(work_label, total=None, note="")

    def __enter__(self) -> DemoProgress:
        self._progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def submitted(self, done: int) -> None:
        """Show how many payments were submitted."""
        self._progress.update(self._submitted, completed=done)

    def show(self, *, recorded: int, webhooks: WebhookStats, work: str) -> None:
        """Show the recorded payments, the webhook sender's figures and a note on the work."""
        self._progress.update(self._recorded, completed=recorded)
        self._progress.update(
            self._hooks,
            completed=webhooks.acknowledged,
            total=max(webhooks.events, 1),
            note=f"{webhooks.requests} requests",
        )
        self._progress.update(self._work, note=work)
