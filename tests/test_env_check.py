"""The checks notebook 00 runs, on this machine (the mini models' answers are a build test)."""

from __future__ import annotations

from course_utils.core import paths
from course_utils.tooling import env_check


def test_packages_import_at_their_pinned_versions():
    checks = {c.name: c for c in env_check.package_checks()}
    assert checks["python"].status == "OK"
    assert checks["torch"].status in ("OK", "WARN")
    assert all(c.status != "FAIL" for c in checks.values()), checks
    assert env_check.pinned_versions()["transformers"] == checks["transformers"].detail


def test_accelerator_and_profile_lines():
    import torch

    gpu, bf16 = env_check.accelerator_checks()
    assert gpu.name == "GPU" and bf16.name == "bf16"
    assert (gpu.status == "INFO") == (not torch.cuda.is_available())
    assert "resolves to" in env_check.profile_check().detail
    assert env_check.Check("x", "OK", "fine").line().startswith("OK    x")


def test_missing_mini_models_are_a_failure_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "models_dir", lambda: tmp_path)
    [check] = env_check.mini_model_checks(load=True)
    assert check.status == "FAIL" and "build-mini" in check.detail and "ships" in check.detail
