"""Parameter rules: a bad value stops at once, naming the parameter, the value, what is allowed.

A notebook's parameters cell is the only place its parameter names and default values are
written; the catalogue (``catalog.py``) holds one ``Param`` per name with the rule and, where the
cell's default is ``None``, the value each profile uses instead. The comment beside each name in
the cell is generated from its ``Param`` (``Param.comment``), so the two cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ParameterError(ValueError):
    """A parameter has a value the notebook cannot use."""


#: A profile default of the form "mini:<name>" is the course-built mini model <name>.
MINI_PREFIX = "mini:"

_NOUNS = {
    "int": "an integer",
    "float": "a number",
    "str": "a non-empty string",
    "bool": "True or False",
    "int_list": "a non-empty list of integers",
    "float_list": "a non-empty list of numbers",
}


def _number_text(value: float) -> str:
    """1e-06 -> "1e-6", 0.5 -> "0.5", 3.0 -> "3"."""
    mantissa, _, exponent = f"{value:g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def _literal(value: Any) -> str:
    """A value as the parameters cell writes it: strings in double quotes."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


@dataclass(frozen=True)
class Param:
    """The rule for one parameter.

    kind: "int", "float", "str", "bool", "choice", "model" (a local folder or a Hub id) or
    "int_list" / "float_list" (a non-empty list whose items obey low/high).
    low/high: inclusive bounds for numbers. choices: allowed values for "choice".
    help: what the parameter means, with its unit (a few words, shown in the cell's comment).
    mini/t4: the value each profile uses when the cell says None; a parameter with neither
    does not accept None.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    mini: Any = None
    t4: Any = None

    def __post_init__(self) -> None:
        if self.kind not in (*_NOUNS, "choice", "model"):
            raise ValueError(f"unknown parameter kind {self.kind!r}")

    @property
    def optional(self) -> bool:
        """Whether None is allowed (it means the profile's default)."""
        return self.mini is not None or self.t4 is not None

    def default_for(self, profile: str) -> Any:
        """The profile's value for None (None if the profile has none)."""
        return {"mini": self.mini, "t4": self.t4}.get(profile)

    def allowed(self) -> str:
        """A human description of the allowed values, for error messages."""
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices or ())
        elif self.kind == "model":
            text = "an existing model folder or a Hugging Face Hub id like 'google/flan-t5-base'"
        else:
            text = _NOUNS[self.kind]
            if self.low is not None and self.high is not None:
                text += f" in [{self.low}, {self.high}]"
            elif self.low is not None:
                text += f" >= {self.low}"
            elif self.high is not None:
                text += f" <= {self.high}"
        if self.optional:
            text += ", or None for the profile's default"
        return text

    def range_text(self) -> str:
        """The allowed values, short, for the parameters cell's comment."""
        if self.kind == "choice":
            return " | ".join(_literal(c) for c in self.choices or ())
        if self.kind == "model":
            return "folder/Hub id"
        if self.kind in ("bool", "str"):
            return _NOUNS[self.kind]
        each = "each " if self.kind.endswith("_list") else ""
        low = "" if self.low is None else _number_text(self.low)
        high = "" if self.high is None else _number_text(self.high)
        if low and high:
            return f"{each}{low} to {high}"
        return f"{each}>= {low}" if low else f"{each}<= {high}" if high else _NOUNS[self.kind]

    def comment(self) -> str:
        """The comment the parameters cell carries beside this parameter (generated, checked)."""
        text = f"{self.help}: {self.range_text()}" if self.help else self.range_text()
        if self.optional:
            shown = {p: self.default_for(p) for p in ("mini", "t4")}
            defaults = ", ".join(f"{_show(v)} ({p})" for p, v in shown.items() if v is not None)
            text += f"; None: {defaults}"
        return text


def _show(value: Any) -> str:
    """A profile default as the comment shows it: mini models by name, lists compactly."""
    if isinstance(value, str) and value.startswith(MINI_PREFIX):
        return value.removeprefix(MINI_PREFIX)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float):
        return _number_text(value)
    return str(value)


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
    return check_model(name, value)


def looks_like_hub_id(text: str) -> bool:
    """ "owner/name" that is not a path on this machine."""
    path = Path(text).expanduser()
    return not (text.startswith((".", "/", "~")) or path.exists() or text.count("/") != 1)


def check_model(name: str, value: Any) -> str:
    """A model reference: an existing local folder, or something shaped like a Hub id."""
    rule = Param("model")
    if not isinstance(value, str | Path) or not str(value).strip():
        raise _fail(name, value, rule)
    text = str(value)
    if looks_like_hub_id(text):
        return text
    path = Path(text).expanduser()
    if not path.is_dir():
        raise ParameterError(
            f"{name} = {text!r} is not allowed: the folder {path} does not exist "
            f"(expected {rule.allowed()})"
        )
    return str(path.resolve())


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
