"""Importing stored completions from an OpenAI-compatible provider (the offline one, over HTTP)."""

from __future__ import annotations

import uuid

import pytest

from distill_tui.core.common.errors import UserError
from distill_tui.core.curate import importer
from distill_tui.core.curate.filters import Filters
from distill_tui.core.curate.importer import import_stored, parse_metadata, prompt_key
from distill_tui.core.curate.selection import Curation
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec


@pytest.fixture
def stored(tmp_path, offline_server):
    """A workspace on the offline server, and 12 of its train prompts answered there with store=true
    under a fresh tag, plus one prompt not in the data and one answer of another model."""
    tag = {"distillation": f"import-{uuid.uuid4().hex[:8]}"}
    ws = Workspace.open(write_spec(tmp_path, rows=60, provider={"base_url": offline_server.base_url}))
    client = ws.client()
    requests = list(iter_requests(ws.spec, ws.data, "offline-teacher", "train"))[:12]
    for req in requests:
        client.chat.completions.create(**{**req.body, "store": True, "metadata": tag})
    extra = [{"role": "user", "content": "A wine [not in the data] with plum."}]
    client.chat.completions.create(model="offline-teacher", messages=extra, store=True, metadata=tag,
                                   response_format=requests[0].body["response_format"])
    client.chat.completions.create(**{**requests[0].body, "model": "offline-student", "store": True, "metadata": tag})
    yield ws, tag, requests
    ws.close()


def test_import_by_metadata_and_model(stored, monkeypatch):
    ws, tag, requests = stored
    monkeypatch.setattr(importer, "PAGE_SIZE", 5)  # several pages
    result = import_stored(ws, tag, "offline-teacher")
    assert (result.imported, result.already, result.unusable, result.with_gold) == (13, 0, 0, 12)
    cur = Curation.from_workspace(ws)
    imported = cur.mask(Filters(source="imported"))
    assert imported.sum() == 13 and (cur.ids[imported] < 0).all()
    assert sorted(cur.ids[imported].tolist()) == list(range(-13, 0))
    golds = {a.gold for a in cur.answers if a.source == "imported"}
    assert golds - {None} <= set(ws.data.labels) and None in golds
    first = next(a for a in cur.answers if a.row_id == -1)
    assert first.messages == requests[0].messages and first.split == "train" and first.model == "offline-teacher"
    assert first.content and first.request_id.startswith("chatcmpl")
    again = import_stored(ws, tag, "offline-teacher")
    assert (again.imported, again.already) == (0, 13)


def test_import_every_model(stored):
    ws, tag, _ = stored
    assert import_stored(ws, tag).imported == 14


def test_import_unknown_tag_imports_nothing(stored):
    ws, _, _ = stored
    assert import_stored(ws, {"distillation": "nothing-here"}).imported == 0


def test_parse_metadata():
    assert parse_metadata("a=1, b = two") == {"a": "1", "b": "two"}
    for bad in ("", "novalue", "=x"):
        with pytest.raises(UserError):
            parse_metadata(bad)


def test_import_stored_command(tmp_path, offline_server, capsys):
    """The headless face of the import: counts on stdout as JSON, exit 0."""
    import json

    import openai

    from distill_tui.cli import main
    from tests.helpers import write_spec

    spec = write_spec(tmp_path, provider={"base_url": offline_server.base_url})
    client = openai.OpenAI(base_url=offline_server.base_url, api_key="offline", max_retries=0)
    client.chat.completions.create(
        model="offline-teacher", store=True, metadata={"distillation": "cli-import"},
        messages=[{"role": "user", "content": "A wine with plum and cherry."}],
    )
    code = main(["import-stored", str(spec), "--metadata", "distillation=cli-import", "--json"])
    assert code == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["imported"] == 1


