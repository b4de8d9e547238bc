"""ROUGE from first principles (taught in notebook 02).

ROUGE ("Recall-Oriented Understudy for Gisting Evaluation") scores a generated text (the
*prediction*) against a human-written text (the *reference*) by counting the words they share.
It knows nothing about meaning: "the cat sat" and "a feline was seated" share no words and score
zero. It is cheap, deterministic and the standard metric for summarisation, which is why the
course uses it. This module rebuilds it in a few short functions, so that every number a
notebook prints can be traced back to counting:

1. ``tokenize``     text -> lowercase words (the exact rules of Google's ``rouge_score``).
2. ``ngrams``       words -> a bag (multiset) of n-grams: runs of n consecutive words.
3. ``rouge_n``      ROUGE-1 / ROUGE-2: how many n-grams the two bags share.
4. ``lcs_length``   the longest common subsequence: words in the same order, gaps allowed.
5. ``rouge_l``      ROUGE-L: the LCS turned into precision, recall and F.
6. ``rouge_scores`` the mean F of all three over a corpus: what the notebooks report
                    (one reference or the best of several; from these functions, or from an
                    ``evaluate`` metric).

Every score comes in three flavours:

* precision = shared / (units in the prediction): "how much of what I wrote was right?"
* recall    = shared / (units in the reference):  "how much of what I should say did I say?"
* F-measure = 2 * P * R / (P + R), the harmonic mean: high only when *both* are high.

The results equal ``rouge_score.rouge_scorer.RougeScorer(..., use_stemmer=False)`` (checked to
1e-9 by ``tests/test_rouge.py``), and ``load_rouge_metric`` wraps them as an ``evaluate``
metric that works offline.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "LOCAL_ROUGE_MODULE",
    "PRF",
    "ROUGE_TYPES",
    "clipped_overlap",
    "explain_rouge_n",
    "fmeasure",
    "lcs_length",
    "lcs_table",
    "load_rouge_metric",
    "ngrams",
    "precision_recall_f",
    "rouge_l",
    "rouge_n",
    "rouge_scores",
    "score_pair",
    "tokenize",
]

#: The folder of the local ``evaluate`` module. ``evaluate.load(folder)`` looks for a script
#: named after the folder inside it: ``rouge_metric/rouge_metric.py``.
LOCAL_ROUGE_MODULE = Path(__file__).resolve().parent / "rouge_metric"

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


class PRF(NamedTuple):
    """Precision, recall and their harmonic mean (the F-measure), each between 0 and 1."""

    precision: float
    recall: float
    fmeasure: float


# --------------------------------------------------------------------------------------------
# 1. Tokens and n-grams
# --------------------------------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lowercase words exactly like ``rouge_score``'s default tokenizer.

    Three steps:

    1. lowercase everything (``"The"`` and ``"the"`` must count as the same word);
    2. replace every run of characters outside ``a-z`` and ``0-9`` with one space, so
       punctuation, apostrophes and accented letters all become word breaks:
       ``"It's 3.14!"`` -> ``"it s 3 14 "``;
    3. split on whitespace; the empty strings at either end are dropped.

    Only ASCII letters and digits survive: ``"Café"`` becomes ``["caf"]``. The order matters
    and is the library's: lowercasing runs first, so a character whose lowercase form is ASCII
    (the Kelvin sign, U+212A, lowercases to ``"k"``) is kept. No stemming: "cats" and "cat" differ.

    >>> tokenize("The cat -- it's on the MAT!")
    ['the', 'cat', 'it', 's', 'on', 'the', 'mat']
    """
    spaced = _NON_ALPHANUMERIC.sub(" ", text.lower())
    return spaced.split()


