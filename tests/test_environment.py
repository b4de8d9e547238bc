"""The pins agree: pyproject.toml, constraints-cpu.txt (the CPU lock) and environment.yml."""

from __future__ import annotations

import re

import tomllib
import yaml
from packaging.requirements import Requirement

from course_utils.core import paths
from course_utils.tooling import colab_install

ROOT = paths.repo_root()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r"^\s*-?\s*([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2).split("+")[0]
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = project["dependencies"]
    for extra in ("cpu", "jupyter", "dev", "site"):
        declared = declared + extras[extra]
    return [Requirement(text) for text in declared]


def test_pyproject_environment_and_lock_agree():
    """Every declared requirement holds in the lock; the conda file pins the lock's versions."""
    lock = _pins((ROOT / "constraints-cpu.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_env = _pins(pip_section)
    declared = _declared()
    assert declared, "pyproject declares its requirements"
    for requirement in declared:
        name = requirement.name.lower().replace("_", "-")
        assert name in lock, f"{name} is not in constraints-cpu.txt"
        assert requirement.specifier.contains(lock[name]), f"{requirement}: lock has {lock[name]}"
    runtime = {
        r.name.lower()
        for r in declared
        if r.name.lower() not in {"pytest", "ruff", "nbformat", "uv"}
    }
    assert set(conda_env) == runtime
    for name, version in conda_env.items():
        assert lock[name] == version, f"{name}: environment.yml {version}, lock {lock[name]}"
    assert "python=3.11" in env["dependencies"]


def test_colab_side_requirements_accept_colab_versions():
    """What Colab may have imported before the first cell is a range that accepts its version;
    the Jupyter side (papermill, ipykernel, ipywidgets) is not installed on Colab at all."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {Requirement(text).name.lower(): Requirement(text) for text in project["dependencies"]}
    runtime = colab_install.read_runtime()
    for name in ("numpy", "matplotlib", "tqdm", "psutil"):
        assert base[name].specifier.contains(runtime.versions[name]), (name, base[name])
    protected = {colab_install.canonical(name) for name in colab_install.PROTECTED}
    assert not ({"papermill", "ipykernel", "ipywidgets", "jupyterlab", "torch"} & set(base))
    for name, requirement in base.items():
        if name in protected:
            assert not str(requirement.specifier).startswith("=="), f"{name} is pinned exactly"


def test_unsloth_caps_hold():
    """Unsloth's release caps transformers <= 5.17.0, trl <= 1.15.0, datasets < 5."""
    lock = _pins((ROOT / "constraints-cpu.txt").read_text().splitlines())

    def version(name):
        return tuple(int(x) for x in lock[name].split(".")[:3])

    assert version("transformers") <= (5, 17, 0)
    assert version("trl") <= (1, 15, 0)
    assert version("datasets") < (5, 0, 0)
    assert lock["torch"] == "2.13.0"
