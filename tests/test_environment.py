"""The pins agree: pyproject.toml, constraints-cpu.txt (the CPU lock) and environment.yml."""

from __future__ import annotations

import re

import tomllib
import yaml

from course_utils.tooling import paths

ROOT = paths.repo_root()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r"^\s*-?\s*([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2).split("+")[0]
    return pins


def test_pyproject_environment_and_lock_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _pins(
        project["dependencies"]
        + project["optional-dependencies"]["cpu"]
        + project["optional-dependencies"]["lab"]
    )
    lock = _pins((ROOT / "constraints-cpu.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_env = _pins(pip_section)
    assert declared, "pyproject declares exact pins"
    for name, version in declared.items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"
        assert conda_env.get(name) == version, (
            f"{name}: pyproject {version}, env {conda_env.get(name)}"
        )
    assert set(conda_env) == set(declared)
    assert "python=3.11" in env["dependencies"]


def test_unsloth_caps_hold():
    """Unsloth's release caps transformers <= 5.17.0, trl <= 1.15.0, datasets < 5."""
    lock = _pins((ROOT / "constraints-cpu.txt").read_text().splitlines())

    def version(name):
        return tuple(int(x) for x in lock[name].split(".")[:3])

    assert version("transformers") <= (5, 17, 0)
    assert version("trl") <= (1, 15, 0)
    assert version("datasets") < (5, 0, 0)
    assert lock["torch"] == "2.13.0"