# @lesson notebooks/02_flan_t5_instruction_tuning.ipynb cell=02-48bb81be sha256=ef91ff2e7043
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """Count every run of ``n`` consecutive tokens (an n-gram).

    A list of ``k`` tokens has ``k - n + 1`` n-grams (none when ``k < n``). The result is a
    ``Counter`` -- a bag, not a set -- because a repeated n-gram must be counted every time.

    >>> ngrams(["the", "cat", "the", "cat"], 2)
    Counter({('the', 'cat'): 2, ('cat', 'the'): 1})
    """
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def clipped_overlap(prediction: Counter, reference: Counter) -> int:
    """Count the n-grams the two bags share, each at most as often as the *other* side has it.

    This "clipping" stops a prediction from scoring by repetition: "the the the the" against
    "the cat" shares one "the", not four. ``Counter & Counter`` keeps the minimum of the counts.
    """
    return (prediction & reference).total()


def fmeasure(precision: float, recall: float) -> float:
    """The harmonic mean ``2PR / (P + R)``; 0 when both are 0 (nothing matched)."""
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def precision_recall_f(matches: int, prediction_total: int, reference_total: int) -> PRF:
    """Turn a match count into precision, recall and F.

    An empty side has no units to divide by; like ``rouge_score`` we divide by
    ``max(total, 1)``, so an empty prediction or reference scores 0, never a division error.
    """
    precision = matches / max(prediction_total, 1)
    recall = matches / max(reference_total, 1)
    return PRF(precision, recall, fmeasure(precision, recall))


def rouge_n(prediction: str, reference: str, n: int) -> PRF:
    """ROUGE-N: the overlap of the n-gram bags of ``prediction`` and ``reference``.

    precision = overlap / (n-grams in the prediction),
    recall    = overlap / (n-grams in the reference).
    ROUGE-1 measures shared words (content), ROUGE-2 shared word pairs (some fluency/order).
    A text with fewer than ``n`` words has no n-grams and scores 0.
    """
    prediction_ngrams = ngrams(tokenize(prediction), n)
    reference_ngrams = ngrams(tokenize(reference), n)
    matches = clipped_overlap(prediction_ngrams, reference_ngrams)
    return precision_recall_f(matches, prediction_ngrams.total(), reference_ngrams.total())


# @end-lesson


# --------------------------------------------------------------------------------------------
# 2. Precision, recall, F
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# 3. ROUGE-N
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# 4. ROUGE-L
# --------------------------------------------------------------------------------------------


# @lesson notebooks/02_flan_t5_instruction_tuning.ipynb cell=02-e8ee83ce sha256=1ac0c5edcd39
# (taught in that notebook cell: edit it there, then run `python -m course_utils lessons`)
def lcs_table(a: Sequence[str], b: Sequence[str]) -> list[list[int]]:
    """The dynamic-programming table of ``lcs_length``: ``table[i][j]`` is the LCS length of
    ``a[:i]`` and ``b[:j]`` (row 0 and column 0 are the empty prefixes)."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of ``a`` and ``b`` (dynamic programming).

    A subsequence keeps the order but may skip items: "the cat on the mat" is a subsequence of
    "the cat sat on the mat". ``table[i][j]`` holds the LCS length of ``a[:i]`` and ``b[:j]``:

    * if ``a[i-1] == b[j-1]``, the match extends the best answer without both items:
      ``table[i-1][j-1] + 1``;
    * otherwise drop the last item of one side, whichever leaves more: ``max(table[i-1][j],
      table[i][j-1])``.

    Time and memory are ``len(a) * len(b)``.

    >>> lcs_length("ABCBDAB", "BDCABA")
    4
    """
    return lcs_table(a, b)[len(a)][len(b)]


def rouge_l(prediction: str, reference: str) -> PRF:
    """ROUGE-L: the longest common subsequence of the two token lists, as P/R/F.

    precision = LCS / (tokens in the prediction), recall = LCS / (tokens in the reference).
    Unlike ROUGE-2 it rewards words in the right order even when other words sit between them.
    Either side empty -> 0.
    """
    prediction_tokens = tokenize(prediction)
    reference_tokens = tokenize(reference)
    matches = lcs_length(prediction_tokens, reference_tokens)
    return precision_recall_f(matches, len(prediction_tokens), len(reference_tokens))


# @end-lesson


# --------------------------------------------------------------------------------------------
# 5. A corpus score
# --------------------------------------------------------------------------------------------


