"""Sentences that follow the numbers: a comparison, a trend or a peak, phrased from the run.

Every computed conclusion in a notebook goes through these, so that no sentence says "higher"
where the difference is within noise, or "grows" where a curve peaks and falls. Noise is the
spread over seeds where a run has several, and otherwise a floor the caller states (for an
accuracy on n examples, one example's worth, 1/n, is the least that can be told apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Mean and sample standard deviation of repeated measurements (sd 0 for one)."""

    mean: float
    sd: float
    n: int

    def __format__(self, spec: str) -> str:
        spec = spec or ".2f"
        if self.n < 2:
            return format(self.mean, spec)
        return f"{self.mean:{spec}} ± {self.sd:{spec}}"


def spread(values: Sequence[float]) -> Spread:
    """The mean and sample standard deviation of ``values``."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("spread needs at least one value")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return Spread(mean, 0.0, 1)
    sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return Spread(mean, sd, len(values))


def _as_spread(value: float | Sequence[float] | Spread) -> Spread:
    if isinstance(value, Spread):
        return value
    if isinstance(value, int | float):
        return Spread(float(value), 0.0, 1)
    return spread(value)


def margin(a: Spread, b: Spread, floor: float) -> float:
    """How far apart two means must be to count as different: twice the larger sd, at least
    ``floor``."""
    return max(2.0 * max(a.sd, b.sd), floor)


def relation(
    a: float | Sequence[float] | Spread,
    b: float | Sequence[float] | Spread,
    floor: float,
    words: tuple[str, str, str] = ("higher than", "lower than", "within noise of"),
) -> str:
    """How ``a`` stands to ``b``: ``words[0]`` if larger beyond the noise, ``words[1]`` if
    smaller, ``words[2]`` otherwise. ``floor`` is the least difference that counts."""
    if floor < 0:
        raise ValueError(f"floor = {floor!r}: a difference that counts is 0 or more")
    a, b = _as_spread(a), _as_spread(b)
    gap = a.mean - b.mean
    if abs(gap) <= margin(a, b, floor):
        return words[2]
    return words[0] if gap > 0 else words[1]


def trend(xs: Sequence[float], ys: Sequence[float], floor: float) -> str:
    """The shape of a curve ``ys`` over increasing ``xs``, in words: "flat (within noise)",
    "rises", "falls", "peaks at x = ... and falls after it", "dips at x = ... and rises after
    it", or "goes up and down". Steps of at most ``floor`` count as flat."""
    if len(xs) != len(ys) or len(ys) < 2:
        raise ValueError("trend needs as many xs as ys, at least two")
    ys = [float(y) for y in ys]
    if max(ys) - min(ys) <= floor:
        return "flat (within noise)"
    steps = [b - a for a, b in zip(ys, ys[1:], strict=False)]
    signs = [0 if abs(s) <= floor else (1 if s > 0 else -1) for s in steps]
    moves = [s for s in signs if s]
    if all(s >= 0 for s in moves):
        return "rises"
    if all(s <= 0 for s in moves):
        return "falls"
    top, bottom = ys.index(max(ys)), ys.index(min(ys))
    if all(s >= 0 for s in signs[:top]) and all(s <= 0 for s in signs[top:]):
        return f"peaks at {xs[top]:g} and falls after it"
    if all(s <= 0 for s in signs[:bottom]) and all(s >= 0 for s in signs[bottom:]):
        return f"dips at {xs[bottom]:g} and rises after it"
    return "goes up and down"
