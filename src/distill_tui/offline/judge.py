"""The offline judge (`offline-judge`): grades answers by their word overlap with a reference.

A judge request carries its parts in tags, in the system or user messages:

- rubric (pointwise): `<question>`, optionally `<reference>`, and `<answer>` (the answer to grade);
- pairwise: `<question>`, optionally `<reference>`, `<answer_1>` (shown first) and `<answer_2>`.

The method is SQuAD's token F1: the harmonic mean of word precision and recall between the answer
and the reference (case, punctuation and articles ignored). Without a `<reference>` the judge's own
knowledge supplies one: what the offline teacher answers to the question.

The reply follows the request's response format. In a json_schema, an enum with pass/fail (or
yes/no) gets pass when F1 >= `PASS`; an integer (or a number, or an enum of integers) gets the F1
mapped onto its range (`minimum`..`maximum`; default 1..5 for integers, 0..1 for numbers); an enum
with first/second/tie (or 1/2/tie, A/B/tie) gets the answer with the higher F1, a tie when they are
within `TIE_MARGIN`; a boolean is pass; any string a one-line reason. Without a schema: a line
("Score: 4" / "Verdict: pass" / "Winner: first") and the reason.

Position bias, for rehearsing the swap logic: with probability `position_bias` a pairwise verdict is
"the first shown", whatever the answers. The draw is seeded by the request's text, so the same
request always gets the same verdict, and the two orders of a pair are independent draws.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from typing import Any, Mapping, Sequence

from distill_tui.offline.mind import Mind

JUDGE = "offline-judge"
PASS = 0.5
TIE_MARGIN = 0.05
_TAG = re.compile(r"<(question|reference|answer|answer_1|answer_2|rubric)>(.*?)</\1>", re.S | re.I)
_WORD = re.compile(r"\w+")
_ARTICLES = {"a", "an", "the"}
_FIRST, _SECOND, _TIE = ("first", "1", "a", "answer_1"), ("second", "2", "b", "answer_2"), ("tie", "equal", "neither",
                                                                                             "both", "draw")
_PASS_WORDS, _FAIL_WORDS = ("pass", "yes", "correct", "good"), ("fail", "no", "incorrect", "bad")


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.casefold()) if w not in _ARTICLES]


def token_f1(answer: str, reference: str) -> float:
    """SQuAD's token F1 of `answer` against `reference` (0.0 when either has no words)."""
    a, r = _words(answer), _words(reference)
    common = sum((Counter(a) & Counter(r)).values())
    if not a or not r or not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def parts(messages: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The tagged parts of a judge request (the last of each tag wins), stripped."""
    found: dict[str, str] = {}
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        for tag, text in _TAG.findall(content if isinstance(content, str) else ""):
            found[tag.lower()] = text.strip()
    return found


class Judge:
    """A judge model: grades by token F1 against a reference, or against what `mind` answers."""

    def __init__(self, mind: Mind, position_bias: float = 0.0, seed: int = 0) -> None:
        self.mind = mind
        self.position_bias = position_bias
        self.seed = seed

    def reference(self, found: Mapping[str, str]) -> tuple[str, str]:
        """The reference to grade against and where it came from."""
        if found.get("reference"):
            return found["reference"], "the reference"
        return self.mind.answer_text(found.get("question", "")), "the judge's own answer"

    def reply(self, messages: Sequence[Mapping[str, Any]], response_format: Any) -> str:
        """The assistant message's content for a judge request."""
        found = parts(messages)
        reference, source = self.reference(found)
        schema = _schema(response_format)
        if "answer_1" in found or "answer_2" in found:
            return self._pairwise(messages, found, reference, source, schema)
        score = token_f1(found.get("answer", ""), reference)
        reason = f"word overlap F1 {score:.2f} with {source}"
        if schema is None:
            return f"Score: {1 + round(4 * score)}\nVerdict: {'pass' if score >= PASS else 'fail'}\nReason: {reason}"
        return json.dumps({name: _value(prop, score, None, reason) for name, prop in schema.items()},
                          ensure_ascii=False, separators=(",", ":"))

    def _pairwise(self, messages: Sequence[Mapping[str, Any]], found: Mapping[str, str], reference: str,
                  source: str, schema: dict[str, Any] | None) -> str:
        one, two = token_f1(found.get("answer_1", ""), reference), token_f1(found.get("answer_2", ""), reference)
        draw = random.Random(f"{self.seed}:{_digest(messages)}").random()
        if draw < self.position_bias:
            verdict, reason = "first", "the first answer reads better"
        elif abs(one - two) < TIE_MARGIN:
            verdict, reason = "tie", f"both answers overlap {source} alike (F1 {one:.2f} and {two:.2f})"
        else:
            verdict = "first" if one > two else "second"
            reason = f"the {verdict} answer overlaps {source} more (F1 {one:.2f} against {two:.2f})"
        if schema is None:
            return f"Winner: {verdict}\nReason: {reason}"
        return json.dumps({name: _value(prop, max(one, two), verdict, reason) for name, prop in schema.items()},
                          ensure_ascii=False, separators=(",", ":"))


def _digest(messages: Sequence[Mapping[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True, default=str).encode()).hexdigest()


def _schema(response_format: Any) -> dict[str, Any] | None:
    """The properties the reply must fill (None: answer in plain text)."""
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_object":
        return {"score": {"type": "integer"}, "reason": {"type": "string"}}
    if response_format.get("type") != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return dict(properties) if isinstance(properties, dict) and properties else None


def _pick(options: list[Any], words: tuple[str, ...]) -> Any:
    return next((o for o in options if str(o).strip().casefold() in words), None)


def _value(prop: Any, score: float, verdict: str | None, reason: str) -> Any:
    """The value of one schema property for a score in [0, 1] (and a pairwise verdict)."""
    prop = prop if isinstance(prop, dict) else {}
    kind = prop.get("type")
    kind = next((k for k in kind if k != "null"), None) if isinstance(kind, list) else kind
    options = prop.get("enum")
    if isinstance(options, list) and options:
        if verdict is not None:
            words = {"first": _FIRST, "second": _SECOND, "tie": _TIE}[verdict]
            chosen = _pick(options, words)
            if chosen is not None:
                return chosen
        good, bad = _pick(options, _PASS_WORDS), _pick(options, _FAIL_WORDS)
        if good is not None and bad is not None:
            return good if score >= PASS else bad
        numbers = sorted(o for o in options if isinstance(o, (int, float)) and not isinstance(o, bool))
        if numbers:
            target = numbers[0] + score * (numbers[-1] - numbers[0])
            return min(numbers, key=lambda n: abs(n - target))
        return options[0]
    if kind == "integer":
        low, high = int(prop.get("minimum", 1)), int(prop.get("maximum", 5))
        return low + round(score * (high - low))
    if kind == "number":
        low, high = float(prop.get("minimum", 0.0)), float(prop.get("maximum", 1.0))
        return round(low + score * (high - low), 4)
    if kind == "boolean":
        return score >= PASS
    if kind == "string":
        return reason
    return None