def score_pair(prediction: str, reference: str) -> dict[str, PRF]:
    """ROUGE-1, ROUGE-2 and ROUGE-L of one prediction, keyed ``rouge1``, ``rouge2``, ``rougeL``."""
    return {
        "rouge1": rouge_n(prediction, reference, 1),
        "rouge2": rouge_n(prediction, reference, 2),
        "rougeL": rouge_l(prediction, reference),
    }


def score_multi(prediction: str, references: str | Sequence[str]) -> dict[str, PRF]:
    """ROUGE of one prediction against one or several human references.

    With several (DialogSum's test split has three summaries per dialogue), each ROUGE type
    takes the reference it matches best, by F-measure: the first of equals, as
    ``rouge_score``'s ``score_multi`` does. A string is one reference.
    """
    options = [references] if isinstance(references, str) else list(references)
    if not options:
        raise ValueError("score_multi needs at least one reference")
    scored = [score_pair(prediction, reference) for reference in options]
    return {t: max((s[t] for s in scored), key=lambda prf: prf.fmeasure) for t in ROUGE_TYPES}


def rouge_scores(
    predictions: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    metric: Any = None,
) -> dict[str, float]:
    """Mean F-measure of ROUGE-1, ROUGE-2 and ROUGE-L over a corpus of (prediction, reference).

    Each prediction is scored on its own, against its reference or its best of several
    references (``score_multi``), and the F-measures are averaged, every example weighing the
    same. The per-pair scores come from this module, or from ``metric``, an ``evaluate`` ROUGE
    metric (the Hub's or the course's local one), asked with ``use_aggregator=False``: its
    default aggregate is a bootstrap median, close to the mean but not equal. An empty corpus
    scores 0.
    """
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predictions but {len(references)} references; "
            "ROUGE needs one reference per prediction"
        )
    if metric is not None:
        per_pair = metric.compute(
            predictions=list(predictions), references=list(references), use_aggregator=False
        )
    else:
        scored = [score_multi(p, r) for p, r in zip(predictions, references, strict=True)]
        per_pair = {t: [pair[t].fmeasure for pair in scored] for t in ROUGE_TYPES}
    return {t: sum(per_pair[t]) / max(len(per_pair[t]), 1) for t in ROUGE_TYPES}


