"""ROUGE from first principles (course_utils.rouge) against Google's rouge_score."""

from __future__ import annotations

import inspect
import random
import time
from pathlib import Path

import evaluate
import pytest
from rouge_score import rouge_scorer
from rouge_score import tokenize as rs_tokenize

from course_utils.core import hub
from course_utils.rouge import (
    LOCAL_ROUGE_MODULE,
    PRF,
    explain_rouge_l,
    explain_rouge_n,
    largest_gap_to_rouge_score,
    lcs_length,
    lcs_table,
    load_rouge_metric,
    ngrams,
    rouge_l,
    rouge_n,
    rouge_scores,
    score_multi,
    score_pair,
    tokenize,
)

ROUGE_TYPES = ["rouge1", "rouge2", "rougeL"]

# A small vocabulary, so random texts share many words; capitals and punctuation test the
# tokenizer ("Cat," and "cat" are the same token), "--" and "..." vanish, "it's" is two tokens.
VOCAB = [
    "the", "The", "THE", "cat", "Cat,", "sat", "sat.", "on", "mat", "mat!", "a", "dog",
    "ran", "it's", "3.14", "42", "--", "...", "café", "Hello,", "world?", "(the)", "e-mail",
]  # fmt: skip

# Hand-picked edge cases: empty texts, punctuation only, one word, repeated words.
EDGE_PAIRS = [
    ("", ""),
    ("", "the cat"),
    ("the cat", ""),
    ("...", "!!!"),
    ("--", "the"),
    ("the", "the"),
    ("The!", "the"),
    ("cat", "the cat sat"),
    ("the cat sat", "cat"),
    ("the the the the", "the cat"),
    ("the cat", "the the the the"),
    ("cat the", "the cat"),
    ("a b a b a b", "b a b a"),
    ("3.14", "3 14"),
    ("Café", "caf"),
    ("İstanbul", "i stanbul"),
]


def random_text(rng: random.Random) -> str:
    """0 to 15 words from VOCAB; one text in ten is empty or a single word.

    Words are drawn with Zipf-like weights (1 / rank), as in real text: the first words of VOCAB
    are common, so most pairs share some words and bigrams.
    """
    length = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 4, 6, 8, 10, 2, 3, 5])
    weights = [1 / rank for rank in range(1, len(VOCAB) + 1)]
    return " ".join(rng.choices(VOCAB, weights=weights, k=length))


def random_pairs(count: int, seed: int = 1234) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return EDGE_PAIRS + [(random_text(rng), random_text(rng)) for _ in range(count)]


@pytest.fixture(scope="module")
def scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=False)


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------


def test_tokenize_examples():
    assert tokenize("The cat -- it's on the MAT!") == ["the", "cat", "it", "s", "on", "the", "mat"]
    assert tokenize("3.14 and 42") == ["3", "14", "and", "42"]
    assert tokenize("Café naïve") == ["caf", "na", "ve"]  # only ASCII letters survive
    assert tokenize("") == []
    assert tokenize("  ... !!! \n\t") == []


def test_tokenize_matches_rouge_score_on_random_unicode():
    alphabet = "aZz09 \t\n\xa0.,'-_éÉßİ\u212aΣσ٣½ﬁ😀"
    rng = random.Random(7)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(500)]
    for text in texts:
        assert tokenize(text) == rs_tokenize.tokenize(text, None), repr(text)


# --------------------------------------------------------------------------------------------
# Agreement with rouge_score
# --------------------------------------------------------------------------------------------


def test_matches_rouge_score_on_random_pairs(scorer):
    pairs = random_pairs(300)
    assert len(pairs) >= 200
    for prediction, reference in pairs:
        expected = scorer.score(reference, prediction)  # rouge_score takes (target, prediction)
        ours = score_pair(prediction, reference)
        for rouge_type in ROUGE_TYPES:
            for field in PRF._fields:
                want = getattr(expected[rouge_type], field)
                got = getattr(ours[rouge_type], field)
                assert got == pytest.approx(want, abs=1e-9), (prediction, reference, rouge_type)


