"""The Colab install leaves Colab's runtime intact.

The unit tests check the install script's commands and the notebooks' set-up cells offline. The
tests marked ``colab`` (they need the package index, not the Hub) resolve the exact commands the
notebooks run on Colab, for Colab's Python, together with every package Colab publishes
(configs/colab/pip-freeze.gpu.txt), and fail if a package would change that the course
does not mean to change.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import tomllib

from course_utils.core import paths
from course_utils.tooling import colab_install

ROOT = paths.repo_root()
SCRIPT = ROOT / "course_utils" / "tooling" / "colab_install.py"
NOTEBOOKS = sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


def _code_cells(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_every_notebook_starts_with_the_same_set_up_cell():
    first_cells = {path.name: _code_cells(path)[0] for path in NOTEBOOKS}
    assert len(set(first_cells.values())) == 1, "the set-up cells differ"
    cell = next(iter(first_cells.values()))
    assert 'install = clone / "course_utils/tooling/colab_install.py"' in cell
    assert "pip" not in cell, "the set-up cell installs only through colab_install.py"
    assert (ROOT / "course_utils/tooling/colab_install.py").is_file()


def test_unsloth_is_installed_only_through_the_install_script():
    with_unsloth = []
    for path in NOTEBOOKS:
        for source in _code_cells(path):
            assert "pip install" not in source and '"pip"' not in source, path.name
            if '"--unsloth"' in source:
                with_unsloth.append(path.stem[:2])
    assert with_unsloth == ["05", "06", "07"]


def test_the_script_needs_only_the_standard_library():
    """It runs before the course is installed: with site-packages switched off it still works."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), "--dry-run"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"install -q -c {Path('/')}" in done.stdout
    assert done.stdout.rstrip().endswith(f"-e {ROOT}")


def test_constraints_hold_each_protected_version_for_every_local_build():
    versions = {"torch": "2.11.0+cu128", "ipykernel": "6.17.1", "transformers": "5.15.0"}
    assert colab_install.constraint_lines(versions) == ["ipykernel==6.17.1", "torch==2.11.0"]


def test_unsloth_commands_never_name_torch_and_constrain_the_top_up():
    constraints = Path("/tmp/protected.txt")
    no_deps, top_up = colab_install.unsloth_commands("2.11.0+cu128", constraints)
    assert "--no-deps" in no_deps and "-c" not in no_deps
    assert top_up[top_up.index("-c") + 1] == str(constraints)
    packages = colab_install.unsloth_packages("2.11.0+cu128")
    assert no_deps[-len(packages) :] == packages == top_up[-len(packages) :]
    protected = {colab_install.canonical(name) for name in colab_install.PROTECTED}
    named = {colab_install.canonical(p.split("==")[0]) for p in packages}
    assert not named & protected
    assert "xformers==0.0.35" in packages and "torchao==0.17.0" in packages


def test_a_dry_run_is_the_same_install_resolved_only():
    args = ["-c", "/tmp/protected.txt", "torchao==0.17.0"]
    command = colab_install.pip_install(args)
    assert command[1:] == ["-m", "pip", "install", "-q", *args]
    dry = colab_install.pip_install(args, dry_run=True)
    assert dry[1:] == ["-m", "pip", "install", "-q", "--dry-run", *args]


def test_jupyter_server_is_protected():
    assert colab_install.constraint_lines({"jupyter-server": "2.20.0"}) == [
        "jupyter-server==2.20.0"
    ]


@pytest.mark.parametrize(
    ("torch_version", "xformers", "torchao"),
    [
        ("2.8.0", "0.0.32.post2", "0.13.0"),
        ("2.9.0+cu126", "0.0.33.post1", "0.14.1"),
        ("2.9.1+cu128", "0.0.33.post2", "0.15.0"),  # xformers 0.0.33.post1 pins torch==2.9.0
        ("2.10.0", "0.0.34", "0.16.0"),
        ("2.10.1", "0.0.35", "0.16.0"),  # 0.0.34 pins torch==2.10.0; 0.0.35 asks torch>=2.10
        ("2.11.0+cu128", "0.0.35", "0.17.0"),
        ("2.11.1+cu128", "0.0.35", "0.17.0"),
    ],
)
def test_each_torch_patch_release_gets_companions_built_for_it(torch_version, xformers, torchao):
    found = colab_install.companions_for(torch_version)
    assert (found.xformers, found.torchao) == (xformers, torchao)


