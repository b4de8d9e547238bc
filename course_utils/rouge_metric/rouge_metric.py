"""ROUGE-1, ROUGE-2 and ROUGE-L as a local Hugging Face ``evaluate`` module.

The scoring lives in ``course_utils.rouge``; this file only wraps it in the interface
``evaluate`` expects, so that notebooks can write the usual

    metric = evaluate.load("path/to/course_utils/rouge_metric")  # or load_rouge_metric()
    metric.compute(predictions=[...], references=[...])

without reaching the Hugging Face Hub. ``evaluate.load`` accepts a folder when it holds a script
named after it (``rouge_metric/rouge_metric.py``), copies that script into its module cache and
imports it from there. That is why this script imports ``course_utils`` as an installed package
and never relative to its own location.
"""

import datasets
import evaluate

import course_utils.rouge as rouge

_CITATION = """\
@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/W04-1013",
    pages = "74--81",
}
"""

_DESCRIPTION = """\
ROUGE counts the words (ROUGE-1), word pairs (ROUGE-2) and the longest in-order run of words
(ROUGE-L) that a prediction shares with its reference, rebuilt from first principles in
course_utils.rouge. Tokens are lowercased ASCII letters and digits, with no stemming, exactly as
in rouge_score's RougeScorer(use_stemmer=False).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of generated texts, one per example.
    references: list of reference texts, one per prediction, or a list of several references
        per prediction (each ROUGE type then scores the best-matching one).
    use_aggregator: True (default) returns the mean F-measure over the examples;
        False returns the list of per-example F-measures.
Returns:
    {"rouge1": ..., "rouge2": ..., "rougeL": ...}
Example:
    >>> metric = evaluate.load("course_utils/rouge_metric")
    >>> metric.compute(predictions=["the cat lay on the mat"],
    ...                references=["the cat sat on the mat"])
    {'rouge1': 0.8333333333333334, 'rouge2': 0.6, 'rougeL': 0.8333333333333334}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CourseRouge(evaluate.Metric):
    """ROUGE-1/2/L F-measures computed by course_utils.rouge."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            # One reference per prediction, or several (the best one counts for each type).
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Sequence(datasets.Value("string")),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Value("string"),
                    }
                ),
            ],
            reference_urls=["https://aclanthology.org/W04-1013"],
        )

    def _compute(self, predictions, references, use_aggregator=True):
        if use_aggregator:
            return rouge.rouge_scores(predictions, references)
        per_example = [
            rouge.score_multi(p, r) for p, r in zip(predictions, references, strict=True)
        ]
        return {
            rouge_type: [scores[rouge_type].fmeasure for scores in per_example]
            for rouge_type in rouge.ROUGE_TYPES
        }