def test_rouge_n_beyond_bigrams_matches_rouge_score():
    scorer = rouge_scorer.RougeScorer(["rouge3", "rouge4"], use_stemmer=False)
    for prediction, reference in random_pairs(100, seed=99):
        expected = scorer.score(reference, prediction)
        for n in (3, 4):
            assert tuple(rouge_n(prediction, reference, n)) == pytest.approx(
                tuple(expected[f"rouge{n}"]), abs=1e-9
            )


# --------------------------------------------------------------------------------------------
# Worked examples, checked by hand
# --------------------------------------------------------------------------------------------


def test_worked_example_one_word_changed():
    # prediction "the cat lay on the mat" vs reference "the cat sat on the mat"
    # ROUGE-1: both have 6 words; shared: the x2, cat, on, mat = 5 -> P = R = F = 5/6.
    # ROUGE-2: 5 bigrams each; shared: "the cat", "on the", "the mat" = 3 -> P = R = F = 3/5.
    # ROUGE-L: LCS "the cat on the mat" = 5 -> P = R = F = 5/6.
    prediction, reference = "the cat lay on the mat", "the cat sat on the mat"
    assert rouge_n(prediction, reference, 1) == pytest.approx((5 / 6, 5 / 6, 5 / 6))
    assert rouge_n(prediction, reference, 2) == pytest.approx((0.6, 0.6, 0.6))
    assert rouge_l(prediction, reference) == pytest.approx((5 / 6, 5 / 6, 5 / 6))


def test_worked_example_short_prediction():
    # prediction "the cat" vs reference "the cat sat on the mat"
    # ROUGE-1: shared 2; P = 2/2 = 1, R = 2/6 = 1/3, F = 2 * 1 * 1/3 / (4/3) = 1/2.
    # ROUGE-2: 1 bigram vs 5, shared "the cat"; P = 1, R = 1/5, F = (2/5) / (6/5) = 1/3.
    # ROUGE-L: LCS 2; same as ROUGE-1.
    prediction, reference = "The cat.", "the cat sat on the mat"
    assert rouge_n(prediction, reference, 1) == pytest.approx((1.0, 1 / 3, 0.5))
    assert rouge_n(prediction, reference, 2) == pytest.approx((1.0, 0.2, 1 / 3))
    assert rouge_l(prediction, reference) == pytest.approx((1.0, 1 / 3, 0.5))


def test_worked_example_clipping_and_order():
    # "the the the the" vs "the cat": "the" is counted min(4, 1) = 1 time (clipping).
    # P = 1/4, R = 1/2, F = 2 * 1/8 / (3/4) = 1/3.
    assert rouge_n("the the the the", "the cat", 1) == pytest.approx((0.25, 0.5, 1 / 3))
    # Same words, reversed order: ROUGE-1 is perfect, ROUGE-2 and ROUGE-L are not.
    # "cat the" vs "the cat": bigrams ("cat","the") vs ("the","cat") share 0; LCS = 1.
    assert rouge_n("cat the", "the cat", 1) == pytest.approx((1.0, 1.0, 1.0))
    assert rouge_n("cat the", "the cat", 2) == pytest.approx((0.0, 0.0, 0.0))
    assert rouge_l("cat the", "the cat") == pytest.approx((0.5, 0.5, 0.5))


def test_zero_cases():
    assert rouge_n("", "", 1) == (0.0, 0.0, 0.0)  # nothing to match is a score of 0, not 1
    assert rouge_n("", "the cat", 1) == (0.0, 0.0, 0.0)
    assert rouge_l("the cat", "") == (0.0, 0.0, 0.0)
    assert rouge_n("...", "!!!", 1) == (0.0, 0.0, 0.0)  # punctuation only -> no tokens
    # One identical word: perfect ROUGE-1 and ROUGE-L, but there are no bigrams at all.
    assert rouge_n("cat", "cat", 1) == (1.0, 1.0, 1.0)
    assert rouge_n("cat", "cat", 2) == (0.0, 0.0, 0.0)


