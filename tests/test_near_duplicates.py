"""Near-duplicate prompts and answers (core/curate/near_duplicates.py) on crafted texts."""

from __future__ import annotations

import pytest

from distill_tui.core.curate.near_duplicates import (
    drop_all_but_first,
    jaccard,
    near_duplicate_groups,
    near_duplicates_across,
    shingles,
)

BASE = "What grape is used in this red wine from Bordeaux with notes of cassis and cedar?"
REORDERED = "From Bordeaux, this red wine with notes of cassis and cedar: what grape is used in it?"
ONE_WORD = "What grape is used in this red wine from Burgundy with notes of cassis and cedar?"
PUNCTUATION = "what grape is used in this RED wine, from Bordeaux -- with notes of cassis... and cedar!!"
OTHERS = [
    "Summarise the invoice total and the due date for ACME Corp in one sentence.",
    "Translate the following sentence into French, keeping the formal register.",
    "Which grape gives a white wine from Alsace its lychee and rose aroma?",
    "List three side effects mentioned in the patient leaflet below.",
]


def test_shingles_ignore_case_and_punctuation() -> None:
    assert shingles(PUNCTUATION) == shingles(BASE)
    assert shingles("Pinot noir.", ngram=2) == {"pinot noir"}
    assert shingles("a b c", ngram=2) == {"a b", "b c"}
    assert shingles("") == frozenset()


def test_crafted_near_duplicates_group_and_others_stay_apart() -> None:
    texts = [BASE, OTHERS[0], REORDERED, OTHERS[1], ONE_WORD, OTHERS[2], PUNCTUATION, OTHERS[3]]
    # By hand: the reordering keeps all 16 words and adds 'it' (Jaccard 16/17); one word changed
    # shares 15 of 17 (0.88).
    assert jaccard(shingles(BASE), shingles(REORDERED)) == pytest.approx(16 / 17)
    assert jaccard(shingles(BASE), shingles(ONE_WORD)) == pytest.approx(15 / 17)
    assert near_duplicate_groups(texts) == [[0, 2, 4, 6]]
    assert drop_all_but_first(near_duplicate_groups(texts)) == [2, 4, 6]


def test_threshold_and_word_order_are_parameters() -> None:
    assert near_duplicate_groups([BASE, ONE_WORD], threshold=0.9) == []
    assert near_duplicate_groups([BASE, ONE_WORD], threshold=0.8) == [[0, 1]]
    # Word bigrams tell a reordering apart.
    assert near_duplicate_groups([BASE, REORDERED], ngram=2) == []
    with pytest.raises(ValueError):
        near_duplicate_groups([BASE], threshold=0)


def test_template_words_are_not_what_makes_prompts_alike() -> None:
    template = "Based on this wine review, guess the grape variety. Review: {} Answer with one label."
    reviews = [f"tasting note number {i} with flavour {w} and finish {v}"
               for i, (w, v) in enumerate(zip("plum cherry lemon smoke pepper honey mint cocoa olive".split(),
                                               "long short crisp soft dry oily round lean fresh".split()))]
    texts = [template.format(r) for r in reviews] + [template.format(reviews[3] + "!")]
    # Without ignoring the template, every prompt nearly repeats every other.
    assert len(near_duplicate_groups(texts, common=None)[0]) == len(texts)
    assert near_duplicate_groups(texts) == [[3, 9]]


def test_empty_texts_are_never_duplicates() -> None:
    assert near_duplicate_groups(["", "", "..."]) == []


def test_eval_rows_that_nearly_repeat_train_rows() -> None:
    train = [BASE, *OTHERS]
    evals = ["Translate the following sentence into French keeping the formal register",  # punctuation only
             "Which grape gives a red wine from Alsace its lychee and rose aroma?",  # one word changed
             "Describe the weather in Lisbon in April."]
    found = near_duplicates_across(evals, train)
    assert [(m.query, m.match) for m in found] == [(0, 2), (1, 3)]
    assert found[0].similarity == pytest.approx(1.0)
    assert found[1].similarity == pytest.approx(12 / 14)  # 13 words, 'white' -> 'red'


def test_pairs_just_above_the_threshold_are_not_lost_to_lsh() -> None:
    # 60 pairs, each 7 words with one changed: Jaccard 6/8 = 0.75. LSH asked at 0.7 itself finds
    # such a pair with p = 0.66 (14 bands of 9 rows); asked from 0.5 (25 bands of 5), p = 0.999.
    texts = []
    for i in range(60):
        words = [f"w{i}x{k}" for k in range(7)]
        texts += [" ".join(words), " ".join(words[:-1] + [f"changed{i}"])]
    assert jaccard(shingles(texts[0]), shingles(texts[1])) == pytest.approx(0.75)
    assert near_duplicate_groups(texts) == [[2 * i, 2 * i + 1] for i in range(60)]


SLOTS = ["Pomerol", "Tavel", "Chablis", "Barolo", "Rioja", "Sancerre", "Chianti", "Tokaji", "Vouvray",
         "Margaux", "Bandol", "Madiran"]


def test_short_templated_questions_differ_by_their_content_words() -> None:
    # One content word changed in a short question is another question (5 of 7 words shared as whole
    # texts: Jaccard 0.71 grouped all twelve); the same content word in another template is too.
    texts = [f"{'Hi! ' * (i % 2)}Which varieties is {s} known for?" for i, s in enumerate(SLOTS)]
    texts += [f"Where is {s}?" for s in SLOTS] + [f"How should I serve {s}?" for s in SLOTS]
    texts.append("Hi! Which varieties is Pomerol known for?")  # the same question as the first, greeted
    assert near_duplicate_groups(texts) == [[0, 36]]
    evals = ["which varieties is Tavel known for", "Which varieties is Cahors known for?"]
    assert [(m.query, m.match) for m in near_duplicates_across(evals, texts)] == [(0, 1)]
