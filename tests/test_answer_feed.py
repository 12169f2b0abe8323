"""The Generate screen's "last answers" feed marks an answer ✓ as the task compares answers: the
spec's first grader's pass for free text and JSON (as the Curate screen's agr column), not exact text."""

from __future__ import annotations

import json

from distill_tui import locations
from distill_tui.core.task.spec import load_spec
from distill_tui.tui.widgets.progress_feed import AnswerFeed


def test_free_text_answers_agree_by_the_first_graders_pass() -> None:
    feed = AnswerFeed(load_spec(locations.package_assets() / "generation.toml"))  # chrf ≥ 0.5 first
    reference = "Serve Gamay lightly chilled, at about 13 °C."
    assert feed.agrees("Serve Gamay lightly chilled, at around 13 °C.", reference)  # was ✗: not the same text
    assert not feed.agrees("Decant it for an hour.", reference)
    assert not feed.agrees(None, reference)


def test_records_agree_by_the_json_fields_grader_and_labels_as_they_are() -> None:
    feed = AnswerFeed(load_spec(locations.package_assets() / "extraction.toml"))
    record = {"grape": "Merlot", "region": "Bordeaux", "producer": "Château Brun", "price_band": "$15-30",
              "sweetness": "dry"}
    assert feed.agrees(json.dumps(record), json.dumps(record, indent=1, sort_keys=True))
    assert feed.agrees(json.dumps({**record, "producer": "Château Lafon"}), json.dumps(record))  # 4 of 5 ≥ 0.8
    assert not feed.agrees(json.dumps({**record, "producer": "Lafon", "grape": "Syrah"}), json.dumps(record))
    labels = AnswerFeed(load_spec(locations.package_assets() / "demo.toml"))
    assert labels.agrees("Merlot", "Merlot") and not labels.agrees("merlot", "Merlot")
