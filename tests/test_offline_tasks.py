"""The offline models learn extraction and free-text answers: measured through the real SDK.

For each bundled demo (extraction.toml, generation.toml) the teacher answers every row, the base
student the held-out 30 %, the student is fine-tuned on the teacher's answers for the other 70 % and
answers again; scores on the held-out rows: the share of JSON fields equal to the reference's
(extraction), token F1 and sacrebleu chrF with the reference answer (generation).
`assets/measure_offline_models.py --task extraction|generation` prints the same numbers.
"""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from distill_tui.offline.measure_tasks import measure_task, task_spec
from distill_tui.offline.mind import LABEL, TEXT, Mind, plain_kind
from distill_tui.offline.learner import NaiveBayes, features
from distill_tui.offline.retrieval import Memory, token_f1
from tests.conftest_offline import client_for, running


def test_extraction_teacher_beats_student_and_fine_tuning_learns_the_teachers_fields():
    with running(job_seconds=0.5) as server:
        result = measure_task(server.base_url, "extraction")
    print(result.table())
    assert result.eval_rows >= 150
    assert result.teacher >= 0.7
    assert result.teacher - result.student >= 0.3
    assert result.distilled - result.student >= 0.15
    assert result.distilled < result.teacher + 0.05


def test_generation_teacher_beats_student_and_fine_tuning_learns_the_teachers_answers():
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    scores = {}
    with running(job_seconds=0.5) as server:
        for name, score in (("f1", None), ("chrf", lambda a, r: chrf.sentence_score(a or "", [r]).score / 100)):
            scores[name] = measure_task(server.base_url, "generation", score=score, metric=name)
    for result in scores.values():
        print(result.table())
        assert result.teacher - result.student >= 0.15
        assert result.distilled - result.student >= 0.08
        assert result.distilled < result.teacher + 0.05


def test_extraction_answers_validate_against_the_schema_and_unknown_fields_get_a_valid_plain_value():
    spec = task_spec("extraction")
    schema = json.loads((task_spec.__globals__["_assets"]() / spec["prompt"]["schema"]).read_text("utf-8"))
    schema["properties"]["vintage"] = {"type": ["integer", "null"]}  # a field no model has learned
    schema["properties"]["organic"] = {"type": "boolean"}
    schema["required"] += ["vintage", "organic"]
    review = ("From Domaine Moreau in Chablis: Green apple and flint aromas open to a crisp palate of lemon. "
              "Bone dry. Priced at $27.")
    with running() as server:
        client = client_for(server)
        reply = client.chat.completions.create(
            model="offline-teacher", messages=[{"role": "user", "content": f"Review: {review}"}],
            response_format={"type": "json_schema", "json_schema": {"name": "wine", "schema": schema, "strict": True}})
    answer = json.loads(reply.choices[0].message.content)
    assert not list(Draft202012Validator(schema).iter_errors(answer))
    assert answer["region"] == "Burgundy" and answer["price_band"] == "$15-30" and answer["sweetness"] == "dry"
    assert answer["vintage"] is None and answer["organic"] is False


def test_a_plain_text_question_gets_a_sentence_and_a_classification_prompt_a_label():
    with running() as server:
        client = client_for(server)

        def ask(text: str) -> str:
            reply = client.chat.completions.create(model="offline-teacher",
                                                   messages=[{"role": "user", "content": text}])
            return reply.choices[0].message.content

        answer = ask("Where is the Sancerre appellation?")
        row = ask("France | Burgundy | Chablis | Domaine Moreau | 88 | 30 | Lemon, flint and green apple.")
    assert "Loire Valley" in answer
    assert row == "Chardonnay"


def test_memory_answers_with_the_nearest_question_and_weights_what_it_learned_again():
    memory = Memory()
    memory.learn("Where is Sancerre?", "In the Loire Valley.")
    memory.learn("What food goes with Riesling?", "Spicy food.")
    assert memory.nearest("Could you tell me where Sancerre is?")[0] == "In the Loire Valley."
    memory.learn("Where is Sancerre?", "Loire, France.", 3.0)
    assert memory.nearest("Where is Sancerre?")[0] == "Loire, France."
    assert Memory.from_state(memory.to_state()).nearest("Where is Sancerre?")[0] == "Loire, France."
    assert memory.nearest("zzz") is None


def test_token_f1_against_known_values():
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("a b", "c d") == 0.0
    assert token_f1("Loire Valley, France", "the Loire Valley") == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))


@pytest.mark.parametrize(("answers", "kind"), [
    (["Merlot", "Gamay", "Merlot", "Gamay"], LABEL),
    (["Serve it at 8 to 10 °C, well chilled.", "Serve it at 8 to 10 °C, well chilled.",
      "Pair it with roast lamb or beef.", "Pair it with roast lamb or beef."], TEXT),  # repeat, but sentences
    (["Merlot", "Gamay", "Syrah", "Malbec"], TEXT),  # short but all different: not classes
])
def test_plain_text_answers_of_a_training_file_are_labels_only_when_short_and_repeated(answers, kind):
    assert plain_kind(answers) == kind


def test_a_mind_saved_before_minds_existed_reads_as_a_classifier():
    old = NaiveBayes()
    old.learn("cassis cedar", "Bordeaux-style Red Blend")
    mind = Mind.from_state(old.to_state())
    assert mind.predict("cassis") == "Bordeaux-style Red Blend" and not mind.fields
    mind.learn(features("where is it"), '{"a": "x", "b": "y"}')
    assert Mind.from_state(mind.to_state()).field("b", "where is it") == "y"


def test_a_nested_record_is_learned_by_field_path_and_answered_valid():
    schema = {"type": "object", "additionalProperties": False, "required": ["wine"], "properties": {
        "wine": {"type": "object", "additionalProperties": False, "required": ["grape", "tags"], "properties": {
            "grape": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "record", "schema": schema, "strict": True}}
    mind = Mind(NaiveBayes())
    for text, grape in [("cassis and cedar", "Merlot"), ("lychee and rose petal", "Gewürztraminer")] * 3:
        mind.learn(features(text), json.dumps({"wine": {"grape": grape, "tags": ["red" if grape == "Merlot" else "white"]}}))
    from distill_tui.offline import extraction

    assert extraction.is_extraction(fmt)
    answer = json.loads(extraction.answer(fmt, "rose petal, lychee", mind))
    assert not list(Draft202012Validator(schema).iter_errors(answer))
    assert answer == {"wine": {"grape": "Gewürztraminer", "tags": ["white"]}}


def test_a_classification_request_leaves_the_other_skills_unbuilt():
    labels = ["Merlot", "Chardonnay"]
    fmt = {"type": "json_schema", "json_schema": {"name": "variety", "strict": True, "schema": {
        "type": "object", "properties": {"variety": {"type": "string", "enum": labels}}, "required": ["variety"],
        "additionalProperties": False}}}
    with running() as server:
        client_for(server).chat.completions.create(
            model="offline-teacher", messages=[{"role": "user", "content": "cassis, plum, Pomerol"}], response_format=fmt)
        mind = server.app.registry.entry("offline-teacher").get()
    assert callable(mind._fields) and callable(mind._memory)  # built when an extraction or a question comes
