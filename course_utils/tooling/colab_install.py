"""Install the course on Google Colab and leave Colab's own runtime as it is.

Every notebook's first cell runs this file by path, before ``course_utils`` can be imported::

    python /content/course/course_utils/tooling/colab_install.py            # the course
    python /content/course/course_utils/tooling/colab_install.py --unsloth  # + Unsloth (05, 06, 07)

so it uses the standard library only. Two rules keep the runtime intact:

1. Every pip command is constrained (``pip install -c``) to the versions that the running
   runtime holds of the PROTECTED packages: torch and its compiled companions, the Jupyter side
   of the kernel (a changed ipykernel or jupyter_client can stop the runtime from reconnecting),
   google-colab's own requirements, and what Colab may have imported before the first cell
   (numpy, matplotlib, tqdm, protobuf). pip may add packages and move the Hugging Face libraries
   to the course's pins; it can never move a protected one, and if it would have to, it fails
   before changing anything.
2. Unsloth is installed as Unsloth's own Colab notebooks install it: the package and its compiled
   companions with ``--no-deps``, xformers and torchao chosen for the running torch release
   (never torch itself), then the pure-Python requirements they declare, under the same
   constraints.

Afterwards it prints every package whose version changed. Should pip fail, it removes what the
failed install added and puts back the versions it replaced.

``--dry-run`` prints the commands instead of running them; ``tests/test_colab_install.py``
resolves these exact commands against every package of Colab's published package list
(``configs/colab/pip-freeze.gpu.txt``; the protected ones in ``configs/colab/gpu-runtime.txt``,
refreshed with ``python -m course_utils colab-runtime``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Packages whose installed version no course install may change.
PROTECTED = (
    # torch and the libraries compiled against it
    "torch",
    "torchvision",
    "torchaudio",
    "triton",
    # the kernel and the notebook front end that Colab's runtime talks to
    "ipython",
    "ipykernel",
    "jupyter_client",
    "jupyter_core",
    "notebook",
    "tornado",
    "pyzmq",
    "prompt_toolkit",
    "traitlets",
    "ipywidgets",
    # google-colab's other requirements
    "google-auth",
    "ipyparallel",
    "jupyter_server",
    "pandas",
    "portpicker",
    "requests",
    "psutil",
    # imported by Colab before a notebook's first cell may run
    "numpy",
    "matplotlib",
    "tqdm",
    "protobuf",
)

UNSLOTH = "unsloth==2026.10.9"
UNSLOTH_ZOO = "unsloth_zoo==2026.10.9"
CUT_CROSS_ENTROPY = "cut_cross_entropy==25.1.1"
# Unsloth's own bounds on torch (unsloth's and unsloth_zoo's metadata: torch>=2.4.0,<2.15.0).
UNSLOTH_TORCH_RANGE = ((2, 4), (2, 15))


@dataclass(frozen=True)
class Companions:
    """The xformers and torchao releases built for one torch release, as PyPI serves them."""

    xformers: str
    torchao: str
    torchao_cuda: int  # the CUDA major version that PyPI's torchao wheel links (libcudart.so.N)


# Keyed as each xformers release declares its torch: up to 0.0.34 its metadata pins one release
# (0.0.33.post1: torch==2.9.0, 0.0.33.post2: torch==2.9.1, 0.0.34: torch==2.10.0), so the key is
# "X.Y.Z"; 0.0.35 asks torch>=2.10, so "X.Y" serves every X.Y.Z without a key of its own. These
# are the releases Unsloth's own extras pick (cu128onlytorch291: xformers 0.0.33.post2, ...).
# torchao: the release its __init__ says it was built against (0.15.0: torch 2.9.1; 0.17.0:
# torch >= 2.11; on another torch it skips its compiled kernels with a warning); 0.17.0's PyPI
# wheel links CUDA 13, the earlier ones CUDA 12.
TORCH_COMPANIONS: dict[str, Companions] = {
    "2.8.0": Companions(xformers="0.0.32.post2", torchao="0.13.0", torchao_cuda=12),
    "2.9.0": Companions(xformers="0.0.33.post1", torchao="0.14.1", torchao_cuda=12),
    "2.9.1": Companions(xformers="0.0.33.post2", torchao="0.15.0", torchao_cuda=12),
    "2.10.0": Companions(xformers="0.0.34", torchao="0.16.0", torchao_cuda=12),
    "2.10": Companions(xformers="0.0.35", torchao="0.16.0", torchao_cuda=12),
    "2.11": Companions(xformers="0.0.35", torchao="0.17.0", torchao_cuda=13),
}


class CannotInstall(Exception):
    """A reason, in words, why Unsloth is not installed here."""


def canonical(name: str) -> str:
    """A package name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def without_local(version: str) -> str:
    """'2.11.0+cu128' -> '2.11.0': '==2.11.0' accepts every local build of 2.11.0."""
    return version.split("+", 1)[0]


