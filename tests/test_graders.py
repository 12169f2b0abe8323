"""Reference graders against known values: sacrebleu's and rouge-score's published examples,
hand-computed Indel/LCS ratios, and normalisation cases a practitioner expects."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from distill_tui.core.evaluate.graders import Embedder, grade, text
from distill_tui.core.evaluate.graders.fields import json_fields
from distill_tui.core.task.graders_spec import GraderSpec


@pytest.mark.parametrize("a, b", [
    ("Pinot noir.", "pinot noir"),
    ("  PINOT\tNoir ", "Pinot noir"),
    ("1,000", "1000"),
    ("1000.0", "1,000"),
    ("$1,000.50", "1000.5"),
    ("ﬁnal", "final"),  # NFKC: the ligature is two letters
    ("Ｐinot", "pinot"),  # NFKC: full-width letters
    ("“quoted” — text", "quoted text"),
    ("Straße", "STRASSE"),  # case folding, not lower()
])
def test_exact_normalises_what_a_practitioner_expects(a: str, b: str) -> None:
    assert text.exact(a, b) == 1.0


@pytest.mark.parametrize("a, b", [
    ("rosé", "rose"),  # accents are kept: different words
    ("1,000", "100"),
    ("-5", "5"),
    ("pinot noir", "pinot gris"),
])
def test_exact_keeps_what_differs(a: str, b: str) -> None:
    assert text.exact(a, b) == 0.0


def test_missing_answer_scores_zero_everywhere() -> None:
    for function in (text.exact, text.contains, text.fuzzy, text.chrf, text.bleu, text.rouge_l):
        assert function(None, "Paris") == 0.0
    assert text.regex(None, ".*") == 0.0


def test_contains_whole_words_after_normalising() -> None:
    assert text.contains("The grape is Pinot Noir, I think.", "pinot noir") == 1.0
    assert text.contains("Pinot noirish", "pinot noir") == 0.0
    assert text.contains("anything", "") == 0.0  # an empty reference proves nothing


def test_regex_searches_the_answer_as_written() -> None:
    assert text.regex("Total: 42 EUR", r"\d+ EUR") == 1.0
    assert text.regex("Total: 42 eur", r"\d+ EUR") == 0.0


def test_fuzzy_is_the_indel_ratio() -> None:
    # kitten/sitting: LCS "ittn" = 4, Indel distance 6 + 7 - 2·4 = 5, ratio 1 - 5/13.
    assert text.fuzzy("kitten", "sitting") == pytest.approx(1 - 5 / 13)
    assert text.fuzzy("Kitten!", "kitten") == 1.0


@pytest.mark.parametrize("hyp, ref, expected", [
    # sacrebleu's test_chrf.py (effective order, the sentence-level default)
    ("a", "a", 1.0),
    ("aa", "ab", 0.25),
    ("a b c", "abc", 1.0),
    # sacrebleu's sentence-level chrF example (39.14078509 with eps smoothing; all orders are present)
    ("Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
     "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.", 0.3914078509),
])
def test_chrf_known_values(hyp: str, ref: str, expected: float) -> None:
    assert text.chrf(hyp, ref) == pytest.approx(expected, abs=1e-6 if expected in (0.25, 1.0) else 1e-5)


def test_bleu_known_values() -> None:
    # sacrebleu's test_sentence_bleu.py: exp smoothing, 13a tokens → 8.493
    ref = "producţia de zahăr brut se exprimă în zahăr alb;"
    hyp = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;"
    assert text.bleu(hyp, ref) == pytest.approx(0.08493, abs=1e-5)
    assert text.bleu("okay thanks", "this is a cat") == 0.0
    assert text.bleu("Paris", "Paris") == 1.0  # sacrebleu says 100.00000000000004


def test_rouge_l_matches_rouge_score_readme() -> None:
    # rouge-score README: score(target='The quick brown fox jumps over the lazy dog',
    # prediction='The quick brown dog jumps on the log.') → rougeL P 0.625, R 0.5556, F 0.5882
    f1 = text.rouge_l("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog")
    assert f1 == pytest.approx(0.5882352941176471)
    assert text.rouge_l("żółw idzie", "Żółw idzie") == 1.0  # rouge-score would drop these words


def test_json_fields_per_field() -> None:
    ref = {"grape": "Pinot Noir", "price": 1000, "sweet": False, "notes": ["cherry", "oak"]}
    score, per_field = json_fields('{"grape": "pinot noir.", "price": "1,000", "sweet": true, "notes": ["Cherry", "oak"]}',
                                   ref)
    assert per_field == {"grape": True, "price": True, "sweet": False, "notes": True}
    assert score == 0.75
    assert json_fields("not json", ref)[0] == 0.0
    assert json_fields({"grape": "Pinot Noir"}, ref, ["grape"]) == (1.0, {"grape": True})
    with pytest.raises(ValueError):
        json_fields("{}", "a plain string")


def test_grade_passes_at_the_threshold() -> None:
    spec = GraderSpec("f", "fuzzy", threshold=1 - 5 / 13)
    grades = grade(spec, ["kitten", "kitten", None], ["sitting", "kitten", "x"])
    assert [g.passed for g in grades] == [True, True, False]
    assert grades[1].score == 1.0


class _FakeEmbeddings:
    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors, self.calls = vectors, []

    def create(self, model: str, input: list[str]) -> SimpleNamespace:
        self.calls.append((model, list(input)))
        return SimpleNamespace(data=[SimpleNamespace(index=i, embedding=self.vectors[t]) for i, t in enumerate(input)])


def test_embedding_cosine_batched_and_cached() -> None:
    fake = _FakeEmbeddings({"a": [1.0, 0.0], "b": [3.0, 4.0], "c": [-1.0, 0.0], "ref": [1.0, 0.0]})
    embedder = Embedder(SimpleNamespace(embeddings=fake), "emb-model", batch=2)
    spec = GraderSpec("e", "embedding", threshold=0.7, model="emb-model")
    grades = grade(spec, ["a", "b", "c", None], ["ref"] * 4, embedder=lambda model: embedder)
    assert [g.score for g in grades] == pytest.approx([1.0, 0.6, 0.0, 0.0])  # cos(b, ref) = 3/5; -1 → 0
    assert [g.passed for g in grades] == [True, False, False, False]
    assert [len(texts) for _, texts in fake.calls] == [2, 2]  # 4 distinct texts in batches of 2
    grade(spec, ["b"], ["a"], embedder=lambda model: embedder)
    assert len(fake.calls) == 2  # every text was embedded before: no request


def test_plain_text_classification_matches_normalised_labels() -> None:
    from distill_tui.core.task import prompts

    labels = ["Pinot Noir", "Merlot", "Grüner Veltliner", "Shiraz", "shiraz."]
    parsed = prompts.parse_answer("Pinot noir.", "variety", labels, False)
    assert (parsed.label, parsed.valid) == ("Pinot Noir", True)
    assert prompts.parse_answer("  GRÜNER  veltliner!", "variety", labels, False).label == "Grüner Veltliner"
    assert not prompts.parse_answer("Shiraz!", "variety", labels, False).valid  # two labels match: ambiguous
    assert prompts.parse_answer("Shiraz", "variety", labels, False).valid  # exact still wins
    assert not prompts.parse_answer('{"variety": "pinot noir"}', "variety", labels, True).valid  # strict JSON: exact
