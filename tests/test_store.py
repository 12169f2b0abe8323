from distill_tui.core.store.database import SCHEMA_VERSION, Answer, Store
from distill_tui.core.store.jobs import JobRecord


def test_schema_is_versioned_and_answers_persist(tmp_path):
    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        assert store.meta("schema_version") == str(SCHEMA_VERSION)
        store.record_answer(Answer("m", 3, "h", "train", "ok", gold="A", messages=[{"role": "user", "content": "x"}],
                                   content='{"v":"A"}', label="A", valid=True, prompt_tokens=10))
        store.record_answer(Answer("m", 4, "h", "train", "failed", error="boom"))
    with Store(path) as store:
        answers = store.answers(model="m")
        assert [a.row_id for a in answers] == [3, 4]
        assert answers[0].messages == [{"role": "user", "content": "x"}] and answers[0].valid is True
        assert store.answered_keys("m") == {(3, "h")}
        assert store.answers(model="m", prompt_hashes={3: "other"}) == []


def test_selections_settings_and_jobs(tmp_path):
    with Store(tmp_path / "ws.sqlite") as store:
        store.set_selections({1: True, 2: False})
        store.set_setting("curation", {"agrees": True})
        store.save_job(JobRecord(id="ftjob-1", backend="openai", base_model="gpt-4o-mini", status="running"))
        store.save_events("ftjob-1", [{"id": "e1", "created_at": 1, "type": "message", "message": "hi"}])
        assert store.save_events("ftjob-1", [{"id": "e1", "created_at": 1}]) == 0
    with Store(tmp_path / "ws.sqlite") as store:
        assert store.selections() == {1: True, 2: False}
        assert store.setting("curation") == {"agrees": True}
        assert store.job("ftjob-1").status == "running"
        assert store.events("ftjob-1")[0]["message"] == "hi"


def test_unusable_workspaces_are_one_line_user_errors(tmp_path):
    import pytest

    from distill_tui.core.common.errors import UserError

    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"\x13\x37 not sqlite at all " * 200)
    with pytest.raises(UserError, match="the workspace database is damaged"):
        Store(corrupt)
    newer = tmp_path / "newer.sqlite"
    with Store(newer) as store:
        store.set_meta("schema_version", "999")
    with pytest.raises(UserError, match="schema 999 is newer"):
        Store(newer)
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    with pytest.raises(UserError, match="cannot create the workspace folder"):
        Store(a_file / "ws" / "w.sqlite")


def test_run_lock_refuses_a_second_run_of_the_same_model(tmp_path):
    import pytest

    from distill_tui.core.common.errors import UserError

    with Store(tmp_path / "ws.sqlite") as store:
        with store.run_lock("gpt-4o"):
            with pytest.raises(UserError, match="gpt-4o is already running in this workspace \\(pid "):
                with store.run_lock("gpt-4o"):
                    pass
            with store.run_lock("gpt-4o-mini"):
                pass  # another model may run beside it
        with store.run_lock("gpt-4o"):
            pass  # released


def test_concurrent_generate_runs_never_buy_a_row_twice(tmp_path):
    """Two runs started together: one answers, the other is refused (or finds nothing left)."""
    import os
    import subprocess
    import sys

    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.offline import OfflineOptions, start_server
    from tests.helpers import write_spec

    server = start_server(OfflineOptions(latency=0.02))
    try:
        spec = write_spec(tmp_path, rows=60, provider={"base_url": server.base_url}, generation={"workers": 2})
        ws = Workspace.open(spec)
        train_rows = len(ws.data.train)
        ws.close()
        procs = [subprocess.Popen([sys.executable, "-m", "distill_tui.cli", "generate", str(spec)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
                 for _ in range(2)]
        outputs = [p.communicate(timeout=300) for p in procs]
        counts = server.stats["requests_by_prompt_hash"]
        assert len(counts) == train_rows and max(counts.values()) == 1, "every train row answered exactly once"
        assert any(p.returncode == 0 for p in procs)
        for p, (_, err) in zip(procs, outputs):
            if p.returncode:
                assert "already running in this workspace" in err and "Traceback" not in err
    finally:
        server.shutdown()
