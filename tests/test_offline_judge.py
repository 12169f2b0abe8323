"""The offline judge (`offline-judge`, offline/judge.py) through the real openai SDK: rubric grades by
token F1 against a reference or its own knowledge, pairwise verdicts, and a position bias that the
swap reconciliation (core/evaluate/agreement.py) turns into ties."""

from __future__ import annotations

import json

import pytest

from distill_tui.core.evaluate.agreement import pairwise_summary
from distill_tui.offline.cli import _problem
from distill_tui.offline.common import OfflineOptions
from distill_tui.offline.judge import JUDGE, parts, token_f1
from tests.conftest_offline import client_for, provider, running, sdk  # noqa: F401

RUBRIC = {"type": "json_schema", "json_schema": {"name": "grade", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["score", "reason"],
    "properties": {"score": {"type": "integer", "enum": [1, 2, 3, 4, 5]}, "reason": {"type": "string"}}}}}
PASS_FAIL = {"type": "json_schema", "json_schema": {"name": "grade", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["reason", "verdict"],
    "properties": {"reason": {"type": "string"}, "verdict": {"type": "string", "enum": ["pass", "fail"]}}}}}
PAIRWISE = {"type": "json_schema", "json_schema": {"name": "preference", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["winner", "reason"],
    "properties": {"winner": {"type": "string", "enum": ["first", "second", "tie"]}, "reason": {"type": "string"}}}}}
GRAPES = "Merlot Syrah Riesling Gamay Malbec Chardonnay Nebbiolo Tempranillo".split()
REGIONS = "Bordeaux Rhone Mosel Beaujolais Mendoza Burgundy Piedmont Rioja".split()
NOTES = "plum pepper lime banana violet butter tar leather cherry smoke".split()


def test_token_f1_known_values() -> None:
    # SQuAD's F1 by hand: answer "the Merlot grape" (articles dropped: merlot, grape) against
    # "Merlot": 1 word shared, precision 1/2, recall 1/1, F1 = 2/3.
    assert token_f1("the Merlot grape", "Merlot") == pytest.approx(2 / 3)
    assert token_f1("Pinot noir.", "pinot NOIR") == pytest.approx(1.0)
    assert token_f1("Syrah", "Merlot") == 0.0 and token_f1("", "Merlot") == 0.0
    assert parts([{"role": "user", "content": "<question> Q </question>\n<answer>A\nB</answer>"}]) == {
        "question": "Q", "answer": "A\nB"}


def _grade(sdk, answer: str, reference: str | None, response_format=RUBRIC) -> dict:
    ref = f"<reference>{reference}</reference>\n" if reference is not None else ""
    got = sdk.chat.completions.create(model=JUDGE, response_format=response_format, messages=[
        {"role": "system", "content": "Grade the answer against the reference. <rubric>Names the grape.</rubric>"},
        {"role": "user", "content": f"<question>Which grape is this wine?</question>\n{ref}<answer>{answer}</answer>"}])
    return json.loads(got.choices[0].message.content)


def test_rubric_grades_by_overlap_with_the_reference(sdk) -> None:
    reference = "Merlot from Bordeaux with notes of plum"
    best, some, none = (_grade(sdk, a, reference) for a in (reference, "Merlot, I think", "Riesling"))
    assert (best["score"], none["score"]) == (5, 1)
    # 'merlot i think' shares 1 word with the reference's 7: F1 = 2(1/3)(1/7) / (1/3 + 1/7) = 0.20,
    # on 1..5: 1 + 0.2 * 4 = 1.8, nearest 2.
    assert some["score"] == 2 and "F1 0.20 with the reference" in some["reason"]
    assert _grade(sdk, reference, reference, PASS_FAIL)["verdict"] == "pass"
    assert _grade(sdk, "Riesling", reference, PASS_FAIL)["verdict"] == "fail"