def largest_gap_to_rouge_score(predictions: Sequence[str], references: Sequence[str]) -> float:
    """The largest difference between this module's ROUGE-1, ROUGE-2 and ROUGE-L F-measures and
    Google's ``rouge_score`` package's (no stemming) over the pairs: 0 when they agree."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False)
    return max(
        (
            abs(ours[name].fmeasure - theirs[name].fmeasure)
            for prediction, reference in zip(predictions, references, strict=True)
            for ours, theirs in [
                (score_pair(prediction, reference), scorer.score(reference, prediction))
            ]
            for name in ROUGE_TYPES
        ),
        default=0.0,
    )


# --------------------------------------------------------------------------------------------
# 6. A worked example for the notebooks
# --------------------------------------------------------------------------------------------


def _fraction(matches: int, total: int) -> str:
    """``"3 / 5"``, or ``"0 / max(0, 1)"`` when a side is empty (see ``precision_recall_f``)."""
    return f"{matches} / {total}" if total else f"{matches} / max({total}, 1)"


def explain_rouge_n(prediction: str, reference: str, n: int = 1) -> str:
    """Show the arithmetic of ``rouge_n`` step by step, as text to ``print`` in a notebook.

    Lists the tokens, a table of every n-gram with its count on each side and the clipped
    overlap, then precision, recall and F as fractions and decimals.
    """
    prediction_tokens, reference_tokens = tokenize(prediction), tokenize(reference)
    pred_bag, ref_bag = ngrams(prediction_tokens, n), ngrams(reference_tokens, n)
    overlap = pred_bag & ref_bag  # the clipped counts: min of the two sides
    matches, n_pred, n_ref = overlap.total(), pred_bag.total(), ref_bag.total()
    score = precision_recall_f(matches, n_pred, n_ref)

    # One row per distinct n-gram of either side, prediction's first, in order of appearance.
    grams = list(dict.fromkeys([*pred_bag, *ref_bag]))
    width = max([len("n-gram"), *(len(" ".join(gram)) for gram in grams)])

    lines = [
        f"ROUGE-{n}",
        f"prediction tokens: {prediction_tokens}",
        f"reference tokens:  {reference_tokens}",
        "",
        f"{'n-gram':<{width}}  prediction  reference  overlap = min",
    ]
    for gram in grams:
        counts = f"{pred_bag[gram]:>10}  {ref_bag[gram]:>9}  {overlap[gram]:>13}"
        lines.append(f"{' '.join(gram):<{width}}  {counts}")
    lines += [
        f"{'total':<{width}}  {n_pred:>10}  {n_ref:>9}  {matches:>13}",
        "",
        f"precision = overlap / prediction {n}-grams"
        f" = {_fraction(matches, n_pred)} = {score.precision:.4f}",
        f"recall    = overlap / reference {n}-grams "
        f" = {_fraction(matches, n_ref)} = {score.recall:.4f}",
        f"F         = 2 * P * R / (P + R) = {score.fmeasure:.4f}",
    ]
    return "\n".join(lines)


def explain_rouge_l(prediction: str, reference: str) -> str:
    """Show the LCS table behind ``rouge_l`` and the resulting P, R and F, as text to ``print``.

    One row per prediction token, one column per reference token; a cell holds the LCS length
    of the two prefixes, and ``*`` marks a cell where the two tokens are equal (the diagonal
    step). The bottom-right cell is the LCS length.
    """
    pred, ref = tokenize(prediction), tokenize(reference)
    table = lcs_table(pred, ref)
    width = max([3, *(len(w) for w in [*pred, *ref])]) + 1
    lines = [" " * width + "".join(f"{w:>{width}}" for w in ref)]
    for i, word in enumerate(pred, 1):
        cells = [
            f"{table[i][j]}{'*' if word == ref[j - 1] else ' '}".rjust(width)
            for j in range(1, len(ref) + 1)
        ]
        lines.append(f"{word:>{width}}" + "".join(cells))
    score = precision_recall_f(table[-1][-1], len(pred), len(ref))
    lines += [
        "",
        f"LCS = {table[-1][-1]} (bottom-right cell)",
        f"precision = LCS / prediction tokens = {_fraction(table[-1][-1], len(pred))}"
        f" = {score.precision:.4f}",
        f"recall    = LCS / reference tokens  = {_fraction(table[-1][-1], len(ref))}"
        f" = {score.recall:.4f}",
        f"F         = 2 * P * R / (P + R) = {score.fmeasure:.4f}",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# 7. The same metric through Hugging Face `evaluate`
# --------------------------------------------------------------------------------------------


def load_rouge_metric(prefer_hub: bool = False, **load_kwargs: Any) -> Any:
    """Return a ROUGE ``evaluate`` metric: ``metric.compute(predictions=..., references=...)``.

    By default this loads the local module in ``course_utils/rouge_metric`` (this file's
    functions, no network). With ``prefer_hub=True`` it first tries the Hub's
    ``evaluate.load("rouge")`` -- unless the Hugging Face libraries are told to stay offline or
    the Hub cannot be reached within two seconds -- and falls back to the local module on any
    failure. Either way, ``rouge_scores(..., metric=metric)`` gives the same numbers.

    ``load_kwargs`` (e.g. ``keep_in_memory=True``) are passed on to ``evaluate.load``.
    """
    import evaluate  # imported here: it is slow to import and only this function needs it

    from .core import hub

    if prefer_hub and not hub.offline() and hub.reachable():
        try:
            return evaluate.load("rouge", **load_kwargs)
        except Exception as error:  # noqa: BLE001 - any failure means "use the local module"
            warnings.warn(
                f"could not load 'rouge' from the Hugging Face Hub ({error!r}); "
                "using the local ROUGE module instead",
                stacklevel=2,
            )
    return evaluate.load(str(LOCAL_ROUGE_MODULE), **load_kwargs)
