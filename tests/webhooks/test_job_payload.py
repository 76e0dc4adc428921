"""The webhook job payload's one home: the dict, its JSON text and the reader agree."""

from __future__ import annotations

import json

import pytest

from seawall.webhooks.job_payload import event_job, event_job_text, event_of_job


@pytest.mark.parametrize(
    ("source", "event_id"),
    [("stripe", "evt_1"), ("a.b-c", 'quote"and\\slash'), ("src", "caf\u00e9 \u2603 \U0001f600")],
)
def test_text_dict_and_reader_agree(source: str, event_id: str) -> None:
    text = event_job_text(source, event_id)
    assert json.loads(text) == event_job(source, event_id)
    assert event_of_job(json.loads(text)) == (source, event_id)
    assert text.isascii() and '": ' not in text and '", ' not in text  # compact


def test_a_payload_missing_fields_reads_as_empty() -> None:
    assert event_of_job({}) == ("", "")