def test_ngrams():
    assert ngrams(["the", "cat", "the", "cat"], 2) == {("the", "cat"): 2, ("cat", "the"): 1}
    assert ngrams(["a", "b", "c"], 3) == {("a", "b", "c"): 1}
    assert ngrams(["a", "b"], 3) == {}
    assert ngrams([], 1) == {}
    with pytest.raises(ValueError):
        ngrams(["a"], 0)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("ABCBDAB", "BDCABA", 4),  # the textbook example: "BCBA"
        ("AGGTAB", "GXTXAYB", 4),  # "GTAB"
        ("abc", "abc", 3),
        ("abc", "cba", 1),
        ("abc", "xyz", 0),
        ("", "abc", 0),
        ("", "", 0),
        ("the cat sat on the mat".split(), "the cat lay on the mat".split(), 5),
        ("a b a b".split(), "b a b a".split(), 3),
    ],
)
def test_lcs_length(a, b, expected):
    assert lcs_length(a, b) == expected
    assert lcs_length(b, a) == expected


def test_explain_rouge_n_shows_the_arithmetic():
    text = explain_rouge_n("the cat lay on the mat", "the cat sat on the mat", 2)
    assert "ROUGE-2" in text
    assert "cat lay" in text and "cat sat" in text
    assert "3 / 5 = 0.6000" in text
    assert "F         = 2 * P * R / (P + R) = 0.6000" in text
    empty = explain_rouge_n("", "the cat", 2)
    assert "0 / max(0, 1) = 0.0000" in empty


# --------------------------------------------------------------------------------------------
# Corpus score and the evaluate module
# --------------------------------------------------------------------------------------------


def test_rouge_scores_is_the_mean_of_per_pair_f(scorer):
    pairs = random_pairs(50, seed=5)
    predictions = [p for p, _ in pairs]
    references = [r for _, r in pairs]
    result = rouge_scores(predictions, references)
    assert set(result) == set(ROUGE_TYPES)
    for rouge_type in ROUGE_TYPES:
        fs = [scorer.score(r, p)[rouge_type].fmeasure for p, r in pairs]
        assert result[rouge_type] == pytest.approx(sum(fs) / len(fs), abs=1e-12)


def test_rouge_scores_edge_cases():
    assert rouge_scores([], []) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    with pytest.raises(ValueError, match="one reference per prediction"):
        rouge_scores(["a", "b"], ["a"])


@pytest.mark.parametrize("target", ["folder", "script"])
def test_local_evaluate_module_matches_rouge_scores(target):
    path = LOCAL_ROUGE_MODULE if target == "folder" else LOCAL_ROUGE_MODULE / "rouge_metric.py"
    metric = evaluate.load(str(path))
    # evaluate imported a *copy* of the script from its module cache, not our file.
    assert Path(inspect.getfile(type(metric))).parent != LOCAL_ROUGE_MODULE

    pairs = random_pairs(40, seed=11)
    predictions = [p for p, _ in pairs]
    references = [r for _, r in pairs]
    result = metric.compute(predictions=predictions, references=references)
    assert result == pytest.approx(rouge_scores(predictions, references), abs=1e-12)

    per_example = metric.compute(
        predictions=predictions, references=references, use_aggregator=False
    )
    for rouge_type in ROUGE_TYPES:
        assert per_example[rouge_type] == pytest.approx(
            [score_pair(p, r)[rouge_type].fmeasure for p, r in pairs], abs=1e-12
        )


def test_load_rouge_metric_offline_is_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("offline mode must not probe the Hub")

    monkeypatch.setattr(hub, "reachable", no_network)
    for prefer_hub in (False, True):
        start = time.perf_counter()
        metric = load_rouge_metric(prefer_hub=prefer_hub)
        assert time.perf_counter() - start < 5
        assert metric.name == "course_rouge"
        result = metric.compute(
            predictions=["the cat lay on the mat"], references=["the cat sat on the mat"]
        )
        assert result == pytest.approx({"rouge1": 5 / 6, "rouge2": 0.6, "rougeL": 5 / 6})


