"""Pieces of the offline provider that need no server: learner, limits, training rules, CLI."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys

import httpx2
import pytest

from distill_tui.offline import add_arguments, learner
from distill_tui.offline.cli import options_from_args
from distill_tui.offline.common import ApiError, cursor_page
from distill_tui.offline.files import parse_multipart
from distill_tui.offline.limits import RateLimiter, go_duration
from distill_tui.offline.training import answer_label, auto_batch_size, auto_epochs


def test_features_are_words_and_pairs_within_a_segment():
    feats = learner.features("Red cherry, Forest floor | Côte Rôtie")
    assert {"red", "cherry", "red cherry", "forest floor", "côte rôtie"} <= feats
    assert "cherry forest" not in feats and "floor côte" not in feats


def test_naive_bayes_learns_restricts_and_copies_independently():
    model = learner.train([("cassis cedar graphite", "Bordeaux"), ("cherry silky earth", "Pinot"),
                           ("cedar tobacco cassis", "Bordeaux"), ("raspberry silky cherry", "Pinot")])
    assert model.predict("cedar and cassis") == "Bordeaux"
    assert model.predict("cedar and cassis", ["Pinot", "Unknown"]) == "Pinot"
    assert model.predict("cedar", ["Unknown"]) is None
    posterior = model.posterior("silky cherry")
    assert posterior["Pinot"] > 0.5 and abs(sum(posterior.values()) - 1) < 1e-9
    clone = model.copy()
    for _ in range(5):
        clone.learn("cedar cassis", "Pinot")
    assert clone.predict("cedar cassis") == "Pinot" and model.predict("cedar cassis") == "Bordeaux"
    restored = learner.NaiveBayes.from_state(json.loads(json.dumps(model.to_state())))
    assert restored.scores("silky cedar") == model.scores("silky cedar")


def test_text_shared_by_every_document_does_not_bias_labels():
    template = "Guess the grape of this wine from its review please"
    docs = [("cassis cedar", "A")] * 10 + [("cherry earth", "B")] * 2
    model = learner.train((f"{template} | {text}", label) for text, label in docs)
    scores = model.scores(f"{template} | cherry earth")
    assert max(scores, key=scores.get) == "B"


def test_row_text_renders_missing_and_whole_numbers_like_prompts():
    row = {"a": "", "b": "25.0", "c": "x"}
    assert learner.row_text(row, ["a", "b", "c"], "(missing)") == "(missing) | 25 | x"


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (0.12, "120ms"), (0.0004, "1ms"), (1, "1s"), (1.5, "1.5s"),
                                               (90.5, "1m30.5s"), (360, "6m0s"), (3725, "1h2m5s")])
def test_go_durations(seconds, text):
    assert go_duration(seconds) == text


def test_rate_limiter_buckets_refill_over_a_minute():
    clock = [0.0]
    limiter = RateLimiter(rpm=60, tpm=1000, clock=lambda: clock[0], window=60)
    assert limiter.admit(400, "m").ok and limiter.admit(400, "m").ok
    refused = limiter.admit(400, "m")
    assert not refused.ok and refused.kind == "tokens" and refused.retry_after == pytest.approx(200 / (1000 / 60))
    assert refused.headers["x-ratelimit-remaining-tokens"] == "200"
    clock[0] += refused.retry_after
    assert limiter.admit(400, "m").ok
    too_large = limiter.admit(5000, "m")
    assert too_large.too_large and not too_large.ok
    unlimited = RateLimiter(None, None, clock=lambda: clock[0])
    assert all(unlimited.admit(10**6, "m").ok for _ in range(50))
    assert int(unlimited.headers()["x-ratelimit-remaining-requests"]) < int(unlimited.headers()["x-ratelimit-limit-requests"])


def test_openai_epoch_and_batch_rules():
    assert auto_epochs(10) == 10 and auto_epochs(30) == 3 and auto_epochs(50) == 3 and auto_epochs(1000) == 3
    assert auto_epochs(10_000) == 2 and auto_epochs(30_000) == 1 and auto_epochs(2) == 25
    assert auto_batch_size(30) == 1 and auto_batch_size(5000) == 10 and auto_batch_size(10**6) == 256


def test_answer_label_reads_json_or_text():
    assert answer_label('{"variety": "Gamay"}') == "Gamay"
    assert answer_label(" Gamay \n") == "Gamay"
    assert answer_label('"Gamay"') == "Gamay"


def test_cursor_page():
    items = [{"id": str(i)} for i in range(5)]
    page = cursor_page(items, {"after": ["1"], "limit": ["2"]})
    assert [i["id"] for i in page["data"]] == ["2", "3"] and page["has_more"] and page["last_id"] == "3"
    with pytest.raises(ApiError):
        cursor_page(items, {"limit": ["0"]})


def test_parse_multipart():
    body = (b"--xx\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n"
            b"--xx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.jsonl\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n{\"a\": \"\xc3\xa9\"}\r\n--xx--\r\n")
    parts = parse_multipart("multipart/form-data; boundary=xx", body)
    assert parts["purpose"] == (None, b"fine-tune")
    assert parts["file"] == ("t.jsonl", '{"a": "é"}'.encode())


def test_cli_flags():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--rpm", "60", "--tpm", "1000", "--latency", "0.1", "--fail-rate", "0.05",
                              "--job-seconds", "2", "--require-key", "--refuse-training", "--label", "grape"])
    options = options_from_args(args)
    assert (options.rpm, options.tpm, options.latency, options.fail_rate) == (60, 1000, 0.1, 0.05)
    assert options.require_key and options.refuse_training and options.label == "grape" and options.job_seconds == 2


def test_run_from_args_serves_until_interrupted():
    code = ("import argparse, sys; from distill_tui.offline import add_arguments, run_from_args; "
            "p = argparse.ArgumentParser(); add_arguments(p); sys.exit(run_from_args(p.parse_args(sys.argv[1:])))")
    process = subprocess.Popen([sys.executable, "-c", code, "--rpm", "5"], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = process.stdout.readline()
        assert first.startswith("offline provider listening on http://127.0.0.1:")
        base_url = first.split()[-1]
        assert "OPENAI_BASE_URL=" + base_url in process.stdout.readline()
        stats = httpx2.get(base_url.removesuffix("/v1") + "/_offline/stats").json()
        assert stats["chat_requests"] == 0
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("flags", [["--fail-rate", "2"], ["--rpm", "0"], ["--knowledge", "/no/such.csv"],
                                   ["--label", "no_such_column"]])
def test_run_from_args_rejects_bad_flags_with_exit_2(flags, capsys):
    from distill_tui.offline import run_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run_from_args(parser.parse_args(flags)) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill-tui serve-offline: error: ") and err.count("\n") == 1


def test_knowledge_files_of_any_format_and_encoding(tmp_path):
    import pandas as pd

    from distill_tui.offline.models import Knowledge, KnowledgeError

    frame = pd.DataFrame({"description": ["plum cherry", "lime petrol", "crème brûlée"], "variety": ["A", "B", "C"]})
    frame.to_parquet(tmp_path / "k.parquet")
    rows, columns = Knowledge(tmp_path / "k.parquet", "variety", None).rows()
    assert [r["variety"] for r in rows] == ["A", "B", "C"] and columns == ["description"]
    (tmp_path / "latin.csv").write_bytes("description,variety\ncrème brûlée,C\n".encode("cp1252"))
    rows, _ = Knowledge(tmp_path / "latin.csv", "variety", None).rows()
    assert rows[0]["description"] == "crème brûlée"
    (tmp_path / "empty.csv").write_text("description,variety\n")
    with pytest.raises(KnowledgeError, match="no rows"):
        Knowledge(tmp_path / "empty.csv", "variety", None)
