from distill_tui.core.store import SCHEMA_VERSION, Answer, JobRecord, Store


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