def test_load_rouge_metric_falls_back_when_the_hub_fails(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    # Hub unreachable: the probe says no, evaluate.load("rouge") is never tried.
    monkeypatch.setattr(hub, "reachable", lambda timeout=2.0: False)
    assert load_rouge_metric(prefer_hub=True).name == "course_rouge"

    # Hub "reachable" but loading fails: a warning, then the local module.
    real_load = evaluate.load

    def failing_hub_load(path, *args, **kwargs):
        if path == "rouge":
            raise ConnectionError("simulated Hub failure")
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(hub, "reachable", lambda timeout=2.0: True)
    monkeypatch.setattr(evaluate, "load", failing_hub_load)
    with pytest.warns(UserWarning, match="simulated Hub failure"):
        metric = load_rouge_metric(prefer_hub=True)
    assert metric.name == "course_rouge"


def test_rouge_scores_through_an_evaluate_metric_equal_the_course_rouge():
    metric = load_rouge_metric()
    predictions = ["the cat sat on the mat", "a dog", ""]
    references = ["the cat lay on the mat", "the dog barked", "nothing here"]
    through_metric = rouge_scores(predictions, references, metric)
    assert through_metric == pytest.approx(rouge_scores(predictions, references), abs=1e-12)


def test_score_multi_matches_rouge_score_on_random_references(scorer):
    rng = random.Random(99)
    for _ in range(200):
        prediction = random_text(rng)
        references = [random_text(rng) for _ in range(rng.randint(1, 4))]
        expected = scorer.score_multi(references, prediction)
        ours = score_multi(prediction, references)
        for rouge_type in ROUGE_TYPES:
            for field in PRF._fields:
                want = getattr(expected[rouge_type], field)
                assert getattr(ours[rouge_type], field) == pytest.approx(want, abs=1e-9)
    assert score_multi("a b", "a b") == score_pair("a b", "a b")
    with pytest.raises(ValueError):
        score_multi("a", [])


def test_rouge_scores_with_several_references_take_the_best_one():
    predictions = ["the cat sat", "a dog"]
    references = [["the cat lay", "the cat sat"], ["a cat"]]
    assert rouge_scores(predictions, references)["rouge1"] == pytest.approx((1 + 0.5) / 2)
    metric = load_rouge_metric()
    assert rouge_scores(predictions, references, metric) == pytest.approx(
        rouge_scores(predictions, references), abs=1e-12
    )


def test_explain_rouge_l_shows_the_lcs_table():
    table = lcs_table(["a", "b", "c"], ["a", "c"])
    assert table == [[0, 0, 0], [0, 1, 1], [0, 1, 1], [0, 1, 2]]
    text = explain_rouge_l("Anna and Ben meet on Friday", "Anna will meet Ben on Friday")
    assert "LCS = 4" in text
    assert (
        f"{rouge_l('Anna and Ben meet on Friday', 'Anna will meet Ben on Friday').fmeasure:.4f}"
        in text
    )
    assert text.splitlines()[0].split() == ["anna", "will", "meet", "ben", "on", "friday"]


def test_the_gap_to_rouge_score_is_zero_for_the_course_and_seen_when_it_differs(monkeypatch):
    pairs = [
        ("Nico will lend Hana the book.", "Hana will lend Nico the book on Monday."),
        ("", "a"),
    ]
    predictions, references = zip(*pairs, strict=True)
    assert largest_gap_to_rouge_score(predictions, references) == 0.0
    from course_utils import rouge

    monkeypatch.setattr(rouge, "rouge_l", lambda p, r: PRF(0.0, 0.0, 0.0))
    assert largest_gap_to_rouge_score(predictions, references) > 0.5