def test_rubric_without_a_reference_uses_its_own_knowledge(sdk) -> None:
    review = "Review: plum soft round cherry chocolate velvet, Right Bank, Pomerol."
    known = sdk.chat.completions.create(model="offline-teacher", messages=[{"role": "user", "content": review}])
    own = known.choices[0].message.content
    got = sdk.chat.completions.create(model=JUDGE, response_format=RUBRIC, messages=[
        {"role": "user", "content": f"<question>{review}</question><answer>{own}</answer>"}])
    grade = json.loads(got.choices[0].message.content)
    assert grade["score"] == 5 and "the judge's own answer" in grade["reason"]


def _pairs(n: int = 48) -> list[tuple[str, str, str]]:
    """(reference, A, B): A is close to the reference on even rows, B on odd rows; the other is unrelated."""
    out = []
    for i in range(n):
        g, r, x, y = GRAPES[i % 8], REGIONS[(i * 3) % 8], NOTES[i % 10], NOTES[(i * 7 + 3) % 10]
        reference = f"{g} from {r} with notes of {x} and {y}"
        close = f"{g} from {r}, notes of {x}"
        far = f"{GRAPES[(i + 4) % 8]} from {REGIONS[(i * 3 + 4) % 8]} with hints of {NOTES[(i + 5) % 10]}"
        out.append((reference, close, far) if i % 2 == 0 else (reference, far, close))
    return out


def _verdict(client, reference: str, first: str, second: str) -> str | None:
    got = client.chat.completions.create(model=JUDGE, response_format=PAIRWISE, messages=[
        {"role": "user", "content": f"<question>Which grape?</question><reference>{reference}</reference>"
                                    f"<answer_1>{first}</answer_1><answer_2>{second}</answer_2>"}])
    return json.loads(got.choices[0].message.content)["winner"]


def _both_orders(client) -> list[tuple[str | None, str | None]]:
    return [(_verdict(client, ref, a, b), _verdict(client, ref, b, a)) for ref, a, b in _pairs()]


def test_pairwise_without_bias_never_flips(sdk) -> None:
    summary = pairwise_summary(_both_orders(sdk))
    assert summary.n == 48 and summary.invalid == 0
    assert summary.flip.count == 0 and summary.tie.count == 0
    assert (summary.win.count, summary.loss.count) == (24, 24)  # A is the close answer on even rows
    assert summary.first.rate == pytest.approx(0.5)


def test_position_bias_is_measured_and_reconciled_into_ties() -> None:
    with running(judge_position_bias=0.3) as server:
        biased = pairwise_summary(_both_orders(client_for(server)))
    # Each row has one order where the better answer is second; a biased draw there (p = 0.3) flips it.
    assert 0.1 < biased.flip.rate < 0.5 and biased.flip.ci_low > 0
    assert biased.first.rate > 0.55  # the judge picks the first shown more than half the time
    # Every flip became a tie, never a win or a loss: the wins and losses left are the unbiased ones.
    assert biased.tie.count == biased.flip.count
    assert biased.win.count + biased.loss.count == 48 - biased.flip.count
    assert biased.win.count <= 24 and biased.loss.count <= 24


def test_same_request_same_verdict_and_plain_text(sdk) -> None:
    ref, a, b = _pairs()[0]
    assert _verdict(sdk, ref, a, b) == _verdict(sdk, ref, a, b) == "first"
    got = sdk.chat.completions.create(model=JUDGE, messages=[
        {"role": "user", "content": f"<reference>{ref}</reference><answer_1>{b}</answer_1><answer_2>{a}</answer_2>"}])
    assert got.choices[0].message.content.startswith("Winner: second\nReason: ")


def test_judge_is_listed_and_the_bias_flag_is_checked(sdk) -> None:
    assert JUDGE in {m.id for m in sdk.models.list()}
    assert _problem(OfflineOptions(judge_position_bias=1.5)) == "--judge-position-bias must be between 0 and 1"
    assert _problem(OfflineOptions(judge_position_bias=0.3)) is None