def installed_versions(names: Sequence[str] = PROTECTED) -> dict[str, str]:
    """The running environment's versions of ``names`` (those it has)."""
    importlib.invalidate_caches()
    versions = {}
    for name in names:
        try:
            versions[canonical(name)] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def constraint_lines(versions: Mapping[str, str]) -> list[str]:
    """One ``name==version`` line per protected package that the runtime holds."""
    protected = {canonical(name) for name in PROTECTED}
    return [
        f"{name}=={without_local(version)}"
        for name, version in sorted(versions.items())
        if canonical(name) in protected
    ]


def companions_for(torch_version: str) -> Companions:
    """The xformers and torchao releases for this torch, or CannotInstall saying why not."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", torch_version)
    if match is None:
        raise CannotInstall(f"cannot read the torch version {torch_version!r}")
    major, minor, _ = (int(part) for part in match.groups())
    low, high = UNSLOTH_TORCH_RANGE
    if not low <= (major, minor) < high:
        raise CannotInstall(
            f"torch {torch_version} is outside Unsloth's range (>= {low[0]}.{low[1]}, "
            f"< {high[0]}.{high[1]})"
        )
    series = f"{major}.{minor}"
    found = TORCH_COMPANIONS.get(match.group(0)) or TORCH_COMPANIONS.get(series)
    if found is not None:
        return found
    pinned = [key for key in TORCH_COMPANIONS if key.startswith(series + ".")]
    if pinned:
        raise CannotInstall(
            f"the xformers releases for torch {series} are built for torch "
            f"{' or '.join(pinned)} exactly, not torch {torch_version}"
        )
    known = ", ".join(key if key.count(".") == 2 else key + ".x" for key in TORCH_COMPANIONS)
    raise CannotInstall(
        f"the course knows which xformers and torchao releases fit torch {known}, "
        f"not torch {torch_version}"
    )


def runtime_cuda(torch_version: str) -> str | None:
    """The CUDA version a torch build names in its local label ('2.11.0+cu128' -> '12.8')."""
    match = re.search(r"\+cu(\d+)(\d)$", torch_version)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def torchao_note(torch_version: str) -> str | None:
    """A line for the install report when PyPI's torchao is built for another CUDA than torch."""
    cuda = runtime_cuda(torch_version)
    try:
        found = companions_for(torch_version)
    except CannotInstall:
        return None
    if cuda is None or int(cuda.split(".")[0]) == found.torchao_cuda:
        return None
    return (
        f"note: torchao {found.torchao} from PyPI is built for CUDA {found.torchao_cuda} and this "
        f"runtime's torch for CUDA {cuda}, so importing torchao logs 'Failed to load' for its two "
        "compiled kernel libraries; they serve Hopper and Blackwell GPUs only (sm_90a, sm_100), "
        "which a T4 cannot run, and torchao itself still imports."
    )


