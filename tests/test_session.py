"""setup(): profile resolution, offline mode, and rejection of every kind of bad value."""

from __future__ import annotations

import math
import os

import pytest

from course_utils import setup
from course_utils.core import paths
from course_utils.core.hub import OFFLINE_VARIABLES
from course_utils.tooling import catalog
from course_utils.tooling.catalog import NotebookSpec
from course_utils.tooling.params import Param, ParameterError

STEM = "98_session_test"
SPEC = NotebookSpec(
    stem=STEM,
    title="Session test",
    params={
        "STEPS": Param("int", low=1, high=1000),
        "LR": Param("float", low=1e-6, high=1.0),
        "OPTIMIZER": Param("choice", choices=("adamw", "sgd")),
        "RANKS": Param("int_list", low=1, high=64),
        "MODEL": Param("model", mini=catalog.MINI_SEQ2SEQ, t4="google/flan-t5-base"),
    },
)
GOOD = {"STEPS": 10, "LR": 1e-3, "OPTIMIZER": "adamw", "RANKS": [4, 8], "MODEL": None}


def cell(profile: object = "mini", seed: object = 0, **changes: object) -> dict:
    """A notebook namespace after its parameters cell (plus what else a notebook defines)."""
    return {"PROFILE": profile, "SEED": seed, **GOOD, **changes, "sys": object(), "np": 1}


@pytest.fixture(autouse=True)
def spec(monkeypatch: pytest.MonkeyPatch) -> NotebookSpec:
    monkeypatch.setitem(catalog.NOTEBOOKS, STEM, SPEC)
    for variable in (*OFFLINE_VARIABLES, "COURSE_STAND_INS"):  # restored after each test
        monkeypatch.delenv(variable, raising=False)
    return SPEC


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(cuda(), reason="this machine has a GPU, so auto means t4")
def test_auto_resolves_to_mini_and_goes_offline(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = setup(STEM, cell("auto", 3))
    assert cfg.profile.name == "mini"
    assert cfg.device == "cpu" and cfg.profile.dtype == "float32"
    assert not cfg.profile.gradient_checkpointing
    for variable in OFFLINE_VARIABLES:
        assert os.environ[variable] == "1"
    assert cfg.STEPS == 10 and cfg.RANKS == [4, 8] and cfg.seed == 3
    # None takes the profile's default; "mini:<name>" is a model in models_dir().
    assert cfg.MODEL == str(paths.models_dir() / "mini-seq2seq")
    printed = capsys.readouterr().out
    assert printed.startswith(f"{STEM}: profile mini, cpu (CPU only), float32, seed 3\n")
    assert len(printed.splitlines()) == 3 and "STEPS" in cfg.describe()
    with pytest.raises(AttributeError, match="NOT_A_PARAM"):
        _ = cfg.NOT_A_PARAM


@pytest.mark.skipif(cuda(), reason="this machine has a GPU")
def test_t4_without_gpu_is_refused() -> None:
    with pytest.raises(ParameterError, match="PROFILE = 't4'.*CUDA"):
        setup(STEM, cell("t4"))


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
        setup(STEM, cell(**{name: value}))
    assert name in str(info.value)
    assert repr(value) in str(info.value)


def test_missing_parameter() -> None:
    namespace = cell()
    del namespace["LR"], namespace["SEED"]
    with pytest.raises(ParameterError, match="98_session_test must define SEED, LR"):
        setup(STEM, namespace)


def test_a_hub_id_in_an_offline_profile_stops_at_once() -> None:
    with pytest.raises(ParameterError) as info:
        setup(STEM, cell(MODEL="google/flan-t5-small"))
    message = str(info.value)
    assert "MODEL = 'google/flan-t5-small'" in message and "'mini'" in message
    assert "offline" in message and "folder" in message and "'t4'" in message


def test_the_stand_ins_replace_hub_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_STAND_INS", "1")
    cfg = setup(STEM, cell("t4"))
    assert cfg.profile.name == "t4" and cfg.profile.offline
    assert cfg.MODEL == str(paths.models_dir() / "mini-seq2seq")  # stands in for flan-t5-base
    with pytest.raises(ParameterError, match="MODEL = 'someone/else'.*no local stand-in"):
        setup(STEM, cell("t4", MODEL="someone/else"))


@pytest.mark.parametrize("profile", ["gpu", "T4", "", None])
def test_unknown_profile(profile: object) -> None:
    with pytest.raises(ParameterError) as info:
        setup(STEM, cell(profile))
    assert "PROFILE" in str(info.value) and repr(profile) in str(info.value)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "1", True, None])
def test_bad_seed(seed: object) -> None:
    with pytest.raises(ParameterError) as info:
        setup(STEM, cell(seed=seed))
    assert "SEED" in str(info.value) and repr(seed) in str(info.value)


def test_unknown_notebook() -> None:
    with pytest.raises(KeyError, match="99_nope"):
        setup("99_nope", cell())


def test_the_set_up_names_only_the_parameters_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    from course_utils.tooling import session

    monkeypatch.setattr(session, "changed_parameters", lambda stem, ns: {"STEPS": 20})
    cfg = setup(STEM, cell("mini", 3))
    assert cfg.headline({"STEPS": 20}).endswith(
        "parameters changed from the notebook's defaults: STEPS = 20"
    )
    assert cfg.headline({}).endswith(
        "parameters: the notebook's defaults (cfg.describe() lists them)"
    )


def test_changed_parameters_reads_the_notebooks_own_cell() -> None:
    from course_utils.tooling.session import changed_parameters

    stem = "04_lora_rank_alpha_sweeps"
    assert changed_parameters(stem, {"PROFILE": "mini", "SEED": 5, "TRAIN_STEPS": None}) == {}
    assert changed_parameters(stem, {"TRAIN_STEPS": 80, "RANKS": None}) == {"TRAIN_STEPS": 80}
    assert changed_parameters("99_no_such_notebook", {}) is None
