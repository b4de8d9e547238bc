"""course_utils.core.claims: the words follow the numbers, ties and peaks included."""

from __future__ import annotations

import pytest

from course_utils.core.claims import relation, spread, trend


def test_spread_is_the_mean_and_sample_sd():
    assert spread([1.0]) == spread([1.0]).__class__(1.0, 0.0, 1)
    s = spread([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and s.sd == pytest.approx(1.0) and s.n == 3
    assert f"{s:.1f}" == "2.0 ± 1.0" and f"{spread([0.5]):.2f}" == "0.50"
    with pytest.raises(ValueError, match="at least one value"):
        spread([])


def test_relation_says_within_noise_unless_the_gap_beats_the_spread_and_the_floor():
    assert relation(0.9, 0.5, floor=0.05) == "higher than"
    assert relation(0.5, 0.9, floor=0.05) == "lower than"
    assert relation(0.52, 0.5, floor=0.05) == "within noise of"
    # 0.1 apart, but the seeds scatter by 0.1: not a difference
    assert relation([0.7, 0.8, 0.9], [0.6, 0.7, 0.8], floor=0.01) == "within noise of"
    assert relation([0.90, 0.91, 0.92], [0.60, 0.61, 0.62], floor=0.01) == "higher than"
    assert relation(1.0, 0.0, 0.1, words=("more", "less", "as much as")) == "more"
    with pytest.raises(ValueError, match="floor = -1"):
        relation(1.0, 0.0, floor=-1)


@pytest.mark.parametrize(
    ("ys", "expected"),
    [
        ([0.50, 0.51, 0.49, 0.50], "flat (within noise)"),
        ([0.2, 0.5, 0.5, 0.9], "rises"),
        ([0.9, 0.5, 0.52, 0.1], "falls"),
        ([0.84, 0.90, 0.96, 0.88], "peaks at 20 and falls after it"),
        ([0.9, 0.3, 0.8, 0.95], "dips at 5 and rises after it"),
        ([0.5, 0.9, 0.3, 0.95], "goes up and down"),
    ],
)
def test_trend_names_the_shape(ys, expected):
    assert trend([1, 5, 20, 50], ys, floor=0.03) == expected


def test_trend_needs_matching_points():
    with pytest.raises(ValueError, match="at least two"):
        trend([1], [0.5], floor=0.0)
