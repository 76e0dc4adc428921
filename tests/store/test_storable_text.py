"""Text no engine can hold is refused or answered "not found" before it reaches SQL, on both."""

from __future__ import annotations

import pytest

from seawall.jobs import InvalidJobError, Queue
from seawall.store import Store
from seawall.store.text import storable_text
from seawall.webhooks.events import EventNotFoundError
from seawall.webhooks.inbox import get_event, list_events

UNSTORABLE = ["\x00", "job\x00id", "s\ud800", "\udfff"]


def test_the_rule() -> None:
    assert storable_text("") and storable_text("caf\u00e9 \U0001f600")
    assert not any(storable_text(text) for text in UNSTORABLE)


@pytest.mark.parametrize("bad", UNSTORABLE)
async def test_queue_and_inbox_lookups_answer_cleanly(store: Store, bad: str) -> None:
    queue = Queue(store)
    assert await queue.get_job(bad) is None
    assert await queue.dead_letter(bad) is None
    for call in (
        lambda: queue.dead_letters(bad),
        lambda: queue.redrive([bad]),
        lambda: queue.purge_dead_letters(None, [bad]),
        lambda: queue.enqueue(bad, {}),
    ):
        with pytest.raises(InvalidJobError):
            await call()
    with pytest.raises(EventNotFoundError):
        await get_event(store, bad, "evt")
    with pytest.raises(EventNotFoundError):
        await get_event(store, "src", bad)
    with pytest.raises(ValueError):
        await list_events(store, source=bad)
