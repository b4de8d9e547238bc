"""Parameter rules: every bad value is rejected with the parameter's name and the value."""

from __future__ import annotations

import math

import pytest

from course_utils.tooling.params import Param, ParameterError, check, check_all, check_model


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (Param("int", low=1, high=100), 10, 10),
        (Param("int", low=1, high=100), 10.0, 10),  # a whole float is accepted as an int
        (Param("float", low=0.0, high=1.0), 1, 1.0),
        (Param("bool"), False, False),
        (Param("str"), "hello", "hello"),
        (Param("choice", choices=("adamw", "sgd")), "sgd", "sgd"),
        (Param("int_list", low=1, high=64), (4, 8), [4, 8]),
        (Param("float_list", low=0.0), [0.5, 2], [0.5, 2.0]),
        (Param("int", mini=3, t4=5), None, None),
    ],
)
def test_good_values_are_normalised(rule: Param, value: object, expected: object) -> None:
    result = check("X", value, rule)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        (Param("int", low=1, high=100), "ten"),  # wrong type
        (Param("int", low=1, high=100), 0),  # below the range
        (Param("int", low=1, high=100), 101),  # above the range
        (Param("int", low=1, high=100), 2.5),  # not a whole number
        (Param("int", low=1, high=100), True),  # bool is not an int here
        (Param("float", low=0.0), math.nan),
        (Param("float", low=0.0), math.inf),  # only a lower bound: infinity still rejected
        (Param("float", low=0.0, high=1.0), "0.1"),
        (Param("bool"), 1),
        (Param("str"), "   "),
        (Param("choice", choices=("adamw", "sgd")), "adam"),
        (Param("int_list", low=1, high=64), [4, 0]),
        (Param("int_list", low=1, high=64), []),
        (Param("int_list", low=1, high=64), 8),
        (Param("int"), None),  # not optional
    ],
)
def test_bad_values_name_parameter_and_value(rule: Param, value: object) -> None:
    with pytest.raises(ParameterError) as info:
        check("MY_PARAM", value, rule)
    message = str(info.value)
    assert "MY_PARAM" in message
    assert repr(value) in message
    assert "expected" in message


def test_message_describes_the_allowed_range() -> None:
    with pytest.raises(ParameterError, match=r"expected an integer in \[1, 100\]"):
        check("STEPS", 0, Param("int", low=1, high=100))
    assert "or None" in Param("int", t4=5).allowed()
    assert "'adamw', 'sgd'" in Param("choice", choices=("adamw", "sgd")).allowed()


def test_model_accepts_existing_folder_and_hub_ids(tmp_path) -> None:
    assert check_model("MODEL", str(tmp_path)) == str(tmp_path.resolve())
    assert check_model("MODEL", "google/flan-t5-base") == "google/flan-t5-base"


@pytest.mark.parametrize("value", ["./no/such/model", "/no/such/model", "not-a-hub-id", "", 3])
def test_model_rejects_missing_folders(value: object) -> None:
    with pytest.raises(ParameterError) as info:
        check("MODEL", value, Param("model"))
    assert "MODEL" in str(info.value)
    assert repr(value) in str(info.value)


def test_check_all_rejects_unknown_names() -> None:
    rules = {"STEPS": Param("int", low=1)}
    assert check_all({"STEPS": 3}, rules) == {"STEPS": 3}
    with pytest.raises(ParameterError, match=r"STPES = 3.*takes STEPS"):
        check_all({"STPES": 3}, rules)


def test_profile_defaults_make_none_allowed():
    rule = Param("int", 1, 10, mini=2, t4=8)
    assert rule.optional and rule.default_for("mini") == 2 and rule.default_for("t4") == 8
    assert not Param("int", 1, 10).optional


@pytest.mark.parametrize(
    ("rule", "comment"),
    [
        (
            Param("int", 10, 5000, help="steps", mini=200, t4=300),
            "steps: 10 to 5000; None: 200 (mini), 300 (t4)",
        ),
        (Param("float", 1e-6, 0.1, help="lr"), "lr: 1e-6 to 0.1"),
        (Param("choice", choices=("q,v", "all-linear")), '"q,v" | "all-linear"'),
        (Param("bool", help="show it"), "show it: True or False"),
        (Param("int_list", 1, 64, help="ranks"), "ranks: each 1 to 64"),
        (Param("float", 0.0, help="lambda"), "lambda: >= 0"),
        (
            Param("model", mini="mini:mini-seq2seq", t4="google/flan-t5-base"),
            "folder/Hub id; None: mini-seq2seq (mini), google/flan-t5-base (t4)",
        ),
        (Param("float_list", 0.01, 1.0, mini=[0.1, 1.0]), "each 0.01 to 1; None: [0.1, 1] (mini)"),
    ],
)
def test_the_comment_a_parameters_cell_carries(rule: Param, comment: str) -> None:
    assert rule.comment() == comment


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown parameter kind 'integer'"):
        Param("integer")
