"""`inbox.load_rows` on both engines: many events' full rows in a few statements, by key."""

from __future__ import annotations

from typing import Any

from seawall.store import Row, Store, Tx
from seawall.store.base import Params
from seawall.webhooks import inbox
from seawall.webhooks.inbox import _CHUNK, InboxEntry


class _CountingTx:
    """A transaction whose queries are counted."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.queries = 0

    @property
    def engine(self) -> Any:
        return self._tx.engine

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self.queries += 1
        return await self._tx.fetchall(sql, params)


def _entry(source: str, event_id: str) -> InboxEntry:
    body = b'{"id":"%s"}\x00\xff' % event_id.encode()
    return InboxEntry(source, event_id, "payment.completed", body, '{"x-h":"1"}', 1000.0)


async def test_many_keys_across_sources_in_a_few_statements(store: Store) -> None:
    many = [f"a-{i:04d}" for i in range(2 * _CHUNK + 2)]  # three chunks for one source
    edges = (_CHUNK - 1, _CHUNK, 2 * _CHUNK - 1, 2 * _CHUNK, len(many) - 1)
    stored_alpha = [e for i, e in enumerate(many) if i % 7 == 0 or i in edges]
    entries = [_entry("alpha", e) for e in stored_alpha]
    entries += [_entry("beta", e) for e in ("a-0000", "b-1", "b-2")]  # an id alpha has too
    async with store.transaction() as tx:
        assert len(await inbox.insert_entries(tx, entries)) == len(entries)
    asked = [("alpha", e) for e in many]
    asked += [("beta", "a-0000"), ("beta", "b-1"), ("beta", "b-missing"), ("gamma", "a-0003")]
    asked += [("alpha", many[0]), ("beta", "b-1"), ("alpha", many[-1])]  # asked twice
    unstorable = [("alpha", "a-\x00"), ("alpha", "a-\ud800"), ("de\x00lta", "x"), ("\udfff", "y")]
    async with store.read() as tx:
        counting = _CountingTx(tx)
        found = await inbox.load_rows(counting, [*unstorable, *asked, *unstorable])  # type: ignore[arg-type]
        one_by_one = {key: await inbox.load_row(tx, *key) for key in set(asked)}
    assert counting.queries == 3 + 1 + 1, "one statement per source and chunk, none for the rest"
    expected = {key: row for key, row in one_by_one.items() if row is not None}
    assert set(found) == set(expected) == {e.key for e in entries} - {("beta", "b-2")}
    assert found == expected
    row = found[("beta", "a-0000")]
    assert row["source"] == "beta" and bytes(row["body"]) == b'{"id":"a-0000"}\x00\xff'
    assert found[("alpha", many[_CHUNK])]["event_id"] == many[_CHUNK]


async def test_no_keys_or_only_unstorable_ones_read_nothing(store: Store) -> None:
    async with store.read() as tx:
        counting = _CountingTx(tx)
        assert await inbox.load_rows(counting, []) == {}  # type: ignore[arg-type]
        assert await inbox.load_rows(counting, [("a\x00", "x"), ("a", "\ud800")]) == {}  # type: ignore[arg-type]
    assert counting.queries == 0
