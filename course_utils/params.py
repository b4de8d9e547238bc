"""Checking a notebook's parameters: each bad value stops at once, naming what is allowed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ParameterError(ValueError):
    """A parameter has a value the notebook cannot use."""


@dataclass(frozen=True)
class Param:
    """The rule for one parameter.

    kind: "int", "float", "str", "bool", "choice", "model" (a local folder or a Hub id) or
    "int_list" / "float_list" (a non-empty list whose items obey low/high).
    low/high: inclusive bounds for numbers. choices: allowed values for "choice".
    optional: None is allowed and means "the profile's default" (see ``default``).
    """

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    optional: bool = False

    def allowed(self) -> str:
        """A human description of the allowed values."""
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices or ())
        elif self.kind == "model":
            text = "an existing model folder or a Hugging Face Hub id like 'google/flan-t5-base'"
        else:
            noun = {
                "int": "an integer",
                "float": "a number",
                "str": "a non-empty string",
                "bool": "True or False",
                "int_list": "a non-empty list of integers",
                "float_list": "a non-empty list of numbers",
            }[self.kind]
            text = noun
            if self.low is not None and self.high is not None:
                text += f" in [{self.low}, {self.high}]"
            elif self.low is not None:
                text += f" >= {self.low}"
            elif self.high is not None:
                text += f" <= {self.high}"
        if self.optional:
            text += ", or None for the profile's default"
        return text


def _fail(name: str, value: Any, rule: Param) -> ParameterError:
    return ParameterError(f"{name} = {value!r} is not allowed: expected {rule.allowed()}")


def _number(name: str, value: Any, rule: Param, integer: bool) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, value, rule)
    if integer and not isinstance(value, int):
        if not float(value).is_integer():
            raise _fail(name, value, rule)
        value = int(value)
    if not integer:
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):  # NaN or infinity
        raise _fail(name, value, rule)
    if rule.low is not None and value < rule.low:
        raise _fail(name, value, rule)
    if rule.high is not None and value > rule.high:
        raise _fail(name, value, rule)
    return value


def check(name: str, value: Any, rule: Param) -> Any:
    """Return ``value`` (normalised) if ``rule`` allows it, else raise ParameterError."""
    if value is None:
        if rule.optional:
            return None
        raise _fail(name, value, rule)
    kind = rule.kind
    if kind in ("int", "float"):
        return _number(name, value, rule, integer=kind == "int")
    if kind in ("int_list", "float_list"):
        if not isinstance(value, list | tuple) or not value:
            raise _fail(name, value, rule)
        try:
            return [_number(name, v, rule, integer=kind == "int_list") for v in value]
        except ParameterError:
            raise _fail(name, value, rule) from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(name, value, rule)
        return value
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise _fail(name, value, rule)
        return value
    if kind == "choice":
        if value not in (rule.choices or ()):
            raise _fail(name, value, rule)
        return value
    if kind == "model":
        return check_model(name, value)
    raise ValueError(f"unknown parameter kind {kind!r} for {name}")


def check_model(name: str, value: Any) -> str:
    """A model reference: an existing local folder, or something shaped like a Hub id."""
    rule = Param("model")
    if not isinstance(value, str | Path) or not str(value).strip():
        raise _fail(name, value, rule)
    text = str(value)
    path = Path(text).expanduser()
    looks_local = text.startswith((".", "/", "~")) or path.exists() or text.count("/") != 1
    if looks_local:
        if not path.is_dir():
            raise ParameterError(
                f"{name} = {text!r} is not allowed: the folder {path} does not exist "
                f"(expected {rule.allowed()})"
            )
        return str(path.resolve())
    return text


def check_all(values: dict[str, Any], rules: dict[str, Param]) -> dict[str, Any]:
    """Check every value against its rule; unknown names are errors too."""
    unknown = sorted(set(values) - set(rules))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(f'{n} = {values[n]!r}' for n in unknown)}: "
            "this notebook takes "
            f"{', '.join(sorted(rules)) or 'no parameters'}"
        )
    return {name: check(name, values[name], rule) for name, rule in rules.items() if name in values}
