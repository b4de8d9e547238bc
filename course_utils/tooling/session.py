"""The one call after every notebook's parameters cell: profile, seeds, device, checked parameters.

    cfg = course_utils.setup("01_catastrophic_forgetting", globals())

reads ``PROFILE``, ``SEED`` and the catalogue's parameter names from the notebook's namespace,
so each parameter is written once, in the parameters cell. It prints three lines (profile and
device, the CPU kernels, the parameters changed from the notebook's defaults);
``cfg.describe()`` lists every setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core import hub
from . import catalog, standins
from .params import MINI_PREFIX, Param, ParameterError, check_all, looks_like_hub_id
from .profiles import Profile, mini_threads, resolve_profile, seed_everything

MAX_SEED = 2**32 - 1


@dataclass
class Session:
    """The effective settings of one notebook run. Parameters read as attributes: ``cfg.STEPS``."""

    notebook: str
    profile: Profile
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{name!r} is neither a setting nor a parameter of this notebook")

    @property
    def device(self) -> str:
        return self.profile.device

    def headline(self, changed: dict[str, Any] | None) -> str:
        """Two lines: where the run happens, and the parameters changed from the notebook's own
        defaults (``changed``; None when the notebook's file is not at hand)."""
        from ..core import numerics

        where = (
            f"{self.notebook}: profile {self.profile.name}, {self.profile.device} "
            f"({self.profile.accelerator}), {self.profile.dtype}, seed {self.seed}"
        )
        if self.profile.device == "cpu":
            where += f"\nCPU kernels: {numerics.status()}"
        if changed is None:
            return where + "\nparameters: cfg.describe() lists them"
        if not changed:
            return where + "\nparameters: the notebook's defaults (cfg.describe() lists them)"
        listed = ", ".join(f"{name} = {value!r}" for name, value in changed.items())
        return where + f"\nparameters changed from the notebook's defaults: {listed}"

    def describe(self) -> str:
        """The settings in effect, one per line."""
        rows = [
            ("notebook", self.notebook),
            ("profile", self.profile.name),
            ("device", f"{self.profile.device} ({self.profile.accelerator})"),
            ("dtype", self.profile.dtype),
            ("gradient checkpointing", self.profile.gradient_checkpointing),
            ("offline", self.profile.offline),
            ("seed", self.seed),
            *self.params.items(),
        ]
        width = max(len(str(k)) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ParameterError(
            f"SEED = {seed!r} is not allowed: expected an integer in [0, {MAX_SEED}]"
        )
    return seed


def _model_source(name: str, value: str, profile: Profile) -> str:
    """Where a model parameter's weights come from in this profile: a folder, or a Hub id that
    this profile can reach. In an offline profile a Hub id stops here, not inside a library."""
    if value.startswith(MINI_PREFIX):
        return standins.mini_model_path(value)
    if not looks_like_hub_id(value):
        return value
    if hub.stand_ins():
        return standins.model_path(name, value)
    if profile.offline and not hub.is_cached(value):
        raise ParameterError(
            f"{name} = {value!r} is not allowed in the {profile.name!r} profile: it runs "
            "offline, so a Hugging Face Hub id cannot be downloaded. Give a model folder "
            f"(None means the course's mini model), or use PROFILE = 't4' with the Hub reachable"
        )
    return value


def _resolve(name: str, value: Any, rule: Param, profile: Profile) -> Any:
    if value is None:
        value = rule.default_for(profile.name)
        if value is None:
            raise ParameterError(f"{name} = None has no default in the {profile.name!r} profile")
    if rule.kind == "model":
        value = _model_source(name, value, profile)
    return value


def changed_parameters(stem: str, namespace: Mapping[str, Any]) -> dict[str, Any] | None:
    """The parameters whose value in ``namespace`` is not the one the notebook's own parameters
    cell writes (PROFILE and SEED are shown anyway); None if the notebook file is not at hand."""
    import ast

    import nbformat

    from ..core import paths
    from .parameters_cell import find_cell, parse

    try:
        nb = nbformat.read(paths.notebooks_dir() / f"{stem}.ipynb", as_version=4)
        defaults = {line.name: ast.literal_eval(line.value) for line in parse(find_cell(nb).source)}
    except (OSError, ValueError):
        return None
    return {
        name: namespace[name]
        for name, default in defaults.items()
        if name not in ("PROFILE", "SEED") and name in namespace and namespace[name] != default
    }


def setup(notebook: str, namespace: Mapping[str, Any]) -> Session:
    """Resolve the profile, check every parameter, seed everything and print the settings.

    ``namespace`` is the notebook's ``globals()``: ``PROFILE``, ``SEED`` and each parameter the
    catalogue lists for ``notebook`` are read from it. Bad values raise ParameterError naming
    the parameter, the value and what is allowed.
    """
    spec = catalog.spec_for(notebook)
    missing = [n for n in ("PROFILE", "SEED", *spec.params) if n not in namespace]
    if missing:
        raise ParameterError(
            f"the parameters cell of {spec.stem} must define {', '.join(missing)} "
            "(the catalogue lists them)"
        )
    seed = _check_seed(namespace["SEED"])
    profile = resolve_profile(namespace["PROFILE"])
    values = check_all({n: namespace[n] for n in spec.params}, spec.params)
    values = {n: _resolve(n, v, spec.params[n], profile) for n, v in values.items()}

    if profile.offline:
        hub.go_offline()
    if profile.device == "cpu":
        import torch

        torch.set_num_threads(mini_threads())
    if spec.uses_mini_models and (profile.name == "mini" or hub.stand_ins()):
        from ..mini.build import require_models

        require_models()
    if hub.stand_ins():
        standins.write_missing()  # a notebook run by hand in the stand-in test
    seed_everything(seed)
    session = Session(notebook=spec.stem, profile=profile, seed=seed, params=values)
    print(session.headline(changed_parameters(spec.stem, namespace)))
    return session
