"""setup(): profile resolution, offline mode, and rejection of every kind of bad value."""

from __future__ import annotations

import math
import os

import pytest

from course_utils import catalog, paths
from course_utils.catalog import NotebookSpec
from course_utils.params import Param, ParameterError
from course_utils.profiles import OFFLINE_VARIABLES, resolve_profile
from course_utils.session import setup

STEM = "98_session_test"
SPEC = NotebookSpec(
    stem=STEM,
    title="Session test",
    params={
        "STEPS": Param("int", low=1, high=1000),
        "LR": Param("float", low=1e-6, high=1.0),
        "OPTIMIZER": Param("choice", choices=("adamw", "sgd")),
        "RANKS": Param("int_list", low=1, high=64),
        "MODEL": Param("model", optional=True),
    },
    defaults={"mini": {"MODEL": catalog.MINI_SEQ2SEQ}, "t4": {"MODEL": "google/flan-t5-base"}},
)
GOOD = {"STEPS": 10, "LR": 1e-3, "OPTIMIZER": "adamw", "RANKS": [4, 8], "MODEL": None}


@pytest.fixture(autouse=True)
def spec(monkeypatch: pytest.MonkeyPatch) -> NotebookSpec:
    monkeypatch.setitem(catalog.NOTEBOOKS, STEM, SPEC)
    for variable in OFFLINE_VARIABLES:  # restored after each test
        monkeypatch.delenv(variable, raising=False)
    return SPEC


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(cuda(), reason="this machine has a GPU, so auto means t4")
def test_auto_resolves_to_mini_and_goes_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert resolve_profile("auto").name == "mini"
    cfg = setup(STEM, profile="auto", seed=3, **GOOD)
    assert cfg.profile.name == "mini"
    assert cfg.device == "cpu" and cfg.profile.dtype == "float32"
    assert not cfg.profile.gradient_checkpointing
    for variable in OFFLINE_VARIABLES:
        assert os.environ[variable] == "1"
    assert cfg.STEPS == 10 and cfg.RANKS == [4, 8] and cfg.seed == 3
    # None takes the profile's default; "mini:<name>" is a model in models_dir().
    assert cfg.MODEL == str(paths.models_dir() / "mini-seq2seq")
    printed = capsys.readouterr().out
    assert "profile" in printed and "mini" in printed and "STEPS" in printed
    with pytest.raises(AttributeError, match="NOT_A_PARAM"):
        _ = cfg.NOT_A_PARAM


@pytest.mark.skipif(cuda(), reason="this machine has a GPU")
def test_t4_without_gpu_is_refused() -> None:
    with pytest.raises(ParameterError, match="PROFILE = 't4'.*CUDA"):
        setup(STEM, profile="t4", **GOOD)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STEPS", "ten"),  # wrong type
        ("STEPS", 0),  # out of range
        ("STEPS", True),  # bool passed for an int
        ("STEPS", 10.5),
        ("LR", math.nan),
        ("LR", math.inf),
        ("LR", 5.0),
        ("OPTIMIZER", "adam"),
        ("RANKS", [4, 100]),
        ("MODEL", "./no/such/model"),  # nonexistent model folder
        ("MODEL", "/no/such/model"),
    ],
)
def test_bad_values_are_rejected(name: str, value: object) -> None:
    with pytest.raises(ParameterError) as info:
        setup(STEM, profile="mini", **{**GOOD, name: value})
    assert name in str(info.value)
    assert repr(value) in str(info.value)


def test_unknown_parameter_name() -> None:
    with pytest.raises(ParameterError) as info:
        setup(STEM, profile="mini", **GOOD, STPES=5)
    assert "STPES" in str(info.value) and "5" in str(info.value)
    assert "STEPS" in str(info.value)  # says what the notebook does take


def test_missing_parameter() -> None:
    values = dict(GOOD)
    del values["LR"]
    with pytest.raises(ParameterError, match="missing parameter.*LR"):
        setup(STEM, profile="mini", **values)


@pytest.mark.parametrize("profile", ["gpu", "T4", "", None])
def test_unknown_profile(profile: object) -> None:
    with pytest.raises(ParameterError) as info:
        setup(STEM, profile=profile, **GOOD)
    assert "PROFILE" in str(info.value) and repr(profile) in str(info.value)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "1", True, None])
def test_bad_seed(seed: object) -> None:
    with pytest.raises(ParameterError) as info:
        setup(STEM, profile="mini", seed=seed, **GOOD)
    assert "SEED" in str(info.value) and repr(seed) in str(info.value)


def test_unknown_notebook() -> None:
    with pytest.raises(KeyError, match="99_nope"):
        setup("99_nope", profile="mini")
