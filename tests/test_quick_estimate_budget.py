"""While the vocabulary loads, a request may be reserved at an upper bound of its prompt tokens
(`AnswerRecorder.quick_estimate`); a row far longer than the run's first must not reserve a bound
that alone stops a run for its budget when its count fits (`bound_cap_usd`)."""

import pandas as pd

from distill_tui.core.cost import tokens
from distill_tui.core.run.generate import QUICK_MARGIN, run_teacher
from distill_tui.core.run.recorder import AnswerRecorder
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_dataset, write_spec


def test_rows_longer_than_the_first_do_not_stop_a_run_for_budget_while_the_vocabulary_loads(
        tmp_path, server_factory, monkeypatch):
    server = server_factory(latency=0.5)  # the first rows are in flight together
    write_dataset(tmp_path / "data.csv", rows=40)
    spec = write_spec(tmp_path, rows=40, provider={"base_url": server.base_url}, generation={"workers": 4})
    ws = Workspace.open(spec)
    model = ws.spec.teacher.model
    ids = [r.row_id for r in iter_requests(ws.spec, ws.data, model, "train")]
    ws.close()
    frame = pd.read_csv(tmp_path / "data.csv")
    longer = set(ids[1:5])  # the first row short, the next ones ~20 KB
    frame["description"] = ["A wine with " + "dark cherry and oak " * 1000 if i in longer else d
                            for i, d in zip(frame["id"], frame["description"])]
    frame.to_csv(tmp_path / "data.csv", index=False)
    ws = Workspace.open(spec)
    reqs = list(iter_requests(ws.spec, ws.data, model, "train"))
    recorder = AnswerRecorder(ws, model, "train")
    budget = QUICK_MARGIN * recorder.bound_estimate(reqs[0])[1] * 1.01  # the quick estimate is used
    assert sum(recorder.estimate(r)[1] for r in reqs) < budget  # every row fits, counted
    assert sum(recorder.bound_estimate(r)[1] for r in reqs[1:4]) > budget  # three bounds do not
    monkeypatch.setattr(tokens, "encoding_ready", lambda model: False)  # still loading, all run long
    result = run_teacher(ws, budget_usd=budget)
    assert result.stopped is None and result.done == result.total, result.message
    ws.close()


def test_a_vocabulary_that_cannot_load_is_met_before_a_request_is_sent_not_bounded_for_ever(tmp_path, monkeypatch):
    import threading

    import pytest

    write_dataset(tmp_path / "data.csv", rows=20)
    ws = Workspace.open(write_spec(tmp_path, rows=20))
    model = ws.spec.teacher.model
    req = next(iter_requests(ws.spec, ws.data, model, "train"))
    recorder = AnswerRecorder(ws, model, "train")
    monkeypatch.setattr(tokens, "_by_model", {})  # as in a fresh process with a broken install
    monkeypatch.setattr(tokens, "_loading", set())
    monkeypatch.setattr(tokens, "_failed", set(), raising=False)
    tried = threading.Event()

    def broken(name):
        tried.set()
        raise tokens.VocabularyError("cannot read the o200k_base vocabulary")

    monkeypatch.setattr(tokens, "get_encoding", broken)
    recorder.quick_estimate(req)  # starts loading: an upper bound meanwhile
    assert tried.wait(10)
    for thread in [t for t in threading.enumerate() if t.name == "distill-vocabulary"]:
        thread.join(10)
    with pytest.raises(tokens.VocabularyError):
        recorder.quick_estimate(req)
    ws.close()
