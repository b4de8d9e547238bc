"""The small tooling modules: hub switches, progress bars, profiles and number formats."""

from __future__ import annotations

import os

import pytest

from course_utils.core import hub, progress
from course_utils.tooling import profiles
from course_utils.tooling.params import ParameterError
from course_utils.tooling.profiles import MINI, Profile, gpu_dtype

T4 = Profile("t4", "cuda", "float16", True, False, "Tesla T4")
A100 = Profile("t4", "cuda", "bfloat16", True, False, "NVIDIA A100")
T4_ON_CPU = Profile("t4", "cpu", "float16", True, True, "CPU standing in for a T4")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), (" Yes ", True), ("ON", True), ("0", False), ("", False)],
)
def test_env_flag(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_SOME_FLAG", value)
    assert hub.env_flag("COURSE_SOME_FLAG") is expected


def test_go_offline_sets_every_variable(monkeypatch):
    for name in hub.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not hub.offline()
    hub.go_offline()
    assert all(os.environ[name] == "1" for name in hub.OFFLINE_VARIABLES)
    assert hub.offline()


def test_nothing_from_the_hub_is_cached_here():
    assert hub.is_cached("google/flan-t5-small") is False


def test_gpu_dtype_follows_the_compute_capability():
    assert gpu_dtype((7, 5)) == "float16"  # a T4: no bf16 in hardware
    assert gpu_dtype((8, 0)) == "bfloat16"  # an A100
    assert gpu_dtype((9, 0)) == "bfloat16"  # an H100


def test_trainer_precision_never_uses_float16_for_t5_nor_amp_on_a_cpu():
    assert T4.trainer_precision("t5") == {"fp16": False, "bf16": False}
    assert T4.trainer_precision("mistral") == {"fp16": True, "bf16": False}
    assert A100.trainer_precision("t5") == {"fp16": False, "bf16": True}
    assert MINI.trainer_precision("t5") == {"fp16": False, "bf16": False}
    assert T4_ON_CPU.trainer_precision("mistral") == {"fp16": False, "bf16": False}


@pytest.mark.skipif(profiles.cuda_available(), reason="this machine has a GPU")
def test_t4_needs_a_gpu_unless_the_stand_ins_are_on(monkeypatch):
    monkeypatch.delenv("COURSE_STAND_INS", raising=False)
    assert profiles.resolve_profile("auto") == MINI
    with pytest.raises(ParameterError, match="PROFILE = 't4'.*CUDA"):
        profiles.resolve_profile("t4")
    monkeypatch.setenv("COURSE_STAND_INS", "1")
    stand_in = profiles.resolve_profile("t4")
    assert (stand_in.name, stand_in.device, stand_in.dtype) == ("t4", "cpu", "float16")
    assert stand_in.gradient_checkpointing and stand_in.offline
    assert profiles.resolve_profile("auto") == MINI  # auto never pretends


class _FakeTrainer:
    """Just the callback API of a Trainer."""

    def __init__(self, callbacks):
        self.callbacks = list(callbacks)

    def pop_callback(self, cls):
        for cb in self.callbacks:
            if cb is cls or isinstance(cb, cls):
                self.callbacks.remove(cb)
                return cb
        return None

    def add_callback(self, cb):
        self.callbacks.append(cb)


@pytest.mark.parametrize("quiet", ["", "1"])
def test_progress_is_a_bar_without_log_lines_and_off_under_tqdm_disable(monkeypatch, quiet):
    from transformers.trainer_callback import ProgressCallback
    from transformers.utils.notebook import NotebookProgressCallback

    monkeypatch.setenv("TQDM_DISABLE", quiet)
    for default in (ProgressCallback(), NotebookProgressCallback()):
        trainer = _FakeTrainer(["other", default])
        progress.bar_only_progress(trainer)
        bars = [c for c in trainer.callbacks if c != "other"]
        assert "other" in trainer.callbacks
        if quiet:
            assert bars == []
        else:
            [bar] = bars
            assert issubclass(bar, ProgressCallback)
            assert bar().on_log(None, None, None, logs={"loss": 1.0}) is None