def unsloth_packages(torch_version: str) -> list[str]:
    """What the Unsloth step installs without dependencies, for this torch."""
    found = companions_for(torch_version)
    return [
        UNSLOTH,
        UNSLOTH_ZOO,
        CUT_CROSS_ENTROPY,
        f"xformers=={found.xformers}",
        f"torchao=={found.torchao}",
    ]


def pip_install(args: Sequence[str], *, dry_run: bool = False) -> list[str]:
    """A quiet ``pip install`` of this Python with ``args``; with dry_run, resolved only."""
    flags = ["-q", "--dry-run"] if dry_run else ["-q"]
    return [sys.executable, "-m", "pip", "install", *flags, *args]


def pip_uninstall(names: Sequence[str]) -> list[str]:
    """A quiet ``pip uninstall`` of ``names`` that asks nothing."""
    return [sys.executable, "-m", "pip", "uninstall", "-q", "-y", *names]


def course_commands(clone: Path, constraints: Path) -> list[list[str]]:
    """The base install's pip arguments: the course package (editable) with its pinned
    libraries."""
    return [["-c", str(constraints), "-e", str(clone)]]


def unsloth_commands(torch_version: str, constraints: Path) -> list[list[str]]:
    """The pip arguments that install Unsloth and its companions without dependencies, then
    their requirements, constrained.

    The second command names the same exact versions, so pip keeps what the first installed
    and only adds the pure-Python packages they declare and the runtime lacks.
    """
    packages = unsloth_packages(torch_version)
    return [["--no-deps", *packages], ["-c", str(constraints), *packages]]


def undo_commands(before: Mapping[str, str], after: Mapping[str, str]) -> list[list[str]]:
    """The pip commands that take the packages ``after`` back to ``before``: remove what was
    added, reinstall (without dependencies) the earlier version of what moved or went."""
    added = sorted(set(after) - set(before))
    replaced = [f"{name}=={v}" for name, v in sorted(before.items()) if after.get(name) != v]
    commands = []
    if added:
        commands.append(pip_uninstall(added))
    if replaced:
        commands.append(pip_install(["--no-deps", *replaced]))
    return commands


def has_gpu() -> bool:
    """Whether an NVIDIA GPU is visible (without importing torch)."""
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return False
    return subprocess.run([nvidia_smi, "-L"], capture_output=True).returncode == 0


def all_installed() -> dict[str, str]:
    """Every distribution this Python can import from: {canonical name: version}."""
    importlib.invalidate_caches()
    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:  # the first on sys.path wins, as for an import
            versions.setdefault(canonical(name), dist.version)
    return versions


def changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """'name old -> new' for every package whose version differs ('-': not installed)."""
    return [
        f"{name} {before.get(name, '-')} -> {after.get(name, '-')}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


def report(
    before: Mapping[str, str], after: Mapping[str, str], protected: Mapping[str, str]
) -> list[str]:
    """Two lines: every package whose version changed, and whether every protected package kept
    its version."""
    changed = changes(before, after)
    now = installed_versions()
    moved = [f"{n} {v} -> {now.get(n, '-')}" for n, v in protected.items() if now.get(n) != v]
    if moved:
        verdict = "CHANGED protected packages: " + ", ".join(moved)
    else:
        torch = f" (torch {protected['torch']})" if "torch" in protected else ""
        verdict = f"kept all {len(protected)} protected packages as they were{torch}"
    return ["changed: " + (", ".join(changed) if changed else "nothing"), verdict]


@dataclass(frozen=True)
class Runtime:
    """A recorded Colab runtime: its Python, its protected packages, where they came from."""

    python: str  # "3.13"
    versions: dict[str, str]  # canonical name -> version, protected packages only
    source: str


RUNTIME_FILE = Path(__file__).resolve().parents[2] / "configs" / "colab" / "gpu-runtime.txt"
#: Every package of that runtime (what the resolution test installs beside the course).
FULL_RUNTIME_FILE = RUNTIME_FILE.with_name("pip-freeze.gpu.txt")
_PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)==([^\s;#]+)")


def parse_pins(text: str) -> dict[str, str]:
    """``name==version`` lines (a pip freeze) as {canonical name: version}; the rest ignored."""
    pins = {}
    for line in text.splitlines():
        match = _PIN_RE.match(line.strip())
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def runtime_text(freeze: str, os_info: str, source: str, everything: bool = False) -> str:
    """The recorded runtime file from Colab's ``pip-freeze.gpu.txt`` and ``os-info-gpu.txt``:
    the protected packages, or with ``everything`` every package pinned by name."""
    python = re.search(r"^Python (\d+\.\d+)", os_info, re.M)
    if python is None:
        raise ValueError("os-info: no line 'Python X.Y.Z'")
    pins = parse_pins(freeze)
    missing = [name for name in ("torch", "ipykernel") if name not in pins]
    if missing:
        raise ValueError(f"pip freeze: no {', '.join(missing)}; is it Colab's GPU runtime?")
    what = "Every package" if everything else "The protected packages"
    lines = [
        f"# {what} of Colab's GPU runtime, as Colab publishes them.",
        f"# source: {source}",
        f"# python: {python.group(1)}",
        "# Regenerate: python -m course_utils colab-runtime --freeze pip-freeze.gpu.txt \\",
        "#     --os-info os-info-gpu.txt --source 'googlecolab/backend-info <commit>, <date>'",
    ]
    protected = {canonical(name) for name in PROTECTED}
    kept = [name for name in sorted(pins) if everything or name in protected]
    lines += [f"{name}=={pins[name]}" for name in kept]
    return "\n".join(lines) + "\n"


def read_runtime(path: Path = RUNTIME_FILE) -> Runtime:
    """The recorded runtime (see runtime_text)."""
    text = path.read_text()
    header = dict(re.findall(r"^# (source|python): (.+)$", text, re.M))
    return Runtime(python=header["python"], versions=parse_pins(text), source=header["source"])


def undo(before: Mapping[str, str]) -> int:
    """After a failed pip: take every package back to ``before`` and say what is left; 1."""
    for command in undo_commands(before, all_installed()):
        subprocess.run(command)
    left = changes(before, all_installed())
    print("pip failed (see above); the protected packages were left as they were.")
    if left:
        print("could not take back: " + ", ".join(left))
    else:
        print("every package it had changed is back as it was.")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Install the course (and with --unsloth, Unsloth) into this Python; 0 unless pip fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--unsloth", action="store_true", help="install Unsloth (GPU only) instead of the course"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument(
        "--clone",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the course's folder (default: the one holding this file)",
    )
    args = parser.parse_args(argv)

    protected = installed_versions()
    with tempfile.TemporaryDirectory() as folder:
        constraints = Path(folder) / "colab-protected.txt"
        constraints.write_text("\n".join(constraint_lines(protected)) + "\n")
        if not args.unsloth:
            commands = course_commands(args.clone, constraints)
        else:
            try:
                if "torch" not in protected:
                    raise CannotInstall("torch is not installed")
                if not args.dry_run and not has_gpu():
                    raise CannotInstall("there is no GPU (Runtime > Change runtime type > T4 GPU)")
                commands = unsloth_commands(protected["torch"], constraints)
            except CannotInstall as reason:
                print(f"Unsloth not installed: {reason}.")
                print("The notebook runs without it; its Unsloth cells say what runs instead.")
                return 0
        note = torchao_note(protected["torch"]) if args.unsloth else None
        if args.dry_run:
            print("protected (-c): " + " ".join(constraint_lines(protected)))
            for command in commands:
                print(" ".join(pip_install(command)[1:]))
            if note:
                print(note)
            return 0
        before = all_installed()
        if args.unsloth and subprocess.run(pip_install(commands[-1], dry_run=True)).returncode:
            print("Unsloth not installed: its requirements do not fit this runtime (see above).")
            return 1
        for command in commands:
            if subprocess.run(pip_install(command)).returncode != 0:
                return undo(before)
    for line in report(before, all_installed(), protected):
        print(line)
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