@pytest.mark.parametrize(
    ("torch_version", "words"),
    [
        ("2.3.1", "outside Unsloth's range"),
        ("2.15.0", "outside Unsloth's range"),
        ("2.8.1", "built for torch 2.8.0 exactly, not torch 2.8.1"),
        ("2.13.0+cpu", "not torch 2.13.0+cpu"),
        ("nightly", "cannot read the torch version"),
    ],
)
def test_a_torch_without_known_companions_is_refused_in_words(torch_version, words):
    with pytest.raises(colab_install.CannotInstall, match=re.escape(words)):
        colab_install.companions_for(torch_version)


def test_the_report_notes_a_torchao_built_for_another_cuda():
    note = colab_install.torchao_note("2.11.0+cu128")
    assert note is not None and "built for CUDA 13" in note and "CUDA 12.8" in note
    assert colab_install.torchao_note("2.11.0+cu130") is None
    assert colab_install.torchao_note("2.10.0+cu128") is None
    assert colab_install.torchao_note("2.11.0") is None  # no CUDA named: nothing to compare


def test_the_unsloth_dry_run_prints_its_commands_and_the_torchao_note(monkeypatch, capsys):
    torch = {"torch": "2.11.0+cu128"}
    monkeypatch.setattr(colab_install, "installed_versions", lambda names=(): torch)
    assert colab_install.main(["--unsloth", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "protected (-c): torch==2.11.0"
    assert out[1].startswith("-m pip install -q --no-deps unsloth==2026.10.9 ")
    assert "-m pip install -q -c " in out[2] and out[2].endswith(" torchao==0.17.0")
    assert out[3].startswith("note: torchao 0.17.0 from PyPI is built for CUDA 13")


def test_without_a_known_torch_unsloth_is_skipped_with_a_message(monkeypatch, capsys):
    monkeypatch.setattr(colab_install, "installed_versions", lambda names=(): {"torch": "2.2.0"})
    assert colab_install.main(["--unsloth", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Unsloth not installed: torch 2.2.0 is outside Unsloth's range" in out
    assert "The notebook runs without it" in out


def test_without_a_gpu_unsloth_is_skipped_with_a_message(monkeypatch, capsys):
    monkeypatch.setattr(colab_install, "installed_versions", lambda names=(): {"torch": "2.11.0"})
    monkeypatch.setattr(colab_install, "has_gpu", lambda: False)
    monkeypatch.setattr(colab_install.subprocess, "run", pytest.fail)
    assert colab_install.main(["--unsloth"]) == 0
    assert "Unsloth not installed: there is no GPU" in capsys.readouterr().out


def test_the_report_names_every_change_and_any_protected_package_that_moved(monkeypatch):
    monkeypatch.setattr(colab_install, "installed_versions", lambda names=(): {"torch": "2.11.0"})
    before = {"peft": "0.20.0", "pyarrow": "18.1.0", "certifi": "2026.7.22", "torch": "2.11.0"}
    after = {"peft": "0.21.2", "pyarrow": "26.0.1", "certifi": "2026.7.22", "torch": "2.11.0"}
    after["trl"] = "1.14.0"
    lines = colab_install.report(before, after, {"torch": "2.11.0"})
    assert lines == [
        "changed: peft 0.20.0 -> 0.21.2, pyarrow 18.1.0 -> 26.0.1, trl - -> 1.14.0",
        "kept all 1 protected packages as they were (torch 2.11.0)",
    ]
    moved = colab_install.report({}, {}, {"torch": "2.10.0"})
    assert moved == ["changed: nothing", "CHANGED protected packages: torch 2.10.0 -> 2.11.0"]


def test_every_installed_distribution_is_read():
    versions = colab_install.all_installed()
    assert versions["pytest"] == pytest.__version__ and "nbformat" in versions


def test_undo_removes_what_was_added_and_reinstalls_what_moved():
    before = {"torch": "2.11.0+cu128", "torchao": "0.10.0", "certifi": "2026.7.22"}
    after = {"torch": "2.11.0+cu128", "torchao": "0.17.0", "xformers": "0.0.35", "tyro": "1.0.17"}
    uninstall, reinstall = colab_install.undo_commands(before, after)
    assert uninstall[1:] == ["-m", "pip", "uninstall", "-q", "-y", "tyro", "xformers"]
    assert reinstall[-3:] == ["--no-deps", "certifi==2026.7.22", "torchao==0.10.0"]
    assert colab_install.undo_commands(before, before) == []


def test_a_failed_unsloth_top_up_is_taken_back_whole(monkeypatch, capsys):
    monkeypatch.setattr(colab_install, "installed_versions", lambda names=(): {"torch": "2.11.0"})
    monkeypatch.setattr(colab_install, "has_gpu", lambda: True)
    colab = {"torch": "2.11.0", "torchao": "0.10.0"}
    half = {**colab, "torchao": "0.17.0", "xformers": "0.0.35", "unsloth": "2026.10.9"}
    half |= {"unsloth-zoo": "2026.10.9", "cut-cross-entropy": "25.1.1"}
    state = {"now": colab}
    monkeypatch.setattr(colab_install, "all_installed", lambda: state["now"])
    ran = []

    def run(command, **kwargs):
        ran.append(command)
        if "--no-deps" in command and "--dry-run" not in command and "torchao==0.10.0" in command:
            state["now"] = colab  # the reinstall of what moved: the runtime is whole again
        elif "--no-deps" in command and "--dry-run" not in command:
            state["now"] = half  # the first step went through
        failed = "-c" in command and "--dry-run" not in command
        return subprocess.CompletedProcess(command, 1 if failed else 0)

    monkeypatch.setattr(colab_install.subprocess, "run", run)
    assert colab_install.main(["--unsloth"]) == 1
    assert "--dry-run" in ran[0]  # resolved before anything is installed
    uninstall = next(command for command in ran if "uninstall" in command)
    assert uninstall[-4:] == ["cut-cross-entropy", "unsloth", "unsloth-zoo", "xformers"]
    assert ran[-1][-2:] == ["--no-deps", "torchao==0.10.0"]
    out = capsys.readouterr().out
    assert "pip failed" in out and "every package it had changed is back as it was" in out


def test_runtime_file_round_trips(tmp_path):
    freeze = (
        "# comment\nipykernel==6.17.1\ntorch==2.11.0+cu128\ntransformers==5.15.0\nfoo @ file:///x\n"
    )
    text = colab_install.runtime_text(freeze, "Ubuntu\nPython 3.13.15\n", "backend-info abc, 2026")
    path = tmp_path / "runtime.txt"
    path.write_text(text)
    runtime = colab_install.read_runtime(path)
    assert runtime.python == "3.13"
    assert runtime.versions == {"ipykernel": "6.17.1", "torch": "2.11.0+cu128"}
    assert runtime.source == "backend-info abc, 2026"
    with pytest.raises(ValueError, match="Python X.Y.Z"):
        colab_install.runtime_text(freeze, "Ubuntu 22.04\n", "x")
    with pytest.raises(ValueError, match="no torch"):
        colab_install.runtime_text("ipykernel==6.17.1\n", "Python 3.13.1\n", "x")


def test_the_recorded_runtime_names_its_source_and_the_protected_packages():
    runtime = colab_install.read_runtime()
    assert runtime.python == "3.13"
    assert "googlecolab/backend-info" in runtime.source
    for name in ("torch", "ipykernel", "jupyter-client", "notebook", "ipywidgets", "numpy"):
        assert name in runtime.versions, name


def test_the_refresh_command_writes_the_runtime_file(tmp_path):
    from course_utils.tooling.cli import main

    (tmp_path / "freeze.txt").write_text("torch==2.12.0+cu130\nipykernel==6.17.1\n")
    (tmp_path / "os.txt").write_text("Python 3.14.0\n")
    out = tmp_path / "gpu-runtime.txt"
    argv = ["colab-runtime", "--freeze", str(tmp_path / "freeze.txt")]
    argv += ["--os-info", str(tmp_path / "os.txt"), "--source", "test", "--out", str(out)]
    assert main(argv) == 0
    assert colab_install.read_runtime(out).versions["torch"] == "2.12.0+cu130"


@pytest.mark.parametrize(
    "entry",
    tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"].items(),
    ids=lambda item: item[0],
)
def test_every_console_script_imports_and_answers_help(entry, capsys):
    name, target = entry
    module, function = target.split(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


# --- resolved against Colab's published runtime (needs the package index) --------------------

COLAB = colab_install.read_runtime(colab_install.FULL_RUNTIME_FILE)
PROTECTED = {colab_install.canonical(name) for name in colab_install.PROTECTED}
# Colab packages that the package index cannot supply at Colab's version; a stand-in (a wheel
# with Colab's name and version, no requirements) holds each: Colab's CUDA 12.8 builds (a local
# version such as torch 2.11.0+cu128, from PyTorch's own index, which this project's machines
# cannot reach), Debian's python-apt 0.0.0, and two sdists whose metadata cannot be built
# without system libraries (cyipopt: Ipopt, gdal: GDAL). What they require is held at Colab's
# versions like every other package.
NOT_ON_THE_INDEX = ("python-apt", "cyipopt", "gdal")
# Colab packages that the course moves besides those it installs by name, and why.
MOVED_FOR = {
    "pyarrow": "datasets 4.8.5 needs pyarrow >= 21 (Colab: 18.1.0)",
    "certifi": "unsloth and unsloth_zoo 2026.10.9 need certifi >= 2026.10.19",
}
# Torch releases whose xformers and torchao the table must name (see TORCH_COMPANIONS).
TORCH_RELEASES = ("2.8.0", "2.9.0", "2.9.1", "2.10.0", "2.10.1", "2.11.0", "2.11.1")


def _stand_in(folder: Path, name: str, version: str) -> None:
    """A wheel that holds ``name`` at ``version`` and requires nothing."""
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")


def _uv_compile(args: list[str], folder: Path) -> subprocess.CompletedProcess:
    """``uv pip compile`` for Colab's Python on Linux x86-64, stand-ins (``folder``) included."""
    import uv

    command = [uv.find_uv_bin(), "pip", "compile", "--quiet", "--no-header", "--no-annotate"]
    command += ["--python-version", COLAB.python, "--python-platform", "x86_64-manylinux_2_35"]
    # no Python 3.13 of uv's own: it would try to download one (failing offline) on every call
    command += ["--no-python-downloads", "--find-links", str(folder), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _resolve_on_colab(requirements: list[str], may_move: set[str], tmp_path: Path) -> dict:
    """What Colab holds after installing ``requirements``: resolved by uv together with every
    package Colab publishes, each held at Colab's version unless named in ``may_move``, whose
    Colab versions are preferred (pip moves an installed package only when it must), under the
    install script's constraints. pytest fails with uv's explanation when there is none."""
    assert not may_move & PROTECTED, "a protected package may never move"
    stand_ins = tmp_path / "stand-ins"
    stand_ins.mkdir()
    for name, version in COLAB.versions.items():
        if "+" in version or name in NOT_ON_THE_INDEX:
            _stand_in(stand_ins, name, version)
    held = [f"{n}=={v}" for n, v in COLAB.versions.items() if n not in may_move]
    wanted = tmp_path / "requirements.in"
    wanted.write_text("\n".join([*requirements, *held, *(may_move & set(COLAB.versions))]))
    constraints = tmp_path / "protected.txt"
    constraints.write_text("\n".join(colab_install.constraint_lines(COLAB.versions)) + "\n")
    resolved = tmp_path / "resolved.txt"  # uv takes what it finds there as its preferences
    resolved.write_text("\n".join(f"{n}=={v}" for n, v in COLAB.versions.items()) + "\n")
    done = _uv_compile(["-c", str(constraints), str(wanted), "-o", str(resolved)], stand_ins)
    if done.returncode != 0:
        pytest.fail(f"no install on Colab's runtime:\n{done.stderr}")
    return colab_install.parse_pins(resolved.read_text())


def _course_requirements() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _names(requirements: list[str]) -> set[str]:
    return {
        colab_install.canonical(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in requirements
    }


def _moved(resolved: dict[str, str]) -> dict[str, str]:
    """Colab's packages whose version the resolution changes: {name: 'old -> new'}."""
    return {
        name: f"{version} -> {resolved[name]}"
        for name, version in COLAB.versions.items()
        if resolved[name] != version
    }


def test_the_colab_list_is_colabs_whole_runtime():
    assert COLAB.python == "3.13" and "googlecolab/backend-info" in COLAB.source
    assert len(COLAB.versions) > 600 and COLAB.versions["torch"] == "2.11.0+cu128"
    assert PROTECTED & set(COLAB.versions) >= {"jupyter-server", "ipykernel", "torch"}


def test_every_table_entry_is_reached_by_a_release_the_colab_tests_resolve():
    reached = {colab_install.companions_for(release) for release in TORCH_RELEASES}
    assert reached == set(colab_install.TORCH_COMPANIONS.values())


@pytest.mark.colab
def test_the_course_install_moves_only_what_it_means_to(tmp_path):
    meant = _names(_course_requirements()) - PROTECTED
    resolved = _resolve_on_colab(_course_requirements(), meant | set(MOVED_FOR), tmp_path)
    assert resolved["transformers"] == "5.17.0" and resolved["torch"] == "2.11.0+cu128"
    moved = _moved(resolved)
    assert set(moved) - meant == {"pyarrow"}, moved


@pytest.mark.colab
def test_the_unsloth_install_moves_only_what_it_means_to(tmp_path):
    """The top-up command resolves the course's and Unsloth's requirements together: that it
    resolves means the --no-deps step leaves nothing unmet and nothing else moved."""
    packages = colab_install.unsloth_packages(COLAB.versions["torch"])
    meant = _names(_course_requirements() + packages) - PROTECTED
    requirements = _course_requirements() + packages
    resolved = _resolve_on_colab(requirements, meant | set(MOVED_FOR), tmp_path)
    for package in packages:
        name, version = package.split("==")
        assert resolved[colab_install.canonical(name)] == version
    moved = _moved(resolved)
    assert set(moved) - meant == {"pyarrow", "certifi"}, moved
    assert moved["torchao"] == "0.10.0 -> 0.17.0"


@pytest.mark.colab
@pytest.mark.parametrize("release", TORCH_RELEASES)
def test_the_chosen_xformers_and_torchao_accept_their_torch(release, tmp_path):
    """Against a stand-in torch of that release in a CUDA build, as Colab has it."""
    found = colab_install.companions_for(f"{release}+cu128")
    _stand_in(tmp_path, "torch", f"{release}+cu128")
    wanted = tmp_path / "in.txt"
    wanted.write_text(
        f"xformers=={found.xformers}\ntorchao=={found.torchao}\ntorch=={release}+cu128\n"
    )
    done = _uv_compile([str(wanted)], tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.colab
def test_the_install_constraints_stop_a_requirement_that_moves_a_protected_package(tmp_path):
    constraints = tmp_path / "protected.txt"
    constraints.write_text("\n".join(colab_install.constraint_lines(COLAB.versions)) + "\n")
    wanted = tmp_path / "in.txt"
    wanted.write_text("ipykernel==7.4.0\n")
    done = _uv_compile(["-c", str(constraints), str(wanted)], tmp_path)
    assert done.returncode != 0 and "ipykernel" in done.stderr