@pytest.fixture
def generated(tmp_path, offline_server):
    """A workspace whose teacher answered every train and eval row with store=true under a fresh tag,
    plus, stored under the same tag elsewhere: one new prompt of the teacher and one student answer."""
    from distill_tui.core.run.generate import run_model, run_teacher

    tag = {"distillation": f"own-{uuid.uuid4().hex[:8]}"}
    ws = Workspace.open(write_spec(tmp_path, rows=40, provider={"base_url": offline_server.base_url},
                                   generation={"store": True, "metadata": tag}))
    assert run_teacher(ws).left == 0
    assert run_model(ws, ws.spec.teacher.model, "eval").left == 0
    client = ws.client()
    train = list(iter_requests(ws.spec, ws.data, "offline-teacher", "train"))
    fmt = train[0].body["response_format"]
    client.chat.completions.create(model="offline-teacher", messages=[{"role": "user", "content": "A new wine."}],
                                   store=True, metadata=tag, response_format=fmt)
    client.chat.completions.create(**{**train[0].body, "model": "offline-student", "store": True, "metadata": tag})
    yield ws, tag
    ws.close()


def test_import_skips_own_answers_and_held_out_prompts(generated):
    ws, tag = generated
    n_train, n_eval = len(ws.data.train), len(ws.data.eval)
    result = import_stored(ws, tag, importer.model_filter(None, ws.spec.teacher.model))
    assert (result.read, result.own, result.held_out) == (n_train + n_eval + 1, n_train, n_eval)
    assert (result.imported, result.already, result.unusable) == (1, 0, 0)
    every = import_stored(ws, tag, importer.model_filter("any", ws.spec.teacher.model))
    assert (every.imported, every.already, every.own, every.held_out) == (1, 1, n_train, n_eval)
    imported = [a for a in ws.store.answers() if a.source == "imported"]
    assert sorted(a.model for a in imported) == ["offline-student", "offline-teacher"]
    eval_prompts = {prompt_key(r.messages) for r in iter_requests(ws.spec, ws.data, "offline-teacher", "eval")}
    assert not any(prompt_key(a.messages) in eval_prompts for a in imported)


def test_model_filter_defaults_to_the_teacher():
    assert importer.model_filter(None, "gpt-4o") == "gpt-4o"
    assert importer.model_filter("  ", "gpt-4o") == "gpt-4o"
    assert importer.model_filter("gpt-4o-mini", "gpt-4o") == "gpt-4o-mini"
    assert all(importer.model_filter(x, "gpt-4o") is None for x in ("any", "ANY", "all", "*"))


def test_a_dated_snapshot_name_is_the_same_model():
    assert importer._same_model("gpt-4o-2024-08-06", {"gpt-4o"})
    assert not importer._same_model("gpt-4o-mini-2024-07-18", {"gpt-4o"})
    assert not importer._same_model("gpt-4o-mini", {"gpt-4o"})


def test_import_stored_command_defaults_to_the_teacher(generated, capsys):
    """Without --model only the teacher's completions come in; progress on a pipe is one plain line."""
    import json

    from distill_tui.cli import main

    ws, tag = generated
    meta = ",".join(f"{k}={v}" for k, v in tag.items())
    assert main(["import-stored", str(ws.spec.source), "--metadata", meta, "--json"]) == 0
    out, err = capsys.readouterr()
    counts = json.loads(out)
    assert counts["model"] == "offline-teacher" and counts["imported"] == 1 and counts["own"] == len(ws.data.train)
    assert "\r" not in err and err.splitlines() == [f"read {counts['read']} completions"]
    assert main(["import-stored", str(ws.spec.source), "--metadata", meta, "--model", "any"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("imported 1 completions") and "model: any" in out and "\r" not in err


def test_import_stored_command_shows_a_running_count_on_a_terminal(generated, capsys, monkeypatch):
    import sys

    from distill_tui.cli import main

    ws, tag = generated
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    meta = ",".join(f"{k}={v}" for k, v in tag.items())
    assert main(["import-stored", str(ws.spec.source), "--metadata", meta]) == 0
    err = capsys.readouterr().err
    assert err.startswith("\rread 1 completions\rread 2 completions") and err.endswith("completions\n")
    assert err.count("\n") == 1
